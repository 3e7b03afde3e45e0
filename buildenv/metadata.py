"""Metadata builds during ``satlock lock``, with the package's build profile applied.

A source package without static metadata is prepared through PEP 517
``prepare_metadata_for_build_wheel`` in a real build environment: the backend's
``build-system.requires`` plus the profile's ``build-requires``, resolved by the same
solver for the same target, installed from wheels into a cached virtual environment, and
run with the profile's ``env`` (templates such as ``{cuda-home}`` expanded against that
environment). During ``lock`` a no-isolation package's metadata is prepared the same way,
in an environment that holds exactly the build requirements it will find in ``.venv``.

match-runtime: the build requirements take the versions the lock picks for the runtime.
The solver asks for such a build once its solution is otherwise known
(``variant_metadata``, see resolver/variants.py), with the runtime versions as
constraints on the whole build environment; each build is one variant of the package in
the CNF, so a build that disagrees with the rest is an ordinary conflict. The
distributions a profile's env templates refer to (``{dist:NAME}``, and the CUDA toolkit
wheels behind ``{cuda-home}``) join the build environment at their runtime versions.
Every build is cached by (source, profile, build environment), so a second lock builds
nothing.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Sequence

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from satlock.buildenv.lockrecord import BuildKey, BuildRecord, build_key, build_source, lock_table
from satlock.cache import Cache, digest
from satlock.errors import BuildError, MetadataError, NotFoundError, ResolutionError, UnsafeArchiveError
from satlock.profiles.builds import (AnyProfile, build_profile, is_toolkit_distribution, profile_build_inputs, profile_key,
                                     uses_cuda_home)
from satlock.profiles.templates import expand_env
from satlock.resolver.buildenvs import BuildEnvironment
from satlock.resolver.candidates import Candidate, DirectReference, DistFile, filename_from_url
from satlock.resolver.coremeta import parse_metadata
from satlock.resolver.index import IndexClient
from satlock.resolver.project import Project
from satlock.resolver.solve import Resolution
from satlock.resolver.target import Target, make_target
from satlock.resolver.variants import Unbuildable

if TYPE_CHECKING:
    from satlock.buildenv import sources
    from satlock.buildenv.environment import BuildEnvSpec
    from satlock.buildenv.gitsources import GitCommit
    from satlock.buildenv.pep517 import BuildSystem

# The build machinery (PEP 517 hooks, build environments, source trees, CUDA lookup) is
# imported by the methods that build: a lock whose packages all have wheels or static
# metadata never loads it.


class ProfileBuilder:
    """Implements ``resolver.indexprovider.MetadataBuilder`` with buildenv and the project's profiles."""

    def __init__(self, project: Project, client: IndexClient, cache: Cache, *, log: Callable[[str], None] = lambda _m: None,
                 python: Path | None = None, echo: bool = False, target: Target | None = None) -> None:
        self.project = project
        self.client = client
        self.cache = cache
        self.log = log
        self.python = python or Path(sys.executable)
        # The interpreter build environments are made from and resolved for (``python``).
        self.target = target
        self.echo = echo
        # Every metadata build of this run, by what it built: a lock may build versions it
        # does not take (the solver moved away from them), whose records are not the lock's.
        self.records: dict[BuildKey, BuildRecord] = {}
        # The commit each git source's revision names, found once per run: pinning it, reading
        # its pyproject.toml and keying its metadata build each asked the mirror again.
        self._commits: dict[tuple[str, str | None, str | None], GitCommit] = {}
        self._git_build_systems: dict[GitCommit, BuildSystem] = {}

    # -- MetadataBuilder -------------------------------------------------------------

    def pin(self, name: NormalizedName, ref: DirectReference) -> DirectReference:
        if ref.kind != "vcs" or ref.commit_id:
            return ref
        return replace(ref, commit_id=self._git_commit(ref).commit)

    def metadata(self, name: NormalizedName, source: DistFile | DirectReference) -> bytes:
        """A build before the runtime solution is known. Under match-runtime, build
        requirements the project pins with ``==`` take that version (so a pinned build
        requirement is never fetched at another) and the rest are resolved freely; without
        it (and for a package without a profile) all are resolved freely, at the newest."""
        data, record = self._build_metadata(name, source, self._root_pins(), toolkit=self._root_toolkit())
        try:
            version = parse_metadata(data, f"{name} (built)")[1]
        except MetadataError:
            pass  # the provider refuses the candidate for it, with the same words
        else:
            self.records[build_key(name, version, source)] = record
        return data

    def variant_metadata(self, name: NormalizedName, source: DistFile | DirectReference,
                         runtime: Mapping[NormalizedName, Version]) -> tuple[bytes, tuple[Candidate, ...], BuildRecord] | Unbuildable:
        from satlock.buildenv.buildreqs import BuildEnvConflict

        try:
            data, record = self._build_metadata(name, source, runtime)
        except BuildEnvConflict as e:
            self.log(f"{name} cannot be built against the runtime versions: {e.message}")
            return Unbuildable(e.names, e.story)
        return data, tuple(c for c, _ in record.packages), record

    def _root_pins(self) -> dict[NormalizedName, Version]:
        pins: dict[NormalizedName, Version] = {}
        for root in self.project.root_requirements():
            exact = [s.version for s in root.requirement.specifier if s.operator == "==" and "*" not in s.version]
            if len(exact) == 1:
                pins[canonicalize_name(root.requirement.name)] = Version(exact[0])
        return pins

    def _root_toolkit(self) -> list[NormalizedName]:
        """The CUDA toolkit wheels the project requires (of any extra or group), by name: before
        the runtime is known, what a ``{cuda-home}`` brings. ``_root_pins`` names only those
        pinned with ``==``, so a project requiring ``nvidia-cuda-nvcc>=13`` built a
        no-match-runtime package (or a git source, before its variants) without nvcc."""
        return sorted({canonicalize_name(root.requirement.name) for root in self.project.root_requirements()
                       if is_toolkit_distribution(root.requirement.name)})

    def _build_metadata(self, name: NormalizedName, source: DistFile | DirectReference,
                        runtime: Mapping[NormalizedName, Version], toolkit: Sequence[NormalizedName] = ()
                        ) -> tuple[bytes, BuildRecord]:
        from satlock.buildenv import pep517, sources, wheelcache
        from satlock.buildenv.buildreqs import BuildEnvConflict
        from satlock.buildenv.cuda import template_context
        from satlock.buildenv.environment import ensure_build_env

        key, system = self._key_and_build_system(source)
        profile = build_profile(self.project.profiles, name)
        requires, pins = profile_build_inputs(system.requires, profile, runtime)
        if toolkit and uses_cuda_home(profile):
            # Before the runtime is known: the toolkit wheels the project names, where ``runtime``
            # (its ``==`` pins) did not bring them, at the newest versions.
            named = {canonicalize_name(Requirement(r).name) for r in requires}
            requires = [*requires, *(n for n in toolkit if n not in named)]
        phash = profile_key(profile)
        packages, spec = self.environment_spec(name, requires, profile, pins)
        # A {cuda-home} that cannot be assembled names the environment so: it is a temporary folder.
        where = f"the build environment of {name}"
        # One log per build environment: builds of one package against other versions
        # (its variants) must not write over each other's log.
        logs = self.cache.path("logs", f"{name}-{digest(key, phash, spec.spec_hash)}.log")
        logs.parent.mkdir(parents=True, exist_ok=True)
        dynamic_key = digest(key, phash, spec.spec_hash)
        dynamic = _cached_requirements(self.cache, DYNAMIC_BUCKET, dynamic_key)
        if dynamic is None:
            venv = ensure_build_env(spec, self.cache, base_python=self.python)
            env = expand_env(profile.env, template_context(venv, where=where), profile=name)
            with _naming_the_environment(packages), sources.unpacked_to_build(self._tree(source), self.cache) as building:
                asked = pep517.get_requires_for_build_wheel(building.path, python=venv.python, env=env, log_path=logs,
                                                            package=name, echo=self.echo,
                                                            config_settings=profile.config_settings)
            dynamic = [Requirement(r) for r in asked]
            self.cache.write_sealed(DYNAMIC_BUCKET, dynamic_key, "\n".join(asked).encode())
        have = {c.name for c, _ in packages}
        extra = [str(r) for r in dynamic if canonicalize_name(r.name) not in have]
        if extra:
            # PEP 517: what get_requires_for_build_wheel asks for is installed before the build.
            requires = requires + extra
            try:
                packages, spec = self.environment_spec(name, requires, profile, pins)
            except BuildEnvConflict as e:
                # What the hook asked for came from the environment solved first, so the
                # verdict rests on the versions that solve read too: not known here.
                raise BuildEnvConflict(e.message, None, e.story) from None
        record = BuildRecord(requires, packages, profile.isolation)
        cached = wheelcache.cached_metadata(self.cache, key, phash, spec.spec_hash)
        if cached is not None:
            return cached, record
        self.log(f"building metadata of {name} in an environment with {', '.join(f'{c.name}=={c.version}' for c, _ in packages) or 'nothing'}")
        venv = ensure_build_env(spec, self.cache, base_python=self.python)
        env = expand_env(profile.env, template_context(venv, where=where), profile=name)
        out = Path(tempfile.mkdtemp(prefix="satlock-meta-"))
        try:
            with _naming_the_environment(packages), sources.unpacked_to_build(self._tree(source), self.cache) as building:
                dist_info = pep517.prepare_metadata(building.path, python=venv.python, env=env,
                                                    config_settings=profile.config_settings,
                                                    log_path=logs, package=name, out_dir=out, echo=self.echo)
            data = (dist_info / "METADATA").read_bytes()
        finally:
            shutil.rmtree(out, ignore_errors=True)
        wheelcache.store_metadata(self.cache, key, phash, spec.spec_hash, data)
        return data, record

    def source_pyproject(self, name: NormalizedName, ref: DirectReference) -> bytes | None:
        """A git source's pyproject.toml, read without a checkout (gitsources.read_git_file)."""
        from satlock.buildenv import gitsources

        return gitsources.read_git_file(self._git_commit(ref), "pyproject.toml", self.cache)

    def _git_commit(self, ref: DirectReference) -> GitCommit:
        """The commit a git reference names (its commit id, else its revision), once per run."""
        from satlock.buildenv import gitsources

        key = (ref.url or "", ref.commit_id or ref.requested_revision, ref.subdirectory)
        found = self._commits.get(key)
        if found is None:
            found = self._commits[key] = gitsources.git_commit(key[0], key[1], self.cache, ref.subdirectory)
        return found

    def _key_and_build_system(self, source: DistFile | DirectReference) -> tuple[str, BuildSystem]:
        """The source's key and its [build-system]: for git, read from the mirror without the
        checkout, which only a build needs (its cost grows with the repository's history)."""
        from satlock.buildenv import gitsources, sources

        if isinstance(source, DirectReference) and source.kind == "vcs":
            found = self._git_commit(source)
            system = self._git_build_systems.get(found)
            if system is None:
                # Read for each metadata build and again for the lock's record: once is enough.
                system = self._git_build_systems[found] = gitsources.git_build_system(found, self.cache)
            return found.key, system
        tree = self._tree(source)
        return tree.key, sources.build_system(tree, self.cache)

    # -- helpers ---------------------------------------------------------------------

    def _tree(self, source: DistFile | DirectReference) -> sources.SourceTree:
        from satlock.buildenv import gitsources, sources

        if isinstance(source, DistFile):
            path = self.client.download(source)
            return sources.from_sdist(path, source.sha256 or digest(source.url), self.cache)
        if source.kind == "vcs":
            return gitsources.from_git(source.url or "", source.commit_id or source.requested_revision, self.cache,
                                       source.subdirectory)
        if source.kind == "directory":
            folder = Path(source.path or ".")
            return sources.from_directory(folder / source.subdirectory if source.subdirectory else folder)
        if source.url:
            filename = filename_from_url(source.url, dist=False)
            path = self.client.download(DistFile(filename=filename, url=source.url, hashes=dict(source.hashes)))
        else:
            path = Path(source.path or "")
        sha = dict(source.hashes).get("sha256") or digest(str(path))
        return sources.from_sdist(path, sha, self.cache)

    def environment_spec(self, name: NormalizedName, requires: list[str], profile: AnyProfile | None,
                         pins: Mapping[NormalizedName, Version] | None = None) -> tuple[list[tuple[Candidate, DistFile]], BuildEnvSpec]:
        """The build requirements solved for this interpreter (at the ``pins`` versions where
        they appear) and their wheels downloaded (buildenv/buildreqs.py). ``profile`` is
        not read: what it adds is in ``requires`` and ``pins`` already."""
        from satlock.buildenv.buildreqs import build_environment

        return build_environment(self.client, self.target or make_target(), name, requires, pins or {})

    # -- the lock's record ----------------------------------------------------------------

    def locked_build_environments(self, resolution: Resolution) -> dict[NormalizedName, BuildEnvironment]:
        """``[tool.satlock.build-environments]``: the build inputs of every source package the
        lock installs, pinned with hashes (for a package with variants, the build of the
        chosen variant; else the build of the locked version from the locked source, never
        that of another version the solver built and left), so ``sync --frozen`` never
        needs an index to build."""
        records: dict[NormalizedName, BuildRecord] = {}
        for name, variant in resolution.variants.items():
            if isinstance(variant.build, BuildRecord):
                records[name] = variant.build
        runtime = {name: c.version for name, c in resolution.chosen.items()}
        for name, c in resolution.chosen.items():
            source = build_source(c)
            if name in records or source is None:
                continue
            built = self.records.get(build_key(name, c.version, source)) if name in self.project.profiles else None
            if built is not None:
                records[name] = built
                continue
            # Not built while locking (static metadata, or a profile's ``metadata``): sync
            # builds from this record, so it is made as a build would be, with the
            # profile's build-requires and templates, at the runtime's versions under
            # match-runtime, and its isolation (it held only build-system.requires).
            # Resolved only, as the project's own below: sync fetches and checks the wheels.
            # (Imported here: a lock of wheels alone never loads the build machinery.)
            from satlock.buildenv.buildreqs import resolve_build_requirements

            profile = build_profile(self.project.profiles, name)
            try:
                requires, pins = profile_build_inputs(self._key_and_build_system(source)[1].requires, profile, runtime)
                packages = resolve_build_requirements(self.client, self.target or make_target(), name, requires, pins)
            except (ResolutionError, NotFoundError, BuildError, UnsafeArchiveError) as e:
                # Not every lock is for a machine that builds (another platform, an index
                # without the backend), and a lock need not unpack an sdist it reads
                # PKG-INFO from: then sync resolves (or refuses) the build itself.
                self.log(f"the build environment of {name} is not recorded: {e.message}")
                continue
            records[name] = BuildRecord(requires, packages, profile.isolation)
        names = set(resolution.chosen)
        project = self.project.name
        if project is not None and self.project.build_requires is not None and project not in names:
            # The project itself, which ``sync`` installs editable: its build environment
            # too is pinned, so a frozen sync builds it with what the lock names.
            from satlock.buildenv.buildreqs import resolve_build_requirements

            # Its own profile counts as any package's does: what it adds to the build
            # environment (torch for a CUDA extension), at the runtime versions with
            # match-runtime, and whether it builds in .venv.
            profile = build_profile(self.project.profiles, project)
            requires, pins = profile_build_inputs([str(r) for r in self.project.build_requires], profile, runtime)
            try:
                # Resolved only, not downloaded: the lock needs their URLs and hashes, and a
                # sync that installs the project fetches (and checks) them.
                packages = resolve_build_requirements(self.client, self.target or make_target(), project, requires, pins)
            except (ResolutionError, NotFoundError, BuildError) as e:
                self.log(f"the build environment of the project {project} is not recorded: {e.message}")
            else:
                records[project] = BuildRecord(requires, packages, profile.isolation)
                names.add(project)
        return lock_table(records, names)


# What get_requires_for_build_wheel answered, by source, profile and build environment.
DYNAMIC_BUCKET = "dynamic-build-requires-v2"


def _cached_requirements(cache: Cache, bucket: str, key: str) -> list[Requirement] | None:
    """A cached list of build requirements, or None (a miss) unless every line is a valid
    requirement that names no URL: the cache is untrusted, and a hook asked again costs
    seconds, while an entry planted there would choose what the build environment holds."""
    raw = cache.read_sealed(bucket, key)
    if raw is None:
        return None
    try:
        requirements = [Requirement(line) for line in raw.decode("utf-8").splitlines() if line]
    except (UnicodeDecodeError, InvalidRequirement):
        requirements = None
    if requirements is None or any(r.url for r in requirements):
        cache.discard(bucket, key)
        return None
    return requirements


@contextlib.contextmanager
def _naming_the_environment(packages: Sequence[tuple[Candidate, Any]]) -> Iterator[None]:
    """A failed build says what it was built against: with match-runtime that is the
    versions the solution picked, and the user needs them to see why it failed."""
    try:
        yield
    except BuildError as e:
        against = ", ".join(f"{c.name} {c.version}" for c, _ in packages) or "nothing"
        first, sep, rest = e.message.partition("\n")
        raise BuildError(f"{first} (built against {against}){sep}{rest}", hint=e.hint) from None
