"""A provider over an in-memory index ``{project: {version: [requirement, ...]}}``.

Used by tests (including the frozen resolvelib fixtures) and by the SAT-core benchmark.
"""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from satlock.resolver.candidates import Candidate
from satlock.resolver.provider import CandidateList, Dependencies


class MemoryProvider:
    def __init__(self, index: Mapping[str, Mapping[str, Iterable[str]]]) -> None:
        self._index: dict[NormalizedName, dict[Version, list[str]]] = {}
        for name, versions in index.items():
            parsed: dict[Version, list[str]] = {}
            for v, deps in versions.items():
                try:
                    parsed[Version(v)] = list(deps)
                except InvalidVersion:
                    continue
            self._index[canonicalize_name(name)] = parsed
        self.dependency_calls = 0

    def candidates(self, name: NormalizedName) -> CandidateList:
        versions = sorted(self._index.get(name, {}), reverse=True)
        return CandidateList([Candidate(name, v) for v in versions])

    def dependencies(self, candidate: Candidate) -> Dependencies:
        self.dependency_calls += 1
        reqs = []
        for text in self._index[candidate.name][candidate.version]:
            try:
                reqs.append(Requirement(text))
            except ValueError:
                continue
        return Dependencies(tuple(reqs))

    def ready(self, candidate: Candidate) -> bool:
        return True

    def prefetch(self, names: Iterable[NormalizedName], candidates: Sequence[Candidate]) -> None:
        return None
