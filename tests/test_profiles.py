import difflib
import os
import stat
from pathlib import Path

import pytest
import tomlkit

from satlock.errors import ProfileError, ProjectError
from satlock.profiles.edit import add_profile, list_profiles, remove_profile, show_profile, write_text_atomic
from satlock.profiles.schema import Profile, parse_profiles, profile_hash
from satlock.profiles.suggest import suggest_fix
from satlock.profiles.templates import TemplateContext, dist_location, expand, expand_env, template_names


def profiles_of(text: str):
    return parse_profiles(tomlkit.parse(text)["tool"]["satlock"]["profiles"], source="pyproject.toml")


def error_of(table) -> str:
    with pytest.raises(ProfileError) as err:
        parse_profiles(table, source="pyproject.toml")
    message = str(err.value)
    assert "\n" not in message and "pydantic" not in message
    return message


# --- schema -----------------------------------------------------------------------------------

FULL = """
[tool.satlock.profiles.Diff_Surfel-Rasterization]
build-requires = ["torch", "setuptools", "ninja"]
match-runtime = true
isolation = false
env = { CUDA_HOME = "{cuda-home}", TORCH_CUDA_ARCH_LIST = "8.0", EXTRA = "{site-packages}/x" }
config-settings = { "--build-option" = "--foo", "--global-option" = ["a", "b"] }
metadata = { version = "0.1.0", requires-dist = ["torch"], requires-python = ">=3.9" }
"""


def test_profile_table_parses_under_its_normalized_name():
    profiles = profiles_of(FULL)
    assert list(profiles) == ["diff-surfel-rasterization"]
    p = profiles["diff-surfel-rasterization"]
    assert p.build_requires == ["torch", "setuptools", "ninja"]
    assert p.isolation is False and p.match_runtime is True
    assert p.env["CUDA_HOME"] == "{cuda-home}"
    assert p.config_settings == {"--build-option": "--foo", "--global-option": ["a", "b"]}
    assert p.metadata.version == "0.1.0" and p.metadata.requires_dist == ["torch"]


def test_empty_profile_has_the_documented_defaults():
    p = parse_profiles({"foo": {}}, source="pyproject.toml")["foo"]
    assert (p.build_requires, p.match_runtime, p.isolation, p.env, p.config_settings, p.metadata) == (
        [], True, True, {}, {}, None)


def test_unknown_key_is_one_line_naming_file_profile_and_key():
    assert error_of({"foo": {"buil-requires": ["x"]}}) == "pyproject.toml: [tool.satlock.profiles.foo] unknown key 'buil-requires'"
    assert error_of({"foo": {"metadata": {"versoin": "1"}}}).endswith("[tool.satlock.profiles.foo] metadata: unknown key 'versoin'")


def test_invalid_requirement_is_reported_with_its_position():
    message = error_of({"foo": {"build-requires": ["torch", "torch>>2"]}})
    assert message.startswith("pyproject.toml: [tool.satlock.profiles.foo] build-requires[1]: 'torch>>2' is not a valid requirement (")


def test_unknown_template_lists_the_known_ones():
    assert error_of({"foo": {"env": {"CUDA_HOME": "{cuda_home}"}}}) == (
        "pyproject.toml: [tool.satlock.profiles.foo] env.CUDA_HOME: unknown template '{cuda_home}' "
        "(known: {python}, {venv}, {site-packages}, {dist:NAME}, {cuda-home})")


@pytest.mark.parametrize("table, where", [
    ({"isolation": "no"}, "isolation:"),
    ({"build-requires": "torch"}, "build-requires:"),
    ({"env": {"X": 1}}, "env.X:"),
    ({"env": {"X": "{venv"}}, "env.X: unbalanced '{'"),
    ({"env": {"{cuda-home}": "/opt/cuda"}}, "env.{cuda-home}.[key]: '{cuda-home}' is not a valid environment variable name"
                                            " (templates are expanded in values only)"),
    ({"env": {" A": "1"}}, "env[' A'].[key]: ' A' is not a valid environment variable name (it holds a space or a control character)"),
    ({"env": {"X\x1b[31mC": "1"}}, "env['X\\x1b[31mC'].[key]: 'X\\x1b[31mC' is not a valid environment variable name"),
    ({"env": {"A\nB": "1"}}, "env['A\\nB'].[key]: 'A\\nB' is not a valid environment variable name"),
    ({"config-settings": {"a": 1}}, "config-settings.a: expected a string or a list of strings"),
    ({"metadata": {"version": "x.y"}}, "metadata.version: 'x.y' is not a valid version"),
    ({"metadata": {"requires-python": "3.9"}}, "metadata.requires-python:"),
])
def test_wrong_values_are_one_line_naming_the_key(table, where):
    assert f"[tool.satlock.profiles.foo] {where}" in error_of({"foo": table})


def test_two_profiles_for_the_same_package_are_refused():
    assert "'Foo_Bar' and 'foo-bar' are the same package" in error_of({"Foo_Bar": {}, "foo-bar": {}})


def test_profile_must_be_a_table():
    assert error_of({"foo": ["torch"]}) == "pyproject.toml: [tool.satlock.profiles.foo] must be a table, not list"


def test_profile_hash_ignores_key_order_and_spelled_out_defaults_but_not_values():
    a = Profile.model_validate({"build-requires": ["torch"], "env": {"A": "1", "B": "2"}})
    b = Profile.model_validate({"env": {"B": "2", "A": "1"}, "isolation": True, "build-requires": ["torch"]})
    c = Profile.model_validate({"build-requires": ["torch"], "env": {"A": "1", "B": "3"}})
    assert profile_hash(a) == profile_hash(b) != profile_hash(c)
    assert len(profile_hash(a)) == 64


# --- templates ----------------------------------------------------------------------------------

def context(tmp_path, calls):
    def cuda_home():
        calls.append("cuda")
        return tmp_path / "cuda"

    def locate(name):
        calls.append(name)
        return tmp_path / "sp" / name
    return TemplateContext(python=tmp_path / "bin/python", venv=tmp_path, site_packages=tmp_path / "sp",
                           dist_locator=locate, cuda_home=cuda_home)


def test_templates_expand_as_plain_strings_and_lookups_are_lazy(tmp_path):
    calls = []
    ctx = context(tmp_path, calls)
    assert expand("{python} $HOME $(id) `id` {{venv}}", ctx) == f"{tmp_path}/bin/python $HOME $(id) `id` {{venv}}"
    assert calls == []
    assert expand_env({"A": "{dist:torch}/lib", "B": "{cuda-home}"}, ctx, profile="x") == {
        "A": f"{tmp_path}/sp/torch/lib", "B": f"{tmp_path}/cuda"}
    assert calls == ["torch", "cuda"]


def test_template_names_are_checked_when_validating():
    assert template_names("{venv}/{dist:nvidia-cuda-nvcc}{{x}}") == ["venv", "dist:nvidia-cuda-nvcc"]
    for bad in ("{pyhton}", "{venv", "venv}", "{dist:}", "{dist:no such}"):
        with pytest.raises(ProfileError):
            template_names(bad)


def installed(site: Path, name: str, files: dict[str, str]) -> None:
    info = site / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    for rel, text in files.items():
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        (site / rel).write_text(text)
    records = [*files, f"{info.name}/METADATA", f"{info.name}/RECORD", "../../../bin/tool"]
    (info / "RECORD").write_text("".join(f"{r},,\n" for r in records))


def test_dist_template_is_the_folder_the_distribution_installed(tmp_path):
    site = tmp_path / "site"
    installed(site, "Nvidia_Cuda_Nvcc", {"nvidia/cu13/bin/nvcc": "x", "nvidia/cu13/include/a.h": ""})
    installed(site, "nvidia-cuda-runtime-cu12", {
        "nvidia/__init__.py": "", "nvidia/cuda_runtime/__init__.py": "", "nvidia/cuda_runtime/lib/libcudart.so.12": ""})
    installed(site, "plainpkg", {"plainpkg/__init__.py": "", "plainpkg/sub/mod.py": "x = 1\n"})
    assert dist_location(site, "nvidia-cuda-nvcc") == site / "nvidia" / "cu13"
    assert dist_location(site, "nvidia-cuda-runtime-cu12") == site / "nvidia" / "cuda_runtime"
    assert dist_location(site, "PlainPkg") == site / "plainpkg"


def test_dist_template_for_a_missing_distribution_says_to_add_it(tmp_path):
    with pytest.raises(ProfileError) as err:
        dist_location(tmp_path, "nvidia-cuda-nvcc")
    assert err.value.message == f"{{dist:nvidia-cuda-nvcc}}: no package in {tmp_path} is nvidia-cuda-nvcc (it holds nothing)"
    assert "dependencies" in err.value.hint


def test_dist_template_missing_from_a_build_environment_names_it_and_what_it_holds_not_its_folder(tmp_path):
    # A build environment is a temporary folder, gone when the error is read.
    site, tools = tmp_path / "site", tmp_path / "tools"
    installed(site, "BuildHelper", {"buildhelper/__init__.py": ""})
    installed(tools, "setuptools", {"setuptools/__init__.py": ""})
    with pytest.raises(ProfileError) as err:
        dist_location(site, "torch", fallback=tools, where="the build environment of moveext")
    assert err.value.message == ("{dist:torch}: no package in the build environment of moveext is torch "
                                 "(it holds buildhelper 1.0, setuptools 1.0)")
    assert str(tmp_path) not in err.value.message + err.value.hint
    assert "run `satlock lock`" in err.value.hint
    # .venv may hold hundreds: an error names a dozen.
    for i in range(13):
        installed(site, f"pkg{i:02d}", {})
    with pytest.raises(ProfileError) as err:
        dist_location(site, "torch", where=".venv")
    assert err.value.message.endswith("(it holds buildhelper 1.0, pkg00 1.0, pkg01 1.0, pkg02 1.0, pkg03 1.0, pkg04 1.0, "
                                      "pkg05 1.0, pkg06 1.0, pkg07 1.0, pkg08 1.0, pkg09 1.0, pkg10 1.0 and 2 more)")
    # Found in the fallback (a no-isolation build's build-only tools) when the first lacks it.
    assert dist_location(site, "setuptools", fallback=tools, where="x") == tools / "setuptools"


def test_dist_template_of_a_distribution_without_files_names_it_not_a_folder(tmp_path):
    installed(tmp_path, "meta", {})
    with pytest.raises(ProfileError) as err:
        dist_location(tmp_path, "meta", where="the build environment of moveext")
    assert err.value.message == ("{dist:meta}: meta in the build environment of moveext installed no files into its "
                                 "site-packages, so there is no folder to name")
    assert str(tmp_path) not in err.value.message


# --- editing pyproject.toml ---------------------------------------------------------------------

COMMENTED = """\
# A project with comments everywhere.
[project]
name = "demo"   # keep this alignment
version = "1.0"
dependencies = [
    # the big one
    "torch>=2",
    "diff-surfel-rasterization",
]

# satlock settings
[tool.satlock]
index-url = "http://127.0.0.1:1/simple"  # local

[tool.satlock.profiles.other]
build-requires = ["numpy"]   # why numpy

# formatter settings below
[tool.ruff]
line-length = 100
"""


def test_adding_a_profile_changes_nothing_but_the_new_table():
    out = add_profile(COMMENTED, "Diff_Surfel_Rasterization", build_requires=["torch", "ninja"],
                      env={"CUDA_HOME": "{cuda-home}"}, isolation=False)
    diff = [line for line in difflib.ndiff(COMMENTED.splitlines(True), out.splitlines(True)) if line[0] in "+-"]
    assert diff == [
        "+ [tool.satlock.profiles.diff-surfel-rasterization]\n",
        '+ build-requires = ["torch", "ninja"]\n',
        "+ isolation = false\n",
        '+ env = {CUDA_HOME = "{cuda-home}"}\n',
        "+ \n",
    ]
    assert list_profiles(out)["diff-surfel-rasterization"].isolation is False


def test_adding_to_a_file_without_tool_tables_appends_the_table():
    out = add_profile('[project]\nname = "x"', "flash_attn", build_requires=["torch"], version="2.0",
                      requires_dist=["torch", "einops"])
    assert out == ('[project]\nname = "x"\n\n[tool.satlock.profiles.flash-attn]\nbuild-requires = ["torch"]\n'
                   'metadata = {version = "2.0", requires-dist = ["torch", "einops"]}\n')


def test_updating_a_profile_merges_into_it_in_place():
    first = add_profile(COMMENTED, "x", build_requires=["torch", "ninja"], env={"A": "1"}, isolation=False)
    second = add_profile(first, "X", build_requires=["torch>=2.4", "setuptools", "ninja"], env={"B": "{venv}"},
                         isolation=True, match_runtime=False, config_settings={"--build-option": ["--cuda"]})
    p = list_profiles(second)["x"]
    assert p.build_requires == ["torch>=2.4", "ninja", "setuptools"]
    assert p.env == {"A": "1", "B": "{venv}"}
    assert (p.isolation, p.match_runtime) == (True, False)
    assert p.config_settings == {"--build-option": ["--cuda"]}
    assert second.count("[tool.satlock.profiles.x]") == 1
    assert second.endswith("# formatter settings below\n[tool.ruff]\nline-length = 100\n")


def test_new_keys_go_before_the_comment_of_the_next_table():
    text = '[tool.satlock.profiles.x]\nbuild-requires = [\n    "a",  # why a\n]\n\n# next\n[tool.ruff]\nx = 1\n'
    out = add_profile(text, "x", build_requires=["b"], isolation=False)
    assert out == ('[tool.satlock.profiles.x]\nbuild-requires = [\n    "a",  # why a\n    "b",\n]\nisolation = false\n'
                   '\n# next\n[tool.ruff]\nx = 1\n')


@pytest.mark.parametrize("change", [
    {"build_requires": ["torch>>2"]},
    {"env": {"CUDA_HOME": "{cuda_home}"}},
    {"version": "not a version"},
])
def test_invalid_additions_are_refused_with_one_line(change):
    with pytest.raises(ProfileError) as err:
        add_profile(COMMENTED, "other", **change)
    assert str(err.value).startswith("pyproject.toml: [tool.satlock.profiles.other] ")
    assert "\n" not in str(err.value)


def test_invalid_toml_is_a_project_error():
    with pytest.raises(ProjectError):
        add_profile("[project\n", "x", build_requires=["a"])


def test_removing_a_profile_restores_the_file_byte_for_byte():
    added = add_profile(COMMENTED, "new", build_requires=["torch"])
    assert remove_profile(added, "NEW") == COMMENTED
    without_other = remove_profile(COMMENTED, "other")
    assert "profiles" not in without_other
    assert "# formatter settings below\n[tool.ruff]" in without_other


def test_removing_a_missing_profile_names_the_existing_ones():
    with pytest.raises(ProfileError) as err:
        remove_profile(COMMENTED, "nope")
    assert "'nope'" in err.value.message and "other" in err.value.hint


def test_show_profile_gives_the_table_as_written():
    assert show_profile(COMMENTED, "Other") == '[tool.satlock.profiles.other]\nbuild-requires = ["numpy"]   # why numpy\n'


def test_list_profiles_of_a_file_without_any_is_empty():
    assert list_profiles('[project]\nname = "x"\n') == {}


def test_write_text_atomic_replaces_the_file_and_keeps_its_mode(tmp_path):
    path = tmp_path / "pyproject.toml"
    path.write_text("old\n")
    os.chmod(path, 0o640)
    write_text_atomic(path, "new ✓\n")
    assert path.read_bytes() == "new ✓\n".encode()
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["pyproject.toml"]


# --- suggestions from build logs --------------------------------------------------------------

TORCH_LOG = """\
Traceback (most recent call last):
  File "setup.py", line 3, in <module>
    from torch.utils.cpp_extension import CUDAExtension, BuildExtension
ModuleNotFoundError: No module named 'torch'
"""


def test_missing_torch_suggests_a_profile_building_against_the_installed_torch():
    fix = suggest_fix("diff-surfel-rasterization", TORCH_LOG)
    assert fix.splitlines()[0] == "satlock profile add diff-surfel-rasterization --build-requires torch --no-isolation"


@pytest.mark.parametrize("line, dist", [
    ("ModuleNotFoundError: No module named 'cv2'", "opencv-python"),
    ("ImportError: No module named yaml", "PyYAML"),
    ("ModuleNotFoundError: No module named 'skbuild.cmaker'", "scikit-build"),
    ("ModuleNotFoundError: No module named 'pkg_resources'", "setuptools"),
    ("ModuleNotFoundError: No module named 'somelib'", "somelib"),
])
def test_missing_module_maps_to_the_distribution_providing_it(line, dist):
    assert suggest_fix("pkg", line).splitlines()[0] == f"satlock profile add pkg --build-requires {dist}"


def test_cuda_home_in_the_log_suggests_the_cuda_home_template_and_the_nvcc_wheel():
    log = TORCH_LOG + "OSError: CUDA_HOME environment variable is not set. Please set it to your CUDA install root.\n"
    fix = suggest_fix("pkg", log)
    assert fix.splitlines()[0] == (
        "satlock profile add pkg --build-requires torch --no-isolation --env CUDA_HOME={cuda-home}")
    assert "nvidia-cuda-nvcc" in fix
    assert "nvidia-cuda-runtime-cu12" not in fix and "system toolkit" in fix  # the cu12 wheels have no nvcc


def test_a_log_without_a_known_cause_gets_no_suggestion():
    assert suggest_fix("pkg", "error: command 'gcc' failed: No such file or directory") is None
    assert suggest_fix("mypkg", "ModuleNotFoundError: No module named 'mypkg'") is None


def test_no_profile_builds_exactly_as_the_default_pydantic_profile_would() -> None:
    """NO_PROFILE is plain data (so a lock without profiles never imports pydantic); every
    field of the schema's Profile must read the same on it as on Profile(match_runtime=False)."""
    from satlock.profiles.builds import NO_PROFILE, build_profile, profile_key

    default = Profile(**{"match-runtime": False})
    assert set(Profile.model_fields) == set(NO_PROFILE.__dataclass_fields__)
    for name in Profile.model_fields:
        assert getattr(NO_PROFILE, name) == getattr(default, name), name
        assert type(getattr(NO_PROFILE, name)) is type(getattr(default, name)), name
    assert build_profile({}, "x") is NO_PROFILE and profile_key(NO_PROFILE) == "no-profile"
    own = parse_profiles({"x": {"match-runtime": False}}, source="pyproject.toml")
    assert build_profile(own, "x") is own["x"] and profile_key(own["x"]) == profile_hash(own["x"])


@pytest.mark.parametrize("nvcc", ["nvcc", "nvcc.exe"])
def test_a_cuda_home_log_of_a_build_whose_cuda_home_has_nvcc_suggests_nothing_on_any_system(tmp_path, nvcc):
    """torch prints CUDA_HOME on every machine without a GPU; a Windows toolkit's compiler is bin/nvcc.exe."""
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / nvcc).write_text("")
    log = f"No CUDA runtime is found, using CUDA_HOME='{tmp_path}'\nerror: some compile error\n"
    assert suggest_fix("pkg", log, cuda_home=str(tmp_path)) is None
