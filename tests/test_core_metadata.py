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


@pytest.mark.parametrize(("marker", "holds"), [('implementation_name === "pypy"', False),
                                               ('implementation_name === "cpython"', True),
                                               ('python_version === "3.12"', True)])
def test_arbitrary_equality_in_a_marker_compares_strings(marker: str, holds: bool) -> None:
    """pyzmq 20.0.0 declares ``py ; implementation_name === "pypy"``: packaging refuses to
    evaluate it; PEP 440 defines ``===`` as string equality, so it holds exactly then."""
    from packaging.markers import Marker

    from satlock.resolver.matching import evaluate_marker

    env = {"implementation_name": "cpython", "python_version": "3.12", "python_full_version": "3.12.4"}
    assert evaluate_marker(Marker(marker), env) is holds


def test_a_lock_through_an_arbitrary_equality_marker_follows_it(tmp_path) -> None:
    import os
    import subprocess
    import sys

    from indexbuilder import build_index, make_wheel, project_toml

    dists = tmp_path / "dists"
    wheels = [make_wheel(dists, "pyzmq", "20.0.0", requires=['py; implementation_name === "pypy"',
                                                             'zz; implementation_name === "cpython"']),
              make_wheel(dists, "py", "1.0"), make_wheel(dists, "zz", "1.0")]
    index = build_index(tmp_path / "index", wheels)
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text(project_toml(["pyzmq"]))
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("SATLOCK_")}, "SATLOCK_CACHE_DIR": str(tmp_path / "c")}
    proc = subprocess.run([sys.executable, "-m", "satlock", "lock", "--index-url", index.as_uri() + "/"],
                          capture_output=True, text=True, cwd=project, env=env)
    assert proc.returncode == 0, proc.stderr
    lock = (project / "pylock.toml").read_text()
    assert 'name = "zz"' in lock and 'name = "py"' not in lock


@pytest.mark.parametrize("marker", ["'x' in extras", "'dev' in dependency_groups"])
def test_a_lock_file_marker_in_a_packages_metadata_is_a_metadata_error(marker: str) -> None:
    """Only a lock file's markers may name ``extras`` or ``dependency_groups`` (PEP 751):
    one in a package's metadata is its error, one line, not a packaging traceback."""
    from packaging.markers import Marker

    from satlock.resolver.matching import evaluate_marker

    with pytest.raises(MetadataError, match="lock file"):
        evaluate_marker(Marker(marker), {"python_version": "3.12", "extra": ""})
