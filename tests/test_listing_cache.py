"""The on-disk candidate listing (``resolver/listing.py``) reads back what was stored; a
row no page parse could have made (an unsafe file name, a sha256 that is not 64 hex
digits, a row of the wrong shape) makes the whole entry a miss, dropped from the cache."""

from __future__ import annotations

import marshal
from pathlib import Path

import pytest
from packaging.version import Version

from satlock.cache import Cache
from satlock.resolver.candidates import Candidate, DistFile
from satlock.resolver.listing import CANDIDATES, read_cached, store_cached
from satlock.resolver.provider import CandidateList, Exclusion

SHA = "ab" * 32


def _file(name: str, **over: object) -> DistFile:
    fields = dict(filename=name, url=f"https://files.h/{name}", hashes={"sha256": SHA}, requires_python=">=3.8",
                  yanked=None, size=10, upload_time="2024-01-02T03:04:05Z", metadata=None, index="https://h/simple/")
    fields.update(over)
    return DistFile(**fields)  # type: ignore[arg-type]


def _listing() -> CandidateList:
    return CandidateList([Candidate("foo", Version("2.0rc1"), (_file("foo-2.0rc1-py3-none-any.whl"),)),
                          Candidate("foo", Version("1.0"), (_file("foo-1.0-py3-none-any.whl", metadata={"sha256": SHA}),
                                                             _file("foo-1.0.tar.gz", hashes={}, yanked="bad")))],
                         [Exclusion("0.9", "no wheel for this platform")])


def _any_link(files: list[DistFile]) -> bool:
    return True


def _rows(listing: CandidateList) -> list:
    return [(c.key, [f.to_row() for f in c.files]) for c in listing.candidates] + [(e.version, e.reason) for e in listing.excluded]


def test_a_stored_listing_reads_back_the_same_candidates_files_and_exclusions(tmp_path):
    cache = Cache(tmp_path)
    store_cached(cache, "k", _listing())
    back = read_cached(cache, "k", "foo", _any_link)
    assert back is not None and _rows(back) == _rows(_listing())
    assert [c.version for c in back.candidates] == [Version("2.0rc1"), Version("1.0")]


def test_an_empty_listing_is_a_hit(tmp_path):
    cache = Cache(tmp_path)
    store_cached(cache, "k", CandidateList([], []))
    assert read_cached(cache, "k", "foo", _any_link) == CandidateList([], [])


@pytest.mark.parametrize("bad", [
    ("../foo-1.0.tar.gz", "https://h/f", {"sha256": SHA}, None, None, None, None, None, None),
    ("", "https://h/f", {"sha256": SHA}, None, None, None, None, None, None),
    ("foo-1.0.tar.gz", "https://h/f", {"sha256": "../../x"}, None, None, None, None, None, None),
    ("foo-1.0.tar.gz", "https://h/f", {"sha256": SHA.upper()}, None, None, None, None, None, None),
    ("foo-1.0.tar.gz", "https://h/f", {"sha256": 5}, None, None, None, None, None, None),
    ("foo-1.0.tar.gz", "https://h/f"),
    (),
    (5, "https://h/f", {}, None, None, None, None, None, None),
])
def test_a_bad_row_makes_the_entry_a_miss_and_drops_it(tmp_path, bad):
    cache = Cache(tmp_path)
    good = _file("foo-1.0-py3-none-any.whl").to_row()
    cache.write_sealed(CANDIDATES, "k", marshal.dumps(([("1.0", [good, bad])], [])))
    assert read_cached(cache, "k", "foo", _any_link) is None
    assert not Path(tmp_path, CANDIDATES, "k").exists()


def test_sha256_digests_whose_lengths_only_add_up_are_a_miss(tmp_path):
    cache = Cache(tmp_path)
    rows = [_file("foo-1.0-py3-none-any.whl", hashes={"sha256": "a" * 63}).to_row(),
            _file("foo-1.0.tar.gz", hashes={"sha256": "a" * 65}).to_row()]
    cache.write_sealed(CANDIDATES, "k", marshal.dumps(([("1.0", rows)], [])))
    assert read_cached(cache, "k", "foo", _any_link) is None


_GOOD = _file("foo-1.0-py3-none-any.whl").to_row()


def _with(field: int, value: object) -> tuple:
    row = list(_GOOD)
    row[field] = value
    return tuple(row)


TAMPERED_ROWS = {
    "url not a string": _with(1, 5),
    "hashes a list": _with(2, ["sha256"]),
    "hashes a string": _with(2, "sha256"),
    "hashes none": _with(2, None),
    "hash algorithm not a string": _with(2, {"sha256": SHA, 5: "ab"}),
    "hash algorithm a path": _with(2, {"sha256": SHA, "../x": "ab"}),
    "md5 digest a path": _with(2, {"sha256": SHA, "md5": "../../x"}),
    "sha512 digest too short": _with(2, {"sha512": "ab"}),
    "requires-python a list": _with(3, [">=3"]),
    "yanked a number": _with(4, 5),
    "size a string": _with(5, "big"),
    "size negative": _with(5, -1),
    "size past a toml integer": _with(5, 2**63),
    "size a bool": _with(5, True),
    "upload time not a time": _with(6, "yesterday"),
    "upload time a number": _with(6, 5),
    "upload time two times": _with(6, "2024-01-02T03:04:05Z\n2024-01-02T03:04:05Z"),
    "metadata hashes a list": _with(7, ["sha256"]),
    "metadata sha256 a path": _with(7, {"sha256": "../x"}),
    "metadata sha256 not a string": _with(7, {"sha256": 5}),
    "index a number": _with(8, 5),
    "a row one field too long": _GOOD + (None,),
    "a row that is a list": list(_GOOD),
}


@pytest.mark.parametrize("bad", TAMPERED_ROWS.values(), ids=TAMPERED_ROWS.keys())
def test_a_row_with_a_field_no_page_could_give_makes_the_entry_a_miss(tmp_path, bad):
    cache = Cache(tmp_path)
    cache.write_sealed(CANDIDATES, "k", marshal.dumps(([("1.0", [_GOOD, bad])], [])))
    assert read_cached(cache, "k", "foo", _any_link) is None
    assert not Path(tmp_path, CANDIDATES, "k").exists()


@pytest.mark.parametrize("excluded", [[(1.0, "yanked")], [("0.9", 5)], [("0.9",)], {"0.9": "yanked"}])
def test_an_exclusion_of_the_wrong_shape_makes_the_entry_a_miss(tmp_path, excluded):
    cache = Cache(tmp_path)
    cache.write_sealed(CANDIDATES, "k", marshal.dumps(([("1.0", [_GOOD])], excluded)))
    assert read_cached(cache, "k", "foo", _any_link) is None


def test_a_link_the_caller_refuses_makes_the_entry_a_miss(tmp_path):
    cache = Cache(tmp_path)
    store_cached(cache, "k", _listing())
    assert read_cached(cache, "k", "foo", lambda files: "foo-1.0.tar.gz" not in [f.filename for f in files]) is None
    assert not Path(tmp_path, CANDIDATES, "k").exists()


def test_a_version_not_in_normal_form_makes_the_entry_a_miss(tmp_path):
    cache = Cache(tmp_path)
    cache.write_sealed(CANDIDATES, "k", marshal.dumps(([("1.00", [_file("foo-1.0.tar.gz").to_row()])], [])))
    assert read_cached(cache, "k", "foo", _any_link) is None


def test_the_fast_constructors_set_every_field_a_dataclass_init_sets():
    from dataclasses import fields

    made = DistFile.of_fields("foo-1.0.tar.gz", "https://h/f", {}, None, None, None, None, None, None)
    assert set(vars(made)) == {f.name for f in fields(DistFile)}
    assert vars(made) == vars(DistFile("foo-1.0.tar.gz", "https://h/f", {}))
    listed = Candidate.listed("foo", Version("1.0"), "1.0", (made,))
    assert set(vars(listed)) == {f.name for f in fields(Candidate)}
    assert vars(listed) == vars(Candidate("foo", Version("1.0"), (made,)))
