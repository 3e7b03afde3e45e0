"""``{cuda-home}``: a CUDA toolkit folder made from the nvidia wheels in an environment.

Builds of CUDA extensions look for ``$CUDA_HOME/bin/nvcc``, ``include/`` and
``lib64/``. The CUDA 13 wheels (nvidia-cuda-nvcc, -runtime, -crt, nvidia-nvvm) install
into one shared prefix, ``site-packages/nvidia/cu13``, which already is such a folder.
The CUDA 12 wheels put each component in its own folder (``nvidia/cuda_nvcc``,
``nvidia/cuda_runtime``...), so those are merged into a tree of symlinks inside the
environment. Everything is found from the distributions' RECORD files, so a new layout
with ``bin/nvcc`` somewhere keeps working.
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Sequence

from packaging.utils import canonicalize_name

from satlock.buildenv.venv import Venv
from satlock.errors import BuildError
from satlock.profiles.builds import is_toolkit_distribution
from satlock.profiles.templates import TemplateContext, dist_location

MERGED_DIR = "satlock-cuda-home"
NVCC_NAMES = ("nvcc", "nvcc.exe")
TOOLKIT_DIRS = ("bin", "include", "lib", "lib64", "nvvm")
_SKIP = {"__init__.py", "__pycache__"}


def _name(dist: metadata.Distribution) -> str:
    return canonicalize_name(dist.metadata["Name"] or "") if dist.metadata else ""


def _relative(dist: metadata.Distribution) -> list[tuple[str, ...]]:
    """The parts of each file ``dist`` installed inside ``site_packages``."""
    out = []
    for f in dist.files or []:
        parts = f.parts
        if parts and ".." not in parts and not parts[0].endswith(".dist-info"):
            out.append(tuple(parts))
    return out


def _nvcc_prefix(dists: list[metadata.Distribution], site_packages: Path) -> tuple[Path, metadata.Distribution] | None:
    for dist in dists:
        for parts in _relative(dist):
            if len(parts) >= 2 and parts[-2] == "bin" and parts[-1] in NVCC_NAMES:
                nvcc = site_packages.joinpath(*parts)
                if nvcc.is_file():
                    return nvcc.parent.parent, dist
    return None


def _component_prefixes(dists: list[metadata.Distribution], site_packages: Path) -> list[Path]:
    """Folders holding a ``bin``/``include``/``lib``/``nvvm`` of some CUDA component."""
    prefixes: list[Path] = []
    for dist in dists:
        for parts in _relative(dist):
            for i in range(1, len(parts) - 1):
                if parts[i] in TOOLKIT_DIRS:
                    prefix = site_packages.joinpath(*parts[:i])
                    if prefix not in prefixes:
                        prefixes.append(prefix)
                    break
    return sorted(prefixes)


def _link_merged(sources: list[Path], dest: Path) -> None:
    """Fill ``dest`` with links to every entry of ``sources``; a folder present in
    several sources becomes a real folder merged the same way; the first source wins
    a clash between files."""
    dest.mkdir(parents=True, exist_ok=True)
    names: dict[str, list[Path]] = {}
    for source in sources:
        for entry in sorted(source.iterdir()):
            if entry.name not in _SKIP:
                names.setdefault(entry.name, []).append(entry)
    for name, entries in names.items():
        folders = [e for e in entries if e.is_dir()]
        if len(folders) > 1:
            _link_merged(folders, dest / name)
        else:
            os.symlink(entries[0], dest / name)


def _add_unversioned_libraries(lib: Path) -> None:
    """Wheels cannot hold symlinks, so ``libcudart.so.12`` comes without the
    ``libcudart.so`` that ``-lcudart`` looks for; add it."""
    for entry in list(lib.iterdir()):
        name = entry.name
        if ".so." in name:
            plain = lib / name[: name.index(".so.") + 3]
            if not plain.exists() and not plain.is_symlink():
                os.symlink(entry.resolve(), plain)


def _build_merged(prefixes: list[Path], home: Path) -> None:
    home.mkdir()
    by_dir: dict[str, list[Path]] = {}
    for prefix in prefixes:
        for sub in TOOLKIT_DIRS:
            if (prefix / sub).is_dir():
                by_dir.setdefault("lib64" if sub == "lib" else sub, []).append(prefix / sub)
    for sub, sources in by_dir.items():
        _link_merged(sources, home / sub)
    if (home / "lib64").is_dir():
        _add_unversioned_libraries(home / "lib64")
        os.symlink("lib64", home / "lib")


def _replace_dir(build: Path, target: Path) -> None:
    """Put the finished tree ``build`` at ``target``, replacing an older one."""
    if target.is_symlink() or target.is_file():
        target.unlink()
    elif target.exists():
        trash = Path(tempfile.mkdtemp(prefix=f".{target.name}-old-", dir=target.parent))
        os.replace(target, trash / target.name)
        shutil.rmtree(trash)
    os.replace(build, target)


def _links(root: Path) -> dict[str, str] | None:
    """What the tree of links at ``root`` holds (each entry's path and where it links, or
    ``/`` for a folder), or None when there is no such folder."""
    if root.is_symlink() or not root.is_dir():
        return None
    out: dict[str, str] = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder, name)
            out[path.relative_to(root).as_posix()] = os.readlink(path) if path.is_symlink() else "/"
    return out


def _put_tree(build: Path, target: Path) -> None:
    """Put the finished tree ``build`` at ``target`` unless the same tree is there already.

    An environment can be shared (the project's .venv by two syncs, a build environment by
    the builds of one run), and one build may be using this CUDA_HOME while another
    assembles it again: a tree that is already right is left in place (replacing it would
    make it vanish under that build for a moment); only a different one, after the
    environment changed, is replaced."""
    wanted = _links(build)
    if _links(target) != wanted:
        try:
            _replace_dir(build, target)
            return
        except OSError:
            # Another process put its tree there between the check and the rename.
            if _links(target) != wanted:
                raise
    shutil.rmtree(build)


def _missing_nvcc_hint(names: set[str]) -> str:
    if any(n.endswith("-cu12") for n in names):
        return ("add nvidia-cuda-nvcc to the project for CUDA 13 (with nvidia-cuda-runtime, nvidia-cuda-crt, "
                "nvidia-nvvm); note that the CUDA 12 wheel nvidia-cuda-nvcc-cu12 ships ptxas and headers but not "
                "the nvcc driver, so a CUDA 12 build needs a system toolkit: set CUDA_HOME to it in the profile")
    # Never "add nvidia-cuda-nvcc-cu12": it ships ptxas but no nvcc, so that advice only
    # leads to the hint above.
    return ("add nvidia-cuda-nvcc, nvidia-cuda-runtime, nvidia-cuda-crt and nvidia-nvvm (CUDA 13) to the "
            "project's dependencies or the profile's build-requires; for CUDA 12 set CUDA_HOME in the profile "
            "to a system toolkit (the nvidia-cuda-nvcc-cu12 wheel ships no nvcc)")


def _holding(places: Sequence[tuple[Path, list[metadata.Distribution]]]) -> str:
    """What an environment holds of the CUDA toolkit wheels, for a message: the
    distributions by name and version (``nvidia-cuda-nvcc-cu12 12.9.86``), never a path."""
    held = sorted({f"{_name(d)} {d.version}" for _, dists in places for d in dists if is_toolkit_distribution(_name(d))})
    return f"it holds {', '.join(held)}" if held else "it holds no CUDA toolkit wheel"


def assemble_cuda_home(site_packages: Path, venv_root: Path, more: Sequence[Path] = (), *, where: str | None = None) -> Path:
    """The folder to use as CUDA_HOME for the environment at ``venv_root``: the CUDA 13
    prefix itself, or ``<venv_root>/satlock-cuda-home`` merged from the CUDA 12 parts
    (checked on every call and replaced when it differs, so it follows what is installed).
    The parts in ``more`` (a no-isolation build's build-only tools) join those of
    ``site_packages``: the compiler may be there while the runtime is in .venv.

    ``where`` names the environment in an error (``the build environment of cudaprobe``):
    a build environment is a temporary folder, gone by the time the error is read, so the
    error says what it holds and which wheel provides what is missing, not where it was.
    Without it, ``site_packages`` is named (``.venv``'s, which stays)."""
    places = [(sp, list(metadata.distributions(path=[str(sp)]))) for sp in (site_packages, *more)]
    names = {_name(d) for _, dists in places for d in dists}
    where = where or str(site_packages)
    found = next((f for sp, dists in places if (f := _nvcc_prefix(dists, sp)) is not None), None)
    if found is None:
        raise BuildError(
            f"{{cuda-home}} needs the CUDA compiler bin/nvcc, which the CUDA 13 wheel nvidia-cuda-nvcc provides, "
            f"and no package in {where} has it ({_holding(places)})",
            hint=_missing_nvcc_hint(names),
        )
    prefix, nvcc_dist = found
    if (prefix / "include" / "cuda_runtime.h").is_file():
        return prefix
    prefixes = [p for sp, dists in places
                for p in _component_prefixes([d for d in dists if d is nvcc_dist or _name(d).startswith("nvidia-")], sp)]
    prefixes.sort(key=lambda p: p != prefix)
    home = venv_root / MERGED_DIR
    build = Path(tempfile.mkdtemp(prefix=f".{MERGED_DIR}-", dir=venv_root))
    try:
        build.rmdir()
        _build_merged(prefixes, build)
        _put_tree(build, home)
    finally:
        if build.exists():
            shutil.rmtree(build)
    if not (home / "include" / "cuda_runtime.h").exists():
        cu12 = _name(nvcc_dist).endswith("-cu12")
        runtime = "nvidia-cuda-runtime-cu12" if cu12 else "nvidia-cuda-runtime"
        raise BuildError(
            f"{{cuda-home}} has no include/cuda_runtime.h, which the wheel {runtime} provides, "
            f"and no package in {where} has it ({_holding(places)})",
            hint=f"add {runtime} to the project's dependencies or the profile's build-requires",
        )
    return home


def _provides_nvcc(site_packages: Path) -> bool:
    return _nvcc_prefix(list(metadata.distributions(path=[str(site_packages)])), site_packages) is not None


def template_context(venv: Venv, fallback: Venv | None = None, *, where: str | None = None) -> TemplateContext:
    """What profile templates stand for in ``venv``; ``{cuda-home}`` is assembled at
    most once, and only when a template uses it. ``fallback`` is, for a no-isolation
    build, the environment of the recorded build requirements ``venv`` lacks: a
    distribution, or a CUDA compiler, that ``venv`` does not have is found there, where
    the build finds the rest of its build-only tools. ``where`` names the environment in
    an error that ``{cuda-home}`` cannot be assembled or a ``{dist:NAME}`` found (see
    ``assemble_cuda_home`` and ``dist_location``)."""
    def locate(name: str) -> Path:
        return dist_location(venv.site_packages, name, fallback=fallback.site_packages if fallback is not None else None,
                             where=where)

    def cuda_home() -> Path:
        if fallback is not None and not _provides_nvcc(venv.site_packages):
            return assemble_cuda_home(venv.site_packages, venv.root, more=[fallback.site_packages], where=where)
        return assemble_cuda_home(venv.site_packages, venv.root, where=where)

    return TemplateContext(
        python=venv.python,
        venv=venv.root,
        site_packages=venv.site_packages,
        dist_locator=locate,
        cuda_home=functools.cache(cuda_home),
    )
