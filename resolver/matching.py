"""What a requirement means for one target: PEP 440 matching, pre-releases, markers, overrides.

The solver asks this collaborator and keeps to the search: which candidates a requirement
accepts, whether a marker holds (with or without an extra), what an override replaces a
requirement with, and whether a candidate's Requires-Python admits the target.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

from packaging.markers import Marker, UndefinedComparison, UndefinedEnvironmentName
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name

from satlock.errors import MetadataError
from satlock.resolver.candidates import Candidate
from satlock.resolver.target import python_full_version


class Applies(enum.Enum):
    """When a requirement of a candidate applies to the target."""

    ALWAYS = "always"  # its marker is true (or absent) without any extra
    WITH_EXTRA = "with an extra"  # only when an extra its marker names is asked for (never, if false anyway)


@dataclass(frozen=True)
class Dependency:
    """One requirement of a candidate (after overrides), and when it applies.

    ``extras``: for one that needs an extra, the extras its marker names when it only
    compares ``extra ==`` (see ``extras_named``): no other extra brings it in. ``None``
    when that cannot be said (or it always applies): ask its marker.
    """

    requirement: Requirement
    applies: Applies
    extras: frozenset[str] | None = None

    @property
    def always(self) -> bool:
        return self.applies is Applies.ALWAYS


class Matcher:
    """The target's answers about requirements, cached: the same questions come every round."""

    def __init__(self, environment: Mapping[str, str], *, allow_prereleases: bool = False,
                 overrides: Sequence[Requirement] = ()) -> None:
        self.environment = dict(environment)
        self.python = python_full_version(self.environment)
        self.allow_prereleases = allow_prereleases
        self._overrides: dict[NormalizedName, list[Requirement]] = {}
        for r in overrides:
            self._overrides.setdefault(canonicalize_name(r.name), []).append(r)
        self._markers: dict[tuple[int, str], tuple[Marker, bool]] = {}
        self._extras_named: dict[int, tuple[Marker, frozenset[str] | None]] = {}
        self._matching: dict[tuple[str, str, bool], list[Candidate]] = {}

    def matches(self, req: Requirement, candidates: Sequence[Candidate]) -> list[Candidate]:
        """The candidates a requirement accepts; pre-releases as pip does (PEP 440).

        A requirement by URL (``y @ https://...``) in a package's metadata is met only by the
        project's own direct reference for that name: satlock never fetches a URL that an
        index's metadata names (it could point anywhere, this machine's files included), and
        a same-named package from the index is not what was asked for (dependency
        confusion). uv refuses the same way; pip would fetch the URL.
        """
        spec: SpecifierSet = req.specifier
        direct = [c for c in candidates if c.direct is not None]
        if direct:
            return [c for c in direct if spec.contains(c.version, prereleases=True)]
        if req.url:
            return []
        if self.allow_prereleases:
            ok = set(spec.filter((c.version for c in candidates), prereleases=True))
        else:
            ok = set(spec.filter(c.version for c in candidates))
        return [c for c in candidates if c.version in ok]

    def matching(self, req: Requirement, candidates: Sequence[Candidate]) -> list[Candidate]:
        """``matches``, remembered per name and specifier (``candidates`` are the name's
        whole list, which does not change once known)."""
        key = (canonicalize_name(req.name), str(req.specifier), bool(req.url))
        if key not in self._matching:
            self._matching[key] = self.matches(req, candidates)
        return self._matching[key]

    def active(self, marker: Marker | None, extra: str = "") -> bool:
        """Whether ``marker`` holds for the target (with ``extra`` asked for)."""
        if marker is None:
            return True
        # The cache holds the marker too, so its id cannot be reused while the entry lives.
        key = (id(marker), extra)
        hit = self._markers.get(key)
        if hit is None:
            hit = self._markers[key] = (marker, evaluate_marker(marker, {**self.environment, "extra": extra}))
        return hit[1]

    def overridden(self, req: Requirement) -> list[Requirement]:
        """What ``[tool.satlock] overrides`` put in place of ``req`` (``req`` itself if none)."""
        return self._overrides.get(canonicalize_name(req.name), [req])

    def dependencies(self, requires: Iterable[Requirement]) -> list[Dependency]:
        """A candidate's requirements after overrides, each with when it applies."""
        listed = []
        for raw in requires:
            for req in self.overridden(raw):
                if self.active(req.marker):
                    listed.append(Dependency(req, Applies.ALWAYS))
                else:
                    listed.append(Dependency(req, Applies.WITH_EXTRA, self._named(req.marker)))
        return listed

    def with_extra(self, listed: Iterable[Dependency], extra: str) -> list[Requirement]:
        """The requirements among ``listed`` that only ``extra`` brings in.

        A package with hundreds of extras (boto3-stubs) asked for many of them would have
        every marker evaluated once per extra; a marker that only says ``extra == "x"``
        (the usual shape) is skipped for every other extra without evaluating it.
        """
        wanted = canonicalize_name(extra)
        out = []
        for d in listed:
            if d.always or (d.extras is not None and wanted not in d.extras):
                continue
            if self.active(d.requirement.marker, extra):
                out.append(d.requirement)
        return out

    def _named(self, marker: Marker | None) -> frozenset[str] | None:
        """``extras_named(marker)``, remembered per marker (held in the entry, so its id stays its own)."""
        if marker is None:
            return None
        hit = self._extras_named.get(id(marker))
        if hit is None:
            hit = self._extras_named[id(marker)] = (marker, extras_named(marker))
        return hit[1]

    def supports_python(self, requires_python: SpecifierSet | None) -> bool:
        return requires_python is None or requires_python.contains(self.python, prereleases=True)


def extras_named(marker: Marker) -> frozenset[str] | None:
    """The extras ``marker`` compares ``extra ==`` with, when that is its only use of ``extra``.

    Such a marker gives the same answer for every extra it does not name as for no extra
    at all (each of those comparisons is false), so a requirement that needs an extra is
    brought in by none but the named ones. ``None`` when the marker uses ``extra`` any
    other way, or when its parsed form is not the one expected: then it is evaluated.
    """
    names: set[str] = set()

    def is_extra(node: object) -> bool:
        return type(node).__name__ == "Variable" and getattr(node, "value", None) == "extra"

    def visit(items: object) -> bool:
        if not isinstance(items, list):
            return False
        for item in items:
            if isinstance(item, str) and item in ("and", "or"):
                continue
            if isinstance(item, list):
                if not visit(item):
                    return False
                continue
            if not (isinstance(item, tuple) and len(item) == 3):
                return False
            lhs, op, rhs = item
            if not (is_extra(lhs) or is_extra(rhs)):
                continue
            other = rhs if is_extra(lhs) else lhs
            if getattr(op, "value", None) != "==" or type(other).__name__ != "Value" or not isinstance(other.value, str):
                return False
            names.add(canonicalize_name(other.value))
        return True

    if not visit(getattr(marker, "_markers", None)) or "" in names:
        return None
    return frozenset(names)


def evaluate_marker(marker: Marker, environment: Mapping[str, str]) -> bool:
    """``marker.evaluate(environment)``, with PEP 440's arbitrary equality between strings.

    PEP 508 allows ``===`` in markers, and PEP 440 defines it as plain string equality;
    packaging evaluates it only where both sides read as versions and raises for the rest
    (pyzmq 20.0.0: ``implementation_name === "pypy"``). Such a marker is evaluated with
    ``==``, which compares those strings as strings; one that still cannot be evaluated
    is a metadata error, one line, not a traceback.
    """
    try:
        return marker.evaluate(environment)
    except UndefinedComparison:
        pass
    except UndefinedEnvironmentName as e:
        raise MetadataError(f"cannot evaluate the marker '{marker}': it names {e}, which only a lock file's markers may",
                            hint="the package's metadata uses a marker name of PEP 751 lock files") from None
    try:
        return Marker(str(marker).replace(" === ", " == ")).evaluate(environment)
    except UndefinedComparison as e:
        raise MetadataError(f"cannot evaluate the marker '{marker}': {e}",
                            hint="the package's metadata uses a comparison PEP 508 leaves undefined") from None
