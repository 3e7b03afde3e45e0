"""Hostile archives, wheels and locks for the tests/test_hostile_*.py files.

Each builder writes exactly the malicious shape it names, so a test can show what
satlock does with it; none of them is valid by accident.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import re
import signal
import tarfile
import zipfile
from pathlib import Path
from typing import Mapping

from typer.testing import CliRunner

from satlock.cli.main import app


def ctrl_c_as_in_a_terminal() -> None:
    """``preexec_fn`` for a satlock the test will send SIGINT: Ctrl-C's default, as a shell
    in a terminal gives it. A test run started in the background by a shell without job
    control (``nohup bash -c '... &'``) inherits SIGINT ignored, and so would satlock,
    which then could not be interrupted at all."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_cli(*args: object):
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file and link under ``folder``, to prove a failed command changed nothing."""
    if not folder.exists():
        return {}
    out = {}
    for p in sorted(folder.rglob("*")):
        if "__pycache__" in p.parts:
            continue
        if p.is_symlink():
            out[str(p.relative_to(folder))] = b"->" + os.readlink(p).encode()
        elif p.is_file():
            out[str(p.relative_to(folder))] = p.read_bytes()
    return out


def assert_one_error_line(result, *needles: str) -> None:
    """A refusal: non-zero exit, no traceback, exactly one ``error:`` line holding every needle."""
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.output
    for needle in needles:
        assert needle in errors[0], f"{needle!r} not in:\n{result.output}"


def _tar_add(tar: tarfile.TarFile, name: str, type_: bytes = tarfile.REGTYPE, linkname: str = "", data: bytes = b"") -> None:
    ti = tarfile.TarInfo(name)
    ti.type = type_
    ti.linkname = linkname
    ti.mode = 0o755 if type_ == tarfile.DIRTYPE else 0o644
    ti.mtime = 1577836800
    ti.size = len(data) if type_ == tarfile.REGTYPE else 0
    tar.addfile(ti, io.BytesIO(data) if type_ == tarfile.REGTYPE else None)


def _sdist_start(tar: tarfile.TarFile, root: str, static: bool = False) -> None:
    """The top folder, a setup.py and PKG-INFO: ``static`` metadata lets ``lock`` skip the build
    (the archive is first unpacked at ``sync``); otherwise ``lock`` must unpack it to build."""
    _tar_add(tar, root, tarfile.DIRTYPE)
    _tar_add(tar, f"{root}/setup.py", data=b"from setuptools import setup\nsetup()\n")
    dynamic = "" if static else "Dynamic: Requires-Dist\n"
    _tar_add(tar, f"{root}/PKG-INFO", data=f"Metadata-Version: 2.2\nName: {root.split('-')[0]}\nVersion: 1.0\n{dynamic}\n".encode())


def path_max_chain_sdist(dest: Path, name: str, victim: Path, static: bool = False) -> Path:
    """CVE-2025-4517's shape: links whose real path overflows PATH_MAX, so realpath gives up
    and the ``data`` filter sees ``escape`` as inside; then a file written through it."""
    dest.mkdir(parents=True, exist_ok=True)
    root = f"{name}-1.0"
    path = dest / f"{root}.tar.gz"
    comp = "d" * 247
    steps = "abcdefghijklmnop"
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        _sdist_start(tar, root, static)
        here = root
        for step in steps:
            _tar_add(tar, f"{here}/{comp}", tarfile.DIRTYPE)
            _tar_add(tar, f"{here}/{step}", tarfile.SYMTYPE, comp)
            here = f"{here}/{comp}"
        linkpath = "/".join(steps) + "/" + "l" * 254
        _tar_add(tar, f"{root}/{linkpath}", tarfile.SYMTYPE, "../" * len(steps))
        # As many ".." as the link path is deep, so it stays inside on paper; really they climb
        # from the package folder up to "/" (extra ".." stop there), then down to the victim.
        up = "../" * (len(steps) + 1)
        _tar_add(tar, f"{root}/escape", tarfile.SYMTYPE, f"{linkpath}/{up}{str(victim).lstrip('/')}")
        _tar_add(tar, f"{root}/escape/pwned", data=b"pwned\n")
    return path


def late_link_sdist(dest: Path, name: str, depth: int = 12) -> Path:
    """``b -> a/a/.../../..`` is lexically the package folder, but ``a -> .`` (made after ``b``,
    so nothing on disk to follow when ``b`` is checked) turns it into ``../../..``."""
    dest.mkdir(parents=True, exist_ok=True)
    root = f"{name}-1.0"
    path = dest / f"{root}.tar.gz"
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        _sdist_start(tar, root)
        _tar_add(tar, f"{root}/b", tarfile.SYMTYPE, "/".join(["a"] * depth + [".."] * depth))
        _tar_add(tar, f"{root}/a", tarfile.SYMTYPE, ".")
    return path


def zip_link_sdist(dest: Path, name: str, victim: Path) -> Path:
    """A zip sdist whose members carry symlink modes (``link -> <victim>``) and one written through it."""
    dest.mkdir(parents=True, exist_ok=True)
    root = f"{name}-1.0"
    path = dest / f"{root}.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"{root}/setup.py", "from setuptools import setup\nsetup()\n")
        for link, target in (("link", str(victim)), ("up", "../../../../../../../..")):
            info = zipfile.ZipInfo(f"{root}/{link}")
            info.external_attr = (0o120777 << 16)
            zf.writestr(info, target)
        zf.writestr(f"{root}/link/pwned", "pwned\n")
    return path


def record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def raw_wheel(dest: Path, name: str, version: str, files: Mapping[str, bytes], *, metadata: bytes | None = None,
              filename: str | None = None, tag: str = "py3-none-any", entry_points: str | None = None,
              compress: int = zipfile.ZIP_DEFLATED) -> Path:
    """A wheel with exactly ``files`` (plus a dist-info with a correct RECORD), named as asked."""
    dest.mkdir(parents=True, exist_ok=True)
    dist = re.sub(r"[-_.]+", "_", name).lower()
    info = f"{dist}-{version}.dist-info"
    contents = dict(files)
    contents[f"{info}/METADATA"] = metadata if metadata is not None else (
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\n".encode())
    contents[f"{info}/WHEEL"] = f"Wheel-Version: 1.0\nGenerator: hostile\nRoot-Is-Purelib: true\nTag: {tag}\n".encode()
    if entry_points is not None:
        contents[f"{info}/entry_points.txt"] = entry_points.encode()
    record = "".join(f"{p},{record_hash(b)},{len(b)}\n" for p, b in contents.items()) + f"{info}/RECORD,,\n"
    contents[f"{info}/RECORD"] = record.encode()
    path = dest / (filename or f"{dist}-{version}-{tag}.whl")
    with zipfile.ZipFile(path, "w", compress) as zf:
        for p, b in contents.items():
            zi = zipfile.ZipInfo(p, date_time=(2020, 1, 1, 0, 0, 0))
            zi.compress_type = compress
            zf.writestr(zi, b)
    return path
