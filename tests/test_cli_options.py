"""``satlock lock`` and ``satlock sync`` read their command line the same way with or without typer.

cli/options.py declares the options once; typer's commands are built from that table and
the console script parses the plain command lines itself (cli/entry.py). These tests hold
the two readings side by side: every command line the fast parser accepts gets exactly
the values typer passes, every other one is left to typer, and what a user sees (help,
error lines, exit codes) is the same whichever way a command line went.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from satlock.cli import commands, common
from satlock.cli.options import LOCK_OPTIONS, SYNC_OPTIONS, Option, parse

_ENV_NAMES = ("SATLOCK_INDEX_URL", "SATLOCK_EXTRA_INDEX_URL", "SATLOCK_FIND_LINKS", "SATLOCK_HTTP_TIMEOUT")


def _typer_values(monkeypatch: pytest.MonkeyPatch, options: tuple[Option, ...], args: list[str],
                  env: dict[str, str]) -> dict[str, Any]:
    """The values typer hands the command for ``args`` (through ``common.typer_command``)."""
    seen: list[dict[str, Any]] = []
    monkeypatch.setattr(commands, "call", lambda command, values: seen.append(values) or 0)
    app = typer.Typer()
    app.command()(common.typer_command(options, lambda **_: 0))
    clean = {name: None for name in _ENV_NAMES}
    result = CliRunner().invoke(app, args, env={**clean, **env}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return seen[0]


_LOCK_LINES = [
    [],
    ["--project", "p", "-q"],
    ["--project=some dir", "--check", "-v"],
    ["--index-url", "http://127.0.0.1:1/simple", "--extra-index-url", "a", "--extra-index-url=b", "--find-links", "d"],
    ["--timeout", "5"], ["--timeout=2.5"], ["--timeout", "0.25"],
    ["-U", "-P", "foo", "--upgrade-package", "bar", "--upgrade-package=baz"],
    ["--python-version", "3.12", "--platform", "linux", "--cache-dir", "/tmp/c", "--offline", "--refresh", "--no-cache",
     "--allow-insecure-host", "h1", "--allow-insecure-host", "h2", "--quiet", "--verbose"],
    ["--project", "~/x", "--cache-dir=rel/dir"],
]
_ENVS = [
    {},
    {"SATLOCK_INDEX_URL": "http://127.0.0.1:2/simple", "SATLOCK_EXTRA_INDEX_URL": "a  b", "SATLOCK_FIND_LINKS": "d1 d2",
     "SATLOCK_HTTP_TIMEOUT": "7"},
    {"SATLOCK_INDEX_URL": "", "SATLOCK_EXTRA_INDEX_URL": "", "SATLOCK_HTTP_TIMEOUT": "1.5"},
]


@pytest.mark.parametrize("env", _ENVS)
@pytest.mark.parametrize("args", _LOCK_LINES)
def test_lock_options_read_without_typer_get_the_values_typer_gives(monkeypatch: pytest.MonkeyPatch, args: list[str],
                                                                  env: dict[str, str]) -> None:
    fast = parse(LOCK_OPTIONS, args, env)
    assert fast is not None, args
    assert fast == _typer_values(monkeypatch, LOCK_OPTIONS, args, env)


@pytest.mark.parametrize("args", [
    [],
    ["--extra", "a", "--extra", "b", "--all-extras", "--group", "g", "--no-default-groups", "--frozen", "--locked"],
    ["--python", "/usr/bin/python3", "--reinstall", "--no-build", "--allow-outside-project", "--project", "p", "-q"],
    ["--group=dev", "--index-url", "http://127.0.0.1:1/simple", "--timeout", "3", "-v", "--find-links", "w"],
])
def test_sync_options_read_without_typer_get_the_values_typer_gives(monkeypatch: pytest.MonkeyPatch, args: list[str]) -> None:
    for env in _ENVS:
        fast = parse(SYNC_OPTIONS, args, env)
        assert fast is not None, args
        assert fast == _typer_values(monkeypatch, SYNC_OPTIONS, args, env)


@pytest.mark.parametrize("args", [
    ["--help"], ["-h"], ["extra"], ["--"], ["-qv"], ["-q", "-q"], ["--quiet", "-q"], ["--project"], ["--project", "--check"],
    ["--project="], ["--project", ""], ["--offline=1"], ["-Pfoo"], ["-P=foo"], ["--timeout", "1e3"], ["--timeout", "abc"],
    ["--timeout", " 5"], ["--timeout", "-1"], ["--timeout", "nan"], ["--timeout", "1_0"], ["--bogus"], ["--proj", "x"],
    ["--index-url", "-x"], ["--project", "a", "--project", "b"], ["--extra", "x"], ["--frozen"],
])
def test_any_other_lock_command_line_is_left_to_typer(args: list[str]) -> None:
    assert parse(LOCK_OPTIONS, args, {}) is None


@pytest.mark.parametrize("env", [{"SATLOCK_HTTP_TIMEOUT": "abc"}, {"SATLOCK_HTTP_TIMEOUT": "1e3"},
                                 {"SATLOCK_INDEX_URL": " u"}, {"SATLOCK_FIND_LINKS": "-x"}])
def test_an_environment_value_the_parser_is_unsure_of_is_left_to_typer(env: dict[str, str]) -> None:
    assert parse(LOCK_OPTIONS, [], env) is None
    assert parse(SYNC_OPTIONS, ["--frozen"], env) is None


def test_every_option_typer_knows_is_declared_once() -> None:
    """typer's commands have exactly the declared options: names, flags, repeats, environment."""
    from typer.main import get_command

    from satlock.cli.main import app

    group = get_command(app)
    for name, options in (("lock", LOCK_OPTIONS), ("sync", SYNC_OPTIONS)):
        params = [p for p in group.commands[name].params if p.name != "help"]
        assert [p.name for p in params] == [o.dest for o in options]
        for p, o in zip(params, options):
            assert (tuple(p.opts), tuple(p.secondary_opts), p.is_flag, p.multiple, p.envvar) == \
                   (o.names, (), o.kind.value == "flag", o.kind.value == "multi", o.envvar), o.dest


def _both_ways(args: list[str], cwd: Path) -> tuple[tuple[int, str, str], tuple[int, str, str]]:
    """(exit code, stdout, stderr) of the console script and of the full CLI (the typer app) alone."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SATLOCK_") and k not in ("FORCE_COLOR", "NO_COLOR")}
    env.update(COLUMNS="100", SATLOCK_CACHE_DIR=str(cwd / "cache"))
    script = f"import sys; sys.argv = ['satlock', *{args!r}]\nfrom satlock.cli.entry import main\nmain()\n"
    typer_only = f"import sys; sys.argv = ['satlock', *{args!r}]\nfrom satlock.cli.main import main\nmain()\n"
    out = []
    for code in (script, typer_only):
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, env=env)
        out.append((proc.returncode, proc.stdout, proc.stderr))
    return out[0], out[1]


@pytest.mark.parametrize("args", [
    ["lock", "--bogus"], ["lock", "-x"], ["sync", "extra"], ["lock", "--timeout", "abc"], ["lock", "--project"],
    ["lock", "--help"], ["sync", "--help"], ["lock", "-qv", "--offline=1"],
])
def test_a_command_line_the_fast_path_does_not_take_gets_typers_own_answer(tmp_path: Path, args: list[str]) -> None:
    script, typer_only = _both_ways(args, tmp_path)
    assert script == typer_only


@pytest.mark.parametrize("pyproject", [
    None,
    "[project\n",
    '[project]\nname = "p"\nversion = "1"\ndependencies = ["not a requirement!"]\n',
    '[project]\nname = "p"\nversion = "1"\n[tool.satlock]\nnonsense = 1\n',
    '[project]\nname = "p"\nversion = "1"\n[tool.satlock]\nprerelease = "sometimes"\n',
    '[project]\nname = "p"\nversion = "1"\n[tool.satlock.sources]\nx = { path = 3 }\n',
    '[project]\nname = "p"\nversion = "1"\n[tool.satlock.profiles.x]\nbuild-requires = "setuptools"\n',
    '[project]\nname = "p"\nversion = "1"\n[tool]\nsatlock = []\n',
])
@pytest.mark.parametrize("command", [["lock", "--offline"], ["lock", "--check"], ["sync", "--frozen", "-q"]])
def test_a_bad_project_gives_the_same_error_line_with_or_without_typer(tmp_path: Path, pyproject: str | None,
                                                                       command: list[str]) -> None:
    if pyproject is not None:
        (tmp_path / "pyproject.toml").write_text(pyproject)
    script, typer_only = _both_ways(command, tmp_path)
    assert script == typer_only
    code, _, err = script
    assert code != 0 and err.startswith("error: ") and len(err.strip().splitlines()) <= 2, err


def test_a_shell_completion_request_is_left_to_typer(tmp_path: Path) -> None:
    """typer answers ``_SATLOCK_COMPLETE`` requests before reading options; the fast path
    must not run a lock instead."""
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "p"\nversion = "1"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("SATLOCK_")}
    env.update(_SATLOCK_COMPLETE="bash_complete", COMP_WORDS="satlock lock --of", COMP_CWORD="2",
               SATLOCK_CACHE_DIR=str(tmp_path / "cache"))
    script = "import sys; sys.argv = ['satlock', 'lock', '--offline']\nfrom satlock.cli.entry import main\nmain()\n"
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert not (tmp_path / "pylock.toml").exists()
    assert "error:" not in proc.stderr


@pytest.mark.parametrize("command", [["lock"], ["lock", "--refresh"], ["sync", "-q"]])
def test_a_cache_folder_that_cannot_be_written_is_one_error_line_with_or_without_typer(tmp_path: Path,
                                                                                      command: list[str]) -> None:
    from indexbuilder import build_index, make_wheel, project_toml

    index = build_index(tmp_path / "index", [make_wheel(tmp_path / "wheels", "alpha", "1.0")])
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "pyproject.toml").write_text(project_toml(["alpha"], tool=f'[tool.satlock]\nindex-url = "{index.as_uri()}"\n'))
    not_a_folder = tmp_path / "cache-file"
    not_a_folder.write_text("")
    script, typer_only = _both_ways([*command, "--cache-dir", str(not_a_folder)], proj)
    assert script == typer_only
    code, _, err = script
    assert code != 0 and err.startswith(f"error: cannot write to the cache folder {not_a_folder}"), err
    assert len(err.strip().splitlines()) == 2 and "hint:" in err and "Traceback" not in err
    assert not (proj / "pylock.toml").exists()


@pytest.mark.parametrize("command", [["lock"], ["lock", "--offline", "-q"], ["sync", "--frozen"]])
def test_a_project_path_that_is_a_symlink_loop_is_one_error_line_with_or_without_typer(tmp_path: Path,
                                                                                      command: list[str]) -> None:
    (tmp_path / "loop").symlink_to("loop")
    script, typer_only = _both_ways([*command, "--project", "loop"], tmp_path)
    assert script == typer_only
    code, _, err = script
    assert code == 1 and err.startswith("error: cannot find the project folder loop"), err
    assert len(err.strip().splitlines()) == 2 and "Traceback" not in err


@pytest.mark.parametrize("entry", ["satlock.cli.entry", "satlock.cli.main"])
@pytest.mark.parametrize("command", [["lock"], ["sync"]])
def test_a_current_folder_deleted_meanwhile_is_one_error_line(tmp_path: Path, entry: str, command: list[str]) -> None:
    gone = tmp_path / "gone"
    gone.mkdir()
    code = (f"import os, sys; os.chdir({str(gone)!r}); os.rmdir({str(gone)!r}); sys.argv = ['satlock', *{command!r}]\n"
            f"from {entry} import main\nmain()\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SATLOCK_")}
    env.update(COLUMNS="100", SATLOCK_CACHE_DIR=str(tmp_path / "cache"))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert proc.returncode == 1 and proc.stderr.startswith("error: cannot find the project folder ."), proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 2


@pytest.mark.parametrize("value", ["-1", "0", "nan", "inf", "-inf"])
def test_a_timeout_that_is_not_a_positive_number_of_seconds_is_one_error_line(value: str, tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\nversion = "1"\n')
    for args, env in (([f"--timeout={value}"], {}), ([], {"SATLOCK_HTTP_TIMEOUT": value})):
        result = subprocess.run([sys.executable, "-m", "satlock", "lock", "--project", str(tmp_path), "--offline", *args],
                                capture_output=True, text=True, env={**os.environ, **env}, timeout=60)
        assert result.returncode != 0
        assert result.stderr.startswith("error: --timeout (or SATLOCK_HTTP_TIMEOUT) must be a positive number"), result.stderr
        assert "Traceback" not in result.stderr and not (tmp_path / "pylock.toml").exists()


@pytest.mark.parametrize("value", ["-1", "nan"])
def test_a_bad_timeout_is_an_error_even_when_the_lock_is_up_to_date(value: str, tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\nversion = "1"\n')
    env = {**os.environ, "SATLOCK_CACHE_DIR": str(tmp_path / "cache")}
    first = subprocess.run([sys.executable, "-m", "satlock", "lock", "--project", str(tmp_path), "--offline"],
                           capture_output=True, text=True, env=env, timeout=60)
    assert first.returncode == 0, first.stderr
    for args, extra in (([f"--timeout={value}"], {}), ([], {"SATLOCK_HTTP_TIMEOUT": value})):
        again = subprocess.run([sys.executable, "-m", "satlock", "lock", "--project", str(tmp_path), *args],
                               capture_output=True, text=True, env={**env, **extra}, timeout=60)
        assert again.returncode != 0 and again.stderr.startswith("error: --timeout"), again.stderr


@pytest.mark.parametrize("command", [["profile", "list"], ["profile", "show", "foo"], ["profile", "remove", "foo"],
                                     ["profile", "add", "foo", "--build-requires", "torch"]])
def test_a_profile_command_in_a_deleted_folder_or_a_symlink_loop_is_one_error_line(tmp_path: Path, command: list[str]) -> None:
    gone = tmp_path / "gone"
    gone.mkdir()
    code = (f"import os, sys; os.chdir({str(gone)!r}); os.rmdir({str(gone)!r}); sys.argv = ['satlock', *{command!r}]\n"
            "from satlock.cli.entry import main\nmain()\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SATLOCK_")}
    env.update(COLUMNS="100", SATLOCK_CACHE_DIR=str(tmp_path / "cache"))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert proc.returncode == 1 and proc.stderr.startswith("error: cannot find the project folder ."), proc.stderr
    (tmp_path / "loop").symlink_to("loop")
    proc = subprocess.run([sys.executable, "-m", "satlock", *command, "--project", "loop"], capture_output=True,
                          text=True, cwd=tmp_path, env=env)
    assert proc.returncode == 1 and proc.stderr.startswith("error: cannot find the project folder loop"), proc.stderr
    assert "Traceback" not in proc.stderr
