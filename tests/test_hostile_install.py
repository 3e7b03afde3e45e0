"""Hostile wheels at ``satlock sync``: every one refused before ``.venv`` changes.

Each test builds its own index (a ``file://`` simple index) with the wheel it needs, locks
a project against it and syncs through the CLI, as a user would.
"""

from __future__ import annotations

import os
import sys
import zipfile
from contextlib import ExitStack
from pathlib import Path

import pytest

from hostilekit import assert_one_error_line, raw_wheel, record_hash, run_cli, snapshot
from indexbuilder import IndexServer, build_index, make_wheel, project_toml, sha256_of
from installcheck import verify_records
from satlock.buildenv.installed import installed_distributions
from satlock.buildenv.venv import create_venv, open_venv


@pytest.fixture()
def serve():
    """``serve(simple)`` serves an index folder on 127.0.0.1 (so PEP 658 .metadata files are used) and gives its URL."""
    with ExitStack() as stack:
        yield lambda simple: f"{stack.enter_context(IndexServer(simple.parent)).url}/simple"


def _project(root: Path, deps: list[str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(project_toml(deps))
    return root


def _lock_and_sync(project: Path, url: str, *args: str):
    locked = run_cli("lock", "--project", project, "--index-url", url)
    assert locked.exit_code == 0, locked.output
    return run_cli("sync", "--project", project, "--index-url", url, *args)


def _installed(project: Path) -> dict[str, str]:
    """What the project's environment holds; nothing when a failed first sync removed it."""
    if not (project / ".venv").exists():
        return {}
    return {n: d.version for n, d in installed_distributions(open_venv(project / ".venv")).items()}


def _site(project: Path) -> Path:
    return open_venv(project / ".venv").purelib


def _cache() -> Path:
    return Path(os.environ["SATLOCK_CACHE_DIR"])


def _swap_file(simple: Path, old: Path, new: Path) -> None:
    """Serve ``new`` under ``old``'s name, with its hash in the pages (the .metadata file stays)."""
    files = simple.parent / "files"
    old_digest = sha256_of(files / old.name)
    (files / old.name).write_bytes(new.read_bytes())
    new_digest = sha256_of(files / old.name)
    for page in simple.rglob("index.*"):
        text = page.read_text()
        page.write_text(text.replace(old_digest, new_digest).replace(f'"size": {old.stat().st_size}', f'"size": {new.stat().st_size}'))


# -- row: a cached wheel replaced by another valid wheel of the same size ----------------------


def _twin_wheels(tmp_path: Path) -> tuple[Path, Path]:
    """Two valid wheels of aaa 1.0, stored (not compressed) so they have the same size."""
    good = raw_wheel(tmp_path / "good", "aaa", "1.0", {"aaa/__init__.py": b"WHO = 'genuine'\n"}, compress=zipfile.ZIP_STORED)
    evil = raw_wheel(tmp_path / "evil", "aaa", "1.0", {"aaa/__init__.py": b"WHO = 'attack'\n\n"}, compress=zipfile.ZIP_STORED)
    assert good.stat().st_size == evil.stat().st_size and sha256_of(good) != sha256_of(evil)
    return good, evil


def test_cached_wheel_replaced_by_another_of_the_same_size_is_not_installed(tmp_path: Path, serve) -> None:
    good, evil = _twin_wheels(tmp_path)
    simple = build_index(tmp_path / "index", [good])
    url = serve(simple)
    project = _project(tmp_path / "p", ["aaa"])
    assert _lock_and_sync(project, url).exit_code == 0
    [cached] = [p for p in _cache().rglob(good.name) if p.is_file() and "unpacked" not in str(p)]
    cached.write_bytes(evil.read_bytes())
    before = snapshot(project / ".venv")
    offline = run_cli("sync", "--project", project, "--offline", "--reinstall")
    assert offline.exit_code != 0 and "Traceback" not in offline.output, offline.output
    assert snapshot(project / ".venv") == before
    again = run_cli("sync", "--project", project, "--index-url", url, "--reinstall")
    assert again.exit_code == 0, again.output
    assert "genuine" in (_site(project) / "aaa" / "__init__.py").read_text()


def test_tampered_unpacked_copy_in_the_cache_is_never_installed(tmp_path: Path, serve) -> None:
    good, _evil = _twin_wheels(tmp_path)
    simple = build_index(tmp_path / "index", [good])
    url = serve(simple)
    project = _project(tmp_path / "p", ["aaa"])
    assert _lock_and_sync(project, url).exit_code == 0
    [unpacked] = [p for p in _cache().glob("unpacked-*/*") if p.is_dir()]
    # The attacker edits a module, adds a .pth and makes the copy's own RECORD bless both.
    module = unpacked / "aaa" / "__init__.py"
    attack, pth = b"WHO = 'attack'\n", b"import os\n"
    module.unlink()
    module.write_bytes(attack)
    (unpacked / "evil.pth").write_bytes(pth)
    record = next(unpacked.glob("*.dist-info")) / "RECORD"
    lines = [line for line in record.read_text().splitlines() if not line.startswith("aaa/__init__.py,")]
    lines += [f"aaa/__init__.py,{record_hash(attack)},{len(attack)}", f"evil.pth,{record_hash(pth)},{len(pth)}"]
    record.unlink()
    record.write_text("\n".join(lines) + "\n")
    result = run_cli("sync", "--project", project, "--index-url", url, "--reinstall")
    assert result.exit_code == 0, result.output
    assert "genuine" in (_site(project) / "aaa" / "__init__.py").read_text()
    assert not (_site(project) / "evil.pth").exists()
    assert verify_records(open_venv(project / ".venv")) == []


# -- row: PEP 658 .metadata that disagrees with the wheel -------------------------------------------


def _metadata_lie(tmp_path: Path, requires: list[str]) -> Path:
    """An index whose aaa .metadata declares no dependency, while the wheel requires ``requires``."""
    honest = make_wheel(tmp_path / "honest", "aaa", "1.0")
    lying = make_wheel(tmp_path / "lying", "aaa", "1.0", requires=requires)
    payload = make_wheel(tmp_path / "dists", "payload", "1.0")
    simple = build_index(tmp_path / "index", [honest, payload])
    _swap_file(simple, honest, lying)
    return simple


def test_wheel_whose_metadata_needs_what_the_lock_never_resolved_is_refused(tmp_path: Path, serve) -> None:
    simple = _metadata_lie(tmp_path, ["payload"])
    url = serve(simple)
    project = _project(tmp_path / "p", ["aaa"])
    result = _lock_and_sync(project, url)
    assert_one_error_line(result, "aaa-1.0-py3-none-any.whl", "requires payload", ".metadata")
    assert "payload" not in _installed(project) and "aaa" not in _installed(project)


@pytest.mark.parametrize("requirement", ["payload\n >=1.0", "payload (", "pay load", "payload>=1" + "0" * sys.get_int_max_str_digits(),
                                         "payload ; python_version > '1" + "0" * sys.get_int_max_str_digits() + "'"])
def test_wheel_whose_metadata_has_a_requirement_that_does_not_parse_is_refused(tmp_path: Path, serve,
                                                                               requirement: str) -> None:
    """The resolver refuses such metadata from the index; the wheel's own copy cannot slip one past the check."""
    simple = _metadata_lie(tmp_path, [requirement])
    url = serve(simple)
    project = _project(tmp_path / "p", ["aaa"])
    result = _lock_and_sync(project, url)
    assert_one_error_line(result, "aaa-1.0-py3-none-any.whl", "Requires-Dist", "not a valid requirement")
    assert _installed(project) == {}


def test_wheel_dependency_outside_this_environment_or_behind_an_extra_is_fine(tmp_path: Path, serve) -> None:
    simple = _metadata_lie(tmp_path, ['payload ; sys_platform == "no-such-os"', 'payload ; extra == "more"'])
    url = serve(simple)
    project = _project(tmp_path / "p", ["aaa"])
    result = _lock_and_sync(project, url)
    assert result.exit_code == 0, result.output
    assert _installed(project) == {"aaa": "1.0"}


# -- row: METADATA Name/Version that differ from the lock -----------------------------------------


@pytest.mark.parametrize("name, version", [("aaa", "2.0"), ("zzz", "1.0")])
def test_wheel_claiming_another_name_or_version_is_refused(tmp_path: Path, serve, name: str, version: str) -> None:
    honest = make_wheel(tmp_path / "honest", "aaa", "1.0")
    liar = raw_wheel(tmp_path / "liar", "aaa", "1.0", {"aaa/__init__.py": b""},
                     metadata=f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\n".encode())
    simple = build_index(tmp_path / "index", [honest])
    url = serve(simple)
    _swap_file(simple, honest, liar)
    project = _project(tmp_path / "p", ["aaa"])
    result = _lock_and_sync(project, url)
    assert_one_error_line(result, "aaa-1.0-py3-none-any.whl", f"METADATA says {name} {version}", "locked aaa 1.0")
    assert _installed(project) == {}


# -- row: a wheel that overwrites the environment or another package ------------------------------


@pytest.mark.parametrize("files, entry_points, shown", [
    ({"aaa-1.0.data/scripts/python": b"#!/bin/sh\necho owned\n"}, None, "bin/python (the environment's own)"),
    ({"aaa-1.0.data/data/bin/python3": b"#!/bin/sh\n"}, None, "bin/python3 (the environment's own)"),
    ({"aaa-1.0.data/data/pyvenv.cfg": b"home = /evil\n"}, None, "pyvenv.cfg (the environment's own)"),
    ({}, "[console_scripts]\npython3 = aaa:main\n", "bin/python3 (the environment's own)"),
    ({"aaa-1.0.data/scripts/activate": b"echo owned\n"}, None, "bin/activate (the environment's own)"),
])
def test_wheel_overwriting_the_environment_itself_is_refused(tmp_path: Path, serve, files: dict, entry_points: str | None,
                                                             shown: str) -> None:
    evil = raw_wheel(tmp_path / "d", "aaa", "1.0", {"aaa/__init__.py": b"", **files}, entry_points=entry_points)
    simple = build_index(tmp_path / "index", [evil, make_wheel(tmp_path / "d", "bbb", "1.0")])
    url = serve(simple)
    project = _project(tmp_path / "p", ["bbb"])
    assert _lock_and_sync(project, url).exit_code == 0
    (project / "pyproject.toml").write_text(project_toml(["aaa", "bbb"]))
    before = snapshot(project / ".venv")
    result = _lock_and_sync(project, url)
    assert_one_error_line(result, "aaa-1.0-py3-none-any.whl: would overwrite", shown)
    assert snapshot(project / ".venv") == before


def test_wheel_overwriting_another_packages_file_is_refused_but_identical_shared_files_are_fine(tmp_path: Path, serve) -> None:
    owner = raw_wheel(tmp_path / "d", "owner", "1.0", {"owner/__init__.py": b"REAL = 1\n", "ns/__init__.py": b""})
    sharer = raw_wheel(tmp_path / "d", "sharer", "1.0", {"sharer/__init__.py": b"", "ns/__init__.py": b""})
    thief = raw_wheel(tmp_path / "d", "thief", "1.0", {"owner/__init__.py": b"REAL = 'stolen'\n"})
    simple = build_index(tmp_path / "index", [owner, sharer, thief])
    url = serve(simple)
    project = _project(tmp_path / "p", ["owner"])
    assert _lock_and_sync(project, url).exit_code == 0
    (project / "pyproject.toml").write_text(project_toml(["owner", "sharer"]))
    assert _lock_and_sync(project, url).exit_code == 0, "an identical shared file is not a conflict"
    (project / "pyproject.toml").write_text(project_toml(["owner", "sharer", "thief"]))
    before = snapshot(project / ".venv")
    result = _lock_and_sync(project, url)
    assert_one_error_line(result, "thief-1.0-py3-none-any.whl: would overwrite", "owner/__init__.py (installed by owner)")
    assert snapshot(project / ".venv") == before


def test_two_new_wheels_writing_the_same_file_are_refused_before_either_is_installed(tmp_path: Path, serve) -> None:
    one = raw_wheel(tmp_path / "d", "one", "1.0", {"shared.py": b"A = 1\n"})
    two = raw_wheel(tmp_path / "d", "two", "1.0", {"shared.py": b"B = 2\n"})
    simple = build_index(tmp_path / "index", [one, two])
    url = serve(simple)
    project = _project(tmp_path / "p", ["one", "two"])
    result = _lock_and_sync(project, url)
    assert_one_error_line(result, "two-1.0-py3-none-any.whl: would overwrite", "shared.py (installed by one)")
    assert _installed(project) == {}


# -- row: a small wheel unpacking to a huge size -------------------------------------------------


def test_zip_bomb_wheel_is_refused_with_its_sizes(tmp_path: Path, serve) -> None:
    bomb = raw_wheel(tmp_path / "d", "aaa", "1.0", {"aaa/__init__.py": b"", "aaa/zeros.bin": bytes(200 * 1024 * 1024)})
    assert bomb.stat().st_size < 300 * 1024
    simple = build_index(tmp_path / "index", [bomb])
    url = serve(simple)
    project = _project(tmp_path / "p", ["aaa"])
    result = _lock_and_sync(project, url)
    assert_one_error_line(result, "aaa-1.0-py3-none-any.whl is unsafe", "unpacks to 209,")
    assert _installed(project) == {}
    assert not list(_cache().glob("unpacked-*/*"))


def test_another_packages_file_reached_through_the_venvs_lib64_link_is_refused(tmp_path: Path, serve) -> None:
    owner = raw_wheel(tmp_path / "d", "owner", "1.0", {"owner/__init__.py": b"REAL = 1\n"})
    simple = build_index(tmp_path / "index", [owner])
    url = serve(simple)
    project = _project(tmp_path / "p", ["owner"])
    assert _lock_and_sync(project, url).exit_code == 0
    lib64 = project / ".venv" / "lib64"
    if not lib64.is_symlink():
        pytest.skip("this interpreter's venv has no lib64 link")
    site = _site(project).relative_to(project / ".venv" / "lib")
    thief = raw_wheel(tmp_path / "d", "thief", "1.0", {f"thief-1.0.data/data/lib64/{site.as_posix()}/owner/__init__.py": b"REAL = 2\n"})
    build_index(tmp_path / "index", [owner, thief])
    (project / "pyproject.toml").write_text(project_toml(["owner", "thief"]))
    before = snapshot(project / ".venv")
    result = _lock_and_sync(project, url)
    assert_one_error_line(result, "thief-1.0-py3-none-any.whl: would overwrite", "owner/__init__.py (installed by owner)")
    assert snapshot(project / ".venv") == before


def test_wheel_writing_into_another_distributions_metadata_is_refused(tmp_path: Path, serve) -> None:
    owner = raw_wheel(tmp_path / "d", "owner", "1.0", {"owner/__init__.py": b""})
    thief = raw_wheel(tmp_path / "d", "thief", "1.0", {"thief-1.0.data/purelib/owner-1.0.dist-info/entry_points.txt":
                                                        b"[console_scripts]\nowner = thief:main\n"})
    simple = build_index(tmp_path / "index", [owner, thief])
    url = serve(simple)
    project = _project(tmp_path / "p", ["owner", "thief"])
    result = _lock_and_sync(project, url)
    assert_one_error_line(result, "thief-1.0-py3-none-any.whl", "another distribution's metadata (owner-1.0.dist-info)")
    assert _installed(project) == {}


def test_wheel_needing_a_newer_dependency_than_its_metadata_said_is_refused(tmp_path: Path, serve) -> None:
    honest = make_wheel(tmp_path / "honest", "aaa", "1.0", requires=["payload"])
    lying = make_wheel(tmp_path / "lying", "aaa", "1.0", requires=["payload>=2"])
    simple = build_index(tmp_path / "index", [honest, make_wheel(tmp_path / "d", "payload", "1.0")])
    _swap_file(simple, honest, lying)
    url = serve(simple)
    project = _project(tmp_path / "p", ["aaa"])
    result = _lock_and_sync(project, url)
    assert_one_error_line(result, "aaa-1.0-py3-none-any.whl", "requires payload>=2", "payload 1.0")
    assert _installed(project) == {}


def test_build_environment_wheel_swapped_in_the_cache_is_refused(tmp_path: Path) -> None:
    from satlock.buildenv.environment import BuildEnvSpec, EnvWheel, ensure_build_env
    from satlock.errors import HashMismatchError
    from satlock.cache import Cache
    import sys

    good, evil = _twin_wheels(tmp_path)
    spec = BuildEnvSpec((EnvWheel("aaa", "1.0", evil, sha256_of(good)),))
    with pytest.raises(HashMismatchError, match=sha256_of(good)):
        ensure_build_env(spec, Cache(tmp_path / "cache"), base_python=Path(sys.executable))


def test_built_wheel_replaced_in_the_cache_is_built_again(tmp_path: Path) -> None:
    from satlock.buildenv import wheelcache
    from satlock.cache import Cache

    good, evil = _twin_wheels(tmp_path)
    cache = Cache(tmp_path / "cache")
    stored = wheelcache.store_wheel(cache, "src", "profile", "env", good)
    assert wheelcache.cached_wheel(cache, "src", "profile", "env") == stored
    stored.write_bytes(evil.read_bytes())
    assert wheelcache.cached_wheel(cache, "src", "profile", "env") is None


def test_wheel_whose_file_differs_from_its_record_is_refused_before_any_other_is_installed(tmp_path: Path, serve) -> None:
    good = raw_wheel(tmp_path / "d", "aaa", "1.0", {"aaa/__init__.py": b"A = 1\n"})
    bad = raw_wheel(tmp_path / "d", "zzz", "1.0", {"zzz/__init__.py": b"Z = 1\n"})
    with zipfile.ZipFile(bad) as zf:
        members = {i.filename: zf.read(i) for i in zf.infolist()}
    members["zzz/__init__.py"] = b"Z = 2\n"  # same size, another hash than RECORD says
    with zipfile.ZipFile(bad, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    simple = build_index(tmp_path / "index", [good, bad])
    url = serve(simple)
    project = _project(tmp_path / "p", ["aaa", "zzz"])
    create_venv(project / ".venv")
    result = _lock_and_sync(project, url)
    assert_one_error_line(result, "zzz-1.0-py3-none-any.whl is not a valid wheel", "didn't match RECORD")
    assert _installed(project) == {}


@pytest.mark.parametrize("member, why", [("aaa/" + "x" * 300 + ".py", "longer than 255 bytes"),
                                         ("aaa/" + ("d" * 200 + "/") * 6 + "x.py", "longer than 1024 bytes"),
                                         ("aaa/" + "d/" * 400 + "x.py", "nested more than 256 folders deep"),
                                         # Short in characters, too long in the bytes a file system gets.
                                         ("aaa/" + "é" * 130 + ".py", "longer than 255 bytes"),
                                         ("aaa/" + ("é" * 100 + "/") * 6 + "x.py", "longer than 1024 bytes")],
                         ids=["long-file-name", "long-path", "deep", "long-utf8-file-name", "long-utf8-path"])
def test_wheel_member_no_file_system_can_hold_is_refused_before_anything_is_installed(tmp_path: Path, serve, member: str,
                                                                                      why: str) -> None:
    """Such a name was an OSError or a RecursionError traceback while the wheel was unzipped or checked."""
    wheel = raw_wheel(tmp_path / "d", "aaa", "1.0", {"aaa/__init__.py": b"", member: b"x = 1\n"})
    url = serve(build_index(tmp_path / "index", [wheel]))
    project = _project(tmp_path / "p", ["aaa"])
    result = _lock_and_sync(project, url)
    assert_one_error_line(result, "aaa-1.0-py3-none-any.whl", why)
    assert _installed(project) == {}


@pytest.mark.parametrize("plant", ["link", "folder"])
def test_a_link_or_folder_in_place_of_the_venv_sync_lock_is_one_error_line_and_nothing_is_installed(
        tmp_path: Path, serve, plant: str) -> None:
    simple = build_index(tmp_path / "index", [make_wheel(tmp_path / "d", "foo", "1.0")])
    project = _project(tmp_path / "p", ["foo"])
    create_venv(project / ".venv")
    lock_file = project / ".venv" / ".satlock-sync.lock"
    victim = tmp_path / "victim.txt"
    lock_file.symlink_to(victim) if plant == "link" else lock_file.mkdir()
    result = _lock_and_sync(project, serve(simple))
    assert_one_error_line(result, f"cannot take the lock of {project / '.venv'}", str(lock_file))
    assert f"hint: remove {lock_file}" in result.output
    assert _installed(project) == {} and not os.path.lexists(victim)
