"""Git sources: the cache's mirror of each repository, the commit a revision names, files
read from a commit without a checkout, and the checkout a build needs.

Everything in the cache is untrusted: a mirror's config is written anew before each use,
git runs no hooks, files are read with every object held to its id (gitobjects.py), and
a checkout is made through git's transport, which verifies what it receives, once per run.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from satlock.atomic import write_atomic
from satlock.buildenv import gitobjects, pep517
from satlock.buildenv.sources import SOURCES_BUCKET, SourceTree, check_project
from satlock.cache import Cache, digest, read_plain
from satlock.errors import BuildError, NetworkError, NotFoundError, ProjectError
from satlock.http import redact

GIT_BUCKET = "git-v1"

# git variables that would point our git calls at some other repository.
_GIT_LOCATION_VARIABLES = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
                           "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_COMMON_DIR", "GIT_NAMESPACE", "GIT_PREFIX")

_COMMIT = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")

# Where a fetch into the mirror puts the remote's HEAD, the commit a source with no revision names.
_REMOTE_HEAD = "refs/satlock/remote-HEAD"


@dataclass(frozen=True)
class GitCommit:
    """A commit of a repository, held in the cache's mirror of it: what a lock reads of a
    git source (``read_git_file``) before any checkout, which only a build needs."""

    url: str
    mirror: Path
    commit: str
    subdirectory: str | None
    where: str

    @property
    def key(self) -> str:
        """The key its checkout's ``SourceTree`` has."""
        sub = PurePosixPath(self.subdirectory).as_posix() if self.subdirectory else ""
        return f"git:{self.commit}" + (f"#subdirectory={sub}" if sub else "")


def git_commit(url: str, rev: str | None, cache: Cache, subdirectory: str | None = None) -> GitCommit:
    """The commit ``rev`` (branch, tag or commit; the remote's HEAD by default) of ``url`` names.

    One bare mirror per URL lives in the cache and is fetched into only when ``rev`` is
    not a commit it already holds. Its config is written anew by satlock before each use
    and git runs no hooks (``_git_env``): the cache is untrusted, and both would run code.
    """
    if rev is not None and (not rev or rev.startswith("-") or any(c.isspace() for c in rev)):
        raise ProjectError(f"invalid git revision {rev!r} for {redact(url)}")
    where = f"{redact(url)}@{rev}" if rev else redact(url)
    if subdirectory and (PurePosixPath(subdirectory).is_absolute() or ".." in PurePosixPath(subdirectory).parts
                         or "\\" in subdirectory):
        raise ProjectError(f"subdirectory {subdirectory!r} of {where} is outside the repository")
    with cache.lock(GIT_BUCKET, url):
        mirror, fresh = _mirror(url, cache, where)
        commit = _resolve(mirror, rev) if rev is not None and _COMMIT.fullmatch(rev) else None
        if commit is None:
            # Branches and tags move: ask the remote unless the mirror was cloned just now.
            # A fetch never updates the mirror's own HEAD, so the remote's is fetched too
            # when it is the one asked for (a remote's HEAD may name no branch).
            head = [f"+HEAD:{_REMOTE_HEAD}"] if rev in (None, "HEAD") else []
            if not fresh:
                try:
                    _git(["fetch", "--quiet", "--prune", "origin", "+refs/*:refs/*", *head], where, cwd=mirror)
                except NetworkError as e:
                    mirror, fresh = _cloned_again(url, cache, where, e), True
            commit = _resolve_name(mirror, rev, "HEAD" if fresh else _REMOTE_HEAD)
        if commit is None and rev is not None and re.fullmatch(r"[0-9a-f]{7,64}", rev):
            # A commit no branch or tag points to: servers usually allow fetching it by id.
            try:
                _git(["fetch", "--quiet", "origin", rev], where, cwd=mirror)
            except NetworkError:
                pass
            commit = _resolve(mirror, rev)
            if commit is not None and not commit.startswith(rev):
                commit = None  # a name, not an id: _resolve_name found no ref of it
        if commit is None:
            raise NotFoundError(f"git revision {rev or 'HEAD'!r} not found in {redact(url)}",
                                hint="check the branch, tag or commit after '@' in the git URL")
    return GitCommit(url, mirror, commit, subdirectory or None, where)


def read_git_file(source: GitCommit, name: str, cache: Cache) -> bytes | None:
    """The file ``name`` of the source (in its subdirectory) at its commit, or ``None``:
    read from the mirror with every object hashed against its id (buildenv/gitobjects.py),
    or, when the mirror fails that, from a checkout (which fetches the mirror again), as
    also when its path goes through a link or a submodule, which the build's checkout has."""
    sub = PurePosixPath(source.subdirectory).as_posix() + "/" if source.subdirectory else ""
    try:
        with cache.lock(GIT_BUCKET, source.url):
            return gitobjects.read_file(source.mirror, source.commit, sub + name, _git_env())
    except (gitobjects.UnverifiedObject, gitobjects.NeedsCheckout):
        path = checkout(source, cache).path / name
        return path.read_bytes() if path.is_file() else None


def git_build_system(source: GitCommit, cache: Cache) -> pep517.BuildSystem:
    """``[build-system]`` of a git source, read without a checkout (``read_git_file``)."""
    data = read_git_file(source, "pyproject.toml", cache)
    if data is None and read_git_file(source, "setup.py", cache) is None:
        sub = f" (subdirectory {source.subdirectory})" if source.subdirectory else ""
        raise BuildError(f"{source.where}{sub} is not a Python project: it has neither pyproject.toml nor setup.py")
    try:
        text = None if data is None else data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BuildError(f"cannot read pyproject.toml of {source.where}: {e}") from None
    return pep517.parse_build_system(text, Path(source.where))


def from_git(url: str, rev: str | None, cache: Cache, subdirectory: str | None = None) -> SourceTree:
    """``rev`` of ``url`` checked out (``git_commit``, then ``checkout``); a commit this run
    checked out already is taken with no git call."""
    if rev is not None and _COMMIT.fullmatch(rev):
        done = cache.made_in_run(SOURCES_BUCKET, f"git-{rev}")
        if done is not None:
            return _tree(done, rev, subdirectory, f"{redact(url)}@{rev}")
    return checkout(git_commit(url, rev, cache, subdirectory), cache)


def checkout(source: GitCommit, cache: Cache) -> SourceTree:
    """The source checked out, once per run, into a folder private to the run
    (``Cache.run_entry``), through git's transport, which hashes every object it receives:
    an object edited in the mirror is not the one its id names and fails the checkout,
    and the mirror is then fetched again. A checkout an earlier run left is never read.
    ``.git`` is kept because version plugins (setuptools-scm and the like) read it.
    """
    url, found, where = source.url, source.commit, source.where
    done = cache.made_in_run(SOURCES_BUCKET, f"git-{found}")
    if done is not None:
        return _tree(done, found, source.subdirectory, where)
    with cache.lock(GIT_BUCKET, url):
        mirror = source.mirror

        def fill(tmp: Path) -> None:
            try:
                _clone_verified(mirror, found, tmp, where)
            except NetworkError:
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

        made = cache.run_entry(SOURCES_BUCKET, f"git-{found}", fill)
    return _tree(made, found, source.subdirectory, where)


def _submodules(checkout: Path, url: str, cache: Cache, where: str, held: str | None = None) -> None:
    """Check out the submodules of ``checkout`` (whose remote is ``url``), and theirs, each
    from a mirror in the cache as the repository itself is: fetched once, verified on every
    checkout, and a later run needs no network for a commit the mirror holds. ``held`` is
    the URL whose mirror's lock ``checkout`` holds throughout: ``url`` at the top."""
    held = url if held is None else held
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
        # The repository being checked out as a submodule, of itself or of one of its
        # submodules: ``checkout`` holds its mirror's lock all along (``held``), and taking
        # it again would wait on itself forever.
        lock = contextlib.nullcontext() if sub_url == held else cache.lock(GIT_BUCKET, sub_url)
        with lock:
            mirror = _mirror_holding(sub_url, pinned, cache, f"{where} (submodule {name})")
        _git(["config", "--local", f"submodule.{name}.url", mirror.as_uri()], where, cwd=checkout)
        remotes[path] = sub_url
    # A file:// URL goes through git's transport, which hashes what it receives; git allows
    # it for submodules only when told (CVE-2022-39253 is about a cloned repository's own URLs).
    _git(["submodule", "update", "--quiet"], where, cwd=checkout, config={"protocol.file.allow": "always"})
    for path, sub_url in remotes.items():
        _git(["remote", "set-url", "origin", sub_url], where, cwd=checkout / path)
        _submodules(checkout / path, sub_url, cache, where, held)


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
        if sub.is_absolute() or (path != checkout.resolve() and checkout.resolve() not in path.parents):
            raise ProjectError(f"subdirectory {subdirectory!r} of {where} is outside the repository")
        key += f"#subdirectory={sub.as_posix()}"
    check_project(path, where + (f" (subdirectory {subdirectory})" if subdirectory else ""))
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
        _write_config(tmp, url, where)

    return cache.build_dir(GIT_BUCKET, digest(url), fill), True


def _cloned_again(url: str, cache: Cache, where: str, failure: NetworkError) -> Path:
    """A new mirror of ``url`` in place of the one a fetch failed to update: the mirror may be
    what fails (its refs, or the object format its config keeps, garbled in the cache), and
    nothing else would ever replace it. When the remote fails the clone too, ``failure``
    stands and the mirror is kept, for the commits it holds."""
    tmp = cache.new_tempdir(GIT_BUCKET)
    try:
        _git(["clone", "--quiet", "--mirror", "--", url, str(tmp)], where)
    except NetworkError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise failure from None
    _write_config(tmp, url, where)
    cache.discard(GIT_BUCKET, digest(url))
    return cache.install_dir(GIT_BUCKET, digest(url), tmp)


def _write_config(mirror: Path, url: str, where: str) -> None:
    """Replace the mirror's config with the one ``git clone --mirror`` wrote: any other
    setting there (``remote.origin.uploadpack``, ``core.sshCommand``, ``url.*.insteadOf``,
    ``include.path``) runs a program or sends the fetch elsewhere. Only its object format
    is kept, as a choice of two: the mirror's objects are unreadable without it."""
    if any(c in url for c in "\n\r\0"):
        raise ProjectError(f"invalid git URL {redact(url)!r}: it holds a line break or NUL")
    config = mirror / "config"
    quoted = '"' + url.replace("\\", "\\\\").replace('"', '\\"') + '"'
    texts = [(f"[core]\n\trepositoryformatversion = {1 if wide else 0}\n\tbare = true\n"
              f'[remote "origin"]\n\turl = {quoted}\n\tfetch = +refs/*:refs/*\n\tmirror = true\n'
              + ("[extensions]\n\tobjectformat = sha256\n" if wide else "")).encode("utf-8") for wide in (False, True)]
    try:
        # One of the two satlock writes: nothing to replace (a lock uses a mirror several times).
        if not config.is_symlink() and read_plain(config) in texts:
            return
    except OSError:
        pass
    sha256 = False
    if config.is_file() and not config.is_symlink():  # git would wait forever on a FIFO planted there
        proc = subprocess.run(["git", "config", "--file", str(config), "--get", "extensions.objectformat"],
                              env=_git_env(), stdin=subprocess.DEVNULL, capture_output=True, text=True)
        sha256 = proc.stdout.strip() == "sha256"
    try:
        if config.is_dir() and not config.is_symlink():
            shutil.rmtree(config)
        write_atomic(config, texts[sha256], private=True)
    except OSError as e:
        raise BuildError(f"cannot write the config of the git mirror {mirror} for {where}: {e}",
                         hint=f"remove {mirror} and run again") from None


def _resolve_name(mirror: Path, rev: str | None, head: str) -> str | None:
    """The commit a branch or tag name means in the mirror (``None``: the remote's HEAD, the
    ref ``head``), looked up among its refs in git's order. git itself would take a file
    ``<mirror>/<name>`` first, and the mirror's HEAD for the remote's: no fetch updates or
    prunes either, so one planted there would choose the commit built."""
    if rev is None or rev == "HEAD":
        names = [head]
    elif rev.startswith("refs/"):
        names = [rev]
    else:
        names = [f"refs/{rev}", f"refs/tags/{rev}", f"refs/heads/{rev}", f"refs/remotes/{rev}", f"refs/remotes/{rev}/HEAD"]
    proc = subprocess.run(["git", "cat-file", "--batch-check=%(objectname)"], cwd=mirror, env=_git_env(),
                          input="".join(f"{name}^{{commit}}\n" for name in names), capture_output=True, text=True)
    return next((line for line in proc.stdout.splitlines() if _COMMIT.fullmatch(line)), None)


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
