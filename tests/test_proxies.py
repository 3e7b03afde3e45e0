"""Requests through the proxy the environment names (``HTTPS_PROXY``, ``HTTP_PROXY``,
``ALL_PROXY``, ``NO_PROXY``), as pip and uv make them."""

from __future__ import annotations

import socket
import threading
import time
import tomllib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from hostilekit import assert_one_error_line, run_cli
from indexbuilder import IndexServer, build_index, make_wheel, project_toml
from proxykit import ProxyServer, ScriptedProxy
from satlock.errors import ConfigError
from satlock.proxies import Proxies


def _served(tmp_path: Path) -> Path:
    served = tmp_path / "served"
    build_index(served, [make_wheel(tmp_path / "d", "a", "1.0", requires=["b"]), make_wheel(tmp_path / "d", "b", "2.0")])
    return served


def _project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text(project_toml(["a"]))
    return project


def _locked(project: Path) -> dict[str, str]:
    return {p["name"]: p["version"] for p in tomllib.loads((project / "pylock.toml").read_text())["packages"]}


def test_an_http_index_is_locked_and_synced_through_http_proxy(tmp_path, monkeypatch):
    project = _project(tmp_path)
    with IndexServer(_served(tmp_path)) as index, ProxyServer() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url())
        result = run_cli("lock", "--project", project, "--index-url", f"{index.url}/simple/")
        assert result.exit_code == 0, result.output
        synced = run_cli("sync", "--project", project, "--index-url", f"{index.url}/simple/")
        assert synced.exit_code == 0, synced.output
    assert _locked(project) == {"a": "1.0", "b": "2.0"}
    asked = [target for method, target, _auth in proxy.requests]
    assert f"{index.url}/simple/a/" in asked and any(t.endswith(".whl") for t in asked)
    assert len(index.requests) == len(proxy.requests)


def test_an_https_index_is_reached_through_a_connect_tunnel(tmp_path, monkeypatch):
    import ssl

    import trustme

    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(context)
    project = _project(tmp_path)
    with IndexServer(_served(tmp_path), tls=context) as index, ProxyServer() as proxy:
        monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
        monkeypatch.setenv("https_proxy", proxy.url())
        result = run_cli("lock", "--project", project, "--index-url", f"{index.url}/simple/")
    assert result.exit_code == 0, result.output
    assert _locked(project) == {"a": "1.0", "b": "2.0"}
    port = index.url.rsplit(":", 1)[1]
    assert proxy.requests and all(r[:2] == ("CONNECT", f"localhost:{port}") for r in proxy.requests)
    assert index.requests


@pytest.mark.parametrize("no_proxy", ["127.0.0.1", "localhost,127.0.0.0/8", "*", " foo.example 127.0.0.1 "])
def test_no_proxy_sends_requests_straight_to_the_host(tmp_path, monkeypatch, no_proxy):
    project = _project(tmp_path)
    with IndexServer(_served(tmp_path)) as index, ProxyServer() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url())
        monkeypatch.setenv("NO_PROXY", no_proxy)
        result = run_cli("lock", "--project", project, "--index-url", f"{index.url}/simple/")
    assert result.exit_code == 0, result.output
    assert proxy.requests == [] and index.requests


class _Redirector:
    """Answers every GET on 127.0.0.1 with a 302 to the same path on ``target``."""

    def __init__(self, target: str) -> None:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self.send_response(302)
                self.send_header("Location", target + self.path)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.mark.parametrize("no_proxy, proxied_host", [("localhost", "127.0.0.1"), ("127.0.0.1", "localhost"), ("", None)])
def test_each_hop_of_a_redirect_goes_through_the_proxy_or_not_by_its_own_host(tmp_path, monkeypatch, no_proxy, proxied_host):
    project = _project(tmp_path)
    with IndexServer(_served(tmp_path)) as index, ProxyServer() as proxy:
        redirector = _Redirector(index.url.replace("127.0.0.1", "localhost"))
        monkeypatch.setenv("HTTP_PROXY", proxy.url())
        monkeypatch.setenv("NO_PROXY", no_proxy)
        try:
            result = run_cli("lock", "--project", project, "--index-url", f"{redirector.url}/simple/")
        finally:
            redirector.close()
    assert result.exit_code == 0, result.output
    hosts = {target.split("/")[2].split(":")[0] for _m, target, _a in proxy.requests}
    assert hosts == ({proxied_host} if proxied_host else {"127.0.0.1", "localhost"})


def test_the_credentials_in_the_proxy_url_go_to_the_proxy_and_nowhere_else(tmp_path, monkeypatch):
    project = _project(tmp_path)
    with IndexServer(_served(tmp_path)) as index, ProxyServer(credentials=("alice", "s3cr@t")) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url("alice:s3cr%40t"))
        result = run_cli("lock", "--project", project, "--index-url", f"{index.url}/simple/")
    assert result.exit_code == 0, result.output
    assert proxy.requests and all(auth is not None for _m, _t, auth in proxy.requests)
    assert "s3cr" not in (project / "pylock.toml").read_text()


@pytest.mark.parametrize("variable, https", [("HTTP_PROXY", False), ("HTTPS_PROXY", True)])
def test_a_proxy_that_wants_other_credentials_is_one_error_line_without_the_password(tmp_path, monkeypatch, variable, https):
    project = _project(tmp_path)
    with ProxyServer(credentials=("alice", "right")) as proxy:
        monkeypatch.setenv(variable, proxy.url("alice:wrong-pw"))
        index = "https://localhost:1/simple/" if https else "http://127.0.0.1:1/simple/"
        result = run_cli("lock", "--project", project, "--index-url", index)
    assert_one_error_line(result, "407", variable, proxy.url())
    assert "wrong-pw" not in result.output
    assert len(proxy.requests) == 1  # asked once: the same credentials get the same answer
    assert not (project / "pylock.toml").exists()


def test_a_proxy_that_is_down_is_named_in_the_error(tmp_path, monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("HTTPS_PROXY", f"http://bob:hunter2@127.0.0.1:{port}")
    project = _project(tmp_path)
    result = run_cli("lock", "--project", project, "--index-url", "https://localhost:1/simple/", "--timeout", "5")
    assert_one_error_line(result, "connection refused", f"through the proxy http://127.0.0.1:{port} (HTTPS_PROXY)")
    assert "hunter2" not in result.output


def test_a_socks_proxy_is_refused_naming_the_variable_to_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("ALL_PROXY", "socks5://carol:pw123@127.0.0.1:1080")
    project = _project(tmp_path)
    result = run_cli("lock", "--project", project, "--index-url", "https://localhost:1/simple/")
    assert_one_error_line(result, "ALL_PROXY", "socks5://", "http:// and https:// proxies")
    assert "pw123" not in result.output


def test_an_all_proxy_other_tools_use_does_not_stop_requests_with_their_own_variable(tmp_path, monkeypatch):
    project = _project(tmp_path)
    with IndexServer(_served(tmp_path)) as index, ProxyServer() as proxy:
        monkeypatch.setenv("ALL_PROXY", "socks5://127.0.0.1:1080")
        monkeypatch.setenv("HTTP_PROXY", proxy.url())
        result = run_cli("lock", "--project", project, "--index-url", f"{index.url}/simple/")
    assert result.exit_code == 0, result.output
    assert proxy.requests


def test_a_file_index_is_read_whatever_the_proxy_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:1")
    project = _project(tmp_path)
    result = run_cli("lock", "--project", project, "--index-url", (_served(tmp_path) / "simple").as_uri())
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("environ, url, expected", [
    ({"HTTPS_PROXY": "http://p:1"}, "https://index.example/simple/", "http://p:1"),
    ({"HTTPS_PROXY": "http://p:1"}, "http://index.example/simple/", None),
    ({"https_proxy": "http://lower:1", "HTTPS_PROXY": "http://upper:1"}, "https://x.example/", "http://lower:1"),
    ({"https_proxy": "", "HTTPS_PROXY": "http://upper:1"}, "https://x.example/", None),
    ({"ALL_PROXY": "http://all:1"}, "http://x.example/", "http://all:1"),
    ({"ALL_PROXY": "http://all:1", "HTTP_PROXY": "http://own:1"}, "http://x.example/", "http://own:1"),
    ({"HTTP_PROXY": "http://p:1", "REQUEST_METHOD": "GET"}, "http://x.example/", None),
    ({"http_proxy": "http://p:1", "REQUEST_METHOD": "GET"}, "http://x.example/", "http://p:1"),
    ({"HTTPS_PROXY": "p.example:3128"}, "https://x.example/", "http://p.example:3128"),
    ({"HTTPS_PROXY": "https://p.example"}, "https://x.example/", "https://p.example:443"),
    ({"HTTPS_PROXY": "http://p:1"}, "file:///srv/simple/", None),
])
def test_the_proxy_a_url_goes_through(environ, url, expected):
    proxy = Proxies.from_environ(environ).for_url(url)
    assert (proxy.url if proxy else None) == expected


@pytest.mark.parametrize("no_proxy, url, bypassed", [
    ("example.com", "https://example.com/", True),
    ("example.com", "https://files.example.com/", True),
    (".example.com", "https://example.com/", True),
    ("*.example.com", "https://a.b.example.com/", True),
    ("example.com", "https://notexample.com/", False),
    ("example.com:8443", "https://example.com:8443/", True),
    ("example.com:8443", "https://example.com/", False),
    ("10.0.0.0/8", "http://10.20.30.40/", True),
    ("10.0.0.0/8", "http://11.0.0.1/", False),
    ("::1", "http://[::1]:8080/", True),
    ("[::1]:8080", "http://[::1]:8080/", True),
    ("EXAMPLE.com", "https://Example.COM./", True),
    ("*", "https://anything.example/", True),
    ("", "https://anything.example/", False),
])
def test_no_proxy_matches_hosts_subdomains_networks_and_ports(no_proxy, url, bypassed):
    proxies = Proxies.from_environ({"HTTPS_PROXY": "http://p:1", "HTTP_PROXY": "http://p:1", "NO_PROXY": no_proxy})
    assert (proxies.for_url(url) is None) == bypassed


@pytest.mark.parametrize("value", ["socks5://h:1080", "http://", "http://h:notaport", "ftp://h"])
def test_a_proxy_value_satlock_cannot_use_is_a_config_error_naming_the_variable(value):
    with pytest.raises(ConfigError, match="HTTPS_PROXY"):
        Proxies.from_environ({"HTTPS_PROXY": value}).for_url("https://x.example/")


def test_the_proxy_settings_do_not_show_a_password_in_their_repr():
    proxies = Proxies.from_environ({"HTTPS_PROXY": "http://u:topsecret@p:1"})
    assert "topsecret" not in repr(proxies) and "topsecret" not in repr(proxies.for_url("https://x.example/"))


def _trickle(sock: socket.socket) -> None:
    """An answer to CONNECT that never ends: a byte of one endless header line every 0.1s."""
    sock.sendall(b"HTTP/1.1 200 Connection established\r\nX-Slow: ")
    for _ in range(200):
        sock.sendall(b"a")
        time.sleep(0.1)


def test_a_proxy_trickling_its_answer_to_connect_is_held_to_the_timeout(tmp_path, monkeypatch):
    project = _project(tmp_path)
    with ScriptedProxy(_trickle) as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url())
        started = time.monotonic()
        result = run_cli("lock", "--project", project, "--index-url", "https://localhost:1/simple/", "--timeout", "1")
    assert time.monotonic() - started < 15  # four tries of a second, not of a minute
    assert_one_error_line(result, "timed out after 1s", "HTTPS_PROXY")


@pytest.mark.parametrize("variable, https", [("HTTP_PROXY", False), ("HTTPS_PROXY", True)])
def test_the_hint_for_a_proxy_that_wants_credentials_says_where_they_go(tmp_path, monkeypatch, variable, https):
    def wants_credentials(sock: socket.socket) -> None:
        sock.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    project = _project(tmp_path)
    with ScriptedProxy(wants_credentials) as proxy:
        monkeypatch.setenv(variable, proxy.url())
        index = "https://localhost:1/simple/" if https else "http://127.0.0.1:1/simple/"
        result = run_cli("lock", "--project", project, "--index-url", index)
    assert_one_error_line(result, "407", variable)
    assert "USER:PASSWORD@" in result.output and "****" not in result.output


@pytest.mark.parametrize("value", ["http://pro xy:3128", "http://a..b:3128"])
def test_a_proxy_host_that_is_no_host_name_is_one_error_naming_the_variable(tmp_path, monkeypatch, value):
    monkeypatch.setenv("HTTP_PROXY", value)
    project = _project(tmp_path)
    result = run_cli("lock", "--project", project, "--index-url", "http://127.0.0.1:1/simple/")
    assert_one_error_line(result, "HTTP_PROXY is not a proxy URL")
    assert "tried" not in result.output


@pytest.mark.parametrize("value, shown", [("//h:1", "//h:1"), ("user:secret@:3128", "****@:3128"),
                                          ("//user:secret@:1", "//****@:1")])
def test_a_proxy_value_without_a_host_is_quoted_as_written_with_credentials_hidden(tmp_path, monkeypatch, value, shown):
    monkeypatch.setenv("HTTP_PROXY", value)
    project = _project(tmp_path)
    result = run_cli("lock", "--project", project, "--index-url", "http://127.0.0.1:1/simple/")
    assert_one_error_line(result, f"HTTP_PROXY names no proxy host: {shown}")
    assert "http://" not in result.output.split("hint:", 1)[0] and "secret" not in result.output


def test_a_proxy_value_with_a_newline_or_escape_sequence_is_still_one_error_line(tmp_path, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "//\nfake: line@:1\x1b[2J")
    project = _project(tmp_path)
    result = run_cli("lock", "--project", project, "--index-url", "http://127.0.0.1:1/simple/")
    assert_one_error_line(result, "HTTP_PROXY names no proxy host")
    assert "\x1b" not in result.output and "\\x1b[2J" in result.output


def test_an_answer_the_forwarding_proxy_refuses_with_names_the_proxy(tmp_path, monkeypatch):
    def forbidden(sock: socket.socket) -> None:
        sock.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")

    project = _project(tmp_path)
    with ScriptedProxy(forbidden) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url())
        result = run_cli("lock", "--project", project, "--index-url", "http://127.0.0.1:1/simple/")
    assert_one_error_line(result, "HTTP 403", f"through the proxy {proxy.url()} (HTTP_PROXY)")
    assert "HTTP_PROXY" in result.output.split("hint:", 1)[1]


def test_a_proxy_that_cannot_reach_the_index_is_asked_again_like_the_index_itself(tmp_path, monkeypatch):
    def bad_gateway(sock: socket.socket) -> None:
        sock.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    project = _project(tmp_path)
    with ScriptedProxy(bad_gateway) as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url())
        result = run_cli("lock", "--project", project, "--index-url", "https://localhost:1/simple/")
    assert_one_error_line(result, "HTTP 502", "HTTPS_PROXY", "localhost", "tried 4 times")
    assert proxy.hits == 4


@pytest.mark.parametrize("port", ["99999", "abc"])
def test_a_direct_reference_with_a_port_no_url_can_have_is_one_error_line_with_a_proxy_set(tmp_path, monkeypatch, port):
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:1")
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text(project_toml([f"a @ https://localhost:{port}/a-1.0-py3-none-any.whl"]))
    result = run_cli("lock", "--project", project, "--index-url", (_served(tmp_path) / "simple").as_uri(), "--timeout", "1")
    assert_one_error_line(result, f"https://localhost:{port}/a-1.0-py3-none-any.whl")


@pytest.mark.parametrize("scheme, variable", [("http", "http_proxy"), ("https", "https_proxy")])
def test_an_index_host_that_does_not_parse_fails_at_once_through_a_proxy_too(tmp_path, monkeypatch, scheme, variable):
    project = tmp_path / "p"
    project.mkdir()
    (project / "pyproject.toml").write_text(project_toml(["six"]))
    with ProxyServer() as proxy:
        monkeypatch.setenv(variable, proxy.url())
        result = run_cli("lock", "--project", project, "--index-url", f"{scheme}://a..b/simple/", "--allow-insecure-host", "a..b")
    assert_one_error_line(result, "the host name does not parse", "a..b", "(tried once)")
    assert proxy.requests == []
