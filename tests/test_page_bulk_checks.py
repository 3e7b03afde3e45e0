"""A PEP 691 page in the common shape is checked in bulk; the answer and the error a bad
page gives are the same as the per-file checks give."""

from __future__ import annotations

import json

import pytest

from satlock.errors import IndexFormatError
from satlock.http import Response
from satlock.resolver.index import parse_project_page

SHA = "ab" * 32
URL = "https://h/simple/a/"


def _page(files: list) -> Response:
    body = json.dumps({"meta": {"api-version": "1.1"}, "name": "a", "files": files}).encode()
    return Response(URL, 200, {"content-type": "application/vnd.pypi.simple.v1+json"}, body)


def _file(version: str, **over: object) -> dict:
    entry = {"filename": f"a-{version}-py3-none-any.whl", "url": f"https://files.h/a-{version}-py3-none-any.whl",
             "hashes": {"sha256": SHA}, "requires-python": ">=3.8", "yanked": False, "size": 10,
             "upload-time": "2024-01-02T03:04:05.123456Z", "core-metadata": {"sha256": SHA}}
    entry.update(over)
    return entry


def test_common_page_keeps_every_field_of_every_file():
    files = parse_project_page(_page([_file("1.0"), _file("2.0", yanked="broken", **{"core-metadata": False}),
                                      _file("3.0", url="../../a-3.0-py3-none-any.whl")]), index="i")
    assert [(f.filename, f.url, dict(f.hashes), f.requires_python, f.yanked, f.size, f.upload_time,
             f.metadata, f.index) for f in files] == [
        ("a-1.0-py3-none-any.whl", "https://files.h/a-1.0-py3-none-any.whl", {"sha256": SHA}, ">=3.8", None, 10,
         "2024-01-02T03:04:05.123456Z", {"sha256": SHA}, "i"),
        ("a-2.0-py3-none-any.whl", "https://files.h/a-2.0-py3-none-any.whl", {"sha256": SHA}, ">=3.8", "broken", 10,
         "2024-01-02T03:04:05.123456Z", None, "i"),
        ("a-3.0-py3-none-any.whl", "https://h/a-3.0-py3-none-any.whl", {"sha256": SHA}, ">=3.8", None, 10,
         "2024-01-02T03:04:05.123456Z", {"sha256": SHA}, "i"),
    ]


def test_upper_case_digest_among_common_files_is_lower_cased_not_refused():
    files = parse_project_page(_page([_file("1.0"), _file("2.0", hashes={"sha256": SHA.upper()})]))
    assert [f.sha256 for f in files] == [SHA, SHA]


@pytest.mark.parametrize("bad, field", [
    ({"hashes": {"sha256": "0" * 63}}, "sha256 is not 64 hex digits"),
    ({"hashes": {"sha256": "g" * 64}}, "sha256 is not 64 hex digits"),
    ({"core-metadata": {"sha256": "../" * 21 + "a"}}, "core-metadata"),
    ({"size": -1}, "invalid 'size'"),
    ({"size": True}, "invalid 'size'"),
    ({"upload-time": "yesterday"}, "invalid 'upload-time'"),
    ({"yanked": 1}, "invalid 'yanked'"),
    ({"requires-python": 3}, "invalid 'requires-python'"),
])
def test_one_bad_field_among_thousands_of_good_files_is_named_with_its_file(bad, field):
    files = [_file(f"1.{i}") for i in range(2000)]
    files[1234].update(bad)
    with pytest.raises(IndexFormatError) as e:
        parse_project_page(_page(files))
    assert field in e.value.message and "a-1.1234-py3-none-any.whl" in e.value.message and URL in e.value.message


def test_the_first_bad_file_in_page_order_is_the_one_named():
    files = [_file(f"1.{i}") for i in range(10)]
    files[3]["hashes"] = {"sha256": "z" * 64}   # found only by the bulk digest check
    files[7]["filename"] = "../evil-1.0.tar.gz"  # found per file
    with pytest.raises(IndexFormatError) as e:
        parse_project_page(_page(files))
    assert "a-1.3-py3-none-any.whl" in e.value.message and "evil" not in e.value.message


def test_link_to_another_host_after_many_allowed_ones_is_still_refused():
    files = [_file(f"1.{i}") for i in range(50)] + [_file("9.0", url="http://plain.h/a-9.0-py3-none-any.whl")]
    with pytest.raises(IndexFormatError, match="refusing the link to http://plain.h/"):
        parse_project_page(_page(files))
