"""Measure satlock's SAT core alone: CNF size, solver calls and solve time.

Two tables go to ``benchmarks/results/sat_core.md``:

* per requirement set: the solver's own statistics for a real resolution (cache warm),
  next to the wall time of a warm ``satlock lock`` of the same set, so the share of the
  lock spent in the solver is visible (target: under 30 %, issue 14);
* a synthetic scaling run on an in-memory index of 100, 1,000 and 3,000 candidates, to
  show that clauses grow linearly with candidates.

The synthetic run drives ``satlock.resolver.solve.Solver`` over
``satlock.resolver.memory.MemoryProvider`` and reads ``Resolution.stats`` (a ``SolveStats``:
``variables``, ``clauses``, ``solver_calls``, ``solve_seconds``). The per-set run calls
``satlock.resolver.locking.lock_project`` with the warm cache and reads the same stats.
"""

from __future__ import annotations

import argparse
import datetime
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
SETS_DIR = HERE / "sets"
RESULTS_DIR = HERE / "results"
DEFAULT_SIZES = (100, 1_000, 3_000)
VERSIONS_PER_PROJECT = 10


def synthetic_index(
    n_candidates: int,
    *,
    versions_per_project: int = VERSIONS_PER_PROJECT,
    deps_per_version: int = 3,
    seed: int = 0,
) -> dict[str, dict[str, list[str]]]:
    """An in-memory index ``{project: {version: [requirement, ...]}}`` of ``n_candidates`` versions.

    Projects ``p00000``, ``p00001``... each have versions ``1.0`` to ``N.0``. A version
    depends only on projects with a higher number (no cycles), through upper bounds and
    exclusions (``<k.0``, ``!=k.0``) drawn at random, so newest-first choices clash and
    the solver has to trade versions off. Version ``1.0`` never has dependencies and no
    constraint excludes it, so the index always has a solution: the benchmark measures
    search, not unsatisfiability proofs. The same arguments give the same index.
    """
    if n_candidates < 1:
        raise ValueError("n_candidates must be at least 1")
    rng = random.Random(seed)
    n_projects = max(1, -(-n_candidates // versions_per_project))
    names = [f"p{i:05d}" for i in range(n_projects)]
    index: dict[str, dict[str, list[str]]] = {}
    remaining = n_candidates
    for i, name in enumerate(names):
        count = min(versions_per_project, remaining)
        remaining -= count
        versions: dict[str, list[str]] = {}
        for v in range(1, count + 1):
            deps: list[str] = []
            later = names[i + 1:]
            if v > 1 and later:
                for target in rng.sample(later[:50], min(deps_per_version, len(later[:50]))):
                    if rng.random() < 0.5:
                        deps.append(f"{target}<{rng.randint(2, versions_per_project + 1)}.0")
                    else:
                        deps.append(f"{target}!={rng.randint(2, versions_per_project)}.0")
            versions[f"{v}.0"] = deps
        index[name] = versions
    return index


def synthetic_roots(index: dict[str, dict[str, list[str]]], count: int = 5) -> list[str]:
    """Root requirements for a synthetic index: its first ``count`` projects, unpinned."""
    return sorted(index)[:count]


# --------------------------------------------------------------------------- wiring


def project_stats(project_dir: Path):
    """The solver's statistics for resolving ``project_dir`` with satlock's index client (warm cache)."""
    from satlock.cache import Cache, default_cache_dir
    from satlock.resolver.freshness import LockOptions
    from satlock.resolver.locking import lock_project
    from satlock.resolver.settings import IndexOptions, make_client
    from satlock.resolver.project import load_project

    from satlock.buildenv.metadata import ProfileBuilder

    project = load_project(project_dir)
    cache = Cache(default_cache_dir())
    client = make_client(project, IndexOptions(), cache)
    builder = ProfileBuilder(project, client, cache)
    return lock_project(project, LockOptions(), client, builder=builder).resolution.stats


def synthetic_stats(index: dict[str, dict[str, list[str]]], roots: list[str]):
    """The solver's statistics for ``roots`` against an in-memory index, for this interpreter."""
    from packaging.markers import default_environment
    from packaging.requirements import Requirement

    from satlock.resolver.memory import MemoryProvider
    from satlock.resolver.solve import RootRequirement, Solver

    solver = Solver(MemoryProvider(index), dict(default_environment()))
    resolution = solver.solve([RootRequirement(Requirement(r)) for r in roots])
    return resolution.stats


# --------------------------------------------------------------------------- measuring


@dataclass(frozen=True)
class CoreRow:
    label: str
    variables: int | None = None
    clauses: int | None = None
    solver_calls: int | None = None
    solve_seconds: float | None = None
    lock_seconds: float | None = None
    candidates: int | None = None
    error: str | None = None


def _satlock_command() -> list[str]:
    script = Path(sys.executable).parent / "satlock"
    return [str(script)] if script.exists() else [sys.executable, "-m", "satlock"]


def _timed_lock(workdir: Path, env: dict[str, str], timeout: float) -> tuple[float, str | None]:
    (workdir / "pylock.toml").unlink(missing_ok=True)
    start = time.perf_counter()
    try:
        proc = subprocess.run([*_satlock_command(), "lock"], cwd=workdir, env=env, capture_output=True,
                              text=True, errors="replace", stdin=subprocess.DEVNULL, timeout=timeout)
    except subprocess.TimeoutExpired:
        return timeout, f"satlock lock timed out after {timeout:g} s"
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        lines = [line.strip() for line in proc.stderr.splitlines() if line.strip()] or ["(no output)"]
        return elapsed, "satlock lock failed: " + lines[-1 if lines[0].startswith("Traceback") else 0]
    return elapsed, None


def measure_set(set_name: str, runs: int, timeout: float) -> CoreRow:
    """Warm the cache with one lock, then time warm locks and read the solver's stats."""
    with tempfile.TemporaryDirectory(prefix="satlock-sat-core-") as tmp:
        workdir = Path(tmp) / "project"
        shutil.copytree(SETS_DIR / set_name, workdir)
        env = dict(os.environ, SATLOCK_CACHE_DIR=str(Path(tmp) / "cache"))
        _seconds, error = _timed_lock(workdir, env, timeout)
        if error:
            return CoreRow(set_name, error=error)
        times = []
        for _ in range(runs):
            seconds, error = _timed_lock(workdir, env, timeout)
            if error:
                return CoreRow(set_name, error=error)
            times.append(seconds)
        previous = os.environ.get("SATLOCK_CACHE_DIR")
        os.environ["SATLOCK_CACHE_DIR"] = env["SATLOCK_CACHE_DIR"]
        try:
            stats = project_stats(workdir)
        finally:
            if previous is None:
                os.environ.pop("SATLOCK_CACHE_DIR", None)
            else:
                os.environ["SATLOCK_CACHE_DIR"] = previous
    return CoreRow(set_name, stats.variables, stats.clauses, stats.solver_calls, stats.solve_seconds,
                   lock_seconds=statistics.median(times))


def measure_synthetic(n_candidates: int) -> CoreRow:
    index = synthetic_index(n_candidates)
    stats = synthetic_stats(index, synthetic_roots(index))
    return CoreRow(f"{n_candidates:,}", stats.variables, stats.clauses, stats.solver_calls,
                   stats.solve_seconds, candidates=n_candidates)


# --------------------------------------------------------------------------- output


def _n(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def _s(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def render(set_rows: Sequence[CoreRow], synthetic_rows: Sequence[CoreRow]) -> str:
    lines = [
        "# SAT core benchmark",
        "",
        f"- Date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}",
        f"- Python {sys.version.split()[0]} on {os.cpu_count()} CPUs",
        "",
    ]
    if set_rows:
        lines += [
            "| set | variables | clauses | solver calls | solve (s) | warm lock (s) | solve share |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for row in set_rows:
            share = ("—" if row.solve_seconds is None or not row.lock_seconds
                     else f"{100 * row.solve_seconds / row.lock_seconds:.1f} %")
            tail = f" ({row.error})" if row.error else ""
            lines.append(f"| {row.label}{tail} | {_n(row.variables)} | {_n(row.clauses)} | "
                         f"{_n(row.solver_calls)} | {_s(row.solve_seconds)} | {_s(row.lock_seconds)} | {share} |")
        lines.append("")
    if synthetic_rows:
        lines += [
            "| synthetic candidates | variables | clauses | clauses per candidate | solver calls | solve (s) |",
            "|---:|---:|---:|---:|---:|---:|",
        ]
        for row in synthetic_rows:
            per = ("—" if row.clauses is None or not row.candidates
                   else f"{row.clauses / row.candidates:.1f}")
            tail = f" ({row.error})" if row.error else ""
            lines.append(f"| {row.label}{tail} | {_n(row.variables)} | {_n(row.clauses)} | {per} | "
                         f"{_n(row.solver_calls)} | {_s(row.solve_seconds)} |")
        lines.append("")
    lines.append("Clauses per candidate staying flat as candidates grow means the encoding is linear.")
    return "\n".join(lines) + "\n"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="benchmarks/sat_core.py", description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="small,medium,large,backtrack,ml",
                        help="comma-separated sets; empty for none (default: %(default)s)")
    parser.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)),
                        help="comma-separated synthetic candidate counts; empty for none")
    parser.add_argument("--runs", type=int, default=3, help="warm locks per set (median)")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        from satlock.resolver.solve import SolveStats  # noqa: F401  (presence check)
    except ImportError as exc:
        print(f"sat_core.py needs satlock.resolver.solve.SolveStats, which this satlock lacks ({exc}).\n"
              f"Run it from an environment with a satlock whose solver exposes its statistics "
              f"(fields: variables, clauses, solver_calls, solve_seconds).", file=sys.stderr)
        return 2
    sets = [s for s in args.sets.split(",") if s]
    unknown = [s for s in sets if not (SETS_DIR / s / "pyproject.toml").exists()]
    if unknown:
        print(f"unknown set(s): {', '.join(unknown)} (see {SETS_DIR})", file=sys.stderr)
        return 2
    sizes = [int(n) for n in args.sizes.split(",") if n]
    set_rows = []
    for name in sets:
        row = measure_set(name, args.runs, args.timeout)
        print(f"[{name}] {row}", file=sys.stderr)
        set_rows.append(row)
    synthetic_rows = []
    for n in sizes:
        row = measure_synthetic(n)
        print(f"[synthetic {n}] {row}", file=sys.stderr)
        synthetic_rows.append(row)
    text = render(set_rows, synthetic_rows)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "sat_core.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
