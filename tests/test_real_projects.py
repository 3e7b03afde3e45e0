"""Locks shaped like real projects: what is fetched or built, failed builds, static pyproject metadata, markers."""

from __future__ import annotations

import tomllib
from pathlib import Path

from typer.testing import CliRunner

from indexbuilder import IndexServer, build_index, installed_wheel, make_sdist, make_wheel, project_toml
from satlock.cli.main import app

runner = CliRunner()

FAILING_SETUP_PY = "raise SystemExit('this sdist must never be built')\n"


def write_project(root: Path, dependencies=(), **kwargs) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(project_toml(dependencies, **kwargs))
    return root


def lock(project: Path, url: str, *args: str):
    return runner.invoke(app, ["lock", "--project", str(project), "--index-url", url, *args])


def packages(project: Path) -> dict[str, dict]:
    data = tomllib.loads((project / "pylock.toml").read_text())
    return {p["name"]: p for p in data["packages"]}


def versions(project: Path) -> dict[str, str]:
    return {n: p["version"] for n, p in packages(project).items()}


def unbuildable_sdist(dest: Path, name: str, version: str) -> Path:
    """A legacy sdist whose dependencies are only known by running its failing setup.py."""
    return make_sdist(dest, name, version, pyproject="", setup_py=FAILING_SETUP_PY, metadata_version="1.1")


# -- 1. expansion follows preferences ------------------------------------------------------


def test_an_old_sdist_no_preference_chose_is_never_downloaded(tmp_path):
    # The shape of ["setuptools", "scrapyd==1.6.0"]: the newest st is dropped by a later
    # requirement (st<81); a model may pick any old st, but the answer is the newest below 81.
    d = tmp_path / "d"
    dists = [unbuildable_sdist(d, "st", f"0.{i}") for i in range(1, 10)]
    dists += [make_wheel(d, "st", "80.0"), make_wheel(d, "st", "80.1"), make_wheel(d, "st", "82.0"),
              make_wheel(d, "scr", "1.6.0", requires=["st<81", "other"]),
              make_sdist(d, "other", "1.0"), make_wheel(d, "scr", "1.7.0", requires=["st"])]
    build_index(tmp_path / "index", dists)
    root = tmp_path / "index"
    project = write_project(tmp_path / "p", ["st", "scr==1.6.0"])
    with IndexServer(root) as server:
        result = lock(project, server.url + "/simple/")
        assert result.exit_code == 0, result.output
        fetched = [path for _, path, _ in server.requests if path.startswith("/files/")]
    assert versions(project) == {"other": "1.0", "scr": "1.6.0", "st": "80.1"}
    assert not [p for p in fetched if p.startswith("/files/st-") and p.endswith(".tar.gz")]


# -- 4. markers say exactly when a package is needed ----------------------------------------


def test_a_package_only_a_group_needs_on_the_target_is_marked_for_that_group(tmp_path):
    # The base requirement on te is for old Pythons only: on 3.11 only the group reaches it.
    d = tmp_path / "d"
    url = build_index(tmp_path / "index", [make_wheel(d, "te", "4.0"), make_wheel(d, "tool", "1.0", requires=["te"])]).as_uri()
    project = write_project(tmp_path / "p", ["te; python_version < '3.8'"], groups={"dev": ["tool"]})
    result = lock(project, url, "--python-version", "3.11")
    assert result.exit_code == 0, result.output
    locked = packages(project)
    assert locked["te"]["marker"] == '"dev" in dependency_groups'
    assert locked["tool"]["marker"] == '"dev" in dependency_groups'


def test_an_extra_whose_requirement_is_for_another_platform_adds_nothing_to_the_marker(tmp_path):
    # tz is needed through the group (always) and through the extra only on windows; the
    # lock is for linux, so only the group path counts, directly or through a package's extra.
    d = tmp_path / "d"
    url = build_index(tmp_path / "index", [
        make_wheel(d, "tz", "2024.1"), make_wheel(d, "lib", "1.0", extras={"tz": ["tz; sys_platform == 'win32'"]}),
        make_wheel(d, "frame", "1.0", requires=["tz"])]).as_uri()
    project = write_project(tmp_path / "p", [], optional={"timezone": ["tz; sys_platform == 'win32'"], "libtz": ["lib[tz]"]},
                            groups={"data": ["frame"]})
    result = lock(project, url, "--platform", "linux")
    assert result.exit_code == 0, result.output
    locked = packages(project)
    assert locked["tz"]["marker"] == '"data" in dependency_groups'
    assert locked["lib"]["marker"] == '"libtz" in extras'


def test_a_package_only_a_windows_extra_needs_is_not_locked_for_linux(tmp_path):
    d = tmp_path / "d"
    url = build_index(tmp_path / "index", [make_wheel(d, "tz", "2024.1"), make_wheel(d, "a", "1.0")]).as_uri()
    project = write_project(tmp_path / "p", ["a"], optional={"timezone": ["tz; sys_platform == 'win32'"]})
    result = lock(project, url, "--platform", "linux")
    assert result.exit_code == 0, result.output
    assert versions(project) == {"a": "1.0"}


# -- 2. a failed build is a fact about one candidate ---------------------------------------


def _tools(tmp_path: Path) -> list[Path]:
    """Real setuptools on the local index, so a build really runs (and its setup.py fails)."""
    return [installed_wheel(n, tmp_path / "tools") for n in ("setuptools",)]


def test_a_candidate_whose_build_fails_is_left_out_the_older_locked_version_says_so_and_v_says_why(tmp_path):
    d = tmp_path / "d"
    url = build_index(tmp_path / "index", [*_tools(tmp_path), unbuildable_sdist(d, "a", "2.0"),
                                           make_wheel(d, "a", "1.0", requires=["b"]), make_wheel(d, "b", "1.0")]).as_uri()
    project = write_project(tmp_path / "p", ["a"])
    result = lock(project, url, "-v")
    assert result.exit_code == 0, result.output
    assert versions(project) == {"a": "1.0", "b": "1.0"}
    warnings = [line for line in result.output.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 2
    assert warnings[0].startswith("warning: a 1.0 is locked, not a 2.0, which could not be built: the get_requires_for_build_wheel hook")
    assert warnings[1].startswith("warning: left out a 2.0, which could not be built: the get_requires_for_build_wheel hook")
    assert "(this sdist must never be built); full log: " in warnings[1]
    # Without -v, the one line that says a newer version was passed over (uv stops at that build).
    quiet = lock(project, url, "--upgrade")
    assert quiet.exit_code == 0
    assert [line for line in quiet.output.splitlines() if line.startswith("warning: ")] == [warnings[0]]


def test_an_older_version_left_out_below_the_locked_one_gives_no_warning(tmp_path):
    # c 2.0 wants a<1, whose one version (0.5) fails to build: c falls back to 1.0 and a 1.0
    # is locked; only -v mentions 0.5, which is older than what is locked.
    d = tmp_path / "d"
    url = build_index(tmp_path / "index", [*_tools(tmp_path), unbuildable_sdist(d, "a", "0.5"), make_wheel(d, "a", "1.0"),
                                           make_wheel(d, "c", "1.0"), make_wheel(d, "c", "2.0", requires=["a<1"])]).as_uri()
    project = write_project(tmp_path / "p", ["c", "a"])
    result = lock(project, url, "-v")
    assert result.exit_code == 0, result.output
    assert versions(project) == {"a": "1.0", "c": "1.0"}
    warnings = [line for line in result.output.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1 and warnings[0].startswith("warning: left out a 0.5, which could not be built"), result.output


def test_every_newer_version_left_out_is_counted_in_the_one_warning(tmp_path):
    d = tmp_path / "d"
    url = build_index(tmp_path / "index", [*_tools(tmp_path), *(unbuildable_sdist(d, "a", v) for v in ("2.0", "3.0", "4.0")),
                                           make_wheel(d, "a", "1.0")]).as_uri()
    project = write_project(tmp_path / "p", ["a"])
    result = lock(project, url)
    assert result.exit_code == 0, result.output
    assert versions(project) == {"a": "1.0"}
    (warning,) = [line for line in result.output.splitlines() if line.startswith("warning: ")]
    assert warning.startswith("warning: a 1.0 is locked, not a 4.0, which could not be built")
    assert warning.endswith("; 2 other newer versions too (-v lists them)")


def test_a_newer_version_another_locked_package_rules_out_gives_no_warning_though_its_build_failed(tmp_path):
    # c asks for a<2: a 2.0 could never be locked, so its failed build changed nothing and
    # a warning that a 1.0 is locked "not a 2.0" would send the user after the wrong cause.
    d = tmp_path / "d"
    url = build_index(tmp_path / "index", [*_tools(tmp_path), unbuildable_sdist(d, "a", "2.0"), make_wheel(d, "a", "1.0"),
                                           make_wheel(d, "c", "1.0", requires=["a<2"])]).as_uri()
    project = write_project(tmp_path / "p", ["a", "c"])
    result = lock(project, url)
    assert result.exit_code == 0, result.output
    assert versions(project) == {"a": "1.0", "c": "1.0"}
    assert "warning" not in result.output, result.output


def test_when_only_an_unbuildable_version_fits_the_conflict_story_says_it_could_not_be_built(tmp_path):
    d = tmp_path / "d"
    url = build_index(tmp_path / "index", [*_tools(tmp_path), unbuildable_sdist(d, "a", "2.0"),
                                           make_wheel(d, "a", "1.0")]).as_uri()
    project = write_project(tmp_path / "p", ["a>=2"])
    result = lock(project, url)
    assert result.exit_code == 1
    assert "  - a 2.0 could not be built: the get_requires_for_build_wheel hook exited with code 1 (" in result.output
    story = next(line for line in result.output.splitlines() if "could not be built" in line)
    assert "this sdist must never be built" in story and "full log: " in story
    assert "Traceback" not in result.output and not (project / "pylock.toml").exists()


def test_a_build_failure_ending_in_a_banner_is_summed_up_by_its_last_words_not_the_banner(tmp_path):
    # The shape of tensorrt-cu12-libs (wheel-stub): the build's output ends in a box of
    # asterisks; the story's one-line reason must quote a line that says something.
    d = tmp_path / "d"
    setup_py = "print('cannot download the real wheel from the vendor index')\nprint('*' * 79)\nraise SystemExit(1)\n"
    url = build_index(tmp_path / "index", [*_tools(tmp_path), make_wheel(d, "a", "1.0"),
                                           make_sdist(d, "a", "2.0", pyproject="", setup_py=setup_py, metadata_version="1.1")]).as_uri()
    project = write_project(tmp_path / "p", ["a>=2"])
    result = lock(project, url)
    assert result.exit_code == 1
    story = next(line for line in result.output.splitlines() if "could not be built" in line)
    assert "(cannot download the real wheel from the vendor index); full log: " in story, result.output
    assert "***" not in story


def test_versions_that_fail_to_build_for_the_same_reason_are_one_line_of_the_story(tmp_path):
    # The shape of ["torch-scatter"]: every sdist's build imports torch; the story must not
    # repeat the same reason and hint once per version.
    d = tmp_path / "d"
    url = build_index(tmp_path / "index", [*_tools(tmp_path), *(unbuildable_sdist(d, "a", v) for v in ("2.0", "2.1", "2.10"))]).as_uri()
    project = write_project(tmp_path / "p", ["a"])
    result = lock(project, url)
    assert result.exit_code == 1
    story = [line for line in result.output.splitlines() if "could not be built" in line]
    assert len(story) == 1, result.output
    assert story[0].startswith("  - a 2.10, 2.1, 2.0 could not be built: the get_requires_for_build_wheel hook")
    assert story[0].count("full log: ") == 1 and story[0].endswith("(for 2.10)")


def test_a_failed_build_of_a_profiled_package_still_fails_the_lock(tmp_path):
    d = tmp_path / "d"
    url = build_index(tmp_path / "index", [*_tools(tmp_path), unbuildable_sdist(d, "a", "2.0"),
                                           make_wheel(d, "a", "1.0")]).as_uri()
    project = write_project(tmp_path / "p", ["a"], tool='[tool.satlock.profiles.a]\nenv = { A_FLAG = "1" }\n')
    result = lock(project, url)
    assert result.exit_code == 1
    assert result.output.startswith("error: building a failed:")
    assert not (project / "pylock.toml").exists()


# -- 3. static metadata from pyproject.toml --------------------------------------------------

# A backend that cannot even be installed: if satlock ever ran it, the build environment
# would ask the index for "no-such-backend" and fail.
FAILING_BACKEND = '[build-system]\nrequires = ["no-such-backend"]\nbuild-backend = "no_such_backend"\n\n'


def static_pyproject(name: str, version: str, dependencies: list[str], optional: str = "", dynamic: str = "") -> str:
    deps = ", ".join(f'"{d}"' for d in dependencies)
    return (FAILING_BACKEND + f'[project]\nname = "{name}"\nversion = "{version}"\nrequires-python = ">=3.8"\n'
            f'dependencies = [{deps}]\n{dynamic}' + (f"\n[project.optional-dependencies]\n{optional}" if optional else ""))


# A backend that exists but stops as soon as it is imported: lock may resolve and record
# it as the sdist's build environment (for `sync --frozen`), but must never run it.
TRIPWIRE_BACKEND = '[build-system]\nrequires = ["tripwire-backend"]\nbuild-backend = "tripwire_backend"\n\n'


def test_an_sdist_with_static_pyproject_metadata_locks_without_running_its_backend(tmp_path):
    d = tmp_path / "d"
    pyproject = static_pyproject("s", "2.0", ["b>=1"], optional='Fast = ["c; python_version >= \'3\'"]')
    sdist = make_sdist(d, "s", "2.0", pkg_info=False, pyproject=pyproject.replace(FAILING_BACKEND, TRIPWIRE_BACKEND))
    tripwire = make_wheel(d, "tripwire-backend", "1.0",
                          files={"tripwire_backend.py": "raise SystemExit('tripwire: the build backend was run')\n"})
    build_index(tmp_path / "index", [sdist, tripwire, make_wheel(d, "s", "1.0"), make_wheel(d, "b", "1.0"),
                                     make_wheel(d, "c", "1.0")])
    project = write_project(tmp_path / "p", ["s[fast]"])
    with IndexServer(tmp_path / "index") as server:
        result = lock(project, server.url + "/simple/", "-v")
    assert result.exit_code == 0, result.output
    # Had the backend run, s 2.0 would have been left out (with a warning) for the 1.0 wheel.
    assert versions(project) == {"b": "1.0", "c": "1.0", "s": "2.0"}
    assert "warning" not in result.output and "tripwire" not in result.output


def test_a_dynamic_dependencies_field_is_not_read_as_static(tmp_path):
    # dependencies listed in dynamic: only the (failing) backend can tell, so 2.0 is left out.
    d = tmp_path / "d"
    sdist = make_sdist(d, "s", "2.0", pkg_info=False,
                       pyproject=static_pyproject("s", "2.0", [], dynamic='dynamic = ["dependencies"]\n'))
    url = build_index(tmp_path / "index", [sdist, make_wheel(d, "s", "1.0")]).as_uri()
    project = write_project(tmp_path / "p", ["s"])
    result = lock(project, url, "-v")
    assert result.exit_code == 0, result.output
    assert versions(project) == {"s": "1.0"}
    assert "warning: left out s 2.0, which could not be built: " in result.output


def test_path_and_git_sources_with_static_pyproject_metadata_lock_without_a_build(tmp_path):
    import subprocess

    url = build_index(tmp_path / "index", [make_wheel(tmp_path / "d", "b", "1.0"), make_wheel(tmp_path / "d", "c", "1.0")]).as_uri()
    folder = tmp_path / "local"
    folder.mkdir()
    (folder / "pyproject.toml").write_text(static_pyproject("local-pkg", "0.3", ["b"]))
    repo = tmp_path / "repo"
    (repo / "sub").mkdir(parents=True)
    (repo / "sub" / "pyproject.toml").write_text(static_pyproject("git-pkg", "0.7", ["c"]))
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.invalid", "HOME": str(tmp_path), "PATH": __import__("os").environ["PATH"]}
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "first"]):
        subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)
    tool = ('[tool.satlock.sources]\nlocal-pkg = { path = "../local" }\n'
            f'git-pkg = {{ git = "{repo.as_uri()}", subdirectory = "sub" }}\n')
    project = write_project(tmp_path / "p", ["local-pkg", "git-pkg"], tool=tool)
    result = lock(project, url)
    assert result.exit_code == 0, result.output
    assert versions(project) == {"b": "1.0", "c": "1.0", "git-pkg": "0.7", "local-pkg": "0.3"}


def _pyproject(project: str) -> bytes:
    return (FAILING_BACKEND + "[project]\n" + project).encode()


def test_static_pyproject_metadata_guards_optional_dependencies_by_their_extra():
    from satlock.resolver.pyprojectmeta import static_metadata

    name, version, deps = static_metadata(_pyproject(
        'name = "Pkg_One"\nversion = "1.0"\ndependencies = ["a"]\n'
        '[project.optional-dependencies]\nWin_Only = ["b; os_name == \'nt\' or sys_platform == \'win32\'"]\n'))
    assert (name, str(version), deps.provides_extras) == ("pkg-one", "1.0", frozenset({"win-only"}))
    b = next(r for r in deps.requires if r.name == "b")
    env = {"os_name": "nt", "sys_platform": "linux"}
    assert b.marker.evaluate({**env, "extra": "win-only"}) and not b.marker.evaluate({**env, "extra": ""})
    assert not b.marker.evaluate({"os_name": "posix", "sys_platform": "linux", "extra": "win-only"})


def test_pyproject_metadata_that_is_dynamic_incomplete_or_invalid_is_left_to_the_build():
    from satlock.resolver.pyprojectmeta import MAX_PYPROJECT_BYTES, static_metadata

    for project in ['name = "p"\ndynamic = ["version"]\ndependencies = []\n',
                    'name = "p"\nversion = "1"\ndynamic = ["dependencies"]\n',
                    'name = "p"\nversion = "1"\ndynamic = ["optional-dependencies"]\n',
                    'name = "p"\nversion = "1"\ndynamic = ["requires-python"]\n',
                    'version = "1"\ndependencies = []\n',
                    'name = "p"\nversion = "1"\ndependencies = ["not a requirement!"]\n',
                    'name = "p"\nversion = "one"\n',
                    'name = "p"\nversion = "1"\ndependencies = "a"\n',
                    'name = "p"\nversion = "1"\nrequires-python = 3\n']:
        assert static_metadata(_pyproject(project)) is None, project
    assert static_metadata(b"[project\n") is None
    assert static_metadata(b"a = " + b"[" * 100_000 + b"]" * 100_000) is None
    padded = _pyproject('name = "p"\nversion = "1"\n') + b"#" * MAX_PYPROJECT_BYTES
    assert static_metadata(padded) is None


def test_an_sdist_whose_pyproject_names_another_version_is_not_read_as_static(tmp_path):
    d = tmp_path / "d"
    sdist = make_sdist(d, "s", "2.0", pkg_info=False, pyproject=static_pyproject("s", "0.0.0", []))
    url = build_index(tmp_path / "index", [sdist, make_wheel(d, "s", "1.0")]).as_uri()
    project = write_project(tmp_path / "p", ["s"])
    result = lock(project, url)
    assert result.exit_code == 0, result.output
    assert versions(project) == {"s": "1.0"}


def test_a_walk_back_batches_wheels_only_and_never_fetches_older_unbuildable_sdists(tmp_path):
    # a 12..6 all conflict with the project's b==1, so a walks back (and is batch-expanded)
    # to 5; the sdist-only a 4..1 below it are never the answer and must never be fetched.
    d = tmp_path / "d"
    dists = [make_wheel(d, "a", f"{v}.0", requires=["b>=2"]) for v in range(6, 13)]
    dists += [make_wheel(d, "a", "5.0", requires=["b"]), make_wheel(d, "b", "1.0"), make_wheel(d, "b", "2.0")]
    dists += [unbuildable_sdist(d, "a", f"{v}.0") for v in range(1, 5)]
    build_index(tmp_path / "index", dists)
    project = write_project(tmp_path / "p", ["a", "b==1"])
    with IndexServer(tmp_path / "index") as server:
        result = lock(project, server.url + "/simple/")
        fetched = [path for _, path, _ in server.requests if path.startswith("/files/")]
    assert result.exit_code == 0, result.output
    assert versions(project) == {"a": "5.0", "b": "1.0"}
    assert not [p for p in fetched if p.endswith(".tar.gz")]


def test_an_sdist_only_version_here_reads_its_metadata_from_another_platforms_wheel_without_a_build(tmp_path):
    # mariadb's shape: on linux only an sdist whose setup.py needs a system tool, while the
    # same release has a Windows wheel. Its metadata answers, as uv reads it; nothing is built.
    d = tmp_path / "d"
    sdist = make_sdist(d, "dbdriver", "1.1", dynamic=["Requires-Dist"], requires=["ignored-by-a-build"], pyproject="",
                       setup_py="raise SystemExit('tripwire: dbdriver setup.py was run')\n")
    win = make_wheel(d, "dbdriver", "1.1", requires=["packaging-helper>=1", "winonly; sys_platform == 'win32'"],
                     tag="cp312-cp312-win_amd64")
    build_index(tmp_path / "index", [sdist, win, make_wheel(d, "packaging-helper", "1.0"), make_wheel(d, "winonly", "1.0")])
    project = write_project(tmp_path / "p", ["dbdriver==1.1"])
    with IndexServer(tmp_path / "index") as server:
        result = lock(project, server.url + "/simple/", "-v", "--platform", "linux")
    assert result.exit_code == 0, result.output
    assert versions(project) == {"dbdriver": "1.1", "packaging-helper": "1.0"}
    assert "tripwire" not in result.output and "warning" not in result.output
    lock_text = (project / "pylock.toml").read_text()
    assert "win_amd64" not in lock_text and "dbdriver-1.1.tar.gz" in lock_text


# -- targets: --platform as real wheels are tagged ------------------------------------------


def test_a_macos_lock_uses_wheels_tagged_for_older_macos_and_universal2(tmp_path):
    # The shape of ["jupyterlab"] --platform macos: pyyaml, cffi, tornado... publish
    # macosx_11_0_arm64 or macosx_10_9_universal2 wheels; a 13.0 arm64 Mac runs them.
    d = tmp_path / "d"
    url = build_index(tmp_path / "index", [
        make_wheel(d, "a", "1.0", tag="cp312-cp312-macosx_11_0_arm64"), make_sdist(d, "a", "1.0"),
        make_wheel(d, "b", "1.0", tag="cp312-cp312-macosx_10_9_universal2"), make_sdist(d, "b", "1.0"),
        make_wheel(d, "c", "1.0", tag="cp312-cp312-macosx_10_9_x86_64"), make_sdist(d, "c", "1.0")]).as_uri()
    project = write_project(tmp_path / "p", ["a", "b", "c"])
    result = lock(project, url, "--python-version", "3.12", "--platform", "macos")
    assert result.exit_code == 0, result.output
    wheels = {n: [w["name"] for w in p.get("wheels", [])] for n, p in packages(project).items()}
    assert wheels == {"a": ["a-1.0-cp312-cp312-macosx_11_0_arm64.whl"],
                      "b": ["b-1.0-cp312-cp312-macosx_10_9_universal2.whl"], "c": []}


def test_platform_macos_takes_wheels_macos_13_runs_and_not_newer_ones(tmp_path):
    # torch's newest releases publish macosx_14_0_arm64 wheels only: --platform macos, like
    # uv's --python-platform macos, is macOS 13.0 and locks the release before them.
    d = tmp_path / "d"
    url = build_index(tmp_path / "index", [make_wheel(d, "t", "1.0", tag="cp312-cp312-macosx_13_0_arm64"),
                                           make_wheel(d, "t", "2.0", tag="cp312-cp312-macosx_14_0_arm64")]).as_uri()
    project = write_project(tmp_path / "p", ["t"])
    result = lock(project, url, "--python-version", "3.12", "--platform", "macos")
    assert result.exit_code == 0, result.output
    assert versions(project) == {"t": "1.0"}
    result = lock(project, url, "--upgrade", "--python-version", "3.12", "--platform", "macosx_14_0_arm64")
    assert result.exit_code == 0, result.output
    assert versions(project) == {"t": "2.0"}


def test_a_platform_given_as_a_wheel_tag_evaluates_markers_as_that_platform(tmp_path):
    d = tmp_path / "d"
    url = build_index(tmp_path / "index", [make_wheel(d, "w", "1.0"), make_wheel(d, "l", "1.0")]).as_uri()
    project = write_project(tmp_path / "p", ['w; sys_platform == "win32"', 'l; sys_platform == "linux"'])
    result = lock(project, url, "--python-version", "3.12", "--platform", "win_amd64")
    assert result.exit_code == 0, result.output
    assert versions(project) == {"w": "1.0"}
    assert 'sys_platform == "win32" and platform_machine == "AMD64"' in tomllib.loads((project / "pylock.toml").read_text())["environments"][0]


def test_an_sdist_only_version_reads_its_wheel_for_another_python_instead_of_building(tmp_path):
    # The shape of ["pandas==1.3.5"] on Python 3.12: wheels only for older Pythons, and an
    # sdist whose setup.py no longer runs; uv reads a wheel's metadata, and so must satlock.
    d = tmp_path / "d"
    url = build_index(tmp_path / "index", [
        *_tools(tmp_path), unbuildable_sdist(d, "a", "1.0"),
        make_wheel(d, "a", "1.0", requires=["b"], tag="cp37-cp37m-manylinux_2_17_x86_64"),
        make_wheel(d, "b", "1.0")]).as_uri()
    project = write_project(tmp_path / "p", ["a==1.0"])
    result = lock(project, url, "--python-version", "3.12", "--platform", "linux")
    assert result.exit_code == 0, result.output
    assert versions(project) == {"a": "1.0", "b": "1.0"}
    a = packages(project)["a"]
    assert "wheels" not in a and a["sdist"]["name"] == "a-1.0.tar.gz"


def test_a_lower_bound_above_every_published_version_is_named_in_the_story(tmp_path):
    # The shape of polars[polars-cloud] (polars_cloud>=0.13.0 while 0.12.0 is the newest on the index).
    d = tmp_path / "d"
    url = build_index(tmp_path / "index", [make_wheel(d, "polars_cloud", v) for v in ("0.10.0", "0.11.3", "0.12.0")]).as_uri()
    project = write_project(tmp_path / "p", ["polars_cloud>=0.13.0"])
    result = lock(project, url)
    assert result.exit_code == 1
    assert "  - polars-cloud has no installable version matching >=0.13.0 (the newest is 0.12.0)" in result.output, result.output


def test_a_pin_of_a_version_the_index_lacks_names_the_newest_published_version(tmp_path):
    # A user's typo in a pin (sqlparse==0.9.1 while 0.6.1 is the newest): the story must say
    # which version to pin instead, as it does for sqlparse>=0.9.1.
    d = tmp_path / "d"
    url = build_index(tmp_path / "index", [make_wheel(d, "sqlparse", v) for v in ("0.5.0", "0.6.1")]).as_uri()
    project = write_project(tmp_path / "p", ["sqlparse==0.9.1"])
    result = lock(project, url)
    assert result.exit_code == 1
    assert "  - sqlparse has no installable version matching ==0.9.1 (the newest is 0.6.1)" in result.output, result.output


def test_a_requirement_only_the_projects_own_pin_leaves_unmet_is_not_said_to_match_no_published_version(tmp_path):
    # The project pins a==1.0, so no other version of a is fetched; b needs a>=2,<3. Versions
    # 2.0 to 5.0 are on the index: the story must not say 1.0 is the newest, nor that
    # nothing matches, without naming the pin.
    d = tmp_path / "d"
    url = build_index(tmp_path / "index", [*(make_wheel(d, "a", v) for v in ("1.0", "2.0", "3.0", "4.0", "5.0")),
                                           make_wheel(d, "b", "1.0", requires=["a>=2,<3"])]).as_uri()
    project = write_project(tmp_path / "p", ["a==1.0", "b"])
    result = lock(project, url)
    assert result.exit_code == 1
    assert "the newest is 1.0" not in result.output, result.output
    line = next(line for line in result.output.splitlines() if line.startswith("  - a "))
    assert "2.0" in line and "a==1.0" in line, result.output


def test_a_version_left_out_is_named_once_when_several_unmet_requirements_would_take_it(tmp_path):
    # The shape of jax pinning libtpu: b 1.0 asks a>=2, b 2.0 asks a>=2.5, and a 3.0 (which
    # both would take) has no wheel for the target: one reason per version, not one per requirement.
    d = tmp_path / "d"
    url = build_index(tmp_path / "index", [make_wheel(d, "a", "1.0"), make_wheel(d, "a", "2.0", tag="py3-none-win_amd64"),
                                           make_wheel(d, "a", "3.0", tag="py3-none-win_amd64"),
                                           make_wheel(d, "b", "1.0", requires=["a>=2"]),
                                           make_wheel(d, "b", "2.0", requires=["a>=2.5"])]).as_uri()
    project = write_project(tmp_path / "p", ["b"])
    result = lock(project, url, "--platform", "linux")
    assert result.exit_code == 1
    line = next(line for line in result.output.splitlines() if "no installable version" in line)
    assert line.count("3.0:") == 1 and line.count("2.0:") == 1, result.output


def test_a_pinned_version_without_a_wheel_for_the_target_is_named_in_the_story(tmp_path):
    # The shape of ["tensorflow==2.4.0"] on 3.12: the story must say why 2.4.0 is out, not
    # list the oldest versions' reasons and claim the package has no installable version.
    d = tmp_path / "d"
    url = build_index(tmp_path / "index", [
        *(make_wheel(d, "t", v, tag="cp37-cp37m-manylinux_2_17_x86_64") for v in ("0.1", "0.2", "0.3", "2.4.0")),
        make_wheel(d, "t", "2.20.0")]).as_uri()
    project = write_project(tmp_path / "p", ["t==2.4.0"])
    result = lock(project, url, "--python-version", "3.12", "--platform", "linux")
    assert result.exit_code == 1
    assert "  - t has no installable version matching ==2.4.0 (2.4.0: no wheel for Python 3.12 on this platform)" in result.output, result.output
