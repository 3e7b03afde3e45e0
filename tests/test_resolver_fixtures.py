"""The solver against resolvelib's frozen PyPI snapshots.

A "resolved" case must give a valid resolution: every requirement of the request and of
every chosen candidate (with the extras asked of it, evaluated for this interpreter) is met
by the chosen versions. satlock optimizes differently from resolvelib, so matching
resolvelib's exact answer is reported, not required. A "conflicted" case must be
unsatisfiable.

The fixtures are copied into ``tests/fixtures/resolvelib`` (ISC licence, see its README),
so a fresh clone runs every case; a missing file fails, it never skips.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import warnings
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from satlock.resolver.explain import explain
from satlock.resolver.memory import MemoryProvider
from satlock.resolver.solve import RootRequirement, Solver, Unsatisfiable
from satlock.resolver.target import make_target

ROOT = Path(__file__).resolve().parent / "fixtures" / "resolvelib"
FIXTURES = ROOT / "python"
GIVES_UP = {"pyrex-1.9.8"}
CASES = sorted(FIXTURES.glob("case/*.json"))


def _read_upstream(relative: str) -> bytes:
    """A fixture file's bytes as upstream has them; the large indexes are stored gzipped."""
    path = ROOT / relative
    if path.exists():
        return path.read_bytes()
    return gzip.decompress(path.with_name(path.name + ".gz").read_bytes())


def _load(case_path: Path) -> tuple[dict, dict[str, dict[str, list[str]]]]:
    case = json.loads(case_path.read_text())
    raw = json.loads(_read_upstream(f"python/index/{case['index']}.json"))
    index = {name: {v: info.get("dependencies", []) for v, info in versions.items()} for name, versions in raw.items()
             if isinstance(versions, dict)}
    return case, index


def _parse(text: str) -> Requirement | None:
    try:
        return Requirement(text)
    except ValueError:
        return None


def _unmet(requested: list[str], index: dict[str, dict[str, list[str]]], chosen: dict[str, Version],
           environment: dict[str, str]) -> list[str]:
    """Every requirement the chosen versions fail, following extras to a fixpoint."""
    versions = {canonicalize_name(n): {Version(v): deps for v, deps in vs.items() if _parse(f"x=={v}")} for n, vs in index.items()}
    problems: list[str] = []
    pending = [(r, "<request>") for r in map(Requirement, requested)]
    seen: set[tuple[str, str]] = set()
    while pending:
        req, parent = pending.pop()
        name = canonicalize_name(req.name)
        if name not in chosen:
            problems.append(f"{parent} needs {req}, but nothing was chosen for {name}")
            continue
        version = chosen[name]
        if not req.specifier.contains(version, prereleases=True):
            problems.append(f"{parent} needs {req}, but {name} {version} was chosen")
        for extra in ["", *sorted(req.extras)]:
            if (name, extra) in seen:
                continue
            seen.add((name, extra))
            for text in versions[name].get(version, []):
                dep = _parse(text)
                if dep is None:
                    continue
                if dep.marker is None:
                    active = extra == ""
                else:
                    active = dep.marker.evaluate({**environment, "extra": extra})
                    if extra and active and dep.marker.evaluate({**environment, "extra": ""}):
                        active = False  # already checked as a base dependency
                if active:
                    pending.append((dep, f"{name} {version}" + (f"[{extra}]" if extra else "")))
    return problems


def test_every_fixture_is_in_the_repository_unchanged() -> None:
    listed = [line.split("  ", 1) for line in (ROOT / "SHA256SUMS").read_text().splitlines()]
    assert len([p for _, p in listed if p.startswith("python/case/")]) == len(CASES) == 13
    for digest, relative in listed:
        assert hashlib.sha256(_read_upstream(relative)).hexdigest() == digest, relative
    assert "ISC" in (ROOT / "README.md").read_text() and "Permission to use" in (ROOT / "LICENSE").read_text()


@pytest.mark.parametrize("case_path", CASES, ids=[p.stem for p in CASES])
def test_frozen_index_case_resolves_validly_or_conflicts(case_path: Path) -> None:
    case, index = _load(case_path)
    environment = dict(make_target().environment)
    roots = [RootRequirement(Requirement(r)) for r in case["requested"]]
    solver = Solver(MemoryProvider(index), environment)
    if case_path.stem in GIVES_UP:
        # resolvelib gives up on this one; its frozen index has no msgpack, which every
        # path from pyrax 1.9.8 needs, so satlock proves it has no solution.
        with pytest.raises(Unsatisfiable) as info:
            solver.solve(roots)
        assert "msgpack" in explain(info.value.encoding, info.value.excluded)
        return
    if "conflicted" in case:
        with pytest.raises(Unsatisfiable):
            solver.solve(roots)
        return
    resolution = solver.solve(roots)
    chosen = {name: c.version for name, c in resolution.chosen.items()}
    assert _unmet(case["requested"], index, chosen, environment) == []
    expected = {canonicalize_name(n): Version(info["version"] if isinstance(info, dict) else info)
                for n, info in case["resolved"].items()}
    if chosen != expected:
        differs = sorted(n for n in set(chosen) | set(expected) if chosen.get(n) != expected.get(n))
        warnings.warn(f"{case_path.stem}: valid, but differs from resolvelib's answer for {', '.join(differs)}")
