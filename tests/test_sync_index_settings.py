"""A sync with nothing to install still refuses index settings no request could use.

``sync`` makes the index client only when it has something to fetch (a re-lock, a
download), so that a no-op sync loads none of the index code; the settings the client
would refuse (an index URL that is not https/file, plain http to a host not allowed, a
find-links entry that is a URL or no folder) are checked up front instead, from flags,
the environment and pyproject.toml alike, as they were when every sync made the client.
One that locks and installs makes the client once, for both.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from indexbuilder import IndexServer, build_index, make_wheel, project_toml
from satlock.buildenv.installed import installed_distributions
from satlock.buildenv.venv import open_venv
from satlock.cli.main import app

runner = CliRunner()


@pytest.fixture()
def synced(tmp_path: Path):
    """A project synced from a local index, and that index (still served)."""
    dists = tmp_path / "dists"
    build_index(tmp_path / "index", [make_wheel(dists, "helper", "1.0")])
    project = tmp_path / "p"
    project.mkdir()
    (project / "pyproject.toml").write_text(project_toml(["helper"]))
    with IndexServer(tmp_path / "index") as server:
        first = runner.invoke(app, ["sync", "--project", str(project), "--index-url", f"{server.url}/simple"])
        assert first.exit_code == 0, first.output
        yield project, server


def _state(project: Path) -> tuple[bytes, dict[str, str]]:
    venv = open_venv(project / ".venv")
    return (project / "pylock.toml").read_bytes(), {n: d.version for n, d in installed_distributions(venv).items()}


BAD_FLAGS = [
    (["--index-url", "http://example.com/simple"], "refusing plain http index URL 'http://example.com/simple'"),
    (["--index-url", "notaurl"], "invalid index URL 'notaurl'"),
    (["--extra-index-url", "ftp://example.com/simple"], "invalid index URL 'ftp://example.com/simple'"),
    (["--find-links", "https://example.com/wheels/"], "find-links entry 'https://example.com/wheels/' is a URL"),
    (["--find-links", "/nonexistent/wheels"], "find-links folder /nonexistent/wheels does not exist"),
    (["--find-links", "http://[oops"], "find-links entry 'http://[oops' is not a valid URL or path"),
]


@pytest.mark.parametrize("mode", [[], ["--frozen"], ["--locked"]])
@pytest.mark.parametrize("flags, said", BAD_FLAGS)
def test_a_sync_with_nothing_to_do_refuses_a_bad_index_flag(synced, mode: list[str], flags: list[str], said: str) -> None:
    project, _server = synced
    before = _state(project)
    result = runner.invoke(app, ["sync", "--project", str(project), *mode, *flags])
    assert result.exit_code == 1, result.output
    assert f"error: {said}" in result.output and "Traceback" not in result.output
    assert "up to date" not in result.output
    assert _state(project) == before


@pytest.mark.parametrize("variable, value, said", [
    ("SATLOCK_INDEX_URL", "http://example.com/simple", "refusing plain http index URL"),
    ("SATLOCK_EXTRA_INDEX_URL", "https://ok.example/simple ftp://example.com/simple", "invalid index URL 'ftp://"),
    ("SATLOCK_FIND_LINKS", "/nonexistent/wheels", "find-links folder /nonexistent/wheels does not exist"),
])
def test_a_sync_with_nothing_to_do_refuses_a_bad_index_setting_in_the_environment(
        synced, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, said: str) -> None:
    project, _server = synced
    before = _state(project)
    monkeypatch.setenv(variable, value)
    result = runner.invoke(app, ["sync", "--project", str(project)])
    assert result.exit_code == 1, result.output
    assert said in result.output and "up to date" not in result.output
    assert _state(project) == before


def test_a_sync_with_nothing_to_do_refuses_a_find_links_url_in_pyproject_the_lock_was_made_past(synced, tmp_path: Path) -> None:
    # Locked with --find-links overriding the file's entry, which no request could use.
    project, server = synced
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (project / "pyproject.toml").write_text(project_toml(["helper"], tool='[tool.satlock]\nfind-links = ["https://example.com/wheels/"]\n'))
    args = ["sync", "--project", str(project), "--index-url", f"{server.url}/simple"]
    relocked = runner.invoke(app, [*args, "--find-links", str(wheels)])
    assert relocked.exit_code == 0, relocked.output
    before = _state(project)
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    assert "find-links entry 'https://example.com/wheels/' is a URL" in result.output
    assert _state(project) == before
    # With the flag again, nothing to do, and nothing said against it.
    again = runner.invoke(app, [*args, "--find-links", str(wheels)])
    assert again.exit_code == 0 and "is up to date" in again.output, again.output


def test_a_sync_with_nothing_to_do_takes_good_index_settings_and_asks_nothing(synced, tmp_path: Path) -> None:
    project, server = synced
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    asked = len(server.requests)
    result = runner.invoke(app, ["sync", "--project", str(project), "--index-url", "http://example.com/simple",
                                 "--allow-insecure-host", "example.com", "--extra-index-url", f"{server.url}/simple",
                                 "--find-links", str(wheels), "--find-links", wheels.as_uri()])
    assert result.exit_code == 0 and "is up to date" in result.output, result.output
    assert len(server.requests) == asked


def test_a_sync_that_locks_and_installs_makes_one_index_client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The re-lock and the downloads after it share the client, and so its connections.
    import satlock.resolver.index as index

    made: list[object] = []
    real_init = index.IndexClient.__init__

    def init(self, *args, **kwargs) -> None:
        made.append(self)
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(index.IndexClient, "__init__", init)
    dists = tmp_path / "dists"
    build_index(tmp_path / "index", [make_wheel(dists, "helper", "1.0"), make_wheel(dists, "fancy", "1.0")])
    project = tmp_path / "p"
    project.mkdir()
    (project / "pyproject.toml").write_text(project_toml(["helper", "fancy"]))
    with IndexServer(tmp_path / "index") as server:
        result = runner.invoke(app, ["sync", "--project", str(project), "--index-url", f"{server.url}/simple"])
    assert result.exit_code == 0, result.output
    assert "Locked 2 packages" in result.output and "Installed 2" in result.output
    assert len(made) == 1
