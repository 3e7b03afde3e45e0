"""Which proxy a request goes through: ``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY`` and ``NO_PROXY``.

Read as pip (through Python's ``urllib``) and uv read them: the lower-case name before the
upper-case one; ``HTTP_PROXY`` in upper case is ignored when ``REQUEST_METHOD`` is set (a
CGI request's ``Proxy:`` header arrives as it, "httpoxy"); ``ALL_PROXY`` for a scheme with
no variable of its own. ``NO_PROXY`` is a comma- or space-separated list of hosts, each
meaning the host and its subdomains (a leading ``.`` or ``*.`` changes nothing), an IP
address or network (``10.0.0.0/8``), ``host:port`` for one port only, or ``*`` for every host.

A proxy value is checked only when a request would go through it, so a ``socks5://``
``ALL_PROXY`` kept for other tools does not stop a command whose requests all have their
own variable. satlock connects through ``http://`` and ``https://`` proxies; the
credentials in a proxy URL go to the proxy (``Proxy-Authorization``), never to an index.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from satlock.errors import ConfigError
from satlock.urls import redact, split_auth

__all__ = ["Proxies", "Proxy"]

_SCHEMES = ("http", "https")


@dataclass(frozen=True)
class Proxy:
    """A proxy to connect through: its URL without credentials, and the ``Proxy-Authorization``
    value carrying them (``None`` without). ``variable`` names where it was set, for messages."""

    url: str
    authorization: str | None = field(repr=False)
    variable: str


@dataclass(frozen=True)
class Proxies:
    """The proxy settings of one run, as the variables gave them (unchecked until used)."""

    # (the variable's name, its value), kept out of the repr: the value may hold a password.
    http: tuple[str, str] | None = field(default=None, repr=False)
    https: tuple[str, str] | None = field(default=None, repr=False)
    no_proxy: tuple[str, ...] = ()

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Proxies:
        def get(name: str) -> tuple[str, str] | None:
            for variable in (name.lower(), name.upper()):
                if variable == "HTTP_PROXY" and "REQUEST_METHOD" in environ:
                    continue
                value = environ.get(variable)
                if value is not None:
                    # Set but empty: no proxy, and the other spelling is not read (as curl and urllib do).
                    return (variable, value.strip()) if value.strip() else None
            return None

        every = get("all_proxy")
        no_proxy = next((environ[v] for v in ("no_proxy", "NO_PROXY") if v in environ), "")
        entries = tuple(e.lower() for e in no_proxy.replace(",", " ").split())
        return cls(http=get("http_proxy") or every, https=get("https_proxy") or every, no_proxy=entries)

    def for_url(self, url: str) -> Proxy | None:
        """The proxy a request for ``url`` goes through; ``None`` for a direct connection.

        Raises ``ConfigError`` for a proxy setting satlock cannot connect through.
        """
        if self.http is None and self.https is None:
            return None
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            return None  # no URL to connect to: the request fails as it does without a proxy
        scheme = parts.scheme.lower()
        chosen = self.https if scheme == "https" else self.http if scheme == "http" else None
        if chosen is None or not parts.hostname or self.bypasses(parts.hostname, port or (443 if scheme == "https" else 80)):
            return None
        return _checked(*chosen)

    def bypasses(self, host: str, port: int) -> bool:
        """Whether ``NO_PROXY`` sends requests to ``host``:``port`` straight to it."""
        host = host.lower().strip("[]").rstrip(".")
        try:
            address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
        except ValueError:
            address = None
        for entry in self.no_proxy:
            if entry == "*":
                return True
            name, wanted = _split_port(entry)
            if wanted is not None and wanted != port:
                continue
            if address is not None:
                try:
                    if address in ipaddress.ip_network(name, strict=False):
                        return True
                except ValueError:
                    pass
                continue
            name = name.removeprefix("*").lstrip(".").rstrip(".")
            if name and (host == name or host.endswith("." + name)):
                return True
        return False


def _split_port(entry: str) -> tuple[str, int | None]:
    """``host:port``, ``[v6]:port``, a bare IPv6 address or network, or a plain name."""
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
        return host, int(port) if port.isdigit() else None
    if entry.count(":") == 1:
        host, port = entry.split(":")
        if port.isdigit():
            return host, int(port)
    return entry, None


def _checked(variable: str, value: str) -> Proxy:
    """The proxy ``value`` names, or a ``ConfigError`` that says which variable to fix."""
    given = value if "://" in value else f"http://{value}"  # "proxy:3128" is an http:// proxy, as for curl and pip
    # Shown as the user wrote it (credentials hidden), not with the scheme added: "//h:1", not "http:////h:1".
    shown = redact(given) if given is value else redact(given).removeprefix("http://")
    if not shown.isprintable():
        shown = repr(shown)  # a newline or an escape sequence in the value must not break the one error line
    not_a_proxy = ConfigError(f"{variable} is not a proxy URL: {shown}", hint=f"set {variable} to http://HOST:PORT, or unset it")
    try:
        parts = urlsplit(given)
        port = parts.port
    except ValueError:
        raise not_a_proxy from None
    if parts.scheme.lower() not in _SCHEMES:
        raise ConfigError(f"{variable} names a {parts.scheme}:// proxy ({shown}); satlock connects through "
                          "http:// and https:// proxies only",
                          hint=f"set {variable} to an http:// proxy, or add the index's host to NO_PROXY")
    if not parts.hostname:
        raise ConfigError(f"{variable} names no proxy host: {shown}", hint=f"set {variable} to http://HOST:PORT, or unset it")
    clean, authorization = split_auth(urlunsplit((parts.scheme.lower(), parts.netloc, "", "", "")))
    if not _is_host(clean, parts.hostname):
        raise not_a_proxy
    if port is None:
        clean += ":443" if parts.scheme.lower() == "https" else ":80"
    return Proxy(clean, authorization, variable)


def _is_host(url: str, hostname: str) -> bool:
    """Whether urllib3 can connect to the host of ``url``: a host it cannot parse ("pro xy")
    or a name with an empty label ("a..b") failed every try as a network error that
    blamed the index. The name is held to the rule every request's host is (``check_host``)."""
    from urllib3.exceptions import LocationParseError
    from urllib3.util import parse_url

    from satlock.connections import check_host

    try:
        parse_url(url)
        check_host(hostname)
    except LocationParseError:
        return False
    return True
