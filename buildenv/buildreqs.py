"""Solving a build environment: one package's build requirements, resolved by the same
solver for the same target as the runtime, and their wheels downloaded.

With match-runtime the caller passes ``pins``, the runtime solution's versions: only those
versions are offered, so a pinned build requirement is never fetched (or its metadata
read) at another version, and a build environment that cannot take them is a
``BuildEnvConflict`` (the solver then tries another variant instead of failing).
"""

from __future__ import annotations

from typing import Mapping

from packaging.requirements import Requirement
from packaging.utils import NormalizedName
from packaging.version import Version

from satlock.buildenv.environment import BuildEnvSpec, EnvWheel
from satlock.errors import BuildError, ResolutionError
from satlock.parallel import fetch_many
from satlock.resolver.candidates import Candidate, DistFile
from satlock.resolver.explain import conflict_names, explain, minimal_conflict, story
from satlock.resolver.index import IndexClient
from satlock.resolver.indexprovider import IndexProvider
from satlock.resolver.matching import Matcher
from satlock.resolver.origin import Origin
from satlock.resolver.provider import CandidateList, Exclusion
from satlock.resolver.solve import Policy, RootRequirement, Solver, Unsatisfiable
from satlock.resolver.speculation import Speculation
from satlock.resolver.target import Target


class BuildEnvConflict(ResolutionError):
    """The build environment cannot take the runtime versions it must match.

    ``names``: the packages of its minimal conflict, the only ones whose runtime versions
    the verdict rests on (a runtime with the same versions of these conflicts the same
    way); ``None`` when not known.
    """

    def __init__(self, message: str, names: frozenset[NormalizedName] | None, story: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.names = names
        self.story = story


NO_WHEEL = "has no wheel for this platform, and satlock installs build requirements from wheels only"


class _WheelProvider(IndexProvider):
    """Only the versions with a wheel: a build environment installs wheels and never builds
    one (not even for a package with a profile), so an sdist-only version is left out with
    the reason, which the conflict story then gives, instead of being chosen and asked for
    a metadata build that a build environment cannot make."""

    def candidates(self, name: NormalizedName) -> CandidateList:
        listing = super().candidates(name)
        without = [c for c in listing.candidates if not c.wheels]
        if not without:
            return listing
        return CandidateList([c for c in listing.candidates if c.wheels],
                             listing.excluded + [Exclusion(str(c.version), NO_WHEEL) for c in without])


def resolve_build_requirements(client: IndexClient, target: Target, name: NormalizedName, requires: list[str],
                               pins: Mapping[NormalizedName, Version]) -> list[tuple[Candidate, DistFile]]:
    """Solve ``requires`` (the build requirements of ``name``) for ``target``; every package
    of the build environment that ``pins`` names takes that version. One wheel each."""
    reqs = [Requirement(r) for r in requires]
    match = Matcher(target.environment)
    by_url = [r for r in reqs if r.url and match.active(r.marker)]
    if by_url:
        # Not a conflict with the runtime (BuildEnvConflict would try another variant): no
        # version of anything makes this build environment, whatever it is built against.
        raise BuildError(f"{name} needs {by_url[0]} to build; satlock takes build requirements from the indexes only, "
                         "and never fetches a URL that a package's metadata names",
                         hint=f"build {name} yourself and name its wheel by path in the project's dependencies")
    constraints = [Requirement(f"{n}=={v}") for n, v in sorted(pins.items())]
    # The prefetch guesses each name's version by these requirements, as a lock guesses by
    # the project's: unguided, ``setuptools<60`` fetched the newest setuptools' metadata first.
    provider = _WheelProvider(client, target, pins={n: [str(v)] for n, v in pins.items()}, only=pins,
                              speculation=Speculation.of(reqs, target), pinned_by="the project's runtime")
    solver = Solver(provider, target.environment, Policy(constraints=constraints))
    try:
        with provider:
            resolution = solver.solve([RootRequirement(r, Origin.build(name)) for r in reqs])
    except Unsatisfiable as e:
        conflict = minimal_conflict(e.encoding)
        message = f"the build environment of {name} cannot be resolved: {explain(e.encoding, e.excluded, conflict=conflict)}"
        if constraints:
            # The refusal rests on the pins of the packages in the conflict alone: a runtime
            # with the same versions of those is refused the same way.
            raise BuildEnvConflict(message, conflict_names(e.encoding, conflict),
                                   tuple(story(e.encoding, e.excluded, conflict=conflict))) from None
        raise ResolutionError(message) from None
    out = []
    for dep in sorted(resolution.chosen):
        c = resolution.chosen[dep]
        if not c.wheels:
            raise BuildError(f"the build requirement {c} of {name} has no wheel for this platform",
                             hint=f"satlock does not build build requirements from source; pin a version of {c.name} with a wheel")
        out.append((c, c.wheels[0]))
    return out


def build_environment(client: IndexClient, target: Target, name: NormalizedName, requires: list[str],
                      pins: Mapping[NormalizedName, Version]) -> tuple[list[tuple[Candidate, DistFile]], BuildEnvSpec]:
    """The build requirements solved (see ``resolve_build_requirements``) and their wheels
    downloaded, as the spec of the environment to make."""
    packages = resolve_build_requirements(client, target, name, requires, pins)
    wheels = fetch_many(client.download, [w for _, w in packages])
    spec = BuildEnvSpec(tuple(EnvWheel(c.name, str(c.version), p, w.sha256 or "") for (c, w), p in zip(packages, wheels)))
    return packages, spec
