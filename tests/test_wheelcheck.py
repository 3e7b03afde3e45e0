"""The checks before an install, as a sync makes them: every wheel read and held to the
environment through one ``VenvSnapshot``, which remembers folders, which are there and
which are not. What it remembers must never hide what is there: a link or a folder at a
file a wheel writes, a folder that is a link, a file another package owns."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from packaging.markers import default_environment

from hostilekit import raw_wheel
from satlock.buildenv.venv import Venv, create_venv
from satlock.buildenv.venvpaths import VenvSnapshot
from satlock.buildenv.wheelcheck import check_conflicts, check_dependencies, claim, read_wheel
from satlock.errors import InstallError, MetadataError


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


def _requiring(tmp_path: Path, venv: Venv, requires: list[str]):
    metadata = "Metadata-Version: 2.1\nName: aaa\nVersion: 1.0\n" + "".join(f"Requires-Dist: {r}\n" for r in requires) + "\n"
    return read_wheel(raw_wheel(tmp_path / "d", "aaa", "1.0", {"aaa/__init__.py": b""}, metadata=metadata.encode()), venv)


_ENVIRONMENT = dict(default_environment())


@pytest.mark.parametrize("bad", [
    'payload ~=1 ; extra == "x"',  # ~= needs two release numbers
    'payload >=1.0.* ; extra == "x"',
    'payload- ; extra == "x"',
    'payload >=1 ; extra == x',
    'payload >=1 ; extra == "x" and',
    'payload [x ; extra == "x"',
    'payload >=1 ; extra == "x";',
    'payload >=1 ; extra_name == "x"',
    "payload >=1" + "0" * 5000 + ' ; extra == "x"',
])
def test_a_requires_dist_that_does_not_parse_is_refused_though_its_marker_names_an_extra(tmp_path: Path, venv: Venv,
                                                                                          bad: str) -> None:
    plan = _requiring(tmp_path, venv, ['fine >=1.0, <2 ; extra == "x"', bad])
    with pytest.raises(InstallError) as e:
        check_dependencies(plan, {}, _ENVIRONMENT, "aaa 1.0")
    assert e.value.message.startswith(f"aaa-1.0-py3-none-any.whl: its METADATA Requires-Dist {bad!r:.120} is not a valid requirement (")


@pytest.mark.parametrize("requires, refused", [
    (['payload >=2 ; extra == "x"', "payload[more] ~= 2.1, != 2.5 ; extra=='x'", ' payload;extra=="x" '], None),
    (['payload ; extra == ""'], "requires payload"),  # "" is the extra there is: it applies
    (["payload ; extra != 'x'"], "requires payload"),
    (['payload >=2 ; extra == "x" or os_name == "' + os.name + '"'], "requires payload>=2"),
    (['payload >=2 ; extra == "x"', "other"], "requires other"),
])
def test_a_requires_dist_for_an_extra_does_not_apply_and_one_for_none_still_does(tmp_path: Path, venv: Venv,
                                                                                 requires: list[str], refused: str | None) -> None:
    plan = _requiring(tmp_path, venv, requires)
    if refused is None:
        check_dependencies(plan, {}, _ENVIRONMENT, "aaa 1.0")
    else:
        with pytest.raises(InstallError, match=re.escape(refused)):
            check_dependencies(plan, {}, _ENVIRONMENT, "aaa 1.0")


def test_a_marker_on_a_lock_files_extras_is_still_evaluated_and_refused(tmp_path: Path, venv: Venv) -> None:
    plan = _requiring(tmp_path, venv, ['payload >=1 ; extras == "x"'])  # parses: a PEP 751 marker name
    with pytest.raises(MetadataError, match="which only a lock file's markers may"):
        check_dependencies(plan, {}, _ENVIRONMENT, "aaa 1.0")


def test_what_is_taken_for_an_extras_requires_dist_unparsed_always_parses_and_never_applies() -> None:
    # The shortcut may take only what packaging parses and the marker rejects without an extra.
    from itertools import product

    from packaging.requirements import Requirement

    from satlock.buildenv.wheelcheck import _FOR_AN_EXTRA
    from satlock.resolver.matching import evaluate_marker

    environment = {**_ENVIRONMENT, "extra": ""}
    names = ["a", "a-b", "a.", "-a", "a_1", "A.B"]
    extras = ["", "[x]", "[ x , y ]", "[]", "[x,]", "[-x]"]
    specifiers = ["", ">=1", "~=1", "~=1.0", "== 1.0.*", "<2,>=1.0", "!=1.0 ,<2", ">=1.", ">=v1", "(>=1)", "===1"]
    markers = ['; extra == "x"', ";extra=='x-y'", '; extra == ""', '; extra == "-x"', '; extra == x', "; extra == 'x\"",
               '; extra != "x"', '; "x" == extra', '; extra == "x" and extra == "y"', "; extra == 'x' ", ' ; extra == "x"\t']
    taken = 0
    for name, extra, specifier, marker in product(names, extras, specifiers, markers):
        for text in (f"{name}{extra}{specifier}{marker}", f" {name} {extra} {specifier} {marker}"):
            if _FOR_AN_EXTRA.fullmatch(text):
                taken += 1
                requirement = Requirement(text)
                assert requirement.marker is not None and not evaluate_marker(requirement.marker, environment), text
    assert taken > 400


def test_a_wheel_member_without_a_name_is_refused_in_one_message_before_anything_is_written(venv: Venv, tmp_path: Path) -> None:
    from satlock.buildenv.unpacked import unzip_wheel
    from satlock.errors import SatlockError

    wheel = raw_wheel(tmp_path / "w", "noname", "1.0", {"noname/__init__.py": b"", "": b"x"})
    for attempt in (lambda: read_wheel(wheel, venv), lambda: unzip_wheel(wheel, tmp_path / "out")):
        with pytest.raises(SatlockError) as err:
            attempt()
        assert "member '' has an empty name" in err.value.message
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
