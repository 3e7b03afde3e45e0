"""The cold path's cheaper checks and lazy files give exactly what the plain ones give."""

from __future__ import annotations

import itertools

import pytest

from satlock.resolver.candidates import all_sha256, is_sha256

SHA = "ab" * 32


def test_the_joined_digest_scan_takes_exactly_the_digests_is_sha256_takes():
    odd = [SHA, SHA.upper(), SHA[:63], SHA + "a", SHA[:63] + "\n", "\n" + SHA[:63], SHA[:32] + "\n" + SHA[:31],
           SHA[:63] + "g", SHA[:63] + "\u00e9", SHA[:63] + "\u0660", SHA[:62] + "\n\n", "", "\n", SHA + "\n" + SHA]
    for n in range(1, 4):
        for digests in itertools.product(odd, repeat=n):
            assert all_sha256(list(digests)) == all(map(is_sha256, digests)), digests
    assert all_sha256([])
    assert all_sha256([SHA[:63] + "0", SHA]) and not all_sha256([SHA[:63], SHA + "0"])


def _json_page(files: list[dict]) -> "Response":
    import json

    from satlock.http import Response

    body = {"meta": {"api-version": "1.1"}, "name": "a", "files": files}
    return Response("https://h/simple/a/", 200, {"content-type": "application/vnd.pypi.simple.v1+json"},
                    json.dumps(body).encode())


def _entry(filename: str, **over: object) -> dict:
    entry = {"filename": filename, "url": f"https://files.h/{filename}", "hashes": {"sha256": SHA},
             "requires-python": ">=3.8", "yanked": False, "size": 10, "upload-time": "2024-01-02T03:04:05Z",
             "core-metadata": {"sha256": SHA}}
    entry.update(over)
    return entry


# Every way a file is kept or left out, versions written two ways, and fields outside the
# common shape that the bulk pass still takes.
MIXED = [
    _entry("a-1.0-py3-none-any.whl"),
    _entry("a-1.0.0-py3-none-any.whl", url="/files/a-1.0.0-py3-none-any.whl"),
    _entry("a-1.0.tar.gz", hashes={"sha256": SHA, "sha512": "CD" * 64}, **{"core-metadata": True}),
    _entry("a-2.0-cp27-cp27m-win32.whl"),
    _entry("a-2.0-1-py3-none-any.whl", yanked="broken"),
    _entry("a-2.0-py3-none-any.whl", yanked=True),
    _entry("a-3.0-py3-none-any.whl", **{"requires-python": ">=4"}),
    _entry("a-3.0.tar.gz", **{"requires-python": ""}),
    _entry("a-4.0rc1-py2.py3-none-any.whl", hashes=None, **{"core-metadata": "sha256=" + SHA}),
    _entry("a-4.0rc1-1-py3-none-any.whl", **{"dist-info-metadata": True}),
    _entry("a-4.0rc1-py3-none-any.whl", **{"upload-time": None, "size": None}),
    _entry("b-5.0-py3-none-any.whl"),
    _entry("a-notaversion-py3-none-any.whl"),
    _entry("a-6.0.exe"),
]


def _listing_rows(listing) -> tuple:
    return ([(c.key, c.version, [f.to_row() for f in c.files]) for c in listing.candidates],
            [(e.version, e.reason) for e in listing.excluded])


def test_a_listing_from_a_lazy_page_table_is_the_one_the_careful_pass_gives(monkeypatch):
    import satlock.resolver.pagejson as pagejson
    from satlock.resolver.listing import candidates_from_files
    from satlock.resolver.pages import parse_project_page, parse_project_table
    from satlock.resolver.target import make_target

    assert pagejson.common_json_files(_json_page(MIXED), "i") is not None
    target = make_target("3.12", "linux_x86_64")
    for pinned in (set(), {"2.0"}):
        resp = _json_page(MIXED)
        lazy = candidates_from_files("a", parse_project_table(resp, index="i"), target, pinned)
        monkeypatch.setattr(pagejson, "common_json_files", lambda page, index: None)
        careful = candidates_from_files("a", parse_project_page(resp, index="i"), target, pinned)
        monkeypatch.undo()
        assert _listing_rows(lazy) == _listing_rows(careful)
        assert [c.key[1] for c in lazy.candidates] == (["4.0rc1", "3.0", "2.0", "1.0"] if pinned else ["4.0rc1", "3.0", "1.0"])


def test_a_page_table_makes_a_file_only_for_what_a_candidate_keeps_and_each_once():
    from satlock.resolver.listing import candidates_from_files
    from satlock.resolver.pages import parse_project_table
    from satlock.resolver.target import make_target

    table = parse_project_table(_json_page(MIXED), index="i")
    made: list[int] = []
    make = table._make
    table._make = lambda i: made.append(i) or make(i)
    listing = candidates_from_files("a", table, make_target("3.12", "linux_x86_64"), set())
    kept = {table.filenames.index(f.filename) for c in listing.candidates for f in c.files}
    assert sorted(made) == sorted(kept) and len(kept) < len(table)
    files = table.files()
    assert sorted(made) == list(range(len(table))) and table.files() == files


def test_a_bad_entry_of_a_version_no_lock_asks_for_is_still_the_page_error():
    from satlock.errors import IndexFormatError
    from satlock.resolver.pages import parse_project_page, parse_project_table

    resp = _json_page([_entry("a-1.0-py3-none-any.whl"), _entry("a-0.1-cp27-cp27m-win32.whl", hashes={"sha256": "0" * 63})])
    with pytest.raises(IndexFormatError) as table:
        parse_project_table(resp)
    with pytest.raises(IndexFormatError) as files:
        parse_project_page(resp)
    assert "sha256 is not 64 hex digits" in table.value.message and table.value.message == files.value.message
