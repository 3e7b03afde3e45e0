"""Hand-edited (hostile) pylock.toml files: one ``error:`` line naming the key, nothing changed."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Callable

import pytest
import tomlkit

from hostilekit import assert_one_error_line, run_cli, snapshot
from indexbuilder import build_index, make_wheel, project_toml


@pytest.fixture()
def locked(tmp_path: Path) -> tuple[Path, Path]:
    simple = build_index(tmp_path / "index", [make_wheel(tmp_path / "d", "aaa", "1.0")])
    project = tmp_path / "p"
    project.mkdir()
    (project / "pyproject.toml").write_text(project_toml(["aaa"]))
    assert run_cli("lock", "--project", project, "--index-url", simple.as_uri()).exit_code == 0
    return project, simple


def _set_wheel(key: str, value: Any) -> Callable[[dict], None]:
    def edit(data: dict) -> None:
        data["packages"][0]["wheels"][0][key] = value
    return edit


def _wheel_url(url: str) -> Callable[[dict], None]:
    def edit(data: dict) -> None:
        wheel = data["packages"][0]["wheels"][0]
        wheel.pop("name", None)
        wheel["url"] = url
    return edit


def _set_tool(value: Any) -> Callable[[dict], None]:
    def edit(data: dict) -> None:
        data["tool"]["satlock"] = value
    return edit


def _set_envs(value: Any) -> Callable[[dict], None]:
    def edit(data: dict) -> None:
        data["tool"]["satlock"]["build-environments"] = value
    return edit


_ENV_PACKAGE = {"name": "setuptools", "version": "70.0", "url": "https://example.invalid/setuptools-70.0-py3-none-any.whl",
                "hashes": {"sha256": "0" * 64}}

CASES = {
    "tool-satlock-a-string": (_set_tool("oops"), "tool.satlock: must be a table"),
    "tool-a-list": (lambda d: d.__setitem__("tool", ["x"]), "'tool'"),
    "build-environments-a-list": (_set_envs(["x"]), "tool.satlock.build-environments: must be a table"),
    "build-environment-a-string": (_set_envs({"evil": "x"}), "tool.satlock.build-environments.evil: must be a table"),
    "build-environment-packages-a-table": (_set_envs({"evil": {"packages": {"a": 1}}}), "build-environments.evil.packages: must be a list"),
    "build-environment-sha256-a-path": (_set_envs({"evil": {"packages": [{**_ENV_PACKAGE, "hashes": {"sha256": "../../victim"}}]}}),
                                        "build-environments.evil.packages[0].hashes.sha256: '../../victim' is not 64 lowercase hex"),
    "build-environment-url-a-path": (_set_envs({"evil": {"packages": [{**_ENV_PACKAGE, "url": "https://x.invalid/a%2F..%2F..%2Fx.whl"}]}}),
                                     "build-environments.evil.packages[0].url: 'a/../../x.whl' is not a plain file name"),
    "wheel-name-with-slash": (_set_wheel("name", "../../aaa-1.0-py3-none-any.whl"), "'../../aaa-1.0-py3-none-any.whl' in 'packages[0].wheels[0]'"),
    "wheel-name-not-a-wheel": (_set_wheel("name", "aaa.whl"), "'aaa.whl' in 'packages[0].wheels[0]'"),
    "wheel-url-with-encoded-slash": (_wheel_url("https://x.invalid/files/aaa-1.0-0%2F..%2F..%2Fx-py3-none-any.whl"),
                                     "packages[0] ('aaa').wheels[0].name: 'aaa-1.0-0/../../x-py3-none-any.whl' is not a plain"),
    "wheel-sha256-a-path": (_set_wheel("hashes", {"sha256": "/abs/site-packages/x.pth"}), "wheels[0].hashes.sha256: '/abs/site-packages/x.pth' is not 64"),
    "wheel-sha256-uppercase": (_set_wheel("hashes", {"sha256": "A" * 64}), "wheels[0].hashes.sha256"),
    "directory-subdirectory-climbing-out": (
        lambda d: d["packages"].append({"name": "x", "version": "1.0", "directory": {"path": ".", "subdirectory": "../../elsewhere"}}),
        "packages[1] ('x').directory.subdirectory: '../../elsewhere' is not a relative path inside the source"),
    "package-marker-naming-extra": (lambda d: d["packages"][0].__setitem__("marker", "extra == 'x'"),
                                    "packages[0] ('aaa').marker: 'extra == \"x\"'"),
    "environments-naming-extras": (lambda d: d.__setitem__("environments", ["'x' in extras"]), "environments[0]: '\"x\" in extras'"),
    "local-sources-key-not-a-name": (lambda d: d["tool"]["satlock"].__setitem__("local-sources", {"a\nerror: fake\x1b[31m": "x"}),
                                     "tool.satlock.local-sources: 'a\\nerror: fake\\x1b[31m' is not a normalized package name"),
    "profiles-a-list": (lambda d: d["tool"]["satlock"].__setitem__("profiles", ["x"]), "tool.satlock.profiles: must be a table of strings"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_hand_edited_lock_is_one_line_naming_the_key_and_changes_nothing(locked: tuple[Path, Path], case: str) -> None:
    project, simple = locked
    edit, needle = CASES[case]
    lock_path = project / "pylock.toml"
    data = tomllib.loads(lock_path.read_text())
    edit(data)
    lock_path.write_text(tomlkit.dumps(data))
    before = lock_path.read_bytes()
    for command in (["sync", "--frozen"], ["sync"], ["lock", "--check"]):
        result = run_cli(*command, "--project", project, "--index-url", simple.as_uri())
        assert_one_error_line(result, "pylock.toml", needle)
        assert lock_path.read_bytes() == before
        assert snapshot(project / ".venv") == {}


def test_a_huge_value_in_the_lock_gives_an_error_line_of_readable_length(locked: tuple[Path, Path]) -> None:
    """The value is quoted in the error, cut to a readable length (it was printed whole, twice: 20 MB on one line)."""
    project, simple = locked
    lock_path = project / "pylock.toml"
    lock_path.write_text(lock_path.read_text().replace('name = "aaa"', f'name = "{"a" * 10_000_000}"', 1))
    result = run_cli("sync", "--frozen", "--project", project, "--index-url", simple.as_uri())
    assert_one_error_line(result, "pylock.toml", "more characters")
    assert max(len(line) for line in result.output.splitlines()) < 2000
    assert snapshot(project / ".venv") == {}
