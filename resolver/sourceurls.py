"""Reading a direct reference's URL: git URLs parsed, and two ways of naming one source told apart.

A git URL is parsed here and nowhere else: ``git+URL[@REV][#subdirectory=DIR]``.
``same_source`` tells whether a package's ``Requires-Dist: y @ URL`` names the source the
project takes ``y`` from, so that a lock that uses the project's source in its place can
say so; it reads only the URL's text (metadata is untrusted: no path it names is looked at).
"""

from __future__ import annotations

import posixpath
from urllib.parse import unquote, urlsplit

from satlock.resolver.candidates import DirectReference

_DEFAULT_PORTS = {"http": 80, "https": 443}


def parse_git_url(url: str) -> DirectReference:
    """``git+URL[@REV][#subdirectory=DIR]`` (PEP 508 / pip's VCS form) as a ``vcs`` reference.

    The revision is an ``@`` in the URL's path only, so ``git+ssh://git@host/repo`` keeps
    its user; ``subdirectory`` is the one fragment key read.
    """
    rest = url.removeprefix("git+")
    rest, _, fragment = rest.partition("#")
    rev = None
    if "@" in urlsplit(rest).path:
        rest, rev = rest.rsplit("@", 1)
    return DirectReference("vcs", url=rest, requested_revision=rev, subdirectory=_fragment(fragment, "subdirectory"))


def _fragment(fragment: str, key: str) -> str | None:
    for part in fragment.split("&"):
        if part.startswith(f"{key}="):
            return part.split("=", 1)[1]
    return None


def _canonical(url: str, *, git: bool) -> tuple[str, str, str, str]:
    """A URL as compared, the way uv's ``CanonicalUrl`` reads one: scheme and host in lower
    case, no credentials (the project's token and the metadata's lack of one name one
    place), no default port, the path percent-decoded without a trailing ``/``, ``.git``
    off a repository, ``github.com`` paths in lower case (GitHub ignores their case), and
    a ``file:`` URL's ``localhost`` and dot segments gone.

    Raises ``ValueError`` for a URL that does not parse (a bad host or port).
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower().removeprefix("git+")
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        host = f"{host}:{port}"
    path = unquote(parts.path)
    if scheme == "file":
        host = "" if host == "localhost" else host
        path = posixpath.normpath(path) if path.startswith("/") else path
    path = path.rstrip("/")
    if git:
        path = path.removesuffix(".git")
    if host == "github.com":
        path = path.lower()
    return scheme, host, path, parts.query


def _subdirectory(sub: str | None) -> str | None:
    """A subdirectory as compared: ``./sub/`` is ``sub``, and ``.`` is none."""
    if not sub:
        return None
    sub = posixpath.normpath(sub).strip("/")
    return None if sub in ("", ".") else sub


def _same_revision(ref: DirectReference, rev: str | None) -> bool:
    """A requirement with no revision takes any; one with a revision, the same name or commit
    (a commit given shortened, of seven hex digits or more, matches the full one)."""
    if rev is None or rev == ref.requested_revision:
        return True
    commit = ref.commit_id or ref.requested_revision or ""
    return len(rev) >= 7 and all(ch in "0123456789abcdef" for ch in rev.lower()) and commit.lower().startswith(rev.lower())


def same_source(ref: DirectReference, url: str) -> bool:
    """Whether ``name @ url`` (from a package's metadata) asks for what ``ref`` is.

    Git: the same repository and subdirectory, and the same revision unless the URL gives
    none. An archive by URL: the same URL once its fragment is set aside, and no sha256 in
    the fragment that differs from the one recorded. A ``file:`` URL: the same absolute path
    on this host. URLs are compared as ``_canonical`` reads them, and the subdirectory is
    part of every kind of source. A URL that does not parse is another source: metadata is
    untrusted, and a bad URL in it must not stop a lock it was never going to be used in.
    """
    try:
        return _same_source(ref, url)
    except ValueError:
        return False


def _same_source(ref: DirectReference, url: str) -> bool:
    if url.startswith("git+"):
        theirs = parse_git_url(url)
        return (ref.kind == "vcs" and ref.url is not None and theirs.url is not None
                and _canonical(ref.url, git=True) == _canonical(theirs.url, git=True)
                and _subdirectory(ref.subdirectory) == _subdirectory(theirs.subdirectory)
                and _same_revision(ref, theirs.requested_revision))
    if ref.kind == "vcs":
        return False
    base, _, fragment = url.partition("#")
    ours_base, _, ours_fragment = (ref.url or "").partition("#")
    ours_sub = ref.subdirectory or _fragment(ours_fragment, "subdirectory")
    if _subdirectory(ours_sub) != _subdirectory(_fragment(fragment, "subdirectory")):
        return False
    claimed = _fragment(fragment, "sha256")
    recorded = dict(ref.hashes).get("sha256")
    if claimed is not None and recorded is not None and claimed.lower() != recorded.lower():
        return False
    canonical = _canonical(base, git=False)
    scheme, host, path, _query = canonical
    if scheme == "file":
        return (ref.path is not None and host == "" and path.startswith("/")
                and path == posixpath.normpath(ref.path).rstrip("/"))
    return ref.kind == "archive" and ref.url is not None and _canonical(ours_base, git=False) == canonical
