"""Temporary folders beside the cache's buckets (an sdist unpacked for a build, a build
environment, an entry being filled) are removed by the run that made them when it ends,
and a run that could not (SIGKILL, a power cut) has its leftovers swept by a later run,
never the folder of a run that is still going."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from indexbuilder import build_index, installed_wheel, make_sdist, project_toml

from satlock.cache import RUN_LOCKS, Cache
from satlock.leftovers import UNOWNED_TEMP_AGE_S


def test_a_run_s_temporary_folders_are_gone_once_it_is_closed(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    entry = cache.run_entry("build-envs-v1", "k", lambda folder: (folder / "f").write_text(""))
    abandoned = cache.new_tempdir("sources-v1")
    cache.close()
    assert not entry.exists() and not abandoned.exists()


def test_leftovers_of_an_ended_run_are_swept_and_a_live_run_s_folders_are_kept(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    live = Cache(root)
    live_folder = live.new_tempdir("sources-v1")
    ended = Cache(root)
    ended_folder = ended.new_tempdir("sources-v1")
    ended_id = ended_folder.name.split("-")[1]
    ended._run[1].release()  # the process died: the system let its lock go, nothing else ran
    ended._run = None
    young, old = root / "sources-v1" / ".tmp-abcd1234", root / "sources-v1" / ".tmp-efgh5678"
    young.mkdir()
    old.mkdir()
    then = time.time() - UNOWNED_TEMP_AGE_S - 60
    os.utime(old, (then, then))

    later = Cache(root)
    own = later.new_tempdir("sources-v1")
    assert not ended_folder.exists() and not old.exists()
    assert live_folder.is_dir() and young.is_dir() and own.is_dir()
    assert (root / ".locks" / RUN_LOCKS / f"{ended_id}.lock").exists()  # a fresh lock file stays (see RUN_LOCK_AGE_S)
    live.close()
    later.close()


def _lock_of_slow_sdist(tmp_path: Path, setup: str, cache: Path) -> list[str]:
    """The command line of a lock of a project needing ``slow``, an sdist whose ``setup``
    (a setup.py, no static metadata) runs at the lock's metadata build."""
    dists = [make_sdist(tmp_path / "d", "slow", "1.0", pyproject="", setup_py=setup, pkg_info=False),
             installed_wheel("setuptools", tmp_path / "d")]
    simple = build_index(tmp_path / "index", dists)
    proj = tmp_path / "p"
    proj.mkdir()
    (proj / "pyproject.toml").write_text(project_toml(["slow"]))
    return [sys.executable, "-m", "satlock", "lock", "--project", str(proj), "--index-url", simple.as_uri(),
            "--cache-dir", str(cache)]


def test_the_next_run_sweeps_what_a_killed_build_left_in_the_cache(tmp_path: Path) -> None:
    started, stall = tmp_path / "build-started", tmp_path / "stall"
    stall.touch()
    setup = (f"import pathlib, time\npathlib.Path({str(started)!r}).touch()\n"
             f"if pathlib.Path({str(stall)!r}).exists():\n    time.sleep(60)\n"
             "from setuptools import setup\nsetup(name='slow', version='1.0')\n")
    cache = tmp_path / "cache"
    command = _lock_of_slow_sdist(tmp_path, setup, cache)
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not started.exists():
            assert time.monotonic() < deadline, "the build did not start"
            time.sleep(0.01)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the satlock process and its build, with no chance to clean up
        proc.wait()
    left = sorted(cache.glob("*/.tmp-*"))
    assert {p.parent.name for p in left} >= {"sources-v1", "build-envs-v1"}

    stall.unlink()
    again = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
    assert again.returncode == 0, again.stdout
    assert sorted(cache.glob("*/.tmp-*")) == []


def _gone(pid: int) -> bool:
    """Whether process ``pid`` has ended (a zombie nobody reaped has ended too)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


def test_sigterm_stops_the_build_hooks_still_running_and_leaves_nothing_in_the_cache(tmp_path: Path) -> None:
    started = tmp_path / "hook-pid"
    setup = (f"import os, pathlib, time\npathlib.Path({str(started)!r}).write_text(str(os.getpid()))\n"
             "time.sleep(60)\nfrom setuptools import setup\nsetup(name='slow', version='1.0')\n")
    cache = tmp_path / "cache"
    command = _lock_of_slow_sdist(tmp_path, setup, cache)
    # SIGTERM as a CI runner's timeout or `docker stop` sends it: to satlock alone, where a
    # terminal sends Ctrl-C's SIGINT to the build hook too.
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not started.exists() or not started.read_text():
            assert time.monotonic() < deadline, "the build did not start"
            time.sleep(0.01)
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
        assert proc.returncode == 143, output
        assert [line for line in output.splitlines() if line.strip()] == ["interrupted; nothing was written"], output
        hook = int(started.read_text())
        deadline = time.monotonic() + 10
        while not _gone(hook):
            assert time.monotonic() < deadline, "the build hook runs on after satlock ended"
            time.sleep(0.05)
        assert sorted(cache.glob("*/.tmp-*")) == []
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # what is left of the job, a failed test's hook included
        proc.wait()
