"""Candidates from an index's file list: which files of a project a target can use,
grouped by version; and the on-disk cache of that answer.

Pages list thousands of files, so names are split by hand and each version parsed once.
"""

from __future__ import annotations

import functools
import marshal
import re
from typing import Callable, Collection, Iterable

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from satlock.cache import Cache
from satlock.errors import printable
from satlock.resolver.candidates import Candidate, DistFile, check_rows, requires_python_ok, split_filename
from satlock.resolver.filetable import FileTable
from satlock.resolver.provider import CandidateList, Exclusion
from satlock.resolver.target import Target

CANDIDATES = "candidates-v1"


def candidates_from_files(name: NormalizedName, files: FileTable | Iterable[DistFile], target: Target,
                          pinned: Collection[str]) -> CandidateList:
    """The candidates of ``name`` newest first, each with the files ``target`` can use, best
    wheel first; and the versions left out, with why (no wheel for the platform, yanked
    unless pinned with ``==`` (PEP 592), or their Requires-Python).

    Read from the table's columns: a ``DistFile`` is made only for a file a candidate keeps.
    """
    table = files if isinstance(files, FileTable) else FileTable.of(list(files))
    yanks, pythons = table.yanked, table.requires_python
    python = target.python_full_version
    # A wheel's tags name the Python as much as the platform (cupy-cuda92 9.6.0 has
    # manylinux wheels, for cp36 to cp39 only).
    no_wheel = f"no wheel for Python {target.environment['python_version']} on this platform"
    # Versions are numbered in the order first met; equal versions written differently
    # (``1.0``, ``1.0.0``) share a number, the first one's. Numbers hash faster than ``Version``s.
    numbers: dict[str, int | None] = {}  # by version as written
    number_of: dict[Version, int] = {}
    versions: list[Version] = []
    texts: list[str] = []  # str(version), worked out once per version
    by_version: dict[int, list[tuple[int, str, int]]] = {}
    excluded: dict[int, str] = {}
    # A page repeats the same few tag sets, names as written and Requires-Python strings
    # across its thousands of files: each is worked out once, in these dicts.
    ranks: dict[tuple[str, str, str], int | None] = {}
    same_name: dict[str, bool] = {}
    python_ok: dict[str, bool] = {}
    for i, filename in enumerate(table.filenames):
        if filename.endswith(".whl"):
            parts = filename[:-4].split("-")
            if len(parts) not in (5, 6):
                continue
            raw_name, raw_version = parts[0], parts[1]
            tag_set: tuple[str, str, str] | None = (parts[-3], parts[-2], parts[-1])
        else:
            split = split_filename(filename)
            if split is None:
                continue
            raw_name, raw_version = split[0], split[1]
            tag_set = None
        ok = same_name.get(raw_name)
        if ok is None:
            ok = same_name[raw_name] = _same_name(raw_name, name)
        if not ok:
            continue
        if raw_version in numbers:
            number = numbers[raw_version]
        else:
            number = numbers[raw_version] = _number(raw_version, number_of, versions, texts)
        if number is None:
            continue
        if tag_set is not None:
            if tag_set in ranks:
                rank = ranks[tag_set]
            else:
                rank = ranks[tag_set] = target.best_rank(_expand_tags(*tag_set))
            if rank is None:
                excluded.setdefault(number, no_wheel)
                continue
        else:
            rank = 1 << 30
        yanked = yanks[i]
        if yanked is not None and texts[number] not in pinned:
            excluded.setdefault(number, f"yanked{': ' + printable(yanked) if yanked else ''}")
            continue
        requires_python = pythons[i]
        if requires_python:
            fits = python_ok.get(requires_python)
            if fits is None:
                fits = python_ok[requires_python] = requires_python_ok(requires_python, python)
            if not fits:
                excluded.setdefault(number, f"requires Python {requires_python}")
                continue
        by_version.setdefault(number, []).append((rank, filename, i))
    cands = []
    make = table.file
    for number in sorted(by_version, key=versions.__getitem__, reverse=True):
        entries = by_version[number]
        if len(entries) > 1:
            entries.sort()  # best rank, then name; the page's order among equal ones (the place breaks ties)
        cands.append(Candidate.listed(name, versions[number], texts[number], tuple([make(i) for _, _, i in entries])))
        excluded.pop(number, None)
    return CandidateList(cands, [Exclusion(texts[n], r) for n, r in excluded.items()])


def _number(raw: str, number_of: dict[Version, int], versions: list[Version], texts: list[str]) -> int | None:
    """The number of the version written ``raw`` (a new one for a version not met
    before); ``None`` when ``raw`` is not a version."""
    version = _version(raw)
    if version is None:
        return None
    number = number_of.get(version)
    if number is None:
        number = number_of[version] = len(versions)
        versions.append(version)
        texts.append(_text(raw, version))
    return number


def wheel_for_another_target(c: Candidate, files: Iterable[DistFile]) -> DistFile | None:
    """A wheel of the same version built for another platform or Python, to read its
    metadata instead of building the sdist (what uv does: a version's wheels declare the
    same dependencies, with markers for what differs). ``pandas==1.3.5`` on Python 3.12
    has only an sdist whose setup.py no longer runs, and wheels for 3.7 to 3.10; mariadb
    1.1.14 on linux has only an sdist that needs a system tool, and Windows wheels.
    ``sync`` still builds the sdist for the target.

    The caller does not ask for a package with a build profile: the user said how it
    builds, and a variant build's dependencies depend on what it is built against.
    """
    wheels = []
    for f in files:
        split = split_filename(f.filename)
        if (f.is_wheel and f.yanked is None and split is not None and _same_name(split[0], c.name)
                and _version(split[1]) == c.version):
            wheels.append(f)
    # A PEP 658 file is the cheapest to read; then a pure-Python wheel, then any.
    return min(wheels, key=lambda f: (f.metadata is None, "-none-any" not in f.filename, f.filename), default=None)


def read_cached(cache: Cache, key: str, name: NormalizedName,
                may_link: Callable[[list[DistFile]], bool]) -> CandidateList | None:
    """The candidate list stored under ``key``; a broken entry is dropped and read as a miss.

    The entry is untrusted: each row must be one a page parse could have made
    (``check_rows``), and ``may_link`` says whether the files' links are ones this run's
    pages and find-links folders could have given.
    """
    raw = cache.read_sealed(CANDIDATES, key)
    if raw is None:
        return None
    try:
        versions, excluded = marshal.loads(raw)
        # ``DistFile.from_row``'s checks, done over all the rows at once: a listing holds thousands.
        check_rows([row for _, rows in versions for row in rows])
        make = DistFile.of_fields
        listing = CandidateList([Candidate.listed(name, _stored_version(v), v, tuple([make(*row) for row in rows]))
                                 for v, rows in versions],
                                [Exclusion(v, reason) for v, reason in excluded])
        if {type(text) for exclusion in listing.excluded for text in (exclusion.version, exclusion.reason)} - {str}:
            raise ValueError("cached exclusion that is not text")
        if not may_link([f for c in listing.candidates for f in c.files]):
            raise ValueError("cached link this run may not fetch")
        return listing
    except (EOFError, ValueError, TypeError, IndexError, InvalidVersion):
        cache.discard(CANDIDATES, key)
        return None


def store_cached(cache: Cache, key: str, listing: CandidateList) -> None:
    data = ([(c.key[1], [f.to_row() for f in c.files]) for c in listing.candidates],
            [(e.version, e.reason) for e in listing.excluded])
    cache.write_sealed_soon(CANDIDATES, key, marshal.dumps(data))


@functools.lru_cache(maxsize=8192)
def _same_name(raw: str, name: NormalizedName) -> bool:
    return canonicalize_name(raw) == name


def _expand_tags(pythons: str, abis: str, platforms: str) -> list[str]:
    """A wheel name's compressed tag set as ``interpreter-abi-platform`` strings (as ``split_filename``)."""
    return [f"{i}-{a}-{p}" for i in pythons.split(".") for a in abis.split(".") for p in platforms.split(".")]


# A release segment in its normal form: ``str(Version(raw)) == raw`` without asking packaging.
_NORMAL_RELEASE = re.compile(r"(?:0|[1-9][0-9]*)(?:\.(?:0|[1-9][0-9]*))*")


def _text(raw: str, version: Version) -> str:
    """``str(version)``, the raw text itself when that is already normal (most versions on a page)."""
    return raw if _NORMAL_RELEASE.fullmatch(raw) else str(version)


def _stored_version(text: str) -> Version:
    """A version from a cached listing, which must be the normal form it was stored in."""
    version = Version(text)
    if _text(text, version) != text:
        raise ValueError(f"cached version {text!r:.80} is not in normal form")
    return version


def _version(raw: str) -> Version | None:
    try:
        return Version(raw)
    except ValueError:
        # InvalidVersion, or a number too long for int(): not a version either way.
        return None
