"""Counting decompression passes: how many bytes every gzip stream hands out from now on."""

from __future__ import annotations

import gzip

import pytest


def count_gunzipped(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A one-item list holding the bytes every gzip stream has handed out since the call:
    divided by an archive's plain size, the passes made over it."""
    total = [0]
    real = gzip._GzipReader.read  # type: ignore[attr-defined]

    def counting(self, size=-1):  # type: ignore[no-untyped-def]
        data = real(self, size)
        total[0] += len(data)
        return data

    monkeypatch.setattr(gzip._GzipReader, "read", counting)  # type: ignore[attr-defined]
    return total
