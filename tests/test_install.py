import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from indexbuilder import make_wheel
from installcheck import verify_records
from satlock.buildenv import install as install_mod, uninstall as uninstall_mod, unpacked as unpacked_mod
from satlock.buildenv.install import install_wheel
from satlock.buildenv.installed import installed_distributions
from satlock.buildenv.uninstall import recover_interrupted, uninstall
from satlock.buildenv.venv import create_venv
from satlock.errors import InstallError, UnsafeArchiveError
from satlock.cache import Cache

ENTRY_POINTS = "[console_scripts]\nhello-demo = demo.cli:main\n"


@pytest.fixture
def venv(tmp_path):
    return create_venv(tmp_path / ".venv")


def run_in(venv, code: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(venv.python), "-c", code], capture_output=True, text=True)


def demo_wheel(tmp_path: Path, version: str = "1.0", files: dict | None = None) -> Path:
    content = {"demo/cli.py": "def main():\n    print('hello')\n", **(files or {})}
    return make_wheel(tmp_path / "wheels", "demo", version, files=content)


def test_installed_wheel_is_importable_and_marked_as_installed_by_satlock(tmp_path, venv):
    install_wheel(demo_wheel(tmp_path), venv, direct_url={"url": "file:///x/demo", "dir_info": {}})
    result = run_in(venv, "import demo, importlib.metadata as m; d = m.distribution('demo'); "
                          "print(demo.__version__, d.read_text('INSTALLER').strip(), d.read_text('REQUESTED') is not None)")
    assert result.stdout.split() == ["1.0", "satlock", "True"], result.stderr
    dist = installed_distributions(venv)["demo"]
    assert (dist.version, dist.installer, dist.requested) == ("1.0", "satlock", True)
    assert dist.direct_url == {"url": "file:///x/demo", "dir_info": {}}
    assert verify_records(venv) == []


def test_unrequested_install_has_no_requested_file_and_no_direct_url(tmp_path, venv):
    install_wheel(demo_wheel(tmp_path), venv, requested=False)
    dist = installed_distributions(venv)["demo"]
    assert not dist.requested and dist.direct_url is None


def test_console_script_runs_with_the_venv_interpreter(tmp_path, venv):
    wheel = demo_wheel(tmp_path, files={"demo-1.0.dist-info/entry_points.txt": ENTRY_POINTS})
    install_wheel(wheel, venv)
    script = venv.scripts / "hello-demo"
    assert script.read_text().splitlines()[0] == f"#!{venv.python}"
    assert subprocess.run([str(script)], capture_output=True, text=True).stdout == "hello\n"


def test_wheel_member_with_dotdot_is_refused_and_nothing_installed(tmp_path, venv):
    wheel = make_wheel(tmp_path / "wheels", "evil", "1.0", files={"../escape.py": "x = 1\n"})
    with pytest.raises(UnsafeArchiveError, match="escape.py"):
        install_wheel(wheel, venv)
    assert installed_distributions(venv) == {}
    assert not (venv.purelib.parent / "escape.py").exists()


def _rewritten(wheel: Path, dest: Path, member_suffix: str, change) -> Path:
    """A copy of ``wheel`` in ``dest`` whose member ending in ``member_suffix`` is ``change(data)``,
    its RECORD left as it was."""
    dest.mkdir()
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(dest / wheel.name, "w") as out:
        for info in src.infolist():
            data = src.read(info)
            out.writestr(info, change(data) if info.filename.endswith(member_suffix) else data)
    return dest / wheel.name


def test_wheel_whose_files_do_not_match_its_record_is_refused(tmp_path, venv):
    good = make_wheel(tmp_path / "wheels", "demo", "1.0")
    bad = _rewritten(good, tmp_path / "bad", "demo/__init__.py", lambda data: b"tampered = True\n")
    with pytest.raises(InstallError, match="didn't match RECORD"):
        install_wheel(bad, venv)
    assert installed_distributions(venv) == {}


def _with_record(wheel: Path, dest: Path, change) -> Path:
    """A copy of ``wheel`` in ``dest`` whose RECORD text is ``change(text)``."""
    dest.mkdir()
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(dest / wheel.name, "w") as out:
        for info in src.infolist():
            data = src.read(info)
            out.writestr(info, change(data.decode()).encode() if info.filename.endswith("/RECORD") else data)
    return dest / wheel.name


@pytest.mark.parametrize("tamper", [
    lambda d, w: _rewritten(w, d, "demo/__init__.py", lambda data: b"tampered = True\n"),  # other bytes, other size
    lambda d, w: _rewritten(w, d, "demo/__init__.py", lambda data: data[:-1] + bytes([data[-1] ^ 1])),  # same size
    lambda d, w: _rewritten(w, d, "demo/__init__.py", lambda data: data + b"\n"),  # one byte more
    lambda d, w: _with_record(w, d, lambda text: text.replace("sha256=", "shake_128=", 1)),
    lambda d, w: _with_record(w, d, lambda text: text.replace("sha256=", "nosuchhash=", 1)),
], ids=["other-bytes", "same-size", "one-byte-more", "shake-digest", "unknown-algorithm"])
def test_a_wheel_whose_files_do_not_match_its_record_leaves_nothing_in_the_cache_or_the_environment(tmp_path, venv, tamper):
    bad = tamper(tmp_path / "bad", make_wheel(tmp_path / "wheels", "demo", "1.0"))
    cache = Cache(tmp_path / "cache")
    with pytest.raises(InstallError) as caught:
        install_wheel(bad, venv, cache=cache)
    assert "not a valid wheel" in caught.value.message or "RECORD" in caught.value.message
    assert installed_distributions(venv) == {}
    assert not list((tmp_path / "cache" / unpacked_mod.UNPACKED_BUCKET).glob("*/demo"))


def test_a_wheel_member_named_like_a_folder_is_refused_as_a_malformed_wheel(tmp_path, venv):
    wheel = make_wheel(tmp_path / "wheels", "demo", "1.0", files={"demo/c/.": "x = 1\n"})
    with pytest.raises(InstallError, match=r"demo/c/\. is not a file name"):
        install_wheel(wheel, venv, cache=Cache(tmp_path / "cache"))
    assert installed_distributions(venv) == {}
    assert not (tmp_path / "cache" / unpacked_mod.UNPACKED_BUCKET).exists() or \
        not list((tmp_path / "cache" / unpacked_mod.UNPACKED_BUCKET).iterdir())


def test_a_wheel_unzipped_into_the_cache_has_exactly_its_files_and_modes(tmp_path):
    wheel = make_wheel(tmp_path / "wheels", "demo", "1.0", files={"demo/a//b.py": "b = 1\n", "demo/big.bin": "x" * 3_000_000})
    dest = tmp_path / "out"
    dest.mkdir()
    unpacked_mod.unzip_wheel(wheel, dest)
    with zipfile.ZipFile(wheel) as zf:
        for info in zf.infolist():
            if not info.is_dir():
                written = dest / info.filename
                assert written.read_bytes() == zf.read(info)
                assert written.stat().st_mode & 0o777 == (0o755 if (info.external_attr >> 16) & 0o111 else 0o644)


def test_second_install_from_the_cache_does_not_unzip_again(tmp_path, venv, monkeypatch):
    cache = Cache(tmp_path / "cache")
    calls = []
    real_unzip = unpacked_mod.unzip_wheel
    monkeypatch.setattr(unpacked_mod, "unzip_wheel", lambda w, d: (calls.append(w), real_unzip(w, d)))
    wheel = demo_wheel(tmp_path)
    install_wheel(wheel, venv, cache=cache)
    uninstall(venv, "demo")
    other = create_venv(tmp_path / "other")
    install_wheel(wheel, venv, cache=cache)
    install_wheel(wheel, other, cache=cache)
    assert len(calls) == 1
    assert run_in(other, "import demo.cli").returncode == 0
    assert verify_records(venv) == [] and verify_records(other) == []


def test_uninstall_removes_files_scripts_bytecode_and_empty_folders(tmp_path, venv):
    install_wheel(demo_wheel(tmp_path, files={"demo-1.0.dist-info/entry_points.txt": ENTRY_POINTS,
                                              "demo/sub/deep.py": ""}), venv)
    install_wheel(make_wheel(tmp_path / "wheels", "other", "1.0"), venv)
    assert run_in(venv, "import demo.cli, demo.sub.deep").returncode == 0  # writes __pycache__
    uninstall(venv, "Demo")
    assert not (venv.purelib / "demo").exists()
    assert not (venv.scripts / "hello-demo").exists()
    assert not list(venv.purelib.glob("demo-*.dist-info"))
    assert set(installed_distributions(venv)) == {"other"}
    assert run_in(venv, "import demo").returncode != 0
    assert verify_records(venv) == []


def test_installing_another_version_replaces_the_old_one_entirely(tmp_path, venv):
    install_wheel(demo_wheel(tmp_path, "1.0", files={"demo/old.py": ""}), venv)
    install_wheel(demo_wheel(tmp_path, "2.0"), venv)
    assert [p.name for p in venv.purelib.glob("demo-*.dist-info")] == ["demo-2.0.dist-info"]
    assert not (venv.purelib / "demo" / "old.py").exists()
    assert run_in(venv, "import demo; print(demo.__version__)").stdout == "2.0\n"


def test_verify_records_reports_missing_and_modified_files(tmp_path, venv):
    install_wheel(demo_wheel(tmp_path), venv)
    (venv.purelib / "demo" / "cli.py").unlink()
    (venv.purelib / "demo" / "__init__.py").write_text("changed = True\n")
    problems = verify_records(venv)
    assert len(problems) == 2
    assert any("demo/cli.py is missing" in p for p in problems)
    assert any("demo/__init__.py does not match" in p for p in problems)


def test_crash_before_the_dist_info_is_moved_leaves_the_package_absent(tmp_path, venv, monkeypatch):
    wheel = demo_wheel(tmp_path)

    def crash(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(install_mod.os, "rename", crash)
    with pytest.raises(KeyboardInterrupt):
        install_wheel(wheel, venv)
    monkeypatch.undo()
    assert installed_distributions(venv) == {}
    assert verify_records(venv) == []
    install_wheel(wheel, venv)
    assert verify_records(venv) == []
    assert run_in(venv, "import demo.cli").returncode == 0


def test_interrupted_uninstall_is_finished_by_recovery(tmp_path, venv, monkeypatch):
    install_wheel(demo_wheel(tmp_path), venv)
    monkeypatch.setattr(uninstall_mod, "_empty_trash", lambda *a, **k: None)
    uninstall(venv, "demo")
    monkeypatch.undo()
    assert installed_distributions(venv) == {}
    assert (venv.purelib / "demo" / "cli.py").exists()
    recover_interrupted(venv)
    assert not (venv.purelib / "demo").exists()
    assert not [p for p in venv.root.iterdir() if p.name.startswith(".satlock-")]


KILL_SCRIPT = """
import json, os, sys, time
from pathlib import Path
from packaging.pylock import Package, PackageWheel, Pylock
from packaging.utils import canonicalize_name
from packaging.version import Version
from satlock.buildenv.installed import installed_distributions
from satlock.buildenv.sync import execute_sync
from satlock.buildenv.venv import marker_environment
from satlock.buildenv.syncplan import plan_sync
from satlock.buildenv.venv import open_venv

venv = open_venv(Path(sys.argv[1]))
wheels = [Path(p) for p in json.loads(sys.argv[2])]
pause_in = sys.argv[3]  # "replace" (moving files in), "unlink" (deleting an old version's files) or "none"
lock = Pylock(lock_version=Version("1.0"), created_by="satlock", packages=[
    Package(name=canonicalize_name(w.name.split("-")[0]), version=Version(w.name.split("-")[1]),
            wheels=[PackageWheel(path=str(w), hashes={"sha256": "0" * 64})]) for w in wheels])
env, tags = marker_environment(venv)
plan = plan_sync(lock, installed_distributions(venv), env, tags)
state = {"installed": 0, "calls": 0}

def progress(event, name):
    state["installed"] += event == "installed"

def pausing(real):
    def call(*args, **kwargs):
        if state["installed"] == 1:
            state["calls"] += 1
            # A fresh folder moves in with one rename, so pause at it: after the package's
            # files are staged and before its .dist-info moves in.
            if state["calls"] == 1:
                print("paused", flush=True)
                time.sleep(60)
        return real(*args, **kwargs)
    return call

if pause_in != "none":
    setattr(os, pause_in, pausing(getattr(os, pause_in)))
execute_sync(plan, venv, lambda package, wheel: Path(wheel.path), None, {}, progress=progress)
print("done", flush=True)
"""


def _pkg_wheels(tmp_path: Path, version: str) -> list[Path]:
    return [make_wheel(tmp_path / f"wheels-{version}", f"pkg{n}", version,
                       files={f"pkg{n}/mod{i}.py": f"x = {i!r}\n" for i in range(30)}) for n in range(4)]


def _sync_in_subprocess(tmp_path: Path, venv, wheels: list[Path], pause_in: str) -> list[str]:
    script = tmp_path / "sync_script.py"
    script.write_text(KILL_SCRIPT)
    return [sys.executable, str(script), str(venv.root), json.dumps([str(w) for w in wheels]), pause_in]


@pytest.mark.parametrize("pause_in", ["replace", "unlink"], ids=["moving-files-in", "deleting-old-files"])
def test_sync_killed_mid_install_leaves_consistent_records_and_a_second_sync_completes(tmp_path, venv, pause_in):
    if pause_in == "unlink":
        old = _pkg_wheels(tmp_path, "1.0")
        done = subprocess.run(_sync_in_subprocess(tmp_path, venv, old, "none"), capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    args = _sync_in_subprocess(tmp_path, venv, _pkg_wheels(tmp_path, "2.0"), pause_in)
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "paused\n"
    proc.kill()
    proc.wait()
    proc.stdout.close()
    assert [p for p in venv.root.iterdir() if p.name.startswith(".satlock-")], "killed outside an install"
    assert verify_records(venv) == []
    assert len(installed_distributions(venv)) == (3 if pause_in == "unlink" else 1)
    done = subprocess.run(args[:-1] + ["none"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert {n: d.version for n, d in installed_distributions(venv).items()} == {f"pkg{n}": "2.0" for n in range(4)}
    assert verify_records(venv) == []
    assert not [p for p in venv.root.iterdir() if p.name.startswith((".satlock-stage", ".satlock-trash"))]
    assert run_in(venv, "import " + ", ".join(f"pkg{n}.mod29" for n in range(4))).returncode == 0


def test_headers_and_data_files_stay_inside_the_venv_and_are_uninstalled(tmp_path, venv):
    wheel = make_wheel(tmp_path / "wheels", "hdr", "1.0", files={"hdr-1.0.data/headers/hdr.h": "int x;\n",
                                                                  "hdr-1.0.data/data/share/hdr/readme.txt": "hi\n"})
    install_wheel(wheel, venv)
    assert list(venv.root.glob("include/site/python*/hdr/hdr.h"))
    assert (venv.root / "share" / "hdr" / "readme.txt").read_text() == "hi\n"
    uninstall(venv, "hdr")
    assert not list(venv.root.glob("include/site/python*/hdr"))
    assert not (venv.root / "share").exists()
    assert (venv.root / "include").is_dir()


def test_a_broken_new_version_leaves_the_old_one_installed(tmp_path, venv):
    install_wheel(demo_wheel(tmp_path, "1.0"), venv)
    broken = tmp_path / "broken" / "demo-2.0-py3-none-any.whl"
    broken.parent.mkdir()
    broken.write_bytes(b"not a zip")
    with pytest.raises(InstallError, match="not a valid wheel"):
        install_wheel(broken, venv)
    assert installed_distributions(venv)["demo"].version == "1.0"
    assert verify_records(venv) == []


def test_a_damaged_cached_copy_is_noticed_and_unzipped_again(tmp_path, venv):
    cache = Cache(tmp_path / "cache")
    wheel = demo_wheel(tmp_path)
    install_wheel(wheel, venv, cache=cache)
    uninstall(venv, "demo")
    cached = next((tmp_path / "cache" / unpacked_mod.UNPACKED_BUCKET).glob("*/demo/cli.py"))
    cached.write_text("damaged = True\n")
    install_wheel(wheel, venv, cache=cache)
    assert verify_records(venv) == []
    assert (venv.purelib / "demo" / "cli.py").read_text() == "def main():\n    print('hello')\n"


def _cached_copy(tmp_path: Path) -> Path:
    return next((tmp_path / "cache" / unpacked_mod.UNPACKED_BUCKET).glob("*/demo"))


def test_a_link_or_fifo_planted_in_the_cached_copy_is_never_installed(tmp_path, venv):
    cache = Cache(tmp_path / "cache")
    wheel = demo_wheel(tmp_path, files={"demo/data.txt": "same bytes\n"})
    install_wheel(wheel, venv, cache=cache)
    outside = tmp_path / "outside.txt"
    outside.write_text("same bytes\n")
    cached = _cached_copy(tmp_path)
    (cached / "data.txt").unlink()
    (cached / "data.txt").symlink_to(outside)
    (cached / "cli.py").unlink()
    os.mkfifo(cached / "cli.py")
    other = create_venv(tmp_path / "other")
    install_wheel(wheel, other, cache=cache)
    installed = other.purelib / "demo" / "data.txt"
    assert not installed.is_symlink() and installed.read_text() == "same bytes\n"
    assert (other.purelib / "demo" / "cli.py").read_text() == "def main():\n    print('hello')\n"
    assert verify_records(other) == []


def test_entry_points_come_from_the_verified_wheel_not_the_cached_copy(tmp_path, venv):
    cache = Cache(tmp_path / "cache")
    wheel = demo_wheel(tmp_path, files={"demo-1.0.dist-info/entry_points.txt": ENTRY_POINTS})
    install_wheel(wheel, venv, cache=cache)
    entry_points = _cached_copy(tmp_path).parent / "demo-1.0.dist-info" / "entry_points.txt"
    entry_points.write_text(ENTRY_POINTS + "evil = os:system\n")
    other = create_venv(tmp_path / "other")
    install_wheel(wheel, other, cache=cache)
    assert (other.scripts / "hello-demo").exists() and not (other.scripts / "evil").exists()
    assert (other.purelib / "demo-1.0.dist-info" / "entry_points.txt").read_text() == ENTRY_POINTS
    assert verify_records(other) == []


def test_a_wheel_of_an_unknown_wheel_version_is_refused(tmp_path, venv):
    future = _rewritten(demo_wheel(tmp_path), tmp_path / "future", "/WHEEL",
                        lambda data: data.replace(b"Wheel-Version: 1.0", b"Wheel-Version: 2.0"))
    with pytest.raises(InstallError, match="Wheel-Version"):
        install_wheel(future, venv)
    assert installed_distributions(venv) == {}


def test_where_the_file_system_refuses_hard_links_the_cached_files_are_copied(tmp_path, venv, monkeypatch):
    cache = Cache(tmp_path / "cache")
    wheel = demo_wheel(tmp_path, files={"demo-1.0.dist-info/entry_points.txt": ENTRY_POINTS})
    install_wheel(wheel, create_venv(tmp_path / "first"), cache=cache)

    def cross_device(*args, **kwargs):
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", cross_device)
    install_wheel(wheel, venv, cache=cache)
    monkeypatch.undo()
    installed = venv.purelib / "demo" / "cli.py"
    assert installed.stat().st_nlink == 1
    assert installed.read_text() == "def main():\n    print('hello')\n"
    assert verify_records(venv) == []
    assert subprocess.run([str(venv.scripts / "hello-demo")], capture_output=True, text=True).stdout == "hello\n"


@pytest.mark.parametrize("member", ["demo//extra.py", "demo///extra.py", "./demo/extra.py", "demo/./extra.py",
                                    "demo-1.0.data/purelib/demo//extra.py"])
def test_a_member_spelt_with_doubled_slashes_or_dot_folders_installs_where_its_plain_spelling_would(tmp_path, member):
    # read_wheel maps these spellings to the plain path (conflict checks rely on it): staging must agree.
    wheel = demo_wheel(tmp_path, files={member: "extra = 1\n"})
    cache = Cache(tmp_path / "cache")
    for name, with_cache in (("none", None), ("fills-cache", cache), ("from-cache", cache)):
        venv = create_venv(tmp_path / name)
        install_wheel(wheel, venv, cache=with_cache)
        assert (venv.purelib / "demo" / "extra.py").read_text() == "extra = 1\n"
        assert verify_records(venv) == []


@pytest.mark.parametrize("scheme", ["purelib", "data", "headers", "scripts"])
def test_a_data_member_whose_path_in_its_scheme_starts_with_a_slash_is_refused(tmp_path, venv, scheme):
    # Joined to the scheme's folder "demo-1.0.data/data//x" would be the absolute path /x.
    wheel = demo_wheel(tmp_path, files={f"demo-1.0.data/{scheme}//x": "x = 1\n"})
    for cache in (None, Cache(tmp_path / "cache")):
        with pytest.raises(InstallError, match="not a path relative to its install scheme"):
            install_wheel(wheel, venv, cache=cache)
        assert installed_distributions(venv) == {}


@pytest.mark.parametrize("algorithm", ["shake_128", "shake_256"])
def test_a_record_hash_of_no_fixed_length_is_refused_with_one_error(tmp_path, venv, algorithm):
    # hashlib's shake digests need a length RECORD cannot give: they once crashed the install.
    wheel = demo_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as zf:
        entries = {info.filename: zf.read(info) for info in zf.infolist()}
    record = entries["demo-1.0.dist-info/RECORD"].decode().replace("demo/cli.py,sha256=", f"demo/cli.py,{algorithm}=")
    entries["demo-1.0.dist-info/RECORD"] = record.encode()
    with zipfile.ZipFile(wheel, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    for cache in (None, Cache(tmp_path / "cache")):
        with pytest.raises(InstallError, match=f"demo/cli.py has a {algorithm} hash in RECORD"):
            install_wheel(wheel, venv, cache=cache)
        assert installed_distributions(venv) == {}
