"""PEP 517 hook calls, build environments and the built-wheel cache.

Hooks run with the dev interpreter (which has setuptools) as a non-isolated build, or
with a build environment holding a tiny wheel and an in-tree backend, so nothing needs
the network.
"""

from __future__ import annotations

import sys
import types
import zipfile
from pathlib import Path

import pytest
from indexbuilder import make_sdist, make_wheel, sha256_of

from satlock.buildenv import environment, pep517, sources, wheelcache
from satlock.errors import BuildError, ProjectError
from satlock.cache import Cache

PYTHON = Path(sys.executable)


@pytest.fixture
def suggestions(monkeypatch):
    """Record what the build asks ``suggest_fix`` and answer with a fixed profile change."""
    asked: list[tuple[str, str]] = []

    def fake_suggest_fix(package: str, log: str, *, cuda_home: str | None = None) -> str | None:
        asked.append((package, log))
        return f"satlock profile add {package} --build-requires torch"

    try:
        import satlock.profiles.suggest as module
    except ImportError:
        module = types.ModuleType("satlock.profiles.suggest")
        monkeypatch.setitem(sys.modules, "satlock.profiles.suggest", module)
    monkeypatch.setattr(module, "suggest_fix", fake_suggest_fix, raising=False)
    return asked


@pytest.fixture
def cache(tmp_path) -> Cache:
    return Cache(tmp_path / "cache")


def _tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def _legacy_project(root: Path, setup_py: str) -> Path:
    return _tree(root, {"setup.py": setup_py, "legacy/__init__.py": ""})


def test_prepare_metadata_of_an_sdist_lists_its_dependencies(tmp_path, cache):
    sdist = make_sdist(tmp_path / "dists", "foo", "1.0", requires=["bar>=1"])
    tree = sources.from_sdist(sdist, sha256_of(sdist), cache)
    info = pep517.prepare_metadata(tree.path, python=PYTHON, env={}, log_path=tmp_path / "log.txt", package="foo",
                                   out_dir=tmp_path / "meta")
    assert info.name == "foo-1.0.dist-info"
    assert "Requires-Dist: bar>=1" in (info / "METADATA").read_text().splitlines()


def test_project_without_pyproject_builds_with_the_legacy_setuptools_backend(tmp_path):
    tree = _legacy_project(tmp_path / "src", 'from setuptools import setup\nsetup(name="legacy", version="1.0", packages=["legacy"])\n')
    system = pep517.build_system(tree)
    assert (system.backend, system.requires) == ("setuptools.build_meta:__legacy__", ["setuptools>=40.8.0"])
    wheel = pep517.build_wheel(tree, python=PYTHON, env={}, out_dir=tmp_path / "out", log_path=tmp_path / "log.txt",
                               package="legacy")
    assert wheel.name == "legacy-1.0-py3-none-any.whl"
    assert "legacy/__init__.py" in zipfile.ZipFile(wheel).namelist()


def test_pyproject_without_build_system_uses_the_legacy_backend(tmp_path):
    tree = _tree(tmp_path, {"pyproject.toml": "[tool.black]\nline-length = 100\n"})
    assert pep517.build_system(tree).backend == "setuptools.build_meta:__legacy__"


def test_malformed_pyproject_is_a_project_error_naming_the_file(tmp_path):
    tree = _tree(tmp_path, {"pyproject.toml": "[build-system\nrequires = []\n"})
    with pytest.raises(ProjectError, match="pyproject.toml is not valid TOML"):
        pep517.build_system(tree)
    (tree / "pyproject.toml").write_text('[build-system]\nrequires = ["not a requirement!!"]\n')
    with pytest.raises(ProjectError, match="invalid build requirement"):
        pep517.build_system(tree)


def test_failed_build_reports_package_error_line_log_path_and_suggestion(tmp_path, suggestions):
    tree = _legacy_project(tmp_path / "src", "import torchlike\nfrom setuptools import setup\nsetup(name='flashy', version='1.0')\n")
    log = tmp_path / "logs" / "flashy.log"
    with pytest.raises(BuildError) as err:
        pep517.prepare_metadata(tree, python=PYTHON, env={}, log_path=log, package="flashy", out_dir=tmp_path / "m")
    message = err.value.message
    assert message.startswith("building flashy failed")
    assert "No module named 'torchlike'" in message
    assert str(log) in message
    assert len(message.splitlines()) <= 20
    assert err.value.hint == "satlock profile add flashy --build-requires torch"
    assert suggestions[0][0] == "flashy" and "No module named 'torchlike'" in suggestions[0][1]
    assert "No module named 'torchlike'" in log.read_text()


def test_profile_environment_reaches_the_build_hook(tmp_path, suggestions):
    tree = _legacy_project(tmp_path / "src", "import os\nfrom setuptools import setup\n"
                                             "setup(name='envy', version=os.environ['MY_VAR'])\n")
    with pytest.raises(BuildError, match="KeyError: 'MY_VAR'"):
        pep517.prepare_metadata(tree, python=PYTHON, env={}, log_path=tmp_path / "log1", package="envy", out_dir=tmp_path / "a")
    info = pep517.prepare_metadata(tree, python=PYTHON, env={"MY_VAR": "2.5"}, log_path=tmp_path / "log2", package="envy",
                                   out_dir=tmp_path / "b")
    assert info.name == "envy-2.5.dist-info"


def test_verbose_build_streams_the_backend_output_and_still_logs_it(tmp_path, capfd):
    tree = _legacy_project(tmp_path / "src", "from setuptools import setup\nprint('hello from setup.py')\n"
                                             "setup(name='chatty', version='1.0')\n")
    pep517.prepare_metadata(tree, python=PYTHON, env={}, log_path=tmp_path / "log", package="chatty",
                            out_dir=tmp_path / "meta", echo=True)
    assert "[chatty] hello from setup.py" in capfd.readouterr().err
    assert "hello from setup.py" in (tmp_path / "log").read_text()


def test_callers_pythonpath_does_not_leak_into_the_hook(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "elsewhere"))
    env = pep517.hook_environment(PYTHON, {"CUDA_HOME": "/opt/cuda"})
    assert "PYTHONPATH" not in env
    assert env["CUDA_HOME"] == "/opt/cuda"


IN_TREE_BACKEND = '''
import zipfile
{imports}

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    name = "intree-0.1-py3-none-any.whl"
    info = "intree-0.1.dist-info"
    with zipfile.ZipFile(wheel_directory + "/" + name, "w") as zf:
        zf.writestr("intree/__init__.py", "")
        zf.writestr(info + "/METADATA", "Metadata-Version: 2.1\\nName: intree\\nVersion: 0.1\\nRequires-Dist: {dep}\\n")
        zf.writestr(info + "/WHEEL", "Wheel-Version: 1.0\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n")
        zf.writestr(info + "/RECORD", "")
    return name
'''


def _in_tree_backend_project(root: Path, *, imports: str = "", dep: str = "baz") -> Path:
    return _tree(root, {
        "pyproject.toml": '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["_build"]\n',
        "_build/backend.py": IN_TREE_BACKEND.format(imports=imports, dep=dep),
    })


def test_backend_without_metadata_hook_gets_metadata_from_a_built_wheel(tmp_path):
    tree = _in_tree_backend_project(tmp_path / "src")
    info = pep517.prepare_metadata(tree, python=PYTHON, env={}, log_path=tmp_path / "log", package="intree",
                                   out_dir=tmp_path / "meta")
    assert info == tmp_path / "meta" / "intree-0.1.dist-info"
    assert "Requires-Dist: baz" in (info / "METADATA").read_text()
    assert [p.name for p in (tmp_path / "meta").iterdir()] == ["intree-0.1.dist-info"]


def test_backend_that_cannot_be_imported_is_a_build_error(tmp_path, suggestions):
    tree = _tree(tmp_path / "src", {"pyproject.toml": '[build-system]\nrequires = []\nbuild-backend = "nosuch_backend"\n'})
    with pytest.raises(BuildError, match="build backend 'nosuch_backend' cannot be imported"):
        pep517.build_wheel(tree, python=PYTHON, env={}, out_dir=tmp_path / "out", log_path=tmp_path / "log", package="x")


def test_source_date_epoch_is_passed_to_the_backend(tmp_path):
    backend_check = "import os\nassert os.environ['SOURCE_DATE_EPOCH'] == '315532800'"
    tree = _in_tree_backend_project(tmp_path / "src", imports=backend_check)
    wheel = pep517.build_wheel(tree, python=PYTHON, env={}, out_dir=tmp_path / "out", log_path=tmp_path / "log",
                               package="intree", source_date_epoch=315532800)
    assert wheel.is_file()


def _helper_wheel(tmp_path: Path) -> tuple[str, str, Path, str]:
    wheel = make_wheel(tmp_path / "wheels", "helperlib", "1.0", files={"helperlib/answer.py": "VALUE = 42\n"})
    return ("helperlib", "1.0", wheel, sha256_of(wheel))


def test_build_env_has_its_wheels_and_is_reused_within_a_run(tmp_path, cache, monkeypatch):
    spec = environment.BuildEnvSpec([_helper_wheel(tmp_path)])
    venv = environment.ensure_build_env(spec, cache, base_python=PYTHON)
    assert (venv.purelib / "helperlib" / "answer.py").is_file()

    from satlock.buildenv import install

    def no_install(*args, **kwargs):
        raise AssertionError("a build environment this run made was made again")

    monkeypatch.setattr(install, "install_wheel", no_install)
    again = environment.ensure_build_env(environment.BuildEnvSpec([_helper_wheel(tmp_path)]), cache, base_python=PYTHON)
    assert again.root == venv.root


def test_build_runs_in_the_build_env_with_its_wheels(tmp_path, cache):
    venv = environment.ensure_build_env(environment.BuildEnvSpec([_helper_wheel(tmp_path)]), cache, base_python=PYTHON)
    tree = _in_tree_backend_project(tmp_path / "src", imports="import helperlib.answer")
    wheel = pep517.build_wheel(tree, python=venv.python, env={}, out_dir=tmp_path / "out", log_path=tmp_path / "log",
                               package="intree")
    assert wheel.name == "intree-0.1-py3-none-any.whl"


def test_build_env_is_removed_when_the_run_ends_and_the_next_run_makes_its_own(tmp_path, cache):
    spec = environment.BuildEnvSpec([_helper_wheel(tmp_path)])
    venv = environment.ensure_build_env(spec, cache, base_python=PYTHON)
    (venv.purelib / "planted.pth").write_text("import os\n")
    cache.close()
    assert not venv.root.exists()
    following = environment.ensure_build_env(spec, Cache(cache.root), base_python=PYTHON)
    assert (following.purelib / "helperlib" / "answer.py").is_file()
    assert not (following.purelib / "planted.pth").exists()


def test_build_env_hash_depends_on_wheel_contents_not_their_paths(tmp_path):
    name, version, wheel, sha = _helper_wheel(tmp_path)
    moved = tmp_path / "elsewhere" / wheel.name
    moved.parent.mkdir()
    moved.write_bytes(wheel.read_bytes())
    assert environment.BuildEnvSpec([(name, version, wheel, sha)]).spec_hash == \
        environment.BuildEnvSpec([(name, version, moved, sha)]).spec_hash
    assert environment.BuildEnvSpec([(name, version, wheel, sha)]).spec_hash != \
        environment.BuildEnvSpec([(name, version, wheel, "0" * 64)]).spec_hash


def test_built_wheel_and_metadata_are_found_only_under_the_same_keys(tmp_path, cache):
    wheel = make_wheel(tmp_path / "built", "foo", "1.0", tag="cp311-cp311-linux_x86_64")
    stored = wheelcache.store_wheel(cache, "git:abc", "profile1", "env1", wheel)
    assert stored.name == wheel.name and stored.read_bytes() == wheel.read_bytes()
    assert wheelcache.cached_wheel(cache, "git:abc", "profile1", "env1") == stored
    assert wheelcache.cached_wheel(cache, "git:abc", "profile2", "env1") is None
    assert wheelcache.cached_wheel(cache, "git:abd", "profile1", "env1") is None

    wheelcache.store_metadata(cache, "sha", "profile1", "env1", b"Metadata-Version: 2.1\n")
    assert wheelcache.cached_metadata(cache, "sha", "profile1", "env1") == b"Metadata-Version: 2.1\n"
    assert wheelcache.cached_metadata(cache, "sha", "profile1", "env2") is None


def test_damaged_cached_wheel_is_dropped(tmp_path, cache):
    wheel = make_wheel(tmp_path / "built", "foo", "1.0")
    stored = wheelcache.store_wheel(cache, "src", "p", "e", wheel)
    stored.write_bytes(b"not a zip")
    assert wheelcache.cached_wheel(cache, "src", "p", "e") is None
    assert not stored.exists()


@pytest.mark.parametrize("answer, message", [("'setuptools'", "not a list of requirements"),
                                             ("[1]", "not a list of requirements"),
                                             ("['not valid!']", "which is not a valid requirement")])
def test_a_backend_answering_get_requires_with_anything_but_requirements_is_a_build_error(tmp_path, answer, message):
    tree = _tree(tmp_path / "src", {
        "pyproject.toml": '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["_build"]\n',
        "_build/backend.py": f"def get_requires_for_build_wheel(config_settings=None):\n    return {answer}\n"})
    with pytest.raises(BuildError, match=message):
        pep517.get_requires_for_build_wheel(tree, python=PYTHON, env={}, log_path=tmp_path / "log", package="x")
