"""Virtual environments: the project's ``.venv`` and the build environments.

A ``Venv`` holds the install scheme read from the environment's own interpreter, so
wheels are installed where that interpreter looks, whatever Python runs satlock.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import venv
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import packaging
from packaging.markers import default_environment
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import Tag, sys_tags

from satlock.errors import InstallError
from satlock.mutex import FileLock, Held

_SCHEME_SCRIPT = (
    "import json, sys, sysconfig; "
    "p = sysconfig.get_paths(); "
    "print(json.dumps({'purelib': p['purelib'], 'platlib': p['platlib'], 'scripts': p['scripts'], "
    "'data': p['data'], 'version': '%d.%d.%d' % sys.version_info[:3]}))"
)


@dataclass(frozen=True)
class Venv:
    """An existing virtual environment and where its interpreter installs things."""

    root: Path
    python: Path
    purelib: Path
    platlib: Path
    scripts: Path
    data: Path
    python_version: str
    same_interpreter: bool = False

    @property
    def site_packages(self) -> Path:
        return self.purelib


def inside(path: str, root: str) -> bool:
    """Whether the absolute, normalised ``path`` is ``root`` or below it."""
    return os.path.commonpath([path, root]) == root


@contextmanager
def os_errors(doing: str) -> Iterator[None]:
    """Turn a filesystem failure (permissions, full disk) into a message naming what failed."""
    try:
        yield
    except OSError as e:
        raise InstallError(f"{doing} failed: {e}", hint="check the permissions and free space of the environment") from None


def _python_in(root: Path) -> Path:
    for candidate in (root / "bin" / "python", root / "Scripts" / "python.exe"):
        if candidate.exists():
            return candidate
    raise InstallError(f"{root} is not a virtual environment: it has no bin/python", hint=f"remove {root} and run again")


def _is_running_interpreter(python: Path) -> bool:
    """Whether ``python`` is the interpreter running satlock (a venv's python links to its base)."""
    try:
        return python.resolve() == Path(sys._base_executable).resolve()  # type: ignore[attr-defined]
    except OSError:
        return False


PROBE_TIMEOUT_S = 60.0
# Making an environment with pip in it (``seed``) runs ensurepip: seconds, not minutes.
CREATE_TIMEOUT_S = 300.0
# sys._base_executable is 3.7's; a 3.6 venv's python is a link that realpath follows to its base.
_BASE_SCRIPT = ("import os, sys; print(os.path.realpath(getattr(sys, '_base_executable', sys.executable))); "
                "print('%d.%d.%d' % sys.version_info[:3])")
_VERSION = re.compile(r"\d+\.\d+\.\d+")


_GIVEN_HINT = "pass --python with the path of an existing interpreter"


@contextmanager
def _starting(python: Path) -> Iterator[None]:
    """``python`` failing to start (missing, a folder, a file that is not a program) as the
    one error line both ways of running a given interpreter give."""
    try:
        yield
    except FileNotFoundError:
        raise InstallError(f"interpreter {python} not found", hint=_GIVEN_HINT) from None
    except OSError as e:
        raise InstallError(f"interpreter {python} cannot be run: {e.strerror or e}", hint=_GIVEN_HINT) from None


def check_made_with(venv: Venv, python: Path) -> None:
    """Refuse ``venv`` for a sync asked to use ``python`` when another interpreter made it:
    the sync would install into the old one without a word. Both are compared by the base
    interpreter they run, as each reports it (a pyenv shim, another venv's python or a
    copied one stands for its base), and the environment is not replaced: it may hold what
    the user installed."""
    wanted, version = _base_interpreter(python)
    made, _ = _base_interpreter(venv.python)
    if wanted != made:
        raise InstallError(f"{venv.root} was made with Python {venv.python_version} ({made}), "
                           f"not with the --python given ({python}, Python {version})",
                           hint=f"remove {venv.root} to make it again with that interpreter, or sync without --python")


def _base_interpreter(python: Path) -> tuple[Path, str]:
    """The real path of the base interpreter ``python`` runs and its version, as it says.

    A program that answers anything else is no Python, and one that never answers would
    hold the sync forever."""
    hint = _GIVEN_HINT
    try:
        with _starting(python):
            out = subprocess.run([str(python), "-c", _BASE_SCRIPT], check=True, capture_output=True, text=True,
                                 timeout=PROBE_TIMEOUT_S).stdout
    except subprocess.TimeoutExpired:
        raise InstallError(f"interpreter {python} did not answer within {PROBE_TIMEOUT_S:g}s", hint=hint) from None
    except subprocess.CalledProcessError as e:
        # Its last line (a traceback's exception), so the error stays one line.
        said = ((e.stderr or "").strip().splitlines() or [""])[-1][-300:]
        raise InstallError(f"interpreter {python} cannot be run: it exited with status {e.returncode}"
                           + (f": {said}" if said else ""), hint=hint) from None
    lines = out.splitlines()
    if len(lines) != 2 or not os.path.isabs(lines[0]) or not _VERSION.fullmatch(lines[1]):
        raise InstallError(f"interpreter {python} is not a Python: it answered {out.strip()[:200]!r}", hint=hint)
    return Path(lines[0]), lines[1]


def open_venv(root: Path) -> Venv:
    """Read the install scheme of the environment at ``root``.

    When the environment was made from the interpreter running satlock, its scheme is
    computed here instead of asking a new process (the common case, and 50 ms saved).
    """
    python = _python_in(root)
    if _is_running_interpreter(python):
        base = str(root)
        paths = sysconfig.get_paths(scheme="venv", vars={"base": base, "platbase": base,
                                                          "installed_base": base, "installed_platbase": base})
        s = {"purelib": paths["purelib"], "platlib": paths["platlib"], "scripts": paths["scripts"],
             "data": paths["data"], "version": "%d.%d.%d" % sys.version_info[:3]}
    else:
        try:
            out = subprocess.run([str(python), "-c", _SCHEME_SCRIPT], check=True, capture_output=True, text=True,
                                 timeout=PROBE_TIMEOUT_S).stdout
        except subprocess.TimeoutExpired:
            raise InstallError(f"the interpreter of {root} did not answer within {PROBE_TIMEOUT_S:g}s",
                               hint=f"remove {root} and run again") from None
        except (OSError, subprocess.CalledProcessError) as e:
            raise InstallError(f"the interpreter of {root} does not run: {e}", hint=f"remove {root} and run again") from None
        s = json.loads(out)
    return Venv(root=root, python=python, purelib=Path(s["purelib"]), platlib=Path(s["platlib"]),
                scripts=Path(s["scripts"]), data=Path(s["data"]), python_version=s["version"], same_interpreter=_is_running_interpreter(python))


@contextmanager
def removed_if_failed(root: Path) -> Iterator[None]:
    """Remove the environment at ``root`` if the block fails, there was none before it, and
    its site-packages holds nothing.

    An environment that was there stays, with whatever was installed before the failure:
    removing it would lose the user's packages. A new one that holds packages stays too,
    as any failed sync leaves what it installed (and one a second sync made and filled
    while this one was resolving is not this one's to remove), and so does one a sync is
    installing into (its lock is held). What is left to remove is an empty environment
    the failure would otherwise leave behind.
    """
    fresh = not os.path.lexists(root)
    try:
        yield
    except BaseException:
        if fresh and os.path.isdir(root) and not os.path.islink(root):
            _remove_if_empty(root)
        raise


def _remove_if_empty(root: Path) -> None:
    try:
        with FileLock(os.path.join(root, ".satlock-sync.lock"), timeout=0):
            venv = open_venv(root)
            # Nothing at all in site-packages, not only no .dist-info: a package pip or
            # setup.py installed with an .egg-info, a bare module or a .pth is the user's too.
            sites = {venv.purelib, venv.platlib}
            if not any(Path(site).is_dir() and next(Path(site).iterdir(), None) for site in sites):
                shutil.rmtree(root, ignore_errors=True)
    except (Held, InstallError, OSError):
        pass  # in use, not an environment after all, or unreadable: left as it is


def create_venv(root: Path, python: Path | None = None, *, seed: bool = False) -> Venv:
    """Create an environment at ``root`` (no pip unless ``seed``), or open the one already there."""
    if (root / "pyvenv.cfg").exists():
        return open_venv(root)
    if os.path.lexists(root) and not root.is_dir():
        raise InstallError(f"cannot create a virtual environment at {root}: something that is not a folder is there",
                           hint=f"remove or rename {root} and run again")
    if python is None or _is_running_interpreter(Path(python)):
        try:
            venv.EnvBuilder(symlinks=os.name != "nt", with_pip=seed).create(str(root))
        except (OSError, subprocess.CalledProcessError) as e:
            raise InstallError(f"could not create a virtual environment at {root}: {e}") from None
        except ValueError:
            # venv will not create an environment through a link (to a folder that is not one).
            raise InstallError(f"cannot create a virtual environment at {root}: it is a link to a folder that is not one",
                               hint=f"remove the link {root}, or point it at a virtual environment, and run again") from None
        return open_venv(root)
    # Before anything is made: an environment satlock cannot use is not left to remove.
    _check_packaging_runs(_base_interpreter(python)[1], f"interpreter {python} is",
                          "pass --python with the path of a newer interpreter")
    cmd = [str(python), "-m", "venv", str(root)]
    if not seed:
        cmd.insert(3, "--without-pip")
    try:
        with _starting(python):
            subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=CREATE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise InstallError(f"interpreter {python} did not make the virtual environment at {root} within {CREATE_TIMEOUT_S:g}s",
                           hint="pass --python with the path of an interpreter that runs") from None
    except subprocess.CalledProcessError as e:
        raise InstallError(f"could not create a virtual environment at {root}: {e.stderr.strip()[-300:]}") from None
    return open_venv(root)


_ENVIRONMENT_SCRIPT = (
    "import json; from packaging.markers import default_environment; from packaging.tags import sys_tags; "
    "print(json.dumps({'environment': default_environment(), 'tags': [str(t) for t in sys_tags()]}))"
)


def packaging_requires_python() -> SpecifierSet | None:
    """The Pythons the installed ``packaging`` runs on (its Requires-Python), if it says."""
    from importlib.metadata import PackageNotFoundError, metadata

    try:
        return SpecifierSet(metadata("packaging")["Requires-Python"] or "")
    except (PackageNotFoundError, InvalidSpecifier):
        return None


def _check_packaging_runs(version: str, what: str, hint: str) -> None:
    """Refuse an interpreter that cannot import satlock's ``packaging`` (a Python older than
    its Requires-Python), with one line saying so, before the marker script fails with an
    ImportError traceback of that interpreter."""
    needs = packaging_requires_python()
    if needs is None or needs.contains(version, prereleases=True):
        return
    raise InstallError(f"{what} Python {version}, and satlock installs only into environments of Python {needs} "
                       f"(it reads their markers and wheel tags with packaging {packaging.__version__}, which needs that)",
                       hint=hint)


def marker_environment(venv: Venv) -> tuple[dict[str, str], list[Tag]]:
    """The marker environment and supported wheel tags of the venv's interpreter.

    Asked of the interpreter itself, using satlock's own ``packaging`` (pure Python), so
    the venv needs nothing installed.
    """
    if venv.same_interpreter:
        # The venv's interpreter is the one running satlock: same markers, same tags.
        return dict(default_environment()), list(sys_tags())
    _check_packaging_runs(venv.python_version, f"{venv.root} runs",
                          f"remove {venv.root} and sync with --python pointing at a newer interpreter")
    packaging_parent = str(Path(packaging.__file__).resolve().parent.parent)
    env = dict(os.environ, PYTHONPATH=packaging_parent)
    env.pop("PYTHONHOME", None)
    try:
        out = subprocess.run([str(venv.python), "-c", _ENVIRONMENT_SCRIPT], check=True, capture_output=True,
                             text=True, env=env).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        detail = getattr(e, "stderr", "") or str(e)
        raise InstallError(f"cannot read the marker environment of {venv.python}: {detail.strip()[-300:]}",
                           hint=f"remove {venv.root} and run again") from None
    try:
        data = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise InstallError(f"{venv.python} printed something unexpected instead of its marker environment: {out[-300:]!r}",
                           hint="check the environment's sitecustomize or PYTHONSTARTUP") from None
    tags = [Tag(*t.split("-", 2)) for t in data["tags"]]
    return data["environment"], tags
