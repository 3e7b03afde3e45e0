"""Attacks from outside on the index/house splits: what a user or a hostile file sees."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from hostilekit import assert_one_error_line, ctrl_c_as_in_a_terminal, run_cli
from indexbuilder import build_index, make_wheel, project_toml

COMMANDS = [["lock"], ["sync"], ["profile", "list"], ["profile", "add", "x"], ["profile", "remove", "x"],
            ["profile", "show", "x"]]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_says_the_same_line_for_a_pyproject_that_is_not_utf8(tmp_path, command):
    (tmp_path / "pyproject.toml").write_bytes(b'[project]\nname = "x\xff"\nversion = "1"\n')
    result = run_cli(*command, "--project", tmp_path)
    assert_one_error_line(result, f"{tmp_path / 'pyproject.toml'}: not UTF-8 text")
    assert (tmp_path / "pyproject.toml").read_bytes() == b'[project]\nname = "x\xff"\nversion = "1"\n'


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_says_the_same_line_for_a_pyproject_that_is_not_toml(tmp_path, command):
    (tmp_path / "pyproject.toml").write_text("garbage[[\n")
    result = run_cli(*command, "--project", tmp_path)
    assert_one_error_line(result, f"{tmp_path / 'pyproject.toml'}: invalid TOML: ")
    assert "hint: fix the syntax error at that line" in result.output
    assert (tmp_path / "pyproject.toml").read_text() == "garbage[[\n"


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_names_the_byte_order_mark_of_a_pyproject_saved_with_one(tmp_path, command):
    """A BOM is invisible in an editor: "invalid TOML at line 1, column 1, fix the syntax" sends the user looking for nothing."""
    data = b'\xef\xbb\xbf[project]\r\nname = "x"\r\nversion = "1"\r\n'
    (tmp_path / "pyproject.toml").write_bytes(data)
    result = run_cli(*command, "--project", tmp_path)
    assert_one_error_line(result, f"{tmp_path / 'pyproject.toml'}: starts with a byte order mark")
    assert "hint: save it as UTF-8 without a BOM" in result.output
    assert (tmp_path / "pyproject.toml").read_bytes() == data


def _wait_for(predicate, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting for the requests"
        time.sleep(0.01)


def test_ctrl_c_during_sync_installs_does_not_claim_nothing_was_written(tmp_path):
    """Ctrl-C after sync has installed some packages: the one line must not say nothing was
    written (the environment changed); it says how to finish, and the next sync does."""
    names = [f"pkg{i:02d}" for i in range(40)]
    files = {f"{{mod}}/m{j}.py": f"X = {j}\n" for j in range(100)}
    wheels = [make_wheel(tmp_path / "d", n, "1.0", files={k.format(mod=n): v for k, v in files.items()}) for n in names]
    simple = build_index(tmp_path / "idx", wheels).as_uri()
    proj = tmp_path / "p"
    proj.mkdir()
    (proj / "pyproject.toml").write_text(project_toml(names))
    assert run_cli("lock", "--project", proj, "--index-url", simple).exit_code == 0
    proc = subprocess.Popen([sys.executable, "-m", "satlock", "sync", "--frozen", "--project", str(proj),
                             "--index-url", simple], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=ctrl_c_as_in_a_terminal)
    try:
        _wait_for(lambda: any((proj / ".venv").glob("lib/python*/site-packages/pkg*.dist-info")), timeout=60)
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, output
    assert len(output.splitlines()) == 1 and "nothing was written" not in output, output
    assert "satlock sync" in output
    result = run_cli("sync", "--frozen", "--project", proj, "--index-url", simple)
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("signal_error", ["KeyboardInterrupt", "Terminated"])
def test_an_oserror_that_a_ctrl_c_caused_in_a_clean_up_is_still_the_interrupted_line_not_a_traceback(capsys, signal_error):
    """shutil.rmtree interrupted right after closing a folder closes it again in its finally:
    the EBADF replaced the KeyboardInterrupt, and Ctrl-C during sync's installs (this file's
    test above, once in a full run) ended in that traceback and exit 1."""
    import errno

    from satlock.cli.output import Output, Terminated, exit_code

    def interrupted_clean_up() -> None:
        try:
            raise KeyboardInterrupt if signal_error == "KeyboardInterrupt" else Terminated
        finally:
            raise OSError(errno.EBADF, "Bad file descriptor")

    assert exit_code(Output(), interrupted_clean_up, interrupted="interrupted; X") == (130 if signal_error == "KeyboardInterrupt" else 143)
    assert "interrupted; X" in capsys.readouterr().err

    def plain_oserror() -> None:
        raise OSError(errno.EBADF, "Bad file descriptor")

    with pytest.raises(OSError):
        exit_code(Output(), plain_oserror)
