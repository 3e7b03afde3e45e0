"""Reading a wheel's METADATA: what the solver needs comes from the header fields only."""

from __future__ import annotations

import pytest
from packaging.requirements import Requirement

from satlock.errors import MetadataError
from satlock.resolver.coremeta import parse_metadata

HEADERS = (b"Metadata-Version: 2.1\nName: demo\nVersion: 1.2\nRequires-Python: >=3.8\n"
           b"Requires-Dist: alpha>=1\nRequires-Dist: beta; extra == \"fast\"\nProvides-Extra: fast\n")


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
def test_dependencies_come_from_the_headers_whatever_the_line_ends(newline: bytes) -> None:
    body = b"# Demo\n\nRequires-Dist: evil\n\nName: other\n" * 50
    data = (HEADERS + b"\n" + body).replace(b"\n", newline)
    name, version, deps = parse_metadata(data, "demo")
    assert (name, str(version)) == ("demo", "1.2")
    assert [str(r) for r in deps.requires] == [str(Requirement("alpha>=1")), str(Requirement('beta; extra == "fast"'))]
    assert str(deps.requires_python) == ">=3.8" and deps.provides_extras == {"fast"}


def test_a_file_of_headers_only_and_one_with_a_long_description_read_the_same() -> None:
    bare = parse_metadata(HEADERS, "demo")
    described = parse_metadata(HEADERS + b"\n" + b"Long text \xff\xfe not even UTF-8\n" * 1000, "demo")
    assert (bare[0], bare[1], bare[2].requires, bare[2].provides_extras) == (described[0], described[1], described[2].requires,
                                                                    described[2].provides_extras)


def test_a_name_only_in_the_description_is_still_no_name() -> None:
    with pytest.raises(MetadataError, match="no Name or Version"):
        parse_metadata(b"Metadata-Version: 2.1\n\nName: demo\nVersion: 1.0\n", "demo")
