"""PEP 691 JSON pages in the shape nearly every index gives, checked in bulk.

``pages`` parses every page; this is its fast path for the common shape, and hands any
page it does not take back to ``pages``' careful per-file pass. The page is decoded by
msgspec straight into typed entries (a field of another type fails the decode, in C,
instead of a dozen ``isinstance`` calls per file in Python), and the checks that need
Python are done once over all of a page's digests and upload times joined.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urljoin

import msgspec

from satlock.errors import IndexFormatError
from satlock.http import Response
from satlock.resolver.candidates import (TOML_INT_LIMIT, DistFile, all_safe_names, all_sha256, all_timestamps,
                                         is_dist_filename)
from satlock.resolver.filetable import FileTable
from satlock.resolver.pages import _check_api_version, _metadata_hashes, _page_hashes

__all__ = ["common_json_files"]


class _File(msgspec.Struct, gc=False,
            rename={"requires_python": "requires-python", "upload_time": "upload-time",
                    "core_metadata": "core-metadata", "dist_info_metadata": "dist-info-metadata"}):
    """A PEP 691 file entry of the types ``_json_file`` accepts (``msgspec`` checks them in C).

    Not tracked by the cyclic collector (``gc=False``): its fields are text, numbers and
    dicts of text, which can hold no cycle, and a page decodes tens of thousands of them;
    tracked, they set off young-generation passes that walked them again and again.
    """

    filename: str
    url: str
    hashes: dict[str, str] | None = None
    requires_python: str | None = None
    yanked: bool | str = False
    size: Annotated[int, msgspec.Meta(ge=0, le=TOML_INT_LIMIT - 1)] | None = None
    upload_time: str | None = None
    core_metadata: bool | str | dict[str, str] | None | msgspec.UnsetType = msgspec.UNSET
    dist_info_metadata: bool | str | dict[str, str] | None | msgspec.UnsetType = msgspec.UNSET


class _Meta(msgspec.Struct, frozen=True, rename={"api_version": "api-version"}):
    api_version: str = "1.0"


class _JsonPage(msgspec.Struct):
    files: list[_File]
    meta: _Meta = _Meta()


_DECODE_PAGE = msgspec.json.Decoder(_JsonPage).decode


def common_json_files(resp: Response, index: str | None) -> FileTable | None:
    """The files of a page in the shape nearly every index gives, with the checks of
    ``_json_file`` done in bulk; ``None`` when the page holds anything else.

    The same checks, only cheaper: the JSON is decoded straight into typed entries (a
    field of another type fails the decode), the sha256 digests are checked by one scan
    over all of them joined, and so are the upload times; any field outside the common
    shape goes through the same per-field check ``_json_file`` uses. Any failure sends
    the caller to the careful per-file pass, so the error a bad page gives (the first bad
    field, in page order) stays the same. Every entry is checked here; only making each
    file's ``DistFile`` waits until it is asked for (``FileTable``).
    """
    body = resp.body
    if not body.isascii() and not _is_utf8(body):
        return None  # msgspec does not check the bytes of fields it skips; the careful pass refuses them
    try:
        page = _DECODE_PAGE(body)
    except (msgspec.DecodeError, RecursionError):
        return None
    _check_api_version(resp, page.meta.api_version)
    try:
        return _common_files(resp, page.files, index)
    except IndexFormatError:
        return None


def _common_files(resp: Response, entries: list[_File], index: str | None) -> FileTable | None:
    if not entries:
        return FileTable.of([])
    if not all_safe_names([entry.filename for entry in entries]):
        return None  # the careful pass names the file
    kept: list[_File] = []
    digests: list[str] = []
    uploads: list[str] = []
    # The normal form of the few hash tables outside the common shape, by place in ``kept``.
    odd_hashes: dict[int, dict[str, str]] = {}
    odd_metadata: dict[int, dict[str, str] | None] = {}
    unset = msgspec.UNSET
    for entry in entries:
        filename = entry.filename
        if not is_dist_filename(filename):
            continue  # eggs, installers: not read, as in the careful pass
        if not entry.url:
            return None
        hashes = entry.hashes
        if hashes is not None and len(hashes) == 1 and "sha256" in hashes:
            digests.append(hashes["sha256"])
        else:
            odd_hashes[len(kept)] = _page_hashes(resp, "hashes", hashes, filename)
        upload = entry.upload_time
        if upload is not None:
            uploads.append(upload)
        value = entry.core_metadata
        if value is unset:
            field, value = "dist-info-metadata", entry.dist_info_metadata
        else:
            field = "core-metadata"
        if value is unset or value is None or value is False:
            pass
        elif type(value) is dict and len(value) == 1 and "sha256" in value:
            digests.append(value["sha256"])
        else:
            odd_metadata[len(kept)] = _metadata_hashes(resp, field, value, filename)
        kept.append(entry)
    if not all_sha256(digests) or not all_timestamps(uploads):
        return None
    base = resp.url
    urls = [url if url.startswith(_ABSOLUTE) else urljoin(base, url) for url in [entry.url for entry in kept]]

    def make(i: int) -> DistFile:
        entry = kept[i]
        hashes = odd_hashes[i] if i in odd_hashes else entry.hashes
        if i in odd_metadata:
            metadata = odd_metadata[i]
        else:
            value = entry.core_metadata
            if value is unset:
                value = entry.dist_info_metadata
            metadata = value if type(value) is dict else None
        yanked = entry.yanked
        return DistFile.of_fields(entry.filename, urls[i], hashes, entry.requires_python or None,
                                  (yanked if isinstance(yanked, str) else "") if yanked else None,
                                  entry.size, entry.upload_time or None, metadata, index)

    return FileTable([entry.filename for entry in kept], urls,
                     [(yanked if isinstance(yanked, str) else "") if yanked else None
                      for yanked in [entry.yanked for entry in kept]],
                     [entry.requires_python or None for entry in kept], make)


def _is_utf8(body: bytes) -> bool:
    """Whether ``json.loads``, which the careful pass uses, decodes ``body`` as UTF-8."""
    try:
        body.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        return False
    return True


_ABSOLUTE = ("https://", "http://")
