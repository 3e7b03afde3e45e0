"""Time ``satlock lock`` (and optionally ``satlock sync``) against its peers on the same work.

Every tool gets the same requirement set (a PEP 621 project under ``benchmarks/sets/``),
the same public default index, its own empty cache for the cold run, and that cache again
(with the lock file deleted) for the warm run. Peers live in their own venvs under
``benchmarks/.peers/<tool>/`` so their dependencies never mix with satlock's; satlock itself
runs from the interpreter that runs this script.

Only the standard library is used, so the script runs before satlock works: a tool that
fails is a table row saying "error" and the first line of its stderr, not a crash.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
SETS_DIR = HERE / "sets"
PEERS_DIR = HERE / ".peers"
RESULTS_DIR = HERE / "results"

ALL_TOOLS = ("satlock", "uv", "pip-compile", "pip", "pdm", "poetry")
SYNC_TOOLS = ("satlock", "uv", "pip")
DEFAULT_SETS = ("small", "medium", "large", "backtrack", "ml")
# Large sets get fewer repetitions so a default run stays under ~15 minutes on 2 cores.
DEFAULT_RUNS = {"small": 3, "medium": 3}
DEFAULT_RUNS_OTHER = 1
DEFAULT_TIMEOUT = 180.0

# What pip installs into each peer venv. pdm's "locked" extra pins its HTTP stack, which
# otherwise drifts out of step with pdm (hishel 2 broke pdm 2.29).
PEER_PACKAGES: dict[str, list[str]] = {
    "uv": ["uv"],
    "pip-compile": ["pip-tools"],
    "pip": [],
    "pdm": ["pdm[locked]"],
    "poetry": ["poetry"],
}

# Sets whose wheels are too big to download only to read their metadata (torch is ~1 GB),
# and the tools that download whole wheels when the index serves no PEP 658 metadata.
METADATA_ONLY_SETS = frozenset({"ml"})
WHOLE_WHEEL_TOOLS = frozenset({"pip", "pip-compile", "pdm"})
PROBE_PROJECT = "torch"

# Environment variables that could point a tool at another index, a mirror, a config file
# or an active environment; they are dropped so every tool does the same work.
_DROPPED_PREFIXES = ("PIP_", "UV_", "PDM_", "POETRY_", "SATLOCK_", "CONDA_", "PYTHON")
_DROPPED_NAMES = ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")
# Kept because they only say which CA bundle to trust, not where to look.
_KEPT_NAMES = ("PIP_CERT",)


# --------------------------------------------------------------------------- options


@dataclass(frozen=True)
class Options:
    sets: tuple[str, ...]
    tools: tuple[str, ...]
    runs: int | None
    out: Path
    timeout: float
    sync: bool
    sync_set: str
    upgrade_peers: bool
    allow_wheel_downloads: bool = False

    def runs_for(self, set_name: str) -> int:
        if self.runs is not None:
            return self.runs
        return DEFAULT_RUNS.get(set_name, DEFAULT_RUNS_OTHER)


def _csv(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.split(",") if item.strip())


def available_sets() -> tuple[str, ...]:
    return tuple(sorted(p.parent.name for p in SETS_DIR.glob("*/pyproject.toml")))


def parse_args(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="benchmarks/run.py",
        description="Benchmark satlock lock/sync against uv, pip-compile, pip, PDM and Poetry.",
    )
    parser.add_argument("--sets", type=_csv, default=DEFAULT_SETS,
                        help="comma-separated requirement sets (default: %(default)s)")
    parser.add_argument("--tools", type=_csv, default=ALL_TOOLS,
                        help="comma-separated tools (default: all of %(default)s)")
    parser.add_argument("--runs", type=int, default=None,
                        help="runs per tool and set; the median is reported "
                             "(default: 3 for small/medium, 1 for the others)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR,
                        help="directory for lock.md / sync.md (default: benchmarks/results/)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                        help="seconds before one command counts as a timeout (default: %(default)s)")
    parser.add_argument("--sync", action="store_true",
                        help="also benchmark installing the locked set into a fresh .venv")
    parser.add_argument("--sync-set", default="medium", help="set used for --sync (default: %(default)s)")
    parser.add_argument("--upgrade-peers", action="store_true",
                        help="reinstall the peer tools at their newest versions")
    parser.add_argument("--allow-wheel-downloads", action="store_true",
                        help="run pip, pip-compile and PDM on the ml set even when the index "
                             "serves no PEP 658 metadata (they then download every torch wheel)")
    ns = parser.parse_args(argv)

    unknown_tools = [t for t in ns.tools if t not in ALL_TOOLS]
    if unknown_tools:
        parser.error(f"unknown tool(s) {', '.join(unknown_tools)}; choose from {', '.join(ALL_TOOLS)}")
    known_sets = available_sets()
    wanted_sets = (*ns.sets, ns.sync_set) if ns.sync else ns.sets
    unknown_sets = [s for s in wanted_sets if s not in known_sets]
    if unknown_sets:
        parser.error(f"unknown set(s) {', '.join(unknown_sets)}; "
                     f"sets are the folders of {SETS_DIR}: {', '.join(known_sets)}")
    if ns.runs is not None and ns.runs < 1:
        parser.error("--runs must be at least 1")
    if not ns.tools or not ns.sets:
        parser.error("--tools and --sets need at least one entry each")
    # Each tool once: a set's rows are matched to its tools by name (``_measure_all``).
    return Options(
        sets=tuple(ns.sets), tools=tuple(dict.fromkeys(ns.tools)), runs=ns.runs, out=ns.out,
        timeout=ns.timeout, sync=ns.sync, sync_set=ns.sync_set, upgrade_peers=ns.upgrade_peers,
        allow_wheel_downloads=ns.allow_wheel_downloads,
    )


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Outcome:
    """One timed command: either seconds (and what it resolved) or why it failed."""

    seconds: float | None = None
    packages: int | None = None
    cache_bytes: int | None = None
    error: str | None = None


@dataclass
class Row:
    set_name: str
    tool: str
    cold: list[Outcome] = field(default_factory=list)
    warm: list[Outcome] = field(default_factory=list)

    @property
    def error(self) -> str | None:
        for outcome in (*self.cold, *self.warm):
            if outcome.error:
                return outcome.error
        return None

    def median(self, phase: str) -> float | None:
        times = [o.seconds for o in getattr(self, phase) if o.seconds is not None]
        return statistics.median(times) if times else None

    @property
    def packages(self) -> int | None:
        for outcome in (*self.cold, *self.warm):
            if outcome.packages is not None:
                return outcome.packages
        return None

    @property
    def cold_cache_bytes(self) -> int | None:
        sizes = [o.cache_bytes for o in self.cold if o.cache_bytes is not None]
        return max(sizes) if sizes else None


def first_error_line(stderr: str, stdout: str = "", limit: int = 140) -> str:
    """The first non-blank line of stderr (or stdout when stderr is empty), table-safe.

    A Python traceback's first line says nothing, so for one the exception line (its
    last line) is taken instead.
    """
    for text in (stderr, stdout):
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if not lines:
            continue
        line = lines[-1] if lines[0].startswith("Traceback (most recent call last)") else lines[0]
        line = line.replace("|", "\\|")
        return line if len(line) <= limit else line[: limit - 1] + "…"
    return "(no output)"


def _fmt_error(message: str) -> str:
    return message if message.startswith("skipped") else f"error: {message}"


def _fmt_seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _fmt_ratio(mine: float | None, theirs: float | None) -> str:
    if mine is None or theirs is None or theirs <= 0:
        return "—"
    return f"{mine / theirs:.2f}×"


def _fmt_bytes(value: int | None) -> str:
    if value is None:
        return "—"
    return f"{value / 2**20:.1f} MiB"


@dataclass(frozen=True)
class Meta:
    date: str
    machine: str
    versions: dict[str, str]
    runs: dict[str, int]
    timeout: float


def _header(title: str, meta: Meta) -> list[str]:
    lines = [
        f"# {title}",
        "",
        f"- Date: {meta.date}",
        f"- Machine: {meta.machine}",
        "- Tools: " + ", ".join(f"{tool} {version}" for tool, version in meta.versions.items()),
        "- Runs (median reported): " + ", ".join(f"{s} {n}" for s, n in meta.runs.items()),
        f"- Timeout per command: {meta.timeout:g} s",
        "",
    ]
    return lines


def render_lock_table(rows: Sequence[Row], meta: Meta) -> str:
    """Markdown for the lock benchmark; ratios are satlock's time divided by the peer's."""
    lines = _header("Lock benchmark", meta)
    lines += [
        "| set | tool | packages | cold (s) | warm (s) | cold cache | satlock/tool cold | satlock/tool warm |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    satlock_rows = {row.set_name: row for row in rows if row.tool == "satlock"}
    for row in rows:
        ours = satlock_rows.get(row.set_name)
        if row.error and row.median("cold") is None:
            cells = [row.set_name, row.tool, "—", _fmt_error(row.error), "—", "—", "—", "—"]
        else:
            cold, warm = row.median("cold"), row.median("warm")
            warm_cell = _fmt_seconds(warm) if warm is not None else _fmt_error(row.error or "no run")
            mine_cold = ours.median("cold") if ours and row.tool != "satlock" else None
            mine_warm = ours.median("warm") if ours and row.tool != "satlock" else None
            cells = [
                row.set_name, row.tool,
                "—" if row.packages is None else str(row.packages),
                _fmt_seconds(cold), warm_cell, _fmt_bytes(row.cold_cache_bytes),
                _fmt_ratio(mine_cold, cold), _fmt_ratio(mine_warm, warm),
            ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "packages: distinct distributions in the tool's lock or report, the project itself excluded.",
        "satlock/tool below 1.00× means satlock was faster.",
        "",
    ]
    return "\n".join(lines)


def render_sync_table(rows: Sequence[Row], meta: Meta) -> str:
    """Markdown for the sync benchmark (install of an existing lock into a fresh .venv)."""
    lines = _header("Sync benchmark", meta)
    lines += [
        "| set | tool | installed | cold (s) | warm (s) | satlock/tool cold | satlock/tool warm |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    satlock_rows = {row.set_name: row for row in rows if row.tool == "satlock"}
    for row in rows:
        ours = satlock_rows.get(row.set_name)
        if row.error and row.median("cold") is None:
            cells = [row.set_name, row.tool, "—", _fmt_error(row.error), "—", "—", "—"]
        else:
            cold, warm = row.median("cold"), row.median("warm")
            warm_cell = _fmt_seconds(warm) if warm is not None else _fmt_error(row.error or "no run")
            mine_cold = ours.median("cold") if ours and row.tool != "satlock" else None
            mine_warm = ours.median("warm") if ours and row.tool != "satlock" else None
            cells = [
                row.set_name, row.tool,
                "—" if row.packages is None else str(row.packages),
                _fmt_seconds(cold), warm_cell,
                _fmt_ratio(mine_cold, cold), _fmt_ratio(mine_warm, warm),
            ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "installed: *.dist-info folders in the new .venv, the project itself excluded.",
        "cold: empty cache, no .venv. warm: same cache, .venv deleted first.",
        "",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- tools


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def base_python() -> str:
    """The interpreter behind this (possibly virtual) environment, for venvs and lockers."""
    return getattr(sys, "_base_executable", None) or sys.executable


def peer_dir(tool: str) -> Path:
    return PEERS_DIR / tool


def peer_bin(tool: str, exe: str) -> str:
    return str(peer_dir(tool) / "bin" / exe)


def satlock_command() -> list[str]:
    script = Path(sys.executable).parent / "satlock"
    return [str(script)] if script.exists() else [sys.executable, "-m", "satlock"]


def default_index_url() -> str | None:
    """The public simple index, for Poetry, which otherwise uses the JSON API."""
    try:
        from pypi_simple import PYPI_SIMPLE_ENDPOINT
    except ImportError:
        return None
    return PYPI_SIMPLE_ENDPOINT


def index_serves_metadata(project: str = PROBE_PROJECT) -> bool:
    """Whether the default index offers PEP 658 metadata for ``project``'s wheels.

    Without it pip, pip-compile and PDM download each wheel they consider, which for torch
    means gigabytes; uv, Poetry and satlock read the metadata with range requests instead.
    """
    url = default_index_url()
    if url is None:
        return False
    request = urllib.request.Request(
        f"{url.rstrip('/')}/{project}/", headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            page = json.load(response)
    except (OSError, ValueError):
        return False
    wheels = [f for f in page.get("files", []) if f.get("filename", "").endswith(".whl")]
    return any(f.get("core-metadata") or f.get("data-dist-info-metadata") for f in wheels)


def project_info(workdir: Path) -> tuple[str, list[str]]:
    data = tomllib.loads((workdir / "pyproject.toml").read_text())
    project = data.get("project", {})
    return canonical(project.get("name", "")), list(project.get("dependencies", []))


def _toml_packages(path: Path, key: str, project: str) -> int:
    data = tomllib.loads(path.read_text())
    names = {canonical(p["name"]) for p in data.get(key, []) if "name" in p}
    names.discard(project)
    return len(names)


def _requirements_packages(path: Path, project: str) -> int:
    names = set()
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*==", line)
        if match:
            names.add(canonical(match.group(1)))
    names.discard(project)
    return len(names)


def _report_packages(path: Path, project: str) -> int:
    report = json.loads(path.read_text())
    names = {canonical(item["metadata"]["name"]) for item in report.get("install", [])}
    names.discard(project)
    return len(names)


def installed_packages(venv: Path, project: str) -> int:
    names = set()
    for info in venv.glob("lib/python*/site-packages/*.dist-info"):
        names.add(canonical(info.name[: -len(".dist-info")].split("-")[0]))
    names.discard(project)
    return len(names)


@dataclass(frozen=True)
class LockTool:
    """How one tool locks a project in ``workdir`` and how to count what it resolved."""

    name: str
    command: Callable[[], list[str]]
    output: str
    count: Callable[[Path, str], int]
    prepare: Callable[[Path], None] = lambda workdir: None


def _write_requirements_in(workdir: Path) -> None:
    _, deps = project_info(workdir)
    (workdir / "requirements.in").write_text("".join(f"{d}\n" for d in deps))


def _add_poetry_source(workdir: Path) -> None:
    """Point Poetry at the simple API, the one every other tool reads.

    Poetry's implicit PyPI source uses the JSON API; indexes that only mirror the simple
    API (PEP 503/691/658) answer it with 404s, and it would not be the same work anyway.
    """
    url = default_index_url()
    if url is None:
        return
    with (workdir / "pyproject.toml").open("a") as f:
        f.write(f'\n[[tool.poetry.source]]\nname = "default-index"\nurl = "{url}"\npriority = "primary"\n')


LOCK_TOOLS: dict[str, LockTool] = {
    "satlock": LockTool(
        "satlock", lambda: [*satlock_command(), "lock"], "pylock.toml",
        lambda d, p: _toml_packages(d / "pylock.toml", "packages", p),
    ),
    "uv": LockTool(
        "uv", lambda: [peer_bin("uv", "uv"), "lock"], "uv.lock",
        lambda d, p: _toml_packages(d / "uv.lock", "package", p),
    ),
    "pip-compile": LockTool(
        "pip-compile",
        lambda: [peer_bin("pip-compile", "pip-compile"), "--quiet", "pyproject.toml", "-o", "req.txt"],
        "req.txt",
        lambda d, p: _requirements_packages(d / "req.txt", p),
    ),
    "pip": LockTool(
        "pip",
        lambda: [peer_bin("pip", "python"), "-m", "pip", "install", "--dry-run", "--ignore-installed",
                 "--quiet", "--report", "r.json", "-r", "requirements.in"],
        "r.json",
        lambda d, p: _report_packages(d / "r.json", p),
        prepare=_write_requirements_in,
    ),
    "pdm": LockTool(
        "pdm", lambda: [peer_bin("pdm", "pdm"), "lock"], "pdm.lock",
        lambda d, p: _toml_packages(d / "pdm.lock", "package", p),
    ),
    "poetry": LockTool(
        "poetry", lambda: [peer_bin("poetry", "poetry"), "lock", "--no-interaction"], "poetry.lock",
        lambda d, p: _toml_packages(d / "poetry.lock", "package", p),
        prepare=_add_poetry_source,
    ),
}


def tool_env(scratch: Path) -> dict[str, str]:
    """A clean environment whose every cache and config location lies under ``scratch``.

    ``scratch/cache`` is the one cache root for all tools, so "cold" is a matter of
    deleting it; config and data homes are fresh so no user config leaks in.
    """
    env = {
        key: value for key, value in os.environ.items()
        if key in _KEPT_NAMES or not (key.startswith(_DROPPED_PREFIXES) or key in _DROPPED_NAMES)
    }
    cache = scratch / "cache"
    home = scratch / "home"
    python = base_python()
    env.update({
        "SATLOCK_CACHE_DIR": str(cache / "satlock"),
        "UV_CACHE_DIR": str(cache / "uv"),
        "PIP_CACHE_DIR": str(cache / "pip"),
        "PDM_CACHE_DIR": str(cache / "pdm"),
        "POETRY_CACHE_DIR": str(cache / "poetry"),
        "XDG_CACHE_HOME": str(cache / "xdg"),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_STATE_HOME": str(home / "state"),
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_NO_INPUT": "1",
        "UV_NO_CONFIG": "1",
        "UV_PYTHON": python,
        "UV_PYTHON_DOWNLOADS": "never",
        "PDM_CHECK_UPDATE": "false",
        "PDM_PYTHON": python,
        "PDM_USE_VENV": "false",
        "POETRY_VIRTUALENVS_CREATE": "false",
        "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
    })
    return env


def dir_size(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def timed(command: list[str], cwd: Path, env: dict[str, str], timeout: float,
          log: Path | None = None) -> tuple[float, str | None]:
    """Run one command; (seconds, None) on success, (seconds, reason) otherwise.

    With ``log``, the command line and its whole stdout and stderr are written there, so a
    failure can be diagnosed beyond the one line a table has room for.
    """
    start = time.perf_counter()
    try:
        proc = subprocess.run(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, errors="replace", timeout=timeout)
    except subprocess.TimeoutExpired:
        return time.perf_counter() - start, f"timeout after {timeout:g} s"
    except OSError as exc:
        return time.perf_counter() - start, f"cannot run {command[0]}: {exc.strerror}"
    elapsed = time.perf_counter() - start
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(f"$ {' '.join(command)}\n# exit {proc.returncode} after {elapsed:.2f} s\n"
                       f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}")
    if proc.returncode != 0:
        return elapsed, first_error_line(proc.stderr, proc.stdout)
    return elapsed, None


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Scratch:
    """The folders of one benchmark run, all removed only once nothing is timed any more.

    Removing a folder of thousands of files slows down the next ones made on the same file
    system for a while: ext4 without a journal (as on the benchmark machine) skips every
    inode freed in the last 30 seconds when it allocates one, so a ``mkdir`` after a big
    delete scans past all of them. Deleting one tool's caches between runs would charge
    that to whichever tool is timed next. The only delete while timing is the one that is
    part of the measurement: a warm sync's ``.venv``, removed just before, for every tool.
    """

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="satlock-bench-"))

    def folder(self, name: str) -> Path:
        return Path(tempfile.mkdtemp(prefix=f"{name}-", dir=self.root))

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def lock_round(tool: LockTool, row: Row, run: int, runs: int, timeout: float, scratches: Scratch) -> bool:
    """One cold lock of ``row``'s set in a new folder with an empty cache, then a warm one
    (same cache, lock deleted), added to ``row``; whether both succeeded."""
    set_name = row.set_name
    scratch = scratches.folder(f"{tool.name}-{set_name}")
    workdir = scratch / "project"
    shutil.copytree(SETS_DIR / set_name, workdir)
    tool.prepare(workdir)
    project, _ = project_info(workdir)
    env = tool_env(scratch)
    for phase in ("cold", "warm"):
        (workdir / tool.output).unlink(missing_ok=True)
        seconds, error = timed(tool.command(), workdir, env, timeout)
        outcome = _lock_outcome(tool, workdir, project, scratch, seconds, error, phase)
        getattr(row, phase).append(outcome)
        _log(f"[{set_name}] {tool.name} {phase} run {run + 1}/{runs}: "
             + (f"{seconds:.2f} s, {outcome.packages} packages" if not outcome.error
                else outcome.error))
        if outcome.error:
            return False  # a failing tool fails the same way again; save the time
    return True


def measure_lock_interleaved(tools: Sequence[LockTool], set_name: str, runs: int, timeout: float,
                             scratches: Scratch) -> list[Row]:
    """``runs`` rounds of every tool locking one set, the tools taking turns within each round.

    Side by side in time, not one tool's runs after another's: on a shared machine the speed
    drifts over minutes (another tenant, the host's caches), and timing all of satlock's runs
    before all of uv's puts that drift into the ratio. Taking turns gives each tool the same
    conditions on average, as benchmark tools that alternate commands do. A tool that failed
    is not run again.
    """
    rows = [Row(set_name, tool.name) for tool in tools]
    failed: set[str] = set()
    for run in range(runs):
        for tool, row in zip(tools, rows):
            if tool.name not in failed and not lock_round(tool, row, run, runs, timeout, scratches):
                failed.add(tool.name)
    return rows


def _lock_outcome(tool: LockTool, workdir: Path, project: str, scratch: Path,
                  seconds: float, error: str | None, phase: str) -> Outcome:
    if error:
        return Outcome(error=error)
    try:
        packages = tool.count(workdir, project)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return Outcome(error=f"succeeded but its output could not be read: {exc}")
    cache = dir_size(scratch / "cache") if phase == "cold" else None
    return Outcome(seconds=seconds, packages=packages, cache_bytes=cache)


# --------------------------------------------------------------------------- sync


@dataclass(frozen=True)
class SyncTool:
    name: str
    lock_tool: str
    command: Callable[[Path], list[str]]
    # Untimed set-up before each install, e.g. the bare venv pip installs into.
    before: Callable[[Path], None] = lambda workdir: None


def _bare_venv(workdir: Path) -> None:
    subprocess.run([base_python(), "-m", "venv", "--without-pip", str(workdir / ".venv")], check=True)


SYNC_TOOL_DEFS: dict[str, SyncTool] = {
    "satlock": SyncTool("satlock", "satlock", lambda d: [*satlock_command(), "sync", "--frozen"]),
    "uv": SyncTool("uv", "uv", lambda d: [peer_bin("uv", "uv"), "sync", "--frozen"]),
    "pip": SyncTool(
        "pip", "pip-compile",
        lambda d: [peer_bin("pip", "python"), "-m", "pip", "--python", str(d / ".venv" / "bin" / "python"),
                   "install", "--quiet", "-r", "req.txt"],
        before=_bare_venv,
    ),
}


def _locked_for_sync(sync: SyncTool, set_name: str, timeout: float, scratches: Scratch) -> tuple[Path, str | None]:
    """A folder holding the set locked by the sync tool's own locker (not timed), and the
    locker's error, if it failed."""
    locker = LOCK_TOOLS[sync.lock_tool]
    tmp = scratches.folder(f"sync-{sync.name}")
    locked = Path(tmp) / "locked"
    shutil.copytree(SETS_DIR / set_name, locked / "project")
    locker.prepare(locked / "project")
    _seconds, error = timed(locker.command(), locked / "project", tool_env(locked), timeout)
    return Path(tmp), error


def sync_round(sync: SyncTool, row: Row, tmp: Path, run: int, runs: int, timeout: float) -> bool:
    """One sync of the locked project in ``tmp`` into a new ``.venv`` with an empty cache,
    then one with the cache full (``.venv`` removed first), added to ``row``; whether both
    succeeded."""
    scratch = tmp / f"run{run}"
    workdir = scratch / "project"
    shutil.copytree(tmp / "locked" / "project", workdir)
    project, _ = project_info(workdir)
    env = tool_env(scratch)
    for phase in ("cold", "warm"):
        shutil.rmtree(workdir / ".venv", ignore_errors=True)
        sync.before(workdir)
        seconds, error = timed(sync.command(workdir), workdir, env, timeout)
        outcome = (Outcome(error=error) if error else
                   Outcome(seconds=seconds, packages=installed_packages(workdir / ".venv", project)))
        getattr(row, phase).append(outcome)
        _log(f"[sync {row.set_name}] {sync.name} {phase} run {run + 1}/{runs}: "
             + (f"{seconds:.2f} s, {outcome.packages} installed" if not error else error))
        if error:
            return False
    return True


def measure_sync_interleaved(syncs: Sequence[SyncTool], set_name: str, runs: int, timeout: float,
                             scratches: Scratch) -> list[Row]:
    """Every sync tool's ``runs`` rounds on one set, taking turns within each round as the
    locks do (``measure_lock_interleaved``); each tool's lock is made first, untimed."""
    rows = [Row(set_name, sync.name) for sync in syncs]
    folders: dict[str, Path] = {}
    for sync, row in zip(syncs, rows):
        tmp, error = _locked_for_sync(sync, set_name, timeout, scratches)
        if error:
            row.cold.append(Outcome(error=f"lock failed: {error}"))
            _log(f"[sync {set_name}] {sync.name}: lock failed: {error}")
        else:
            folders[sync.name] = tmp
    for run in range(runs):
        for sync, row in zip(syncs, rows):
            if sync.name in folders and not sync_round(sync, row, folders[sync.name], run, runs, timeout):
                del folders[sync.name]
    return rows


# --------------------------------------------------------------------------- set-up


def ensure_peer(tool: str, upgrade: bool) -> str | None:
    """Create ``.peers/<tool>`` with the tool installed; None on success, else why not."""
    venv = peer_dir(tool)
    python = venv / "bin" / "python"
    marker = venv / ".installed"
    if marker.exists() and not upgrade:
        return None
    if not python.exists():
        proc = subprocess.run([base_python(), "-m", "venv", str(venv)], capture_output=True, text=True)
        if proc.returncode != 0:
            return f"cannot create {venv}: {first_error_line(proc.stderr, proc.stdout)}"
    _log(f"installing {tool} into {venv} ...")
    proc = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--upgrade", "pip", *PEER_PACKAGES[tool]],
        capture_output=True, text=True,
    )
    if proc.returncode != 0:
        errors = [line for line in proc.stderr.splitlines() if line.startswith("ERROR")]
        return f"installing {tool} failed: {first_error_line(chr(10).join(errors) or proc.stderr)}"
    marker.write_text("")
    return None


def tool_version(tool: str) -> str:
    if tool == "satlock":
        try:
            return metadata.version("satlock")
        except metadata.PackageNotFoundError:
            return "not installed"
    commands = {
        "uv": [peer_bin("uv", "uv"), "--version"],
        "pip-compile": [peer_bin("pip-compile", "pip-compile"), "--version"],
        "pip": [peer_bin("pip", "python"), "-m", "pip", "--version"],
        "pdm": [peer_bin("pdm", "pdm"), "--version"],
        "poetry": [peer_bin("poetry", "poetry"), "--version"],
    }
    with tempfile.TemporaryDirectory() as tmp:
        try:
            proc = subprocess.run(commands[tool], capture_output=True, text=True, env=tool_env(Path(tmp)),
                                  stdin=subprocess.DEVNULL, timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            return "unavailable"
    numbers = re.findall(r"\d+(?:\.\d+)+\S*", proc.stdout)
    return numbers[0].rstrip(")") if numbers else "unavailable"


def machine_description() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f", {int(line.split()[1]) / 2**20:.0f} GiB RAM"
                break
    except OSError:
        pass
    return (f"{platform.system()} {platform.release()} {platform.machine()}, {cpu}, "
            f"{os.cpu_count()} CPUs{memory}, Python {platform.python_version()}")


def make_meta(tools: Sequence[str], runs: dict[str, int], timeout: float) -> Meta:
    return Meta(
        date=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        machine=machine_description(),
        versions={tool: tool_version(tool) for tool in tools},
        runs=runs,
        timeout=timeout,
    )


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    peers_needed = {t for t in options.tools if t != "satlock"}
    if options.sync:
        peers_needed |= {"uv", "pip", "pip-compile"}
    broken: dict[str, str] = {}
    for tool in sorted(peers_needed):
        problem = ensure_peer(tool, options.upgrade_peers)
        if problem:
            broken[tool] = problem
            _log(problem)

    heavy = [s for s in options.sets if s in METADATA_ONLY_SETS]
    whole_wheel = [t for t in options.tools if t in WHOLE_WHEEL_TOOLS]
    skip_heavy = bool(heavy and whole_wheel and not options.allow_wheel_downloads
                      and not index_serves_metadata())
    if skip_heavy:
        _log(f"the index serves no PEP 658 metadata: skipping {', '.join(whole_wheel)} "
             f"on {', '.join(heavy)} (see --allow-wheel-downloads)")

    options.out.mkdir(parents=True, exist_ok=True)
    scratches = Scratch()
    try:
        return _measure_all(options, broken, skip_heavy, scratches)
    finally:
        scratches.close()


def _measure_all(options: Options, broken: dict[str, str], skip_heavy: bool, scratches: Scratch) -> int:
    runs = {s: options.runs_for(s) for s in options.sets}
    rows: list[Row] = []
    for set_name in options.sets:
        skipped: dict[str, Row] = {}
        for tool in options.tools:
            if tool in broken:
                skipped[tool] = Row(set_name, tool, cold=[Outcome(error=broken[tool])])
            elif skip_heavy and set_name in METADATA_ONLY_SETS and tool in WHOLE_WHEEL_TOOLS:
                skipped[tool] = Row(set_name, tool, cold=[Outcome(
                    error="skipped: index has no PEP 658 metadata, would download whole wheels")])
        timed_tools = [LOCK_TOOLS[tool] for tool in options.tools if tool not in skipped]
        measured = {row.tool: row for row in measure_lock_interleaved(timed_tools, set_name, runs[set_name],
                                                                      options.timeout, scratches)}
        rows.extend(skipped[tool] if tool in skipped else measured[tool] for tool in options.tools)
    table = render_lock_table(rows, make_meta(options.tools, runs, options.timeout))
    (options.out / "lock.md").write_text(table)
    print(table)

    if options.sync:
        sync_runs = {options.sync_set: options.runs_for(options.sync_set)}
        problems: dict[str, str] = {}
        for tool in SYNC_TOOLS:
            needed = {tool, SYNC_TOOL_DEFS[tool].lock_tool} - {"satlock"}
            problem = next((broken[t] for t in sorted(needed) if t in broken), None)
            if problem:
                problems[tool] = problem
        measured = {row.tool: row for row in measure_sync_interleaved(
            [SYNC_TOOL_DEFS[tool] for tool in SYNC_TOOLS if tool not in problems], options.sync_set,
            sync_runs[options.sync_set], options.timeout, scratches)}
        sync_rows = [Row(options.sync_set, tool, cold=[Outcome(error=problems[tool])]) if tool in problems
                     else measured[tool] for tool in SYNC_TOOLS]
        sync_table = render_sync_table(sync_rows, make_meta(
            ("satlock", "uv", "pip-compile", "pip"), sync_runs, options.timeout))
        (options.out / "sync.md").write_text(sync_table)
        print(sync_table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
