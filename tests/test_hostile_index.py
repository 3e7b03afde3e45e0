"""Hostile index servers, pages and cache entries: refused with one line, nothing outside the cache touched.

Each test builds its hostile page or server itself on 127.0.0.1 and runs ``satlock lock``
as a user would. See issue 10 ("hostile indexes, archives, locks and caches").
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import socket
import threading
import time
import tomllib
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable

import pytest
from typer.testing import CliRunner

from indexbuilder import build_index, make_wheel, project_toml, sha256_of
from satlock.cli.main import app
from satlock.errors import IndexFormatError, NetworkError
from satlock.cache import Cache
from satlock.resolver.candidates import filename_from_url
from satlock import http as http_module
from satlock.http import HttpClient, redact
from satlock.resolver.index import METADATA, MAX_METADATA_BYTES

runner = CliRunner()
JSON = "application/vnd.pypi.simple.v1+json"

# A route answers (status, headers, body), or None after writing the answer itself.
Route = Callable[[BaseHTTPRequestHandler], "tuple[int, dict[str, str], bytes] | None"]


class Hostile:
    """A tiny server on 127.0.0.1 answering each path from ``routes`` (404 otherwise)."""

    def __init__(self, routes: dict[str, Route]) -> None:
        self.routes = routes
        self.paths: list[str] = []
        srv = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                srv.paths.append(self.path)
                route = srv.routes.get(self.path.split("?", 1)[0])
                answer = route(self) if route else (404, {"Content-Type": "text/plain"}, b"not found")
                if answer is None:
                    return
                status, headers, body = answer
                self.send_response(status)
                for k, v in {**headers, "Content-Length": str(len(body))}.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: object, client_address: object) -> None:
                pass  # a client that gave up mid-answer is what these tests provoke

        self._httpd = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> Hostile:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def static(body: bytes, ctype: str = "application/octet-stream", status: int = 200, **headers: str) -> Route:
    return lambda _h: (status, {"Content-Type": ctype, **headers}, body)


def json_page(*files: dict) -> Route:
    return static(json.dumps({"meta": {"api-version": "1.1"}, "name": "foo", "files": list(files)}).encode(), JSON)


def html_page(*anchors: str) -> Route:
    body = ('<html><head><meta name="pypi:repository-version" content="1.1"></head><body>'
            + "".join(anchors) + "</body></html>").encode()
    return static(body, "text/html")


def lock(project: Path, *args: str):
    return runner.invoke(app, ["lock", "--project", str(project), *args])


def project(tmp_path: Path, deps=("foo",)) -> Path:
    root = tmp_path / "proj"
    root.mkdir(exist_ok=True)
    (root / "pyproject.toml").write_text(project_toml(list(deps)))
    return root


def one_error(result, *needles: str) -> str:
    """Exactly one ``error:`` line, no traceback, a failing exit, and each needle in that line."""
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.output
    for needle in needles:
        assert needle in errors[0], result.output
    return errors[0]


@pytest.fixture()
def wheel(tmp_path) -> Path:
    return make_wheel(tmp_path / "dists", "foo", "1.0")


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}


# -- 1. a sha256 that is a path -----------------------------------------------------------


@pytest.fixture()
def victim(tmp_path) -> Path:
    target = tmp_path / "victim" / "site-packages" / "evil.pth"
    target.parent.mkdir(parents=True)
    target.write_text("untouched\n")
    return target


def _path_hash_routes(kind: str, wheel: Path, value: str) -> dict[str, Route]:
    meta = b"Metadata-Version: 2.1\nName: foo\nVersion: 1.0\n\n"
    good = sha256_of(wheel)
    routes: dict[str, Route] = {"/files/foo-1.0-py3-none-any.whl": static(wheel.read_bytes()),
                                "/files/foo-1.0-py3-none-any.whl.metadata": static(meta)}
    if kind == "json-hashes":
        page = json_page({"filename": wheel.name, "url": f"../../files/{wheel.name}", "hashes": {"sha256": value},
                          "core-metadata": True})
    elif kind == "json-core-metadata":
        page = json_page({"filename": wheel.name, "url": f"../../files/{wheel.name}", "hashes": {"sha256": good},
                          "core-metadata": {"sha256": value}})
    elif kind == "html-fragment":
        page = html_page(f'<a href="../../files/{wheel.name}#sha256={value}" data-core-metadata="true">x</a>')
    else:
        page = html_page(f'<a href="../../files/{wheel.name}#sha256={good}" '
                         f'data-dist-info-metadata="sha256={html.escape(value)}">x</a>')
    routes["/simple/foo/"] = page
    return routes


@pytest.mark.parametrize("kind,field", [("json-hashes", "hashes"), ("json-core-metadata", "core-metadata"),
                                        ("html-fragment", "#sha256"), ("html-metadata-attribute", "data-dist-info-metadata")])
@pytest.mark.parametrize("shape", ["relative", "absolute"])
def test_sha256_that_is_a_path_is_refused_and_the_target_file_untouched(tmp_path, wheel, victim, kind, field, shape,
                                                                        monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("SATLOCK_CACHE_DIR", str(cache))
    value = str(victim) if shape == "absolute" else "../../victim/site-packages/evil.pth"
    with Hostile(_path_hash_routes(kind, wheel, value)) as srv:
        result = lock(project(tmp_path), "--index-url", f"{srv.url}/simple")
    one_error(result, f"{srv.url}/simple/foo/", field)
    assert victim.read_text() == "untouched\n"
    assert not (project(tmp_path) / "pylock.toml").exists()
    assert not (tmp_path / "victim" / "site-packages" / "evil.pth.ok").exists()


@pytest.mark.parametrize("bad", ["AB" * 31, "ab" * 33, "g" * 64, " " + "a" * 63, "a" * 63 + "\n", ""])
def test_sha256_that_is_not_64_hex_digits_is_refused(tmp_path, wheel, bad):
    page = json_page({"filename": wheel.name, "url": f"../../files/{wheel.name}", "hashes": {"sha256": bad}})
    with Hostile({"/simple/foo/": page}) as srv:
        result = lock(project(tmp_path), "--index-url", f"{srv.url}/simple")
    one_error(result, f"{srv.url}/simple/foo/", "hashes", "sha256")


@pytest.mark.parametrize("fmt", ["json", "html"])
def test_uppercase_sha256_is_normalised_and_locked_in_lowercase(tmp_path, wheel, fmt):
    upper = sha256_of(wheel).upper()
    page = (json_page({"filename": wheel.name, "url": f"../../files/{wheel.name}", "hashes": {"SHA256": upper}})
            if fmt == "json" else html_page(f'<a href="../../files/{wheel.name}#SHA256={upper}">{wheel.name}</a>'))
    with Hostile({"/simple/foo/": page, f"/files/{wheel.name}": static(wheel.read_bytes())}) as srv:
        result = lock(project(tmp_path), "--index-url", f"{srv.url}/simple")
    assert result.exit_code == 0, result.output
    [pkg] = tomllib.loads((project(tmp_path) / "pylock.toml").read_text())["packages"]
    assert pkg["wheels"][0]["hashes"] == {"sha256": upper.lower()}


@pytest.mark.parametrize("key", ["../x", "/etc/passwd", "a/../../b", "a/b/c", "..", ".", "", "a\0b", "a\\..\\b"])
def test_cache_refuses_entry_names_that_are_not_plain_names(tmp_path, key):
    cache = Cache(tmp_path / "cache")
    with pytest.raises(IndexFormatError):
        cache.path("files-v1", key)
    with pytest.raises(IndexFormatError):
        cache.write("metadata-v2", key, b"x")
    assert not (tmp_path / "x").exists() and not (tmp_path / "b").exists()


def test_cache_accepts_digests_and_distribution_file_names(tmp_path):
    cache = Cache(tmp_path / "cache")
    name = "a" * 64 + "/torch-2.1.0+cu121-cp311-cp311-linux_x86_64.whl"
    assert cache.path("files-v1", name) == tmp_path / "cache" / "files-v1" / name


# -- 2. distribution file names ---------------------------------------------------------------


@pytest.mark.parametrize("href", [
    "foo-1.0-1%2F..%2F..%2Fescaped-py3-none-any.whl",
    "foo-1.0-1%2F%2e%2e%2F%2e%2e%2Fescaped-py3-none-any.whl",
    "foo-1.0-1%5C..%5Cescaped-py3-none-any.whl",
    "foo-1.0-1%00x-py3-none-any.whl",
    "..%2F..%2Ffoo-1.0.tar.gz",
    "%2e%2e",
])
def test_file_name_that_unquotes_to_a_path_is_refused_from_html(tmp_path, wheel, href, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("SATLOCK_CACHE_DIR", str(cache))
    before = files_under(tmp_path)
    page = html_page(f'<a href="../../files/{href}#sha256={sha256_of(wheel)}">foo-1.0-py3-none-any.whl</a>')
    with Hostile({"/simple/foo/": page}) as srv:
        result = lock(project(tmp_path), "--index-url", f"{srv.url}/simple")
    one_error(result, f"{srv.url}/simple/foo/", "filename")
    assert not any("escaped" in p.name for p in files_under(tmp_path) - before)


@pytest.mark.parametrize("filename", ["foo-1.0-1/../../escaped-py3-none-any.whl", "foo-1.0-1\\..\\x-py3-none-any.whl",
                                      "../foo-1.0.tar.gz", "foo-1.0-1\0-py3-none-any.whl", ".foo-1.0.tar.gz"])
def test_file_name_with_a_path_is_refused_from_json(tmp_path, wheel, filename):
    page = json_page({"filename": filename, "url": f"../../files/{wheel.name}", "hashes": {"sha256": sha256_of(wheel)}})
    with Hostile({"/simple/foo/": page}) as srv:
        result = lock(project(tmp_path), "--index-url", f"{srv.url}/simple")
    one_error(result, f"{srv.url}/simple/foo/", "filename")


@pytest.mark.parametrize("url", ["https://h/f/foo-1.0-1%2F..%2Fx-py3-none-any.whl", "https://h/f/%2e%2e",
                                 "https://h/f/foo-1.0-1%5Cx-py3-none-any.whl", "https://h/f/foo%00-1.0.tar.gz",
                                 "https://h/f/not-a-distribution.txt", "https://h/f/"])
def test_file_name_taken_from_a_url_must_be_a_safe_distribution_name(url):
    with pytest.raises(IndexFormatError):
        filename_from_url(url)


def test_file_name_taken_from_a_url_is_unquoted():
    assert filename_from_url("https://h/f/foo-1.0%2Bcu121-py3-none-any.whl#sha256=x") == "foo-1.0+cu121-py3-none-any.whl"
    assert filename_from_url("https://h/archive/main.zip", dist=False) == "main.zip"


def test_files_on_a_page_that_are_not_distributions_are_skipped(tmp_path, wheel):
    page = html_page('<a href="../../files/foo-1.0.win32.exe">installer</a>',
                     f'<a href="../../files/{wheel.name}#sha256={sha256_of(wheel)}">{wheel.name}</a>')
    with Hostile({"/simple/foo/": page, f"/files/{wheel.name}": static(wheel.read_bytes())}) as srv:
        result = lock(project(tmp_path), "--index-url", f"{srv.url}/simple")
    assert result.exit_code == 0, result.output


# -- 3. a truncated metadata cache entry --------------------------------------------------------


def test_metadata_cache_entry_truncated_at_a_line_boundary_is_fetched_again(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("SATLOCK_CACHE_DIR", str(cache))
    dists = tmp_path / "dists"
    index = build_index(tmp_path / "index", [make_wheel(dists, "foo", "1.0", requires=["bar", "baz"]),
                                             make_wheel(dists, "bar", "1.0"), make_wheel(dists, "baz", "1.0")])
    proj = project(tmp_path)
    from indexbuilder import IndexServer

    with IndexServer(index.parent) as srv:
        args = ("--index-url", f"{srv.url}/simple")
        assert lock(proj, *args).exit_code == 0
        entries = [p for p in (cache / METADATA).rglob("*") if p.is_file() and b"Requires-Dist: baz" in p.read_bytes()]
        assert len(entries) == 1
        raw = entries[0].read_bytes()
        entries[0].write_bytes(raw[: raw.index(b"Requires-Dist: baz")])  # the last dependency line dropped
        (proj / "pylock.toml").unlink()
        result = lock(proj, *args)
    assert result.exit_code == 0, result.output
    names = {p["name"] for p in tomllib.loads((proj / "pylock.toml").read_text())["packages"]}
    assert names == {"foo", "bar", "baz"}


# -- 4. an index without hashes ---------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "html"])
def test_index_without_hashes_is_locked_with_the_hash_of_the_downloaded_file(tmp_path, wheel, fmt):
    page = (json_page({"filename": wheel.name, "url": f"../../files/{wheel.name}"})
            if fmt == "json" else html_page(f'<a href="../../files/{wheel.name}">{wheel.name}</a>'))
    with Hostile({"/simple/foo/": page, f"/files/{wheel.name}": static(wheel.read_bytes())}) as srv:
        result = lock(project(tmp_path), "--index-url", f"{srv.url}/simple")
    assert result.exit_code == 0, result.output
    [pkg] = tomllib.loads((project(tmp_path) / "pylock.toml").read_text())["packages"]
    assert pkg["wheels"][0]["hashes"] == {"sha256": sha256_of(wheel)}


# -- 5. malformed PEP 691 JSON ------------------------------------------------------------------------


def _entry(wheel: Path, **changes) -> dict:
    entry = {"filename": wheel.name, "url": f"../../files/{wheel.name}", "hashes": {"sha256": sha256_of(wheel)}}
    entry.update(changes)
    return {k: v for k, v in entry.items() if v is not ...}


@pytest.mark.parametrize("field,document", [
    ("meta", lambda w: {"meta": "1.1", "files": [_entry(w)]}),
    ("meta.api-version", lambda w: {"meta": {"api-version": 1.1}, "files": [_entry(w)]}),
    ("files[]", lambda w: {"meta": {"api-version": "1.1"}, "files": ["foo-1.0-py3-none-any.whl"]}),
    ("requires-python", lambda w: {"files": [_entry(w, **{"requires-python": 3.8})]}),
    ("upload-time", lambda w: {"files": [_entry(w, **{"upload-time": "yesterday"})]}),
    ("upload-time", lambda w: {"files": [_entry(w, **{"upload-time": 1700000000})]}),
    ("size", lambda w: {"files": [_entry(w, size=-1)]}),
    ("size", lambda w: {"files": [_entry(w, size="12")]}),
    ("size", lambda w: {"files": [_entry(w, size=True)]}),
    ("hashes", lambda w: {"files": [_entry(w, hashes=["sha256", "x"])]}),
    ("filename", lambda w: {"files": [_entry(w, filename=12)]}),
    ("url", lambda w: {"files": [_entry(w, url=...)]}),
    ("yanked", lambda w: {"files": [_entry(w, yanked=1)]}),
    ("core-metadata", lambda w: {"files": [_entry(w, **{"core-metadata": 1})]}),
])
def test_malformed_json_page_is_one_line_naming_the_page_and_field(tmp_path, wheel, field, document):
    body = json.dumps(document(wheel)).encode()
    with Hostile({"/simple/foo/": static(body, JSON)}) as srv:
        result = lock(project(tmp_path), "--index-url", f"{srv.url}/simple")
    one_error(result, f"{srv.url}/simple/foo/", repr(field))


def test_files_that_are_not_a_list_is_one_line(tmp_path):
    with Hostile({"/simple/foo/": static(b'{"meta": {"api-version": "1.1"}, "files": {"a": 1}}', JSON)}) as srv:
        result = lock(project(tmp_path), "--index-url", f"{srv.url}/simple")
    one_error(result, f"{srv.url}/simple/foo/", "files")


# -- 6. links and redirects from a remote page --------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "html"])
@pytest.mark.parametrize("link", ["file:///etc/passwd/foo-1.0-py3-none-any.whl",
                                  "http://files.example.invalid/files/foo-1.0-py3-none-any.whl",
                                  "ftp://127.0.0.1/foo-1.0-py3-none-any.whl"])
def test_remote_page_may_not_link_local_files_or_insecure_hosts(tmp_path, wheel, fmt, link):
    digest = sha256_of(wheel)
    page = (json_page({"filename": wheel.name, "url": link, "hashes": {"sha256": digest}})
            if fmt == "json" else html_page(f'<a href="{link}#sha256={digest}">{wheel.name}</a>'))
    with Hostile({"/simple/foo/": page}) as srv:
        result = lock(project(tmp_path), "--index-url", f"{srv.url}/simple")
        assert not [p for p in srv.paths if p.startswith("/files")]
    one_error(result, f"{srv.url}/simple/foo/", "refusing the link")
    assert not (project(tmp_path) / "pylock.toml").exists()


def test_remote_page_may_link_https_and_loopback_files(tmp_path, wheel):
    with Hostile({}) as srv:
        port = srv.url.rsplit(":", 1)[1]
        srv.routes["/simple/foo/"] = html_page(
            f'<a href="http://localhost:{port}/files/{wheel.name}#sha256={sha256_of(wheel)}">{wheel.name}</a>')
        srv.routes[f"/files/{wheel.name}"] = static(wheel.read_bytes())
        result = lock(project(tmp_path), "--index-url", f"{srv.url}/simple")
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("location", ["http://files.example.invalid/simple/foo/", "file:///etc/", "/hop1"])
def test_redirects_are_held_to_the_rule_for_configured_urls(tmp_path, location):
    routes = {"/simple/foo/": static(b"", "text/plain", 302, Location=location),
              "/hop1": static(b"", "text/plain", 301, Location="/hop2"),
              "/hop2": static(b"", "text/plain", 307, Location="file:///etc/passwd")}
    with Hostile(routes) as srv:
        result = lock(project(tmp_path), "--index-url", f"{srv.url}/simple")
    line = one_error(result, f"{srv.url}/simple/foo/", "refusing its redirect")
    assert "timed out" not in line


def test_redirect_within_loopback_is_followed(tmp_path, wheel):
    digest = sha256_of(wheel)
    routes = {"/simple/foo/": static(b"", "text/plain", 302, Location="/moved/foo/"),
              "/moved/foo/": html_page(f'<a href="../../files/{wheel.name}#sha256={digest}">{wheel.name}</a>'),
              f"/files/{wheel.name}": static(wheel.read_bytes())}
    with Hostile(routes) as srv:
        result = lock(project(tmp_path), "--index-url", f"{srv.url}/simple")
    assert result.exit_code == 0, result.output
    [pkg] = tomllib.loads((project(tmp_path) / "pylock.toml").read_text())["packages"]
    assert pkg["wheels"][0]["url"].endswith(f"/files/{wheel.name}")


# -- 7. credentials -------------------------------------------------------------------------------------


def test_credentials_are_redacted_from_not_found_and_debug_output(tmp_path):
    with Hostile({}) as srv:
        url = srv.url.replace("http://", "http://alice:s3cret@") + "/simple"
        result = runner.invoke(app, ["lock", "-v", "--project", str(project(tmp_path)), "--index-url", url])
    one_error(result, "not found on", "****@")
    assert "s3cret" not in result.output and "alice" not in result.output


@pytest.mark.parametrize("url", ["https://alice:s3cret@[broken/simple", "ftp://alice:s3cret@host/simple",
                                 "http://alice:s3cret@files.example.invalid/simple", "https://alice:s3cret@host:port/simple"])
def test_credentials_are_redacted_from_invalid_index_url_errors(tmp_path, url):
    result = lock(project(tmp_path), "--index-url", url)
    one_error(result)
    assert "s3cret" not in result.output


@pytest.mark.parametrize("text,shown", [
    ("https://a:b@h/x", "https://****@h/x"),
    ("https://a:p@ss@h/x", "https://****@h/x"),
    ("fatal: could not read from https://tok@h/r.git and https://h/x@y", "fatal: could not read from https://****@h/r.git and https://h/x@y"),
    ("'https://a:b c@[bad/'", "'https://****@[bad/'"),
    ("https:///a:b@h/x", "https:///****@h/x"),
])
def test_one_redaction_covers_urls_that_do_not_parse_and_urls_inside_text(text, shown):
    assert redact(text) == shown


def test_buildenv_uses_the_same_redaction():
    import satlock.buildenv.gitsources as gitsources

    assert not hasattr(gitsources, "redact_url") and gitsources.redact is redact


# -- 8. refused connections and unknown hosts -------------------------------------------------------------


def test_refused_connection_says_connection_refused(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = lock(project(tmp_path), "--index-url", f"http://127.0.0.1:{port}/simple")
    line = one_error(result, "connection refused")
    assert "timed out" not in line


def test_unknown_host_says_unknown_host(monkeypatch):
    def no_such_host(*args: object, **kwargs: object):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_host)
    with pytest.raises(NetworkError) as err:
        HttpClient(retries=0).get("https://no-such-host.invalid/simple/foo/")
    assert "unknown host" in err.value.message and "timed out" not in err.value.message


# -- 9. a server trickling bytes ------------------------------------------------------------------------


class Trickle:
    """Headers at once, then one byte every 0.2 s, at most ``limit`` bytes; counts what it sent."""

    def __init__(self, limit: int = 150) -> None:
        self.limit = limit
        self.sent: list[int] = []

    def __call__(self, handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/html")
        handler.send_header("Content-Length", str(self.limit))
        handler.end_headers()
        self.sent.append(0)
        conn = len(self.sent) - 1
        try:
            for _ in range(self.limit):
                handler.wfile.write(b" ")
                handler.wfile.flush()
                self.sent[conn] += 1
                time.sleep(0.2)
        except OSError:
            pass


def test_timeout_bounds_the_whole_answer_of_a_trickling_server(tmp_path):
    trickle = Trickle()
    with Hostile({"/simple/foo/": trickle}) as srv:
        result = lock(project(tmp_path), "--index-url", f"{srv.url}/simple", "--timeout", "1")
    one_error(result, "timed out after 1s")
    # Each attempt gave up after about 1 s (5 bytes), long before the 30 s answer ended.
    assert trickle.sent and max(trickle.sent) < trickle.limit // 2


def test_timeout_bounds_a_trickling_download(tmp_path):
    trickle = Trickle()
    with Hostile({"/f.whl": trickle}) as srv:
        with pytest.raises(NetworkError) as err:
            HttpClient(timeout=1, retries=0).fetch_to_file(f"{srv.url}/f.whl", tmp_path / "f.whl")
    assert "timed out after 1s" in err.value.message
    assert max(trickle.sent) < trickle.limit // 2


class Steady:
    """Headers at once, then ``body`` in 64 KiB pieces every ``pause`` seconds: a slow line.
    Unsized, it has no Content-Length and ends when the connection closes; ``endless``, it
    never ends (the pieces repeat)."""

    def __init__(self, body: bytes, pause: float = 0.05, sized: bool = True, endless: bool = False) -> None:
        self.body, self.pause, self.sized, self.endless = body, pause, sized, endless
        self.sent = 0

    def __call__(self, handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/octet-stream")
        handler.send_header(*(("Content-Length", str(len(self.body))) if self.sized else ("Connection", "close")))
        handler.end_headers()
        handler.close_connection = not self.sized
        try:
            while True:
                for start in range(0, len(self.body), 64 << 10):
                    handler.wfile.write(self.body[start:start + (64 << 10)])
                    handler.wfile.flush()
                    self.sent += len(self.body[start:start + (64 << 10)])
                    time.sleep(self.pause)
                if not self.endless:
                    return
        except OSError:
            pass


def test_a_download_slower_than_the_timeout_arrives_whole_while_it_keeps_coming(tmp_path):
    body = os.urandom(24 << 16)  # 1.5 MiB in 24 pieces, 0.05 s apart: about 1.2 s, at 0.5 s's timeout
    with Hostile({"/f.whl": Steady(body)}) as srv:
        got = HttpClient(timeout=0.5, retries=0).fetch_to_file(f"{srv.url}/f.whl", tmp_path / "f.whl", size=len(body))
    assert got["sha256"] == hashlib.sha256(body).hexdigest()
    assert (tmp_path / "f.whl").read_bytes() == body


def test_a_page_slower_than_the_timeout_is_read_whole_while_it_keeps_coming():
    body = b" " * (24 << 16)
    with Hostile({"/simple/foo/": Steady(body)}) as srv:
        assert HttpClient(timeout=0.5, retries=0).get(f"{srv.url}/simple/foo/", max_bytes=len(body)).body == body


def test_a_page_that_keeps_coming_for_more_than_a_few_timeouts_is_cut(monkeypatch):
    # A download may take hours on a slow line; a page or metadata file is small, and a
    # server feeding one at a download's slowest rate must not hold a lock for hours.
    monkeypatch.setattr(http_module, "GET_TIMEOUTS", 2)
    body = b" " * (48 << 16)  # about 2.4 s, steadily: far more than 2 timeouts of 0.5 s
    with Hostile({"/simple/foo/": Steady(body)}) as srv:
        started = time.monotonic()
        with pytest.raises(NetworkError) as err:
            HttpClient(timeout=0.5, retries=0).get(f"{srv.url}/simple/foo/", max_bytes=len(body))
    assert "timed out: the answer took more than 1s" in err.value.message
    # Cut at the deadline, not when the body ends (with room for a busy machine's delays).
    assert time.monotonic() - started < 1.8


def test_a_body_that_stalls_after_a_good_start_is_cut_one_timeout_after_its_last_progress(tmp_path):
    fast = Steady(os.urandom(8 << 16), pause=0.01)
    trickle = Trickle()

    def good_start_then_trickle(handler: BaseHTTPRequestHandler) -> None:
        fast.sized = False
        fast(handler)  # leaves the connection open: the trickle goes on in the same body
        trickle.sent.append(0)
        try:
            for _ in range(trickle.limit):
                handler.wfile.write(b" ")
                handler.wfile.flush()
                trickle.sent[-1] += 1
                time.sleep(0.2)
        except OSError:
            pass

    with Hostile({"/f.whl": good_start_then_trickle}) as srv:
        started = time.monotonic()
        with pytest.raises(NetworkError) as err:
            HttpClient(timeout=1, retries=0).fetch_to_file(f"{srv.url}/f.whl", tmp_path / "f.whl")
    assert "timed out after 1s" in err.value.message
    assert time.monotonic() - started < 10 and max(trickle.sent) < trickle.limit // 2


def test_an_endless_download_the_index_gives_no_size_for_is_cut(tmp_path, monkeypatch):
    monkeypatch.setattr(http_module, "MAX_UNSIZED_DOWNLOAD", 1 << 20)
    endless = Steady(os.urandom(1 << 16), pause=0.001, sized=False, endless=True)
    with Hostile({"/f.whl": endless}) as srv:
        with pytest.raises(NetworkError) as err:
            HttpClient(timeout=5, retries=0).fetch_to_file(f"{srv.url}/f.whl", tmp_path / "f.whl")
    assert "gives no size for it; refusing to read more" in err.value.message
    assert endless.sent < 8 << 20


def test_sync_installs_a_wheel_that_downloads_slower_than_the_timeout(tmp_path, monkeypatch):
    monkeypatch.setenv("SATLOCK_CACHE_DIR", str(tmp_path / "cache"))
    big = make_wheel(tmp_path / "dists", "foo", "1.0", files={"foo/__init__.py": "", "foo/blob.bin": os.urandom(24 << 16).hex()[: 24 << 16]})
    meta = zipfile.ZipFile(big).read("foo-1.0.dist-info/METADATA")
    routes: dict[str, Route] = {
        "/simple/foo/": json_page({"filename": big.name, "url": f"../../files/{big.name}",
                                   "hashes": {"sha256": sha256_of(big)}, "core-metadata": True}),
        f"/files/{big.name}": Steady(big.read_bytes()),
        f"/files/{big.name}.metadata": static(meta),
    }
    root = project(tmp_path)
    with Hostile(routes) as srv:
        assert lock(root, "--index-url", f"{srv.url}/simple", "--timeout", "0.5").exit_code == 0
        result = runner.invoke(app, ["sync", "--project", str(root), "--index-url", f"{srv.url}/simple", "--timeout", "0.5"])
    assert result.exit_code == 0, result.output
    assert next((root / ".venv").glob("lib/python*/site-packages/foo/blob.bin")).stat().st_size == 24 << 16


# -- 10. METADATA that inflates ----------------------------------------------------------------------------


def _bomb_wheel(dest: Path, inflated: int) -> Path:
    """A wheel of foo 1.0 whose METADATA inflates to ``inflated`` bytes (a few KB compressed)."""
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / "foo-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("foo/__init__.py", "")
        with zf.open("foo-1.0.dist-info/METADATA", "w", force_zip64=True) as member:
            member.write(b"Metadata-Version: 2.1\nName: foo\nVersion: 1.0\nSummary: ")
            chunk = b"A" * (1 << 20)
            for _ in range(inflated // len(chunk)):
                member.write(chunk)
            member.write(b"\n\n")
        zf.writestr("foo-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        zf.writestr("foo-1.0.dist-info/RECORD", "")
    return path


@pytest.mark.parametrize("how", ["range-requests", "whole-wheel", "pep658-file", "file-index"])
def test_metadata_that_inflates_past_the_cap_is_refused(tmp_path, how):
    bomb = _bomb_wheel(tmp_path / "dists", 40 << 20)
    digest = sha256_of(bomb)
    data = bomb.read_bytes()
    assert len(data) < 1 << 20

    def ranges(handler: BaseHTTPRequestHandler):
        spec = handler.headers.get("Range")
        if how != "range-requests" or not spec:
            return 200, {"Content-Type": "application/octet-stream"}, data
        start_s, end_s = spec.split("=", 1)[1].split("-")
        start, end = (len(data) - int(end_s), len(data) - 1) if not start_s else (int(start_s), int(end_s or len(data) - 1))
        return 206, {"Content-Range": f"bytes {start}-{end}/{len(data)}"}, data[start:end + 1]

    if how == "file-index":
        url = build_index(tmp_path / "index", [bomb], metadata_files=False).as_uri()
        result = lock(project(tmp_path), "--index-url", url)
    else:
        meta_attr = ' data-core-metadata="true"' if how == "pep658-file" else ""
        routes = {"/simple/foo/": html_page(f'<a href="../../files/{bomb.name}#sha256={digest}"{meta_attr}>x</a>'),
                  f"/files/{bomb.name}": ranges,
                  f"/files/{bomb.name}.metadata": static(b"Metadata-Version: 2.1\nName: foo\nVersion: 1.0\nSummary: "
                                                         + b"A" * (MAX_METADATA_BYTES + 10) + b"\n\n")}
        with Hostile(routes) as srv:
            result = lock(project(tmp_path), "--index-url", f"{srv.url}/simple")
    one_error(result, "larger than")


@pytest.mark.parametrize("which", ["tail", "member"])
def test_a_range_answer_longer_than_the_range_asked_is_refused_unread(tmp_path, which):
    # METADATA far enough from the end that reading it takes a range of its own.
    wheel = tmp_path / "foo-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("foo-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: foo\nVersion: 1.0\n")
        zf.writestr("foo/data.bin", os.urandom(256 << 10))
    data = wheel.read_bytes()
    flood = b"\0" * (32 << 20)

    def ranges(handler: BaseHTTPRequestHandler):
        spec = handler.headers.get("Range")
        if not spec:
            return 200, {"Content-Type": "application/octet-stream"}, data
        start_s, end_s = spec.split("=", 1)[1].split("-")
        tail = not start_s
        start, end = (len(data) - int(end_s), len(data) - 1) if tail else (int(start_s), int(end_s))
        start = max(start, 0)
        body = data[start:end + 1]
        if tail == (which == "tail"):
            body = flood + body  # a range of 32 MiB and more, whatever was asked
        return 206, {"Content-Range": f"bytes {start}-{end}/{len(data)}"}, body

    routes = {"/simple/foo/": html_page(f'<a href="../../files/{wheel.name}#sha256={sha256_of(wheel)}">x</a>'),
              f"/files/{wheel.name}": ranges}
    with Hostile(routes) as srv:
        result = lock(project(tmp_path), "--index-url", f"{srv.url}/simple")
    one_error(result, "larger than")


def test_metadata_under_the_cap_is_read(tmp_path):
    wheel = _bomb_wheel(tmp_path / "dists", 2 << 20)
    url = build_index(tmp_path / "index", [wheel], metadata_files=False).as_uri()
    assert lock(project(tmp_path), "--index-url", url).exit_code == 0


def test_metadata_cache_entries_carry_their_own_digest(tmp_path, monkeypatch, wheel):
    cache = tmp_path / "cache"
    monkeypatch.setenv("SATLOCK_CACHE_DIR", str(cache))
    url = build_index(tmp_path / "index", [wheel]).as_uri()
    assert lock(project(tmp_path), "--index-url", url).exit_code == 0
    [entry] = [p for p in (cache / METADATA).rglob("*") if p.is_file()]
    head, _, body = entry.read_bytes().partition(b"\n")
    assert hashlib.sha256(body).hexdigest().encode() in head


def test_hash_of_an_algorithm_satlock_cannot_verify_is_kept_but_a_sha256_is_computed(tmp_path, wheel):
    page = json_page({"filename": wheel.name, "url": f"../../files/{wheel.name}", "hashes": {"shake_128": "abcd"}})
    with Hostile({"/simple/foo/": page, f"/files/{wheel.name}": static(wheel.read_bytes())}) as srv:
        result = lock(project(tmp_path), "--index-url", f"{srv.url}/simple")
    assert result.exit_code == 0, result.output
    [pkg] = tomllib.loads((project(tmp_path) / "pylock.toml").read_text())["packages"]
    assert pkg["wheels"][0]["hashes"]["sha256"] == sha256_of(wheel)


def test_built_metadata_cache_entry_truncated_at_a_line_boundary_is_a_miss(tmp_path):
    from satlock.buildenv import wheelcache

    cache = Cache(tmp_path / "cache")
    metadata = b"Metadata-Version: 2.1\nName: foo\nVersion: 1.0\nRequires-Dist: bar\nRequires-Dist: baz\n"
    wheelcache.store_metadata(cache, "src", "profile", "env", metadata)
    assert wheelcache.cached_metadata(cache, "src", "profile", "env") == metadata
    [entry] = [p for p in (tmp_path / "cache" / wheelcache.METADATA_BUCKET).iterdir()]
    raw = entry.read_bytes()
    entry.write_bytes(raw[: raw.index(b"Requires-Dist: baz")])
    assert wheelcache.cached_metadata(cache, "src", "profile", "env") is None


def test_timeout_bounds_a_server_trickling_its_headers():
    sent: list[int] = []

    def headers_trickle(handler: BaseHTTPRequestHandler) -> None:
        sent.append(0)
        conn = len(sent) - 1
        try:
            handler.wfile.write(b"HTTP/1.1 200 OK\r\n")
            for _ in range(150):
                handler.wfile.write(b"X: y\r\n")
                handler.wfile.flush()
                sent[conn] += 1
                time.sleep(0.2)
        except OSError:
            pass

    with Hostile({"/simple/foo/": headers_trickle}) as srv:
        with pytest.raises(NetworkError) as err:
            HttpClient(timeout=1, retries=1, backoff=0.01).get(f"{srv.url}/simple/foo/")
    assert "timed out after 1s" in err.value.message
    assert len(sent) == 2 and max(sent) < 75


def test_credentials_are_not_sent_to_the_host_a_redirect_leads_to(tmp_path, wheel):
    with Hostile({}) as other:
        other_port = other.url.rsplit(":", 1)[1]
        seen: list[str | None] = []

        def page(handler: BaseHTTPRequestHandler):
            seen.append(handler.headers.get("Authorization"))
            return html_page(f'<a href="/files/{wheel.name}#sha256={sha256_of(wheel)}">{wheel.name}</a>')(handler)

        other.routes["/moved/foo/"] = page
        other.routes[f"/files/{wheel.name}"] = static(wheel.read_bytes())
        with Hostile({"/simple/foo/": static(b"", "text/plain", 302,
                                             Location=f"http://localhost:{other_port}/moved/foo/")}) as srv:
            url = srv.url.replace("http://", "http://alice:s3cret@") + "/simple"
            result = lock(project(tmp_path), "--index-url", url)
    assert result.exit_code == 0, result.output
    assert seen == [None]
    assert "s3cret" not in (project(tmp_path) / "pylock.toml").read_text()


def test_tampered_candidate_cache_is_a_miss_and_the_page_is_parsed_again(tmp_path, monkeypatch, wheel):
    cache = tmp_path / "cache"
    monkeypatch.setenv("SATLOCK_CACHE_DIR", str(cache))
    url = build_index(tmp_path / "index", [wheel]).as_uri()
    proj = project(tmp_path)
    assert lock(proj, "--index-url", url).exit_code == 0
    good = sha256_of(wheel)
    entries = [p for p in cache.rglob("*") if p.is_file() and good.encode() in p.read_bytes() and b"\0" not in p.name.encode()]
    for entry in entries:  # every cached copy of the hash, sealed or not, now names a path
        entry.write_bytes(entry.read_bytes().replace(good.encode(), b"../../../../../../../../tmp/x" + b"/" * 35))
    (proj / "pylock.toml").unlink()
    result = lock(proj, "--index-url", url)
    assert result.exit_code == 0, result.output
    [pkg] = tomllib.loads((proj / "pylock.toml").read_text())["packages"]
    assert pkg["wheels"][0]["hashes"] == {"sha256": good}


@pytest.mark.parametrize("filename,sha", [("foo-1.0-py3-none-any.whl", "../../x"), ("../foo-1.0.tar.gz", "a" * 64)])
def test_cached_file_rows_are_checked_like_page_entries(filename, sha):
    from satlock.resolver.candidates import DistFile

    row = DistFile(filename="foo-1.0-py3-none-any.whl", url="https://h/f", hashes={"sha256": "a" * 64}).to_row()
    with pytest.raises(ValueError):
        DistFile.from_row((filename, row[1], {"sha256": sha}, *row[3:]))


def _gzip_bomb(inflated: int) -> bytes:
    import gzip
    import io

    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb") as gz:
        gz.write(b"Metadata-Version: 2.1\nName: foo\nVersion: 1.0\nSummary: ")
        chunk = b"A" * (1 << 20)
        for _ in range(inflated // len(chunk)):
            gz.write(chunk)
    return buf.getvalue()


def test_content_encoding_bomb_on_a_metadata_file_is_capped(tmp_path, wheel):
    bomb = _gzip_bomb(16 << 20)
    routes = {"/simple/foo/": html_page(f'<a href="../../files/{wheel.name}#sha256={sha256_of(wheel)}" '
                                        f'data-core-metadata="true">x</a>'),
              f"/files/{wheel.name}.metadata": static(bomb, "text/plain", **{"Content-Encoding": "gzip"})}
    with Hostile(routes) as srv:
        result = lock(project(tmp_path), "--index-url", f"{srv.url}/simple")
    one_error(result, "larger than")


def test_downloads_are_not_decoded_so_an_encoding_bomb_cannot_fill_the_disk(tmp_path):
    bomb = _gzip_bomb(16 << 20)
    with Hostile({"/f.whl": static(bomb, **{"Content-Encoding": "gzip"})}) as srv:
        got = HttpClient(retries=0).fetch_to_file(f"{srv.url}/f.whl", tmp_path / "f.whl")
    assert (tmp_path / "f.whl").read_bytes() == bomb
    assert got["sha256"] == hashlib.sha256(bomb).hexdigest()


def _endless(handler: BaseHTTPRequestHandler) -> None:
    """An answer that never ends: zeros, until the client hangs up."""
    handler.send_response(200)
    handler.send_header("Content-Type", "application/octet-stream")
    handler.send_header("Connection", "close")
    handler.end_headers()
    chunk = b"\0" * (1 << 20)
    try:
        while True:
            handler.wfile.write(chunk)
    except OSError:
        return None


def test_a_download_longer_than_the_size_the_index_gave_stops_there_instead_of_filling_the_disk(tmp_path, wheel):
    """The page says how long the file is: reading on (gigabytes a second from a hostile server,
    until the timeout) could never give a file with the expected hash."""
    page = json_page({"filename": wheel.name, "url": f"../../files/{wheel.name}", "hashes": {"sha256": sha256_of(wheel)},
                      "size": wheel.stat().st_size, "core-metadata": False})
    with Hostile({"/simple/foo/": page, f"/files/{wheel.name}": _endless}) as srv:
        started = time.monotonic()
        result = lock(project(tmp_path), "--index-url", f"{srv.url}/simple", "--cache-dir", str(tmp_path / "cache"))
        took = time.monotonic() - started
    one_error(result, f"{srv.url}/files/{wheel.name}", f"larger than the {wheel.stat().st_size} bytes")
    assert took < 10
    assert sum(f.stat().st_size for f in (tmp_path / "cache").rglob("*") if f.is_file()) < 1 << 20


def test_a_page_whose_content_encoding_does_not_decode_is_one_plain_line(tmp_path):
    """It read: DecodeError (('Received response with content-encoding: gzip, but failed to decode it.', error(...)))."""
    page = static(b"\x1f\x8bnot gzip at all", JSON, **{"Content-Encoding": "gzip"})
    with Hostile({"/simple/foo/": page}) as srv:
        result = lock(project(tmp_path), "--index-url", f"{srv.url}/simple")
    line = one_error(result, f"{srv.url}/simple/foo/", "gzip", "does not decode")
    assert "DecodeError" not in line and "error(" not in line


def test_project_page_larger_than_the_cap_is_refused(tmp_path, monkeypatch):
    import satlock.resolver.index as index_module

    monkeypatch.setattr(index_module, "MAX_PAGE_BYTES", 1 << 20)
    body = b"<html><body>" + b"<a href='/f/foo-1.0.tar.gz'>x</a>" * 40000 + b"</body></html>"
    with Hostile({"/simple/foo/": static(body, "text/html")}) as srv:
        result = lock(project(tmp_path), "--index-url", f"{srv.url}/simple")
    one_error(result, f"{srv.url}/simple/foo/", "larger than")


def test_links_to_a_host_the_user_allowed_over_http_are_accepted():
    from satlock.http import Response
    from satlock.resolver.index import parse_project_page

    body = ('<html><body><a href="http://mirror.internal:8080/f/foo-1.0-py3-none-any.whl#sha256='
            + "a" * 64 + '">x</a></body></html>').encode()
    page = Response("https://index.example/simple/foo/", 200, {"content-type": "text/html"}, body)
    [f] = parse_project_page(page, allow_insecure_hosts=["mirror.internal:8080"])
    assert f.url == "http://mirror.internal:8080/f/foo-1.0-py3-none-any.whl"
    with pytest.raises(IndexFormatError, match="plain http to mirror.internal"):
        parse_project_page(page)


@pytest.mark.parametrize("bad", ["http://evil.example/f/foo-1.1-py3-none-any.whl",
                                 "HTTP://evil.example/f/foo-1.1-py3-none-any.whl",
                                 "http://files.example:80/f/foo-1.1-py3-none-any.whl",
                                 "file:///etc/foo-1.1-py3-none-any.whl",
                                 "http://evil.example\\@127.0.0.1/f/foo-1.1-py3-none-any.whl",
                                 "https://evil.example\\@files.example/f/foo-1.1-py3-none-any.whl",
                                 "http://127.0.0.1\t.evil.example/f/foo-1.1-py3-none-any.whl"])
def test_each_link_on_a_json_page_is_held_to_the_rule_whatever_its_neighbours(bad):
    import json

    from satlock.http import Response
    from satlock.resolver.index import parse_project_page

    good = {"filename": "foo-1.0-py3-none-any.whl", "url": "https://files.example/f/foo-1.0-py3-none-any.whl",
            "hashes": {"sha256": "a" * 64}}
    files = [good] * 3 + [{"filename": "foo-1.1-py3-none-any.whl", "url": bad, "hashes": {"sha256": "b" * 64}}]
    body = json.dumps({"meta": {"api-version": "1.0"}, "files": files}).encode()
    page = Response("https://index.example/simple/foo/", 200, {"content-type": "application/vnd.pypi.simple.v1+json"}, body)
    with pytest.raises(IndexFormatError, match="refusing the link"):
        parse_project_page(page)


def test_json_page_hashes_in_upper_case_or_with_other_algorithms_are_read_and_checked():
    import json

    from satlock.http import Response
    from satlock.resolver.index import parse_project_page

    def page(hashes: dict) -> Response:
        entry = {"filename": "foo-1.0-py3-none-any.whl", "url": "https://files.example/f/foo-1.0-py3-none-any.whl",
                 "hashes": hashes}
        body = json.dumps({"meta": {"api-version": "1.0"}, "files": [entry]}).encode()
        return Response("https://index.example/simple/foo/", 200, {"content-type": "application/json"}, body)

    [f] = parse_project_page(page({"sha256": "AB" * 32, "md5": "c" * 32}))
    assert f.hashes == {"sha256": "ab" * 32, "md5": "c" * 32}
    with pytest.raises(IndexFormatError, match="sha256 is not 64 hex digits"):
        parse_project_page(page({"sha256": "../" + "a" * 61}))
    with pytest.raises(IndexFormatError, match="sha256 is not 64 hex digits"):
        parse_project_page(page({"sha256": "a" * 64 + "\n"}))


def test_wheel_whose_metadata_uses_an_unknown_compression_is_one_line(tmp_path, wheel):
    data = bytearray(wheel.read_bytes())
    name = b"foo-1.0.dist-info/METADATA"
    pos = data.find(b"PK\x01\x02")
    while pos >= 0:
        name_len = int.from_bytes(data[pos + 28:pos + 30], "little")
        if bytes(data[pos + 46:pos + 46 + name_len]) == name:
            data[pos + 10:pos + 12] = (99).to_bytes(2, "little")  # AES, which zipfile cannot read
        pos = data.find(b"PK\x01\x02", pos + 4)
    wheel.write_bytes(bytes(data))
    url = build_index(tmp_path / "index", [wheel], metadata_files=False).as_uri()
    result = lock(project(tmp_path), "--index-url", url)
    one_error(result)  # a broken (not hostile) candidate is left out of the solve, and named
    assert f"{wheel.name}" in result.output and "not a valid wheel" in result.output
