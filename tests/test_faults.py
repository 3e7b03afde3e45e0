"""Faults, bad input and security, end to end through the ``satlock`` command.

Every case here is something a user meets: a typo in pyproject.toml, a flaky or hostile
index, a Ctrl-C, a killed process, two commands at once, a damaged cache, a tampered
file. Each must end in one readable line (or succeed) and never leave a half-written
lock or environment behind.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
import tomllib
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest
from typer.testing import CliRunner

from hostilekit import ctrl_c_as_in_a_terminal
from indexbuilder import Faults, IndexServer, build_index, installed_wheel, make_sdist, make_wheel, project_toml, sha256_of
from installcheck import verify_records
from satlock.buildenv.uninstall import STAGE_PREFIX
from satlock.buildenv.venv import create_venv, open_venv
from satlock.cli.main import app
from satlock.resolver.index import METADATA


def run_cli(*args: str):
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def spawn(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "satlock", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env={**os.environ, **(env or {})},
                            preexec_fn=ctrl_c_as_in_a_terminal)


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes, to prove a failed command changed nothing."""
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file() and "__pycache__" not in p.parts}


def assert_clean_failure(result, *needles: str) -> None:
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output, result.output
    for needle in needles:
        assert needle in result.output, f"{needle!r} not in:\n{result.output}"


@pytest.fixture(scope="module")
def index(tmp_path_factory) -> Path:
    """A small index: aaa 1.0 and 2.0 (needs bbb), bbb 1.0, ccc 1.0 with an extra."""
    root = tmp_path_factory.mktemp("index")
    dists = root / "dists"
    wheels = [
        make_wheel(dists, "aaa", "1.0", requires=["bbb>=1"]),
        make_wheel(dists, "aaa", "2.0", requires=["bbb>=1"]),
        make_wheel(dists, "bbb", "1.0"),
        make_wheel(dists, "ccc", "1.0", extras={"fast": ["bbb"]}),
    ]
    build_index(root / "idx", wheels)
    login = root / "idx" / "login" / "aaa"
    login.mkdir(parents=True)
    (login / "index.html").write_text(
        "<!DOCTYPE html><html><head><title>Sign in</title></head><body><form action='/session' method='post'>"
        "<input name='user'><input name='password' type='password'></form>"
        "<a href='/forgot-password'>Forgot your password?</a> <a href='/help'>Help</a></body></html>")
    return root / "idx"


@pytest.fixture(scope="module")
def good_lock(index, tmp_path_factory) -> bytes:
    """The bytes of a real lock of ``["aaa"]``, used as the lock a failed command must leave alone."""
    proj = tmp_path_factory.mktemp("good")
    (proj / "pyproject.toml").write_text(project_toml(["aaa"]))
    result = run_cli("lock", "--project", proj, "--index-url", (index / "simple").as_uri(),
                     "--cache-dir", tmp_path_factory.mktemp("goodcache"))
    assert result.exit_code == 0, result.output
    return (proj / "pylock.toml").read_bytes()


@pytest.fixture(scope="module")
def server(index):
    with IndexServer(index) as s:
        yield s


# -- 1. bad input ----------------------------------------------------------------------

PROFILE = '\n[tool.satlock.profiles.aaa]\n'


@dataclass
class BadInput:
    pyproject: str
    args: list[str]
    needles: list[str]
    lock: str | None = None  # pylock.toml text to start from (default: a good lock)
    exit_zero: bool = False


BAD_INPUTS = {
    "malformed-toml": BadInput("[project\nname = 'demo'\n", ["lock"], ["pyproject.toml", "invalid TOML"]),
    "no-project-table": BadInput("[tool.other]\nx = 1\n", ["lock"], ["pyproject.toml", "no [project] table"]),
    "dependency-not-pep508": BadInput(project_toml(["aaa >>> 1"]), ["lock"], ["pyproject.toml", "'aaa >>> 1'", "not a valid requirement"]),
    "invalid-version-specifier": BadInput(project_toml(["aaa"], requires_python="three point eight"), ["lock"],
                                          ["pyproject.toml", "requires-python", "not a valid version specifier"]),
    "invalid-specifier-in-dependency": BadInput(project_toml(["aaa>=1.0.0.0.x"]), ["lock"], ["pyproject.toml", "aaa>=1.0.0.0.x", "not a valid requirement"]),
    "unknown-package": BadInput(project_toml(["zzz-not-here"]), ["lock"], ["zzz-not-here", "not found"]),
    "version-does-not-exist": BadInput(project_toml(["aaa==9.9"]), ["lock"], ["aaa", "9.9"]),
    "unknown-extra-warns": BadInput(project_toml(["ccc[nope]"]), ["lock"], ["warning:", "ccc", "nope"], exit_zero=True),
    "unknown-extra-of-package-without-extras-warns": BadInput(project_toml(["bbb[nope]"]), ["lock"], ["warning:", "bbb", "nope"], exit_zero=True),
    "circular-include-group": BadInput(project_toml(["aaa"], groups={"a": [{"include-group": "b"}], "b": [{"include-group": "a"}]}),
                                       ["lock"], ["pyproject.toml", "dependency-groups", "cycl"]),
    "include-group-of-a-missing-group": BadInput(project_toml(["aaa"], groups={"dev": [{"include-group": "lnt"}], "lint": ["aaa"]}),
                                                 ["lock"], ["pyproject.toml", "dependency-groups.dev[0]", "'lnt'", "hint:", "dev, lint"]),
    "profile-unknown-key": BadInput(project_toml(["aaa"]) + PROFILE + "build-requirez = ['x']\n", ["lock"],
                                    ["pyproject.toml", "[tool.satlock.profiles.aaa]", "unknown key 'build-requirez'"]),
    "profile-bad-template": BadInput(project_toml(["aaa"]) + PROFILE + "env = {CUDA = '{cuda-hom}'}\n", ["lock"],
                                     ["pyproject.toml", "[tool.satlock.profiles.aaa]", "unknown template '{cuda-hom}'"]),
    "profile-bad-requirement": BadInput(project_toml(["aaa"]) + PROFILE + "build-requires = ['torch >>> 2']\n", ["lock"],
                                        ["pyproject.toml", "[tool.satlock.profiles.aaa]", "'torch >>> 2'", "not a valid requirement"]),
    "index-url-not-a-url": BadInput(project_toml(["aaa"]), ["lock", "--index-url", "not a url"], ["not a url"]),
    "plain-http-to-remote-host": BadInput(project_toml(["aaa"]), ["lock", "--index-url", "http://packages.example.invalid/simple/"],
                                          ["http://packages.example.invalid/simple/", "allow-insecure-host"]),
    "index-answers-login-page": BadInput(project_toml(["aaa"]), ["lock", "--index-url", "{server}/login/"],
                                         ["/login/aaa/", "not a simple index"]),
    "newer-lock-version": BadInput(project_toml(["aaa"]), ["sync", "--frozen"], ["pylock.toml", "2.0"],
                                   lock='lock-version = "2.0"\ncreated-by = "future-tool"\n[[packages]]\nname = "aaa"\nversion = "2.0"\n'),
    "lock-sdist-and-vcs": BadInput(project_toml(["aaa"]), ["sync", "--frozen"], ["pylock.toml", "aaa"],
                                   lock='lock-version = "1.0"\ncreated-by = "hand"\n[[packages]]\nname = "aaa"\nversion = "2.0"\n'
                                        '[packages.vcs]\ntype = "git"\nurl = "https://git.example.invalid/aaa"\ncommit-id = "abc"\n'
                                        '[packages.sdist]\nname = "aaa-2.0.tar.gz"\nurl = "https://files.example.invalid/aaa-2.0.tar.gz"\n'
                                        '[packages.sdist.hashes]\nsha256 = "00"\n'),
    "lock-wheel-name-mismatch": BadInput(project_toml(["aaa"]), ["sync", "--frozen"], ["pylock.toml", "aaa", "bbb-1.0-py3-none-any.whl"],
                                         lock='lock-version = "1.0"\ncreated-by = "hand"\n[[packages]]\nname = "aaa"\nversion = "2.0"\n'
                                              '[[packages.wheels]]\nname = "bbb-1.0-py3-none-any.whl"\nurl = "https://files.example.invalid/bbb-1.0-py3-none-any.whl"\n'
                                              '[packages.wheels.hashes]\nsha256 = "00"\n'),
    "unknown-tool-satlock-key": BadInput(project_toml(["aaa"]) + "\n[tool.satlock]\nindex-ulr = 'x'\n", ["lock"],
                                         ["pyproject.toml", "unknown key 'index-ulr'"]),
    "python-version-not-a-version": BadInput(project_toml(["aaa"]), ["lock", "--python-version", "abc"], ["--python-version", "abc"]),
    # Every older minor version becomes a tag: an absurd one must be refused, not enumerated.
    "python-version-minor-out-of-range": BadInput(project_toml(["aaa"]), ["lock", "--python-version", "3.5000"],
                                                  ["--python-version", "3.5000"]),
    "platform-tag-with-a-word-for-a-number": BadInput(project_toml(["aaa"]), ["lock", "--platform", "manylinux_2_x_x86_64"],
                                                      ["--platform", "manylinux_2_x_x86_64"]),
    "platform-tag-without-architecture": BadInput(project_toml(["aaa"]), ["lock", "--platform", "manylinux_2_17"],
                                                  ["--platform", "manylinux_2_17"]),
    "platform-tag-glibc-out-of-range": BadInput(project_toml(["aaa"]), ["lock", "--platform", "manylinux_2_5000_x86_64"],
                                                ["--platform", "manylinux_2_5000_x86_64"]),
    "platform-tag-macos-out-of-range": BadInput(project_toml(["aaa"]), ["lock", "--platform", "macosx_5000_0_arm64"],
                                                ["--platform", "macosx_5000_0_arm64"]),
    "platform-tag-macos-words": BadInput(project_toml(["aaa"]), ["lock", "--platform", "macosx_a_b_arm64"],
                                         ["--platform", "macosx_a_b_arm64"]),
    "python-that-is-a-folder": BadInput(project_toml(["aaa"]), ["sync", "--python", "/"], ["interpreter /", "cannot be run"]),
}


@pytest.mark.parametrize("case", BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_input_is_one_clear_line_and_writes_nothing(case: BadInput, tmp_path, index, good_lock, server):
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "pyproject.toml").write_text(case.pyproject)
    (proj / "pylock.toml").write_bytes(case.lock.encode() if case.lock is not None else good_lock)
    before = snapshot(proj)
    args = [a.replace("{server}", server.url) for a in case.args]
    if "--index-url" not in args:
        args += ["--index-url", (index / "simple").as_uri()]
    result = run_cli(*args, "--project", proj)
    if case.exit_zero:
        assert result.exit_code == 0, result.output
        assert "Traceback" not in result.output
        for needle in case.needles:
            assert needle in result.output, result.output
        assert not (proj / ".venv").exists()
        return
    assert_clean_failure(result, "error:", *case.needles)
    assert snapshot(proj) == before
    assert not (proj / ".venv").exists()


# -- 2. network faults -----------------------------------------------------------------


def _project(tmp_path: Path, deps: list[str], name: str = "proj") -> Path:
    proj = tmp_path / name
    proj.mkdir()
    (proj / "pyproject.toml").write_text(project_toml(deps))
    return proj


def _locked(proj: Path) -> dict[str, str]:
    data = tomllib.loads((proj / "pylock.toml").read_text())
    return {p["name"]: p["version"] for p in data["packages"]}


@pytest.mark.parametrize("faults", [Faults(fail_times={"/simple/aaa/": 2, "/files/bbb": 2}),
                                    Faults(drop_times={"/simple/": 2, ".metadata": 1})],
                         ids=["http-500-twice", "dropped-connections"])
def test_lock_survives_transient_index_faults(faults, tmp_path, index):
    proj = _project(tmp_path, ["aaa"])
    with IndexServer(index, faults) as s:
        result = run_cli("lock", "--project", proj, "--index-url", f"{s.url}/simple/")
    assert result.exit_code == 0, result.output
    assert _locked(proj) == {"aaa": "2.0", "bbb": "1.0"}


def test_stalled_index_fails_fast_with_the_url(tmp_path, index, good_lock):
    proj = _project(tmp_path, ["aaa"])
    (proj / "pylock.toml").write_bytes(good_lock)
    with stalling_server(index, Faults(stall={"/simple/aaa/": 10})) as s:
        start = time.monotonic()
        result = run_cli("lock", "--project", proj, "--index-url", f"{s.url}/simple/", "--timeout", "0.5")
        elapsed = time.monotonic() - start
    assert_clean_failure(result, "error:", f"{s.url}/simple/aaa/", "timed out")
    assert elapsed < 6
    assert (proj / "pylock.toml").read_bytes() == good_lock


@contextmanager
def _closed_port() -> Iterator[int]:
    """A loopback port that refuses connections: bound (so no client can take it as its own
    source port and connect to itself) but never listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def stalling_server(root: Path, faults: Faults) -> IndexServer:
    """An IndexServer whose handlers, still asleep when a test ends, wake up silently
    instead of printing a BrokenPipe traceback into a later test's captured output."""
    server = IndexServer(root, faults)
    server._httpd.handle_error = lambda request, address: None
    return server


def test_unreachable_index_is_one_line_and_keeps_the_old_lock(tmp_path, good_lock):
    proj = _project(tmp_path, ["aaa"])
    (proj / "pylock.toml").write_bytes(good_lock)
    with _closed_port() as port:
        url = f"http://127.0.0.1:{port}/simple/"
        result = run_cli("lock", "--project", proj, "--index-url", url, "--timeout", "5")
    assert_clean_failure(result, "error:", url)
    assert [line for line in result.output.splitlines() if line.startswith("error:")] == [result.output.splitlines()[0]]
    assert len(result.output.strip().splitlines()) <= 2  # the error and its hint
    assert (proj / "pylock.toml").read_bytes() == good_lock


# -- 3. interruption -------------------------------------------------------------------


def _wait_for(predicate, timeout: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["sigkill", "ctrl-c"])
def test_interrupted_lock_leaves_the_old_lock_intact(sig, tmp_path, index, good_lock):
    proj = _project(tmp_path, ["aaa"])
    (proj / "pylock.toml").write_bytes(good_lock)
    with stalling_server(index, Faults(stall={"/simple/aaa/": 20})) as s:
        proc = spawn("lock", "--project", proj, "--index-url", f"{s.url}/simple/")
        try:
            _wait_for(lambda: any("/simple/aaa/" in path for _, path, _ in s.requests), what="the index request")
            time.sleep(0.2)
            start = time.monotonic()
            proc.send_signal(sig)
            output, _ = proc.communicate(timeout=10)
            elapsed = time.monotonic() - start
        finally:
            proc.kill()
    assert (proj / "pylock.toml").read_bytes() == good_lock
    tomllib.loads((proj / "pylock.toml").read_text())
    assert sorted(p.name for p in proj.iterdir()) == ["pylock.toml", "pyproject.toml"]
    if sig == signal.SIGINT:
        assert proc.returncode == 130, output
        assert "interrupted" in output
        assert "Traceback" not in output
        assert elapsed < 5, "Ctrl-C must not wait for stalled downloads"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "ctrl-c"])
def test_a_build_stopped_by_a_signal_leaves_no_unpacked_source_or_build_environment(sig, tmp_path):
    """A lock stopped (kill's SIGTERM, or Ctrl-C) while it builds an sdist's metadata ends
    with one line and removes the sdist it unpacked for the build and the build
    environment it made, as it does when it ends normally."""
    started = tmp_path / "build-started"
    setup = (f"import pathlib, time\npathlib.Path({str(started)!r}).touch()\ntime.sleep(60)\n"
             "from setuptools import setup\nsetup(name='slow', version='1.0')\n")
    dists = [make_sdist(tmp_path / "d", "slow", "1.0", pyproject="", setup_py=setup, pkg_info=False),
             installed_wheel("setuptools", tmp_path / "d")]
    simple = build_index(tmp_path / "index", dists)
    proj = _project(tmp_path, ["slow"])
    cache = tmp_path / "cache"
    proc = spawn("lock", "--project", proj, "--index-url", simple.as_uri(), "--cache-dir", cache)
    try:
        _wait_for(started.exists, timeout=60, what="the build to start")
        proc.send_signal(sig)
        output, _ = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == (143 if sig == signal.SIGTERM else 130), output
    assert output.splitlines() == ["interrupted; nothing was written"]
    assert sorted(p.name for p in proj.iterdir()) == ["pyproject.toml"]
    assert [p for p in cache.glob("*/.tmp-*")] == []
    assert list((cache / "build-envs-v1").iterdir()) == []


def _ctrl_c_once(proc: subprocess.Popen, ready, what: str, line: str = "interrupted; nothing was written") -> None:
    """Send Ctrl-C to ``proc`` once ``ready()`` holds; it must end at once (without joining
    threads stalled on the server) with exit 130 and one line."""
    try:
        _wait_for(ready, what=what)
        start = time.monotonic()
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=10)
        elapsed = time.monotonic() - start
    finally:
        proc.kill()
    assert proc.returncode == 130, output
    assert output.splitlines() == [line]
    assert elapsed < 5, "Ctrl-C must not wait for the stalled fetch threads"


def test_ctrl_c_during_parallel_fetches_is_one_line_exit_130_and_writes_nothing(tmp_path, index):
    """Ctrl-C while fetch threads wait on a stalled server: the process ends at once, with
    one line and exit 130, without joining those threads, and it exits normally, so its
    clean-up runs (the throw-away cache of --no-cache is removed; os._exit would leave it)."""
    proj = _project(tmp_path, ["aaa", "ccc"])
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    with stalling_server(index, Faults(stall={"/simple/aaa/": 20, "/simple/ccc/": 20})) as s:
        proc = spawn("lock", "--project", proj, "--index-url", f"{s.url}/simple/", "--no-cache", env={"TMPDIR": str(tmp)})
        _ctrl_c_once(proc, lambda: {"/simple/aaa/", "/simple/ccc/"} <= {path for _, path, _ in s.requests},
                     "both index requests, made in parallel")
    assert sorted(p.name for p in proj.iterdir()) == ["pyproject.toml"]
    assert list(tmp.iterdir()) == []


def test_ctrl_c_during_sync_downloads_is_one_line_exit_130_and_installs_nothing(tmp_path, index):
    """Ctrl-C while sync's download threads wait on a stalled server: exit 130 at once with
    one line, and no package (nor a staging folder) in .venv."""
    proj = _project(tmp_path, ["aaa", "ccc"])
    faults = Faults()
    with stalling_server(index, faults) as s:
        assert run_cli("lock", "--project", proj, "--index-url", f"{s.url}/simple/",
                       "--cache-dir", tmp_path / "lockcache").exit_code == 0
        faults.stall[".whl"] = 20
        proc = spawn("sync", "--frozen", "--project", proj, "--cache-dir", tmp_path / "synccache")
        _ctrl_c_once(proc, lambda: sum(path.endswith(".whl") for _, path, _ in s.requests) >= 2,
                     "two wheel downloads, made in parallel", line="interrupted; nothing was installed")
    assert not (proj / ".venv").exists(), "the .venv this sync made is removed with nothing installed"


def test_ctrl_c_during_sync_downloads_into_an_existing_venv_installs_nothing(tmp_path, index):
    proj = _project(tmp_path, ["aaa", "ccc"])
    faults = Faults()
    with stalling_server(index, faults) as s:
        assert run_cli("lock", "--project", proj, "--index-url", f"{s.url}/simple/",
                       "--cache-dir", tmp_path / "lockcache").exit_code == 0
        create_venv(proj / ".venv")
        faults.stall[".whl"] = 20
        proc = spawn("sync", "--frozen", "--project", proj, "--cache-dir", tmp_path / "synccache")
        _ctrl_c_once(proc, lambda: sum(path.endswith(".whl") for _, path, _ in s.requests) >= 2,
                     "two wheel downloads, made in parallel",
                     line=f"interrupted; {(proj / '.venv').resolve()} was not changed")
    venv = open_venv(proj / ".venv")
    assert not any(Path(venv.purelib).glob("[abc][abc][abc]*")), "nothing of aaa, bbb or ccc is installed"
    assert not any(p.name.startswith(STAGE_PREFIX) for p in venv.root.iterdir())


def _many_wheels(root: Path, count: int) -> tuple[Path, list[str]]:
    """``count`` wheels of 60 small files each, so installing them takes a moment."""
    names = [f"pkg{i:02d}" for i in range(count)]
    files = {f"{{mod}}/m{j}.py": f"X = {j}\n" for j in range(60)}
    wheels = [make_wheel(root / "dists", n, "1.0", files={k.format(mod=n): v for k, v in files.items()}) for n in names]
    return build_index(root / "idx", wheels), names


def _sync_until_the_first_install(tmp_path: Path) -> tuple[subprocess.Popen, Path, Path, list[str], Path]:
    """A locked project of 30 wheels and a ``sync --frozen`` of it, returned once its first
    package is installed: (the process, the index, the project, the names, .venv)."""
    simple, names = _many_wheels(tmp_path / "many", 30)
    proj = _project(tmp_path, names)
    assert run_cli("lock", "--project", proj, "--index-url", simple.as_uri()).exit_code == 0
    venv_root = proj / ".venv"
    proc = spawn("sync", "--frozen", "--project", proj, "--index-url", simple.as_uri())
    try:
        _wait_for(lambda: any(venv_root.glob("lib/python*/site-packages/pkg*.dist-info")), what="the first installed package")
    except BaseException:
        proc.kill()
        raise
    return proc, simple, proj, names, venv_root


def test_killed_sync_leaves_consistent_records_and_next_sync_repairs(tmp_path):
    proc, simple, proj, names, venv_root = _sync_until_the_first_install(tmp_path)
    try:
        proc.kill()
        proc.wait(timeout=10)
    finally:
        proc.kill()
    venv = open_venv(venv_root)
    installed_now = [p.name for p in Path(venv.purelib).glob("pkg*.dist-info")]
    assert len(installed_now) < len(names), "sync finished before it was killed; make the wheels bigger"
    assert verify_records(venv) == []
    result = run_cli("sync", "--frozen", "--project", proj, "--index-url", simple.as_uri())
    assert result.exit_code == 0, result.output
    assert verify_records(venv) == []
    code = "; ".join(f"import {n}" for n in names)
    subprocess.run([str(venv.python), "-c", code], check=True)


def test_ctrl_c_while_sync_installs_says_the_environment_may_be_partly_synced(tmp_path):
    """Once packages are being installed, an interrupted sync says so (each package stays
    whole, and the next sync finishes the job), not that nothing changed."""
    proc, _simple, _proj, names, venv_root = _sync_until_the_first_install(tmp_path)
    try:
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=20)
    finally:
        proc.kill()
    venv = open_venv(venv_root)
    assert len(list(Path(venv.purelib).glob("pkg*.dist-info"))) < len(names), "sync finished first; make the wheels bigger"
    assert proc.returncode == 130, output
    assert output.splitlines() == ["interrupted; the environment may be partly synced: run `satlock sync` again"]
    assert verify_records(venv) == []

# -- 4. concurrency --------------------------------------------------------------------


def test_two_locks_sharing_a_cache_both_succeed(tmp_path, index):
    cache = tmp_path / "shared-cache"
    one = _project(tmp_path, ["aaa"], "one")
    two = _project(tmp_path, ["aaa<2", "ccc[fast]"], "two")
    with stalling_server(index, Faults(stall={"/simple/": 0.2})) as s:
        env = {"SATLOCK_CACHE_DIR": str(cache)}
        procs = [spawn("lock", "--project", p, "--index-url", f"{s.url}/simple/", env=env) for p in (one, two)]
        outputs = [p.communicate(timeout=60)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert _locked(one) == {"aaa": "2.0", "bbb": "1.0"}
    assert _locked(two) == {"aaa": "1.0", "bbb": "1.0", "ccc": "1.0"}


def test_lock_and_sync_sharing_a_cache_both_succeed(tmp_path, index):
    cache = tmp_path / "shared-cache"
    one = _project(tmp_path, ["aaa"], "one")
    two = _project(tmp_path, ["aaa", "ccc"], "two")
    with stalling_server(index, Faults(stall={"/simple/": 0.2})) as s:
        env = {"SATLOCK_CACHE_DIR": str(cache)}
        procs = [spawn("lock", "--project", one, "--index-url", f"{s.url}/simple/", env=env),
                 spawn("sync", "--project", two, "--index-url", f"{s.url}/simple/", env=env)]
        outputs = [p.communicate(timeout=60)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert _locked(one) == {"aaa": "2.0", "bbb": "1.0"}
    venv = open_venv(two / ".venv")
    assert sorted(p.name for p in Path(venv.purelib).glob("*.dist-info")) == [
        "aaa-2.0.dist-info", "bbb-1.0.dist-info", "ccc-1.0.dist-info"]
    assert verify_records(venv) == []


# -- 5. corrupt cache ------------------------------------------------------------------


def test_truncated_cache_entries_are_refetched_not_trusted(tmp_path, index, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("SATLOCK_CACHE_DIR", str(cache))
    proj = _project(tmp_path, ["aaa"])
    with IndexServer(index) as s:
        args = ["--project", proj, "--index-url", f"{s.url}/simple/"]
        assert run_cli("lock", *args).exit_code == 0
        assert run_cli("sync", "--frozen", *args).exit_code == 0
        first_lock = (proj / "pylock.toml").read_bytes()
        metadata = [p for p in (cache / METADATA).rglob("*") if p.is_file()]
        wheels = [p for p in (cache / "files-v1").rglob("*.whl") if p.is_file()]
        assert metadata and wheels
        for p in metadata + wheels:
            p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2])
        (proj / "pylock.toml").unlink()
        shutil.rmtree(proj / ".venv")
        s.requests.clear()
        result = run_cli("lock", *args)
        assert result.exit_code == 0, result.output
        result = run_cli("sync", "--frozen", *args)
        assert result.exit_code == 0, result.output
        fetched = [path for _, path, _ in s.requests]
    assert (proj / "pylock.toml").read_bytes() == first_lock
    assert any(path.endswith(".whl.metadata") for path in fetched), fetched
    assert any(path.endswith(".whl") for path in fetched), fetched
    venv = open_venv(proj / ".venv")
    assert verify_records(venv) == []
    subprocess.run([str(venv.python), "-c", "import aaa, bbb; assert aaa.__version__ == '2.0'"], check=True)


# -- 6. security -----------------------------------------------------------------------


def test_tampered_wheel_fails_sync_with_both_hashes_and_leaves_venv_alone(tmp_path, index):
    mirror = tmp_path / "mirror"
    shutil.copytree(index, mirror)
    simple = (mirror / "simple").as_uri()
    proj = _project(tmp_path, ["bbb"])
    assert run_cli("sync", "--project", proj, "--index-url", simple).exit_code == 0
    (proj / "pyproject.toml").write_text(project_toml(["aaa"]))
    assert run_cli("lock", "--project", proj, "--index-url", simple).exit_code == 0
    wheel = mirror / "files" / "aaa-2.0-py3-none-any.whl"
    locked_hash = sha256_of(wheel)
    evil = make_wheel(tmp_path / "evil", "aaa", "2.0", requires=["bbb>=1"], files={"aaa/evil.py": "import os\n"})
    wheel.write_bytes(evil.read_bytes())
    venv_before = snapshot(proj / ".venv")
    result = run_cli("sync", "--frozen", "--project", proj, "--index-url", simple, "--no-cache")
    assert_clean_failure(result, "error:", "aaa-2.0-py3-none-any.whl", locked_hash, sha256_of(wheel))
    assert snapshot(proj / ".venv") == venv_before


def _sdist_with_parent_member(dest: Path) -> Path:
    """A setuptools sdist (metadata not static, so locking must build it) with a ``../`` member."""
    sdist = make_sdist(dest, "evil", "1.0", metadata_version="2.1")
    with tarfile.open(sdist) as tf:
        members = [(m, tf.extractfile(m).read()) for m in tf.getmembers()]
    with tarfile.open(sdist, "w:gz") as tf:
        for m, data in members:
            tf.addfile(m, io.BytesIO(data))
        payload = b"owned\n"
        ti = tarfile.TarInfo("evil-1.0/../../escaped.txt")
        ti.size = len(payload)
        tf.addfile(ti, io.BytesIO(payload))
    return sdist


def test_sdist_escaping_its_folder_is_refused(tmp_path, index):
    proj = _project(tmp_path, ["evil"])
    sdist = _sdist_with_parent_member(proj)
    (proj / "pyproject.toml").write_text(project_toml(["evil"]) + f'\n[tool.satlock.sources]\nevil = {{path = "{sdist.name}"}}\n')
    args = ["--project", proj, "--index-url", (index / "simple").as_uri()]
    result = run_cli("lock", *args)
    if result.exit_code == 0:  # metadata without a build: the refusal comes when sync builds it
        result = run_cli("sync", *args)
    assert_clean_failure(result, "error:", sdist.name, "unsafe", "../")
    assert not list(tmp_path.rglob("escaped.txt"))
    assert not list(Path(os.environ["SATLOCK_CACHE_DIR"]).parent.rglob("escaped.txt"))


def test_index_credentials_never_reach_output_or_lock(tmp_path, index):
    proj = _project(tmp_path, ["aaa"])
    with IndexServer(index) as s:
        url = s.url.replace("http://", "http://user:s3cr3t-pw@") + "/simple/"
        for command in (["lock", "-v"], ["sync", "-v", "--reinstall"]):
            result = run_cli(*command, "--project", proj, "--index-url", url)
            assert result.exit_code == 0, result.output
            assert "s3cr3t" not in result.output
    assert "s3cr3t" not in (proj / "pylock.toml").read_text()
    assert "user:" not in (proj / "pylock.toml").read_text()
    with _closed_port() as port:
        dead = f"http://user:s3cr3t-pw@127.0.0.1:{port}/simple/"
        result = run_cli("lock", "--project", proj, "--index-url", dead, "--refresh", "--timeout", "5")
    assert_clean_failure(result, "error:")
    assert "s3cr3t" not in result.output
