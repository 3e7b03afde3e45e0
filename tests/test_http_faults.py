"""The HTTP layer when servers misbehave, and the URL and credential policy."""

from __future__ import annotations

import base64
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from hostilekit import assert_one_error_line, run_cli
from indexbuilder import Faults, IndexServer, build_index, make_wheel

from satlock.errors import ConfigError, NetworkError
from satlock.cache import Cache, default_cache_dir
from satlock.http import HttpClient, check_index_url, redact
from satlock.resolver.index import IndexClient


@pytest.fixture(scope="module")
def index_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("index")
    build_index(root, [make_wheel(tmp_path_factory.mktemp("d"), "foo", "1.0")])
    return root


def fast(**kw) -> HttpClient:
    return HttpClient(**{"timeout": 2.0, "retries": 2, "backoff": 0.01, **kw})


def page_gets(srv: IndexServer) -> int:
    return sum(1 for _m, path, _r in srv.requests if path == "/simple/foo/")


class Recorder:
    """A tiny server answering every GET from ``answers`` (status, headers, body), recording headers."""

    def __init__(self, answer) -> None:
        self.seen: list[dict[str, str]] = []
        rec = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                rec.seen.append({k.lower(): v for k, v in self.headers.items()})
                status, headers, body = answer(self)
                self.send_response(status)
                for k, v in {**headers, "Content-Length": str(len(body))}.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def __enter__(self) -> Recorder:
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


# -- retries ----------------------------------------------------------------------------


def test_server_errors_are_retried_until_success(index_root):
    with IndexServer(index_root, Faults(fail_times={"/simple/foo/": 2})) as srv:
        http = fast()
        resp = http.get(srv.url + "/simple/foo/")
        assert resp.status == 200 and page_gets(srv) == 3 and http.request_count == 3


def test_dropped_connections_are_retried(index_root):
    with IndexServer(index_root, Faults(drop_times={"/simple/foo/": 2})) as srv:
        assert fast().get(srv.url + "/simple/foo/").status == 200
        assert page_gets(srv) == 3


def test_persistent_server_errors_end_in_a_network_error(index_root):
    with IndexServer(index_root, Faults(fail_times={"/simple/foo/": 10})) as srv:
        with pytest.raises(NetworkError, match=r"/simple/foo/.*HTTP 500.*3 times"):
            fast().get(srv.url + "/simple/foo/")


def test_stalled_server_fails_within_the_timeout(index_root):
    with IndexServer(index_root, Faults(stall={"/simple/foo/": 5.0})) as srv:
        started = time.monotonic()
        with pytest.raises(NetworkError, match="timed out"):
            HttpClient(timeout=0.3, retries=1, backoff=0.01).get(srv.url + "/simple/foo/")
        assert time.monotonic() - started < 2.0


def test_refused_connection_is_a_network_error_naming_the_url():
    with Recorder(lambda h: (200, {}, b"")) as rec:
        url = rec.url
    with pytest.raises(NetworkError, match=url.replace(".", r"\.")):
        fast(retries=0).get(url + "/simple/foo/")


def test_not_found_is_returned_and_forbidden_raises():
    with Recorder(lambda h: (404 if "missing" in h.path else 403, {}, b"no")) as rec:
        assert fast().get(rec.url + "/missing/").status == 404
        with pytest.raises(NetworkError, match="HTTP 403") as exc:
            fast().get(rec.url + "/private/")
        assert len(rec.seen) == 2
    assert "credentials" in (exc.value.hint or "")


def test_offline_client_refuses_network_but_reads_files(index_root):
    http = HttpClient(offline=True)
    with pytest.raises(NetworkError, match="offline"):
        http.get("https://example.invalid/simple/foo/")
    page = http.get((index_root / "simple" / "foo").as_uri(), {"Accept": "application/vnd.pypi.simple.v1+json"})
    assert page.status == 200 and page.header("Content-Type") == "application/vnd.pypi.simple.v1+json"
    assert http.get((index_root / "simple" / "nothing").as_uri()).status == 404
    assert http.request_count == 0


# -- URL policy and credentials ----------------------------------------------------------


@pytest.mark.parametrize("url", ["https://example.invalid/simple/", "file:///srv/simple/", "http://127.0.0.1:8080/simple/",
                                 "http://localhost/simple/", "http://[::1]:3141/simple/"])
def test_secure_and_local_index_urls_are_accepted(url):
    check_index_url(url)


@pytest.mark.parametrize("url", ["http://mirror.example.invalid/simple/", "ftp://example.invalid/simple/",
                                 "not a url", "/just/a/path"])
def test_insecure_or_invalid_index_urls_are_refused(url):
    with pytest.raises(ConfigError, match="index URL") as exc:
        check_index_url(url)
    assert exc.value.hint


def test_allowed_insecure_host_is_accepted():
    check_index_url("http://mirror.example.invalid:8080/simple/", ["mirror.example.invalid"])
    check_index_url("http://mirror.example.invalid:8080/simple/", ["mirror.example.invalid:8080"])


def test_index_client_refuses_plain_http_before_any_request():
    http = fast()
    with pytest.raises(ConfigError, match="mirror.example.invalid"):
        IndexClient(index_url="http://user:secret@mirror.example.invalid/simple/", cache=Cache(default_cache_dir()), http=http)
    assert http.request_count == 0


def test_redact_hides_user_and_password():
    assert redact("https://alice:s3cret@host/simple/") == "https://****@host/simple/"
    assert redact("https://token@host/simple/") == "https://****@host/simple/"
    assert redact("https://host/simple/") == "https://host/simple/"


def test_redact_keeps_the_git_user_of_an_ssh_url_but_not_its_password():
    assert redact("y @ git+ssh://git@example.com/org/y.git@v1") == "y @ git+ssh://git@example.com/org/y.git@v1"
    assert redact("git+ssh://git:pw@example.com/org/y") == "git+ssh://****@example.com/org/y"
    assert redact("git+https://gitlab-ci-token:abc@example.com/org/y") == "git+https://****@example.com/org/y"


def test_credentials_are_sent_as_basic_auth_and_never_shown():
    with Recorder(lambda h: (401, {}, b"who are you")) as rec:
        url = rec.url.replace("http://", "http://alice:s3cret@") + "/simple/foo/"
        with pytest.raises(NetworkError) as exc:
            fast().get(url)
    assert rec.seen[0]["authorization"] == "Basic " + base64.b64encode(b"alice:s3cret").decode()
    assert "s3cret" not in str(exc.value) and "alice" not in str(exc.value) and "****@" in str(exc.value)


def test_credentials_are_redacted_from_retry_failures(index_root):
    with IndexServer(index_root, Faults(fail_times={"/simple/foo/": 10})) as srv:
        url = srv.url.replace("http://", "http://alice:s3cret@") + "/simple/foo/"
        with pytest.raises(NetworkError) as exc:
            fast(retries=0).get(url)
    assert "s3cret" not in str(exc.value) and "****@127.0.0.1" in str(exc.value)


# -- revalidation -----------------------------------------------------------------------


def test_stale_page_is_revalidated_with_etag_and_reused_on_304():
    body = b'{"meta": {"api-version": "1.1"}, "name": "foo", "files": [{"filename": "foo-1.0-py3-none-any.whl", ' \
           b'"url": "../../files/foo-1.0-py3-none-any.whl", "hashes": {"sha256": "' + b"ab" * 32 + b'"}}]}'

    def answer(h):
        if h.headers.get("If-None-Match") == '"v1"':
            return 304, {"ETag": '"v1"'}, b""
        return 200, {"Content-Type": "application/vnd.pypi.simple.v1+json", "ETag": '"v1"',
                     "Cache-Control": "max-age=0"}, body

    with Recorder(answer) as rec:
        first = IndexClient(index_url=rec.url + "/simple", cache=Cache(default_cache_dir()), http=fast())
        second = IndexClient(index_url=rec.url + "/simple", cache=Cache(default_cache_dir()), http=fast())
        a, b = first.project_files("foo"), second.project_files("foo")
    assert [f.url for f in a] == [f.url for f in b] == [rec.url + "/files/foo-1.0-py3-none-any.whl"]
    assert [s.get("if-none-match") for s in rec.seen] == [None, '"v1"']
    assert "json" in rec.seen[0]["accept"]


def test_private_index_credentials_reach_its_files_but_not_the_file_urls():
    body = b'{"meta": {"api-version": "1.1"}, "name": "foo", "files": [{"filename": "foo-1.0-py3-none-any.whl", ' \
           b'"url": "../../files/foo-1.0-py3-none-any.whl", "hashes": {}}]}'

    def answer(h):
        if h.headers.get("Authorization") is None:
            return 401, {}, b"login"
        if h.path.startswith("/simple/"):
            return 200, {"Content-Type": "application/vnd.pypi.simple.v1+json"}, body
        return 200, {}, b"wheel bytes"

    with Recorder(answer) as rec:
        index = rec.url.replace("http://", "http://alice:s3cret@") + "/simple/"
        c = IndexClient(index_url=index, cache=Cache(default_cache_dir()), http=fast())
        [f] = c.project_files("foo")
        assert c.download(f).read_bytes() == b"wheel bytes"
    assert "s3cret" not in f.url and "s3cret" not in (f.index or "")
    assert all(s.get("authorization") for s in rec.seen)
    assert not any(b"s3cret" in p.read_bytes() for p in default_cache_dir().rglob("*") if p.is_file())


def test_only_a_certificate_that_does_not_verify_stops_the_retries() -> None:
    """A TLS exchange that breaks off (an alert from a busy server) is retried like a dropped
    connection; a certificate that does not verify is not, since a retry cannot fix it."""
    import ssl

    from urllib3.exceptions import MaxRetryError, SSLError

    from satlock.connections import is_certificate_problem as _is_certificate_problem

    def wrapped(inner: BaseException) -> MaxRetryError:
        outer = SSLError(inner)
        outer.__context__ = inner
        return MaxRetryError(None, "https://index.example.invalid/simple/x/", outer)

    assert _is_certificate_problem(wrapped(ssl.SSLCertVerificationError(1, "certificate verify failed")))
    assert not _is_certificate_problem(wrapped(ssl.SSLError(1, "[SSL: TLSV1_ALERT_DECODE_ERROR] tlsv1 alert decode error")))
    assert not _is_certificate_problem(wrapped(ssl.SSLEOFError(8, "EOF occurred in violation of protocol")))


def test_a_page_linking_other_credentials_cannot_replace_the_users_own_for_that_host():
    """A hostile page links its file as ``mallory:evil@<the index host>``: every request to that
    host still carries the credentials the user configured, the page's and later pages' too."""
    def answer(h):
        if h.path.startswith("/simple/"):
            name = h.path.split("/")[2]
            host = "http://mallory:evil@%s:%d" % h.server.server_address[:2]
            link = f"{host}/files/{name}-1.0-py3-none-any.whl"
            body = ('{"meta": {"api-version": "1.1"}, "name": "%s", "files": [{"filename": "%s-1.0-py3-none-any.whl", '
                    '"url": "%s", "hashes": {}}]}' % (name, name, link)).encode()
            return 200, {"Content-Type": "application/vnd.pypi.simple.v1+json"}, body
        return 200, {}, b"wheel bytes"

    with Recorder(answer) as rec:
        index = rec.url.replace("http://", "http://alice:s3cret@") + "/simple/"
        c = IndexClient(index_url=index, cache=Cache(default_cache_dir()), http=fast())
        for name in ("foo", "bar"):
            [f] = c.project_files(name)
            c.download(f)
    alice = "Basic " + base64.b64encode(b"alice:s3cret").decode()
    assert len(rec.seen) == 4
    assert [s.get("authorization") for s in rec.seen] == [alice] * 4


def test_an_index_host_that_does_not_parse_fails_at_once_saying_so(tmp_path):
    project = tmp_path / "p"
    project.mkdir()
    (project / "pyproject.toml").write_text('[project]\nname = "p"\nversion = "0"\ndependencies = ["six"]\n')
    result = run_cli("lock", "--project", project, "--index-url", "https://a..b/simple/")
    assert_one_error_line(result, "the host name does not parse", "a..b", "(tried once)")
