"""Simple-API project pages (PEP 691 JSON, PEP 503 HTML) read into ``DistFile`` rows.

A page is untrusted input, and large: the biggest list tens of thousands of files. Every
field is checked against its grammar before any of it is used, and the checks take the
cheap path for what nearly every page gives (one sha256 per file, a few file hosts).
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from typing import Collection
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

from packaging.version import InvalidVersion, Version

from satlock.errors import IndexFormatError
from satlock.http import Response, redact, remote_link_refusal
from satlock.resolver.candidates import (TOML_INT_LIMIT, VERIFIABLE_HASHES, DistFile, checked_hash,
                                         is_dist_filename, is_safe_name, is_sha256, is_timestamp, url_filename)
from satlock.resolver.filetable import FileTable

__all__ = ["ACCEPT", "link_refusal", "parse_project_page", "parse_project_table"]

# What satlock asks an index for, best first: the pages this module reads.
ACCEPT = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01"


def parse_project_page(resp: Response, *, index: str | None = None,
                       allow_insecure_hosts: Collection[str] = ()) -> list[DistFile]:
    """The files on a PEP 691 JSON or PEP 503 HTML project page, URLs made absolute.

    Everything on the page is checked against its grammar here, before any of it is used:
    hashes are hex digests of the right length, file names are wheel or sdist names with
    no path in them, and a remote page links only files the http rule allows. Anything
    else is one error naming the page and the field.
    """
    return parse_project_table(resp, index=index, allow_insecure_hosts=allow_insecure_hosts).files()


def parse_project_table(resp: Response, *, index: str | None = None,
                        allow_insecure_hosts: Collection[str] = ()) -> FileTable:
    """``parse_project_page`` with the same checks, all done here, but each file's
    ``DistFile`` made only when asked for: a lock asks for about a third of them."""
    ctype = (resp.header("content-type") or "").split(";", 1)[0].strip().lower()
    if ctype in ("application/vnd.pypi.simple.v1+json", "application/json"):
        table = _parse_json(resp, index)
    elif ctype in ("application/vnd.pypi.simple.v1+html", "text/html"):
        table = FileTable.of(_parse_html(resp, index))
    else:
        raise IndexFormatError(f"{redact(resp.url)} is not a simple index page (content type {ctype or 'missing'!r})",
                               hint="point the index URL at a PEP 503/691 simple index, usually ending in /simple/")
    refused = link_refusal(table.urls, local=urlsplit(resp.url).scheme.lower() == "file",
                           allow_insecure_hosts=allow_insecure_hosts)
    if refused is not None:
        raise IndexFormatError(f"{redact(resp.url)}: refusing the link to {redact(refused[0])}: {refused[1]}",
                               hint="the index links files satlock will not fetch; report it to the index")
    return table


def link_refusal(urls: list[str], *, local: bool, allow_insecure_hosts: Collection[str]) -> tuple[str, str] | None:
    """The first of ``urls`` a page may not link, and why; ``None`` when it may link them all.

    A remote page may link what the http rule allows (``remote_link_refusal``); a local
    page (a ``file://`` index) may also link local files.
    """
    by_origin: dict[str, str | None] = {}
    last_origin = None
    for url in urls:
        if last_origin is not None and url.startswith(last_origin):
            continue  # the same origin as the file before (the pattern stops at the first "/"), allowed
        # The rule depends on the scheme and host alone, and a page links a few hosts at most.
        origin = _ORIGIN.match(url)
        if origin is None:
            if local and urlsplit(url).scheme.lower() == "file":
                continue
            refusal = remote_link_refusal(url, allow_insecure_hosts)
        elif origin[0] in by_origin:
            refusal = by_origin[origin[0]]
        else:
            refusal = by_origin[origin[0]] = remote_link_refusal(origin[0] + "/", allow_insecure_hosts)
        if refusal is not None:
            return url, refusal
        last_origin = origin[0] + "/" if origin is not None else None
    return None


# The scheme and host of an http(s) URL with nothing ``urlsplit`` would strip or reinterpret.
_ORIGIN = re.compile(r"https?://[^/?#\x00-\x20\x7f]*(?=[/?#]|\Z)")


def _bad_field(resp: Response, field: str, value: object, filename: object = None) -> IndexFormatError:
    where = f" of file {str(filename)!r:.120}" if filename is not None else ""
    return IndexFormatError(f"{redact(resp.url)}: invalid {field!r}{where}: {value!r:.100}",
                            hint="the index serves a malformed page; report it to the index")


def _dist_name(resp: Response, name: str) -> str | None:
    """``name`` when it is a distribution file name; ``None`` for other files on the page
    (eggs, installers), which are skipped; an error when it would climb out of a folder."""
    if not is_safe_name(name):
        raise _bad_field(resp, "filename", name)
    return name if is_dist_filename(name) else None


def _page_hashes(resp: Response, field: str, value: object, filename: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _bad_field(resp, field, value, filename)
    if len(value) == 1 and is_sha256(value.get("sha256")):
        return dict(value)  # what nearly every page gives: nothing to lower-case or check further
    where = f"{redact(resp.url)}: {field!r} of file {filename!r:.120}"
    return dict(checked_hash(alg, digest_value, where) for alg, digest_value in value.items())


def _not_simple(resp: Response, why: str) -> IndexFormatError:
    return IndexFormatError(f"{redact(resp.url)} is not a simple index page: {why}",
                            hint="point the index URL at a PEP 503/691 simple index, usually ending in /simple/")


def _check_api_version(resp: Response, version: object) -> None:
    try:
        major = Version(str(version)).major
    except InvalidVersion:
        raise _not_simple(resp, f"invalid repository version {version!r}") from None
    if major != 1:
        raise IndexFormatError(f"{redact(resp.url)} uses simple API version {version}, satlock understands 1.x",
                               hint="upgrade satlock or use another index")




def _parse_json(resp: Response, index: str | None) -> FileTable:
    # msgspec is imported here, not with this module: a warm lock parses no page.
    from satlock.resolver.pagejson import common_json_files

    fast = common_json_files(resp, index)
    if fast is not None:
        return fast
    # The careful pass: the first bad field, in page order, is named in the error.
    try:
        data = json.loads(resp.body, parse_int=_json_int)
    except ValueError as exc:
        raise _not_simple(resp, f"invalid JSON ({exc})") from None
    except RecursionError:
        raise _not_simple(resp, "JSON nested too deeply") from None
    if not isinstance(data, dict) or not isinstance(data.get("files"), list):
        raise _not_simple(resp, "JSON without a 'files' list")
    meta = data.get("meta", {})
    if not isinstance(meta, dict):
        raise _bad_field(resp, "meta", meta)
    version = meta.get("api-version", "1.0")
    if not isinstance(version, str):
        raise _bad_field(resp, "meta.api-version", version)
    _check_api_version(resp, version)
    out = []
    for entry in data["files"]:
        file = _json_file(resp, entry, index)
        if file is not None:
            out.append(file)
    return FileTable.of(out)


def _json_int(text: str) -> int | float:
    """A JSON integer as ``json.loads`` reads it, except one too long for Python's ``int``
    conversion (4300 digits), read as the float it rounds to (an infinity): the JSON is
    valid, and the bulk pass takes a page with such a number in a field it skips. No
    field of a page takes a number that large, so it is still refused where it matters."""
    return int(text) if len(text) <= _INT_DIGITS else float(text)


# Below Python's default limit on the digits ``int(str)`` converts (``sys.get_int_max_str_digits``).
_INT_DIGITS = 4000


def _json_file(resp: Response, entry: object, index: str | None) -> DistFile | None:
    """One PEP 691 file entry, each field checked against its type; ``None`` for a non-distribution file."""
    if not isinstance(entry, dict):
        raise _bad_field(resp, "files[]", entry)
    name, url = entry.get("filename"), entry.get("url")
    if not isinstance(name, str):
        raise _bad_field(resp, "filename", name)
    filename = _dist_name(resp, name)
    if filename is None:
        return None
    if not isinstance(url, str) or not url:
        raise _bad_field(resp, "url", url, filename)
    requires_python = entry.get("requires-python")
    if requires_python is not None and not isinstance(requires_python, str):
        raise _bad_field(resp, "requires-python", requires_python, filename)
    yanked = entry.get("yanked", False)
    if not isinstance(yanked, (bool, str)):
        raise _bad_field(resp, "yanked", yanked, filename)
    size = entry.get("size")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or not 0 <= size < TOML_INT_LIMIT):
        raise _bad_field(resp, "size", size, filename)
    upload = entry.get("upload-time")
    if upload is not None and not is_timestamp(upload):
        raise _bad_field(resp, "upload-time", upload, filename)
    field = "core-metadata" if "core-metadata" in entry else "dist-info-metadata"
    metadata = _metadata_hashes(resp, field, entry.get(field, False), filename)
    return DistFile(
        filename=filename,
        url=_join(resp.url, url),
        hashes=_page_hashes(resp, "hashes", entry.get("hashes"), filename),
        requires_python=requires_python or None,
        yanked=(yanked if isinstance(yanked, str) else "") if yanked else None,
        size=size,
        upload_time=upload or None,
        metadata=metadata,
        index=index,
    )


def _join(base: str, url: str) -> str:
    """``urljoin``, skipped for the absolute URLs most indexes give (it dominated warm locks)."""
    if url.startswith(("https://", "http://")):
        return url
    return urljoin(base, url)


def _metadata_hashes(resp: Response, field: str, value: object, filename: str) -> dict[str, str] | None:
    """PEP 658/714 in either form: a hash dict, ``true``, ``"sha256=..."`` or ``"true"``."""
    if isinstance(value, dict):
        return _page_hashes(resp, field, value, filename)
    if isinstance(value, bool):
        return {} if value else None
    if isinstance(value, str):
        if value.lower() in ("true", ""):
            return {} if value else None
        alg, sep, hexdigest = value.partition("=")
        if sep:
            return _page_hashes(resp, field, {alg: hexdigest}, filename)
    if value is None:
        return None
    raise _bad_field(resp, field, value, filename)


class _LinkParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.base: str | None = None
        self.repository_version: str | None = None
        self.links: list[tuple[dict[str, str | None], str]] = []
        self._open: dict[str, str | None] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "base" and a.get("href") and self.base is None:
            self.base = a["href"]
        elif tag == "meta" and a.get("name") == "pypi:repository-version":
            self.repository_version = a.get("content")
        elif tag == "a" and a.get("href"):
            self._open, self._text = a, []

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._open is not None:
            self.links.append((self._open, "".join(self._text).strip()))
            self._open = None


_DIST_SUFFIXES = (".whl", ".tar.gz", ".zip", ".tar.bz2", ".tgz", ".tar.xz", ".tar", ".egg")


def _looks_like_dist(href: str, text: str) -> bool:
    path = unquote(urlsplit(href).path).lower()
    return path.endswith(_DIST_SUFFIXES) or text.lower().endswith(_DIST_SUFFIXES)


def _parse_html(resp: Response, index: str | None) -> list[DistFile]:
    charset = "utf-8"
    for param in (resp.header("content-type") or "").split(";")[1:]:
        k, _, v = param.strip().partition("=")
        if k.lower() == "charset" and v:
            charset = v.strip('"')
    try:
        text = resp.body.decode(charset, errors="replace")
    except LookupError:
        text = resp.body.decode("utf-8", errors="replace")
    parser = _LinkParser()
    parser.feed(text)
    parser.close()
    if parser.repository_version is None and not parser.links:
        raise _not_simple(resp, "HTML without links or a pypi:repository-version")
    if parser.repository_version is None and not any(_looks_like_dist(a.get("href") or "", t) for a, t in parser.links):
        # A login or error page answered 200: saying "package not found" would hide that.
        raise _not_simple(resp, "HTML whose links are not package files (a login or error page?)")
    if parser.repository_version is not None:
        _check_api_version(resp, parser.repository_version)
    base = urljoin(resp.url, parser.base) if parser.base else resp.url
    out = []
    for attrs, text in parser.links:
        url = urljoin(base, attrs["href"] or "")
        parts = urlsplit(url)
        filename = _dist_name(resp, url_filename(url) or text)
        if filename is None:
            continue
        alg, sep, hexdigest = parts.fragment.partition("=")
        # Only a hash fragment is a hash; ``#egg=`` and the like are not.
        hashes = (_page_hashes(resp, "#" + alg.lower(), {alg: hexdigest}, filename)
                  if sep and alg.lower() in VERIFIABLE_HASHES else {})
        field = "data-core-metadata" if "data-core-metadata" in attrs else "data-dist-info-metadata"
        metadata = attrs.get(field)
        out.append(DistFile(
            filename=filename,
            url=urlunsplit(parts._replace(fragment="")),
            hashes=hashes,
            requires_python=attrs.get("data-requires-python") or None,
            yanked=(attrs.get("data-yanked") or "") if "data-yanked" in attrs else None,
            metadata=_metadata_hashes(resp, field, metadata, filename) if metadata is not None else None,
            index=index,
        ))
    return out
