"""Reading a direct reference's URL: git URLs parsed, and two ways of naming one source told apart.

A git URL is parsed here and nowhere else: ``git+URL[@REV][#subdirectory=DIR]``.
``same_source`` tells whether a package's ``Requires-Dist: y @ URL`` names the source the
project takes ``y`` from, so that a lock that uses the project's source in its place can
say so; it reads only the URL's text (metadata is untrusted: no path it names is looked at).
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit, urlunsplit

from satlock.resolver.candidates import DirectReference


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


def _repository(url: str) -> str:
    """A git repository's URL as compared: scheme and host in lower case, no trailing
    ``/`` or ``.git`` (``https://host/org/repo.git/`` and ``https://HOST/org/repo`` are one)."""
    parts = urlsplit(url)
    path = parts.path.rstrip("/").removesuffix(".git")
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, parts.query, ""))


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
    the fragment that differs from the one recorded. A ``file:`` URL: the same absolute path.
    """
    if url.startswith("git+"):
        theirs = parse_git_url(url)
        return (ref.kind == "vcs" and ref.url is not None and theirs.url is not None
                and _repository(ref.url) == _repository(theirs.url)
                and (ref.subdirectory or None) == (theirs.subdirectory or None)
                and _same_revision(ref, theirs.requested_revision))
    base, _, fragment = url.partition("#")
    parts = urlsplit(base)
    if parts.scheme == "file":
        path = unquote(parts.path)
        return ref.kind != "vcs" and ref.path is not None and path.startswith("/") and path.rstrip("/") == ref.path.rstrip("/")
    if ref.kind != "archive" or ref.url is None or ref.url.partition("#")[0] != base:
        return False
    claimed = _fragment(fragment, "sha256")
    recorded = dict(ref.hashes).get("sha256")
    return claimed is None or recorded is None or claimed.lower() == recorded.lower()
