"""A ``{dist:NAME}`` that names nothing in its environment says whose environment that is and what it holds.

It named the environment's site-packages, and a build environment is a temporary folder
in the cache, removed by the time the error is read. The case a user meets: a profile
given a ``{dist:NAME}`` after the lock was written, then ``sync --frozen``, which builds
with the lock's record as it is.
"""

from __future__ import annotations

import os
from importlib.metadata import version

import pytest

from test_build_records_stale import project_with_index
from test_build_variants import build_log, dists, index, index_root, invoke  # noqa: F401


@pytest.mark.parametrize("flags", [(), ("--no-isolation",)], ids=["isolated", "no-isolation"])
def test_a_dist_template_the_locked_build_environment_lacks_names_the_environment_not_its_folder(tmp_path, index, flags):
    project = project_with_index(tmp_path / "proj", ["capper", "moveext"], index)
    result = invoke("profile", "add", "moveext", "--build-requires", "buildhelper", "--version", "0.1",
                    "--requires-dist", "buildhelper<2", *flags, "--project", project)
    assert result.exit_code == 0, result.output
    assert invoke("lock", "--project", project).exit_code == 0
    result = invoke("profile", "add", "moveext", "--env", "HELPER={dist:packaging}", "--project", project)
    assert result.exit_code == 0, result.output
    result = invoke("sync", "--frozen", "--project", project)
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    setuptools = f"setuptools {version('setuptools')}"
    # A no-isolation build runs in .venv, which stays, with the recorded tools .venv lacks beside it.
    where, held = (("the build environment of moveext", f"buildhelper 1.0, {setuptools}") if not flags else
                   (f"{project / '.venv'} or the build-only tools of moveext", f"buildhelper 1.0, capper 1.0, {setuptools}, zlibx 5.0"))
    assert errors == [f"error: [tool.satlock.profiles.moveext] env.HELPER: {{dist:packaging}}: no package in {where} "
                      f"is packaging (it holds {held})"], result.output
    assert ("hint: {dist:packaging} brings packaging into the build environment the lock records: if the profile changed "
            "since the lock was written, run `satlock lock`") in result.output
    assert os.environ["SATLOCK_CACHE_DIR"] not in result.output
    result = invoke("sync", "--project", project)  # locks again (the profile changed), and builds
    assert result.exit_code == 0, result.output
