"""A warm lock reads everything from the cache: it asks the index nothing, and so does
not even import the HTTP stack (urllib3, http.client, ssl), which is most of its start-up,
nor msgspec, which only decodes the pages a cold lock fetches.
And a lock whose packages all come as wheels builds nothing, so it does not load the build
machinery (PEP 517 hooks, build environments, source trees) either.
Checked without timing anything, by what a fresh interpreter imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from indexbuilder import IndexServer, build_index, make_wheel, project_toml

_HTTP_STACK = ("urllib3", "http.client", "ssl")
_BUILD_MACHINERY = ("satlock.buildenv.pep517", "satlock.buildenv.environment", "satlock.buildenv.buildreqs",
                    "satlock.buildenv.sources", "satlock.buildenv.install", "satlock.buildenv.venv")
_RUN = ("import json, sys\n"
        "from satlock.cli.entry import main\n"
        "modules = sys.argv[2:]\n"
        "sys.argv = ['satlock', 'lock', '--index-url', sys.argv[1]]\n"
        "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "print('\\nLOADED=' + json.dumps(sorted(m for m in modules if m in sys.modules)))\n")


def _plain_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("SATLOCK_") and k != "FORCE_COLOR"}


def _lock(project: Path, index_url: str, cache: Path, modules: tuple[str, ...] = _HTTP_STACK) -> list[str]:
    """Which of ``modules`` a ``satlock lock`` in a fresh interpreter imported."""
    env = {**_plain_env(), "SATLOCK_CACHE_DIR": str(cache)}
    proc = subprocess.run([sys.executable, "-c", _RUN, index_url, *modules], capture_output=True, text=True, cwd=project,
                          env=env, check=True)
    return json.loads(proc.stdout.rpartition("\nLOADED=")[2])


def _foo_needing_bar(tmp_path: Path) -> tuple[Path, Path]:
    """A local index of two wheels (foo 1.0 requires bar; bar 2.0) and a project asking for foo."""
    wheels = [make_wheel(tmp_path / "dists", "foo", "1.0", requires=["bar"]), make_wheel(tmp_path / "dists", "bar", "2.0")]
    index = build_index(tmp_path / "index", wheels)
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text(project_toml(["foo"]))
    return index, project


def test_a_warm_lock_asks_the_index_nothing_and_loads_no_http_stack(tmp_path):
    index, project = _foo_needing_bar(tmp_path)
    with IndexServer(index.parent) as srv:
        assert "urllib3" in _lock(project, f"{srv.url}/simple", tmp_path / "cache")
        cold = (project / "pylock.toml").read_bytes()
        (project / "pylock.toml").unlink()
        before = len(srv.requests)
        assert _lock(project, f"{srv.url}/simple", tmp_path / "cache", (*_HTTP_STACK, "msgspec")) == []
        assert len(srv.requests) == before
    assert (project / "pylock.toml").read_bytes() == cold


def test_a_lock_of_wheels_only_does_not_load_the_build_machinery(tmp_path):
    index, project = _foo_needing_bar(tmp_path)
    assert _lock(project, index.as_uri() + "/", tmp_path / "cache", _BUILD_MACHINERY) == []
    assert 'name = "foo"' in (project / "pylock.toml").read_text()


_NOT_NEEDED = ("typer", "click", "rich", "pydantic", "satlock.profiles.schema")


def test_a_plain_lock_of_a_project_without_satlock_tables_loads_no_cli_framework_and_no_pydantic(tmp_path):
    """``satlock lock`` with options the console script reads itself (cli/options.py) runs
    without typer (the help and error lines stay typer's: tests/test_cli_options.py), and a
    project without [tool.satlock] is read without pydantic (nothing there to validate)."""
    index, project = _foo_needing_bar(tmp_path)
    assert _lock(project, index.as_uri() + "/", tmp_path / "cache", _NOT_NEEDED) == []
    (project / "pylock.toml").unlink()
    assert _lock(project, index.as_uri() + "/", tmp_path / "cache", _NOT_NEEDED) == []
    assert 'name = "foo"' in (project / "pylock.toml").read_text()


def test_a_sync_of_wheels_loads_no_cli_framework_and_no_pydantic(tmp_path):
    """``satlock sync`` (re-locking first, then installing into a new .venv) of a project
    without [tool.satlock] needs neither typer nor pydantic."""
    index, project = _foo_needing_bar(tmp_path)
    code = ("import json, sys\nfrom satlock.cli.entry import main\n"
            f"sys.argv = ['satlock', 'sync', '-q', '--index-url', {index.as_uri() + '/'!r}]\n"
            "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
            f"print('\\nLOADED=' + json.dumps(sorted(m for m in {list(_NOT_NEEDED)!r} if m in sys.modules)))\n")
    env = {**_plain_env(), "SATLOCK_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=project, env=env, check=True)
    assert json.loads(proc.stdout.rpartition("\nLOADED=")[2]) == []
    assert list((project / ".venv").glob("lib/python*/site-packages/foo-1.0.dist-info"))


def test_a_piped_run_prints_plain_lines_and_force_color_styles_them(tmp_path):
    """Off a terminal the lines are written as they are, rich not even imported (so an
    ``:emoji:`` code in a message stays text); ``FORCE_COLOR`` brings rich's styles back."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text('[project]\nname = "app"\nversion = "1"\ndependencies = ["foo :smile: bar"]\n')
    run = [sys.executable, "-m", "satlock", "lock", "--offline"]
    plain = subprocess.run(run, capture_output=True, text=True, cwd=project, env=_plain_env())
    assert plain.returncode != 0
    assert plain.stderr.startswith("error: ") and ":smile:" in plain.stderr and "\x1b[" not in plain.stderr
    styled = subprocess.run(run, capture_output=True, text=True, cwd=project, env={**_plain_env(), "FORCE_COLOR": "1"})
    assert styled.returncode == plain.returncode and "\x1b[" in styled.stderr and "error: " in styled.stderr
