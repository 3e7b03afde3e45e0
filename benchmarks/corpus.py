"""Lock real projects' dependency declarations with satlock and with ``uv pip compile``, and compare.

Each folder of ``benchmarks/corpus/`` is one well-known project's real declaration (PEP 621
dependencies and extras, PEP 735 groups). For each, in its own scratch folder with its own
empty caches (``run.tool_env``), this runs

- ``satlock lock --python-version 3.12 --platform linux``, cold (empty cache) then warm
  (same cache, lock deleted);
- ``uv pip compile pyproject.toml --all-extras --group G... --python-version 3.12
  --python-platform linux``, cold then warm, the same way;

and reports, per project: success or the first error line, wall times, satlock/uv, package
counts, the versions that differ, and whether each answer is *consistent*: every requirement
of the project (all extras and groups) and of every pinned package (its metadata, with the
extras asked of it) that applies on the target is satisfied by the pinned version, and every
pinned version is installable there. The metadata comes from satlock's index client, reading
the cache the satlock run filled, so only versions uv chose differently are fetched again.

It needs the network and takes a while (sequential, ``--timeout`` per command): it runs on
demand, never in CI. Results go to ``benchmarks/results/corpus.md`` (and ``corpus.json``;
full command output under ``results/corpus-logs/``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import shutil
import statistics
import sys
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import run  # noqa: E402  (benchmarks/run.py: peers, clean environments, timing)

CORPUS_DIR = HERE / "corpus"
PYTHON_VERSION = "3.12"
PLATFORM = "linux"
DEFAULT_TIMEOUT = 180.0
MAX_LISTED = 12  # differences or problems listed per project before "... and N more"


# --------------------------------------------------------------------------- the corpus


def available_projects(corpus: Path = CORPUS_DIR) -> tuple[str, ...]:
    return tuple(sorted(p.parent.name for p in corpus.glob("*/pyproject.toml")))


def project_groups(pyproject: Path) -> list[str]:
    """The PEP 735 groups a project declares (uv pip compile takes them one ``--group`` each)."""
    data = tomllib.loads(pyproject.read_text())
    return list(data.get("dependency-groups", {}))


def project_kind(pyproject: Path) -> str:
    """The ``# Kind:`` comment line of a corpus file (what sort of project it is)."""
    for line in pyproject.read_text().splitlines():
        if line.startswith("# Kind:"):
            return line[len("# Kind:"):].strip().rstrip(".")
    return ""


# --------------------------------------------------------------------------- commands


def satlock_lock_command() -> list[str]:
    return [*run.satlock_command(), "lock", "--python-version", PYTHON_VERSION, "--platform", PLATFORM]


def uv_compile_command(groups: Sequence[str]) -> list[str]:
    flags = [arg for g in groups for arg in ("--group", g)]
    return [run.peer_bin("uv", "uv"), "pip", "compile", "pyproject.toml", "--all-extras", *flags,
            "--python-version", PYTHON_VERSION, "--python-platform", PLATFORM,
            "--no-header", "--no-annotate", "--quiet", "-o", "requirements.txt"]


# --------------------------------------------------------------------------- answers


Pins = dict[str, str]


def satlock_pins(lock: Path) -> Pins:
    data = tomllib.loads(lock.read_text())
    return {run.canonical(p["name"]): str(p["version"]) for p in data.get("packages", []) if "version" in p}


def uv_pins(requirements: Path) -> Pins:
    pins: Pins = {}
    for line in requirements.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*==\s*([^\s;#]+)", line)
        if match:
            pins[run.canonical(match.group(1))] = match.group(2)
    return pins


@dataclass(frozen=True)
class Difference:
    name: str
    satlock: str | None  # None: not in satlock's answer
    uv: str | None

    def describe(self) -> str:
        return f"{self.name} {self.satlock or '—'} vs {self.uv or '—'}"


def differences(ours: Pins, theirs: Pins) -> list[Difference]:
    names = sorted(set(ours) | set(theirs))
    return [Difference(n, ours.get(n), theirs.get(n)) for n in names if ours.get(n) != theirs.get(n)]


def error_line(log: Path | None, fallback: str) -> str:
    """The line that says what went wrong: satlock's ``error:`` line or uv's ``error:``/``×`` line.

    An error line that ends with a colon announces the next one ("no set of versions satisfies
    all of these together:"), so that one is joined to it.
    """
    if log is None or not log.exists():
        return fallback
    text = log.read_text(errors="replace")
    lines = [line.strip() for line in text.split("--- stderr\n", 1)[-1].splitlines() if line.strip()]
    for i, line in enumerate(lines):
        if line.startswith(("error:", "×", "Error:")):
            if line.endswith(":") and i + 1 < len(lines):
                line = f"{line} {lines[i + 1]}"
            return run.first_error_line(line, limit=240)
    return fallback


# --------------------------------------------------------------------------- consistency


@dataclass(frozen=True)
class PackageInfo:
    """What the check needs to know of one pinned version: its requirements and Requires-Python."""

    requires: tuple[object, ...]  # packaging Requirement objects
    requires_python: object | None  # packaging SpecifierSet
    not_installable: str | None = None  # why the target cannot install this version, if it cannot


class Unknown(Exception):
    """The metadata of a pinned version could not be read (e.g. an sdist that must be built)."""


@dataclass
class Check:
    problems: list[str] = field(default_factory=list)  # requirements the answer breaks
    unchecked: list[str] = field(default_factory=list)  # pinned versions whose metadata could not be read
    unneeded: list[str] = field(default_factory=list)  # pinned but required by nothing on the target

    @property
    def consistent(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        if self.problems:
            return f"no ({len(self.problems)})"
        return "yes" + (f" ({len(self.unchecked)} unchecked)" if self.unchecked else "")


def consistency(roots: Iterable[object], pins: Mapping[str, str], environment: Mapping[str, str],
                info: Callable[[str, str], PackageInfo],
                prefetch: Callable[[list[tuple[str, str]]], None] = lambda items: None) -> Check:
    """Whether ``pins`` satisfies every applicable requirement reachable from ``roots``.

    ``roots`` are the project's requirements (all extras and groups); a requirement applies
    when its marker holds on ``environment`` for no extra or for one of the extras asked of
    the package that declares it. ``info(name, version)`` gives a pinned version's metadata
    (raising ``Unknown`` when it cannot); ``prefetch`` may warm it in parallel, one breadth of
    the walk at a time.
    """
    from packaging.utils import canonicalize_name
    from packaging.version import InvalidVersion, Version

    check = Check()
    python = Version(environment["python_full_version"])
    asked: dict[str, set[str]] = {}
    todo: list[str] = []

    def applies(req, extras: Iterable[str]) -> bool:
        if req.marker is None:
            return True
        return any(req.marker.evaluate({**environment, "extra": e}) for e in ("", *extras))

    def need(req, who: str) -> None:
        name = canonicalize_name(req.name)
        if name not in pins:
            check.problems.append(f"{who} needs {req}; {name} is not in the answer")
            return
        try:
            version = Version(pins[name])
        except InvalidVersion:
            check.problems.append(f"{name} {pins[name]} is not a valid version")
            return
        if not req.specifier.contains(version, prereleases=True):
            check.problems.append(f"{who} needs {req}; the answer has {name} {version}")
        extras = {canonicalize_name(e) for e in req.extras}
        if name not in asked:
            asked[name] = set()
            todo.append(name)
        elif not extras <= asked[name]:
            todo.append(name)
        asked[name] |= extras

    for root in roots:
        if applies(root, ()):
            need(root, "the project")
    done: dict[str, frozenset[str]] = {}
    while todo:
        batch = sorted({n for n in todo if done.get(n) != frozenset(asked[n])})
        todo.clear()
        prefetch([(n, pins[n]) for n in batch])
        for name in batch:
            done[name] = frozenset(asked[name])
            try:
                meta = info(name, pins[name])
            except Unknown as exc:
                check.unchecked.append(f"{name} {pins[name]}: {exc}")
                continue
            if meta.not_installable is not None:
                check.problems.append(f"{name} {pins[name]} cannot be installed on the target: {meta.not_installable}")
            if meta.requires_python is not None and not meta.requires_python.contains(python, prereleases=True):
                check.problems.append(f"{name} {pins[name]} requires Python {meta.requires_python}")
            for req in meta.requires:
                if applies(req, asked[name]):
                    need(req, f"{name} {pins[name]}")
    check.unneeded = sorted(n for n in pins if n not in asked)
    return check


class IndexMetadata:
    """``info``/``prefetch`` for ``consistency``, read with satlock's own index client and cache."""

    def __init__(self, project_dir: Path, cache_dir: Path) -> None:
        from satlock.cache import Cache
        from satlock.resolver.indexprovider import IndexProvider
        from satlock.resolver.settings import IndexOptions, make_client
        from satlock.resolver.project import load_project
        from satlock.resolver.target import make_target

        self.project = load_project(project_dir)
        self.target = make_target(PYTHON_VERSION, PLATFORM)
        client = make_client(self.project, IndexOptions(), Cache(cache_dir))
        self.provider = IndexProvider(client, self.target)  # no builder: an sdist to build is "unchecked"

    def roots(self) -> list[object]:
        return [r.requirement for r in self.project.root_requirements()]

    def info(self, name: str, version: str) -> PackageInfo:
        from satlock.errors import SatlockError
        from satlock.resolver.provider import CandidateUnavailable

        try:
            listing = self.provider.candidates(name)
        except SatlockError as exc:
            raise Unknown(exc.message) from None
        match = next((c for c in listing.candidates if str(c.version) == version or c.version.public == version), None)
        if match is None:
            why = next((e.reason for e in listing.excluded if e.version == version), "not offered by the index")
            return PackageInfo((), None, not_installable=why)
        try:
            deps = self.provider.dependencies(match)
        except SatlockError as exc:
            raise Unknown(exc.message.splitlines()[0]) from None
        except CandidateUnavailable as exc:
            raise Unknown(exc.reason) from None
        return PackageInfo(deps.requires, deps.requires_python)

    def prefetch(self, items: list[tuple[str, str]]) -> None:
        def quietly(item: tuple[str, str]) -> None:
            try:
                self.info(*item)
            except Unknown:
                pass

        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(quietly, items))


def check_answer(project_dir: Path, cache_dir: Path, pins: Pins) -> Check:
    source = IndexMetadata(project_dir, cache_dir)
    return consistency(source.roots(), pins, source.target.environment, source.info, source.prefetch)


# --------------------------------------------------------------------------- measuring


@dataclass
class Attempt:
    seconds: float | None = None
    error: str | None = None


@dataclass
class Result:
    project: str
    kind: str
    satlock_cold: Attempt = field(default_factory=Attempt)
    satlock_warm: Attempt = field(default_factory=Attempt)
    uv_cold: Attempt = field(default_factory=Attempt)
    uv_warm: Attempt = field(default_factory=Attempt)
    satlock_packages: int | None = None
    uv_packages: int | None = None
    differences: list[Difference] = field(default_factory=list)
    satlock_check: Check | None = None
    uv_check: Check | None = None
    check_error: str | None = None

    @property
    def cold_ratio(self) -> float | None:
        return _ratio(self.satlock_cold.seconds, self.uv_cold.seconds)

    @property
    def warm_ratio(self) -> float | None:
        return _ratio(self.satlock_warm.seconds, self.uv_warm.seconds)


def _ratio(mine: float | None, theirs: float | None) -> float | None:
    if mine is None or theirs is None or theirs <= 0:
        return None
    return mine / theirs


def _lock_twice(name: str, tool: str, command: list[str], output: Path, workdir: Path, env: dict[str, str],
                timeout: float, logs: Path) -> tuple[Attempt, Attempt]:
    attempts = []
    for phase in ("cold", "warm"):
        output.unlink(missing_ok=True)
        log = logs / f"{name}-{tool}-{phase}.log"
        seconds, error = run.timed(command, workdir, env, timeout, log=log)
        attempt = Attempt(seconds=None if error else seconds,
                          error=error_line(log, error) if error else None)
        attempts.append(attempt)
        run._log(f"[{name}] {tool} {phase}: " + (f"{seconds:.2f} s" if not error else attempt.error))
        if error:
            attempts.append(Attempt(error="not run (cold failed)"))
            break
    return attempts[0], attempts[1]


def measure(name: str, timeout: float, logs: Path, check: bool, scratches: run.Scratch,
            corpus: Path = CORPUS_DIR) -> Result:
    source = corpus / name
    result = Result(name, project_kind(source / "pyproject.toml"))
    scratch = scratches.folder(name)
    env = run.tool_env(scratch)
    ours_dir, theirs_dir = scratch / "satlock", scratch / "uv"
    shutil.copytree(source, ours_dir)
    shutil.copytree(source, theirs_dir)
    result.satlock_cold, result.satlock_warm = _lock_twice(
        name, "satlock", satlock_lock_command(), ours_dir / "pylock.toml", ours_dir, env, timeout, logs)
    groups = project_groups(source / "pyproject.toml")
    result.uv_cold, result.uv_warm = _lock_twice(
        name, "uv", uv_compile_command(groups), theirs_dir / "requirements.txt", theirs_dir, env, timeout, logs)
    ours = satlock_pins(ours_dir / "pylock.toml") if (ours_dir / "pylock.toml").exists() else None
    theirs = uv_pins(theirs_dir / "requirements.txt") if (theirs_dir / "requirements.txt").exists() else None
    result.satlock_packages = None if ours is None else len(ours)
    result.uv_packages = None if theirs is None else len(theirs)
    if ours is not None and theirs is not None:
        result.differences = differences(ours, theirs)
    if check:
        cache = Path(env["SATLOCK_CACHE_DIR"])
        try:
            if ours is not None:
                result.satlock_check = check_answer(source, cache, ours)
            if theirs is not None:
                result.uv_check = check_answer(source, cache, theirs)
        except ImportError as exc:
            result.check_error = f"satlock is not importable here: {exc}"
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            # A broken check must not lose the timings of a long run; the table says why.
            result.check_error = f"{type(exc).__name__}: {exc}"
    return result


# --------------------------------------------------------------------------- report


def _cell(attempt: Attempt) -> str:
    return "—" if attempt.seconds is None else f"{attempt.seconds:.2f}"


def _status(result: Result) -> str:
    ours = "ok" if result.satlock_cold.error is None else "**fails**"
    theirs = "ok" if result.uv_cold.error is None else "fails"
    return f"{ours} / {theirs}"


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}×"


def median_ratio(results: Sequence[Result], phase: str) -> float | None:
    ratios = [r for r in (getattr(res, f"{phase}_ratio") for res in results) if r is not None]
    return statistics.median(ratios) if ratios else None


def render(results: Sequence[Result], versions: Mapping[str, str], machine: str, timeout: float, date: str) -> str:
    lines = [
        "# Real-world corpus: satlock lock vs uv pip compile",
        "",
        f"- Date: {date}",
        f"- Machine: {machine}",
        "- Tools: " + ", ".join(f"{tool} {version}" for tool, version in versions.items()),
        f"- Target: Python {PYTHON_VERSION}, {PLATFORM} (x86_64); every extra and every dependency group",
        f"- One cold run (empty cache) and one warm run (same cache, output deleted) per tool; timeout {timeout:g} s per command",
        "",
        "| project | satlock / uv | satlock cold (s) | satlock warm (s) | uv cold (s) | uv warm (s) | cold ratio | warm ratio "
        "| packages satlock / uv | versions differing | consistent satlock / uv |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        packages = f"{r.satlock_packages if r.satlock_packages is not None else '—'} / " \
                   f"{r.uv_packages if r.uv_packages is not None else '—'}"
        both = r.satlock_packages is not None and r.uv_packages is not None
        consistent = "—" if r.check_error else (
            f"{r.satlock_check.summary() if r.satlock_check else '—'} / {r.uv_check.summary() if r.uv_check else '—'}")
        lines.append("| " + " | ".join([
            r.project, _status(r), _cell(r.satlock_cold), _cell(r.satlock_warm), _cell(r.uv_cold), _cell(r.uv_warm),
            _fmt(r.cold_ratio), _fmt(r.warm_ratio), packages, str(len(r.differences)) if both else "—", consistent,
        ]) + " |")
    cold, warm = median_ratio(results, "cold"), median_ratio(results, "warm")
    ok = [r for r in results if r.satlock_cold.error is None]
    lines += [
        "",
        f"satlock locked {len(ok)} of {len(results)} projects. Median satlock/uv: cold {_fmt(cold)}, warm {_fmt(warm)} "
        "(over the projects both tools locked; below 1.00× satlock was faster).",
        "",
        "*consistent*: every requirement of the project and of every pinned package that applies on the target "
        "(markers, extras asked) is met by the pinned version and every pinned version is installable there; "
        "*unchecked* counts pinned versions whose metadata could not be read without a build.",
        "",
    ]
    failures = [r for r in results if r.satlock_cold.error or r.uv_cold.error or r.satlock_warm.error or r.uv_warm.error]
    if failures:
        lines += ["## Failures", ""]
        for r in failures:
            for label, attempt in (("satlock", r.satlock_cold), ("satlock warm", r.satlock_warm),
                                   ("uv", r.uv_cold), ("uv warm", r.uv_warm)):
                if attempt.error and not attempt.error.startswith("not run"):
                    lines.append(f"- **{r.project}** ({label}): {attempt.error}")
        lines.append("")
    detailed = [r for r in results if r.differences or r.check_error or
                (r.satlock_check and (r.satlock_check.problems or r.satlock_check.unneeded)) or
                (r.uv_check and (r.uv_check.problems or r.uv_check.unneeded))]
    if detailed:
        lines += ["## Differences and checks", ""]
        for r in detailed:
            lines.append(f"### {r.project}")
            lines.append("")
            if r.differences:
                lines.append("satlock vs uv: " + _listed([d.describe() for d in r.differences]))
            if r.check_error:
                lines.append(f"- consistency not checked: {r.check_error}")
            for label, check in (("satlock", r.satlock_check), ("uv", r.uv_check)):
                if check is None:
                    continue
                if check.problems:
                    lines.append(f"- {label}'s answer breaks: " + _listed(check.problems))
                if check.unneeded:
                    why = (" (what the unchecked below require, presumably)" if check.unchecked else "")
                    lines.append(f"- {label}'s answer pins what no checked requirement reaches{why}: "
                                 + _listed(check.unneeded))
                if check.unchecked:
                    lines.append(f"- {label}'s answer, unchecked: " + _listed(check.unchecked))
            lines.append("")
    return "\n".join(lines)


def _listed(items: Sequence[str]) -> str:
    shown = "; ".join(items[:MAX_LISTED]).replace("|", "\\|")
    more = len(items) - MAX_LISTED
    return shown + (f"; … and {more} more" if more > 0 else "")


def _as_json(result: Result) -> dict:
    data = asdict(result)
    data["cold_ratio"], data["warm_ratio"] = result.cold_ratio, result.warm_ratio
    return data


# --------------------------------------------------------------------------- main


@dataclass(frozen=True)
class Options:
    projects: tuple[str, ...]
    timeout: float
    out: Path
    check: bool
    upgrade_peers: bool
    corpus: Path = CORPUS_DIR


def parse_args(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="benchmarks/corpus.py",
        description="Lock every project of benchmarks/corpus/ with satlock and uv pip compile; compare.")
    parser.add_argument("--projects", type=run._csv, default=None,
                        help="comma-separated corpus folders (default: all)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                        help="seconds before one command counts as a timeout (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=run.RESULTS_DIR,
                        help="directory for corpus.md / corpus.json (default: benchmarks/results/)")
    parser.add_argument("--no-check", action="store_true", help="skip the consistency check of both answers")
    parser.add_argument("--upgrade-peers", action="store_true", help="reinstall uv at its newest version")
    parser.add_argument("--corpus", type=Path, default=CORPUS_DIR,
                        help="folder of <project>/pyproject.toml to lock instead of benchmarks/corpus/, "
                             "to try projects not (yet) in the corpus")
    ns = parser.parse_args(argv)
    corpus = ns.corpus.resolve()
    known = available_projects(corpus)
    if not known:
        # Else nothing is locked and no table made: main() ended in a traceback.
        parser.error(f"no projects in {corpus}: --corpus takes a folder of <project>/pyproject.toml")
    projects = tuple(ns.projects) if ns.projects else known
    unknown = [p for p in projects if p not in known]
    if unknown:
        parser.error(f"unknown project(s) {', '.join(unknown)}; projects are the folders of {corpus}")
    return Options(projects=projects, timeout=ns.timeout, out=ns.out, check=not ns.no_check,
                   upgrade_peers=ns.upgrade_peers, corpus=corpus)


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    problem = run.ensure_peer("uv", options.upgrade_peers)
    if problem:
        run._log(problem)
        return 1
    options.out.mkdir(parents=True, exist_ok=True)
    logs = options.out / "corpus-logs"
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    versions = {"satlock": run.tool_version("satlock"), "uv": run.tool_version("uv")}
    results: list[Result] = []
    # Nothing is deleted until every project is timed (run.Scratch says why).
    scratches = run.Scratch()
    try:
        for name in options.projects:
            results.append(measure(name, options.timeout, logs, options.check, scratches, options.corpus))
            # Written after every project, so an interrupted run still leaves its table.
            table = render(results, versions, run.machine_description(), options.timeout, date)
            (options.out / "corpus.md").write_text(table)
            (options.out / "corpus.json").write_text(json.dumps([_as_json(r) for r in results], indent=1))
    finally:
        scratches.close()
    print(table)
    cold = median_ratio(results, "cold")
    print(f"median cold satlock/uv: {_fmt(cold)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
