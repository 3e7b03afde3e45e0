"""Tiny wheels, sdists and simple indexes for tests, served from disk or from 127.0.0.1.

Nothing here touches the network beyond loopback. An index built by ``build_index`` has
``simple/<name>/index.html`` (PEP 503) and ``simple/<name>/index.json`` (PEP 691) and the
files under ``files/``, each wheel with a PEP 658 ``.metadata`` file beside it unless
asked otherwise. ``IndexServer`` serves such a folder with content negotiation and HTTP
range requests, and records every request so tests can assert a warm run asked nothing.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
import re
import ssl
import sys
import tarfile
import threading
import time
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Iterable, Mapping

from packaging.utils import canonicalize_name, parse_sdist_filename, parse_wheel_filename


def _metadata_text(name: str, version: str, requires: Iterable[str], requires_python: str | None,
                   extras: Mapping[str, Iterable[str]] | None, metadata_version: str,
                   dynamic: Iterable[str] = ()) -> str:
    lines = [f"Metadata-Version: {metadata_version}", f"Name: {name}", f"Version: {version}"]
    if requires_python:
        lines.append(f"Requires-Python: {requires_python}")
    for d in dynamic:
        lines.append(f"Dynamic: {d}")
    for r in requires:
        lines.append(f"Requires-Dist: {r}")
    for extra, reqs in (extras or {}).items():
        lines.append(f"Provides-Extra: {extra}")
        for r in reqs:
            marker = f'extra == "{extra}"'
            lines.append(f"Requires-Dist: {r} ; {marker}" if ";" not in r else f"Requires-Dist: {r} and {marker}")
    return "\n".join(lines) + "\n\n"


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def make_wheel(dest: Path, name: str, version: str, *, requires: Iterable[str] = (),
               requires_python: str | None = None, extras: Mapping[str, Iterable[str]] | None = None,
               tag: str = "py3-none-any", files: Mapping[str, str] | None = None,
               metadata_version: str = "2.1") -> Path:
    """A valid, installable wheel with one module named after the project."""
    dest.mkdir(parents=True, exist_ok=True)
    dist = re.sub(r"[-_.]+", "_", name).lower()
    module = dist
    info = f"{dist}-{version}.dist-info"
    contents: dict[str, bytes] = {f"{module}/__init__.py": f'__version__ = "{version}"\n'.encode()}
    for path, text in (files or {}).items():
        contents[path] = text.encode()
    contents[f"{info}/METADATA"] = _metadata_text(name, version, requires, requires_python, extras, metadata_version).encode()
    contents[f"{info}/WHEEL"] = f"Wheel-Version: 1.0\nGenerator: satlock-tests\nRoot-Is-Purelib: true\nTag: {tag}\n".encode()
    record = "".join(f"{p},{_record_hash(b)},{len(b)}\n" for p, b in contents.items()) + f"{info}/RECORD,,\n"
    contents[f"{info}/RECORD"] = record.encode()
    path = dest / f"{dist}-{version}-{tag}.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for p, b in contents.items():
            zi = zipfile.ZipInfo(p, date_time=(2020, 1, 1, 0, 0, 0))
            zi.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(zi, b)
    return path


DEFAULT_SETUP_PY = """from setuptools import setup
setup()
"""


def make_sdist(dest: Path, name: str, version: str, *, requires: Iterable[str] = (),
               requires_python: str | None = None, metadata_version: str = "2.2",
               dynamic: Iterable[str] = (), setup_py: str | None = None,
               pyproject: str | None = None, files: Mapping[str, str] | None = None,
               pkg_info: bool = True) -> Path:
    """An sdist. By default a setuptools project whose PKG-INFO declares static metadata.

    Pass ``setup_py`` and ``pyproject=""`` for a legacy project without pyproject.toml,
    ``dynamic=["Requires-Dist"]`` to make its dependencies unknown without a build.
    """
    dest.mkdir(parents=True, exist_ok=True)
    dist = re.sub(r"[-_.]+", "_", name).lower()
    root = f"{dist}-{version}"
    contents: dict[str, str] = {f"{dist}/__init__.py": f'__version__ = "{version}"\n'}
    if pyproject is None:
        reqs = ", ".join(json.dumps(r) for r in requires)
        rp = f'requires-python = "{requires_python}"\n' if requires_python else ""
        pyproject = (
            '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n\n'
            f'[project]\nname = "{name}"\nversion = "{version}"\n{rp}dependencies = [{reqs}]\n'
        )
    if pyproject:
        contents["pyproject.toml"] = pyproject
    if setup_py is not None:
        contents["setup.py"] = setup_py
    if pkg_info:
        contents["PKG-INFO"] = _metadata_text(name, version, requires, requires_python, None, metadata_version, dynamic)
    contents.update(files or {})
    path = dest / f"{dist}-{version}.tar.gz"
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as tf:
        for p, text in sorted(contents.items()):
            data = text.encode()
            ti = tarfile.TarInfo(f"{root}/{p}")
            ti.size = len(data)
            ti.mtime = 1577836800
            ti.mode = 0o644
            tf.addfile(ti, io.BytesIO(data))
    return path


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _wheel_metadata(path: Path) -> bytes:
    with zipfile.ZipFile(path) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA") and n.count("/") == 1)
        return zf.read(name)


def build_index(root: Path, dists: Iterable[Path], *, yanked: Mapping[str, str] | None = None,
                requires_python: Mapping[str, str] | None = None, metadata_files: bool = True,
                formats: Iterable[str] = ("html", "json")) -> Path:
    """Write a simple index for ``dists`` under ``root`` and return ``root / "simple"``.

    Files are copied into ``root/files``. ``yanked`` maps file names to a reason,
    ``requires_python`` maps file names to their data-requires-python.
    """
    yanked = dict(yanked or {})
    requires_python = dict(requires_python or {})
    files_dir = root / "files"
    files_dir.mkdir(parents=True, exist_ok=True)
    by_project: dict[str, list[Path]] = {}
    for src in dists:
        src = Path(src)
        target = files_dir / src.name
        if src.resolve() != target.resolve():
            target.write_bytes(src.read_bytes())
        if src.name.endswith(".whl"):
            name = parse_wheel_filename(src.name)[0]
            if metadata_files:
                (files_dir / f"{src.name}.metadata").write_bytes(_wheel_metadata(target))
        else:
            name = parse_sdist_filename(src.name)[0]
        by_project.setdefault(str(name), []).append(target)
    simple = root / "simple"
    formats = set(formats)
    links = []
    for project, paths in sorted(by_project.items()):
        page = simple / project
        page.mkdir(parents=True, exist_ok=True)
        anchors, entries = [], []
        for p in sorted(paths, key=lambda p: p.name):
            digest = sha256_of(p)
            href = f"../../files/{p.name}#sha256={digest}"
            attrs = ""
            entry: dict = {"filename": p.name, "url": f"../../files/{p.name}", "hashes": {"sha256": digest}, "size": p.stat().st_size,
                           "upload-time": "2024-01-01T00:00:00.000000Z"}
            if p.name in requires_python:
                attrs += f' data-requires-python="{html.escape(requires_python[p.name])}"'
                entry["requires-python"] = requires_python[p.name]
            if p.name in yanked:
                attrs += f' data-yanked="{html.escape(yanked[p.name])}"'
                entry["yanked"] = yanked[p.name] or True
            meta = files_dir / f"{p.name}.metadata"
            if metadata_files and meta.exists():
                mdigest = sha256_of(meta)
                attrs += f' data-dist-info-metadata="sha256={mdigest}" data-core-metadata="sha256={mdigest}"'
                entry["core-metadata"] = {"sha256": mdigest}
                entry["dist-info-metadata"] = {"sha256": mdigest}
            anchors.append(f'<a href="{href}"{attrs}>{p.name}</a><br/>')
            entries.append(entry)
        if "html" in formats:
            (page / "index.html").write_text(
                '<!DOCTYPE html>\n<html><head><meta name="pypi:repository-version" content="1.1"></head><body>\n'
                + "\n".join(anchors) + "\n</body></html>\n")
        if "json" in formats:
            (page / "index.json").write_text(json.dumps({"meta": {"api-version": "1.1"}, "name": project, "files": entries,
                                                         "versions": []}, indent=1))
        links.append(f'<a href="{project}/">{project}</a>')
    simple.mkdir(parents=True, exist_ok=True)
    (simple / "index.html").write_text("<html><body>\n" + "\n".join(links) + "\n</body></html>\n")
    return simple


@dataclass
class Faults:
    """Misbehaviour for ``IndexServer``: each callable gets the request path and may act.

    ``fail_times[path_substring] = n`` answers 500 to the first n matching requests;
    ``drop_times`` closes the connection without answering; ``stall`` sleeps that many
    seconds before answering a matching request.
    """

    fail_times: dict[str, int] = field(default_factory=dict)
    drop_times: dict[str, int] = field(default_factory=dict)
    stall: dict[str, float] = field(default_factory=dict)
    no_range: bool = False


class IndexServer:
    """Serve a folder on 127.0.0.1 like a simple index, with ranges and a request log."""

    def __init__(self, root: Path, faults: Faults | None = None, on_request: Callable[[str], None] | None = None,
                 tls: ssl.SSLContext | None = None) -> None:
        """``tls`` serves https:// (as ``localhost``, the name its certificate must carry)."""
        self.root = Path(root)
        self.tls = tls
        self.faults = faults or Faults()
        self.requests: list[tuple[str, str, str | None]] = []
        self._lock = threading.Lock()
        self._on_request = on_request
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_HEAD(self) -> None:
                self._serve(head=True)

            def do_GET(self) -> None:
                self._serve(head=False)

            def _serve(self, head: bool) -> None:
                path = self.path.split("?", 1)[0].split("#", 1)[0]
                with server._lock:
                    server.requests.append((self.command, path, self.headers.get("Range")))
                    for sub, n in server.faults.drop_times.items():
                        if sub in path and n > 0:
                            server.faults.drop_times[sub] = n - 1
                            self.close_connection = True
                            self.connection.close()
                            return
                    fail = False
                    for sub, n in server.faults.fail_times.items():
                        if sub in path and n > 0:
                            server.faults.fail_times[sub] = n - 1
                            fail = True
                    stall = next((s for sub, s in server.faults.stall.items() if sub in path), 0.0)
                if stall:
                    time.sleep(stall)
                if fail:
                    self._send(500, b"server error", "text/plain", head)
                    return
                target = (server.root / path.lstrip("/")).resolve()
                if server.root.resolve() not in target.parents and target != server.root.resolve():
                    self._send(403, b"forbidden", "text/plain", head)
                    return
                if target.is_dir():
                    accept = self.headers.get("Accept", "")
                    if "application/vnd.pypi.simple.v1+json" in accept and (target / "index.json").exists():
                        self._send(200, (target / "index.json").read_bytes(), "application/vnd.pypi.simple.v1+json", head)
                        return
                    if (target / "index.html").exists():
                        self._send(200, (target / "index.html").read_bytes(), "text/html", head)
                        return
                    self._send(404, b"not found", "text/plain", head)
                    return
                if not target.is_file():
                    self._send(404, b"not found", "text/plain", head)
                    return
                data = target.read_bytes()
                rng = self.headers.get("Range")
                if rng and not server.faults.no_range:
                    m = re.fullmatch(r"bytes=(\d*)-(\d*)", rng.strip())
                    if m:
                        start_s, end_s = m.groups()
                        if start_s == "":
                            start, end = max(0, len(data) - int(end_s)), len(data) - 1
                        else:
                            start = int(start_s)
                            end = int(end_s) if end_s else len(data) - 1
                        end = min(end, len(data) - 1)
                        self._send(206, data[start:end + 1], "application/octet-stream", head,
                                   extra={"Content-Range": f"bytes {start}-{end}/{len(data)}"})
                        return
                self._send(200, data, "application/octet-stream", head)

            def _send(self, code: int, body: bytes, ctype: str, head: bool, extra: dict[str, str] | None = None) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                if not server.faults.no_range:
                    self.send_header("Accept-Ranges", "bytes")
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                if not head:
                    self.wfile.write(body)

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: object, client_address: object) -> None:
                # A client that gave up (timeout tests) leaves a broken pipe behind: not an error.
                exc = sys.exc_info()[1]
                if not isinstance(exc, (BrokenPipeError, ConnectionResetError)):
                    super().handle_error(request, client_address)

        self._httpd = Server(("127.0.0.1", 0), Handler)
        if tls is not None:
            self._httpd.socket = tls.wrap_socket(self._httpd.socket, server_side=True)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"https://localhost:{port}" if self.tls is not None else f"http://{host}:{port}"

    def __enter__(self) -> IndexServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def project_toml(dependencies: Iterable[str] = (), *, name: str = "demo", requires_python: str | None = ">=3.8",
                 optional: Mapping[str, Iterable[str]] | None = None, groups: Mapping[str, Iterable] | None = None,
                 tool: str = "") -> str:
    """A pyproject.toml text for a test project."""
    lines = ["[project]", f'name = "{name}"', 'version = "0.1.0"']
    if requires_python:
        lines.append(f'requires-python = "{requires_python}"')
    lines.append("dependencies = [" + ", ".join(json.dumps(d) for d in dependencies) + "]")
    if optional:
        lines.append("\n[project.optional-dependencies]")
        for k, v in optional.items():
            lines.append(f"{k} = [" + ", ".join(json.dumps(d) for d in v) + "]")
    if groups:
        lines.append("\n[dependency-groups]")
        for k, v in groups.items():
            items = [json.dumps(d) if isinstance(d, str) else '{include-group = "%s"}' % d["include-group"] for d in v]
            lines.append(f"{k} = [" + ", ".join(items) + "]")
    return "\n".join(lines) + "\n" + tool


def installed_wheel(name: str, dest: Path) -> Path:
    """A wheel re-packed from distribution ``name`` as installed in the running interpreter.

    Lets tests put real build tools (setuptools) on a local index without the network.
    Files come from the distribution's RECORD; the wheel gets a fresh RECORD and WHEEL
    (py3-none-any, purelib), and anything RECORD lists outside site-packages (scripts)
    is left out.
    """
    from importlib import metadata

    dist = metadata.distribution(name)
    project = dist.metadata["Name"]
    version = dist.version
    normalized = re.sub(r"[-_.]+", "_", project).lower()
    info = f"{normalized}-{version}.dist-info"
    contents: dict[str, bytes] = {}
    for f in dist.files or []:
        if ".." in f.parts or "__pycache__" in f.parts or f.name.endswith(".pyc"):
            continue
        if f.parts[0].endswith(".dist-info"):
            if f.name not in ("METADATA", "entry_points.txt", "top_level.txt", "LICENSE"):
                continue
            arcname = f"{info}/{f.name}"
        else:
            arcname = "/".join(f.parts)
        source = Path(dist.locate_file(f))
        if source.is_file():
            contents[arcname] = source.read_bytes()
    contents[f"{info}/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: satlock-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    record = "".join(f"{p},{_record_hash(b)},{len(b)}\n" for p, b in contents.items()) + f"{info}/RECORD,,\n"
    contents[f"{info}/RECORD"] = record.encode()
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / f"{normalized}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for p, b in contents.items():
            zi = zipfile.ZipInfo(p, date_time=(2020, 1, 1, 0, 0, 0))
            zi.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(zi, b)
    return path
