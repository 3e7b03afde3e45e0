"""``[tool.satlock]`` is validated with pydantic only when a project has the table, and the
settings (and so the lock's inputs hash) come out the same either way."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from satlock.resolver.project import Settings, load_project
from satlock.resolver.toolsettings import _SettingsModel, validate_settings

from indexbuilder import project_toml

_FULL = {
    "index-url": "http://127.0.0.1:1/simple", "extra-index-urls": ["http://127.0.0.1:2/simple"], "find-links": ["w"],
    "sources": {"a": {"path": "../a", "editable": True}, "b": {"git": "https://127.0.0.1/b.git", "rev": "v1",
                                                                "subdirectory": "sub"}},
    "prerelease": "allow", "constraints": ["x<2"], "overrides": ["y==1"], "allow-insecure-hosts": ["h"],
    "profiles": {"c": {"build-requires": ["setuptools"]}},
}


@pytest.mark.parametrize("table", [{}, _FULL, {"sources": {"a": {"url": "https://127.0.0.1/a.whl"}}}, {"prerelease": "if-necessary"},
                                   {"default-groups": ["tests"]}])
def test_the_plain_settings_dump_as_the_pydantic_model_did(table: dict) -> None:
    """The inputs hash of a lock (``lock --check``) reads this dump: a lock made before
    the settings became plain data must stay current."""
    # ``package`` counts through the project's build requirements, never in this dump;
    # ``default-groups`` only when set, so locks made before the key existed stay current.
    unset = {"default_groups"} if "default-groups" not in table else set()
    expected = _SettingsModel.model_validate(table).model_dump(mode="json", exclude={"profiles", "package"} | unset)
    assert validate_settings(table, Path("pyproject.toml")).dump() == expected
    if not table:
        assert Settings().dump() == expected


def test_a_project_without_a_satlock_table_is_read_without_pydantic(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(project_toml(["foo", "bar>=1"]))
    code = ("import sys\nfrom pathlib import Path\nfrom satlock.resolver.project import load_project\n"
            f"p = load_project(Path({str(tmp_path)!r}))\nprint(p.inputs_hash(), 'pydantic' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[1] == "False"
    assert out[0] == load_project(tmp_path).inputs_hash()


@pytest.mark.parametrize(("table", "message"), [
    ('[tool.satlock]\ndefault_groups = ["dev"]\n', "[tool.satlock] unknown key 'default_groups' (the key is spelt 'default-groups')"),
    ('[tool.satlock]\nindex_url = "http://127.0.0.1:1/simple"\n', "[tool.satlock] unknown key 'index_url' (the key is spelt 'index-url')"),
    ('[tool.satlock.profiles.x]\nbuild_requires = ["torch==1.0"]\n',
     "[tool.satlock.profiles.x] unknown key 'build_requires' (the key is spelt 'build-requires')"),
    ('[tool.satlock.profiles.x]\nmetadata = { requires_dist = [] }\n',
     "[tool.satlock.profiles.x] metadata: unknown key 'requires_dist' (the key is spelt 'requires-dist')"),
    ('[tool.satlock]\nfoo_bar = 1\n', "[tool.satlock] unknown key 'foo_bar'"),
], ids=["default_groups", "index_url", "build_requires", "requires_dist", "no-such-key"])
def test_a_key_spelt_with_underscores_is_refused_and_the_error_gives_its_spelling(tmp_path: Path, table: str, message: str) -> None:
    """Only the spelling the README documents is read: `lock` taking `build_requires` while
    `profile add` refuses the file (tomlkit edits the dashed key) was two answers to one file."""
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "demo"\nversion = "0.1"\n\n' + table)
    proc = subprocess.run([sys.executable, "-m", "satlock", "lock", "--offline", "--project", str(tmp_path)],
                          capture_output=True, text=True, env={**os.environ, "SATLOCK_CACHE_DIR": str(tmp_path / "cache")})
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.splitlines()[0] == f"error: {tmp_path / 'pyproject.toml'}: {message}", proc.stderr
    assert not (tmp_path / "pylock.toml").exists()
