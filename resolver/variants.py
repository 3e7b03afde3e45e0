"""Build variants: a source package whose metadata comes from a build is one candidate per build.

A package built under match-runtime (a profile's default) may declare other dependencies
depending on what it was built against (``install_requires=["torch==" + torch.__version__]``).
So its candidate ``seedext 0.1`` is split into **variants**, one per set of build
requirement versions it was built against, and the variants are part of the CNF:

* ``seedext-0.1 => V1 or V2 or ... or U``: choosing the package means choosing one of its
  variants, or ``U``, "a variant not built yet". ``U`` keeps the problem a relaxation (as
  an unexpanded candidate has no dependencies): the solve loop builds a new variant when
  the preferred solution picks ``U``, against the versions that solution has.
* ``V => only x of b`` for every package ``b`` of the build environment (version ``x``):
  match-runtime as clauses; ``b`` may still be absent at runtime (setuptools).
* ``V => what that build declared``, with reasons that name the build, so a conflict
  story says "seedext 0.1 built against buildhelper 2.0 depends on buildhelper==2.0".
* After a build against the runtime versions S, ``U`` is blocked under S (the build is
  deterministic, so another build against S would give the same variant): the solver must
  move a version, or take a variant, instead of asking for the same build again. A build
  environment that cannot take S is blocked under the versions in S of the packages in
  its own conflict (``Unbuildable.names``), not under all of S: blocked under all of S, every
  combination of the other packages' versions would ask for the same failing build. A
  package of the build environment the runtime does not have was built against its
  newest version; the block leaves ``U`` open with any other version of it, so after a
  conflict the solver can ask for a build against an older one (the solve loop picks
  the newest that still fits).

Variants are made lazily, only when the solution the loop would return picks ``U``, so a
build runs against versions every other constraint already agrees with, never against the
newest version of a build requirement the runtime side pins to another.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Container, Mapping, Protocol, Sequence

from packaging.requirements import Requirement
from packaging.utils import NormalizedName
from packaging.version import Version

from satlock.resolver.candidates import Candidate
from satlock.resolver.encoding import Encoding, Reason, ReasonKind
from satlock.resolver.provider import Dependencies


@dataclass(frozen=True)
class Variant:
    """One build of a source candidate: the versions it was built against and what it declared.

    ``build`` is what the builder needs to record that build environment in the lock; the
    resolver never looks inside it.
    """

    built_against: tuple[Candidate, ...]
    dependencies: Dependencies
    build: object = field(default=None, compare=False)

    @property
    def signature(self) -> tuple[tuple[str, str], ...]:
        return tuple(sorted(c.key for c in self.built_against))

    def describe(self) -> str:
        """``buildhelper 1.0, setuptools 80.1`` (the build environment, by name)."""
        return ", ".join(f"{c.name} {c.version}" for c in sorted(self.built_against, key=lambda c: c.name)) or "nothing"


# The most versions a refused build's line in a conflict story names.
_NAMED = 6


@dataclass(frozen=True)
class Unbuildable:
    """A build environment that cannot take the runtime versions it was asked for.

    ``names``: the packages whose runtime versions the verdict rests on (those of the build
    environment's minimal conflict): any runtime with the same versions of these gets the same
    verdict. ``None`` when that is not known: then it rests on every runtime version.
    """

    names: frozenset[NormalizedName] | None = None
    # The build environment's conflict story, a line per step (resolver/explain.py ``story``).
    story: tuple[str, ...] = ()


class VariantProvider(Protocol):
    """What a provider offers when some of its candidates are built per variant."""

    def builds_variants(self, candidate: Candidate) -> bool:
        """Whether ``candidate``'s dependencies come from a match-runtime build (so it has variants)."""

    def build_variant(self, candidate: Candidate, runtime: Mapping[NormalizedName, Version]) -> Variant | Unbuildable:
        """Build ``candidate``'s metadata with its build requirements at the ``runtime``
        versions where it has them (freely elsewhere); ``Unbuildable`` when its build
        environment cannot take those versions."""


@dataclass
class _Entry:
    unbuilt: int
    clause: int
    variants: list[tuple[int, Variant]] = field(default_factory=list)


class VariantTable:
    """The variants of every candidate that has them, and their clauses in ``enc``."""

    def __init__(self, enc: Encoding) -> None:
        self.enc = enc
        self._entries: dict[tuple[str, str], _Entry] = {}

    def has_variants(self, candidate: Candidate) -> bool:
        return candidate.key in self._entries

    def any_open(self) -> bool:
        """Whether any candidate has variants (a match-runtime build) in the clauses so far."""
        return bool(self._entries)

    def open(self, candidate: Candidate) -> None:
        """``candidate`` has variants: from now on choosing it means choosing one of them (or U)."""
        if candidate.key in self._entries:
            return
        unbuilt = self.enc.new_variable()
        clause = self.enc.add_clause([-self.enc.var(candidate), unbuilt])
        self._entries[candidate.key] = _Entry(unbuilt, clause)

    def options(self, candidate: Candidate) -> list[tuple[int, Variant | None]]:
        """The variables to choose from, preferred first: built variants, newest build
        environment first, then "not built yet" (``None``)."""
        entry = self._entries[candidate.key]
        built = sorted(entry.variants, key=lambda vv: [(c.name, c.version) for c in sorted(vv[1].built_against, key=lambda c: c.name)],
                       reverse=True)
        return [(v, variant) for v, variant in built] + [(entry.unbuilt, None)]

    def selected(self, candidate: Candidate, model: Container[int]) -> Variant | None:
        """The preferred variant true in ``model``, or ``None`` when only "not built yet" is."""
        for v, variant in self.options(candidate):
            if v in model and variant is not None:
                return variant
        return None

    def add(self, candidate: Candidate, variant: Variant | Unbuildable, runtime: Mapping[NormalizedName, Candidate],
            dependency_clauses: "DependencyAdder") -> int | None:
        """Add a variant built against the ``runtime`` choice (or that it cannot be built),
        and block "not built yet" under that choice. Returns the variant's variable, or
        ``None`` when it adds nothing new."""
        entry = self._entries[candidate.key]
        if isinstance(variant, Unbuildable):
            # Its build environment cannot take these versions: say so when this blocks a lock.
            rests_on = runtime if variant.names is None else {n: c for n, c in runtime.items() if n in variant.names}
            # The versions the block rests on, for the story: one line per refused build (a
            # refusal that rests on the whole runtime would name hundreds).
            named = [f"{c.name} {c.version}" for _, c in sorted(rests_on.items())]
            against = ", ".join(named[:_NAMED]) + (f" and {len(named) - _NAMED} more" if len(named) > _NAMED else "")
            self._block(entry, None, rests_on, Reason(ReasonKind.UNBUILDABLE, parent=candidate, detail=against,
                                                      because=variant.story if not named else ()))
            return None
        for v, known in entry.variants:
            if known.signature == variant.signature:
                self._block(entry, variant, runtime)
                return None
        v = self.enc.new_variable()
        entry.variants.append((v, variant))
        self.enc.extend_clause(entry.clause, [v])
        self.enc.add_clause([-v, self.enc.var(candidate)])
        what = variant.describe()
        for built in variant.built_against:
            pin = Requirement(f"{built.name}=={built.version}")
            self.enc.only_version(v, built, Reason(ReasonKind.BUILT_AGAINST, pin, parent=candidate, detail=what))
        dependency_clauses(candidate, variant, v)
        # After its dependencies: they may introduce names of the build environment.
        self._block(entry, variant, runtime)
        return v

    def _block(self, entry: _Entry, variant: Variant | None, runtime: Mapping[NormalizedName, Candidate],
               reason: Reason | None = None) -> None:
        """``U`` is false while the solution has what this build was made against.

        Every name of the build environment is read from ``runtime``, the versions the build
        was asked for (so each block excludes the solution that asked for the build, and the
        loop cannot ask twice); not from the model, whose versions of packages nothing needs
        are arbitrary, and the lock must not depend on which model pycosat returns. For a
        name ``runtime`` does not have, only choosing another version than the one built
        against lifts the block.
        """
        built = {c.name: c for c in variant.built_against} if variant is not None else dict(runtime)
        clause = [-entry.unbuilt]
        for name in sorted(built):
            if name in runtime:
                clause.append(-self.enc.var(runtime[name]))
            else:
                # Absent at runtime: built against its newest. Every other version of it
                # becomes choosable (a variable), so the solver may ask for a build against
                # one of those instead when this build conflicts; but not a pre-release that
                # no requirement accepts (PEP 440: not chosen unless asked for).
                others = [c for c in self.enc.candidates_of.get(name, []) if c.key != built[name].key
                          and (self.enc.has_var(c) or not c.version.is_prerelease)]
                clause += self.enc.vars_for(others)
        self.enc.add_clause(clause, reason)

    def built_names(self, candidate: Candidate) -> list[NormalizedName]:
        """The names of every package some build of ``candidate`` was made against."""
        entry = self._entries.get(candidate.key)
        names = {c.name for _, variant in entry.variants for c in variant.built_against} if entry is not None else set()
        return sorted(names)

    def variant_vars(self, candidate: Candidate) -> Sequence[tuple[int, Variant]]:
        entry = self._entries.get(candidate.key)
        return entry.variants if entry is not None else ()


class DependencyAdder(Protocol):
    def __call__(self, candidate: Candidate, variant: Variant, guard: int) -> None:
        """Add the clauses of ``variant``'s dependencies, guarded by its variable."""
