"""One file of a git commit, read from a repository of the cache with every object held to its id.

git does not hash the objects it reads from its own store (``cat-file``, ``checkout``): an
object edited in a mirror of the cache would be read as the one its id names. Here each
object on the way from the commit to the file (the commit, every tree, the blob) is
hashed as git names objects, ``<type> <size>\\0<content>``, and compared with the id that
led to it. So a lock reads a git source's ``pyproject.toml`` in milliseconds, without the
checkout a build needs (which git's transport verifies, but whose cost grows with the
repository's history).
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Mapping
from pathlib import Path

# Larger objects on the way to a pyproject.toml or setup.py are not read: a planted one
# must not fill memory, and no tree or build file of a real project comes near.
MAX_OBJECT_BYTES = 16 << 20
_TIMEOUT_S = 60.0
# The kinds of tree entries, by the type bits of their mode, as git reads them (it also
# takes the 100664 of old repositories as a regular file).
_TREE, _REGULAR, _LINK, _GITLINK = 0o040000, 0o100000, 0o120000, 0o160000


class UnverifiedObject(Exception):
    """An object is missing from the repository, too large, or not what its id names."""


class NeedsCheckout(Exception):
    """The path goes through a symbolic link or a submodule: only a checkout resolves it
    as a build will see it (a submodule's files are in another repository)."""


def read_file(repository: Path, commit: str, path: str, env: Mapping[str, str]) -> bytes | None:
    """The content of ``path`` (``sub/pyproject.toml``) in ``commit`` of ``repository``;
    ``None`` when the commit holds no file there (nothing, or a folder). ``env`` is the
    environment git runs with. Raises ``UnverifiedObject``, or ``NeedsCheckout`` for a
    path through a link or a submodule."""
    algorithm = "sha1" if len(commit) == 40 else "sha256"
    with subprocess.Popen(["git", "cat-file", "--batch"], cwd=repository, env=dict(env), stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as proc:
        try:
            return _walk(_Reader(proc, algorithm), commit, [p for p in path.split("/") if p not in ("", ".")])
        except BaseException:
            # git may be writing an object nobody will read (a planted one too large or of
            # the wrong type): waiting for it to end would wait for the timeout.
            proc.kill()
            raise
        finally:
            if proc.stdin is not None:
                proc.stdin.close()
            try:
                proc.wait(timeout=_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()


def _walk(objects: _Reader, commit: str, parts: list[str]) -> bytes | None:
    body = objects.get(commit, b"commit")
    if not body.startswith(b"tree ") or b"\n" not in body:
        raise UnverifiedObject(f"commit {commit} names no tree")
    oid = body[5:body.index(b"\n")].decode("ascii", "replace")
    for i, part in enumerate(parts):
        entry = _entry(objects.get(oid, b"tree"), part.encode("utf-8"), objects.raw_size)
        if entry is None:
            return None
        mode, oid = entry
        try:
            kind = int(mode, 8) & 0o170000
        except ValueError:
            raise UnverifiedObject(f"a tree entry's mode {mode!r:.40} is not a number") from None
        if kind in (_LINK, _GITLINK):
            raise NeedsCheckout(f"{'/'.join(parts[:i + 1])} is a {'link' if kind == _LINK else 'submodule'}")
        if kind != (_REGULAR if i == len(parts) - 1 else _TREE):
            return None
    return objects.get(oid, b"blob")


def _entry(tree: bytes, name: bytes, raw_size: int) -> tuple[bytes, str] | None:
    """The mode and id of ``name`` in a tree object: entries are ``<mode> <name>\\0<raw id>``.
    A tree naming it twice (git never writes one; fsck refuses it) is ``UnverifiedObject``:
    a checkout takes the last, so the build would read another file than the first."""
    at, found = 0, None
    while at < len(tree):
        space, nul = tree.find(b" ", at), tree.find(b"\0", at)
        if space < 0 or nul < space:
            raise UnverifiedObject("a tree object is malformed")
        end = nul + 1 + raw_size
        if end > len(tree):
            raise UnverifiedObject("a tree object is cut short")
        if tree[space + 1:nul] == name:
            if found is not None:
                raise UnverifiedObject(f"a tree object holds {name!r:.80} twice")
            found = tree[at:space], tree[nul + 1:end].hex()
        at = end
    return found


class _Reader:
    """Objects asked of one ``git cat-file --batch``, each hashed against its id."""

    def __init__(self, proc: subprocess.Popen[bytes], algorithm: str) -> None:
        assert proc.stdin is not None and proc.stdout is not None
        self.stdin, self.stdout = proc.stdin, proc.stdout
        self.algorithm = algorithm
        self.raw_size = hashlib.new(algorithm).digest_size

    def get(self, oid: str, kind: bytes) -> bytes:
        if len(oid) != 2 * self.raw_size or any(c not in "0123456789abcdef" for c in oid):
            raise UnverifiedObject(f"{oid!r:.80} is not an object id")
        try:
            self.stdin.write(f"{oid}\n".encode("ascii"))
            self.stdin.flush()
            header = self.stdout.readline(200).split()
        except (BrokenPipeError, ValueError) as e:
            raise UnverifiedObject(f"git cat-file stopped: {e}") from None
        if len(header) != 3 or header[0] != oid.encode("ascii") or header[1] != kind or not header[2].isdigit():
            raise UnverifiedObject(f"object {oid} is missing or is not a {kind.decode()}")
        size = int(header[2])
        if size > MAX_OBJECT_BYTES:
            raise UnverifiedObject(f"object {oid} is {size} bytes")
        data = self.stdout.read(size + 1)
        if len(data) != size + 1 or hashlib.new(self.algorithm, b"%s %d\0" % (kind, size) + data[:size]).hexdigest() != oid:
            raise UnverifiedObject(f"object {oid} is not what its id names")
        return data[:size]
