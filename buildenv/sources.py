"""Source trees to build, each with a key that says when two builds are of the same source.

The key goes into the built-wheel and metadata cache keys: the sha256 of an sdist, the
commit of a git checkout, or a digest of a local folder's file listing. An sdist is
unpacked once into the cache for reading; a git commit is checked out once per run, from
the cache's mirror of its repository, into a folder private to that run. Every build
starts from a fresh copy of either (``unpacked_to_build``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from satlock.buildenv import archive as archive_module
from satlock.buildenv import pep517
from satlock.errors import BuildError, MetadataError, NetworkError, NotFoundError, ProjectError
from satlock.atomic import write_atomic
from satlock.cache import Cache, digest, read_plain
from satlock.http import redact
from satlock.resolver.coremeta import read_sdist_files

SOURCES_BUCKET = "sources-v1"
GIT_BUCKET = "git-v1"

# Folders a build writes into or that never affect a build; leaving them out of a local
# folder's key keeps the key stable across in-place builds.
_IGNORED_DIRS = {".git", ".hg", ".svn", "__pycache__", ".venv", ".tox", ".nox", ".eggs", "build", "dist",
                 ".pytest_cache", ".mypy_cache", ".ruff_cache", "node_modules"}

# git variables that would point our git calls at some other repository.
_GIT_LOCATION_VARIABLES = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
                           "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_COMMON_DIR", "GIT_NAMESPACE", "GIT_PREFIX")

_COMMIT = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


@dataclass(frozen=True)
class SourceTree:
    """A folder holding ``pyproject.toml`` or ``setup.py``; ``commit`` is set for git
    sources, with ``checkout`` the root of the run's checkout (``path`` may be a folder in
    it), ``archive`` (its hash verified by whoever fetched it) for an unpacked sdist."""

    path: Path
    key: str
    commit: str | None = None
    archive: Path | None = None
    checkout: Path | None = None


@contextmanager
def unpacked_to_build(tree: SourceTree, cache: Cache) -> Iterator[SourceTree]:
    """``tree`` as a build runs in it: an sdist unpacked afresh from its verified archive,
    or a copy of the run's git checkout (``.git`` and submodules included), into a private
    folder removed after the build; a local folder as it is.

    The tree unpacked once into the cache serves reading (its build-system table): like
    everything in the cache it is untrusted, and a build runs its code. A build also writes
    into its folder (``build/``, ``*.egg-info``), which no later build should start from.
    """
    if tree.archive is None and tree.checkout is None:
        yield tree
        return
    tmp = cache.new_tempdir(SOURCES_BUCKET)
    try:
        if tree.checkout is not None:
            copy = tmp / "tree"
            shutil.copytree(tree.checkout, copy, symlinks=True)
            yield SourceTree(copy / tree.path.relative_to(tree.checkout), tree.key, tree.commit, checkout=copy)
        else:
            assert tree.archive is not None
            top = archive_module.extract_sdist(tree.archive, tmp / "tree")
            _check_project(top, f"sdist {tree.archive.name}")
            yield SourceTree(top, tree.key, tree.commit, tree.archive)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def build_system(tree: SourceTree) -> pep517.BuildSystem:
    """``[build-system]`` of ``tree``; an sdist's is read from its verified archive, not from
    the tree unpacked into the cache: its requires choose what is installed and runs in the
    build environment, and what the lock records for it."""
    if tree.archive is None:
        return pep517.build_system(tree.path)
    try:
        data = read_sdist_files(str(tree.archive), ["pyproject.toml"]).get("pyproject.toml")
        text = None if data is None else data.decode("utf-8")
    except (MetadataError, UnicodeDecodeError) as e:
        raise BuildError(f"cannot read pyproject.toml of sdist {tree.archive.name}: {e}") from None
    return pep517.parse_build_system(text, tree.path)


def _check_project(path: Path, what: str) -> None:
    if not (path / "pyproject.toml").is_file() and not (path / "setup.py").is_file():
        raise BuildError(f"{what} is not a Python project: {path} has neither pyproject.toml nor setup.py")


def from_sdist(archive: Path, sha256: str, cache: Cache) -> SourceTree:
    """Unpack ``archive`` (whose hash the caller has verified) into the cache, once."""
    entry = cache.path(SOURCES_BUCKET, sha256)
    root = _read_root(entry)
    if root is None:
        if entry.exists():
            cache.discard(SOURCES_BUCKET, sha256)

        def fill(tmp: Path) -> None:
            top = archive_module.extract_sdist(Path(archive), tmp / "tree")
            (tmp / "root").write_text(top.relative_to(tmp).as_posix(), encoding="utf-8")

        entry = cache.build_dir(SOURCES_BUCKET, sha256, fill)
        root = _read_root(entry)
        if root is None:
            raise BuildError(f"the unpacked sdist {Path(archive).name} in {entry} is incomplete",
                             hint=f"remove {entry} and run again")
    _check_project(root, f"sdist {Path(archive).name}")
    return SourceTree(root, sha256, archive=Path(archive))


def _read_root(entry: Path) -> Path | None:
    try:
        rel = read_plain(entry / "root").decode("utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    root = (entry / rel).resolve()
    if entry.resolve() not in root.parents or not root.is_dir():
        return None
    return root


def local_folder(path: Path) -> Path:
    """``path`` resolved, once it is checked to be a folder holding a Python project: what
    a sync checks of a local folder before .venv changes, without reading its files."""
    root = Path(path).resolve()
    if not root.is_dir():
        raise ProjectError(f"{path} is not a folder", hint="check the path of the local dependency in pyproject.toml")
    _check_project(root, f"local folder {path}")
    return root


def from_directory(path: Path) -> SourceTree:
    """A local project, built in place; its key changes when any of its files does. A
    virtual environment inside it (a folder with ``pyvenv.cfg``, such as ``venv``) is not
    its source: what is installed there neither changes the key nor is read. Walked with
    plain strings: a data folder of 200,000 files took 1.9 s with ``Path`` objects, 0.5 s so."""
    root = local_folder(path)
    top = str(root)
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = sorted(d for d in dirnames if d not in _IGNORED_DIRS and not d.endswith(".egg-info")
                             and not os.path.isfile(os.path.join(dirpath, d, "pyvenv.cfg")))
        rel = os.path.relpath(dirpath, top)
        prefix = "" if rel == os.curdir else rel.replace(os.sep, "/") + "/"
        for name in sorted(filenames):
            try:
                st = os.stat(os.path.join(dirpath, name))
            except OSError:
                continue
            h.update(f"{prefix}{name}\0{st.st_mtime_ns}\0{st.st_size}\n".encode())
    return SourceTree(root, f"dir:{h.hexdigest()}")


def from_git(url: str, rev: str | None, cache: Cache, subdirectory: str | None = None) -> SourceTree:
    """Check out ``rev`` (branch, tag or commit; the remote's HEAD by default) of ``url``.

    One bare mirror per URL lives in the cache and is fetched into only when ``rev`` is
    not a commit it already holds. Its config is written anew by satlock before each use
    and git runs no hooks (``_git_env``): the cache is untrusted, and both would run code.
    Each run checks the commit out of the mirror once, into a folder private to the run
    (``Cache.run_entry``), through git's transport, which hashes every object it receives:
    an object edited in the mirror is not the one its id names and fails the checkout,
    and the mirror is then fetched again. A checkout an earlier run left is never read.
    ``.git`` is kept because version plugins (setuptools-scm and the like) read it.
    """
    if rev is not None and (not rev or rev.startswith("-") or any(c.isspace() for c in rev)):
        raise ProjectError(f"invalid git revision {rev!r} for {redact(url)}")
    where = f"{redact(url)}@{rev}" if rev else redact(url)
    if rev is not None and _COMMIT.fullmatch(rev):
        done = cache.made_in_run(SOURCES_BUCKET, f"git-{rev}")
        if done is not None:
            return _tree(done, rev, subdirectory, where)
    with cache.lock(GIT_BUCKET, url):
        mirror, fresh = _mirror(url, cache, where)
        commit = _resolve(mirror, rev) if rev is not None and _COMMIT.fullmatch(rev) else None
        if commit is None:
            # Branches and tags move: ask the remote unless the mirror was cloned just now.
            if not fresh:
                _git(["fetch", "--quiet", "--prune", "origin"], where, cwd=mirror)
            commit = _resolve(mirror, rev)
        if commit is None and rev is not None and re.fullmatch(r"[0-9a-f]{7,64}", rev):
            # A commit no branch or tag points to: servers usually allow fetching it by id.
            try:
                _git(["fetch", "--quiet", "origin", rev], where, cwd=mirror)
            except NetworkError:
                pass
            commit = _resolve(mirror, rev)
        if commit is None:
            raise NotFoundError(f"git revision {rev or 'HEAD'!r} not found in {redact(url)}",
                                hint="check the branch, tag or commit after '@' in the git URL")
        found = commit

        def fill(tmp: Path) -> None:
            try:
                _clone_verified(mirror, found, tmp, where)
            except NetworkError:
                if fresh:
                    raise
                # The mirror holds objects that are not what their ids say, or lacks some:
                # dropped, and fetched again from the remote.
                shutil.rmtree(tmp)
                tmp.mkdir()
                cache.discard(GIT_BUCKET, digest(url))
                again, _fresh = _mirror(url, cache, where)
                _clone_verified(again, found, tmp, where)
            # Relative submodule URLs are relative to the real remote, not to our mirror.
            _git(["remote", "set-url", "origin", url], where, cwd=tmp)
            _submodules(tmp, url, cache, where)

        checkout = cache.run_entry(SOURCES_BUCKET, f"git-{commit}", fill)
    return _tree(checkout, commit, subdirectory, where)


def _submodules(checkout: Path, url: str, cache: Cache, where: str) -> None:
    """Check out the submodules of ``checkout`` (whose remote is ``url``), and theirs, each
    from a mirror in the cache as the repository itself is: fetched once, verified on every
    checkout, and a later run needs no network for a commit the mirror holds."""
    if not (checkout / ".gitmodules").is_file():
        return
    _git(["submodule", "init", "--quiet"], where, cwd=checkout)
    listed = _git(["config", "--local", "--null", "--get-regexp", r"^submodule\..*\.url$"], where, cwd=checkout,
                  ok_codes=(0, 1))
    remotes: dict[str, str] = {}
    for entry in filter(None, listed.split("\0")):
        key, _, sub_url = entry.partition("\n")  # a name may hold spaces
        name = key[len("submodule."):-len(".url")]
        path = _git(["config", "--file", ".gitmodules", "--get", f"submodule.{name}.path"], where, cwd=checkout).strip()
        pinned = _git(["rev-parse", "--verify", "--quiet", f"HEAD:{path}"], where, cwd=checkout, ok_codes=(0, 1)).strip()
        if not _COMMIT.fullmatch(pinned):
            continue  # no commit recorded at its path: git says so below
        # The repository itself as its own submodule: its mirror's lock is held already.
        lock = contextlib.nullcontext() if sub_url == url else cache.lock(GIT_BUCKET, sub_url)
        with lock:
            mirror = _mirror_holding(sub_url, pinned, cache, f"{where} (submodule {name})")
        _git(["config", "--local", f"submodule.{name}.url", mirror.as_uri()], where, cwd=checkout)
        remotes[path] = sub_url
    # A file:// URL goes through git's transport, which hashes what it receives; git allows
    # it for submodules only when told (CVE-2022-39253 is about a cloned repository's own URLs).
    _git(["submodule", "update", "--quiet"], where, cwd=checkout, config={"protocol.file.allow": "always"})
    for path, sub_url in remotes.items():
        _git(["remote", "set-url", "origin", sub_url], where, cwd=checkout / path)
        _submodules(checkout / path, sub_url, cache, where)


def _mirror_holding(url: str, commit: str, cache: Cache, where: str) -> Path:
    """The mirror of ``url``, fetched into when it lacks ``commit``."""
    mirror, fresh = _mirror(url, cache, where)
    if _resolve(mirror, commit) is None and not fresh:
        _git(["fetch", "--quiet", "--prune", "origin"], where, cwd=mirror)
    if _resolve(mirror, commit) is None:
        try:
            _git(["fetch", "--quiet", "origin", commit], where, cwd=mirror)
        except NetworkError:
            pass  # the checkout says the commit is missing
    return mirror


def _tree(checkout: Path, commit: str, subdirectory: str | None, where: str) -> SourceTree:
    path = checkout
    key = f"git:{commit}"
    if subdirectory:
        sub = Path(subdirectory)
        path = (checkout / sub).resolve()
        if sub.is_absolute() or checkout.resolve() not in path.parents:
            raise ProjectError(f"subdirectory {subdirectory!r} of {where} is outside the repository")
        key += f"#subdirectory={sub.as_posix()}"
    _check_project(path, where + (f" (subdirectory {subdirectory})" if subdirectory else ""))
    return SourceTree(path, key, commit, checkout=checkout)


def _mirror(url: str, cache: Cache, where: str) -> tuple[Path, bool]:
    """The bare mirror of ``url``, its config as satlock writes it, and whether it was cloned just now."""
    mirror = cache.path(GIT_BUCKET, digest(url))
    if (mirror / "HEAD").is_file():
        _write_config(mirror, url, where)
        return mirror, False
    if mirror.exists():
        cache.discard(GIT_BUCKET, digest(url))
    def fill(tmp: Path) -> None:
        _git(["clone", "--quiet", "--mirror", "--", url, str(tmp)], where)  # git clones into an empty folder

    return cache.build_dir(GIT_BUCKET, digest(url), fill), True


def _write_config(mirror: Path, url: str, where: str) -> None:
    """Replace the mirror's config with the one ``git clone --mirror`` wrote: any other
    setting there (``remote.origin.uploadpack``, ``core.sshCommand``, ``url.*.insteadOf``,
    ``include.path``) runs a program or sends the fetch elsewhere. Only its object format
    is kept, as a choice of two: the mirror's objects are unreadable without it."""
    if any(c in url for c in "\n\r\0"):
        raise ProjectError(f"invalid git URL {redact(url)!r}: it holds a line break or NUL")
    config = mirror / "config"
    sha256 = False
    if config.is_file() and not config.is_symlink():  # git would wait forever on a FIFO planted there
        proc = subprocess.run(["git", "config", "--file", str(config), "--get", "extensions.objectformat"],
                              env=_git_env(), stdin=subprocess.DEVNULL, capture_output=True, text=True)
        sha256 = proc.stdout.strip() == "sha256"
    quoted = '"' + url.replace("\\", "\\\\").replace('"', '\\"') + '"'
    text = (f"[core]\n\trepositoryformatversion = {1 if sha256 else 0}\n\tbare = true\n"
            f'[remote "origin"]\n\turl = {quoted}\n\tfetch = +refs/*:refs/*\n\tmirror = true\n'
            + ("[extensions]\n\tobjectformat = sha256\n" if sha256 else ""))
    try:
        if config.is_dir() and not config.is_symlink():
            shutil.rmtree(config)
        write_atomic(config, text.encode("utf-8"), private=True)
    except OSError as e:
        raise BuildError(f"cannot write the config of the git mirror {mirror} for {where}: {e}",
                         hint=f"remove {mirror} and run again") from None


def _resolve(mirror: Path, rev: str | None) -> str | None:
    proc = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{rev or 'HEAD'}^{{commit}}"], cwd=mirror,
                          env=_git_env(), stdin=subprocess.DEVNULL, capture_output=True, text=True)
    out = proc.stdout.strip()
    return out if proc.returncode == 0 and _COMMIT.fullmatch(out) else None


def _clone_verified(mirror: Path, commit: str, dest: Path, where: str) -> None:
    """Clone ``mirror`` into the empty folder ``dest`` and check out ``commit``, through
    git's transport (``--no-local``), not by linking the mirror's object files: every
    object is hashed as it is received, and those the commit needs must arrive under
    their ids. A commit no branch or tag of the mirror holds is fetched by its id."""
    _git(["clone", "--quiet", "--no-local", "--no-checkout", "--", str(mirror), str(dest)], where)
    if _resolve(dest, commit) is None:
        _git(["fetch", "--quiet", "origin", commit], where, cwd=dest)
    _git(["checkout", "--quiet", "--detach", commit], where, cwd=dest)


def _git_env(config: dict[str, str] | None = None) -> dict[str, str]:
    """Our environment for git, without variables that point it at another repository, and
    with ``core.hooksPath`` set to no folder: a hook in a repository of the cache (a
    mirror's ``reference-transaction``, run at every fetch) is never run. Added after the
    user's own ``GIT_CONFIG_COUNT`` settings, which are kept."""
    env = {k: v for k, v in os.environ.items() if k not in _GIT_LOCATION_VARIABLES}
    env["GIT_TERMINAL_PROMPT"] = "0"
    try:
        count = int(env.get("GIT_CONFIG_COUNT", "0"))
    except ValueError:
        count = 0
    for key, value in {"core.hooksPath": os.devnull, **(config or {})}.items():
        env[f"GIT_CONFIG_KEY_{count}"] = key
        env[f"GIT_CONFIG_VALUE_{count}"] = value
        count += 1
    env["GIT_CONFIG_COUNT"] = str(count)
    return env


def _git(args: list[str], where: str, cwd: Path | None = None, config: dict[str, str] | None = None,
         ok_codes: tuple[int, ...] = (0,)) -> str:
    """What ``git args`` printed; a failure (any exit code not in ``ok_codes``) as one line."""
    try:
        proc = subprocess.run(["git", *args], cwd=cwd, env=_git_env(config), stdin=subprocess.DEVNULL,
                              capture_output=True, text=True)
    except FileNotFoundError:
        raise BuildError(f"cannot get {where}: the git command is not installed",
                         hint="install git and make sure it is on PATH") from None
    if proc.returncode not in ok_codes:
        lines = [line.strip() for line in redact(proc.stderr).splitlines() if line.strip()]
        # git's first "fatal:" line says why; the lines after it may be advice ("Please make
        # sure you have the correct access rights / and the repository exists.").
        reasons = [line.partition(":")[2].strip() for line in lines if line.startswith(("fatal:", "error:"))]
        detail = reasons[0] if reasons else lines[-1] if lines else f"exit code {proc.returncode}"
        raise NetworkError(f"git {args[0]} failed for {where}: {detail}",
                           hint="check the repository URL and that you have access to it")
    return proc.stdout
