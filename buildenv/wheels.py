"""Wheels for ``satlock sync``: locked files fetched from the cache, source packages built.

A source package is built with its profile: isolated builds get a build environment of
exactly the packages recorded for it under ``[tool.satlock.build-environments]`` (pinned
with hashes, so every machine builds with the same inputs); no-isolation builds run with
the project's ``.venv`` interpreter, after ``sync`` has installed their build needs there.
Built wheels are cached by (source, profile, build environment), and ``SOURCE_DATE_EPOCH``
is fixed so the same inputs give the same wheel.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import zipfile
from functools import partial
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from packaging.pylock import Package, PackageArchive, PackageDirectory, PackageSdist, PackageVcs, Pylock
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name

from satlock.buildenv import gitsources, pep517, sources, wheelcache
from satlock.buildenv.cuda import template_context
from satlock.buildenv.buildinputs import locked_build_inputs
from satlock.buildenv.fetch import LockedFiles, dist_file
from satlock.buildenv.environment import BuildEnvSpec, EnvWheel, build_env_hash, ensure_build_env, interpreter_id
from satlock.buildenv.installed import installed_distributions
from satlock.buildenv.metadata import ProfileBuilder
from satlock.buildenv.syncplan import SyncItem
from satlock.buildenv.venv import Venv
from satlock.errors import BuildError, FileMissingError
from satlock.profiles.builds import AnyProfile, build_profile, profile_build_inputs, profile_key, template_requirements
from satlock.profiles.templates import expand_env, template_names
from satlock.cache import digest
from satlock.resolver.candidates import filename_from_url
from satlock.parallel import fetch_many
from satlock.resolver.buildenvs import BuildEnvironment, BuildPackage
from satlock.resolver.lockfile import locked_build_environments

# 1980-01-01: the earliest time a zip file can hold, used when the lock gives no upload time.
DEFAULT_EPOCH = 315532800



def _refuse_dangling(wheel: Path, name: NormalizedName, passing: Sequence[Path], isolated: bool) -> None:
    """Refuse an editable wheel whose code names a build environment this run removes.

    meson-python's editable loader runs the ninja (and meson) its build found, at every
    import; built in an environment that is gone once the sync ends, the project would fail
    to import right after a sync that said it installed it. Only the ``.pth`` and ``.py``
    members are read: they are what runs at import, while a compiled extension may name
    the headers it was compiled against without using them."""
    needles = {str(p).encode() for root in passing for p in (root, root.resolve())}
    if not needles:
        return
    # The folder itself or a path inside it, where the name ends (a separator, a quote, the
    # end of a line), not a sibling that merely starts with the same characters (env-data).
    pattern = re.compile(b"(?:" + b"|".join(map(re.escape, sorted(needles))) + rb""")(?![^/\\"'\s:;,)\]}>])""")
    with zipfile.ZipFile(wheel) as zf:
        naming = next((info.filename for info in zf.infolist()
                       if info.filename.endswith((".pth", ".py")) and pattern.search(zf.read(info))), None)
    if naming is None:
        return
    if isolated:
        where = "its isolated build environment"
        hint = (f"build it in .venv: list its build requirements in a dependency group (for meson-python: "
                f"meson-python, meson, ninja) and run `satlock profile add {name} --no-isolation`")
    else:
        where = "build tools .venv lacks"
        hint = f"list the build requirements of {name} in a dependency group, so that .venv holds them and the build uses those"
    raise BuildError(f"the editable build of {name} names {where} in {naming}, and satlock removes that environment "
                     "when the sync ends: imports of it would fail", hint=hint)


class LockedBuilder:
    """Builds what a lock names from source: the build callables ``execute_sync`` takes."""

    def __init__(self, lock: Pylock, lock_dir: Path, profile_builder: ProfileBuilder, files: LockedFiles,
                 inputs: Mapping[NormalizedName, Mapping[str, Any]] | None = None) -> None:
        """``files`` fetches what the builds need, sharing what the sync's wheel downloads
        verified; ``inputs`` are the build inputs (buildenv/buildinputs.py) of the lock's
        source packages, when the caller has them already (with the project's own)."""
        self.lock = lock
        self.lock_dir = lock_dir
        self.pb = profile_builder
        self.cache = profile_builder.cache
        self.files = files
        self.environments: Mapping[NormalizedName, BuildEnvironment] = locked_build_environments(lock)
        self.inputs = locked_build_inputs(lock) if inputs is None else inputs

    def build_needs(self, selected: set[NormalizedName]) -> dict[NormalizedName, set[NormalizedName]]:
        """No-isolation packages and the locked build requirements that must be in .venv before they build."""
        needs: dict[NormalizedName, set[NormalizedName]] = {}
        for name, env in self.environments.items():
            if not env.isolation:
                needs[name] = {p.name for p in env.packages} & selected
        for name in selected:
            # Keyed as ``build_wheel`` decides, by the profile: a no-isolation package whose
            # lock records no such environment (a static ``metadata`` override, so the lock
            # built nothing) still builds in .venv, after what its profile names is there.
            profile = build_profile(self.pb.project.profiles, name)
            if not profile.isolation:
                named = set()
                for text in [*profile.build_requires, *template_requirements(profile, dict.fromkeys(selected))]:
                    try:
                        named.add(canonicalize_name(Requirement(text).name))
                    except InvalidRequirement:
                        continue
                needs.setdefault(name, set()).update(named & selected)
        return needs

    def prepare(self, items: Sequence[SyncItem]) -> None:
        """Download and verify every source and every recorded build-environment wheel the
        builds of ``items`` need, so nothing is missing once ``.venv`` starts changing."""
        for item in items:
            if isinstance(item.source, PackageDirectory):
                # Nothing to fetch: checked only, not walked (the build walks it for its key).
                folder = self.lock_dir / item.source.path
                sources.local_folder(folder / item.source.subdirectory if item.source.subdirectory else folder)
            elif isinstance(item.source, PackageVcs):
                # The commit in the cache's mirror (fetched now if it lacks it): the checkout
                # is made from there by a build that needs it, not for a built wheel.
                self._git_commit(item.source)
            else:
                self._tree(item.package, item.source)
            recorded = self.environments.get(item.name)
            if recorded is not None:
                self._recorded_wheels(recorded.packages)

    def _tree(self, package: Package, source: Any) -> tuple[sources.SourceTree | None, Path | None]:
        if isinstance(source, PackageSdist):
            f = dist_file(source.filename, source.url, source.path, source.hashes, self.lock_dir, source.size)
            path = self.files.download(f, f"package {package.name}")
            return sources.from_sdist(path, f.sha256 or digest(f.url), self.cache), None
        if isinstance(source, PackageVcs):
            return gitsources.checkout(self._git_commit(source), self.cache), None
        if isinstance(source, PackageDirectory):
            folder = self.lock_dir / source.path
            return sources.from_directory(folder / source.subdirectory if source.subdirectory else folder), None
        assert isinstance(source, PackageArchive)
        filename = filename_from_url(source.url, dist=False) if source.url else Path(source.path or "").name
        try:
            path = self.files.download(dist_file(filename, source.url, source.path, source.hashes, self.lock_dir), f"package {package.name}")
        except FileMissingError as e:
            # An archive is the project's own URL, not a file an index lists: --refresh cannot help.
            raise FileMissingError(e.message, hint=f"check the URL the project gives for {package.name} (a `name @ URL` "
                                                   "requirement or [tool.satlock.sources]), then run `satlock lock`") from None
        if filename.endswith(".whl"):
            return None, path
        return sources.from_sdist(path, source.hashes.get("sha256") or digest(str(path)), self.cache), None

    def _git_commit(self, source: PackageVcs) -> gitsources.GitCommit:
        return gitsources.git_commit(source.url or str(self.lock_dir / (source.path or "")), source.commit_id, self.cache,
                                     source.subdirectory)

    def _recorded_wheels(self, packages: Sequence[BuildPackage]) -> tuple[EnvWheel, ...]:
        files = [dist_file(p.filename, p.url, None, dict(p.hashes), self.lock_dir) for p in packages]
        paths = fetch_many(lambda f: self.files.download(f, "a build environment package"), files)
        return tuple(EnvWheel(p.name, p.version, path, f.sha256 or "") for p, f, path in zip(packages, files, paths))

    def _isolated_spec(self, name: NormalizedName, system: Callable[[], pep517.BuildSystem]) -> BuildEnvSpec:
        """What the isolated build environment holds: the lock's record, else ``system``'s requires."""
        recorded = self.environments.get(name)
        if recorded is not None:
            return BuildEnvSpec(self._recorded_wheels(recorded.packages))
        # Nothing recorded (the lock could not resolve it: -v says why): solved here as the
        # lock would, with the profile's build-requires and templates at the locked versions
        # under match-runtime, so a refusal names the conflict instead of the build failing
        # on an import the profile provides.
        profile = build_profile(self.pb.project.profiles, name)
        runtime = {p.name: p.version for p in self.lock.packages if p.version is not None}
        requires, pins = profile_build_inputs(system().requires, profile, runtime)
        _packages, spec = self.pb.environment_spec(name, requires, None, pins)
        return spec

    def _editable_env(self, name: NormalizedName, tree: sources.SourceTree, base: Venv, base_key: str,
                      profile: AnyProfile, logs: Path) -> tuple[Venv, str]:
        """The isolated environment for a PEP 660 build: ``base`` plus what the backend's
        ``get_requires_for_build_editable`` asks for (the lock recorded the wheel build's
        environment only; a local folder has no hash to keep frozen anyway)."""
        env = expand_env(profile.env, template_context(base, where=f"the build environment of {name}"), profile=name)
        extra = pep517.get_requires_for_build_wheel(tree.path, python=base.python, env=env, config_settings=profile.config_settings,
                                                    log_path=logs, package=name, echo=self.pb.echo, editable=True)
        if not extra:
            return base, base_key
        recorded = self.environments.get(name)
        requires = [f"{p.name}=={p.version}" for p in recorded.packages] if recorded is not None \
            else list(sources.build_system(tree, self.cache).requires)
        _packages, spec = self.pb.environment_spec(name, requires + extra, None)
        return ensure_build_env(spec, self.cache, base_python=self.pb.python), build_env_hash(spec, self.pb.python)

    def build_wheel(self, package: Package, source: Any, venv: Venv) -> Path:
        name = package.name
        found = self._git_commit(source) if isinstance(source, PackageVcs) else None
        tree: sources.SourceTree | None = None
        if found is not None:
            # A git source's key is its commit: a wheel built from it before needs no checkout
            # (whose cost grows with the repository's history), nor a build environment.
            key, system = found.key, partial(gitsources.git_build_system, found, self.cache)
        else:
            tree, ready = self._tree(package, source)
            if ready is not None:
                return ready
            assert tree is not None
            key, system = tree.key, partial(sources.build_system, tree)
        profile = build_profile(self.pb.project.profiles, name)
        isolated = profile.isolation
        spec = self._isolated_spec(name, system) if isolated else None
        env_key = build_env_hash(spec, self.pb.python) if spec is not None else self._project_env_key(name, venv, profile)
        # An editable wheel points at the folder rather than holding a copy of it: its cache
        # key adds the folder's path (the tree's key is its files only, wherever it lies).
        editable = tree is not None and isinstance(source, PackageDirectory) and bool(source.editable)
        phash = digest(profile_key(profile), "editable", str(tree.path)) if tree is not None and editable else profile_key(profile)
        logs = self.cache.path("logs", f"{name}-{digest(key, phash)}-wheel.log")
        logs.parent.mkdir(parents=True, exist_ok=True)
        build_venv: Venv | None = None
        if tree is not None and editable and spec is not None:
            base = ensure_build_env(spec, self.cache, base_python=self.pb.python)
            build_venv, env_key = self._editable_env(name, tree, base, env_key, profile, logs)
        cached = wheelcache.cached_wheel(self.cache, key, phash, env_key)
        if cached is not None:
            return cached
        if tree is None:
            assert found is not None
            tree = gitsources.checkout(found, self.cache)
        if build_venv is None:
            build_venv = venv if spec is None else ensure_build_env(spec, self.cache, base_python=self.pb.python)
        # Environments this run removes when it ends: an editable wheel must not name them.
        passing: list[Path] = [build_venv.root] if isolated else []
        if isolated:
            env = expand_env(profile.env, template_context(build_venv, where=f"the build environment of {name}"), profile=name)
        else:
            tools, paths = self._build_only_tools(name, venv)
            passing += [tools.root] if tools is not None else []
            # .venv stays; the environment of the build-only tools is a temporary folder.
            where = f"{venv.root}" + (f" or the build-only tools of {name}" if tools is not None else "")
            own = expand_env(profile.env, template_context(build_venv, fallback=tools, where=where), profile=name)
            # A PYTHONPATH or PATH of the profile's comes first, the build-only tools' after it:
            # replacing them would hide setuptools from a build that locked fine.
            env = {**paths, **own, **{key: os.pathsep.join([own[key], paths[key]]) for key in own.keys() & paths.keys()}}
        out = Path(tempfile.mkdtemp(prefix="satlock-wheel-"))
        epoch = DEFAULT_EPOCH
        if isinstance(source, PackageSdist) and source.upload_time is not None:
            epoch = int(source.upload_time.timestamp())
        try:
            with sources.unpacked_to_build(tree, self.cache) as building:
                wheel = pep517.build_wheel(building.path, python=build_venv.python, env=env,
                                           config_settings=profile.config_settings,
                                           out_dir=out, log_path=logs, package=name, source_date_epoch=epoch,
                                           echo=self.pb.echo, editable=editable)
            if editable:
                _refuse_dangling(wheel, name, passing, isolated)
            return wheelcache.store_wheel(self.cache, key, phash, env_key, wheel)
        finally:
            shutil.rmtree(out, ignore_errors=True)

    def _project_env_key(self, name: NormalizedName, venv: Venv, profile: AnyProfile) -> str:
        """A no-isolation build's cache key: its recorded build inputs (the versions and hashes
        of what it builds against in .venv) and the interpreter, so a wheel built against other
        versions is never reused; the folder of .venv only where the profile's env has
        templates, so projects share the wheels of every other build.

        Templates ({venv}, {python}, {cuda-home}, {dist:NAME}) expand to paths in this .venv,
        or in the build-only tools' environment where .venv lacks what they name, and a build
        may bake them into its wheel (an rpath, a config file): reused, such a wheel would
        point into another project's .venv, or at the temporary toolkit of a lock-time build
        after sync installed the toolkit into .venv."""
        inputs = self.inputs.get(name)
        if inputs is None:
            # Nothing recorded (a package without a profile): key by every distribution in .venv.
            present = sorted((n, d.version) for n, d in installed_distributions(venv).items() if n != name)
            key = digest("no-isolation", repr(present), interpreter_id(venv.python))
        else:
            key = digest("no-isolation", inputs["identity"], interpreter_id(venv.python))
        if not any(template_names(value) for value in profile.env.values()):
            return key
        from_tools = sorted(p.name for p in self._lacking(name, venv))
        return digest(key, str(venv.root.resolve()), repr(from_tools))

    def _lacking(self, name: NormalizedName, venv: Venv) -> list[BuildPackage]:
        """The packages of ``name``'s recorded build environment that .venv does not hold:
        a no-isolation build takes them from the build-only tools' environment."""
        recorded = self.environments.get(name)
        if recorded is None:
            return []
        present = set(installed_distributions(venv))
        return [p for p in recorded.packages if p.name not in present]

    def _build_only_tools(self, name: NormalizedName, venv: Venv) -> tuple[Venv | None, dict[str, str]]:
        """The environment of build-only tools of a no-isolation build, and the PYTHONPATH and
        PATH that put it after .venv: the build runs with .venv, where the lock installed its
        runtime build needs (torch), but tools it needs only to build (setuptools, ninja, and
        the CUDA toolkit wheels of an extra this sync leaves out) are not in the lock's
        selection. Those recorded packages that .venv lacks come from a build environment,
        so the build uses the same versions the lock's metadata build used, and .venv keeps
        exactly what the lock selects. (None, {}) when .venv has them all."""
        missing = self._lacking(name, venv)
        if not missing:
            return None, {}
        tools = ensure_build_env(BuildEnvSpec(self._recorded_wheels(missing)), self.cache, base_python=venv.python)
        paths = [str(tools.purelib)] + ([str(tools.platlib)] if tools.platlib != tools.purelib else [])
        return tools, {"PYTHONPATH": os.pathsep.join(paths),
                       "PATH": os.pathsep.join(filter(None, [str(venv.scripts), str(tools.scripts), os.environ.get("PATH", "")]))}
