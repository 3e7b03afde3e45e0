import os
import platform
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from indexbuilder import make_wheel
from satlock.buildenv.cuda import MERGED_DIR, assemble_cuda_home, template_context
from satlock.buildenv.venv import Venv
from satlock.errors import BuildError
from satlock.profiles.templates import expand_env


def install(wheel: Path, site: Path) -> None:
    """Unpack a wheel the way an installer does, keeping executable bits."""
    with zipfile.ZipFile(wheel) as zf:
        for info in zf.infolist():
            target = Path(zf.extract(info, site))
            mode = info.external_attr >> 16
            if mode & 0o111:
                target.chmod(0o755)


def wheel(tmp_path: Path, site: Path, name: str, files: dict[str, str]) -> None:
    install(make_wheel(tmp_path / "wheels", name, "1.0", files=files), site)


def record_only(site: Path, name: str, files: dict[str, str]) -> None:
    """A distribution installed with exactly ``files`` (make_wheel adds a module of its own)."""
    info = site / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    for rel, text in files.items():
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        (site / rel).write_text(text)
    (info / "RECORD").write_text("".join(f"{rel},,\n" for rel in [*files, f"{info.name}/METADATA", f"{info.name}/RECORD"]))


def cu13(tmp_path: Path, site: Path, *, runtime: bool = True) -> None:
    wheel(tmp_path, site, "nvidia-cuda-nvcc", {
        "nvidia/cu13/bin/nvcc": "#!/bin/sh\n",
        "nvidia/cu13/bin/nvcc.profile": "TOP = $(_HERE_)/..\n",
        "nvidia/cu13/include/fatbinary_section.h": "",
    })
    wheel(tmp_path, site, "nvidia-cuda-crt", {"nvidia/cu13/include/crt/host_config.h": ""})
    wheel(tmp_path, site, "nvidia-nvvm", {"nvidia/cu13/nvvm/bin/cicc": "", "nvidia/cu13/lib/libnvvm.so.4": ""})
    if runtime:
        wheel(tmp_path, site, "nvidia-cuda-runtime", {
            "nvidia/cu13/include/cuda_runtime.h": "", "nvidia/cu13/lib/libcudart.so.13": "",
        })


def cu12(tmp_path: Path, site: Path, *, nvcc: bool = True) -> None:
    if nvcc:
        wheel(tmp_path, site, "nvidia-cuda-nvcc-cu12", {
            "nvidia/__init__.py": "",
            "nvidia/cuda_nvcc/__init__.py": "",
            "nvidia/cuda_nvcc/bin/nvcc": "#!/bin/sh\n",
            "nvidia/cuda_nvcc/bin/ptxas": "",
            "nvidia/cuda_nvcc/include/__init__.py": "",
            "nvidia/cuda_nvcc/include/crt/host_config.h": "",
            "nvidia/cuda_nvcc/nvvm/bin/cicc": "",
            "nvidia/cuda_nvcc/nvvm/libdevice/libdevice.10.bc": "",
        })
    wheel(tmp_path, site, "nvidia-cuda-runtime-cu12", {
        "nvidia/__init__.py": "",
        "nvidia/cuda_runtime/__init__.py": "",
        "nvidia/cuda_runtime/include/__init__.py": "",
        "nvidia/cuda_runtime/include/cuda_runtime.h": "",
        "nvidia/cuda_runtime/include/crt/cuda_runtime_extra.h": "",
        "nvidia/cuda_runtime/lib/__init__.py": "",
        "nvidia/cuda_runtime/lib/libcudart.so.12": "",
    })


@pytest.fixture
def env(tmp_path):
    venv = tmp_path / "venv"
    site = venv / "lib" / "python3.11" / "site-packages"
    site.mkdir(parents=True)
    return venv, site


def test_cuda13_home_is_the_shared_prefix(tmp_path, env):
    venv, site = env
    cu13(tmp_path, site)
    home = assemble_cuda_home(site, venv)
    assert home == site / "nvidia" / "cu13"
    assert (home / "bin" / "nvcc").is_file()
    assert (home / "include" / "cuda_runtime.h").is_file()
    assert (home / "lib" / "libcudart.so.13").is_file()
    assert not (venv / MERGED_DIR).exists()


def test_cuda12_parts_are_merged_into_one_tree_of_links(tmp_path, env):
    venv, site = env
    cu12(tmp_path, site)
    home = assemble_cuda_home(site, venv)
    assert home == venv / MERGED_DIR
    assert (home / "bin" / "nvcc").resolve() == (site / "nvidia/cuda_nvcc/bin/nvcc").resolve()
    assert (home / "include" / "cuda_runtime.h").is_file()
    assert (home / "include" / "crt" / "host_config.h").is_file()
    assert (home / "include" / "crt" / "cuda_runtime_extra.h").is_file()
    assert (home / "nvvm" / "bin" / "cicc").is_file()
    assert (home / "lib64" / "libcudart.so.12").is_file()
    assert (home / "lib64" / "libcudart.so").resolve() == (site / "nvidia/cuda_runtime/lib/libcudart.so.12").resolve()
    assert (home / "lib" / "libcudart.so.12").is_file()
    assert not (home / "include" / "__init__.py").exists()


def test_cuda12_tree_is_rebuilt_to_follow_what_is_installed(tmp_path, env):
    venv, site = env
    cu12(tmp_path, site)
    first = assemble_cuda_home(site, venv)
    wheel(tmp_path, site, "nvidia-cublas-cu12", {"nvidia/cublas/include/cublas_v2.h": "", "nvidia/cublas/lib/libcublas.so.12": ""})
    second = assemble_cuda_home(site, venv)
    assert first == second
    assert (second / "include" / "cublas_v2.h").is_file()
    assert (second / "lib64" / "libcublas.so").exists()
    assert sorted(p.name for p in venv.iterdir()) == ["lib", MERGED_DIR]


def test_cuda12_tree_already_up_to_date_is_left_in_place_for_builds_using_it(tmp_path, env):
    """Builds in a cached build environment can run in two satlock processes sharing the cache:
    assembling CUDA_HOME again for one must not take away the folder the other's build reads."""
    venv, site = env
    cu12(tmp_path, site)
    home = assemble_cuda_home(site, venv)
    before = (home.stat().st_ino, (home / "bin").stat().st_ino, os.readlink(home / "bin" / "nvcc"))
    again = assemble_cuda_home(site, venv)
    assert again == home
    assert (home.stat().st_ino, (home / "bin").stat().st_ino, os.readlink(home / "bin" / "nvcc")) == before
    assert sorted(p.name for p in venv.iterdir()) == ["lib", MERGED_DIR]


def test_other_packages_with_include_and_lib_are_not_merged(tmp_path, env):
    venv, site = env
    cu12(tmp_path, site)
    wheel(tmp_path, site, "torch", {"torch/include/torch/extension.h": "", "torch/lib/libtorch.so": ""})
    home = assemble_cuda_home(site, venv)
    assert not (home / "include" / "torch").exists()
    assert not (home / "lib64" / "libtorch.so").exists()


def test_missing_nvcc_names_the_package_to_add_and_not_the_cu12_wheel_that_lacks_nvcc(tmp_path, env):
    venv, site = env
    with pytest.raises(BuildError) as err:
        assemble_cuda_home(site, venv)
    assert "nvcc" in err.value.message and str(site) in err.value.message
    assert "add nvidia-cuda-nvcc, nvidia-cuda-runtime" in err.value.hint
    # Following the hint must not lead to the next missing-nvcc error.
    assert "or nvidia-cuda-nvcc-cu12" not in err.value.hint and "system toolkit" in err.value.hint


def test_missing_nvcc_next_to_cuda12_wheels_says_the_cu12_wheel_lacks_the_driver(tmp_path, env):
    venv, site = env
    cu12(tmp_path, site, nvcc=False)
    with pytest.raises(BuildError) as err:
        assemble_cuda_home(site, venv)
    assert "nvidia-cuda-nvcc-cu12" in err.value.hint and "system toolkit" in err.value.hint


def test_missing_cuda_runtime_names_the_runtime_package(tmp_path, env):
    venv, site = env
    cu13(tmp_path, site, runtime=False)
    with pytest.raises(BuildError) as err:
        assemble_cuda_home(site, venv)
    assert "cuda_runtime.h" in err.value.message
    assert "nvidia-cuda-runtime" in err.value.hint


def test_missing_nvcc_in_a_build_environment_names_what_it_holds_not_its_folder(tmp_path, env):
    """A build environment is a temporary folder, gone when the error is read: the error
    names the environment, the wheels it held and the wheel that provides nvcc instead."""
    venv, site = env
    # As the real CUDA 12 wheel: ptxas and headers, no nvcc driver.
    wheel(tmp_path, site, "nvidia-cuda-nvcc-cu12", {"nvidia/__init__.py": "", "nvidia/cuda_nvcc/__init__.py": "",
                                                    "nvidia/cuda_nvcc/bin/ptxas": "", "nvidia/cuda_nvcc/include/crt/host_config.h": ""})
    cu12(tmp_path, site, nvcc=False)
    with pytest.raises(BuildError) as err:
        assemble_cuda_home(site, venv, where="the build environment of cudaext")
    assert err.value.message == ("{cuda-home} needs the CUDA compiler bin/nvcc, which the CUDA 13 wheel nvidia-cuda-nvcc "
                                 "provides, and no package in the build environment of cudaext has it (it holds "
                                 "nvidia-cuda-nvcc-cu12 1.0, nvidia-cuda-runtime-cu12 1.0)")
    assert str(venv) not in err.value.message + err.value.hint
    assert "add nvidia-cuda-nvcc to the project for CUDA 13" in err.value.hint
    assert "nvidia-cuda-nvcc-cu12 ships ptxas and headers but not the nvcc driver" in err.value.hint


def test_missing_cuda_runtime_in_a_build_environment_names_the_wheel_not_its_folder(tmp_path, env):
    venv, site = env
    cu13(tmp_path, site, runtime=False)
    with pytest.raises(BuildError) as err:
        assemble_cuda_home(site, venv, where="the build environment of cudaext")
    assert err.value.message == ("{cuda-home} has no include/cuda_runtime.h, which the wheel nvidia-cuda-runtime provides, "
                                 "and no package in the build environment of cudaext has it "
                                 "(it holds nvidia-cuda-crt 1.0, nvidia-cuda-nvcc 1.0, nvidia-nvvm 1.0)")
    assert str(venv) not in err.value.message + err.value.hint


def test_a_template_context_names_its_environment_in_the_cuda_home_error(tmp_path, env):
    venv, site = env
    v = Venv(root=venv, python=venv / "bin" / "python", purelib=site, platlib=site, scripts=venv / "bin",
             data=venv, python_version="3.11.0")
    with pytest.raises(BuildError) as err:
        expand_env({"CUDA_HOME": "{cuda-home}"}, template_context(v, where="the build environment of cudaext"), profile="cudaext")
    assert err.value.message.startswith("[tool.satlock.profiles.cudaext] env.CUDA_HOME: {cuda-home} needs the CUDA compiler")
    assert "no package in the build environment of cudaext has it (it holds no CUDA toolkit wheel)" in err.value.message


def test_env_templates_expand_against_the_environment(tmp_path, env):
    venv, site = env
    cu13(tmp_path, site)
    record_only(site, "nvidia-nvjitlink", {"nvidia/cu13/lib/libnvJitLink.so.13": "", "nvidia/cu13/include/nvJitLink.h": ""})
    v = Venv(root=venv, python=venv / "bin" / "python", purelib=site, platlib=site, scripts=venv / "bin",
             data=venv, python_version="3.11.0")
    out = expand_env({
        "CUDA_HOME": "{cuda-home}",
        "JIT": "{dist:nvidia-nvjitlink}/lib",
        "PY": "{python}",
        "SP": "{site-packages}/x",
        "LIT": "{{venv}}={venv}",
    }, template_context(v), profile="x")
    assert out == {
        "CUDA_HOME": str(site / "nvidia" / "cu13"),
        "JIT": str(site / "nvidia" / "cu13" / "lib"),
        "PY": str(venv / "bin" / "python"),
        "SP": f"{site}/x",
        "LIT": f"{{venv}}={venv}",
    }


def test_cuda_home_is_not_assembled_unless_a_template_uses_it(tmp_path, env):
    venv, site = env  # no nvcc installed: assembling would fail
    v = Venv(root=venv, python=venv / "bin" / "python", purelib=site, platlib=site, scripts=venv / "bin",
             data=venv, python_version="3.11.0")
    assert expand_env({"A": "{venv}"}, template_context(v), profile="x") == {"A": str(venv)}


CUDA13_WHEELS = ["nvidia-cuda-nvcc>=13,<14", "nvidia-cuda-runtime>=13,<14", "nvidia-cuda-crt>=13,<14", "nvidia-nvvm>=13,<14"]


@pytest.mark.network
@pytest.mark.skipif(sys.platform != "linux" or platform.machine() not in ("x86_64", "aarch64"),
                    reason="CUDA 13 wheels exist for Linux x86_64/aarch64 only")
@pytest.mark.skipif(shutil.which("gcc") is None, reason="nvcc needs a host gcc")
def test_real_cuda13_wheels_give_a_cuda_home_whose_nvcc_compiles(tmp_path):
    downloads = tmp_path / "downloads"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", str(downloads), *CUDA13_WHEELS],
        capture_output=True, text=True,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot download the CUDA 13 wheels: {result.stderr.strip()[-300:]}")
    venv = tmp_path / "venv"
    site = venv / "site-packages"
    for whl in downloads.glob("*.whl"):
        install(whl, site)
    home = assemble_cuda_home(site, venv)
    nvcc = home / "bin" / "nvcc"
    version = subprocess.run([str(nvcc), "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and "release 13." in version.stdout
    src = tmp_path / "k.cu"
    src.write_text("__global__ void k(){}\n")
    compiled = subprocess.run([str(nvcc), "-c", str(src), "-o", str(tmp_path / "x.o")], capture_output=True, text=True,
                              cwd=tmp_path, env={**os.environ, "CUDA_HOME": str(home)})
    assert compiled.returncode == 0, compiled.stderr
    assert (tmp_path / "x.o").stat().st_size > 0
