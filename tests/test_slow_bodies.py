"""Bodies held to a rate, not a deadline: a slow line's download arrives whole, a server
that holds a body open without sending it is cut one timeout after its last progress."""

from __future__ import annotations

import gzip
import os
import time
from http.server import BaseHTTPRequestHandler

import pytest

from test_hostile_index import Hostile, Steady, lock, one_error, project
from satlock.errors import NetworkError
from satlock.http import HttpClient


def slow_redirect(delay: float, location: str):
    """A redirect that takes ``delay`` seconds of the request's timeout to answer."""
    def route(handler: BaseHTTPRequestHandler) -> None:
        time.sleep(delay)
        handler.send_response(302)
        handler.send_header("Location", location)
        handler.send_header("Content-Length", "0")
        handler.end_headers()
    return route


def test_a_slow_download_after_a_slow_redirect_arrives_whole(tmp_path):
    # The redirect takes 1.2 s of the 1.5 s timeout; the body then pauses 0.5 s between its
    # pieces. It was read with what the redirect left (0.3 s) as its socket timeout.
    body = os.urandom(6 << 16)
    with Hostile({"/r": slow_redirect(1.2, "/f.whl"), "/f.whl": Steady(body, pause=0.5)}) as srv:
        got = HttpClient(timeout=1.5, retries=0).fetch_to_file(f"{srv.url}/r", tmp_path / "f.whl", size=len(body))
    assert (tmp_path / "f.whl").read_bytes() == body and len(got["sha256"]) == 64


def test_a_body_sending_a_byte_just_inside_each_timeout_is_cut_one_timeout_after_its_last_progress(tmp_path):
    progress: list[float] = []

    def good_start_then_drip(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(10 << 20))
        handler.end_headers()
        handler.wfile.write(os.urandom(64 << 10))
        handler.wfile.flush()
        progress.append(time.monotonic())
        try:
            for _ in range(50):
                time.sleep(0.9)  # each read gets its byte within the 1 s socket timeout
                handler.wfile.write(b"x")
                handler.wfile.flush()
        except OSError:
            pass

    with Hostile({"/f.whl": good_start_then_drip}) as srv:
        with pytest.raises(NetworkError) as err:
            HttpClient(timeout=1, retries=0).fetch_to_file(f"{srv.url}/f.whl", tmp_path / "f.whl")
    assert "timed out after 1s" in err.value.message
    assert time.monotonic() - progress[0] < 1.6  # not two timeouts, as when only reads were timed


def test_a_gzip_page_that_never_decodes_to_a_byte_is_cut_at_the_timeout(tmp_path):
    # Empty deflate blocks without end: urllib3 reads on for a decoded byte and never returns
    # to satlock, so only the watchdog can cut it.
    header = gzip.compress(b"")[:10]

    def empty_blocks(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/html")
        handler.send_header("Content-Encoding", "gzip")
        handler.send_header("Connection", "close")
        handler.end_headers()
        try:
            handler.wfile.write(header)
            for _ in range(3000):
                handler.wfile.write(b"\x00\x00\x00\xff\xff" * 1000)
                handler.wfile.flush()
                time.sleep(0.01)
        except OSError:
            pass

    with Hostile({"/simple/foo/": empty_blocks}) as srv:
        started = time.monotonic()
        result = lock(project(tmp_path), "--index-url", f"{srv.url}/simple", "--timeout", "1")
    one_error(result, "timed out after 1s")
    assert time.monotonic() - started < 15  # 4 tries of about 1 s each, and the backoff


def test_a_download_cut_for_its_size_does_not_hand_the_rest_of_its_body_to_the_next_request(tmp_path):
    # The connection went back to the pool mid-body; the next request on it read the rest
    # of the oversized file as its own answer.
    def oversized(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(200_000))
        handler.end_headers()
        handler.wfile.write(b"a" * 100_000)
        handler.wfile.flush()
        time.sleep(0.3)
        rest = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nEVIL!"
        handler.wfile.write(rest + b"b" * (100_000 - len(rest)))

    with Hostile({"/f.whl": oversized, "/page": lambda _h: (200, {}, b"good")}) as srv:
        client = HttpClient(timeout=2, retries=0)
        with pytest.raises(NetworkError, match="larger than the 50000 bytes"):
            client.fetch_to_file(f"{srv.url}/f.whl", tmp_path / "f.whl", size=50_000)
        assert client.get(f"{srv.url}/page").body == b"good"


def endless_answer(status: int, **headers: str):
    """An answer whose chunked body comes fast and never ends (until the client goes)."""
    def route(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        handler.close_connection = True
        try:
            started = time.monotonic()
            while time.monotonic() - started < 20:
                handler.wfile.write(b"10000\r\n" + b"x" * 0x10000 + b"\r\n")
        except OSError:
            pass
    return route


@pytest.mark.parametrize("route, needle", [
    (endless_answer(302, Location="/ok"), None),
    (endless_answer(503), "HTTP 503"),
    (endless_answer(403), "HTTP 403"),
])
def test_the_endless_body_of_a_redirect_or_an_error_is_not_read_past_the_timeout(route, needle):
    # urllib3's drain_conn read such a body for as long as the server sent it.
    with Hostile({"/simple/foo/": route, "/ok": lambda _h: (200, {}, b"page")}) as srv:
        started = time.monotonic()
        client = HttpClient(timeout=1, retries=1, backoff=0)
        if needle is None:
            assert client.get(f"{srv.url}/simple/foo/").body == b"page"
        else:
            with pytest.raises(NetworkError, match=needle):
                client.get(f"{srv.url}/simple/foo/")
    assert time.monotonic() - started < 4


def test_a_download_answered_404_with_an_endless_body_fails_at_once(tmp_path):
    with Hostile({"/f.whl": endless_answer(404)}) as srv:
        started = time.monotonic()
        with pytest.raises(NetworkError, match="not found"):
            HttpClient(timeout=1, retries=0).fetch_to_file(f"{srv.url}/f.whl", tmp_path / "f.whl")
    assert time.monotonic() - started < 2
