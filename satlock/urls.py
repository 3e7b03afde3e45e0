"""URLs as satlock may use them: which it will fetch, and what of them may be shown or stored.

The index URL rule (``https``, ``file``, plain ``http`` only to loopback or a host the user
allowed), the same rule for links and redirects a remote server chooses, credentials split
off a URL (and redacted from every message), and ``file://`` URLs as paths.
"""

from __future__ import annotations

import base64
import ipaddress
import re
from pathlib import Path
from typing import Collection
from urllib.parse import unquote, urlsplit, urlunsplit

from satlock.errors import ConfigError

__all__ = ["check_index_url", "redact", "is_loopback", "remote_link_refusal", "strip_credentials", "split_auth",
           "url_to_path"]


# Up to the last "@" before the path: a password may hold an unquoted "@" or space. Slashes
# past "://" are skipped: "https:///user:pw@host" and a proxy value "//user:pw@:1" (shown
# as "http:////user:pw@:1" before its scheme is taken off again) quote a password too.
_USERINFO = re.compile(r"(?<=://)(/*)([^/?#\r\n\t'\"<>]*@)")


def redact(text: str) -> str:
    """``text`` with the ``user:password@`` of every URL in it replaced by ``****@`` (``git@`` kept).

    The one redaction used for every message, log line and debug output: it works on
    text rather than on a parsed URL, so a URL too broken to parse (the very case an
    "invalid index URL" error reports) and a git error quoting its remote are redacted too.
    """
    return _USERINFO.sub(_masked, text)


def _masked(userinfo: re.Match[str]) -> str:
    """``****@`` for a user and password, or a user alone (often a token); ``git@`` is kept:
    it is the user of every git-over-SSH URL, no secret, and a hint that tells the user to
    write ``y @ git+ssh://****@host/...`` would give them a URL that does not work."""
    return userinfo.group(1) + ("git@" if userinfo.group(2) == "git@" else "****@")


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_index_url(url: str, allow_insecure_hosts: Collection[str] = ()) -> None:
    """Refuse index URLs that would let a network attacker pick the packages we install.

    ``https`` and ``file`` are fine. Plain ``http`` is only accepted for this machine
    (loopback) or for a host the user named in ``allow_insecure_hosts`` (as ``host`` or
    ``host:port``), since anyone on the path could otherwise swap the files and the hashes
    together.
    """
    shown = redact(url)
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"invalid index URL {shown!r}: {exc}", hint="use an https:// or file:// URL") from None
    scheme = parts.scheme.lower()
    if scheme == "file":
        return
    if scheme not in ("http", "https") or not host:
        raise ConfigError(
            f"invalid index URL {shown!r}: expected an https:// or file:// URL",
            hint="give the full URL of a simple index, e.g. https://host/simple/, or file:///path/to/simple/",
        )
    if scheme == "https" or _plain_http_allowed(host, port, allow_insecure_hosts):
        return
    raise ConfigError(
        f"refusing plain http index URL {shown!r}: packages fetched over http can be replaced in transit",
        hint=f"use https, or if you trust the network add {host!r} to allow-insecure-host",
    )


def _plain_http_allowed(host: str, port: int | None, allow_insecure_hosts: Collection[str]) -> bool:
    """The http rule: plain http only to this machine or a host the user allowed (``host`` or ``host:port``)."""
    allowed = {h.lower() for h in allow_insecure_hosts}
    return is_loopback(host) or host.lower() in allowed or (port is not None and f"{host}:{port}".lower() in allowed)


def remote_link_refusal(url: str, allow_insecure_hosts: Collection[str] = ()) -> str | None:
    """Why ``url``, met on a remote page or in a redirect, may not be fetched; ``None`` if it may.

    A remote server chooses these URLs, so they are held to the rule for configured index
    URLs and no further: ``https``, or plain ``http`` to loopback or an allowed insecure
    host. ``file://`` (a remote page naming a file on this machine) is never allowed.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "it is not a valid URL"
    if any(c == "\\" or c.isspace() or ord(c) < 32 for c in parts.netloc):
        # Parsers disagree on where such a host ends (``evil\\@127.0.0.1``): the host this
        # rule reads must be the one connected to.
        return "its host part holds a backslash, a space or a control character"
    scheme = parts.scheme.lower()
    if scheme == "https" and host:
        return None
    if scheme != "http" or not host:
        return f"a remote index may only link https:// files, not {scheme or 'relative'}:// ones"
    if _plain_http_allowed(host, port, allow_insecure_hosts):
        return None
    return f"plain http to {host} is not allowed (add it to allow-insecure-host if you trust the network)"


def strip_credentials(url: str) -> str:
    """``url`` without ``user:password@``: what may be shown, cached or written to a lock file."""
    return split_auth(url)[0]


def split_auth(url: str) -> tuple[str, str | None]:
    """The URL without credentials, and the Basic auth header value carrying them."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None
    userinfo, host = parts.netloc.rsplit("@", 1)
    user, _, password = userinfo.partition(":")
    token = base64.b64encode(f"{unquote(user)}:{unquote(password)}".encode()).decode()
    return urlunsplit(parts._replace(netloc=host)), f"Basic {token}"



def url_to_path(url: str) -> Path:
    """The local path of a ``file://`` URL."""
    # Imported here: urllib.request pulls in http.client and ssl, which a warm run never needs.
    from urllib.request import url2pathname

    parts = urlsplit(url)
    path = url2pathname(parts.path)
    if parts.netloc and parts.netloc != "localhost":
        path = f"//{parts.netloc}{path}"
    return Path(path)

