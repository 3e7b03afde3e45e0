"""Installing a wheel into a virtual environment, whole or not at all.

Every install is made so that a package is either fully installed or absent, even if
satlock is killed half-way: a wheel is first written into a staging folder inside the
environment (same filesystem), its files are renamed into place, and its ``.dist-info``
folder is renamed in *last*. A ``.dist-info`` whose RECORD lists missing files therefore
never exists, and ``uninstall.recover_interrupted`` clears what a killed run left behind.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import tempfile
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import installer
from installer.destinations import SchemeDictionaryDestination
from installer.exceptions import InstallerError
from installer.records import Hash, RecordEntry, parse_record_file
from installer.sources import WheelSource
from installer.utils import Scheme, get_launcher_kind, make_file_executable
from packaging.utils import InvalidWheelFilename, NormalizedName, canonicalize_name, parse_wheel_filename
from packaging.version import Version

from satlock.buildenv.buildinputs import BUILD_INPUTS_FILE
from satlock.buildenv.installed import find_dist, installed_distributions, record_hash, site_dirs
from satlock.buildenv.uninstall import STAGE_PREFIX, uninstall
from satlock.buildenv.unpacked import discard, unpacked
from satlock.buildenv.venv import Venv, inside, os_errors
from satlock.buildenv.wheelcheck import FileOwners, WheelPlan, check_conflicts, check_identity, claim, file_owners, read_wheel, scheme_dict
from satlock.cache import Cache
from satlock.errors import InstallError

INSTALLER_NAME = "satlock"


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
            got = record_hash(str(self._path_with_destdir(scheme, key[1])), algorithm)
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
            elif not inside(os.path.abspath(target), root):
                raise InstallError(f"refusing to write {target}: it is outside the environment {venv.root}")
            else:
                moves.append((here / d, target))
        dirs[:] = descend
        for filename in files:
            staged = here / filename
            target = anchor / staged.relative_to(stage)
            if not inside(os.path.abspath(target), root):
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
    return [site / source.dist_info_dir for site in site_dirs(venv)]


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
    with os_errors(f"installing {wheel.name} into {venv.root}"):
        _install_staged(wheel, dist_name, venv, extra, cache, plan, sha256)
    claim(owners, plan)


def _install_staged(wheel: Path, dist_name: NormalizedName, venv: Venv, extra: dict[str, bytes],
                    cache: Cache | None, plan: WheelPlan, sha256: str | None) -> None:
    """Stage the wheel, and only once it staged cleanly replace the installed version with it."""
    stage = Path(tempfile.mkdtemp(dir=venv.root, prefix=STAGE_PREFIX))
    try:
        files = unpacked(wheel, cache, stage, sha256)
        try:
            source, problems = _stage(wheel, files, venv, stage / "root", extra, plan)
        except InstallError as e:
            if cache is None:
                raise
            problems = [e.message]
        if problems and cache is not None:
            # The unpacked copy in the cache was damaged or tampered with: unzip the verified wheel again.
            discard(cache, files)
            shutil.rmtree(stage / "root", ignore_errors=True)
            files = unpacked(wheel, cache, stage, sha256)
            source, problems = _stage(wheel, files, venv, stage / "root", extra, plan)
        if problems:
            raise InstallError(f"the files installed from {wheel.name} do not match its RECORD: {'; '.join(problems[:3])}",
                               hint="delete satlock's cache folder and run again")
        if find_dist(venv, dist_name) is not None:
            uninstall(venv, dist_name)
        _move_into_place(stage / "root", venv, _dist_info_targets(venv, source))
    finally:
        shutil.rmtree(stage, ignore_errors=True)


