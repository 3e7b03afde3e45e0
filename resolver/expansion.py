"""The package side of the solve: turning candidates and their metadata into clauses.

``Solver`` (resolver/solve.py) searches; this half grows the encoding it searches in. It
fetches the candidates of each name that appears (in preference order, constraints applied),
adds a candidate's requirements once it is expanded (guarded by its variable, extras behind
their variables), the clauses of each build variant (resolver/variants.py), and walks what
a choice requires breadth-first. It asks ``Matcher`` (resolver/matching.py) what a
requirement means for the target and keeps no packaging rules of its own.

The solver owns one ``Expansion`` and asks it to grow the encoding; the state it grows is
listed in the class.
"""

from __future__ import annotations

from collections import deque
from typing import Callable, Iterable, Mapping, Sequence

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

from satlock.resolver.candidates import Candidate
from satlock.resolver.encoding import Encoding, Reason, ReasonKind
from satlock.resolver.matching import Dependency, Matcher
from satlock.resolver.origin import CONSTRAINTS
from satlock.resolver.provider import CandidateUnavailable, Dependencies, Exclusion, Provider
from satlock.resolver.explain import passed_over_for_urls, passed_over_unavailable, taken_from_the_project
from satlock.resolver.resolution import Policy, Resolution, RootRequirement, SolveStats
from satlock.resolver.sourceurls import same_source
from satlock.resolver.variants import Variant, VariantTable

# The most versions of one package expanded together while it walks back (see with_batches).
MAX_BATCH = 64


class Expansion:
    """Growing the encoding from the provider's answers; the solver owns one.

    Its state is its own: the encoding and the variant table (which the solver searches
    in and reads), the metadata of every expanded candidate (``deps``, ``provides``), what
    the provider left out, and the variant the solver picked for each candidate with
    variants (``picked_variant``, written by the solver, read here to know what a
    candidate requires) with the versions its next build is to be made against
    (``build_versions``, likewise).
    """

    def __init__(self, provider: Provider, match: Matcher, policy: Policy, stats: SolveStats) -> None:
        self.provider = provider
        self.match = match
        self.policy = policy
        self.stats = stats
        self.enc = Encoding()
        self.variants = VariantTable(self.enc)
        self.roots: list[RootRequirement] = []
        self.deps: dict[tuple[str, str], list[Dependency]] = {}
        self.provides: dict[tuple[str, str], frozenset[str] | None] = {}
        self.excluded: dict[NormalizedName, list[Exclusion]] = {}
        # The candidates left out because their metadata could not be had, with why.
        self.unavailable: list[tuple[Candidate, str]] = []
        # Candidates kept out by a requirement by URL the project does not name (matching.py).
        self.by_url: list[tuple[Candidate, Requirement]] = []
        # Requirements by a URL other than the source the project names for that package,
        # met by the project's source all the same: (the candidate, its extra or "", the requirement).
        self.other_source: list[tuple[Candidate, str, Requirement]] = []
        self.picked_variant: dict[tuple[str, str], tuple[int, Variant] | None] = {}
        self.build_versions: dict[tuple[str, str], dict[NormalizedName, Candidate]] = {}
        self._constraints: dict[NormalizedName, list[Requirement]] = {}
        for r in policy.constraints:
            self._constraints.setdefault(canonicalize_name(r.name), []).append(r)
        self._variant_deps: dict[int, list[Dependency]] = {}

    # -- building the encoding ---------------------------------------------------------

    def _preference_order(self, name: NormalizedName, candidates: list[Candidate]) -> list[Candidate]:
        preferred = self.policy.preferences.get(name)
        if preferred is None:
            return candidates
        return sorted(candidates, key=lambda c: c.version != preferred)

    def _ensure_names(self, names: Iterable[NormalizedName]) -> None:
        new = sorted({n for n in names if n not in self.enc.candidates_of})
        if not new:
            return
        self.provider.prefetch(new, [])
        for name in new:
            listing = self.provider.candidates(name)
            self.excluded[name] = list(listing.excluded)
            ordered = self._preference_order(name, list(listing.candidates))
            self.enc.add_name(name, ordered)
            self.stats.candidates += len(ordered)
            for constraint in self._constraints.get(name, []):
                allowed = set(map(id, self.match.matches(constraint, ordered)))
                for c in ordered:
                    if id(c) not in allowed:
                        self.enc.exclude(Reason(ReasonKind.CONSTRAINT, constraint, where=CONSTRAINTS), c)

    def _matching(self, req: Requirement) -> list[Candidate]:
        return self.match.matching(req, self.enc.candidates_of[canonicalize_name(req.name)])

    def add_roots(self, roots: Sequence[RootRequirement]) -> None:
        active = [r for r in roots if self.match.active(r.requirement.marker)]
        reqs = [(o, r.where) for r in active for o in self.match.overridden(r.requirement)]
        self.roots = [RootRequirement(req, where) for req, where in reqs]
        self._ensure_names(canonicalize_name(r.requirement.name) for r in self.roots)
        for root in self.roots:
            req = root.requirement
            self.enc.require(Reason(ReasonKind.ROOT, req, where=root.where), self._matching(req), extras=sorted(req.extras))
        self._drain_new_extras()

    def _expand(self, candidate: Candidate, deps: Dependencies) -> None:
        """Add the clauses of one candidate's metadata."""
        key = candidate.key
        v = self.enc.var(candidate)
        self.provides[key] = deps.provides_extras
        if not self.match.supports_python(deps.requires_python):
            self.enc.exclude(Reason(ReasonKind.PYTHON, parent=candidate, detail=str(deps.requires_python)), candidate)
            self.deps[key] = []
            return
        listed = self.match.dependencies(deps.requires)
        self.deps[key] = listed
        always = [d.requirement for d in listed if d.always]
        self._ensure_names(canonicalize_name(r.name) for r in always)
        for req in always:
            self._require(Reason(ReasonKind.DEPENDENCY, req, parent=candidate), req, candidate, [v])
        extras = self.enc.extras_of(candidate.name)
        self._ensure_names(canonicalize_name(r.name) for extra, _ in extras for r in self.extra_requirements(candidate, extra))
        for extra, evar in extras:
            self._add_extra_clauses(candidate, extra, evar)
        self._drain_new_extras()
        builds_variants = getattr(self.provider, "builds_variants", None)
        if builds_variants is not None and builds_variants(candidate):
            self.variants.open(candidate)

    def expand_or_leave_out(self, candidate: Candidate) -> None:
        """Expand ``candidate``, or exclude it with the reason when its metadata cannot be had."""
        try:
            deps = self.provider.dependencies(candidate)
        except CandidateUnavailable as e:
            self.enc.exclude(Reason(ReasonKind.UNAVAILABLE, parent=candidate, detail=e.reason), candidate)
            self.deps[candidate.key] = []
            self.unavailable.append((candidate, e.reason))
            return
        self._expand(candidate, deps)

    def extra_requirements(self, candidate: Candidate, extra: str) -> list[Requirement]:
        return self.match.with_extra(self.deps.get(candidate.key, []) + self.picked_variant_deps(candidate), extra)

    def _add_extra_clauses(self, candidate: Candidate, extra: str, evar: int) -> None:
        reqs = self.extra_requirements(candidate, extra)
        if not reqs:
            return
        self._ensure_names(canonicalize_name(r.name) for r in reqs)
        for req in reqs:
            self._require(Reason(ReasonKind.DEPENDENCY, req, parent=candidate, detail=extra), req, candidate,
                          [self.enc.var(candidate), evar], extra)

    def _require(self, reason: Reason, req: Requirement, candidate: Candidate, guard: list[int], extra: str = "") -> None:
        """``guard`` implies ``req`` (of ``candidate``); one by URL that nothing meets is
        remembered, for the warning that says how to take it, and one by a URL that the
        project's own source for the name is met by, for the warning that says which was
        taken (matching.py)."""
        matching = self._matching(req)
        if req.url and not matching:
            self.by_url.append((candidate, req))
        elif req.url and any(c.direct is not None and not same_source(c.direct, req.url) for c in matching):
            self.other_source.append((candidate, extra, req))
        self.enc.require(reason, matching, guard=guard, extras=sorted(req.extras))

    def _drain_new_extras(self) -> None:
        """The clauses of every extra asked for since the last call, and of those they ask for.

        Each round's extras have the names they bring in fetched together first: the pages
        of a package with a hundred extras, each naming one more package (boto3-stubs), were
        otherwise fetched one after another, the next only once the last had arrived.
        """
        while True:
            batch = []
            while (new := self.enc.take_new_extra()) is not None:
                batch.append(new)
            if not batch:
                return
            self._ensure_names(canonicalize_name(r.name) for name, extra in batch for c in self.enc.candidates_of[name]
                               if c.key in self.deps for r in self.extra_requirements(c, extra))
            for name, extra in batch:
                evar = self.enc.extra(name, extra)
                for c in self.enc.candidates_of[name]:
                    if c.key in self.deps:
                        self._add_extra_clauses(c, extra, evar)
                    for v, variant in self.variants.variant_vars(c):
                        self._add_variant_extra_clauses(c, variant, v, extra, evar)

    # -- build variants (see resolver/variants.py) -----------------------------------------

    def picked_variant_deps(self, candidate: Candidate) -> list[Dependency]:
        picked = self.picked_variant.get(candidate.key)
        return self._variant_deps.get(picked[0], []) if picked is not None else []

    def _add_variant(self, candidate: Candidate, variant: Variant, guard: int) -> None:
        """The clauses of what one build of ``candidate`` declared, guarded by its variable."""
        listed = self.match.dependencies(variant.dependencies.requires)
        self._variant_deps[guard] = listed
        if not self.match.supports_python(variant.dependencies.requires_python):
            self.enc.add_clause([-guard], Reason(ReasonKind.PYTHON, parent=candidate, detail=str(variant.dependencies.requires_python)))
        always = [d.requirement for d in listed if d.always]
        self._ensure_names(canonicalize_name(r.name) for r in always)
        what = variant.describe()
        for req in always:
            self._require(Reason(ReasonKind.VARIANT, req, parent=candidate, detail=what), req, candidate, [guard])
        for extra, evar in self.enc.extras_of(candidate.name):
            self._add_variant_extra_clauses(candidate, variant, guard, extra, evar)

    def _add_variant_extra_clauses(self, candidate: Candidate, variant: Variant, guard: int, extra: str, evar: int) -> None:
        reqs = self.match.with_extra(self._variant_deps.get(guard, []), extra)
        self._ensure_names(canonicalize_name(r.name) for r in reqs)
        for req in reqs:
            self._require(Reason(ReasonKind.VARIANT, req, parent=candidate, detail=f"{variant.describe()}; extra '{extra}'"),
                          req, candidate, [guard, evar], extra)

    def variants_to_build(self, chosen: Mapping[NormalizedName, Candidate]) -> list[Candidate]:
        return [c for c in chosen.values() if self.variants.has_variants(c) and self.picked_variant.get(c.key) is None]

    def build_variant(self, candidate: Candidate, chosen: Mapping[NormalizedName, Candidate]) -> None:
        """Build ``candidate`` against the versions ``chosen`` has (and those the search
        picked for its build environment) and add that variant; its "not built yet" is
        blocked under those versions.

        One build per round: what it declares can move other versions, and the next
        build should be made against those, not against versions about to change.
        """
        against = {**self.build_versions.get(candidate.key, {}), **chosen}
        runtime = {n: c.version for n, c in against.items()}
        variant = self.provider.build_variant(candidate, runtime)  # type: ignore[attr-defined]
        self.variants.add(candidate, variant, against, self._add_variant)
        self.stats.expanded += 1

    def with_batches(self, todo: list[Candidate], chosen: Mapping[NormalizedName, Candidate],
                     changes: Mapping[NormalizedName, int]) -> list[Candidate]:
        """Add a batch of the next preferred versions of packages that keep changing.

        A package whose version had to change twice is probably walking back through many
        versions (boto3 against s3fs); expanding its next 4, 8, 16... candidates at once
        turns one round per version into a few rounds, as uv's batch prefetch does.
        """
        out = {c.key: c for c in todo}
        for name, c in chosen.items():
            count = changes.get(name, 0)
            if c.key in self.deps or count < 2:
                continue
            # The versions right after the current one in preference order (where a walk back
            # goes next), and only those whose metadata is cheap (a wheel's): a batch never builds.
            eligible = self.eligible(name)
            after = eligible[eligible.index(c) + 1:] if c in eligible else []
            batch = [x for x in after if x.key not in self.deps and x.wheels][: min(2 ** count, MAX_BATCH)]
            out.update((x.key, x) for x in batch)
        return list(out.values())

    def expand_ready(self, known: set[NormalizedName]) -> None:
        """Expand, without solving, the most preferred candidate of every name that appeared
        since ``known`` whose metadata the provider already has (prefetch fetched it).

        The solver would most likely pick exactly these next round; expanding them now
        saves a round per level of the dependency tree. Expanding a candidate that is not
        picked only adds clauses that its variable guards.
        """
        while True:
            new = [n for n in self.enc.candidates_of if n not in known]
            if not new:
                return
            known.update(new)
            for name in new:
                cands = self.eligible(name)
                if cands and cands[0].key not in self.deps and self.provider.ready(cands[0]):
                    self._expand(cands[0], self.provider.dependencies(cands[0]))
                    self.stats.expanded += 1

    def walk(self, pick: Callable[[NormalizedName], Candidate | None],
             roots: Sequence[Requirement] | None = None) -> tuple[list[NormalizedName], dict[NormalizedName, set[str]]]:
        """Breadth-first over what is required, choosing each package with ``pick``, from
        ``roots`` (the project's requirements in the order to visit them; as listed by default)."""
        extras: dict[NormalizedName, set[str]] = {}
        order: list[NormalizedName] = []
        queue: deque[NormalizedName] = deque()
        seen: set[NormalizedName] = set()

        def reach(reqs: Iterable[Requirement]) -> None:
            for req in reqs:
                name = canonicalize_name(req.name)
                known = extras.setdefault(name, set())
                if name not in seen:
                    seen.add(name)
                    known.update(req.extras)
                    queue.append(name)
                elif not set(req.extras) <= known:
                    known.update(req.extras)
                    queue.append(name)

        # The project's own order (dependencies, extras, groups) unless resolver/priority.py moved one.
        reach(r.requirement for r in self.roots) if roots is None else reach(roots)
        while queue:
            name = queue.popleft()
            c = pick(name)
            if c is None:
                continue
            if name not in order:
                order.append(name)
            reqs = [d.requirement for d in self.deps.get(c.key, []) + self.picked_variant_deps(c) if d.always]
            for extra in sorted(extras[name]):
                reqs += self.extra_requirements(c, extra)
            reach(sorted(reqs, key=lambda r: canonicalize_name(r.name)))
        return order, extras

    def eligible(self, name: NormalizedName) -> list[Candidate]:
        """The candidates of ``name`` some requirement accepts, in preference order."""
        return self.enc.with_vars(name)

    def resolution(self, chosen: Mapping[NormalizedName, Candidate], roots: Sequence[Requirement],
                   stats: SolveStats) -> Resolution:
        """The ``Resolution`` of the preference search's ``chosen``, breadth-first from ``roots``
        (the project's requirements in visiting order), with what each chosen package requires
        and the warnings a user should read."""
        order, extras = self.walk(lambda n: chosen.get(n), roots)
        chosen = {n: chosen[n] for n in order}
        base: dict[NormalizedName, list[Requirement]] = {}
        by_extra: dict[NormalizedName, dict[str, list[Requirement]]] = {}
        warnings = []
        variants: dict[NormalizedName, Variant] = {}
        for name, c in chosen.items():
            base[name] = [d.requirement for d in self.deps.get(c.key, []) + self.picked_variant_deps(c) if d.always]
            picked = self.picked_variant.get(c.key)
            if picked is not None:
                variants[name] = picked[1]
            by_extra[name] = {}
            for extra in sorted(extras.get(name, ())):
                provided = self.provides.get(c.key)
                if provided is not None and canonicalize_name(extra) not in provided:
                    warnings.append(f"{c} does not provide the extra '{extra}'")
                by_extra[name][extra] = self.extra_requirements(c, extra)
        warnings += passed_over_for_urls(self.enc, self.by_url, chosen)
        warnings += taken_from_the_project(self.other_source, chosen, extras)
        locked_requirements = [*(r.requirement for r in self.roots), *(r for reqs in base.values() for r in reqs),
                               *(r for extra in by_extra.values() for reqs in extra.values() for r in reqs)]
        warnings += passed_over_unavailable(self.unavailable, chosen, locked_requirements)
        return Resolution(chosen, base, by_extra, {n: extras.get(n, set()) for n in chosen}, warnings, stats,
                          list(self.roots), [f"left out {c}, which {why}" for c, why in self.unavailable], variants)
