"""Laying out a wheel's files, as they will be installed, in a staging folder.

The files come from the wheel unzipped in the cache (``unpacked.py``), which is
untrusted: only the members the verified wheel lists are taken, each is hard-linked (one
cheap call per file, as uv does; copied where the file system refuses links) and then
hashed where it landed and held to the hash in the wheel's own RECORD, so a file changed,
removed or replaced by a link in the cache is never installed. A script under
``.data/scripts`` is checked before its ``#!python`` line is rewritten for the
environment's interpreter. Entry-point scripts, the installer's own ``.dist-info`` files
and RECORD are written here, with what ``installer`` generates for them.
"""

from __future__ import annotations

import binascii
import csv
import hashlib
import io
import os
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path

from installer.scripts import Script
from installer.utils import fix_shebang, get_launcher_kind

from satlock.buildenv.wheelcheck import WheelPlan

# Opening a file of the cache: never through a link, and never waiting on a FIFO planted there.
_NO_FOLLOW = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
_BLOCK = 4 << 20
# Signatures of RECORD, which the wheel spec keeps out of RECORD itself.
_SIGNATURES = ("RECORD.jws", "RECORD.p7s")
_AVAILABLE = frozenset(hashlib.algorithms_available)
_SHA256 = frozenset({"sha256"})


@dataclass
class Staged:
    """A wheel laid out under a staging folder: each staged folder and the real folder it
    goes to, and every way the cache's copy differed from the wheel (empty when it did not)."""

    folders: dict[Path, Path] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


# One row of RECORD as written: (path within its scheme, "sha256=..." or "", size or "").
_Row = tuple[str, str, str]
_URLSAFE = bytes.maketrans(b"+/", b"-_")


def _b64(digest: bytes) -> str:
    """RECORD's spelling of a digest: urlsafe base64 without padding (what ``base64`` does,
    without its two extra calls, for each of thousands of files)."""
    return binascii.b2a_base64(digest, newline=False).translate(_URLSAFE).rstrip(b"=").decode("ascii")


def _digests(fd: int, size_hint: int, algorithms: set[str]) -> tuple[dict[str, bytes], int]:
    """The digests of what ``fd`` reads to its end, and its size. Most files of a wheel are
    small: one read of ``size_hint`` + 1 bytes (the size ``fstat`` gave) finds the end with
    no second call, and the buffer is exactly sized (``hashlib.file_digest`` would zero a
    256 KiB one for each file)."""
    want = size_hint + 1 if size_hint < _BLOCK else _BLOCK
    block = os.read(fd, want)
    # Exactly fstat's size when asked for one more byte: the end. A read that came back
    # short of it (a file system that returns less than asked) goes on reading instead.
    if len(block) == size_hint < want and len(algorithms) == 1 and "sha256" in algorithms:
        return {"sha256": hashlib.sha256(block).digest()}, size_hint
    hashes = {name: hashlib.new(name) for name in algorithms}
    size = 0
    while block:
        size += len(block)
        for h in hashes.values():
            h.update(block)
        block = os.read(fd, _BLOCK)
    return {name: h.digest() for name, h in hashes.items()}, size


class _Stager:
    def __init__(self, plan: WheelPlan, schemes: dict[str, str], stage: Path) -> None:
        self.plan = plan
        self.schemes = schemes
        self.staged = Staged()
        self.made: set[str] = {str(stage)}
        self.records: list[tuple[str, _Row]] = []
        # The record of each file linked (or copied) from the cache, by where it landed.
        self.linked: dict[str, tuple[str, _Row]] = {}
        by_target: dict[str, Path] = {}
        self.where: dict[str, str] = {}
        for scheme, folder in schemes.items():
            target = os.path.abspath(folder)
            if target not in by_target:
                by_target[target] = stage / str(len(by_target))
                self.staged.folders[by_target[target]] = Path(target)
            self.where[scheme] = str(by_target[target])

    def _folder(self, folder: str) -> None:
        """Make ``folder`` and the missing ones above it, one ``mkdir`` each (no ``stat`` first)."""
        if folder not in self.made:
            self._folder(os.path.dirname(folder))
            os.mkdir(folder)
            self.made.add(folder)

    def _path(self, scheme: str, path: str) -> str:
        # ``path`` is a checked member name with "/" separators and no "..", but may be spelt
        # "a//b", "./a/b" or start with "/" (".data/purelib//a"): its folder is normalised
        # once, as read_wheel maps it, so ``mkdir`` never meets "a/" or "a/." already made.
        target = f"{self.where[scheme]}/{path}"
        folder = target.rpartition("/")[0]
        if folder not in self.made:
            self._folder(os.path.normpath(folder))
            self.made.add(folder)
        return target

    def _write(self, scheme: str, path: str, data: bytes, executable: bool) -> None:
        target = self._path(scheme, path)
        with open(target, "wb") as f:
            f.write(data)
        if executable:
            os.chmod(target, 0o755)
        self.records.append((scheme, (path, f"sha256={_b64(hashlib.sha256(data).digest())}", str(len(data)))))

    def _promised(self, path: str, recorded: str) -> tuple[str, str] | None:
        algorithm, _, value = recorded.partition("=")
        if not value or algorithm not in _AVAILABLE:
            self.staged.problems.append(f"{path} has no usable hash in the wheel's RECORD")
            return None
        return algorithm, value

    def script(self, path: str, source: str, recorded: str, interpreter: str) -> None:
        """A ``.data/scripts`` file: checked as it is in the wheel, then its shebang rewritten."""
        promised = self._promised(path, recorded)
        if promised is None:
            return
        fd = os.open(source, _NO_FOLLOW)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            self.staged.problems.append(f"{path} is not a file in the cache")
            return
        with open(fd, "rb", buffering=0) as f:
            data = f.readall()
        if _b64(hashlib.new(promised[0], data).digest()) != promised[1]:
            self.staged.problems.append(f"{path} differs from the wheel")
            return
        with fix_shebang(io.BytesIO(data), interpreter) as stream:
            self._write("scripts", path, stream.read(), ("scripts", path) in self.plan.executable)

    def link(self, scheme: str, path: str, source: str, recorded: str) -> None:
        """A file linked from the cache, then hashed where it landed and held to the wheel's RECORD."""
        promised = self._promised(path, recorded)
        if promised is None:
            return
        want = 0o755 if (scheme, path) in self.plan.executable else 0o644
        target = self._path(scheme, path)
        if target in self.linked:
            # The same file twice (at the wheel's root and under .data/ for the same folder):
            # the later one wins, as with installer; the earlier link is dropped, never
            # written through (it is the cache's file).
            os.unlink(target)
            self.records.remove(self.linked.pop(target))
        try:
            os.link(source, target, follow_symlinks=False)
        except FileNotFoundError:
            self.staged.problems.append(f"{path} is missing")
            return
        except OSError:
            # No hard links here (another file system, or a folder planted in the cache): a
            # copy, of a regular file only.
            fd = os.open(source, _NO_FOLLOW)
            mode = os.fstat(fd).st_mode
            if not stat.S_ISREG(mode):
                os.close(fd)
                self.staged.problems.append(f"{path} is not a file in the cache")
                return
            with open(fd, "rb") as src:
                with open(target, "xb") as out:
                    shutil.copyfileobj(src, out)
                os.chmod(target, want)
        try:
            fd = os.open(target, _NO_FOLLOW)
        except OSError:
            self.staged.problems.append(f"{path} is a link in the cache, not a file")
            return
        try:
            info = os.fstat(fd)
            mode = info.st_mode
            if not stat.S_ISREG(mode):
                self.staged.problems.append(f"{path} is not a file in the cache")
                return
            if stat.S_IMODE(mode) != want:
                # chmod'ed in the cache (or through an environment sharing the file by a hard
                # link): setuid, writable by others, or an exec bit flipped must not spread to
                # the next environment; the mode is the verified wheel's.
                self.staged.problems.append(f"{path} has the permissions {stat.S_IMODE(mode):o} in the cache, not {want:o}")
                return
            digests, size = _digests(fd, info.st_size, _SHA256 if promised[0] == "sha256" else {"sha256", promised[0]})
        finally:
            os.close(fd)
        sha256 = _b64(digests["sha256"])
        if (sha256 if promised[0] == "sha256" else _b64(digests[promised[0]])) != promised[1]:
            self.staged.problems.append(f"{path} differs from the wheel")
        row = self.linked[target] = (scheme, (path, f"sha256={sha256}", str(size)))
        self.records.append(row)

    def entry_point(self, name: str, module: str, attr: str, section: str, interpreter: str) -> None:
        script_name, data = Script(name, module, attr, section).generate(interpreter, get_launcher_kind())  # type: ignore[arg-type]
        self._write("scripts", script_name, data, True)

    def record(self, root_scheme: str) -> None:
        """RECORD, last: every file written, under the root scheme's ``.dist-info``."""
        path = f"{self.plan.dist_info}/RECORD"
        self.records.append((root_scheme, (path, "", "")))
        root = self.schemes[root_scheme]
        prefix = {scheme: "" if scheme == root_scheme else os.path.relpath(folder, start=root).replace(os.sep, "/") + "/"
                  for scheme, folder in self.schemes.items()}
        # As installer writes it: rows sorted by their path within the scheme, each path
        # prefixed with its scheme's folder relative to the root scheme's, "\n" line ends.
        text = io.StringIO(newline="")
        writer = csv.writer(text, delimiter=",", quotechar='"', lineterminator="\n")
        writer.writerows((prefix[scheme] + row[0], row[1], row[2])
                         for scheme, row in sorted(self.records, key=lambda record: record[1][0]))
        with open(self._path(root_scheme, path), "wb") as f:
            f.write(text.getvalue().encode("utf-8"))


def stage_wheel(plan: WheelPlan, files: Path, schemes: dict[str, str], stage: Path, extra: dict[str, bytes],
                interpreter: str) -> Staged:
    """Write ``plan``'s wheel, as installed with ``schemes``, into new folders of the existing
    folder ``stage`` from the unzipped copy ``files``; ``extra`` are the installer's own files
    for its ``.dist-info``."""
    stager = _Stager(plan, schemes, stage)
    for name, module, attr, section in plan.entry_points:
        stager.entry_point(name, module, attr, section, interpreter)
    generated = {(plan.root_scheme, f"{plan.dist_info}/{name}") for name in extra}
    # RECORD's signatures are never listed in RECORD (so have no hash to hold them to) and
    # sign the wheel's RECORD, not the one written here: they are not installed.
    generated |= {(plan.root_scheme, f"{plan.dist_info}/{name}") for name in _SIGNATURES}
    root = str(files)
    for key, recorded in plan.files.items():
        if key in generated:
            continue
        scheme, path = key
        source = f"{root}/{plan.members[key]}"
        try:
            if scheme == "scripts":
                stager.script(path, source, recorded, interpreter)
            else:
                stager.link(scheme, path, source, recorded)
        except OSError as e:
            if e.filename != source:
                raise
            # Unreadable in the cache (gone, a link, a folder): the cache's copy is damaged.
            stager.staged.problems.append(f"{path} cannot be read from the cache: {e.strerror}")
    for name, data in extra.items():
        stager._write(plan.root_scheme, f"{plan.dist_info}/{name}", data, False)
    stager.record(plan.root_scheme)
    return stager.staged
