"""The cached unzipped copy shared by hard links stays out of reach of what happens to an
installed environment, and a damaged copy never breaks or poisons the next install."""

import os
import stat
import zipfile

import pytest

from installcheck import verify_records
from satlock.buildenv.install import install_wheel
from satlock.buildenv.venv import create_venv
from satlock.cache import Cache
from test_install import _cached_copy, demo_wheel

HELLO = "def main():\n    print('hello')\n"


def _refuse_link(*args, **kwargs):
    """``os.link`` on a file system without hard links: installs copy instead."""
    raise OSError(18, "Invalid cross-device link")


def test_editing_an_installed_file_in_one_environment_never_reaches_the_next_install(tmp_path):
    cache = Cache(tmp_path / "cache")
    wheel = demo_wheel(tmp_path)
    first = create_venv(tmp_path / "first")
    install_wheel(wheel, first, cache=cache)
    with open(first.purelib / "demo" / "cli.py", "a") as f:  # in place, as an editor or a package might
        f.write("poisoned = True\n")
    second = create_venv(tmp_path / "second")
    install_wheel(wheel, second, cache=cache)
    assert (second.purelib / "demo" / "cli.py").read_text() == HELLO
    assert verify_records(second) == []


@pytest.mark.parametrize("links", [True, False], ids=["hard-links", "links-refused"])
def test_a_folder_planted_in_the_cached_copy_is_unzipped_again(tmp_path, monkeypatch, links):
    cache = Cache(tmp_path / "cache")
    wheel = demo_wheel(tmp_path)
    install_wheel(wheel, create_venv(tmp_path / "first"), cache=cache)
    cached = _cached_copy(tmp_path) / "cli.py"
    cached.unlink()
    cached.mkdir()
    second = create_venv(tmp_path / "second")
    with monkeypatch.context() as m:
        if not links:
            m.setattr(os, "link", _refuse_link)
        install_wheel(wheel, second, cache=cache)
    assert (second.purelib / "demo" / "cli.py").read_text() == HELLO
    assert verify_records(second) == []


def test_a_folder_planted_in_place_of_a_data_script_is_unzipped_again(tmp_path):
    cache = Cache(tmp_path / "cache")
    wheel = demo_wheel(tmp_path, files={"demo-1.0.data/scripts/tool": "#!python\nprint('tool')\n"})
    install_wheel(wheel, create_venv(tmp_path / "first"), cache=cache)
    cached = _cached_copy(tmp_path).parent / "demo-1.0.data" / "scripts" / "tool"
    cached.unlink()
    cached.mkdir()
    second = create_venv(tmp_path / "second")
    install_wheel(wheel, second, cache=cache)
    assert (second.scripts / "tool").read_text().endswith("print('tool')\n")
    assert verify_records(second) == []


def test_a_signed_wheel_whose_record_signature_is_not_in_record_installs(tmp_path):
    # RECORD.jws and RECORD.p7s sign RECORD and so are never listed in it (the wheel spec).
    wheel = demo_wheel(tmp_path)
    with zipfile.ZipFile(wheel, "a") as zf:
        zf.writestr("demo-1.0.dist-info/RECORD.jws", "{}")
    for cache in (None, Cache(tmp_path / "cache")):
        venv = create_venv(tmp_path / f"venv-{cache is None}")
        install_wheel(wheel, venv, cache=cache)
        assert (venv.purelib / "demo" / "cli.py").read_text() == HELLO


def test_permissions_changed_through_one_environment_never_reach_the_next(tmp_path):
    cache = Cache(tmp_path / "cache")
    wheel = demo_wheel(tmp_path)
    first = create_venv(tmp_path / "first")
    install_wheel(wheel, first, cache=cache)
    os.chmod(first.purelib / "demo" / "cli.py", 0o4777)  # setuid, writable by anyone
    second = create_venv(tmp_path / "second")
    install_wheel(wheel, second, cache=cache)
    assert stat.S_IMODE((second.purelib / "demo" / "cli.py").stat().st_mode) == 0o644
    assert verify_records(second) == []


def _with_executable(wheel, members):
    """``wheel`` rewritten with ``members`` marked executable in its zip attributes."""
    with zipfile.ZipFile(wheel) as zf:
        entries = [(info, zf.read(info)) for info in zf.infolist()]
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        for info, data in entries:
            if info.filename in members:
                info.external_attr = (stat.S_IFREG | 0o755) << 16
            zf.writestr(info, data)
    return wheel


@pytest.mark.parametrize("links", [True, False], ids=["hard-links", "links-refused"])
def test_an_exec_bit_flipped_through_one_environment_never_reaches_the_next(tmp_path, monkeypatch, links):
    cache = Cache(tmp_path / "cache")
    wheel = _with_executable(demo_wheel(tmp_path, files={"demo/run.sh": "echo run\n"}), {"demo/run.sh"})
    first = create_venv(tmp_path / "first")
    install_wheel(wheel, first, cache=cache)
    assert stat.S_IMODE((first.purelib / "demo" / "run.sh").stat().st_mode) == 0o755
    os.chmod(first.purelib / "demo" / "cli.py", 0o755)  # both are modes a cached file may have:
    os.chmod(first.purelib / "demo" / "run.sh", 0o644)  # only the wheel says which one is right
    second = create_venv(tmp_path / "second")
    if not links:
        monkeypatch.setattr(os, "link", _refuse_link)
    install_wheel(wheel, second, cache=cache)
    assert stat.S_IMODE((second.purelib / "demo" / "cli.py").stat().st_mode) == 0o644
    assert stat.S_IMODE((second.purelib / "demo" / "run.sh").stat().st_mode) == 0o755
    assert verify_records(second) == []


def test_a_file_both_at_the_root_and_under_data_for_the_same_folder_never_writes_into_the_cache(tmp_path):
    cache = Cache(tmp_path / "cache")
    # purelib and platlib are one folder in a venv: the .data copy comes later and wins, as with installer.
    wheel = demo_wheel(tmp_path, files={"demo/x.py": "one\n", "demo-1.0.data/platlib/demo/x.py": "two\n"})
    for name in ("first", "second"):
        venv = create_venv(tmp_path / name)
        install_wheel(wheel, venv, cache=cache)
        assert (venv.purelib / "demo" / "x.py").read_text() == "two\n"
        assert verify_records(venv) == []
        assert (_cached_copy(tmp_path) / "x.py").read_text() == "one\n"
