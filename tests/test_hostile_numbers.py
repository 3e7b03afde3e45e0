"""Numbers longer than Python turns into an int (4300 digits), in every untrusted text
that holds versions: index pages, metadata, locks, pyproject.toml files.

packaging raises a plain ``ValueError`` for such a number, and for a specifier or a marker
only when it first compares it, deep inside a solve; tomllib does the same for an integer.
Each must be one ``error:`` line (or a file skipped), never a traceback.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from hostilekit import assert_one_error_line, raw_wheel, run_cli, snapshot
from indexbuilder import build_index, make_wheel, project_toml, sha256_of
from satlock.resolver.pyprojectmeta import static_metadata

BIG = "1" + "0" * sys.get_int_max_str_digits()


def _project(root: Path, deps: list[str], tool: str = "") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(project_toml(deps, tool=tool))
    return root


# -- an index page: a file name whose version or build tag packaging cannot read -----------------------


@pytest.mark.parametrize("hostile", [f"foo-{BIG}-py3-none-any.whl", f"foo-{BIG}.tar.gz", f"foo-2.0-{BIG}-py3-none-any.whl",
                                     "foo-2.0-abc-py3-none-any.whl", "foo-2.0--py3-none-any.whl"])
def test_a_file_name_packaging_cannot_read_is_skipped_like_other_files_that_are_not_distributions(tmp_path: Path, hostile: str) -> None:
    good = make_wheel(tmp_path / "d", "foo", "1.0")
    simple = build_index(tmp_path / "index", [good])
    page = simple / "foo" / "index.json"
    data = json.loads(page.read_text())
    data["files"].append({**data["files"][0], "filename": hostile})
    page.write_text(json.dumps(data))
    (simple / "foo" / "index.html").unlink()
    project = _project(tmp_path / "p", ["foo"])
    result = run_cli("lock", "--project", project, "--index-url", simple.as_uri())
    assert result.exit_code == 0, result.output
    assert 'version = "1.0"' in (project / "pylock.toml").read_text()


# -- a wheel's metadata (PEP 658 file or the wheel's own) ----------------------------------------------


@pytest.mark.parametrize("field", [f"Version: {BIG}", f"Requires-Dist: bar>={BIG}", f"Requires-Python: >={BIG}",
                                   f"Requires-Dist: bar ; python_version > '{BIG}'"])
@pytest.mark.parametrize("pep658", [True, False], ids=["pep658", "in-wheel"])
def test_metadata_with_a_number_too_long_to_read_is_one_error_line(tmp_path: Path, field: str, pep658: bool) -> None:
    version = "1.0"
    metadata = f"Metadata-Version: 2.1\nName: foo\n{field if field.startswith('Version') else 'Version: 1.0'}\n"
    metadata += ("" if field.startswith("Version") else field + "\n") + "\n"
    wheel = raw_wheel(tmp_path / "d", "foo", version, {"foo/__init__.py": b""}, metadata=metadata.encode())
    simple = build_index(tmp_path / "index", [wheel, make_wheel(tmp_path / "d", "bar", "1.0")], metadata_files=pep658)
    project = _project(tmp_path / "p", ["foo"])
    result = run_cli("lock", "--project", project, "--index-url", simple.as_uri())
    assert_one_error_line(result)
    assert "foo-1.0-py3-none-any.whl" in result.output and f"more than {sys.get_int_max_str_digits()} digits" in result.output
    assert not (project / "pylock.toml").exists()


# -- pyproject.toml ------------------------------------------------------------------------------------


@pytest.mark.parametrize("deps, tool", [
    ([f"foo>={BIG}"], ""),
    ([f"foo!={BIG}.*"], ""),
    ([f"foo ; python_version > '{BIG}'"], ""),
    (["foo"], f'[tool.satlock]\nconstraints = ["foo<{BIG}"]\n'),
    (["foo"], f"[tool.other]\nseed = {BIG}\n"),
])
def test_pyproject_with_a_number_too_long_to_read_is_one_error_line_naming_the_file(tmp_path: Path, deps: list[str], tool: str) -> None:
    simple = build_index(tmp_path / "index", [make_wheel(tmp_path / "d", "foo", "1.0")])
    project = _project(tmp_path / "p", deps, tool)
    for command in ("lock", "sync"):
        result = run_cli(command, "--project", project, "--index-url", simple.as_uri())
        assert_one_error_line(result, "pyproject.toml", "digits")
    assert sorted(p.name for p in project.iterdir()) == ["pyproject.toml"]


def test_pyproject_requires_python_with_a_number_too_long_to_read_is_one_error_line(tmp_path: Path) -> None:
    simple = build_index(tmp_path / "index", [make_wheel(tmp_path / "d", "foo", "1.0")])
    project = _project(tmp_path / "p", ["foo"])
    path = project / "pyproject.toml"
    path.write_text(path.read_text().replace('requires-python = ">=3.8"', f'requires-python = ">={BIG}"'))
    assert_one_error_line(run_cli("lock", "--project", project, "--index-url", simple.as_uri()), "pyproject.toml", "line 4")


@pytest.mark.parametrize("text", [
    f'[project]\nname = "x"\nversion = "1.0"\ndependencies = ["y>={BIG}"]\n',
    f'[project]\nname = "x"\nversion = "1.0"\nrequires-python = ">={BIG}"\n',
    f'[project]\nname = "x"\nversion = "1.0"\n[tool.x]\nn = {BIG}\n',
])
def test_sdist_pyproject_with_a_number_too_long_to_read_is_not_static_metadata(text: str) -> None:
    """Left to the build, which says what is wrong, as for any other field satlock cannot read."""
    assert static_metadata(text.encode()) is None


# -- pylock.toml ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("old, new", [
    ('lock-version = "1.0"', f'lock-version = "{BIG}"'),
    ('requires-python = ">=3.8"', f'requires-python = ">={BIG}"'),
    ('version = "1.0"', f'version = "1.0"\nmarker = "python_version > \'{BIG}\'"'),
    ('version = "1.0"', f'version = "1.0"\nsize = {BIG}'),
])
def test_lock_with_a_number_too_long_to_read_is_one_error_line_and_changes_nothing(tmp_path: Path, old: str, new: str) -> None:
    simple = build_index(tmp_path / "index", [make_wheel(tmp_path / "d", "foo", "1.0")])
    project = _project(tmp_path / "p", ["foo"])
    assert run_cli("lock", "--project", project, "--index-url", simple.as_uri()).exit_code == 0
    lock_path = project / "pylock.toml"
    assert old in lock_path.read_text()
    lock_path.write_text(lock_path.read_text().replace(old, new, 1))
    before = lock_path.read_bytes()
    for command in (["sync", "--frozen"], ["sync"], ["lock", "--check"]):
        result = run_cli(*command, "--project", project, "--index-url", simple.as_uri())
        assert_one_error_line(result, "pylock.toml", "digits")
        assert lock_path.read_bytes() == before
        assert snapshot(project / ".venv") == {}
