"""What a wheel would do to an environment, known before anything in it changes.

A wheel is untrusted even once its hash matches the lock: the index that served it may
have served ``.metadata`` that disagrees with it, it may carry another name or version
than the lock says, it may overwrite the environment's interpreter, ``pyvenv.cfg`` or
another package's files, and it may be a decompression bomb. ``read_wheel`` reads only
the zip's directory and its ``.dist-info`` files, maps every member to the path it would
be installed at, and the ``check_*`` functions refuse, naming the wheel and the paths,
while the environment is still untouched.
"""

from __future__ import annotations

import csv
import email.parser
import os
import re
import stat
import zipfile
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from installer.utils import parse_entrypoints
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import InvalidWheelFilename, NormalizedName, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from satlock.buildenv.archive import check_unpacked_size, safe_zip_members
from satlock.buildenv.venv import Venv
from satlock.buildenv.venvpaths import Folders, VenvSnapshot, member_path, real_path
from satlock.errors import ZIPFILE_REFUSALS, InstallError
from satlock.numbers import overlong_number_line, overlong_number_reason
from satlock.resolver.metadatafile import header_block
from satlock.resolver.matching import evaluate_marker

if TYPE_CHECKING:
    from satlock.buildenv.installed import InstalledDist

# The most of METADATA, RECORD or entry_points.txt read into memory from one wheel.
_MAX_DIST_INFO_FILE = 64 * 1024 * 1024
_SCHEMES = ("purelib", "platlib", "headers", "scripts", "data")
# hashlib algorithms whose digest() needs a length.
_NO_FIXED_LENGTH = frozenset({"shake_128", "shake_256"})
# A Requires-Dist of a shape packaging always parses, that applies only with an extra: a
# name, extras, specifiers of release numbers, then `; extra == "name"` and nothing else
# (two in three of the medium set's). Nothing else is taken for one: it is parsed, and one
# that does not parse is refused, whatever its marker. Possessive, so a hostile line is
# matched in linear time.
_WS = r"[ \t]*+"
_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]*+(?<=[A-Za-z0-9]))?"
_SPEC = rf"(?>(?:==|!=|<=|>=|<|>){_WS}[0-9]++(?:\.[0-9]++)*+|~={_WS}[0-9]++(?:\.[0-9]++)++)"
_FOR_AN_EXTRA = re.compile(rf"{_WS}{_NAME}{_WS}(?:\[{_WS}{_NAME}(?:{_WS},{_WS}{_NAME})*+{_WS}\])?+"
                           rf"{_WS}(?:{_SPEC}(?:{_WS},{_WS}{_SPEC})*+)?+{_WS};{_WS}extra{_WS}=={_WS}(?:\"{_NAME}\"|'{_NAME}'){_WS}")


@dataclass(frozen=True)
class WheelPlan:
    """One wheel as it would be installed: its identity, metadata and the files it writes.

    ``targets`` maps each absolute path the wheel writes to the hash its RECORD gives
    (``""`` for the entry-point scripts installer generates); ``files`` maps each
    (scheme, path in that scheme) installer will be handed to that hash, so what is
    actually written can be held to the wheel's own RECORD.
    """

    wheel: Path
    name: NormalizedName
    version: str
    metadata: bytes
    targets: dict[str, str]
    files: dict[tuple[str, str], str]
    # The zip member each of ``files`` comes from, in the wheel's order.
    members: dict[tuple[str, str], str]
    dist_info: str
    root_scheme: str
    # (script name, module, attribute, section) of each entry point.
    entry_points: tuple[tuple[str, str, str, str], ...]
    # The keys of ``files`` whose zip member is executable: the mode an installed file must
    # have comes from the verified wheel, never from the cache's copy (which an environment
    # sharing it by a hard link can chmod).
    executable: frozenset[tuple[str, str]] = frozenset()
    # METADATA's Requires-Dist values, as written.
    requires_dist: tuple[str, ...] = ()


def scheme_dict(venv: Venv, name: str) -> dict[str, str]:
    """Where each install scheme of ``name`` goes in ``venv``.

    Headers go inside the environment, as pip does: the interpreter's own include
    folder belongs to the base Python, not to the venv.
    """
    major_minor = ".".join(venv.python_version.split(".")[:2])
    return {
        "purelib": str(venv.purelib),
        "platlib": str(venv.platlib),
        "scripts": str(venv.scripts),
        "data": str(venv.data),
        "headers": str(venv.root / "include" / "site" / f"python{major_minor}" / name),
    }


def _refuse(wheel: Path, why: str, hint: str = "the wheel was refused and the environment is unchanged; "
                                                 "report it to the package's maintainers") -> InstallError:
    return InstallError(f"{wheel.name}: {why}", hint=hint)


def _read_member(zf: zipfile.ZipFile, wheel: Path, info: zipfile.ZipInfo) -> bytes:
    if info.file_size > _MAX_DIST_INFO_FILE:
        raise _refuse(wheel, f"{info.filename} is {info.file_size:,} bytes, more than the {_MAX_DIST_INFO_FILE:,} allowed")
    return zf.read(info)


def read_wheel(wheel: Path, venv: Venv, snapshot: VenvSnapshot | None = None) -> WheelPlan:
    """Read ``wheel``'s directory and metadata; refuse an unsafe or malformed one.

    ``snapshot`` holds what earlier reads learnt of ``venv``'s folders, while it has not changed."""
    wheel = Path(wheel)
    try:
        with zipfile.ZipFile(wheel) as zf:
            members = safe_zip_members(zf, wheel)
            check_unpacked_size(wheel, wheel.stat().st_size, sum(i.file_size for i in members))
            infos = sorted({top for top in {i.filename.partition("/")[0] for i in members} if top.endswith(".dist-info")})
            if len(infos) != 1:
                raise _refuse(wheel, f"has {len(infos)} .dist-info folders ({', '.join(infos) or 'none'}), expected one")
            dist_info = infos[0]
            files = {}
            for n in ("METADATA", "WHEEL", "RECORD", "entry_points.txt"):
                try:
                    info = zf.getinfo(f"{dist_info}/{n}")  # the last member of that name, as installer takes it
                except KeyError:
                    continue
                files[n] = _read_member(zf, wheel, info)
    except (zipfile.BadZipFile, *ZIPFILE_REFUSALS) as e:
        raise _refuse(wheel, f"is not a valid wheel: {e}", hint="delete it from the cache and run again") from None
    for required in ("METADATA", "WHEEL", "RECORD"):
        if required not in files:
            raise _refuse(wheel, f"has no {dist_info}/{required}")
    meta = email.parser.BytesHeaderParser().parsebytes(header_block(files["METADATA"]))
    name, version = meta.get("Name"), meta.get("Version")
    if not name or not version:
        raise _refuse(wheel, f"{dist_info}/METADATA has no Name or Version")
    wheel_meta = email.parser.BytesHeaderParser().parsebytes(files["WHEEL"])
    if not str(wheel_meta.get("Wheel-Version", "")).strip().startswith("1."):
        raise _refuse(wheel, f"{dist_info}/WHEEL has Wheel-Version {wheel_meta.get('Wheel-Version')!r}; only 1.x is supported")
    root_scheme = "purelib" if str(wheel_meta.get("Root-Is-Purelib", "true")).strip().lower() == "true" else "platlib"
    schemes = scheme_dict(venv, canonicalize_name(str(name)))
    data_dir = dist_info[: -len(".dist-info")] + ".data/"
    record_member = f"{dist_info}/RECORD"
    record = _record(files["RECORD"], wheel)
    targets: dict[str, str] = {}
    folders = snapshot.folders if snapshot is not None else Folders()
    in_folder: dict[tuple[str, str], str] = {}
    installed_files: dict[tuple[str, str], str] = {}
    sources: dict[tuple[str, str], str] = {}
    executable: set[tuple[str, str]] = set()
    for info in members:
        if info.is_dir():
            continue
        path = info.filename
        if path.rpartition("/")[2] == ".":
            # "pkg/mod/." names a folder, not a file: unzipped it would overwrite one.
            raise _refuse(wheel, f"{path} is not a file name")
        if path.startswith(data_dir):
            scheme, _, rest = path[len(data_dir):].partition("/")
            if scheme not in _SCHEMES or not rest:
                raise _refuse(wheel, f"{path} is in an unknown install scheme {scheme!r}")
            if rest.startswith("/"):
                # Joined to its scheme's folder it would be an absolute path, and its RECORD row too.
                raise _refuse(wheel, f"{path} is not a path relative to its install scheme {scheme!r}")
        else:
            scheme, rest = root_scheme, path
        if ".dist-info" in rest and scheme in ("purelib", "platlib"):
            top = rest.partition("/")[0]
            if top.endswith(".dist-info") and top != dist_info:
                raise _refuse(wheel, f"{path} would write into another distribution's metadata ({top})")
        hash_ = record.get(path, "")
        targets[member_path(schemes, scheme, rest, folders, in_folder)] = hash_
        if path != record_member and ("__pycache__" not in path or "__pycache__" not in path.split("/")[:-1]):
            key = (scheme, rest)
            installed_files[key] = hash_
            sources[key] = path
            if info.external_attr & (0o111 << 16) and is_executable(info):
                executable.add(key)
    entry_points: list[tuple[str, str, str, str]] = []
    if "entry_points.txt" in files:
        try:
            entry_points = list(parse_entrypoints(files["entry_points.txt"].decode("utf-8")))
        except (ValueError, UnicodeDecodeError) as e:
            raise _refuse(wheel, f"{dist_info}/entry_points.txt is invalid: {e}") from None
        for script, _module, _attr, _section in entry_points:
            if "/" in script or "\\" in script or script in ("", ".", ".."):
                raise _refuse(wheel, f"entry point script name {script!r} is not a file name")
            filename = f"{script}.exe" if os.name == "nt" else script
            targets.setdefault(real_path(os.path.join(schemes["scripts"], filename), folders), "")
    return WheelPlan(wheel, canonicalize_name(str(name)), str(version), files["METADATA"], targets, installed_files,
                     sources, dist_info, root_scheme, tuple(entry_points), frozenset(executable),
                     tuple(str(r) for r in meta.get_all("Requires-Dist") or []))


def is_executable(info: zipfile.ZipInfo) -> bool:
    """Whether a wheel member is installed executable: a regular file with an exec bit in
    its zip attributes (a member without Unix attributes is not)."""
    mode = info.external_attr >> 16
    return bool(mode and stat.S_ISREG(mode) and mode & 0o111)


def _record(data: bytes, wheel: Path) -> dict[str, str]:
    try:
        text = data.decode("utf-8")
        rows = list(csv.reader(text.splitlines()))
    except (UnicodeDecodeError, csv.Error) as e:
        raise _refuse(wheel, f"its RECORD is unreadable: {e}") from None
    record = {row[0]: row[1] for row in rows if len(row) >= 2}
    # Both such algorithms are named "shake_...": a RECORD without that text has neither.
    for algorithm in {value.partition("=")[0] for value in record.values()} & _NO_FIXED_LENGTH if "shake_" in text else ():
        # A shake digest's length is not in RECORD: nothing could check the file against it.
        path = next(p for p, value in record.items() if value.partition("=")[0] == algorithm)
        raise _refuse(wheel, f"{path} has a {algorithm} hash in RECORD, which has no fixed length")
    return record


def check_identity(plan: WheelPlan, name: NormalizedName, version: Version | None, where: str) -> None:
    """Refuse a wheel whose file name or METADATA names another project or version than ``where`` locked."""
    try:
        file_name, file_version, _build, _tags = parse_wheel_filename(plan.wheel.name)
    except InvalidWheelFilename as e:
        raise _refuse(plan.wheel, f"is not a valid wheel file name: {e}") from None
    try:
        if overlong_number_line(plan.version) is not None:
            raise InvalidVersion(overlong_number_reason())
        meta_version = Version(plan.version)
    except InvalidVersion:
        raise _refuse(plan.wheel, f"its METADATA Version {plan.version!r:.80} is not a valid version") from None
    for what, got_name, got_version in (("file name", file_name, file_version), ("METADATA", plan.name, meta_version)):
        if got_name != name or (version is not None and got_version != version):
            locked = f"{name} {version}" if version is not None else str(name)
            raise _refuse(plan.wheel, f"its {what} says {got_name} {got_version}, but {where} locked {locked}",
                          hint="the wheel was refused and the environment is unchanged; the index serves a file "
                               "that is not the locked package: run `satlock lock` again, or report it to the index")


def _active_requirements(plan: WheelPlan, environment: Mapping[str, str]) -> list[Requirement]:
    """The wheel's ``Requires-Dist`` values that apply in ``environment`` without any extra.

    One that does not parse refuses the wheel: the resolver refuses such metadata from the
    index, so skipping it here would let the wheel's own copy declare what was never checked.
    """
    env = {**environment, "extra": ""}
    out = []
    for raw in plan.requires_dist:
        try:
            if overlong_number_line(raw) is not None:
                raise InvalidRequirement(overlong_number_reason())
            if _FOR_AN_EXTRA.fullmatch(raw):
                continue  # parses, and does not apply without an extra
            req = Requirement(raw)
        except InvalidRequirement as e:
            first = str(e).splitlines()[0]
            raise _refuse(plan.wheel, f"its METADATA Requires-Dist {raw!r:.120} is not a valid requirement ({first})",
                          hint="the wheel was refused and the environment is unchanged; report it to the package's maintainers") from None
        if req.marker is None or evaluate_marker(req.marker, env):
            out.append(req)
    return out


def check_dependencies(plan: WheelPlan, locked: Mapping[NormalizedName, Version | None], environment: Mapping[str, str],
                       where: str, *, built: bool = False, left_out: Collection[NormalizedName] = (),
                       overridden: Mapping[NormalizedName, bool] | None = None) -> None:
    """Refuse a wheel whose METADATA needs what the lock never resolved for it.

    The lock was made from the metadata the index served beside the wheel (PEP 658
    ``.metadata``), which must be byte for byte the wheel's own METADATA; or, for a wheel
    ``built`` from source, from the metadata a build of that source gave when it was
    locked, in the build environment the lock records. Every dependency the wheel's
    METADATA declares for this environment must therefore be among the package's locked
    ``dependencies``, at a version it accepts: else the environment would lack it, unsaid.
    One among the lock's packages ``left_out`` of this sync (behind an extra or a group not
    selected) is not installed, and refuses it too. A requirement on a package the project
    ``overridden`` (name -> whether an override applies here) was replaced by the override
    when locking: it is held to the lock's having that package, not to its version, and to
    nothing where every override of it has a marker false here (the override dropped it).
    """
    for req in _active_requirements(plan, environment):
        dep = canonicalize_name(req.name)
        if dep == plan.name or (overridden is not None and overridden.get(dep) is False):
            continue
        if dep in locked and dep in left_out:
            made = "built from source, it" if built else "its METADATA"
            raise _refuse(plan.wheel, f"{made} requires {req}, which the lock installs with {where} only for extras or "
                                      f"groups this sync does not select",
                          hint=f"the wheel was refused; sync with the extra or group that installs {dep}, "
                               "or run `satlock lock` again")
        version = locked.get(dep)
        held_to_version = version is not None and bool(req.specifier) and not (overridden and dep in overridden)
        if dep in locked and not (held_to_version and not req.specifier.contains(version, prereleases=True)):
            continue
        have = ("none" if not locked else ", ".join(sorted(locked))) if dep not in locked else f"{dep} {version}"
        if built:
            found = (f"which the lock does not install with {where} (its locked dependencies: {have})" if dep not in locked
                     else f"but the lock installs {have} with {where}")
            raise _refuse(plan.wheel, f"built from source, it requires {req}, {found}: the source builds other "
                                      f"dependencies than when it was locked",
                          hint="the built wheel was refused; run `satlock lock` again (a folder or git source changed), "
                               "or declare its dependencies in its build profile's metadata")
        if dep not in locked:
            raise _refuse(plan.wheel, f"its METADATA requires {req} but the metadata {where} was locked from did not "
                                      f"(locked dependencies: {have}); the index's .metadata file disagrees with the wheel",
                          hint="the wheel was refused and the environment is unchanged; the index serves metadata "
                               "that does not match its files: report it to the index's maintainers")
        raise _refuse(plan.wheel, f"its METADATA requires {req} but the lock has {have}, locked from "
                                  f"metadata that did not; the index's .metadata file disagrees with the wheel",
                      hint="the wheel was refused and the environment is unchanged; report it to the index")


FileOwners = dict[str, tuple[NormalizedName, str]]


def file_owners(dists: Iterable[InstalledDist]) -> FileOwners:
    """Every file an installed distribution's RECORD lists: path -> (distribution, hash)."""
    owners: FileOwners = {}
    folders: dict[str, str] = {}
    for dist in dists:
        try:
            with open(dist.path / "RECORD", newline="", encoding="utf-8") as f:
                rows = [row for row in csv.reader(f) if row]
        except (OSError, UnicodeDecodeError, csv.Error):
            continue
        for row in rows:
            owners[real_path(os.path.join(dist.path.parent, row[0]), folders)] = (dist.name, row[1] if len(row) > 1 else "")
    return owners


def check_conflicts(plan: WheelPlan, venv: Venv, owners: Mapping[str, tuple[NormalizedName, str]],
                    leaving: Collection[NormalizedName] = (), snapshot: VenvSnapshot | None = None) -> None:
    """Refuse a wheel that would overwrite the environment itself or another package's files.

    A file another distribution owns with the very same hash is shared, not a conflict
    (every CUDA 12 ``nvidia-*`` wheel ships the same empty ``nvidia/__init__.py``). Files
    of the package being replaced, and of packages this sync removes, are free. ``snapshot``
    is ``venv`` as earlier checks saw it, while it has not changed.
    """
    snapshot = snapshot if snapshot is not None else VenvSnapshot(venv)
    found: list[tuple[str, str]] = []
    for target, hash_ in plan.targets.items():
        if snapshot.venv_own(target):
            found.append((target, "(the environment's own)"))
            continue
        owner = owners.get(target)
        if owner is not None and owner[0] != plan.name and owner[0] not in leaving and (not hash_ or owner[1] != hash_):
            found.append((target, f"(installed by {owner[0]})"))
    if found:
        conflicts = [f"{os.path.relpath(target, snapshot.root)} {why}" for target, why in sorted(found)]
        more = f" and {len(conflicts) - 5} more" if len(conflicts) > 5 else ""
        raise _refuse(plan.wheel, f"would overwrite {', '.join(conflicts[:5])}{more}",
                      hint="the wheel was refused and the environment is unchanged; a package may not replace the "
                           "interpreter, pyvenv.cfg or another package's files")


def claim(owners: FileOwners, plan: WheelPlan) -> None:
    """Record ``plan``'s files as owned, so a later wheel of the same sync cannot overwrite them."""
    for target, hash_ in plan.targets.items():
        owners[target] = (plan.name, hash_)

