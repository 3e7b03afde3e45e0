"""Reading a wheel's METADATA through range requests finds the member the whole-file
reader finds, in wheels with thousands of members, duplicate and nested METADATA names
and zip64 extra fields; a cut central directory is still one "not a valid wheel" error."""

from __future__ import annotations

import base64
import hashlib
import io
import struct
import zipfile
import zlib

import pytest

from satlock.errors import MetadataError
from satlock.http import Response
from satlock.resolver.candidates import DistFile
from satlock.resolver.wheelmetadata import fetch_metadata

META = b"Metadata-Version: 2.1\nName: pkg\nVersion: 1.0\n"


class _RangeServer:
    """An HttpClient stand-in that answers range requests from bytes in memory."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.served: list[tuple[int, int]] = []  # (first byte, last byte) of each answer

    def get(self, url: str, headers: dict | None = None, **_: object) -> Response:
        spec = (headers or {})["Range"].removeprefix("bytes=")
        total = len(self.data)
        if spec.startswith("-"):
            start, end = max(0, total - int(spec[1:])), total - 1
        else:
            a, b = spec.split("-")
            start, end = int(a), min(int(b), total - 1)
        self.served.append((start, end))
        return Response(url, 206, {"content-range": f"bytes {start}-{end}/{total}"}, self.data[start: end + 1])


def _wheel(members: list[tuple[str, bytes]], force_zip64: bool = False) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            with zf.open(zipfile.ZipInfo(name), "w", force_zip64=force_zip64) as out:
                out.write(data)
    return buf.getvalue()


def _read(data: bytes, server: _RangeServer | None = None) -> bytes:
    file = DistFile("pkg-1.0-py3-none-any.whl", "https://files.example/pkg-1.0-py3-none-any.whl")
    return fetch_metadata(server or _RangeServer(data), file,  # type: ignore[arg-type]
                          lambda f: pytest.fail("no whole download expected"))


@pytest.mark.parametrize("force_zip64", [False, True])
def test_the_metadata_member_among_thousands_is_found_by_range_reads(force_zip64):
    members = [(f"pkg/mod{i}.py", b"x = 1\n" * 3) for i in range(3000)]
    members += [("sub/other-2.0.dist-info/METADATA", b"Name: other\nVersion: 2.0\n"),
                ("pkg-1.0.dist-info/METADATA", META), ("pkg-1.0.dist-info/RECORD", b"")]
    data = _wheel(members, force_zip64)
    assert _read(data) == META == zipfile.ZipFile(io.BytesIO(data)).read("pkg-1.0.dist-info/METADATA")


def _deflated_wheel(members: list[tuple[str, bytes]]) -> bytes:
    """A wheel as build backends write one: every member deflated, RECORD last."""
    names = [n for n, _ in members]
    record = "".join(f"{n},sha256={base64.urlsafe_b64encode(hashlib.sha256(n.encode()).digest()).decode()[:43]},6\n"
                     for n in names)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in [*members, ("pkg-1.0.dist-info/RECORD", record.encode())]:
            zf.writestr(name, data)
    return buf.getvalue()


def test_a_directory_beyond_the_first_read_costs_one_more_request_and_no_byte_twice():
    # botocore-like: thousands of members, so the directory does not fit the tail read first;
    # the METADATA member, just before RECORD, comes in the same request as the directory.
    members = [(f"pkg/data/service{i}/2016-11-01/service-2.json", b"{}") for i in range(4000)]
    data = _deflated_wheel([*members, ("pkg-1.0.dist-info/METADATA", META + b"\n" + b"long text " * 3000)])
    server = _RangeServer(data)
    assert _read(data, server) == zipfile.ZipFile(io.BytesIO(data)).read("pkg-1.0.dist-info/METADATA")
    assert len(server.served) == 2
    (tail_start, _), (start, end) = server.served
    assert end < tail_start, "bytes of the tail were asked for again"


def test_a_metadata_member_far_from_the_directory_is_still_read():
    # .dist-info first: the stretch read with the directory misses it, one more request finds it.
    data = _deflated_wheel([("pkg-1.0.dist-info/METADATA", META), *((f"pkg/mod{i}.py", b"x = 1\n") for i in range(4000))])
    server = _RangeServer(data)
    assert _read(data, server) == META
    assert len(server.served) == 3


def test_of_two_dist_info_folders_the_one_named_for_the_wheel_is_read():
    data = _wheel([("aaa-1.0.dist-info/METADATA", b"Name: aaa\nVersion: 1.0\n"), ("pkg-1.0.dist-info/METADATA", META)])
    assert _read(data) == META


def test_a_central_directory_cut_short_is_one_not_a_valid_wheel_error():
    data = _wheel([(f"pkg/mod{i}.py", b"") for i in range(50)] + [("pkg-1.0.dist-info/METADATA", META)])
    eocd = data.rfind(b"PK\x05\x06")
    cd_size = int.from_bytes(data[eocd + 12: eocd + 16], "little")
    cut = (cd_size - 30).to_bytes(4, "little")  # the last entry loses its tail
    broken = data[: eocd + 12] + cut + data[eocd + 16:]
    with pytest.raises(MetadataError, match="is not a valid wheel"):
        _read(broken)


# Hostile zips, assembled by hand: stored members, each part's fields chosen by the test.
EVIL = b"Metadata-Version: 2.1\nName: pkg\nVersion: 1.0\nRequires-Dist: evil\n"
NAME = b"pkg-1.0.dist-info/METADATA"


def _local(name: bytes, data: bytes, *, crc: int | None = None, flags: int = 0) -> bytes:
    crc = zlib.crc32(data) if crc is None else crc
    return struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, flags, 0, 0, 0, crc, len(data), len(data), len(name), 0) + name + data


def _central(name: bytes, data: bytes, offset: int, *, flags: int = 0) -> bytes:
    return struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, flags, 0, 0, 0, zlib.crc32(data), len(data), len(data),
                       len(name), 0, 0, 0, 0, 0, offset) + name


def _eocd(count: int, cd_size: int, cd_offset: int) -> bytes:
    return struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, cd_size, cd_offset, 0)


def _zip64_end(count: int, cd_size: int, cd_offset: int) -> bytes:
    return struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, cd_size, cd_offset)


def _zip64_locator(record_at: int) -> bytes:
    return struct.pack("<4sLQL", b"PK\x06\x07", 0, record_at, 1)


def _members(members: list[tuple[bytes, bytes]], start: int = 0) -> tuple[bytes, bytes]:
    """The local entries and the central directory of ``members``, the first entry at ``start``."""
    body, cd = b"", b""
    for name, data in members:
        cd += _central(name, data, start + len(body))
        body += _local(name, data)
    return body, cd


def _counted_short() -> bytes:
    """Two METADATA members of one name; the entry count says there is only the first."""
    body, cd = _members([(NAME, META), (b"pkg/x.py", b""), (NAME, EVIL)])
    return body + cd + _eocd(1, len(cd), len(body))


def _zip64_locator_elsewhere() -> bytes:
    """The zip64 record zipfile reads (just before the locator) lists one directory; the
    locator points to another record, planted earlier, listing another."""
    evil_body, evil_cd = _members([(NAME, EVIL)])
    planted = _zip64_end(1, len(evil_cd), len(evil_body))
    head = evil_body + evil_cd + planted
    body, cd = _members([(NAME, META)], start=len(head))
    where = len(head) + len(body)
    return (head + body + cd + _zip64_end(1, len(cd), where) + _zip64_locator(len(evil_body) + len(evil_cd))
            + _eocd(0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF))


def _directory_offset_elsewhere() -> bytes:
    """The end record's directory offset names one directory; the one just before it (which
    zipfile reads, moving every offset by the difference) is another."""
    evil_body, evil_cd = _members([(NAME, EVIL)])
    body, cd = _members([(NAME, META)], start=len(evil_body) + len(evil_cd))
    moved = len(evil_cd) + len(body)  # where zipfile finds the directory, less where the record says
    cd = _central(NAME, META, len(evil_body) + len(evil_cd) - moved)
    return evil_body + evil_cd + body + cd + _eocd(1, len(cd), len(evil_body))


def _bad_crc() -> bytes:
    body = _local(NAME, META, crc=0)
    cd = struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 0, 0, 0, 0, len(META), len(META), len(NAME), 0, 0, 0, 0, 0, 0) + NAME
    return body + cd + _eocd(1, len(cd), len(body))


def _names_differ() -> bytes:
    body, cd = _members([(NAME, META)])
    body = body.replace(NAME, b"pkg-1.0.dist-info/METADATX")
    return body + cd + _eocd(1, len(cd), len(body))


HOSTILE_ZIPS = {
    "an entry count short of the entries": _counted_short,
    "a zip64 locator pointing to a planted record": _zip64_locator_elsewhere,
    "a directory offset that is not where the directory is": _directory_offset_elsewhere,
    "a METADATA member whose CRC does not match": _bad_crc,
    "a local header naming another member": _names_differ,
}


def _whole_file(data: bytes, tmp_path) -> bytes | None:
    """What the whole-file reader (zipfile) gives, ``None`` for an error."""
    from satlock.resolver.wheelmetadata import _metadata_from_zip

    path = tmp_path / "pkg-1.0-py3-none-any.whl"
    path.write_bytes(data)
    try:
        return _metadata_from_zip(path, DistFile(path.name, path.as_uri()))
    except MetadataError:
        return None


@pytest.mark.parametrize("make", HOSTILE_ZIPS.values(), ids=HOSTILE_ZIPS.keys())
def test_range_reads_of_a_hostile_zip_give_what_zipfile_gives_or_one_error(make, tmp_path):
    data = make()
    try:
        got = _read(data)
    except MetadataError as e:
        assert "is not a valid wheel" in e.message
        return
    assert got == _whole_file(data, tmp_path)


def test_a_member_name_flagged_utf8_that_is_not_is_one_error_from_the_whole_file_reader(tmp_path):
    body, cd = _members([(NAME, META)])
    odd = _local(b"pkg/\xff.py", b"", flags=0x800)
    cd = _central(b"pkg/\xff.py", b"", 0, flags=0x800) + _central(NAME, META, len(odd))
    data = odd + _local(NAME, META) + cd + _eocd(2, len(cd), len(odd) + len(body))
    assert _whole_file(data, tmp_path) is None


def test_a_central_directory_claimed_larger_than_any_wheel_has_is_refused_unasked():
    """The end record says where the directory is and how big: a hostile server, free to
    claim a file of any size, would have the whole of it read into memory in one range."""
    claimed = 3 << 30
    tail = _eocd(1, claimed - 22, 0)
    asked: list[int] = []

    class Huge:
        def get(self, url: str, headers: dict | None = None, **_: object) -> Response:
            first, last = (headers or {})["Range"].removeprefix("bytes=").split("-")
            start, end = (claimed - int(last), claimed - 1) if not first else (int(first), int(last))
            asked.append(end - start + 1)
            # Zeros, then the end record; a range too large to make in memory is answered short.
            at = claimed - len(tail)
            body = b"" if end - start >= 1 << 20 else (bytes(max(0, min(end + 1, at) - start))
                                                     + tail[max(0, start - at): max(0, end + 1 - at)])
            return Response(url, 206, {"content-range": f"bytes {start}-{end}/{claimed}"}, body)

    file = DistFile("pkg-1.0-py3-none-any.whl", "https://files.example/pkg-1.0-py3-none-any.whl")
    with pytest.raises(MetadataError, match="is not a valid wheel"):
        fetch_metadata(Huge(), file, lambda f: pytest.fail("no whole download expected"))  # type: ignore[arg-type]
    assert max(asked) <= 1 << 20, asked
