"""The checks before an install, as a sync makes them: every wheel read and held to the
environment through one ``VenvSnapshot``, which remembers folders, which are there and
which are not. What it remembers must never hide what is there: a link or a folder at a
file a wheel writes, a folder that is a link, a file another package owns."""

from __future__ import annotations

from pathlib import Path

import pytest

from hostilekit import raw_wheel
from satlock.buildenv.venv import Venv, create_venv
from satlock.buildenv.venvpaths import VenvSnapshot
from satlock.buildenv.wheelcheck import check_conflicts, claim, read_wheel
from satlock.errors import InstallError


@pytest.fixture
def venv(tmp_path: Path) -> Venv:
    return create_venv(tmp_path / ".venv")


def _site(venv: Venv) -> str:
    return Path(venv.purelib).relative_to(venv.root).as_posix()


def _check(venv: Venv, wheels: list[Path], owners: dict | None = None) -> None:
    """Each wheel read and checked in turn through one snapshot, as ``sync._preflight`` does."""
    snapshot = VenvSnapshot(venv)
    owners = {} if owners is None else owners
    for wheel in wheels:
        plan = read_wheel(wheel, venv, snapshot)
        check_conflicts(plan, venv, owners, snapshot=snapshot)
        claim(owners, plan)


def test_a_link_or_folder_at_a_file_in_a_folder_already_there_is_the_environments_own(tmp_path: Path, venv: Venv) -> None:
    pkg = Path(venv.purelib) / "pkg"
    (pkg / "deep").mkdir(parents=True)
    (pkg / "a.py").symlink_to(tmp_path / "elsewhere.py")
    (pkg / "deep" / "b.py").mkdir()
    (pkg / "plain.py").write_text("")  # a file no package owns: overwritten, as before
    # The first wheel has the snapshot learn pkg/ and pkg/deep/ (and that pkg/new/ is not there).
    first = raw_wheel(tmp_path / "d", "first", "1.0", {"pkg/first.py": b"", "pkg/deep/first.py": b"", "pkg/new/x.py": b""})
    second = raw_wheel(tmp_path / "d", "second", "1.0", {"pkg/deep/b.py": b"", "pkg/plain.py": b"", "pkg/a.py": b"",
                                                          "pkg/new/a.py": b"", "pkg/new/deeper/a.py": b""})
    with pytest.raises(InstallError) as e:
        _check(venv, [first, second])
    site = _site(venv)
    assert e.value.message == (f"second-1.0-py3-none-any.whl: would overwrite {site}/pkg/a.py (the environment's own), "
                               f"{site}/pkg/deep/b.py (the environment's own)")


def test_a_folder_that_is_a_link_is_followed_to_the_files_another_package_owns(tmp_path: Path, venv: Venv) -> None:
    site = Path(venv.purelib)
    (site / "real" / "sub").mkdir(parents=True)
    (site / "alias").symlink_to(site / "real")
    (site / "real" / "sub" / "inner").symlink_to(site / "real")  # a link below a link
    owner = raw_wheel(tmp_path / "d", "owner", "1.0", {"real/x.py": b"X = 1\n", "real/y.py": b"Y = 1\n"})
    thief = raw_wheel(tmp_path / "d", "thief", "1.0", {"thief.py": b"", "alias/x.py": b"X = 2\n", "alias/sub/inner/y.py": b"Y = 2\n"})
    with pytest.raises(InstallError) as e:
        _check(venv, [owner, thief])
    assert e.value.message == (f"thief-1.0-py3-none-any.whl: would overwrite {_site(venv)}/real/x.py (installed by owner), "
                               f"{_site(venv)}/real/y.py (installed by owner)")


def test_conflicts_are_named_in_sorted_order_five_and_a_count(tmp_path: Path, venv: Venv) -> None:
    names = [f"m/{c}.py" for c in "hbgadfce"]  # the wheel's order is not the message's
    owner = raw_wheel(tmp_path / "d", "owner", "1.0", {n: b"1" for n in names})
    thief = raw_wheel(tmp_path / "d", "thief", "1.0", {n: b"2" for n in names} | {"thief-1.0.data/scripts/python": b""})
    with pytest.raises(InstallError) as e:
        _check(venv, [owner, thief])
    site = _site(venv)
    assert e.value.message == ("thief-1.0-py3-none-any.whl: would overwrite bin/python (the environment's own), "
                               + ", ".join(f"{site}/m/{c}.py (installed by owner)" for c in "abcd") + " and 4 more")
