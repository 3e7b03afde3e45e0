"""A client looks each host up once, however many connections it opens to it at once
(``satlock.connections.Lookups``): one lost DNS answer costs the resolver's whole retry
timeout, so twenty lookups per cold lock made a stall likely. A failed lookup is one
error line and is asked again on retry, not remembered."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from indexbuilder import IndexServer, build_index, make_wheel
from satlock.errors import NetworkError
from satlock.http import HttpClient
from satlock.parallel import fetch_many


def _counting_lookups(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    asked: list[str] = []
    real = socket.getaddrinfo
    lock = threading.Lock()

    def getaddrinfo(host, *args, **kwargs):  # type: ignore[no-untyped-def]
        with lock:
            asked.append(host)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


def test_many_parallel_connections_to_one_host_look_it_up_once(tmp_path, monkeypatch):
    wheels = [make_wheel(tmp_path / "dists", f"p{i}", "1.0") for i in range(12)]
    root = tmp_path / "index"
    build_index(root, wheels)
    asked = _counting_lookups(monkeypatch)
    with IndexServer(root) as srv:
        base = srv.url.replace("127.0.0.1", "localhost")
        client = HttpClient(timeout=10)
        pages = fetch_many(lambda i: client.get(f"{base}/simple/p{i}/"), range(12), max_workers=12)
    assert [p.status for p in pages] == [200] * 12
    assert asked.count("localhost") == 1


def test_a_host_that_does_not_resolve_is_one_error_and_asked_again_on_each_retry(monkeypatch):
    asked: list[str] = []

    def getaddrinfo(host, *args, **kwargs):  # type: ignore[no-untyped-def]
        asked.append(host)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    client = HttpClient(timeout=5, retries=2, backoff=0)
    with pytest.raises(NetworkError) as err:
        client.get("https://no-such-host.invalid/simple/x/")
    assert "unknown host" in err.value.message
    assert asked == ["no-such-host.invalid"] * 3


def test_connections_waiting_on_a_lookup_that_fails_share_its_failure_instead_of_asking_in_turn(monkeypatch):
    asked: list[str] = []

    def getaddrinfo(host, *args, **kwargs):  # type: ignore[no-untyped-def]
        asked.append(host)
        time.sleep(0.5)  # a resolver that gives up slowly, as a lost answer does
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    client = HttpClient(timeout=3, retries=0, backoff=0)

    def fetch(_: int) -> str:
        with pytest.raises(NetworkError) as err:
            client.get("https://dead.invalid/simple/x/")
        return err.value.message

    started = time.monotonic()
    messages = fetch_many(fetch, range(8), max_workers=8)
    # In turn, eight lookups took 4 s, past the 3 s timeout, and most read "timed out".
    assert time.monotonic() - started < 2.5
    assert len(asked) < 8
    assert all("unknown host" in m for m in messages), messages
