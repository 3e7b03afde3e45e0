"""A forwarding proxy on 127.0.0.1 for the tests: ``CONNECT`` tunnels and absolute-form GETs,
with optional Basic credentials, logging what it was asked; and ``ScriptedProxy``, one that
misbehaves as a test tells it to."""

from __future__ import annotations

import base64
import http.client
import select
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

_PASSED_ON = ("Content-Type", "Content-Length", "Content-Range", "Accept-Ranges", "Location")


class ProxyServer:
    """``requests`` logs (method, target, the Proxy-Authorization it was sent) of every request."""

    def __init__(self, credentials: tuple[str, str] | None = None) -> None:
        self.requests: list[tuple[str, str, str | None]] = []
        self.headers: list[dict[str, str]] = []  # every request's headers, in the order of ``requests``
        expected = None
        if credentials is not None:
            expected = "Basic " + base64.b64encode(":".join(credentials).encode()).decode()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _allowed(self) -> bool:
                given = self.headers.get("Proxy-Authorization")
                proxy.requests.append((self.command, self.path, given))
                proxy.headers.append(dict(self.headers.items()))
                if expected is None or given == expected:
                    return True
                self.send_response(407)
                self.send_header("Proxy-Authenticate", 'Basic realm="tests"')
                self.send_header("Content-Length", "0")
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                return False

            def do_CONNECT(self) -> None:
                if not self._allowed():
                    return
                host, _, port = self.path.rpartition(":")
                upstream = socket.create_connection((host.strip("[]"), int(port)))
                self.send_response(200, "Connection established")
                self.end_headers()
                self.close_connection = True
                sockets = [self.connection, upstream]
                try:
                    while True:
                        ready, _, _ = select.select(sockets, [], [], 10)
                        if not ready:
                            return
                        for s in ready:
                            data = s.recv(65536)
                            if not data:
                                return
                            (upstream if s is self.connection else self.connection).sendall(data)
                except OSError:
                    return
                finally:
                    upstream.close()

            def do_GET(self) -> None:
                if not self._allowed():
                    return
                target = urlsplit(self.path)
                conn = http.client.HTTPConnection(target.hostname, target.port or 80, timeout=10)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("proxy-authorization", "proxy-connection")}
                conn.request("GET", target.path + (f"?{target.query}" if target.query else ""), headers=headers)
                answer = conn.getresponse()
                body = answer.read()
                self.send_response(answer.status)
                for name in _PASSED_ON:
                    if answer.getheader(name) is not None:
                        self.send_header(name, answer.getheader(name))
                self.end_headers()
                self.wfile.write(body)
                conn.close()

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def url(self, userinfo: str = "") -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{userinfo + '@' if userinfo else ''}{host}:{port}"

    def __enter__(self) -> ProxyServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


class ScriptedProxy:
    """A misbehaving proxy on 127.0.0.1: each connection's request head is read, then
    ``answer(sock)`` does what it likes with the socket; ``hits`` counts the connections."""

    def __init__(self, answer: Callable[[socket.socket], None]) -> None:
        self.hits = 0
        self._answer = answer
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._address = self._sock.getsockname()[:2]
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def url(self, userinfo: str = "") -> str:
        host, port = self._address
        return f"http://{userinfo + '@' if userinfo else ''}{host}:{port}"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.hits += 1
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        with conn:
            head = b""
            try:
                while b"\r\n\r\n" not in head:
                    data = conn.recv(4096)
                    if not data:
                        return
                    head += data
                self._answer(conn)
            except OSError:
                return

    def __enter__(self) -> ScriptedProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._sock.close()
