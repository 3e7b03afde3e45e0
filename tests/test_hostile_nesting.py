"""TOML nested deeper than Python's recursion limit, in every TOML file satlock reads:
tomllib parses arrays and inline tables recursively, so such a file raised RecursionError
as a traceback; each is one ``error:`` line naming the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from hostilekit import assert_one_error_line, run_cli, snapshot
from indexbuilder import build_index, make_sdist, make_wheel, project_toml

DEEP = "[" * 5000 + "]" * 5000


@pytest.mark.parametrize("command", [["lock"], ["sync"], ["lock", "--check"], ["profile", "list"], ["profile", "add", "x"]])
def test_pyproject_nested_too_deeply_is_one_error_line(tmp_path: Path, command: list[str]) -> None:
    text = project_toml(["foo"], tool=f"[tool.other]\nx = {DEEP}\n")
    (tmp_path / "pyproject.toml").write_text(text)
    result = run_cli(*command, "--project", tmp_path)
    assert_one_error_line(result, f"{tmp_path / 'pyproject.toml'}: invalid TOML: ", "nested")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pyproject.toml"]
    assert (tmp_path / "pyproject.toml").read_text() == text


def test_lock_nested_too_deeply_is_one_error_line_and_changes_nothing(tmp_path: Path) -> None:
    simple = build_index(tmp_path / "index", [make_wheel(tmp_path / "d", "foo", "1.0")])
    project = tmp_path / "p"
    project.mkdir()
    (project / "pyproject.toml").write_text(project_toml(["foo"]))
    assert run_cli("lock", "--project", project, "--index-url", simple.as_uri()).exit_code == 0
    lock_path = project / "pylock.toml"
    lock_path.write_text(lock_path.read_text() + f"\n[tool.other]\nx = {DEEP}\n")
    before = lock_path.read_bytes()
    for command in (["sync", "--frozen"], ["sync"], ["lock", "--check"]):
        result = run_cli(*command, "--project", project, "--index-url", simple.as_uri())
        assert_one_error_line(result, "pylock.toml", "nested")
        assert lock_path.read_bytes() == before
        assert snapshot(project / ".venv") == {}


@pytest.mark.parametrize("static", [True, False], ids=["static-project-table", "dynamic"])
def test_sdist_whose_pyproject_nests_too_deeply_is_one_error_line(tmp_path: Path, static: bool) -> None:
    project_table = '[project]\nname = "foo"\nversion = "1.0"\ndependencies = []\n' if static else ""
    sdist = make_sdist(tmp_path / "d", "foo", "1.0", dynamic=["Requires-Dist"], setup_py="from setuptools import setup\nsetup()\n",
                       pyproject=f"{project_table}[tool.other]\nx = {DEEP}\n")
    simple = build_index(tmp_path / "index", [sdist])
    project = tmp_path / "p"
    project.mkdir()
    (project / "pyproject.toml").write_text(project_toml(["foo"]))
    result = run_cli("lock", "--project", project, "--index-url", simple.as_uri())
    assert_one_error_line(result)
    assert "pyproject.toml" in result.output and "nested" in result.output
    assert not (project / "pylock.toml").exists()
