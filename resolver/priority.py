"""Which direct requirement the preference search visits first, when two keep conflicting.

The objective (resolver/solve.py) gives the project's direct requirements their most
preferred versions in the order pyproject.toml lists them. When a later one's recent
versions each require a version of an earlier one other than the one it got, that order
trades a patch release of the earlier for years of the later:
``["sqlfluff", "sqlfluff-templater-dbt"]`` gave sqlfluff 4.5.0 and the templater 1.2.0 of
2022 (every templater 4.x pins ``sqlfluff==`` its own version, and no templater 4.5.0
exists), with markupsafe 2.0.1 along with it. uv's resolver, once it has seen a package's
versions rejected five times because of one decided earlier, decides that package first
(its documentation, "Prioritization"), and so takes 4.4.0 of both. satlock follows the same
rule on its direct requirements: a direct requirement with at least ``CONFLICT_THRESHOLD``
versions more preferred than the one it got that each require an earlier direct
requirement at a version other than the one it got is visited just before that earlier
one, and the search runs again. That is what uv counts: versions tried and rejected for
their own requirements. An earlier one's requirement on the later one (pytest-check-links
0.10.1 asking for ``pytest<9``) narrows the later one before any version is tried, and
moves nothing, nor does a conflict through other packages (boto3 and s3fs meet only in
botocore); uv reorders neither. Each requirement moves at most once and never back past one moved before
it, so the search ends; the order, and so the lock, still depends on nothing but the
input. A version from the existing lock is the most preferred one, so a lock made before
keeps its versions until they are upgraded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

from satlock.resolver.candidates import Candidate
from satlock.resolver.expansion import Expansion
from satlock.resolver.resolution import RootRequirement

# uv's threshold: five versions rejected for the same earlier decision.
CONFLICT_THRESHOLD = 5


@dataclass(frozen=True)
class Promotion:
    """``name`` (a direct requirement) is visited just before ``before`` (an earlier one)."""

    name: NormalizedName
    before: NormalizedName


def visiting_order(roots: Sequence[RootRequirement], promotions: Sequence[Promotion]) -> list[Requirement]:
    """The project's requirements in the order the preference search visits them: as
    listed, with each promoted name's requirements moved just before the first of the name
    it was promoted over, in the order the promotions were made."""
    reqs = [r.requirement for r in roots]
    for promotion in promotions:
        moved = [r for r in reqs if canonicalize_name(r.name) == promotion.name]
        rest = [r for r in reqs if canonicalize_name(r.name) != promotion.name]
        at = next((i for i, r in enumerate(rest) if canonicalize_name(r.name) == promotion.before), len(rest))
        reqs = rest[:at] + moved + rest[at:]
    return reqs


def _excludes(requirements: Sequence[Requirement], other: Candidate) -> bool:
    """Whether one of ``requirements`` names ``other``'s project and not its version."""
    for req in requirements:
        if canonicalize_name(req.name) == other.name and not req.url \
                and not req.specifier.contains(other.version, prereleases=True):
            return True
    return False


def find_promotion(order: Sequence[NormalizedName], chosen: Mapping[NormalizedName, Candidate],
                   eligible: Callable[[NormalizedName], Sequence[Candidate]],
                   requirements: Callable[[Candidate], Sequence[Requirement] | None],
                   ruled_out: Callable[[Candidate], bool], made: Sequence[Promotion]) -> Promotion | None:
    """The first direct requirement (``order``: their names as visited) with at least
    ``CONFLICT_THRESHOLD`` more preferred versions whose own requirements exclude the
    version one visited before it got, and that one (the most such versions, then the
    earliest); None when there is none.

    ``requirements`` gives a candidate's requirements that apply (None: not fetched, so
    never tried, and not counted); ``ruled_out`` whether the problem excludes a candidate
    whatever else is chosen (Requires-Python, a constraint): uv never tries those.
    """
    moved = {p.name for p in made}
    for i, name in enumerate(order):
        got = chosen.get(name)
        if got is None or name in moved:
            continue
        earlier = [(n, chosen[n]) for n in order[:i] if n in chosen]
        counts: dict[NormalizedName, int] = {}
        for candidate in eligible(name):
            if candidate.key == got.key:
                break
            reqs = requirements(candidate)
            if reqs is None or ruled_out(candidate):
                continue
            for other, picked in earlier:
                if _excludes(reqs, picked):
                    counts[other] = counts.get(other, 0) + 1
        culprits = [(n, c) for n, c in counts.items()
                    if c >= CONFLICT_THRESHOLD and Promotion(n, name) not in made]
        if culprits:
            best = max(c for _, c in culprits)
            return Promotion(name, next(n for n, c in culprits if c == best))
    return None


def next_promotion(expansion: Expansion, chosen: Mapping[NormalizedName, Candidate], made: Sequence[Promotion],
                   ruled_out: Callable[[Candidate], bool]) -> Promotion | None:
    """``find_promotion`` over the search's ``expansion``: a candidate's requirements are
    those that apply to the target, with what the extras the project asks of its name add
    (``unstructured[pdf]``'s pypdf)."""
    roots = visiting_order(expansion.roots, made)
    order = list(dict.fromkeys(canonicalize_name(r.name) for r in roots))
    extras = {name: sorted({e for r in roots if canonicalize_name(r.name) == name for e in r.extras}) for name in order}

    def requirements(c: Candidate) -> list[Requirement] | None:
        deps = expansion.deps.get(c.key)
        if deps is None:
            return None
        return [d.requirement for d in deps if d.always] + [r for e in extras.get(c.name, ()) for r in expansion.extra_requirements(c, e)]

    return find_promotion(order, chosen, expansion.eligible, requirements, ruled_out, made)
