"""The ``{...}`` templates of a profile's ``env`` values.

Values are expanded as plain strings: never through a shell, no ``eval``, no ``$VAR``
expansion, so a profile cannot run anything or read the caller's environment. Lookups
are lazy because some are expensive (``{cuda-home}`` assembles a folder of links) and
most profiles use none of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable, Mapping, Sequence

from packaging.utils import canonicalize_name

from satlock.errors import BuildError, ProfileError

SIMPLE_NAMES = ("python", "venv", "site-packages", "cuda-home")
KNOWN = "{python}, {venv}, {site-packages}, {dist:NAME}, {cuda-home}"


@dataclass(frozen=True)
class TemplateContext:
    """What the templates of one environment stand for."""

    python: Path
    venv: Path
    site_packages: Path
    dist_locator: Callable[[str], Path]
    cuda_home: Callable[[], Path]


def _split(value: str) -> list[tuple[bool, str]]:
    """``value`` as (is_template, text) pieces; raises on bad braces or unknown names."""
    pieces: list[tuple[bool, str]] = []
    literal: list[str] = []
    i = 0
    while i < len(value):
        c = value[i]
        if c == "{" and value.startswith("{{", i):
            literal.append("{")
            i += 2
        elif c == "}" and value.startswith("}}", i):
            literal.append("}")
            i += 2
        elif c == "{":
            end = value.find("}", i + 1)
            inner_open = value.find("{", i + 1)
            if end == -1 or (inner_open != -1 and inner_open < end):
                raise ProfileError(f"unbalanced '{{' in {value!r} (write '{{{{' for a literal brace)")
            name = value[i + 1:end]
            _check_name(name)
            if literal:
                pieces.append((False, "".join(literal)))
                literal = []
            pieces.append((True, name))
            i = end + 1
        elif c == "}":
            raise ProfileError(f"unbalanced '}}' in {value!r} (write '}}}}' for a literal brace)")
        else:
            literal.append(c)
            i += 1
    if literal:
        pieces.append((False, "".join(literal)))
    return pieces


def _check_name(name: str) -> None:
    if name in SIMPLE_NAMES:
        return
    if name.startswith("dist:"):
        dist = name[len("dist:"):].strip()
        if _valid_project_name(dist):
            return
        raise ProfileError(f"{'{' + name + '}'!r} does not name a distribution (write {{dist:NAME}}, e.g. {{dist:nvidia-cuda-nvcc}})")
    # repr: a name is whatever stands between braces, newlines included, and the error is one line.
    raise ProfileError(f"unknown template {'{' + name + '}'!r} (known: {KNOWN})")


def _valid_project_name(name: str) -> bool:
    try:
        canonicalize_name(name, validate=True)
    except ValueError:
        return False
    return True


def template_names(value: str) -> list[str]:
    """The template names used in ``value`` (``python``, ``dist:torch``...), checked."""
    return [text for is_template, text in _split(value) if is_template]


def expand(value: str, context: TemplateContext) -> str:
    """``value`` with every template replaced by what it stands for in ``context``."""
    out: list[str] = []
    for is_template, text in _split(value):
        if not is_template:
            out.append(text)
        elif text == "python":
            out.append(str(context.python))
        elif text == "venv":
            out.append(str(context.venv))
        elif text == "site-packages":
            out.append(str(context.site_packages))
        elif text == "cuda-home":
            out.append(str(context.cuda_home()))
        else:
            out.append(str(context.dist_locator(text[len("dist:"):].strip())))
    return "".join(out)


def expand_env(env: Mapping[str, str], context: TemplateContext, *, profile: str) -> dict[str, str]:
    """Every value of ``env`` expanded; a failing template (a missing distribution, a CUDA
    toolkit that cannot be assembled) names the profile and the variable it is in, since
    several profiles of a project may use the same template."""
    expanded: dict[str, str] = {}
    for key, value in env.items():
        try:
            expanded[key] = expand(value, context)
        except (ProfileError, BuildError) as e:
            raise type(e)(f"[tool.satlock.profiles.{profile}] env.{key}: {e.message}", hint=e.hint) from None
    return expanded


def installed_files(site_packages: Path, name: str) -> list[Path] | None:
    """Absolute paths of the files distribution ``name`` installed (its RECORD), or None
    when it is not installed in ``site_packages``."""
    from importlib import metadata  # only here: a lock that expands no template never loads it

    wanted = canonicalize_name(name)
    for dist in metadata.distributions(path=[str(site_packages)]):
        dist_name = dist.metadata["Name"] if dist.metadata else None
        if dist_name and canonicalize_name(dist_name) == wanted:
            return [Path(dist.locate_file(f)) for f in (dist.files or [])]
    return None


# The most distributions an error names of an environment (.venv may hold hundreds).
_NAMED = 12


def holding(places: Sequence[Path]) -> str:
    """What the environments at ``places`` (site-packages folders) hold, for a message: the
    distributions by name and version (``it holds buildhelper 1.0, setuptools 80.9``), never a path."""
    from importlib import metadata

    held = sorted({f"{canonicalize_name(d.metadata['Name'])} {d.version}" for sp in places
                   for d in metadata.distributions(path=[str(sp)]) if d.metadata and d.metadata["Name"]})
    more = f" and {len(held) - _NAMED} more" if len(held) > _NAMED else ""
    return f"it holds {', '.join(held[:_NAMED])}{more}" if held else "it holds nothing"


def dist_location(site_packages: Path, name: str, *, fallback: Path | None = None, where: str | None = None) -> Path:
    """The folder holding what ``name`` installed in ``site_packages`` (else in ``fallback``,
    a no-isolation build's build-only tools): the common parent of its files, leaving out
    its .dist-info, files outside site-packages (scripts) and the empty ``__init__.py`` of
    a shared top-level namespace such as ``nvidia/``.

    ``where`` names the environment in an error (``the build environment of moveext``): a
    build environment is a temporary folder, gone by the time the error is read, so the
    error says whose it is and what it holds, not where it was; and since a build
    environment is the lock's record, the hint is to lock again. Without it,
    ``site_packages`` is named (``.venv``'s, which stays)."""
    places = [site_packages, *([fallback] if fallback is not None else [])]
    files = installed_files(site_packages, name)
    if files is None and fallback is not None:
        site_packages, files = fallback, installed_files(fallback, name)
    if files is None:
        hint = (f"add {name} to the project's dependencies (or to the profile's build-requires) so it is locked and installed"
                if where is None else
                f"{{dist:{name}}} brings {name} into the build environment the lock records: if the profile changed "
                "since the lock was written, run `satlock lock` (`satlock sync --frozen` builds with the lock as it is)")
        raise ProfileError(f"{{dist:{name}}}: no package in {where or site_packages} is {name} ({holding(places)})", hint=hint)
    root = site_packages.resolve()
    rel: list[PurePosixPath] = []
    for f in files:
        try:
            p = PurePosixPath(f.resolve().relative_to(root).as_posix())
        except ValueError:
            continue
        if p.parts[0].endswith(".dist-info") or "__pycache__" in p.parts:
            continue
        rel.append(p)
    if not rel:
        raise ProfileError(f"{{dist:{name}}}: {name} in {where or site_packages} installed no files into its site-packages, "
                           "so there is no folder to name",
                           hint=f"name the distribution that installs the folder wanted ({name} may be a meta-package)")
    return site_packages / _common_folder(rel, root, name)


def _common_folder(files: list[PurePosixPath], root: Path, name: str) -> PurePosixPath:
    parents = [f.parent.parts for f in files]
    common: list[str] = []
    for level in zip(*parents):
        if len(set(level)) != 1:
            break
        common.append(level[0])
    folder = PurePosixPath(*common)
    if len(folder.parts) == 1:
        # A top-level namespace (nvidia/, not named after the distribution) whose only
        # file of ours is its empty __init__.py: the distribution's folder is below it.
        own = [f for f in files if f.parent == folder]
        below = {f.parts[1] for f in files if f.parent != folder}
        if (len(own) == 1 and own[0].name == "__init__.py" and len(below) == 1
                and canonicalize_name(folder.name) != canonicalize_name(name)
                and _is_empty(root / own[0])):
            return folder / below.pop()
    return folder


def _is_empty(path: Path) -> bool:
    try:
        return path.stat().st_size == 0
    except OSError:
        return False
