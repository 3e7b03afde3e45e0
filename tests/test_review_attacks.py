"""Attacks from outside on the index/house splits: what a user or a hostile file sees."""

from __future__ import annotations

from pathlib import Path

import pytest

from hostilekit import assert_one_error_line, run_cli

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
