"""Build profiles: the pydantic schema, template expansion and the tomlkit editing of pyproject.toml."""
