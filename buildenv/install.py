"""Installing wheels into, and removing distributions from, a virtual environment.

Every change is made so that a package is either fully installed or absent, even if
satlock is killed half-way: a wheel is first written into a staging folder inside the
environment (same filesystem), its files are renamed into place, and its ``.dist-info``
folder is renamed in *last*; an uninstall first renames the ``.dist-info`` away, then
deletes the files. A ``.dist-info`` whose RECORD lists missing files therefore never
exists, and ``recover_interrupted`` clears what a killed run left behind.
"""

from __future__ import annotations

import base64
import csv
import email.parser
import hashlib
import io
import json
import os
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import installer
from installer.destinations import SchemeDictionaryDestination
from installer.exceptions import InstallerError
from installer.records import Hash, RecordEntry, parse_record_file
from installer.sources import WheelFile, WheelSource
from installer.utils import Scheme, get_launcher_kind, make_file_executable
from packaging.utils import InvalidWheelFilename, NormalizedName, canonicalize_name, parse_wheel_filename
from packaging.version import Version

from satlock.buildenv.archive import check_unpacked_size, safe_zip_members
from satlock.buildenv.buildinputs import BUILD_INPUTS_FILE
from satlock.buildenv.venv import Venv
from satlock.buildenv.wheelcheck import FileOwners, WheelPlan, check_conflicts, check_identity, claim, file_owners, read_wheel, scheme_dict
from satlock.errors import InstallError
from satlock.cache import Cache, file_sha256

INSTALLER_NAME = "satlock"
UNPACKED_BUCKET = "unpacked-v1"
_STAGE_PREFIX = ".satlock-stage-"
_TRASH_PREFIX = ".satlock-trash-"
_TRASH_ORIGIN = "origin"


@dataclass(frozen=True)
class InstalledDist:
    """One ``.dist-info`` folder found in an environment."""

    name: NormalizedName
    version: str
    path: Path
    installer: str | None
    direct_url: dict[str, Any] | None
    requested: bool
    build_identity: str | None = None


@contextmanager
def _os_errors(doing: str) -> Iterator[None]:
    """Turn a filesystem failure (permissions, full disk) into a message naming what failed."""
    try:
        yield
    except OSError as e:
        raise InstallError(f"{doing} failed: {e}", hint="check the permissions and free space of the environment") from None



class _UnpackedWheel(WheelSource):
    """A wheel already unzipped into a folder (the cache), served to ``installer``."""

    def __init__(self, root: Path, distribution: str, version: str) -> None:
        super().__init__(distribution=distribution, version=version)
        self._root = root
        infos = [p.name for p in root.iterdir() if p.is_dir() and p.name.endswith(".dist-info")]
        if len(infos) != 1:
            raise InstallError(f"wheel {distribution}-{version} has {len(infos)} .dist-info folders, expected one")
        self._dist_info = infos[0]

    @property
    def dist_info_dir(self) -> str:
        return self._dist_info

    @property
    def data_dir(self) -> str:
        return self._dist_info[: -len(".dist-info")] + ".data"

    @property
    def dist_info_filenames(self) -> list[str]:
        base = self._root / self._dist_info
        return [p.relative_to(base).as_posix() for p in base.rglob("*") if p.is_file()]

    def read_dist_info(self, filename: str) -> str:
        return (self._root / self._dist_info / filename).read_text(encoding="utf-8")

    def validate_record(self) -> None:
        """Validated once, when the wheel was unzipped into the cache."""

    def get_contents(self) -> Iterator[tuple[tuple[str, str, str], BinaryIO, bool]]:
        records = {r[0]: r for r in parse_record_file(self.read_dist_info("RECORD").splitlines())}
        for dirpath, _dirs, files in os.walk(self._root):
            for filename in sorted(files):
                full = Path(dirpath) / filename
                rel = full.relative_to(self._root).as_posix()
                mode = full.stat().st_mode
                with open(full, "rb") as stream:
                    yield records.get(rel, (rel, "", "")), stream, bool(mode & 0o111)


def _b64_digest(algorithm: str, data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.new(algorithm, data).digest()).decode("ascii").rstrip("=")


class _LinkingDestination(SchemeDictionaryDestination):
    """Hard-links a file from the unpacked cache instead of copying it, as uv does.

    Creating thousands of files dominated installs (botocore ships about 3,000); a link
    is one cheap call per file. What ``installer`` rewrites (script shebangs, the files it
    generates) still arrives as an in-memory stream and is written as usual, and a file
    system that refuses links gets copies.

    The unpacked copy in the cache is trusted only through the wheel that was verified
    against the lock: ``expected`` holds, for every file, the hash the *zip's* RECORD
    gives, and each file written is hashed (once, from disk) and compared. A file the
    wheel does not have is not written at all; ``problems`` lists every difference.
    """

    def __init__(self, *args: Any, expected: Mapping[tuple[str, str], str] | None = None,
                 generated: Collection[tuple[str, str]] = frozenset(), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.expected = expected
        self.generated = generated
        self.written: set[tuple[str, str]] = set()
        self.problems: list[str] = []

    def write_file(self, scheme: Scheme, path: str | os.PathLike[str], stream: BinaryIO, is_executable: bool) -> RecordEntry:
        key = (str(scheme), os.fspath(path))
        if self.expected is None or key in self.generated:
            return super().write_file(scheme, path, stream, is_executable)
        promised = self.expected.get(key)
        if promised is None:
            self.problems.append(f"{key[1]} is not in the wheel")
            return RecordEntry(key[1], None, None)
        self.written.add(key)
        algorithm, _, value = promised.partition("=")
        if algorithm not in hashlib.algorithms_available:
            self.problems.append(f"{key[1]} has no usable hash in the wheel's RECORD")
            return RecordEntry(key[1], None, None)
        if scheme == "scripts":
            # installer may rewrite the shebang, so the bytes are checked before it does.
            data = stream.read()
            if _b64_digest(algorithm, data) != value:
                self.problems.append(f"{key[1]} differs from the wheel")
            return super().write_file(scheme, path, io.BytesIO(data), is_executable)
        entry = super().write_file(scheme, path, stream, is_executable)
        if entry.hash_ is not None and entry.hash_.name == algorithm:
            got = entry.hash_.value
        else:
            got = _record_hash(str(self._path_with_destdir(scheme, key[1])), algorithm)
        if got != value:
            self.problems.append(f"{key[1]} differs from the wheel")
        return entry

    def missing(self) -> list[str]:
        """Files the wheel has that the unpacked copy did not provide."""
        return [f"{p} is missing" for k in sorted(set(self.expected or {}) - self.written) for p in [k[1]]]

    def write_to_fs(self, scheme: Scheme, path: str, stream: BinaryIO, is_executable: bool) -> RecordEntry:
        source = getattr(stream, "name", None)
        if not isinstance(source, str) or os.path.islink(source):
            # A link planted in the cache copy is never linked into the environment: its
            # content is copied, and hashed, like any stream.
            return super().write_to_fs(scheme, path, stream, is_executable)
        target = self._path_with_destdir(scheme, path)
        target.parent.mkdir(parents=True, exist_ok=True)
        if os.path.lexists(target):
            target.unlink()
        try:
            os.link(source, target)
        except OSError:
            return super().write_to_fs(scheme, path, stream, is_executable)
        digest, size = hashlib.sha256(), 0
        with open(target, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
                size += len(block)
        if is_executable and not os.access(target, os.X_OK):
            make_file_executable(target)
        encoded = base64.urlsafe_b64encode(digest.digest()).decode("ascii").rstrip("=")
        return RecordEntry(path, Hash("sha256", encoded), size)


def _unzip_wheel(wheel: Path, dest: Path) -> None:
    """Check the wheel's members and RECORD, then unzip it into ``dest``."""
    try:
        with zipfile.ZipFile(wheel) as zf:
            members = safe_zip_members(zf, wheel)
            check_unpacked_size(wheel, wheel.stat().st_size, sum(i.file_size for i in members))
            source = WheelFile(zf)
            source.validate_record()
            for info in members:
                if info.is_dir():
                    continue
                target = dest / info.filename
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out)
                mode = info.external_attr >> 16
                if mode and stat.S_ISREG(mode) and mode & 0o111:
                    target.chmod(0o755)
    except zipfile.BadZipFile as e:
        raise InstallError(f"{wheel} is not a valid wheel: {e}", hint="delete it from the cache and run again") from None
    except InstallerError as e:
        raise InstallError(f"{wheel} is not a valid wheel: {e}", hint="report it to the package's maintainers") from None


def _unpacked(wheel: Path, cache: Cache | None, scratch: Path, sha256: str | None) -> Path:
    """A folder holding the wheel's files: from the cache (keyed by the wheel's sha256) when
    it was unzipped before. What is taken from it is checked against the wheel's RECORD."""
    if cache is None:
        dest = scratch / "unpacked"
        dest.mkdir()
        _unzip_wheel(wheel, dest)
        return dest
    key = sha256 or file_sha256(wheel)
    ready = cache.path(UNPACKED_BUCKET, key)
    if ready.is_dir():
        return ready
    with cache.lock(UNPACKED_BUCKET, key):
        if ready.is_dir():
            return ready
        tmp = cache.new_tempdir(UNPACKED_BUCKET)
        try:
            _unzip_wheel(wheel, tmp)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return cache.install_dir(UNPACKED_BUCKET, key, tmp)


def _scheme_dict(venv: Venv, name: str) -> dict[str, str]:
    return scheme_dict(venv, name)


def _move_into_place(stage: Path, venv: Venv, dist_info_targets: list[Path]) -> None:
    """Rename every staged file to its real path; the ``.dist-info`` folders go last, whole."""
    anchor = Path(venv.root.anchor)
    root = os.path.abspath(venv.root)
    staged_infos = {stage / t.relative_to(anchor) for t in dist_info_targets}
    moves: list[tuple[Path, Path]] = []
    for dirpath, dirs, files in os.walk(stage):
        here = Path(dirpath)
        dirs[:] = [d for d in dirs if here / d not in staged_infos]
        # A folder the environment does not have yet moves whole, with one rename: a fresh
        # install of a package of thousands of files (botocore) costs one rename, not thousands.
        descend = []
        for d in dirs:
            target = anchor / (here / d).relative_to(stage)
            if os.path.lexists(target):
                descend.append(d)
            elif not _inside(os.path.abspath(target), root):
                raise InstallError(f"refusing to write {target}: it is outside the environment {venv.root}")
            else:
                moves.append((here / d, target))
        dirs[:] = descend
        for filename in files:
            staged = here / filename
            target = anchor / staged.relative_to(stage)
            if not _inside(os.path.abspath(target), root):
                raise InstallError(f"refusing to write {target}: it is outside the environment {venv.root}")
            moves.append((staged, target))
    for staged, target in moves:
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged, target)
    for target in dist_info_targets:
        staged = stage / target.relative_to(anchor)
        if staged.is_dir():
            if target.exists():
                # A stale folder no reader recognised (no METADATA): out of the way first.
                os.rename(target, stage / "stale.dist-info")
            os.rename(staged, target)


def _stage(wheel: Path, files: Path, venv: Venv, stage: Path, extra: dict[str, bytes],
           plan: WheelPlan) -> tuple[_UnpackedWheel, list[str]]:
    """Write the wheel's files, as installed, under ``stage``; list how they differ from its RECORD."""
    distribution, version = wheel.name.split("-")[:2]
    source = _UnpackedWheel(files, distribution, version)
    root_scheme = next((k[0] for k in plan.files if k[1].startswith(source.dist_info_dir + "/")), "purelib")
    destination = _LinkingDestination(
        scheme_dict=_scheme_dict(venv, canonicalize_name(distribution)),
        interpreter=str(venv.python),
        script_kind=get_launcher_kind(),
        destdir=str(stage),
        overwrite_existing=True,
        expected=plan.files,
        generated={(root_scheme, f"{source.dist_info_dir}/{name}") for name in extra},
    )
    try:
        installer.install(source, destination, extra)
    except InstallerError as e:
        raise InstallError(f"cannot install {wheel.name}: {e}", hint="report it to the package's maintainers") from None
    return source, destination.problems + destination.missing()


def _dist_info_targets(venv: Venv, source: WheelSource) -> list[Path]:
    return [site / source.dist_info_dir for site in _site_dirs(venv)]


def install_wheel(wheel: Path, venv: Venv, *, direct_url: Mapping[str, Any] | None = None,
                  requested: bool = True, cache: Cache | None = None, sha256: str | None = None,
                  expect: tuple[NormalizedName, Version | None] | None = None,
                  owners: FileOwners | None = None, build_inputs: Mapping[str, Any] | None = None) -> None:
    """Install ``wheel`` into ``venv``, replacing any installed version of the same project.

    With ``cache``, the wheel is unzipped once into the cache and later installs copy
    from there; ``sha256`` is the wheel's digest when the caller has just verified it.
    ``expect`` is the (name, version) the lock says the wheel is. The wheel is refused,
    before anything changes, when it is another project or version, would overwrite the
    environment's own files or another package's (``owners``, read from the environment
    when not given, and updated), or unpacks to far more than its size. ``build_inputs``
    (for a wheel satlock built) is recorded in the .dist-info as ``BUILD_INPUTS_FILE``.
    """
    wheel = Path(wheel)
    try:
        dist_name = parse_wheel_filename(wheel.name)[0]
    except InvalidWheelFilename as e:
        raise InstallError(f"cannot install {wheel}: {e}") from None
    extra: dict[str, bytes] = {"INSTALLER": f"{INSTALLER_NAME}\n".encode()}
    if direct_url is not None:
        extra["direct_url.json"] = json.dumps(dict(direct_url), sort_keys=True).encode()
    if requested:
        extra["REQUESTED"] = b""
    if build_inputs is not None:
        extra[BUILD_INPUTS_FILE] = json.dumps(dict(build_inputs), sort_keys=True, indent=1).encode()
    plan = read_wheel(wheel, venv)
    if expect is not None:
        check_identity(plan, expect[0], expect[1], "pylock.toml")
    if owners is None:
        owners = file_owners(d for d in installed_distributions(venv).values() if d.name != plan.name)
    check_conflicts(plan, venv, owners)
    with _os_errors(f"installing {wheel.name} into {venv.root}"):
        _install_staged(wheel, dist_name, venv, extra, cache, plan, sha256)
    claim(owners, plan)


def _install_staged(wheel: Path, dist_name: NormalizedName, venv: Venv, extra: dict[str, bytes],
                    cache: Cache | None, plan: WheelPlan, sha256: str | None) -> None:
    """Stage the wheel, and only once it staged cleanly replace the installed version with it."""
    stage = Path(tempfile.mkdtemp(dir=venv.root, prefix=_STAGE_PREFIX))
    try:
        files = _unpacked(wheel, cache, stage, sha256)
        try:
            source, problems = _stage(wheel, files, venv, stage / "root", extra, plan)
        except InstallError as e:
            if cache is None:
                raise
            problems = [e.message]
        if problems and cache is not None:
            # The unpacked copy in the cache was damaged or tampered with: unzip the verified wheel again.
            cache.discard(UNPACKED_BUCKET, files.name)
            shutil.rmtree(stage / "root", ignore_errors=True)
            files = _unpacked(wheel, cache, stage, sha256)
            source, problems = _stage(wheel, files, venv, stage / "root", extra, plan)
        if problems:
            raise InstallError(f"the files installed from {wheel.name} do not match its RECORD: {'; '.join(problems[:3])}",
                               hint="delete satlock's cache folder and run again")
        if _find_dist(venv, dist_name) is not None:
            uninstall(venv, dist_name)
        _move_into_place(stage / "root", venv, _dist_info_targets(venv, source))
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _read_metadata_headers(info: Path) -> tuple[str, str] | None:
    try:
        text = (info / "METADATA").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    msg = email.parser.HeaderParser().parsestr(text)
    name, version = msg.get("Name"), msg.get("Version")
    if not name or not version:
        return None
    return str(name), str(version)


def _read_direct_url(info: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((info / "direct_url.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        # Unreadable: an unknown direct source, which never matches a lock entry.
        return {}
    return data if isinstance(data, dict) else {}


def _site_dirs(venv: Venv) -> list[Path]:
    return list(dict.fromkeys([venv.purelib, venv.platlib]))


def installed_distributions(venv: Venv) -> dict[NormalizedName, InstalledDist]:
    """Every distribution with a readable ``.dist-info`` in the environment's site folders."""
    found: dict[NormalizedName, InstalledDist] = {}
    for site in _site_dirs(venv):
        if not site.is_dir():
            continue
        for info in sorted(site.iterdir()):
            if not info.name.endswith(".dist-info") or not info.is_dir():
                continue
            dist = _read_dist(info)
            if dist is not None:
                found[dist.name] = dist
    return found


def _read_dist(info: Path) -> InstalledDist | None:
    meta = _read_metadata_headers(info)
    if meta is None:
        return None
    try:
        installer_name = (info / "INSTALLER").read_text(encoding="utf-8").strip() or None
    except OSError:
        installer_name = None
    return InstalledDist(name=canonicalize_name(meta[0]), version=meta[1], path=info, installer=installer_name,
                         direct_url=_read_direct_url(info), requested=(info / "REQUESTED").exists(),
                         build_identity=_read_build_identity(info))


def _read_build_identity(info: Path) -> str | None:
    try:
        data = json.loads((info / BUILD_INPUTS_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return ""  # unreadable: matches no lock, so the package is built again
    value = data.get("identity") if isinstance(data, dict) else None
    return value if isinstance(value, str) else ""


def _find_dist(venv: Venv, name: str) -> InstalledDist | None:
    """The installed distribution ``name``, reading only the ``.dist-info`` folders named like it."""
    wanted = canonicalize_name(name)
    for site in _site_dirs(venv):
        if not site.is_dir():
            continue
        for info in site.iterdir():
            if info.name.endswith(".dist-info") and canonicalize_name(info.name[:-10].rsplit("-", 1)[0]) == wanted:
                dist = _read_dist(info)
                if dist is not None and dist.name == wanted:
                    return dist
    return None


def _record_rows(info: Path) -> list[list[str]]:
    with open(info / "RECORD", newline="", encoding="utf-8") as f:
        return [row for row in csv.reader(f) if row]


def _inside(path: str, root: str) -> bool:
    return os.path.commonpath([path, root]) == root


def _record_hash(path: str, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return base64.urlsafe_b64encode(h.digest()).rstrip(b"=").decode()


def _protected_dirs(venv: Venv) -> set[str]:
    folders = (venv.root, venv.root / "include", venv.purelib, venv.platlib, venv.scripts, venv.data)
    return {os.path.abspath(p) for p in folders}


def _remove_files(venv: Venv, site: Path, rows: list[list[str]], skip: set[str]) -> None:
    """Delete the files RECORD rows name (inside the venv only), their bytecode and emptied folders."""
    root = os.path.abspath(venv.root)
    parents: set[str] = set()
    for row in rows:
        path = os.path.abspath(os.path.join(site, row[0]))
        if not _inside(path, root) or path in skip:
            continue
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except IsADirectoryError:
            continue
        parent, filename = os.path.split(path)
        parents.add(parent)
        if filename.endswith(".py"):
            cache_dir = os.path.join(parent, "__pycache__")
            stem = filename[:-3] + "."
            if os.path.isdir(cache_dir):
                for pyc in os.listdir(cache_dir):
                    if pyc.startswith(stem) and pyc.endswith(".pyc"):
                        os.unlink(os.path.join(cache_dir, pyc))
    protected = _protected_dirs(venv)
    for parent in sorted(parents, key=lambda p: p.count(os.sep), reverse=True):
        current = parent
        while _inside(current, root) and current not in protected:
            try:
                cache_dir = os.path.join(current, "__pycache__")
                if os.path.isdir(cache_dir) and not os.listdir(cache_dir):
                    os.rmdir(cache_dir)
                os.rmdir(current)
            except OSError:
                break
            current = os.path.dirname(current)


def uninstall(venv: Venv, name: str) -> None:
    """Remove the distribution ``name``; it is absent from the moment this starts deleting."""
    dist = _find_dist(venv, name)
    if dist is None:
        return
    with _os_errors(f"uninstalling {dist.name} from {venv.root}"):
        trash = Path(tempfile.mkdtemp(dir=venv.root, prefix=_TRASH_PREFIX))
        (trash / _TRASH_ORIGIN).write_text(str(dist.path.parent), encoding="utf-8")
        os.rename(dist.path, trash / dist.path.name)
        _empty_trash(venv, trash)


def _empty_trash(venv: Venv, trash: Path, *, recovering: bool = False) -> None:
    moved = [p for p in trash.iterdir() if p.name.endswith(".dist-info")]
    if moved and (trash / _TRASH_ORIGIN).exists():
        site = Path((trash / _TRASH_ORIGIN).read_text(encoding="utf-8"))
        original = os.path.abspath(site / moved[0].name)
        try:
            rows = _record_rows(moved[0])
        except OSError:
            rows = []
        rows = [r for r in rows if not _inside(os.path.abspath(os.path.join(site, r[0])), original)]
        _remove_files(venv, site, rows, skip=_files_owned(venv) if recovering else set())
    shutil.rmtree(trash, ignore_errors=True)


def _files_owned(venv: Venv) -> set[str]:
    """Files some installed distribution's RECORD lists: never deleted on behalf of another."""
    owned: set[str] = set()
    for dist in installed_distributions(venv).values():
        try:
            rows = _record_rows(dist.path)
        except OSError:
            continue
        owned.update(os.path.abspath(os.path.join(dist.path.parent, r[0])) for r in rows)
    return owned


def recover_interrupted(venv: Venv) -> None:
    """Finish the uninstalls and drop the staging folders that a killed satlock left in ``venv``."""
    for leftover in sorted(venv.root.iterdir()):
        if leftover.name.startswith(_STAGE_PREFIX):
            shutil.rmtree(leftover, ignore_errors=True)
        elif leftover.name.startswith(_TRASH_PREFIX) and leftover.is_dir():
            _empty_trash(venv, leftover, recovering=True)


def verify_records(venv: Venv) -> list[str]:
    """Problems with installed files: RECORD entries missing on disk or with another hash."""
    problems: list[str] = []
    for dist in installed_distributions(venv).values():
        try:
            rows = _record_rows(dist.path)
        except OSError:
            problems.append(f"{dist.name} {dist.version}: {dist.path} has no readable RECORD")
            continue
        for row in rows:
            path = os.path.abspath(os.path.join(dist.path.parent, row[0]))
            if not os.path.exists(path):
                problems.append(f"{dist.name} {dist.version}: {row[0]} is missing")
                continue
            if len(row) > 1 and row[1]:
                algorithm, _, expected = row[1].partition("=")
                if algorithm not in hashlib.algorithms_available:
                    problems.append(f"{dist.name} {dist.version}: {row[0]} has an unknown hash {algorithm!r} in RECORD")
                elif _record_hash(path, algorithm) != expected:
                    problems.append(f"{dist.name} {dist.version}: {row[0]} does not match its RECORD hash")
    return problems


