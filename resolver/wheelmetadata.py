"""The core metadata of a wheel, read with as little of the wheel as the index allows.

In order: the PEP 658 ``.metadata`` file; HTTP range requests that read the zip's
central directory and just the METADATA member (usually two: the file's tail, then the rest
of the directory with the stretch before it where METADATA lies); the whole wheel (which the
caller downloads into its file cache, since it will most likely be installed anyway).
Every path refuses a METADATA member that inflates past ``MAX_METADATA_BYTES``, and the
metadata must name the wheel it came from.
"""

from __future__ import annotations

import email.parser
import re
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Callable, Iterable
from urllib.parse import urlsplit

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from satlock.errors import ZIPFILE_REFUSALS, MetadataError, NetworkError, UnsafeArchiveError
from satlock.http import HttpClient, Response, redact, url_to_path
from satlock.numbers import overlong_number_line, overlong_number_reason
from satlock.resolver.candidates import DistFile
from satlock.resolver.metadatafile import header_block
from satlock.resolver.downloads import strip_fragment, verify

__all__ = ["MAX_METADATA_BYTES", "fetch_metadata", "valid_metadata", "check_metadata"]

# The end of the file read first: the end record and the longest comment after it, the
# window zipfile searches for the end record.
_TAIL = (1 << 16) + 22
# The most core metadata satlock reads for one wheel (uv caps it too): a METADATA member
# that inflates past this is refused rather than decompressed into memory.
MAX_METADATA_BYTES = 5 << 20


def fetch_metadata(http: HttpClient, file: DistFile, download: Callable[[DistFile], Path]) -> bytes:
    """The METADATA of the wheel ``file``, by the cheapest way that works; ``download`` fetches the whole wheel."""
    if urlsplit(file.url).scheme == "file":
        return _metadata_from_zip(url_to_path(file.url), file)
    if file.metadata is not None:
        resp = http.get(strip_fragment(file.url) + ".metadata", max_bytes=MAX_METADATA_BYTES)
        if resp.status == 200:
            verify(resp.body, file.metadata, f"{file.filename}.metadata", resp.url)
            return resp.body
    data = _metadata_by_range(http, file)
    if data is not None:
        return data
    return _metadata_from_zip(download(file), file)


def _metadata_by_range(http: HttpClient, file: DistFile) -> bytes | None:
    """METADATA through range requests, or ``None`` when the server does not do ranges."""
    url = strip_fragment(file.url)
    tail = http.get(url, {"Range": f"bytes=-{_TAIL}"}, partial=True, max_bytes=_TAIL)
    if tail.status != 206:
        return None
    total = _content_range_total(tail)
    if total is None:
        return None
    reader = _RangeReader(http, url, total, tail.body)
    try:
        entries = _central_directory(reader)
        member = _pick_metadata(entries, file)
        return reader.read_member(member, file)
    except (zipfile.BadZipFile, struct.error, zlib.error) as exc:
        raise MetadataError(f"{file.filename} from {redact(url)} is not a valid wheel: {exc}",
                            hint="the index serves a corrupt file; report it to the index") from None


class _RangeReader:
    """Random access to a remote file through range requests, starting from its cached tail."""

    def __init__(self, http: HttpClient, url: str, total: int, tail: bytes) -> None:
        self.http, self.url, self.total = http, url, total
        self.start, self.buf = total - len(tail), tail

    def read(self, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0 or offset + length > self.total:
            raise zipfile.BadZipFile(f"offset {offset}+{length} outside the file ({self.total} bytes)")
        if offset >= self.start:
            return self.buf[offset - self.start: offset - self.start + length]
        if offset + length >= self.start:
            # What the buffer already holds is not asked for again (a large central
            # directory ends in the tail read first).
            self.extend_to(offset)
            return self.buf[offset - self.start: offset - self.start + length]
        return self._get(offset, length)

    def extend_to(self, offset: int) -> None:
        """Read ``offset`` up to the buffer's start in one request and keep it."""
        if not 0 <= offset < self.start:
            return
        self.buf = self._get(offset, self.start - offset) + self.buf
        self.start = offset

    def _get(self, offset: int, length: int) -> bytes:
        # A server that sends more than was asked is refused, not read into memory.
        resp = self.http.get(self.url, {"Range": f"bytes={offset}-{offset + length - 1}"}, partial=True, max_bytes=length)
        if resp.status != 206 or len(resp.body) != length:
            raise zipfile.BadZipFile(f"server answered a range request with HTTP {resp.status}")
        return resp.body

    def read_member(self, member: _Member, file: DistFile) -> bytes:
        """The member's bytes, held to the checks zipfile makes when it reads one: its local
        header names it, it is not encrypted, and what it inflates to has its CRC."""
        if member.compressed_size > MAX_METADATA_BYTES:
            raise _metadata_too_large(file)
        if member.flags & 0x1:
            raise zipfile.BadZipFile(f"{member.name} is encrypted")
        # The local header's extra field may differ from the central directory's; read a
        # little more than needed in one request and fetch again only if that was short.
        guess = 30 + len(member.name) + 256 + member.compressed_size
        head = self.read(member.offset, min(guess, self.total - member.offset))
        if len(head) < 30 or head[:4] != b"PK\x03\x04":
            raise zipfile.BadZipFile("bad local file header")
        flags, = struct.unpack("<H", head[6:8])
        name_len, extra_len = struct.unpack("<HH", head[26:30])
        if _member_name(head[30: 30 + name_len], flags) != member.name:
            raise zipfile.BadZipFile(f"file name in directory {member.name!r} and header differ")
        start = 30 + name_len + extra_len
        data = head[start: start + member.compressed_size]
        if len(data) < member.compressed_size:
            data = self.read(member.offset + start, member.compressed_size)
        if member.method == zipfile.ZIP_STORED:
            content = data
        elif member.method == zipfile.ZIP_DEFLATED:
            content = zlib.decompressobj(-15).decompress(data, MAX_METADATA_BYTES + 1)
            if len(content) > MAX_METADATA_BYTES:
                raise _metadata_too_large(file)
        else:
            raise zipfile.BadZipFile(f"unsupported compression method {member.method} for {member.name}")
        if zlib.crc32(content) != member.crc:
            raise zipfile.BadZipFile(f"bad CRC-32 for {member.name}")
        return content


class _Member:
    def __init__(self, name: str, offset: int, compressed_size: int, method: int, crc: int, flags: int) -> None:
        self.name, self.offset, self.compressed_size, self.method, self.crc, self.flags = (
            name, offset, compressed_size, method, crc, flags)


def _central_directory(reader: _RangeReader) -> list[_Member]:
    """The members of the zip named ``*.dist-info/METADATA``, every entry checked on the way.

    The directory is found and walked as zipfile (which installs the wheel) finds and
    walks it, so the METADATA read here is the one zipfile reads: the end record at the
    very end, else the last one in the tail; a zip64 record just before its locator; the
    entries the directory's size holds, whatever their count says. Where zipfile would
    move every offset (data before the zip) this refuses instead.
    """
    size = min(reader.total, _TAIL)
    tail = reader.read(reader.total - size, size)
    if tail[-22:-18] == b"PK\x05\x06" and tail[-2:] == b"\0\0":
        eocd = len(tail) - 22  # no comment: the record is the last 22 bytes
    else:
        eocd = tail.rfind(b"PK\x05\x06")
    if eocd < 0 or eocd + 22 > len(tail):
        raise zipfile.BadZipFile("no end of central directory record")
    location = reader.total - len(tail) + eocd
    cd_size, cd_offset = struct.unpack("<LL", tail[eocd + 12: eocd + 20])
    if location >= 20:
        locator = reader.read(location - 20, 20)
        if locator[:4] == b"PK\x06\x07":
            disk, _record_at, disks = struct.unpack("<LQL", locator[4:])
            if disk != 0 or disks > 1:
                raise zipfile.BadZipFile("zipfiles that span multiple disks are not supported")
            record = reader.read(location - 76, 56) if location >= 76 else b""
            if record[:4] == b"PK\x06\x06":
                cd_size, cd_offset = struct.unpack("<QQ", record[40:56])
                location -= 76
    if cd_offset + cd_size != location:
        raise zipfile.BadZipFile("the central directory is not just before the end record")
    if cd_size > _MAX_CENTRAL_DIRECTORY:
        raise zipfile.BadZipFile(f"a central directory of {cd_size} bytes; refusing to read more than "
                                 f"{_MAX_CENTRAL_DIRECTORY >> 20} MiB of it into memory")
    if cd_offset < reader.start:
        # A wheel's .dist-info files come last, METADATA just before RECORD, whose
        # compressed size is about half the directory's: read that stretch in the same
        # request as the directory, so that the member costs no third one.
        reader.extend_to(max(0, cd_offset - min(cd_size // 2 + _MEMBER_SLACK, _MAX_LEAD)))
    cd = reader.read(cd_offset, cd_size)
    members, pos = [], 0
    while pos < cd_size:
        if pos + 46 > cd_size or cd[pos: pos + 4] != b"PK\x01\x02":
            raise zipfile.BadZipFile("bad central directory entry")
        flags, method, crc, csize, usize, name_len, extra_len, comment_len, offset = _CD_ENTRY.unpack_from(cd, pos)
        raw_name = cd[pos + 46: pos + 46 + name_len]
        if extra_len:
            extra = cd[pos + 46 + name_len: pos + 46 + name_len + extra_len]
            csize, offset = _zip64_fields(extra, usize, csize, offset)
        # Only a METADATA member can be picked, and a wheel has thousands of others: their
        # names are not decoded (either decoding keeps an ASCII ending, so none is missed).
        if raw_name.endswith(b".dist-info/METADATA"):
            members.append(_Member(_member_name(raw_name, flags), offset, csize, method, crc, flags))
        pos += 46 + name_len + extra_len + comment_len
    return members


def _member_name(raw: bytes, flags: int) -> str:
    """A member's name decoded as zipfile decodes it: UTF-8 when flagged so, else cp437."""
    try:
        return raw.decode("utf-8") if flags & 0x800 else raw.decode("cp437")
    except UnicodeDecodeError:
        raise zipfile.BadZipFile(f"member name {raw!r:.80} is flagged UTF-8 but is not") from None


# The largest central directory read by range requests: it is held in memory, and the file
# size it may be as large as is the server's to claim. Real wheels with tens of thousands of
# members have a few MiB.
_MAX_CENTRAL_DIRECTORY = 64 << 20
# Read before a central directory beyond the tail, besides about half its size (RECORD):
# room for METADATA and the other small .dist-info files; and the most read that way.
_MEMBER_SLACK = 32 << 10
_MAX_LEAD = 1 << 20
# A central directory entry's fixed part: flags, method, CRC, sizes, name/extra/comment lengths, header offset.
_CD_ENTRY = struct.Struct("<8xHH4xLLLHHH8xL")


def _zip64_fields(extra: bytes, usize: int, csize: int, offset: int) -> tuple[int, int]:
    """Compressed size and header offset, taken from the zip64 extra field where they overflow."""
    pos = 0
    while pos + 4 <= len(extra):
        tag, size = struct.unpack("<HH", extra[pos: pos + 4])
        if tag == 0x0001:
            values = list(struct.unpack(f"<{size // 8}Q", extra[pos + 4: pos + 4 + size - size % 8]))
            if usize == 0xFFFFFFFF and values:
                values.pop(0)
            if csize == 0xFFFFFFFF and values:
                csize = values.pop(0)
            if offset == 0xFFFFFFFF and values:
                offset = values.pop(0)
            break
        pos += 4 + size
    return csize, offset


def _metadata_names(names: Iterable[str]) -> list[str]:
    return [n for n in names if re.fullmatch(r"[^/]+\.dist-info/METADATA", n)]


def _pick_metadata(members: list[_Member], file: DistFile) -> _Member:
    by_name = {m.name: m for m in members}
    return by_name[_choose_metadata_name(list(by_name), file)]


def _choose_metadata_name(names: list[str], file: DistFile) -> str:
    candidates = _metadata_names(names)
    if len(candidates) > 1:
        parsed = file.parse()
        if parsed is not None:
            want = {n for n in candidates
                    if canonicalize_name(n.split("/")[0][: -len(".dist-info")].rsplit("-", 1)[0]) == parsed[0]}
            candidates = sorted(want) or candidates
    if not candidates:
        raise MetadataError(f"{file.filename} has no .dist-info/METADATA", hint="the wheel is broken; report it upstream")
    return candidates[0]


def _metadata_too_large(file: DistFile) -> UnsafeArchiveError:
    # Not a broken candidate to leave out but hostile input: it stops the lock.
    return UnsafeArchiveError(f"the METADATA of {file.filename} ({redact(file.url)}) is larger than "
                         f"{MAX_METADATA_BYTES >> 20} MiB; refusing to read it",
                         hint="the wheel is broken or hostile; report it to the index")


def _metadata_from_zip(path: Path, file: DistFile) -> bytes:
    try:
        with zipfile.ZipFile(path) as zf:
            with zf.open(_choose_metadata_name(zf.namelist(), file)) as member:
                # Read one byte past the cap, whatever size the zip claims: a lying
                # header cannot make this inflate more than that.
                data = member.read(MAX_METADATA_BYTES + 1)
            if len(data) > MAX_METADATA_BYTES:
                raise _metadata_too_large(file)
            return data
    except FileNotFoundError:
        raise NetworkError(f"{path} does not exist", hint="check the find-links folder or index path") from None
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, *ZIPFILE_REFUSALS) as exc:
        raise MetadataError(f"{file.filename} ({path}) is not a valid wheel: {exc}",
                            hint="remove the broken file, or report it to the index") from None


def _parse_headers(data: bytes) -> tuple[str, str] | None:
    if not data.strip():
        return None
    try:
        msg = email.parser.BytesHeaderParser().parsebytes(header_block(data))
    except (ValueError, TypeError):
        return None
    name, version = msg.get("Name"), msg.get("Version")
    return (str(name), str(version)) if name and version else None


def valid_metadata(data: bytes) -> bool:
    return _parse_headers(data) is not None


def check_metadata(data: bytes, file: DistFile) -> None:
    """The metadata must belong to the wheel it came from, or the lock would lie."""
    found = _parse_headers(data)
    if found is None:
        raise MetadataError(f"the metadata of {file.filename} ({redact(file.url)}) has no Name/Version",
                            hint="the index serves broken metadata; report it to the index")
    parsed = file.parse()
    if parsed is None:
        return
    if overlong_number_line(found[1]) is not None:
        raise MetadataError(f"the metadata of {file.filename} is invalid: its Version holds {overlong_number_reason()}",
                            hint="the index serves broken metadata; report it to the index")
    try:
        same = canonicalize_name(found[0]) == parsed[0] and Version(found[1]) == parsed[1]
    except InvalidVersion:
        same = False
    if not same:
        raise MetadataError(f"{file.filename} says it is {found[0]} {found[1]} in its metadata",
                            hint="the wheel is mislabelled; report it upstream")


def _content_range_total(resp: Response) -> int | None:
    m = re.fullmatch(r"bytes \d+-\d+/(\d+)", (resp.header("content-range") or "").strip())
    return int(m.group(1)) if m else None
