"""From a failed build's log to the ``satlock profile add`` command that likely fixes it.

Most source packages that fail to build under isolation fail the same few ways: their
setup.py imports something it never declared (very often torch), or it looks for the
CUDA toolkit through ``CUDA_HOME``. Both are fixed by a profile, so the error a user
sees can end with the exact command instead of a wall of compiler output.
"""

from __future__ import annotations

import os
import re

from packaging.utils import canonicalize_name

# Import names whose distribution is called something else; anything not here is
# assumed to be distributed under its import name.
IMPORT_TO_DIST = {
    "attr": "attrs",
    "bs4": "beautifulsoup4",
    "Crypto": "pycryptodome",
    "cv2": "opencv-python",
    "Cython": "Cython",
    "dateutil": "python-dateutil",
    "dotenv": "python-dotenv",
    "flit_core": "flit-core",
    "git": "GitPython",
    "google.protobuf": "protobuf",
    "jinja2": "Jinja2",
    "mesonpy": "meson-python",
    "numpy": "numpy",
    "OpenSSL": "pyOpenSSL",
    "PIL": "Pillow",
    "pkg_resources": "setuptools",
    "poetry.core": "poetry-core",
    "pybind11": "pybind11",
    "serial": "pyserial",
    "setuptools": "setuptools",
    "setuptools_scm": "setuptools-scm",
    "skbuild": "scikit-build",
    "scikit_build_core": "scikit-build-core",
    "skimage": "scikit-image",
    "sklearn": "scikit-learn",
    "torch": "torch",
    "yaml": "PyYAML",
}

# Needs the installed (runtime) copy, not a fresh one in an isolated environment.
BUILD_AGAINST_INSTALLED = {"torch"}

_MISSING_MODULE = re.compile(
    r"(?:ModuleNotFoundError|ImportError): No module named ['\"]?([A-Za-z_][\w.]*)['\"]?"
)
_CUDA = re.compile(
    r"CUDA_HOME|nvcc: (?:command )?not found|No such file or directory: '[^']*/bin/nvcc'"
)


def distribution_for_import(module: str) -> str:
    """The distribution that provides import name ``module`` (dotted names allowed)."""
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        dist = IMPORT_TO_DIST.get(".".join(parts[:n]))
        if dist:
            return dist
    return parts[0]


def _is_toolkit(cuda_home: str | None) -> bool:
    return bool(cuda_home) and any(os.path.isfile(os.path.join(cuda_home or "", "bin", n)) for n in ("nvcc", "nvcc.exe"))


def suggest_fix(package: str, log: str, *, cuda_home: str | None = None) -> str | None:
    """A ``satlock profile add`` command (with a short reason) for the failure in
    ``log`` of building ``package``, or None when the log shows no known cause.

    ``cuda_home`` is the CUDA_HOME the build ran with: when it already holds ``bin/nvcc``
    (the profile's ``{cuda-home}`` did its work), a log mentioning CUDA_HOME, as
    torch.utils.cpp_extension's does on every machine without a GPU, is not the cause, and
    suggesting the profile's own setting again would send the user in a circle."""
    own = canonicalize_name(package)
    needs: list[str] = []
    for module in _MISSING_MODULE.findall(log):
        dist = distribution_for_import(module)
        if canonicalize_name(dist) != own and dist not in needs:
            needs.append(dist)
    cuda = bool(_CUDA.search(log)) and not _is_toolkit(cuda_home)
    if not needs and not cuda:
        return None
    args = ["satlock", "profile", "add", package]
    reasons: list[str] = []
    for dist in needs:
        args += ["--build-requires", dist]
    if needs:
        reasons.append(f"the build imports {', '.join(needs)} without declaring it")
    if any(dist in BUILD_AGAINST_INSTALLED for dist in needs):
        args.append("--no-isolation")
        reasons.append("a CUDA/C++ extension usually has to build against the installed torch")
    if cuda:
        args += ["--env", "CUDA_HOME={cuda-home}"]
        reasons.append(
            "the build looks for the CUDA toolkit; {cuda-home} is assembled from the locked nvidia wheels, "
            "so the project also needs nvidia-cuda-nvcc, nvidia-cuda-runtime, nvidia-cuda-crt and nvidia-nvvm "
            "(CUDA 13); the CUDA 12 wheel nvidia-cuda-nvcc-cu12 ships no nvcc, so a CUDA 12 build needs "
            "CUDA_HOME set to a system toolkit instead"
        )
    return " ".join(args) + "\n(" + "; ".join(reasons) + ")"
