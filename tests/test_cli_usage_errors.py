"""A command line satlock cannot take is bad input like any other: one ``error:`` line that
names the command and what is wrong, a hint to ask for its help, exit 2 (as typer and uv
exit), and nothing written."""

import os
import subprocess
import sys
from pathlib import Path

import pytest


def _satlock(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SATLOCK_")}
    env.update(COLUMNS="80", SATLOCK_CACHE_DIR=str(cwd / "cache"))
    return subprocess.run([sys.executable, "-m", "satlock", *args], capture_output=True, text=True, cwd=cwd, env=env)


@pytest.mark.parametrize(("args", "where", "what"), [
    (["lock", "--bogus"], "satlock lock", "no such option: --bogus"),
    (["sync", "--frobnicate"], "satlock sync", "no such option: --frobnicate"),
    (["lock", "--timeout", "abc"], "satlock lock", "invalid value for '--timeout'"),
    (["profile", "add"], "satlock profile add", "missing argument"),
    (["profile", "list", "--bogus"], "satlock profile list", "no such option: --bogus"),
    (["bogus"], "satlock", "no such command 'bogus'"),
], ids=["lock-unknown-option", "sync-unknown-option", "lock-bad-number", "profile-add-no-name",
        "profile-list-unknown-option", "unknown-command"])
def test_a_command_line_satlock_cannot_take_is_one_error_line_and_a_hint(tmp_path, args, where, what):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "demo"\nversion = "0.1"\n')
    result = _satlock(args, tmp_path)
    assert result.returncode == 2, result.stderr
    error, hint = result.stderr.splitlines()
    assert error.startswith(f"error: {where}: {what}"), result.stderr
    assert hint.startswith("hint: run `satlock") and "--help`" in hint, result.stderr
    assert result.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pyproject.toml"]


@pytest.mark.parametrize(("args", "where"), [
    (["sync", "--extra"], "satlock sync"), (["lock", "--project"], "satlock lock"),
    (["profile", "add", "x", "--version"], "satlock profile add"),
], ids=["sync-extra", "lock-project", "profile-add-version"])
def test_an_option_without_its_value_names_the_command_it_was_given_to(tmp_path, args, where):
    result = _satlock(args, tmp_path)
    assert result.returncode == 2, result.stderr
    error, hint = result.stderr.splitlines()
    assert error == f"error: {where}: option '{args[-1]}' requires an argument.", result.stderr
    assert hint == f"hint: run `{where} --help` for what it takes", result.stderr


def test_a_command_line_error_with_stderr_closed_still_exits_2(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SATLOCK_")}
    proc = subprocess.run(["sh", "-c", 'exec "$@" 2>&-', "sh", sys.executable, "-m", "satlock", "lock", "--bogus"],
                          capture_output=True, text=True, cwd=tmp_path, env=env)
    assert proc.returncode == 2


@pytest.mark.parametrize("args", [[], ["profile"]], ids=["satlock", "satlock-profile"])
def test_a_command_group_named_alone_shows_its_help_as_before(tmp_path, args):
    result = _satlock(args, tmp_path)
    assert result.returncode == 2
    assert "Usage: satlock" in result.stdout and result.stderr == ""


def test_help_of_a_command_still_exits_0(tmp_path):
    result = _satlock(["lock", "--help"], tmp_path)
    assert result.returncode == 0 and "Usage: satlock lock" in result.stdout


@pytest.mark.parametrize("flag", ["--help", "--version"])
def test_help_or_version_with_stdout_closed_ends_quietly(tmp_path, flag):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SATLOCK_")}
    proc = subprocess.run(["sh", "-c", 'exec "$@" >&-', "sh", sys.executable, "-m", "satlock", flag],
                          capture_output=True, text=True, cwd=tmp_path, env=env)
    assert (proc.returncode, proc.stderr) == (0, "")
