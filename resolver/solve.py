"""The solve loop: grow the CNF lazily, then pick the preferred solution.

Objective (lexicographic, in this order): visit the packages breadth-first from the
project's requirements (the direct requirements first, in the order pyproject.toml lists
them: dependencies, then extras, then groups; then their dependencies, level by level, by
name within a level); give each package the most preferred version that still
leaves the whole problem satisfiable given the choices already made. A package's versions
are preferred in this order: the version in the existing lock (unless it is being
upgraded), then newest first. The result does not depend on which model the SAT solver
happens to return, so the same input and index give the same lock.

Laziness: a candidate's dependencies are fetched only once the solver has chosen it (or,
speculatively, when it is the newest version of a new dependency and its metadata is
already at hand, or part of a batch for a package that keeps having to change version).
Until then it is treated as having none, which can only make the problem easier; so an
unsatisfiable partial problem proves the real one unsatisfiable, and a solution whose
chosen candidates are all expanded is a real solution.

The expansion rule: a candidate's metadata is fetched only because preferences put it
there (the preference search is about to decide on it, or a hint held: last round's
decision, or the newest version), never because a SAT model happened to pick it where no
preference settled the choice. Such a pick is arbitrary, often an ancient sdist whose
setup.py no longer runs; fetching it wastes a download and a build no answer needs. A
speculative or batch expansion never builds (only metadata already at hand or a wheel's).
A candidate whose metadata cannot be had (its build fails) is excluded with the reason,
which the conflict story tells if it matters.

Each round first asks for a model that keeps as many hints as hold together (last round's
decisions, then the newest versions), one solver call when they all hold; the candidates
that model picks where it kept a preferred hint are expanded and the round ends. Its other
picks are next round's hints too, after the decisions (they held together, which spares
solver calls), but never count as decisions: kept again, they are still not expanded. When nothing is left to expand that way, the full preference search
runs; if it picks candidates not expanded yet, they are expanded and the loop goes on, else
its choice is the answer.

Build variants (resolver/variants.py): a source package built under match-runtime has
one variable per build, each implying what it was built against and what it declared,
plus "not built yet". Builds come last: when the preference search has nothing left to
expand and picks "not built yet" for a package, that package is built against the
versions of that solution (one build per round) and the loop goes on.

pycosat is not incremental, so each call re-sends the clauses; the search keeps calls few
by starting from the hinted model, by asking the solver only when a package's current
version is not already its most preferred one, and then with a galloping search from the
most preferred version that is still possible. Before each question it looks for a model
near the current one with the package at that version and a few dependencies moved along
(resolver/repair.py; often there is one: the model's picks were arbitrary); and every
question goes through a unit-propagation trail of the decisions (resolver/propagate.py),
which answers some without the solver and sends the others reduced to the clauses the
decisions leave open, or only their part the question touches. Versions that a decided
requirement rules out through at-most-one are not asked about at all (resolver/domain.py),
and the clauses are small to begin with: candidates no clause tells apart share a variable
(resolver/encoding.py).
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections import Counter
from typing import Container, Hashable, Mapping, Sequence

from packaging.utils import NormalizedName, canonicalize_name

from satlock.resolver.candidates import Candidate
from satlock.resolver.domain import open_candidates
from satlock.resolver.expansion import Expansion
from satlock.resolver.hints import consistent_hints
from satlock.resolver.matching import Matcher
from satlock.resolver.model import Model
from satlock.resolver.priority import Promotion, next_promotion, visiting_order
from satlock.resolver.propagate import Trail
from satlock.resolver.provider import Provider
from satlock.resolver.repair import repair
from satlock.resolver.resolution import Policy, Resolution, RootRequirement, SolveStats, Unsatisfiable

__all__ = ["Policy", "Resolution", "RootRequirement", "SolveStats", "Solver", "Unsatisfiable"]


# How often one optimisation pass may try "this package's best version plus every hint"
# before it falls back to plain binary searches (each failed try costs a solver call).
MAX_OPTIMISTIC_FAILURES = 3


class Solver:
    """One resolution: call ``solve`` once."""

    def __init__(self, provider: Provider, environment: Mapping[str, str], policy: Policy | None = None) -> None:
        self.provider = provider
        self.environment = dict(environment)
        self.policy = policy or Policy()
        self.match = Matcher(self.environment, allow_prereleases=self.policy.allow_prereleases,
                             overrides=self.policy.overrides)
        self.stats = SolveStats()
        self.expansion = Expansion(provider, self.match, self.policy, self.stats)
        # The expansion's encoding and variant table, which the search reads and decides in.
        self.enc = self.expansion.enc
        self.variants = self.expansion.variants
        self._proven: dict[NormalizedName, tuple[tuple[int, int], int]] = {}
        self._changes: Counter[NormalizedName] = Counter()
        # Direct requirements visited earlier than listed (resolver/priority.py).
        self._promotions: list[Promotion] = []
        self._base: Trail | None = None
        self._base_size = 0
        self._base_widened = 0

    def _pick_variant(self, candidate: Candidate, model: Model, trail: Trail | None) -> Model:
        """Decide which variant of a chosen ``candidate`` the solution uses, preferred first.

        With ``trail`` (the preference search) the choice is made the most preferred one
        that stays satisfiable and is fixed; without, it is read from ``model``.
        Returns the (possibly new) model.
        """
        if not self.variants.has_variants(candidate):
            return model
        options = self.variants.options(candidate)
        for v, variant in options:
            if v in model:
                found = v
                break
            if trail is not None:
                trial = self._sat(trail, [v])
                if trial is not None:
                    model, found = trial, v
                    break
        else:
            found = options[-1][0]
        if trail is not None:
            trail.decide(found)
        chosen = next(variant for v, variant in options if v == found)
        self.expansion.picked_variant[candidate.key] = (found, chosen) if chosen is not None else None
        if chosen is None and trail is not None:
            model = self._pick_build_versions(candidate, model, trail)
        return model

    def _pick_build_versions(self, candidate: Candidate, model: Model, trail: Trail) -> Model:
        """For a build still to be made: the version of each package its builds were made
        against, the most preferred that stays satisfiable (the blocks in variants.py rule
        out the versions a build that conflicted was made against). The next build is made
        against them; a package none of whose versions is a choice yet is built against its
        newest.

        Decided here, never read from the model: a model may have a version of a package
        nothing needs, arbitrarily, and the lock must not depend on which model pycosat
        returns.
        """
        versions: dict[NormalizedName, Candidate] = {}
        for name in self.variants.built_names(candidate):
            asked: set[int] = set()
            for c in self.expansion.eligible(name):
                v = self.enc.var_of(c)
                if v in asked:
                    continue  # a variable shared by several candidates stands for the first
                asked.add(v)
                trial = model if v in model else self._sat(trail, [v])
                if trial is not None:
                    model = trial
                    trail.decide(v)
                    versions[name] = c
                    break
        self.expansion.build_versions[candidate.key] = versions
        return model

    # -- SAT calls ---------------------------------------------------------------------

    def _trail(self) -> Trail:
        """Unit propagation over the clauses so far, nothing decided (see resolver/propagate.py)."""
        start = time.perf_counter()
        widened = self.enc.widened_since(self._base_widened)
        self._base_widened += len(widened)
        if self._base is None or not all(self._base.widen(i, lits, self.enc.num_vars)
                                         for i, lits in widened if i < self._base_size):
            self._base, self._base_size = Trail(), 0
        self._base.add(self.enc.clauses_since(self._base_size), self.enc.num_vars)
        self._base_size = self.enc.clause_count()
        self.stats.solve_seconds += time.perf_counter() - start
        return self._base

    def _sat(self, trail: Trail, units: Sequence[int] = (), clause: Sequence[int] | None = None,
             model: Model | None = None) -> Model | None:
        """A model of the clauses with ``trail``'s decisions, ``units`` and ``clause``, or None
        (``model``, one that agrees with the trail, lets the trail solve only what the question touches)."""
        calls = trail.solver_calls
        start = time.perf_counter()
        model = trail.solve(units, clause, model)
        self.stats.solve_seconds += time.perf_counter() - start
        self.stats.solver_calls += trail.solver_calls - calls
        return model

    def _move(self, var: int, model: Model) -> tuple[Hashable, Mapping[int, bool]] | None:
        """What making ``var`` true in ``model`` takes, for ``repair``: a candidate moves its
        name to it (every other candidate of the name false), an extra just becomes true."""
        name = self.enc.name_of(var)
        if name is not None:
            return name, self.enc.move(name, var, model.__contains__)
        if self.enc.is_extra(var):
            return ("extra", var), {var: True}
        return None

    def _chosen_in(self, model: Model, cands: list[Candidate]) -> int | None:
        for i, c in enumerate(cands):
            if self.enc.var_of(c) in model:
                return i
        return None

    def _consistent_hints(self, hints: Mapping[NormalizedName, Candidate]) -> tuple[Model, dict[NormalizedName, Candidate]]:
        """A model, and the hints it keeps: a maximal subset that holds together, earlier
        hints first (see resolver/hints.py)."""
        trail = self._trail()

        def extend(model: Model, name: NormalizedName, var: int, keep: Container[int]) -> Model | None:
            if self.variants.any_open():
                # With match-runtime builds the model at hand decides what the next build is
                # made against (``_pick_build_versions``, variants.py's blocks); a repaired
                # model fills those arbitrary places differently from the solver's, which
                # changed locks and made one conflicting build into a dozen rebuilds
                # (tests/test_solver_equivalence.py). So there only the solver's models
                # count, here and in ``_optimize``.
                return None
            searched = time.perf_counter()
            moved = repair(trail, model, name, self.enc.move(name, var, model.__contains__),
                           lambda v: self._move(v, model), keep)
            self.stats.solve_seconds += time.perf_counter() - searched
            return moved

        model, kept = consistent_hints([(n, self.enc.var_of(c)) for n, c in hints.items() if self.enc.has_var(c)],
                                       trail, lambda units: self._sat(trail, units), extend)
        if model is None:
            raise Unsatisfiable(self.enc, self.expansion.excluded)
        return model, {n: hints[n] for n in kept}

    def _model_choice(self, model: Model, kept: Mapping[NormalizedName, Candidate] | None) -> dict[NormalizedName, Candidate]:
        """What ``model`` installs where it kept a preferred hint (anywhere with ``None``),
        reached from the project's requirements.

        Where the model dropped a package's hint its pick is arbitrary: taken for a decision,
        it would be expanded (and built) as if something had chosen it (setuptools 0.7.2 for
        scrapyd's ``setuptools<81``). So the walk stops there and the preference search
        decides that package.
        """
        chosen: dict[NormalizedName, Candidate] = {}

        def pick(name: NormalizedName) -> Candidate | None:
            if name not in chosen:
                cands = self.expansion.eligible(name)
                index = self._chosen_in(model, cands)
                if index is None or (kept is not None and (name not in kept or kept[name].key != cands[index].key)):
                    return None
                chosen[name] = cands[index]
                self._pick_variant(cands[index], model, None)
            return chosen[name]

        self.expansion.walk(pick, visiting_order(self.expansion.roots, self._promotions))
        return chosen

    def _optimize(self, model: Model, hints: Mapping[NormalizedName, Candidate]) -> dict[NormalizedName, Candidate]:
        """The lexicographically preferred choice for every required package (see module
        docstring), searched from ``model``, which keeps ``hints`` (``_consistent_hints``)."""
        fixed: dict[NormalizedName, Candidate] = {}
        trail = self._trail()
        start = trail.mark()
        signature = 0
        optimistic_failures = 0

        def pick(name: NormalizedName) -> Candidate | None:
            nonlocal model, signature, optimistic_failures
            if name in fixed:
                return fixed[name]
            cands = self.expansion.eligible(name)
            current = self._chosen_in(model, cands)
            if current is None:
                return None
            # Clauses only grow, so a preference proven out of reach after the same earlier
            # choices in a previous round is still out of reach: start the search there
            # (unless new candidates became eligible since, which shifts the list).
            lo = 0
            proven = self._proven.get(name)
            if proven is not None and proven[0] == (signature, len(cands)):
                lo = min(proven[1], current)
            hi = current
            # Only the versions the decisions leave possible are asked about (resolver/domain.py).
            searched = time.perf_counter()
            open_ = open_candidates(self.enc, trail, name, cands, lo, hi)
            self.stats.solve_seconds += time.perf_counter() - searched
            rest = [self.enc.var_of(c) for n, c in hints.items()
                    if n not in fixed and n != name and self.enc.has_var(c)] if len(open_) > 1 else []
            if rest and optimistic_failures < MAX_OPTIMISTIC_FAILURES:
                # Ask for the best remaining version together with the hints of every package
                # not fixed yet: when it holds, the new model settles the rest without calls.
                # (With no hint left to settle, the search below asks a smaller question.)
                trial = self._sat(trail, [self.enc.var_of(cands[open_[0]]), *rest])
                if trial is not None:
                    model, open_ = trial, open_[:1]
                else:
                    optimistic_failures += 1
            # Galloping search for the first feasible position in open_ (its last is
            # feasible): ask for a window of growing width right after the first still in
            # question; the best version is usually close to the most preferred one, so
            # this costs O(log distance) calls.
            first, last, width = 0, len(open_) - 1, 1
            while first < last:
                # Often the best remaining version fits the current model as it is (the
                # model's pick was arbitrary): check that without the solver.
                best = self.enc.var_of(cands[open_[first]])
                searched = time.perf_counter()
                repaired = None if self.variants.any_open() else repair(
                    trail, model, name, self.enc.move(name, best, model.__contains__),
                    lambda var, model=model: self._move(var, model))
                self.stats.solve_seconds += time.perf_counter() - searched
                if repaired is not None:
                    model, last = repaired, first
                    break
                end = min(first + width, last)
                better = self._sat(trail, clause=[self.enc.var_of(cands[i]) for i in open_[first:end]], model=model)
                if better is None:
                    first, width = end, width * 2
                else:
                    model, last, width = better, bisect_left(open_, self._chosen_in(better, cands)), 1
            hi = open_[last]
            self._proven[name] = ((signature, len(cands)), hi)
            signature = hash((signature, name, hi))
            fixed[name] = cands[hi]
            trail.decide(self.enc.var_of(cands[hi]))
            model = self._pick_variant(cands[hi], model, trail)
            if self.variants.has_variants(cands[hi]):
                picked = self.expansion.picked_variant.get(cands[hi].key)
                signature = hash((signature, picked[0] if picked is not None else -1))
            return cands[hi]

        try:
            self.expansion.walk(pick, visiting_order(self.expansion.roots, self._promotions))
        finally:
            trail.backtrack(start)
        return fixed

    # -- the loop ------------------------------------------------------------------------

    def solve(self, roots: Sequence[RootRequirement]) -> Resolution:
        self.expansion.add_roots(roots)
        previous: dict[NormalizedName, Candidate] = {}
        # Last round's arbitrary picks: kept as hints, since they held together and so spare
        # solver calls, but never expanded as if a preference had chosen them.
        arbitrary: dict[NormalizedName, Candidate] = {}
        while True:
            self.stats.rounds += 1
            # Hints in priority order: last round's decisions in the order they were made, its
            # arbitrary picks, then the most preferred version of the project's requirements,
            # then of everything else.
            hints = {**previous, **{n: c for n, c in arbitrary.items() if n not in previous}}
            root_names = [canonicalize_name(r.requirement.name) for r in self.expansion.roots]
            for name in [*root_names, *self.enc.candidates_of]:
                cands = self.expansion.eligible(name)
                if name not in hints and cands:
                    hints[name] = cands[0]
            # Grow the problem from a cheap model (one solver call) until everything it picks
            # is expanded; only then pay for the full preference search, which may pick
            # candidates not expanded yet and send the loop round again.
            model, kept = self._consistent_hints(hints)
            # Only the model's preferred picks are worth fetching: where a hint had to be
            # dropped the model's choice is arbitrary, and the full search decides instead.
            preferred = {n: c for n, c in kept.items() if n not in arbitrary or arbitrary[n].key != c.key}
            chosen = self._model_choice(model, preferred)
            todo = [c for c in chosen.values() if c.key not in self.expansion.deps]
            arbitrary = {}
            if not todo:
                # Nothing was added since: the round's model and kept hints start the search.
                chosen = self._optimize(model, kept)
                todo = [c for c in chosen.values() if c.key not in self.expansion.deps]
            else:
                # The arbitrary walk reads variants from the model too; what it reads is no
                # decision, so the variants picked for the preferred choice are kept.
                decided_variants = dict(self.expansion.picked_variant)
                arbitrary = {n: c for n, c in self._model_choice(model, None).items() if n not in chosen}
                self.expansion.picked_variant = decided_variants
            for name, c in chosen.items():
                if name in previous and previous[name].key != c.key:
                    self._changes[name] += 1
            previous = chosen
            if not todo:
                # Builds last: only against a solution whose every other candidate is known.
                builds = self.expansion.variants_to_build(chosen)
                if not builds:
                    base = self._trail()
                    promotion = next_promotion(self.expansion, chosen, self._promotions,
                                               lambda c: not self.enc.has_var(c) or base.is_false(self.enc.var_of(c)))
                    if promotion is None:
                        break
                    self._promotions.append(promotion)
                    continue
                self.expansion.build_variant(builds[0], chosen)
                continue
            todo = self.expansion.with_batches(todo, chosen, self._changes)
            self.provider.prefetch([], todo)
            known = set(self.enc.candidates_of)
            for c in sorted(todo, key=lambda c: c.key):
                self.expansion.expand_or_leave_out(c)
            self.stats.expanded += len(todo)
            self.expansion.expand_ready(known)
        self.stats.variables = self.enc.num_vars
        self.stats.clauses = self.enc.clause_count()
        return self.expansion.resolution(chosen, visiting_order(self.expansion.roots, self._promotions), self.stats)
