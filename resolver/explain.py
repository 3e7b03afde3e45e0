"""Turn an unsatisfiable encoding into a short story a person can act on.

First shrink the clauses that carry a ``Reason`` to a minimal unsatisfiable subset (the
structural clauses always stay): remove halves, then quarters, and so on, keeping a
removal whenever what is left is still unsatisfiable. What remains is a minimal conflict:
drop any one of its reasons and a solution exists. Then tell it in words, grouping the
versions of a package that say the same thing.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Collection, Iterable, Mapping, Sequence
from urllib.parse import urlsplit

import pycosat
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from satlock.resolver.candidates import Candidate, DirectReference
from satlock.resolver.encoding import Encoding, Reason, ReasonKind
from satlock.resolver.origin import Table
from satlock.resolver.provider import Exclusion
from satlock.urls import redact


def minimal_conflict(enc: Encoding) -> list[Reason]:
    """The reasons of a minimal unsatisfiable subset of ``enc``'s clauses."""
    pairs = enc.clauses_with_reasons()
    hard = [c for c, r in pairs if r is None]
    soft = [(c, r) for c, r in pairs if r is not None]

    def unsat(group: list[tuple[list[int], Reason]]) -> bool:
        return pycosat.solve(hard + [c for c, _ in group], vars=enc.num_vars) == "UNSAT"

    # Group clauses by reason, so a requirement with extras is kept or dropped as a whole.
    by_reason: dict[int, list[tuple[list[int], Reason]]] = {}
    order: list[int] = []
    for c, r in soft:
        k = id(r)
        if k not in by_reason:
            by_reason[k] = []
            order.append(k)
        by_reason[k].append((c, r))
    groups = [by_reason[k] for k in order]

    def flat(gs: list[list[tuple[list[int], Reason]]]) -> list[tuple[list[int], Reason]]:
        return [x for g in gs for x in g]

    chunk = max(1, len(groups) // 2)
    while True:
        i = 0
        while i < len(groups):
            trial = groups[:i] + groups[i + chunk:]
            if unsat(flat(trial)):
                groups = trial
            else:
                i += chunk
        if chunk == 1:
            break
        chunk = max(1, chunk // 2)
    return [g[0][1] for g in groups]


_LOG = "; full log: "
"""How ``provider.unavailable_reason`` ends a reason that has a build log."""


def _versions(vs: list[str]) -> str:
    if len(vs) <= 3:
        return ", ".join(vs)
    return f"{vs[-1]} to {vs[0]} ({len(vs)} versions)"


_SHOWN = 4
"""Requirements named on one line of the story before "and N more"."""


def _version_of(e: Exclusion) -> Version:
    try:
        return Version(e.version)
    except InvalidVersion:
        return Version("0")


def _relevant(excluded: list[Exclusion], asked: list[SpecifierSet]) -> list[Exclusion]:
    """The versions left out that the conflict's requirements would accept, newest first:
    for ``tensorflow==2.4.0`` why 2.4.0 was left out, not why 0.12.0 was."""
    return sorted((e for e in excluded if all(s.contains(_version_of(e), prereleases=True) for s in asked)),
                  key=_version_of, reverse=True)


def _matching_none(name: NormalizedName, cands: list[Candidate], asked: list[SpecifierSet],
                   excluded: list[Exclusion]) -> list[str]:
    """One line naming the requirements of the conflict that no version of ``name`` meets.

    ``polars_cloud>=0.13.0`` when 0.12.0 is the newest is a conflict on its own; without
    this line the story names the requirement and never says that nothing matches it. Many
    pins (every jax version pins its own libtpu) make one line, not one each.
    """
    unmet = [spec for spec in sorted(set(asked), key=str)
             if not any(spec.contains(c.version, prereleases=True) for c in cands)]
    if not unmet:
        return []
    shown = ", ".join(str(s) for s in unmet[:_SHOWN]) + (f" and {len(unmet) - _SHOWN} more" if len(unmet) > _SHOWN else "")
    places = {c.direct.display() for c in cands if c.direct is not None}
    if len(places) == 1 and all(c.direct is not None for c in cands):
        # One source the project names (a folder, a URL, the project itself for its own
        # name): "no installable version" would send the reader to the index.
        versions = ", ".join(sorted({str(c.version) for c in cands}))
        return [f"{name} is taken from {places.pop()}, at version {versions}, which is not {shown}"]
    # A version two unmet requirements would both take is told once.
    left_out = {(e.version, e.reason): e for spec in unmet for e in _relevant(excluded, [spec])}.values()
    why = "; ".join(f"{e.version}: {e.reason}" for e in sorted(left_out, key=_version_of, reverse=True)[:3])
    return [f"{name} has no installable version matching {shown} ({why or f'the newest is {max(c.version for c in cands)}'})"]


# The group of requirements a no-isolation profile added (``explain``'s profile_requirements).
_PROFILED = " (profile)"


def conflict_names(enc: Encoding, reasons: Collection[Reason]) -> frozenset[NormalizedName]:
    """The packages a minimal conflict (``minimal_conflict``) is about: those its reasons
    name and those its clauses have a candidate of. In a problem without build variants
    (a build environment's) the clauses without a reason (each package's at most one) tie
    no two packages together, so the conflict holds wherever these packages have the same
    candidates, whatever the others have."""
    wanted = set(map(id, reasons))
    names = {canonicalize_name(r.requirement.name) for r in reasons if r.requirement is not None}
    names |= {r.parent.name for r in reasons if r.parent is not None}
    for clause, reason in enc.clauses_with_reasons():
        if reason is not None and id(reason) in wanted:
            names.update(n for lit in clause if (n := enc.name_of(abs(lit))) is not None)
    return frozenset(names)


def explain(enc: Encoding, excluded: Mapping[NormalizedName, list[Exclusion]],
            profile_requirements: Mapping[NormalizedName, Collection[str]] | None = None,
            conflict: list[Reason] | None = None, built: Collection[NormalizedName] = ()) -> str:
    """The conflict story (``story``) as the error message tells it."""
    body = "\n".join(f"  - {line}" for line in story(enc, excluded, profile_requirements, conflict, built))
    return f"no set of versions satisfies all of these together:\n{body}\nchange or loosen one of them."


def story(enc: Encoding, excluded: Mapping[NormalizedName, list[Exclusion]],
          profile_requirements: Mapping[NormalizedName, Collection[str]] | None = None,
          conflict: list[Reason] | None = None, built: Collection[NormalizedName] = ()) -> list[str]:
    """A few lines: each requirement in the minimal conflict, then what follows.

    ``profile_requirements``: the requirements a package's no-isolation build profile
    added to its own (its build-requires, installed in the project's environment), told
    as the profile's: the package's metadata does not have them. ``conflict``: the
    minimal conflict when the caller has it already. ``built``: packages whose
    dependencies came from building their sdist without a profile, as pip builds it (its
    build requirements at their newest): one of those pinning a version exactly
    (``torch==`` the torch it was built against) gets a line saying that a profile builds
    it against the lock's versions instead.
    """
    reasons = minimal_conflict(enc) if conflict is None else conflict
    profiled = profile_requirements or {}
    lines: list[str] = []
    grouped: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    # Versions left out for the same reason (every sdist of a package whose build imports
    # torch, say) are one line, naming the newest version's log, not one line per version.
    unavailable: dict[tuple[str, str], list[tuple[Version, str]]] = defaultdict(list)
    mentioned: set[NormalizedName] = set()
    # The refused builds of one package (resolver/variants.py), by the versions each rests on.
    refused: dict[Candidate, list[str]] = defaultdict(list)
    # Why a build environment cannot be had at all (a refusal resting on no version chosen).
    because: dict[Candidate, tuple[str, ...]] = {}
    for r in reasons:
        if r.requirement is not None:
            mentioned.add(canonicalize_name(r.requirement.name))
        if r.kind == ReasonKind.ROOT and r.where is not None and r.where.table is Table.BUILD:
            # A build environment's own solve: its roots are the build's, not the project's.
            lines.append(f"the build of {r.where.name} requires {r.requirement}")
        elif r.kind == ReasonKind.ROOT:
            lines.append(f"the project requires {r.requirement} (in {r.where})")
        elif r.kind == ReasonKind.CONSTRAINT:
            lines.append(f"the constraint {r.requirement} (in {r.where}) applies")
        elif r.kind in (ReasonKind.VARIANT, ReasonKind.BUILT_AGAINST):
            # One build of a source package (resolver/variants.py): name the build.
            lines.append(f"{r.parent} built against {r.detail} depends on {r.requirement}")
        elif r.kind == ReasonKind.UNBUILDABLE:
            refused[r.parent].append(r.detail)
            if r.because:
                because[r.parent] = r.because
        elif r.kind == ReasonKind.PYTHON:
            grouped[(r.parent.name, "python", r.detail)].append(str(r.parent.version))
        elif r.kind == ReasonKind.UNAVAILABLE:
            why, _, log = r.detail.partition(_LOG)
            unavailable[(r.parent.name, why)].append((r.parent.version, log))
        elif r.kind == ReasonKind.DEPENDENCY and str(r.requirement) in profiled.get(r.parent.name, ()):
            grouped[(r.parent.name, str(r.requirement), _PROFILED)].append(str(r.parent.version))
        else:
            suffix = f" (with the extra '{r.detail}')" if r.detail else ""
            grouped[(r.parent.name, str(r.requirement), suffix)].append(str(r.parent.version))
    lines.extend(_refused_builds(parent, against, because.get(parent, ())) for parent, against in refused.items())
    pinned_by_build = sorted({r.parent.name for r in reasons if r.kind == ReasonKind.DEPENDENCY and r.parent.name in built
                              and any(s.operator in ("==", "===") for s in r.requirement.specifier)})
    for (name, why), found in unavailable.items():
        found.sort(reverse=True)
        log = f"{_LOG}{found[0][1]}" if found[0][1] else ""
        if len(found) > 1 and log:
            log = f"{_LOG}{found[0][1]} (for {found[0][0]})"
        lines.append(f"{name} {_versions([str(v) for v, _ in found])} {why}{log}")
    for (name, what, suffix), versions in grouped.items():
        versions = sorted(set(versions), key=Version, reverse=True)
        verb = "depends" if len(versions) == 1 else "depend"
        if what == "python":
            lines.append(f"{name} {_versions(versions)} {'requires' if len(versions) == 1 else 'require'} Python {suffix}")
        elif suffix == _PROFILED:
            lines.append(f"{name} {_versions(versions)} {'builds' if len(versions) == 1 else 'build'} without isolation, "
                         f"in the project's environment, which must then hold {what} "
                         f"([tool.satlock.profiles.{name}] build-requires)")
        else:
            lines.append(f"{name} {_versions(versions)} {verb} on {what}{suffix}")
    by_url = {canonicalize_name(r.requirement.name): r.requirement.url for r in reasons
              if r.kind in (ReasonKind.DEPENDENCY, ReasonKind.VARIANT) and r.requirement is not None and r.requirement.url}
    for name, url in sorted(by_url.items()):
        if not any(c.direct is not None for c in enc.candidates_of.get(name, [])):
            lines.append(f"{name} is asked for by URL, and satlock takes a package from a URL only when the project "
                         f"names it: add {_named_by_url(name, url)} to the project's dependencies if you trust it")
    for name in sorted(mentioned):
        cands = enc.candidates_of.get(name, [])
        asked = [r.requirement.specifier for r in reasons
                 if r.requirement is not None and canonicalize_name(r.requirement.name) == name and r.requirement.specifier]
        if cands:
            lines.extend(_matching_none(name, cands, asked, excluded.get(name, [])))
        else:
            why = "; ".join(f"{e.version}: {e.reason}" for e in _relevant(excluded.get(name, []), asked)[:3])
            which = f"matching {', '.join(sorted({str(s) for s in asked}))}" if asked and excluded.get(name) else "on the configured indexes"
            lines.append(f"{name} has no installable version {which}" + (f" ({why})" if why else ""))
    lines.extend(f"{name}'s dependencies come from building its sdist against the newest versions of its build "
                 f"requirements (it has no build profile); to build it against the versions this lock picks, "
                 f"add one: satlock profile add {name}" for name in pinned_by_build)
    return lines


def _refused_builds(parent: Candidate, against: list[str], because: Sequence[str] = ()) -> str:
    """One line for every refused build of ``parent``, naming the versions each refusal rests
    on (the block is under those only): the same line once per refusal told nothing new.
    ``because``: the build environment's own conflict story, told when the refusal rests on
    no version chosen (nothing the project can move would help, so the reason is the news)."""
    distinct = sorted(set(against))
    if distinct == [""] and because:
        return f"{parent} cannot be built whatever the rest needs: its build environment cannot be resolved ({'; '.join(because)})"
    if distinct == [""]:
        return (f"{parent} cannot be built whatever the rest needs "
                "(its build requirements cannot be resolved; -v shows the build environment conflict)")
    shown = "; nor against ".join(a or "nothing" for a in distinct[:_SHOWN])
    more = f" (and {len(distinct) - _SHOWN} more sets of versions)" if len(distinct) > _SHOWN else ""
    return (f"{parent} cannot be built against {shown}{more} "
            "(its build environment cannot take these versions; -v shows why)")


def _named_by_url(name: str, url: str) -> str:
    """What the project would write to take ``name`` from ``url``. A relative ``file:`` URL
    or path is relative to wherever the package was built, not to the project, and in
    ``file://../y`` the ``..`` is a host: copied as it is, either would name another path
    (or none), so the user is asked for the path on their machine instead."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return f"`{name} @ {redact(url)}`"
    scheme = parts.scheme.lower()
    if scheme == "" or (scheme == "file" and not (parts.netloc.lower() in ("", "localhost") and parts.path.startswith("/"))):
        why = "it names a host, not a path" if parts.netloc else "it is relative to where the package was built"
        return f"`{name} @ file:///...` (the absolute path on this machine of what {redact(url)} names; {why})"
    return f"`{name} @ {redact(url)}`"


def passed_over_for_urls(enc: Encoding, by_url: list[tuple[Candidate, Requirement]],
                         chosen: Mapping[NormalizedName, Candidate]) -> list[str]:
    """A warning for each locked package whose newer version was kept out only because it
    needs a package by a URL the project does not name: the older version is not what a
    user of pip (which fetches the URL) or uv (which stops there) would expect in silence.

    "Only" is asked of the clauses: the newer version cannot be chosen with them all, and
    can once its requirements by URL are dropped. A version that something else keeps out
    too (a dependency no index has, a pin of the project) would not be locked by naming
    the URL, so the warning would send the user on a useless errand.
    """
    needs: dict[tuple[str, str], list[Requirement]] = {}
    passed: dict[NormalizedName, dict[tuple[str, str], Candidate]] = {}
    for candidate, req in by_url:
        locked = chosen.get(candidate.name)
        if locked is None or locked.version >= candidate.version:
            continue
        passed.setdefault(candidate.name, {})[candidate.key] = candidate
        listed = needs.setdefault(candidate.key, [])
        if all(str(r) != str(req) for r in listed):
            listed.append(req)
    warnings = []
    for name in sorted(passed):
        for candidate in sorted(passed[name].values(), key=lambda c: c.version, reverse=True):
            if not _kept_out_only_by_urls(enc, candidate):
                continue
            reqs = sorted(needs[candidate.key], key=lambda r: canonicalize_name(r.name))
            named = [(canonicalize_name(r.name), r.url or "") for r in reqs]
            what = " and ".join(f"{dep} from the URL {redact(url)}" for dep, url in named)
            add = " and ".join(_named_by_url(dep, url) for dep, url in named)
            warnings.append(f"{chosen[name]} is locked, not {candidate}: {candidate} needs {what}, and "
                            f"satlock takes a package from a URL only when the project names it; add {add} "
                            f"to the project's dependencies if you trust {'it' if len(named) == 1 else 'them'}")
            break
    return warnings


def passed_over_unavailable(unavailable: list[tuple[Candidate, str]], chosen: Mapping[NormalizedName, Candidate],
                            requirements: Iterable[Requirement]) -> list[str]:
    """One warning for each locked package that has newer versions the solve had to leave out
    because their metadata could not be had (a build that failed, metadata that is invalid).

    The solve expands only what its model picked, so each of those was the version it
    wanted; uv stops at such a build, and an older version locked in silence (a 2015
    placeholder, say) would surprise a user who never asked for ``-v``, which lists each.
    A version that one of the locked ``requirements`` (the project's and the locked
    packages') rules out is not named: it could not have been locked anyway, found to be
    so only after the model picked it, and the warning would blame the wrong cause.
    """
    specs: dict[NormalizedName, list[Requirement]] = {}
    for req in requirements:
        specs.setdefault(canonicalize_name(req.name), []).append(req)
    newer: dict[NormalizedName, list[tuple[Candidate, str]]] = {}
    for candidate, reason in unavailable:
        locked = chosen.get(candidate.name)
        allowed = all(r.specifier.contains(candidate.version, prereleases=True) for r in specs.get(candidate.name, []))
        if locked is not None and allowed and candidate.version > locked.version:
            newer.setdefault(candidate.name, []).append((candidate, reason))
    warnings = []
    for name in sorted(newer):
        skipped = sorted(newer[name], key=lambda e: e[0].version, reverse=True)
        candidate, reason = skipped[0]
        more = len({c.version for c, _ in skipped}) - 1
        also = f"; {more} other newer version{'s' if more > 1 else ''} too (-v lists them)" if more else ""
        warnings.append(f"{chosen[name]} is locked, not {candidate}, which {reason}{also}")
    return warnings


def taken_from_the_project(other_source: list[tuple[Candidate, str, Requirement]],
                           chosen: Mapping[NormalizedName, Candidate],
                           extras: Mapping[NormalizedName, set[str]]) -> list[str]:
    """A warning for each locked package that asks for a dependency by a URL other than the
    source the project names for it: the project's source is locked in its place, as the
    project asked, but a package built against another revision may not work with it. uv
    stops there (unless overridden) and pip reports a conflict, so it is not left unsaid."""
    warnings: dict[str, None] = {}
    for candidate, extra, req in other_source:
        name = canonicalize_name(req.name)
        taken = chosen.get(name)
        if (chosen.get(candidate.name) is not candidate or taken is None or taken.direct is None
                or (extra and extra not in extras.get(candidate.name, ()))):
            continue
        warnings[f"{candidate} asks for {name} @ {redact(req.url or '')}, but {name} is locked from the "
                 f"project's source {redact(_as_requirement_url(taken.direct))}, which is taken for every requirement of {name}"] = None
    return list(warnings)


def _as_requirement_url(ref: DirectReference) -> str:
    """The project's source as a requirement would name it (``git+`` and ``#subdirectory=``
    included), so that a git source and a folder at the same place do not read alike."""
    text = ref.display()
    if ref.kind == "vcs" and not text.startswith("git+"):
        text = f"git+{text}"
    if ref.subdirectory:
        text += f"#subdirectory={ref.subdirectory}"
    return text


def _kept_out_only_by_urls(enc: Encoding, candidate: Candidate) -> bool:
    """Whether ``candidate`` cannot be chosen, and could be without its requirements by URL."""
    def by_url(reason: Reason | None) -> bool:
        return (reason is not None and reason.kind in (ReasonKind.DEPENDENCY, ReasonKind.VARIANT)
                and reason.parent is not None and reason.parent.key == candidate.key
                and reason.requirement is not None and bool(reason.requirement.url))

    pairs = enc.clauses_with_reasons()
    chosen = [[enc.var_of(candidate)]]
    if pycosat.solve([c for c, _ in pairs] + chosen, vars=enc.num_vars) != "UNSAT":
        return False
    return pycosat.solve([c for c, r in pairs if not by_url(r)] + chosen, vars=enc.num_vars) != "UNSAT"
