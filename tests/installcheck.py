"""Checking an environment against its RECORD files, for tests: every file a RECORD lists is
there with the hash it gives."""

from __future__ import annotations

import base64
import hashlib
import os

from satlock.buildenv.installed import installed_distributions, record_rows
from satlock.buildenv.venv import Venv


def _record_hash(path: str, algorithm: str) -> str:
    with open(path, "rb") as f:
        digest = hashlib.file_digest(f, algorithm).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def verify_records(venv: Venv) -> list[str]:
    """Problems with installed files: RECORD entries missing on disk or with another hash."""
    problems: list[str] = []
    for dist in installed_distributions(venv).values():
        try:
            rows = record_rows(dist.path)
        except OSError:
            problems.append(f"{dist.name} {dist.version}: {dist.path} has no readable RECORD")
            continue
        for row in rows:
            path = os.path.abspath(os.path.join(dist.path.parent, row[0]))
            if not os.path.exists(path):
                problems.append(f"{dist.name} {dist.version}: {row[0]} is missing")
                continue
            if len(row) > 1 and row[1]:
                algorithm, _, expected = row[1].partition("=")
                if algorithm not in hashlib.algorithms_available:
                    problems.append(f"{dist.name} {dist.version}: {row[0]} has an unknown hash {algorithm!r} in RECORD")
                elif _record_hash(path, algorithm) != expected:
                    problems.append(f"{dist.name} {dist.version}: {row[0]} does not match its RECORD hash")
    return problems
