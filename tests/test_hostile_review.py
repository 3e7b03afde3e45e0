"""Breaks found by an outside review of the hostile-input promises, each shown through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

from test_hostile_index import JSON, Hostile, json_page, lock, one_error, project, static, wheel  # noqa: F401
from indexbuilder import sha256_of


def test_json_page_nested_too_deeply_is_one_error_line_not_a_recursion_traceback(tmp_path):
    page = static(b"[" * 100_000 + b"]" * 100_000, JSON)
    with Hostile({"/simple/foo/": page}) as srv:
        result = lock(project(tmp_path), "--index-url", f"{srv.url}/simple")
    one_error(result, f"{srv.url}/simple/foo/", "nested")
    assert not (tmp_path / "proj" / "pylock.toml").exists()


def test_page_size_beyond_a_toml_integer_is_refused_not_written_into_the_lock(tmp_path, wheel):
    page = json_page({"filename": wheel.name, "url": f"../../files/{wheel.name}",
                      "hashes": {"sha256": sha256_of(wheel)}, "size": 10**30})
    with Hostile({"/simple/foo/": page, f"/files/{wheel.name}": static(wheel.read_bytes())}) as srv:
        result = lock(project(tmp_path), "--index-url", f"{srv.url}/simple")
    one_error(result, f"{srv.url}/simple/foo/", "size")
    assert not (tmp_path / "proj" / "pylock.toml").exists()


def test_env_key_with_a_newline_or_escape_in_a_profile_is_one_quoted_error_line(tmp_path):
    from hostilekit import run_cli
    root = project(tmp_path)
    (root / "pyproject.toml").write_text((root / "pyproject.toml").read_text()
                                         + '\n[tool.satlock.profiles.foo]\nenv = {"A\\u0000\\nerror: fake\\u001b[2J" = "x"}\n')
    before = (root / "pyproject.toml").read_bytes()
    result = run_cli("profile", "add", "bar", "--env", "A=1", "--project", root)
    line = one_error(result, "environment variable name")
    assert "\x1b" not in result.output and "error: fake" not in result.output.replace(line, "")
    assert len(result.output.strip().splitlines()) <= 2
    assert (root / "pyproject.toml").read_bytes() == before


def test_relative_find_links_folder_locks_instead_of_a_file_uri_traceback(tmp_path, monkeypatch):
    from hostilekit import run_cli
    from indexbuilder import make_wheel
    make_wheel(tmp_path / "fl", "foo", "1.0")
    idx = tmp_path / "idx" / "foo"
    idx.mkdir(parents=True)
    (idx / "index.html").write_text('<html><head><meta name="pypi:repository-version" content="1.0"></head></html>')
    root = project(tmp_path)
    monkeypatch.chdir(tmp_path)
    result = run_cli("lock", "--project", root, "--find-links", "fl", "--index-url", (tmp_path / "idx").as_uri() + "/",
                     "--cache-dir", tmp_path / "cache")
    assert result.exit_code == 0, result.output
    assert (root / "pylock.toml").exists()


def test_control_characters_an_index_sends_reach_the_terminal_escaped_and_fake_no_line(tmp_path, wheel):
    """A yanked reason or a file URL is the index's text: shown, it may not clear the screen,
    move the cursor or start a line of its own (a second ``error:``)."""
    evil = "\x1b[2J\x1b[31mevil\r\nerror: fake line\x07"
    yanked = json_page({"filename": wheel.name, "url": f"../../files/{wheel.name}", "hashes": {"sha256": sha256_of(wheel)},
                        "yanked": evil})
    missing = json_page({"filename": wheel.name, "url": f"../../files/{wheel.name}\x1b[2J", "hashes": {"sha256": sha256_of(wheel)}})
    for page, needle in ((yanked, "yanked: \\x1b[2J\\x1b[31mevil\\r\\nerror: fake line\\x07"), (missing, "\\x1b[2J not found")):
        with Hostile({"/simple/foo/": page}) as srv:
            result = lock(project(tmp_path), "--index-url", f"{srv.url}/simple")
        one_error(result)
        assert needle in result.output
        assert not any(c in result.output for c in "\x1b\r\x07")
