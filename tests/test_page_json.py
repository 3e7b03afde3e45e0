"""The bulk pass over a PEP 691 page (``resolver/pagejson.py``) gives exactly what the
careful per-file pass gives, for the common shape and for every shape it hands back."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import pytest

from satlock.errors import IndexFormatError
from satlock.http import Response
from satlock.resolver.index import parse_project_page
from satlock.resolver.candidates import _COMMON_TIMES
from satlock.resolver.pagejson import common_json_files
from satlock.resolver.pages import _json_file

SHA = "ab" * 32
URL = "https://h/simple/a/"


def _page(files: list, meta: object = None) -> Response:
    body = {"meta": {"api-version": "1.1"} if meta is None else meta, "name": "a", "files": files}
    return Response(URL, 200, {"content-type": "application/vnd.pypi.simple.v1+json"}, json.dumps(body).encode())


def _file(version: str, **over: object) -> dict:
    entry = {"filename": f"a-{version}-py3-none-any.whl", "url": f"https://files.h/a-{version}-py3-none-any.whl",
             "hashes": {"sha256": SHA}, "requires-python": ">=3.8", "yanked": False, "size": 10,
             "upload-time": "2024-01-02T03:04:05.123456Z", "core-metadata": {"sha256": SHA}}
    entry.update(over)
    return {k: v for k, v in entry.items() if v is not _DROP}


_DROP = object()


def _spelled(value: object) -> str:
    """A test id's spelling of a value JSON has none for: the same in every process."""
    return "<dropped>" if value is _DROP else repr(value)


def _rows(files: list) -> list[tuple]:
    return [(f.filename, f.url, dict(f.hashes), f.requires_python, f.yanked, f.size, f.upload_time,
             None if f.metadata is None else dict(f.metadata), f.index) for f in files]


def _careful(resp: Response) -> list[tuple]:
    files = [_json_file(resp, e, "i") for e in json.loads(resp.body)["files"]]
    return _rows([f for f in files if f is not None])


ODD_BUT_VALID = [
    {"hashes": {"sha256": SHA.upper()}},
    {"hashes": {"sha256": SHA, "sha512": "cd" * 64}},
    {"hashes": {}},
    {"hashes": None},
    {"hashes": _DROP},
    {"core-metadata": "true"},
    {"core-metadata": True},
    {"core-metadata": "sha256=" + SHA},
    {"core-metadata": None},
    {"core-metadata": _DROP, "dist-info-metadata": {"sha256": SHA}},
    {"core-metadata": _DROP, "dist-info-metadata": True},
    {"core-metadata": _DROP},
    {"yanked": "broken"},
    {"yanked": ""},
    {"yanked": True},
    {"requires-python": ""},
    {"requires-python": None},
    {"size": None},
    {"size": 2**63 - 1},
    {"upload-time": None},
    {"upload-time": "2024-02-29T00:00:00Z"},
    {"upload-time": "2024-01-02T03:04:05+00:00"},
    {"upload-time": "2024-01-02T03:04:05.1234567Z"},
    {"url": "../../a-1.0-py3-none-any.whl"},
    {"filename": "a-1.0.exe", "size": "not checked for a file that is not a distribution"},
    {"filename": "a-1.0.tar.gz", "url": "https://files.h/a-1.0.tar.gz"},
    {"unknown-field": [[[["ignored"]]]]},
]


@pytest.mark.parametrize("odd", ODD_BUT_VALID, ids=[json.dumps(o, default=_spelled)[:60] for o in ODD_BUT_VALID])
def test_an_odd_but_valid_file_among_common_ones_reads_as_the_careful_pass_reads_it(odd):
    resp = _page([_file("0.9"), _file("1.0", **odd), _file("1.1")])
    assert _rows(parse_project_page(resp, index="i")) == _careful(resp)


def test_a_page_of_common_files_is_taken_by_the_bulk_pass_with_every_field():
    resp = _page([_file("1.0"), _file("2.0", yanked="broken", **{"core-metadata": False}), _file("3.0", url="/a-3.whl")])
    fast = common_json_files(resp, "i")
    assert fast is not None and _rows(fast) == _careful(resp)


@pytest.mark.parametrize("odd", [{"size": True}, {"size": -1}, {"size": 2**63}, {"size": 1.0}, {"yanked": None},
                                 {"yanked": 1}, {"url": ""}, {"url": 5}, {"filename": "../a-1.0-py3-none-any.whl"},
                                 {"hashes": {"sha256": "0" * 63}}, {"hashes": {"sha256": 5}}, {"upload-time": "2023-02-29T00:00:00Z"},
                                 {"upload-time": "yesterday"}, {"requires-python": 3}, {"core-metadata": 1}])
def test_a_file_the_bulk_pass_cannot_take_is_left_to_the_careful_pass(odd):
    resp = _page([_file("1.0"), _file("1.1", **odd)])
    assert common_json_files(resp, "i") is None
    with pytest.raises(IndexFormatError) as bulk:
        parse_project_page(resp)
    with pytest.raises(IndexFormatError) as careful:
        [_json_file(resp, e, None) for e in json.loads(resp.body)["files"]]
    assert bulk.value.message == careful.value.message


@pytest.mark.parametrize("meta, said", [({"api-version": 1}, "invalid 'meta.api-version'"), ([], "invalid 'meta'"),
                                        ({"api-version": "2.0"}, "simple API version 2.0")])
def test_a_bad_meta_table_is_the_same_error_whichever_pass_finds_it(meta, said):
    with pytest.raises(IndexFormatError, match=said):
        parse_project_page(_page([_file("1.0")], meta=meta))


def test_every_upload_time_the_bulk_match_takes_is_one_fromisoformat_takes():
    day = date(2023, 1, 1)
    while day < date(2025, 1, 1):
        for clock in ("00:00:00Z", "23:59:59.999999Z", "12:30:00.5Z"):
            text = f"{day.isoformat()}T{clock}"
            if _COMMON_TIMES.fullmatch(text + "\n"):
                datetime.fromisoformat(text)
        day += timedelta(days=1)
    for text in ("2023-02-29T00:00:00Z", "2023-04-31T00:00:00Z", "0000-01-01T00:00:00Z", "2023-01-01T24:00:00Z",
                 "2023-01-01T00:60:00Z", "2023-13-01T00:00:00Z", "2023-01-01T00:00:00.1234567Z"):
        assert not _COMMON_TIMES.fullmatch(text + "\n")
    assert _COMMON_TIMES.fullmatch("2024-01-31T03:04:05.123456Z\n2024-04-30T00:00:00Z\n")


def test_the_joined_name_scan_refuses_exactly_the_names_is_safe_name_refuses():
    import itertools

    from satlock.resolver.candidates import is_safe_name
    from satlock.resolver.candidates import all_safe_names as _all_safe

    pieces = ["a", ".", "/", "\\", "\0", ""]
    names = sorted({"".join(p) for n in range(4) for p in itertools.product(pieces, repeat=n)})
    for pair in itertools.product(names, repeat=2):
        assert _all_safe(list(pair)) == all(map(is_safe_name, pair)), pair
    for name in names:
        assert _all_safe([name]) == is_safe_name(name), name


def _both_passes(resp: Response) -> tuple[object, object]:
    """What ``parse_project_page`` gives (the bulk pass, falling back) and what the careful pass alone gives."""
    import satlock.resolver.pagejson as pagejson

    def outcome() -> object:
        try:
            return _rows(parse_project_page(resp, index="i"))
        except IndexFormatError as e:
            return e.message

    bulk = outcome()
    saved = pagejson.common_json_files
    pagejson.common_json_files = lambda page, index: None
    try:
        return bulk, outcome()
    finally:
        pagejson.common_json_files = saved


def _body(body: bytes) -> Response:
    return Response(URL, 200, {"content-type": "application/vnd.pypi.simple.v1+json"}, body)


def _with_raw(value: bytes, *, key: str = "x", api: str = "1.1") -> Response:
    """A page of one common file whose ``key`` holds ``value`` as raw bytes (not always valid JSON)."""
    page = _page([_file("1.0", **{key: "@@"})], meta={"api-version": api})
    return _body(page.body.replace(b'"@@"', value))


HOSTILE_PAGES = {
    "empty upload time": lambda: _page([_file("1.0", **{"upload-time": ""})]),
    "two upload times in one": lambda: _page([_file("1.0", **{"upload-time": "2024-01-02T03:04:05Z\n2024-01-02T03:04:05Z"})]),
    "sha256 digests of 63 and 65 digits": lambda: _page([_file("1.0", hashes={"sha256": "a" * 63}),
                                                          _file("1.1", hashes={"sha256": "a" * 65})]),
    "sha256 digests of 0 and 128 digits": lambda: _page([_file("1.0", hashes={"sha256": ""}),
                                                          _file("1.1", hashes={"sha256": "a" * 128})]),
    "metadata sha256 of 0 and 128 digits": lambda: _page([_file("1.0", **{"core-metadata": {"sha256": ""}}),
                                                           _file("1.1", **{"core-metadata": {"sha256": "a" * 128}})]),
    "invalid utf-8 in an unknown file key": lambda: _with_raw(b'"\xff"'),
    "an overlong utf-8 slash in an unknown key": lambda: _with_raw(b'"\xc0\xaf"'),
    "invalid utf-8 beside api version 2": lambda: _with_raw(b'"\xff"', api="2.0"),
    "utf-8 encoded surrogate in an unknown key": lambda: _with_raw(b'"\xed\xa0\x80"'),
    "a 5000-digit number in an unknown key": lambda: _with_raw(b"9" * 5000),
    "a 5000-digit size": lambda: _with_raw(b"9" * 5000, key="size"),
    "a 5000-digit negative number beside api version 2": lambda: _with_raw(b"-" + b"9" * 5000, api="2.0"),
    "a file name given twice, the last climbing out": lambda: _twice("filename", '"../a-1.0.tar.gz"'),
    "a link given twice, the last to a local file": lambda: _twice("url", '"file:///etc/passwd"'),
    "a sha256 given twice, the last not hex": lambda: _body(_page([_file("1.0")]).body.replace(
        f'"hashes": {{"sha256": "{SHA}"'.encode(), f'"hashes": {{"sha256": "{SHA}", "sha256": "zz"'.encode(), 1)),
    "a hash table given twice, the last with a short digest": lambda: _twice("hashes", '{"sha256": "abc"}'),
    "the files list given twice, the last with a bad name": lambda: _body(_page([_file("1.0")]).body[:-1]
                                                                        + b', "files": [{"filename": "../x.whl", "url": "u"}]}'),
}


def _twice(key: str, last: str) -> Response:
    """A page of one common file whose ``key`` is given again, after the good one, as ``last``
    (JSON readers differ on which of two equal keys wins: both passes must read the same one)."""
    return _body(_page([_file("1.0")]).body.replace(b'"upload-time"', f'"{key}": {last}, "upload-time"'.encode(), 1))


@pytest.mark.parametrize("make", HOSTILE_PAGES.values(), ids=HOSTILE_PAGES.keys())
def test_a_hostile_page_reads_the_same_whether_the_bulk_pass_takes_it_or_not(make):
    bulk, careful = _both_passes(make())
    assert bulk == careful
