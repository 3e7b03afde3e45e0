"""The provider that reads real indexes: candidates from project pages, dependencies from metadata.

Candidates are grouped by version from the files an index lists, keeping only files the
target can use: wheels whose tags it supports and sdists, within their Requires-Python and
not yanked (a yanked version stays available to an ``==`` pin, PEP 592). Dependencies come,
cheapest first, from a profile's static ``metadata``, one wheel's METADATA (every wheel of
a version is assumed to declare the same dependencies, as uv and pip assume), an sdist's
PKG-INFO when it is Metadata 2.2+ and does not mark Requires-Dist dynamic (PEP 643), the
``[project]`` table of an sdist's or source tree's pyproject.toml when it declares them
statically (PEP 621, see ``pyprojectmeta``), and only then from a metadata build, which
the caller supplies as ``MetadataBuilder``.

A candidate whose metadata fails (its build, its build environment, its archive) is a
fact about that candidate: ``dependencies`` raises ``CandidateUnavailable`` and the solver
leaves it out. Not so for a direct reference or a profiled package, which the user named:
their failure is the lock's.
"""

from __future__ import annotations

import threading
from concurrent.futures import FIRST_COMPLETED, wait
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Protocol, Sequence, TypeVar

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from satlock.errors import BuildError, MetadataError, NetworkError, ProjectError, ResolutionError, SatlockError
from satlock.profiles.builds import AnyProfile, build_profile
from satlock.resolver.candidates import Candidate, DirectReference, DistFile, checked_filename, filename_from_url
from satlock.cache import digest
from satlock.parallel import WorkerPool
from satlock.resolver.coremeta import parse_metadata, read_sdist_files, run_reads, static_sdist_metadata
from satlock.resolver.index import IndexClient
from satlock.resolver.listing import candidates_from_files, read_cached, store_cached, wheel_for_another_target
from satlock.resolver.matching import evaluate_marker
from satlock.resolver.provider import CandidateList, CandidateUnavailable, Dependencies, Exclusion, unavailable_reason
from satlock.resolver.pyprojectmeta import static_metadata
from satlock.resolver.speculation import Speculation, likely
from satlock.resolver.target import Target
from satlock.resolver.variants import Unbuildable, Variant


_T = TypeVar("_T")
# What one candidate's metadata can fail with that says nothing about the others (its build or
# build environment fails, its archive or metadata is broken): it is left out, the solve goes on.
# Not an archive refused as unsafe: hostile input from an index stops the lock, loudly.
_CANDIDATE_FAULTS = (BuildError, ResolutionError, ProjectError, MetadataError)


class MetadataBuilder(Protocol):
    """Builds what the index cannot tell: metadata of source trees, and git commits."""

    def pin(self, name: NormalizedName, ref: DirectReference) -> DirectReference:
        """The reference with its exact identity (a git commit), for the lock."""

    def metadata(self, name: NormalizedName, source: DistFile | DirectReference) -> bytes:
        """The core metadata (METADATA file contents) of a source package, built through PEP 517."""

    def source_pyproject(self, name: NormalizedName, ref: DirectReference) -> bytes | None:
        """The pyproject.toml of a git source (None when it has none), read without a build."""

    def variant_metadata(self, name: NormalizedName, source: DistFile | DirectReference,
                         runtime: Mapping[NormalizedName, Version]) -> tuple[bytes, tuple[Candidate, ...], object] | Unbuildable:
        """The metadata of a build with the build requirements at the ``runtime`` versions
        where it has them, the build environment it ran in, and the builder's record of it;
        ``Unbuildable`` when the build environment cannot take those versions."""


class IndexProvider:
    """Candidates and dependencies for the target, from an ``IndexClient``."""

    def __init__(self, client: IndexClient, target: Target, *, builder: MetadataBuilder | None = None,
                 direct: Mapping[NormalizedName, DirectReference] | None = None,
                 profiles: Mapping[NormalizedName, AnyProfile] | None = None,
                 pins: Mapping[NormalizedName, Iterable[str]] | None = None, jobs: int = 16,
                 only: Mapping[NormalizedName, Version] | None = None, speculation: Speculation | None = None,
                 pinned_by: str = "project.dependencies") -> None:
        self.client = client
        self.target = target
        self.builder = builder
        self.direct = dict(direct or {})
        self.profiles = dict(profiles or {})
        self.pins = {n: {str(v) for v in vs} for n, vs in (pins or {}).items()}
        # Names that can only ever take one version: no other version is offered, so none
        # is fetched, not even speculatively. ``pinned_by`` says who pinned them, for the story.
        self.only, self.pinned_by = dict(only or {}), pinned_by
        self.jobs = jobs
        self.speculation = speculation or Speculation()
        self._lists: dict[NormalizedName, CandidateList] = {}
        self._deps: dict[tuple[str, str], Dependencies] = {}
        self._unavailable: dict[tuple[str, str], CandidateUnavailable] = {}
        self._lock = threading.Lock()
        self._variant_keys: set[tuple[str, str]] = set()
        self.built_without_profile: set[NormalizedName] = set()  # as pip builds: for the conflict story's hint
        # An index that failed after all retries (in prefetch, say) is not asked again in
        # this run: the real call re-raises at once instead of waiting out the retries twice.
        self._unreachable: dict[tuple[str, ...], NetworkError] = {}
        self._pool: WorkerPool | None = None

    # -- candidates ------------------------------------------------------------------

    def candidates(self, name: NormalizedName) -> CandidateList:
        with self._lock:
            if name in self._lists:
                return self._lists[name]
        with self._remembering_network_errors(("candidates", name)):
            listing = self._direct_candidate(name) if name in self.direct else self._index_candidates(name)
        pinned = self.only.get(name) if name not in self.direct else None
        keep = [c for c in listing.candidates if c.version == pinned] if pinned is not None else []
        if keep:
            # Every version left out is an exclusion: the conflict story looks among them for
            # the ones another requirement asks for, and the pin is why they are out. A pin no
            # installable version meets keeps the whole listing: the lock fails on the pin
            # anyway, and the story can then name the newest version to pin instead.
            listing = CandidateList(keep, listing.excluded + [Exclusion(str(c.version), f"{self.pinned_by} pins {name}=={pinned}")
                                                             for c in listing.candidates if c.version != pinned])
        with self._lock:
            return self._lists.setdefault(name, listing)

    @contextmanager
    def _remembering_network_errors(self, key: tuple[str, ...]) -> Iterator[None]:
        with self._lock:
            failed = self._unreachable.get(key)
        if failed is not None:
            raise NetworkError(failed.message, hint=failed.hint)
        try:
            yield
        except NetworkError as e:
            with self._lock:
                self._unreachable[key] = e
            raise

    def _direct_candidate(self, name: NormalizedName) -> CandidateList:
        ref = self.direct[name]
        if self.builder is not None:
            ref = self.builder.pin(name, ref)
        static = self._static_override(name)
        if static is not None and static[0] is not None:
            version = static[0]
        else:
            meta_name, version, deps = self._direct_metadata(name, ref)
            if canonicalize_name(meta_name) != name:
                raise MetadataError(f"{ref.display()} is the project {meta_name!r}, not {name!r}", hint="fix the name in the requirement")
        return CandidateList([Candidate(name, version, direct=ref)])

    def _direct_metadata(self, name: NormalizedName, ref: DirectReference) -> tuple[str, Version, Dependencies]:
        target = ref.url or ref.path or ""
        wheel = ref.is_wheel
        static = None if wheel else self._static_pyproject(name, self._direct_pyproject(name, ref))
        if static is not None:
            with self._lock:
                self._deps[(name, str(static[1]))] = self._with_build_needs(Candidate(name, static[1], direct=ref), static[2])
            return static
        if wheel:
            filename = filename_from_url(ref.url) if ref.url else checked_filename(Path(target).name, target)
            data = self.client.core_metadata(DistFile(filename=filename, url=_as_url(ref), hashes=dict(ref.hashes)))
        else:
            if self.builder is None:
                raise MetadataError(f"{name} comes from {ref.display()}, and its metadata needs a build", hint=f"add a profile with static metadata: satlock profile add {name} --version V --requires-dist ...")
            data = self.builder.metadata(name, ref)
        meta_name, version, deps = parse_metadata(data, f"{name} ({ref.display()})")
        if self._has_variants(name, version):
            deps = self._variant_base(Candidate(name, version, direct=ref))
        with self._lock:
            # What ``dependencies`` answers: with a no-isolation profile's build needs, as for an sdist.
            self._deps[(name, str(version))] = self._with_build_needs(Candidate(name, version, direct=ref), deps)
        return meta_name, version, deps

    def _direct_pyproject(self, name: NormalizedName, ref: DirectReference) -> bytes | None:
        """The pyproject.toml of a direct source, read without a build: from the folder, the
        archive, or (through the builder, which owns checkouts) the git checkout."""
        sub = f"{ref.subdirectory.strip('/')}/" if ref.subdirectory else ""
        if ref.kind == "directory":
            path = Path(ref.path or ".") / sub / "pyproject.toml"
            return path.read_bytes() if path.is_file() else None
        if ref.kind == "archive":
            if ref.url:
                archive = self.client.download(DistFile(filename=filename_from_url(ref.url, dist=False), url=ref.url, hashes=dict(ref.hashes)))
            else:
                archive = Path(ref.path or "")
            return read_sdist_files(str(archive), [f"{sub}pyproject.toml"], run_reads(self.client.cache)).get(f"{sub}pyproject.toml")
        if self.builder is None:
            return None
        return self.builder.source_pyproject(name, ref)

    def _static_pyproject(self, name: NormalizedName, data: bytes | None) -> tuple[NormalizedName, Version, Dependencies] | None:
        """PEP 621 static metadata, but not for a profiled package: its metadata build runs in the
        profile's environment, and the lock records that environment."""
        if data is None or name in self.profiles:
            return None
        return static_metadata(data)

    def _index_candidates(self, name: NormalizedName) -> CandidateList:
        """Candidates from the index, cached on disk under the page's fingerprint and the target."""
        pinned = sorted(self.pins.get(name, set()))
        key = digest(self.client.page_fingerprint(name), self.target.fingerprint, *pinned)
        cached = read_cached(self.client.cache, key, name, self.client.may_link)
        if cached is not None:
            return cached
        listing = candidates_from_files(name, self.client.project_table(name), self.target, self.pins.get(name, set()))
        store_cached(self.client.cache, key, listing)
        return listing

    # -- dependencies ------------------------------------------------------------------

    def _static_override(self, name: NormalizedName) -> tuple[Version | None, Dependencies] | None:
        m = build_profile(self.profiles, name).metadata
        if m is None:
            return None
        version = Version(m.version) if m.version else None
        rp = SpecifierSet(m.requires_python) if m.requires_python else None
        return version, Dependencies(tuple(Requirement(r) for r in m.requires_dist), rp, None)

    def dependencies(self, candidate: Candidate) -> Dependencies:
        key = candidate.key
        with self._lock:
            if key in self._deps:
                return self._deps[key]
            unavailable = self._unavailable.get(key)
        if unavailable is not None:
            raise unavailable
        try:
            with self._remembering_network_errors(("dependencies", *key)):
                deps = self._with_build_needs(candidate, self._fetch_dependencies(candidate))
        except _CANDIDATE_FAULTS as e:
            if not self._may_leave_out(candidate):
                raise
            unavailable = CandidateUnavailable(unavailable_reason(e))
            with self._lock:
                self._unavailable[key] = unavailable
            raise unavailable from None
        with self._lock:
            return self._deps.setdefault(key, deps)

    def _may_leave_out(self, candidate: Candidate) -> bool:
        """Whether a candidate whose metadata fails is just left out of the solve.

        Not one the user asked for by name: a direct reference (the only candidate of its
        package) or a package with a build profile, whose build failure is the answer.
        """
        return candidate.direct is None and candidate.name not in self.profiles

    def _with_build_needs(self, candidate: Candidate, deps: Dependencies) -> Dependencies:
        """A no-isolation package builds in the project environment, so what its profile's
        build-requires name must be installed there first: they join its requirements, and
        so the same solve and the same lock (match-runtime holds by construction)."""
        profile = build_profile(self.profiles, candidate.name)
        if profile.isolation or not profile.build_requires:
            return deps
        needs = tuple(Requirement(r) for r in profile.build_requires)
        return Dependencies(deps.requires + needs, deps.requires_python, deps.provides_extras)

    def profile_requirements(self) -> dict[NormalizedName, frozenset[str]]:
        """What ``_with_build_needs`` adds to each package's requirements, so a conflict
        story names them as its profile's, not as the package's own metadata."""
        return {name: frozenset(str(Requirement(r)) for r in profile.build_requires)
                for name, profile in self.profiles.items() if not profile.isolation and profile.build_requires}

    def _fetch_dependencies(self, c: Candidate) -> Dependencies:
        static = self._static_override(c.name)
        if static is not None and (static[0] is None or static[0] == c.version):
            return static[1]
        if c.direct is not None:
            return self._direct_metadata(c.name, c.direct)[2]
        if c.wheels:
            return self._of_wheel(self.client.core_metadata(c.wheels[0]), c.wheels[0].filename)
        sdist = c.sdist
        if sdist is None:
            raise MetadataError(f"{c} has no file to read metadata from")
        path = self.client.download(sdist)
        files = read_sdist_files(str(path), ["PKG-INFO", "pyproject.toml"], run_reads(self.client.cache))
        pkg_info = files.get("PKG-INFO")
        if pkg_info is not None and static_sdist_metadata(pkg_info):
            return self._checked(c, pkg_info, sdist.filename)
        static = self._static_pyproject(c.name, files.get("pyproject.toml"))
        if static is not None and static[:2] == (c.name, c.version):
            return static[2]
        # Not for a package with a build profile: the user said how it builds.
        other = None if c.name in self.profiles else wheel_for_another_target(c, self.client.project_files(c.name))
        if other is not None:
            return self._of_wheel(self.client.core_metadata(other), other.filename)
        if self.builder is None:
            raise MetadataError(f"{c} is an sdist without static metadata; its dependencies need a metadata build",
                                hint=f"add a profile: satlock profile add {c.name} --version {c.version} --requires-dist ...")
        if self._has_variants(c.name, c.version):
            return self._variant_base(c)
        if c.name not in self.profiles:
            self.built_without_profile.add(c.name)
        return self._checked(c, self.builder.metadata(c.name, sdist), sdist.filename)

    # -- build variants (resolver/variants.py) ---------------------------------------------

    def _has_variants(self, name: NormalizedName, version: Version) -> bool:
        """A version of a match-runtime package, whose dependencies depend on what it is built against:
        any but the one a profile's ``metadata`` names, never built before the runtime is known."""
        given = self._static_override(name)  # (the version it names, None for every one), or None
        return (self.builder is not None and build_profile(self.profiles, name).match_runtime
                and (given is None or given[0] not in (None, version)))

    def _variant_base(self, c: Candidate) -> Dependencies:
        """What such a candidate needs whatever it is built against; its variants add the rest."""
        with self._lock:
            self._variant_keys.add(c.key)
        return Dependencies()

    def builds_variants(self, candidate: Candidate) -> bool:
        with self._lock:
            return candidate.key in self._variant_keys

    def build_variant(self, candidate: Candidate, runtime: Mapping[NormalizedName, Version]) -> Variant | Unbuildable:
        assert self.builder is not None
        source = candidate.direct if candidate.direct is not None else candidate.sdist
        assert source is not None
        built = self.builder.variant_metadata(candidate.name, source, runtime)
        if isinstance(built, Unbuildable):
            return built
        data, environment, record = built
        what = f"{candidate} (built against {', '.join(str(c) for c in environment) or 'nothing'})"
        deps = self._checked(candidate, data, what)
        return Variant(environment, deps, record)

    @staticmethod
    def _of_wheel(data: bytes, what: str) -> Dependencies:
        """A wheel's dependencies: the index client has held its METADATA to the wheel's file name,
        and the lock's own check holds that name to the candidate (a changed cached listing)."""
        return parse_metadata(data, what)[2]

    def _checked(self, c: Candidate, data: bytes, what: str) -> Dependencies:
        """The dependencies in ``data``, an sdist's metadata (its PKG-INFO or a build's), which must
        be ``c``'s own: sync refuses a wheel built as another package, so such a candidate is never locked."""
        name, version, deps = parse_metadata(data, what)
        if canonicalize_name(name) != c.name or version != c.version:
            raise MetadataError(f"{what} says it is {name} {version}, not {c}", hint="the package is mislabelled; report it upstream")
        return deps

    def ready(self, candidate: Candidate) -> bool:
        with self._lock:
            return candidate.key in self._deps

    def prefetch(self, names: Iterable[NormalizedName], candidates: Sequence[Candidate]) -> None:
        """Fetch pages and metadata in parallel, speculating along the likely versions.

        For each new name, the page is fetched, then the metadata of the version the solver
        will most likely pick (``speculation.likely``), then (transitively) the pages of what that
        candidate needs for the target. The solver usually picks exactly those, so a cold
        lock waits once for the whole dependency tree instead of once per level of it.
        """
        new = [n for n in names if n not in self._lists]
        todo = [c for c in candidates if c.key not in self._deps]
        if not new and not todo:
            return
        environment = {**self.target.environment, "extra": ""}
        scheduled: set[NormalizedName] = set(self._lists) | set(new)

        def needs(deps: Dependencies | None) -> list[tuple[NormalizedName, SpecifierSet]]:
            if deps is None:
                return []
            return [(canonicalize_name(r.name), r.specifier) for r in deps.requires
                    if r.marker is None or evaluate_marker(r.marker, environment)]

        guess = self.speculation

        def walk(name: NormalizedName, specifier: SpecifierSet) -> list[tuple[NormalizedName, SpecifierSet]]:
            listing = self._quietly(self.candidates, name)
            specifier = guess.overrides.get(name, specifier)
            pick = likely(listing.candidates, specifier, guess.allow_prereleases) if listing else None
            if pick is None or pick.direct is not None or not pick.wheels:
                return []
            return needs(self._quietly(self.dependencies, pick))

        def expand(c: Candidate) -> list[tuple[NormalizedName, SpecifierSet]]:
            return needs(self._quietly(self.dependencies, c))

        pool = self._executor()
        pending = {pool.submit(walk, n, guess.roots.get(n, SpecifierSet())) for n in new} | {pool.submit(expand, c) for c in todo}
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                for name, specifier in future.result():
                    if name not in scheduled:
                        scheduled.add(name)
                        pending.add(pool.submit(walk, name, specifier))

    def close(self) -> None:
        """Stop the fetch threads: queued prefetches are cancelled, none is waited for.
        A provider is made per solve (one per build environment too), so each must let
        its threads go when its solve ends."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> "IndexProvider":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _executor(self) -> WorkerPool:
        self._pool = self._pool or WorkerPool(max_workers=self.jobs, name="satlock-fetch")
        return self._pool

    @staticmethod
    def _quietly(fn: Callable[[Any], _T], arg: Any) -> _T | None:
        """Prefetch is an optimisation: a failure here is raised again by the real call."""
        try:
            return fn(arg)
        except (SatlockError, CandidateUnavailable):
            return None


def _as_url(ref: DirectReference) -> str:
    if ref.url:
        return ref.url
    return Path(ref.path or "").resolve().as_uri()
