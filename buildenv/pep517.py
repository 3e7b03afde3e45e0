"""PEP 517 hook calls: what a source tree declares, its metadata, and its wheel.

Hooks run in a subprocess of the build environment's interpreter (never satlock's own),
with the profile's environment on top of ours, and everything they print goes to a log
file. A failure is reported as a few lines a person can act on (the backend's last
error lines, where the full log is, and a suggested profile change) instead of a wall of
compiler output.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import tomllib
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, Mapping, Sequence

from packaging.requirements import InvalidRequirement, Requirement
from pyproject_hooks import BackendUnavailable, BuildBackendHookCaller, HookMissing

from satlock.cache import drop
from satlock.errors import ZIPFILE_REFUSALS, BuildError, ProjectError
from satlock.numbers import overlong_number_line, overlong_number_reason
from satlock.pyproject import TOO_DEEP

LEGACY_REQUIRES = ["setuptools>=40.8.0"]
LEGACY_BACKEND = "setuptools.build_meta:__legacy__"

_ERROR_LINES = 15

# Variables of the calling process that would make the hook's interpreter import the
# wrong packages (ours instead of the build environment's).
_DROPPED_VARIABLES = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONEXECUTABLE", "__PYVENV_LAUNCHER__")


# The hook processes running now (builds run in worker threads), for ``stop_running_hooks``.
_RUNNING: set[subprocess.Popen[bytes]] = set()
_RUNNING_GUARD = threading.Lock()


@contextmanager
def _running(cmd: list[str], **kwargs: Any) -> Iterator[subprocess.Popen[bytes]]:
    """A hook process, known to ``stop_running_hooks`` until it has ended; killed when the
    caller fails or is interrupted while it runs, as ``subprocess.run`` does."""
    with subprocess.Popen(cmd, **kwargs) as proc:
        with _RUNNING_GUARD:
            _RUNNING.add(proc)
        try:
            yield proc
        except BaseException:
            proc.kill()
            raise
        finally:
            with _RUNNING_GUARD:
                _RUNNING.discard(proc)


def stop_running_hooks() -> None:
    """Send SIGTERM to the build hooks still running, when satlock stops before they end.
    Ctrl-C in a terminal reaches them itself (SIGINT goes to every process of the job);
    a SIGTERM (a CI runner's timeout, ``docker stop``) goes to satlock alone, and a hook
    left running would build on for minutes after it, in folders removed meanwhile."""
    with _RUNNING_GUARD:
        running = list(_RUNNING)
    for proc in running:
        proc.terminate()


@dataclass(frozen=True)
class BuildSystem:
    """The ``[build-system]`` of a source tree, with pip's defaults filled in."""

    requires: list[str]
    backend: str
    backend_path: list[str] | None = None


def build_system(tree: Path) -> BuildSystem:
    """Read ``[build-system]``; a tree without one builds with setuptools' legacy backend, as pip does."""
    pyproject = Path(tree) / "pyproject.toml"
    try:
        text = pyproject.read_text(encoding="utf-8")
    except FileNotFoundError:
        return BuildSystem(list(LEGACY_REQUIRES), LEGACY_BACKEND)
    except (OSError, UnicodeDecodeError) as e:
        raise ProjectError(f"cannot read {pyproject}: {e}") from None
    return parse_build_system(text, tree)


def parse_build_system(text: str | None, tree: Path) -> BuildSystem:
    """``[build-system]`` of the pyproject.toml ``text`` of ``tree`` (None: it has none),
    for a caller that read the file from elsewhere than the tree (an sdist's archive)."""
    pyproject = Path(tree) / "pyproject.toml"
    if text is None:
        return BuildSystem(list(LEGACY_REQUIRES), LEGACY_BACKEND)
    line = overlong_number_line(text)
    if line is not None:
        raise ProjectError(f"{pyproject}: line {line} holds {overlong_number_reason()}")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ProjectError(f"{pyproject} is not valid TOML: {e}") from None
    except RecursionError:
        raise ProjectError(f"{pyproject} is not valid TOML: {TOO_DEEP}") from None
    table = data.get("build-system")
    if table is None:
        return BuildSystem(list(LEGACY_REQUIRES), LEGACY_BACKEND)
    if not isinstance(table, dict):
        raise ProjectError(f"{pyproject}: [build-system] must be a table")
    requires = table.get("requires")
    if requires is None:
        raise ProjectError(f"{pyproject}: [build-system] has no 'requires' key",
                           hint='add requires = ["setuptools"] (or the backend the project uses) to [build-system]')
    if not isinstance(requires, list) or not all(isinstance(r, str) for r in requires):
        raise ProjectError(f"{pyproject}: [build-system] requires must be a list of strings")
    for r in requires:
        try:
            Requirement(r)
        except InvalidRequirement as e:
            raise ProjectError(f"{pyproject}: invalid build requirement {r!r}: {e}") from None
    backend = table.get("build-backend", LEGACY_BACKEND)
    if not isinstance(backend, str) or not backend.strip():
        raise ProjectError(f"{pyproject}: [build-system] build-backend must be a non-empty string")
    backend_path = table.get("backend-path")
    if backend_path is not None:
        if not isinstance(backend_path, list) or not all(isinstance(p, str) for p in backend_path):
            raise ProjectError(f"{pyproject}: [build-system] backend-path must be a list of strings")
        root = Path(tree).resolve()
        for p in backend_path:
            resolved = (root / p).resolve()
            if Path(p).is_absolute() or (resolved != root and root not in resolved.parents):
                raise ProjectError(f"{pyproject}: backend-path entry {p!r} is outside the source tree")
    return BuildSystem(list(requires), backend, list(backend_path) if backend_path is not None else None)


def hook_environment(python: Path, env: Mapping[str, str]) -> dict[str, str]:
    """Our environment without what would leak our packages into the hook, the interpreter's
    scripts folder first on PATH (so build tools installed as wheels are found), then ``env``."""
    result = {k: v for k, v in os.environ.items() if k not in _DROPPED_VARIABLES}
    result["PYTHONNOUSERSITE"] = "1"
    venv_root = Path(python).parent.parent
    if (venv_root / "pyvenv.cfg").exists():
        result["VIRTUAL_ENV"] = str(venv_root)
        result["PATH"] = os.pathsep.join(filter(None, [str(Path(python).parent), result.get("PATH", "")]))
    else:
        result.pop("VIRTUAL_ENV", None)
    result.update(env)
    return result


class _HookFailed(Exception):
    def __init__(self, returncode: int) -> None:
        super().__init__(returncode)
        self.returncode = returncode


class _Hooks:
    """One package's hook caller, logging to one file, turning failures into ``BuildError``."""

    def __init__(self, tree: Path, *, python: Path, env: Mapping[str, str], log_path: Path, package: str,
                 echo: bool = False) -> None:
        self.tree = Path(tree)
        self.echo = echo
        self.package = package
        self.log_path = Path(log_path)
        self.python = Path(python)
        self.system = build_system(self.tree)
        self._env = hook_environment(self.python, env)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        # The log is in the cache, which is not trusted: the build's output appended through a
        # link planted there would land in a file anywhere, and opening a FIFO would wait forever.
        try:
            if not stat.S_ISREG(os.lstat(self.log_path).st_mode):
                drop(self.log_path)
        except FileNotFoundError:
            pass
        self.caller = BuildBackendHookCaller(str(self.tree), self.system.backend, backend_path=self.system.backend_path,
                                             runner=self._run, python_executable=str(self.python))

    def _run(self, cmd: Sequence[str], cwd: str | None = None, extra_environ: Mapping[str, str] | None = None) -> None:
        env = dict(self._env)
        env.update(extra_environ or {})
        with open(self.log_path, "ab") as log:
            log.write(f"$ {cmd[2]} ({self.system.backend}, {self.python}) in {cwd}\n".encode())
            log.flush()
            try:
                if self.echo:
                    returncode = self._tee(cmd, cwd, env, log)
                else:
                    with _running(list(cmd), cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                  stderr=subprocess.STDOUT) as proc:
                        returncode = proc.wait()
            except OSError as e:
                raise BuildError(f"cannot run the build interpreter {cmd[0]} for {self.package}: {e}",
                                 hint="check that the interpreter the environment was made from still runs, and run again") from None
        if returncode != 0:
            raise _HookFailed(returncode)

    def _tee(self, cmd: Sequence[str], cwd: str | None, env: Mapping[str, str], log: BinaryIO) -> int:
        """Run the hook with its output going both to the log and, line by line, to stderr (``-v``)."""
        with _running(list(cmd), cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                      stderr=subprocess.STDOUT) as proc:
            assert proc.stdout is not None
            for line in proc.stdout:
                log.write(line)
                sys.stderr.write(f"  [{self.package}] {line.decode(errors='replace')}")
            return proc.wait()

    def call(self, hook: str, **kwargs: Any) -> Any:
        start = self.log_path.stat().st_size if self.log_path.exists() else 0
        try:
            return getattr(self.caller, hook)(**kwargs)
        except _HookFailed as e:
            raise self._error(f"the {hook} hook exited with code {e.returncode}", start) from None
        except BackendUnavailable as e:
            with open(self.log_path, "ab") as log:
                log.write(f"{e}\n".encode())
            raise self._error(f"its build backend {self.system.backend!r} cannot be imported", start,
                              default_hint=f"add the package providing {self.system.backend.split(':')[0].split('.')[0]!r} "
                                           f"to the build requirements of {self.package}") from None

    def _error(self, what: str, start: int, default_hint: str | None = None) -> BuildError:
        with open(self.log_path, "rb") as f:
            full = f.read().decode("utf-8", "replace")
            f.seek(start)
            this_call = f.read().decode("utf-8", "replace")
        lines = [line.rstrip()[:300] for line in this_call.splitlines() if line.strip(" \t^~")][-_ERROR_LINES:]
        body = "\n".join(f"  {line}" for line in lines)
        message = f"building {self.package} failed: {what}\n{body}\nfull log: {self.log_path}"
        from satlock.profiles.suggest import suggest_fix

        return BuildError(message, hint=suggest_fix(self.package, full, cuda_home=self._env.get("CUDA_HOME")) or default_hint)


def get_requires_for_build_wheel(tree: Path, *, python: Path, env: Mapping[str, str],
                                 config_settings: Mapping[str, Any] | None = None, log_path: Path,
                                 package: str, echo: bool = False, editable: bool = False) -> list[str]:
    """The backend's extra build requirements (beyond ``[build-system] requires``); with
    ``editable``, those of its PEP 660 editable build (hatchling asks for ``editables``)."""
    hooks = _Hooks(tree, python=python, env=env, log_path=log_path, package=package, echo=echo)
    # pyproject_hooks answers [] for a backend without the hook.
    hook = "get_requires_for_build_editable" if editable else "get_requires_for_build_wheel"
    answer = hooks.call(hook, config_settings=_settings(config_settings))
    if not isinstance(answer, list) or not all(isinstance(r, str) for r in answer):
        raise BuildError(f"the build backend of {package} answered {hook} with {answer!r:.200}, not a list of requirements",
                         hint="report it to the package's maintainers")
    for requirement in answer:
        try:
            Requirement(requirement)
        except InvalidRequirement as e:
            raise BuildError(f"the build backend of {package} asks for {requirement!r:.200} to build, which is not a valid "
                             f"requirement ({str(e).splitlines()[0]})", hint="report it to the package's maintainers") from None
    return answer


def prepare_metadata(tree: Path, *, python: Path, env: Mapping[str, str], config_settings: Mapping[str, Any] | None = None,
                     log_path: Path, package: str, out_dir: Path | None = None, echo: bool = False) -> Path:
    """The ``.dist-info`` folder of ``tree``, in ``out_dir`` (a new temporary folder by default).

    Backends without ``prepare_metadata_for_build_wheel`` get a full wheel build, whose
    dist-info is then read back: slower, but the only way to learn their dependencies.
    """
    out = Path(out_dir) if out_dir is not None else Path(tempfile.mkdtemp(prefix="satlock-metadata-"))
    out.mkdir(parents=True, exist_ok=True)
    hooks = _Hooks(tree, python=python, env=env, log_path=log_path, package=package, echo=echo)
    settings = _settings(config_settings)
    try:
        name = hooks.call("prepare_metadata_for_build_wheel", metadata_directory=str(out), config_settings=settings,
                          _allow_fallback=False)
    except HookMissing:
        wheel_dir = Path(tempfile.mkdtemp(prefix=".wheel-", dir=out))
        wheel = wheel_dir / hooks.call("build_wheel", wheel_directory=str(wheel_dir), config_settings=settings)
        info = _extract_dist_info(wheel, out, package)
        shutil.rmtree(wheel_dir, ignore_errors=True)
        return info
    info = out / name
    if not (info / "METADATA").is_file():
        raise BuildError(f"the build backend of {package} reported metadata in {info} but wrote no METADATA file there",
                         hint=f"see the full log: {log_path}")
    return info


def build_wheel(tree: Path, *, python: Path, env: Mapping[str, str], config_settings: Mapping[str, Any] | None = None,
                out_dir: Path, log_path: Path, package: str, source_date_epoch: int | None = None,
                echo: bool = False, editable: bool = False) -> Path:
    """Build a wheel of ``tree`` into ``out_dir`` and return its path.

    ``source_date_epoch`` makes backends that honour ``SOURCE_DATE_EPOCH`` reproducible.
    ``editable`` asks for a PEP 660 editable wheel (``build_editable``), which points
    the environment at ``tree`` instead of copying it.
    """
    if source_date_epoch is not None:
        env = {**env, "SOURCE_DATE_EPOCH": str(source_date_epoch)}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    hooks = _Hooks(tree, python=python, env=env, log_path=log_path, package=package, echo=echo)
    hook = "build_editable" if editable else "build_wheel"
    try:
        name = hooks.call(hook, wheel_directory=str(out), config_settings=_settings(config_settings))
    except HookMissing:
        raise BuildError(f"the build backend of {package} cannot make an editable install (it has no PEP 660 "
                         "build_editable hook)",
                         hint=f"drop editable = true from {package}'s source, or use a backend that supports PEP 660") from None
    wheel = out / name
    if not wheel.is_file() or not name.endswith(".whl"):
        raise BuildError(f"the build backend of {package} reported wheel {name!r} but did not write it to {out}",
                         hint=f"see the full log: {log_path}")
    return wheel


def _settings(config_settings: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return dict(config_settings) if config_settings else None


def _extract_dist_info(wheel: Path, dest: Path, package: str) -> Path:
    """Copy the top-level ``*.dist-info`` folder out of ``wheel``, refusing any path that escapes it."""
    try:
        with zipfile.ZipFile(wheel) as zf:
            names = zf.namelist()
            infos = {n.split("/", 1)[0] for n in names if n.split("/", 1)[0].endswith(".dist-info")}
            metadata = [i for i in infos if f"{i}/METADATA" in names]
            if len(metadata) != 1:
                raise BuildError(f"the wheel built for {package} ({wheel.name}) has no single .dist-info/METADATA")
            info = metadata[0]
            for n in names:
                parts = PurePosixPath(n).parts
                if parts[0] != info or n.endswith("/") or ".." in parts or n.startswith("/"):
                    continue
                target = dest.joinpath(*parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(zf.read(n))
    except (zipfile.BadZipFile, *ZIPFILE_REFUSALS) as e:
        raise BuildError(f"the wheel built for {package} ({wheel.name}) is not a valid zip file: {e}") from None
    return dest / info
