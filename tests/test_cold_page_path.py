"""The cold path's cheaper checks and lazy files give exactly what the plain ones give."""

from __future__ import annotations

import itertools

from satlock.resolver.candidates import all_sha256, is_sha256

SHA = "ab" * 32


def test_the_joined_digest_scan_takes_exactly_the_digests_is_sha256_takes():
    odd = [SHA, SHA.upper(), SHA[:63], SHA + "a", SHA[:63] + "\n", "\n" + SHA[:63], SHA[:32] + "\n" + SHA[:31],
           SHA[:63] + "g", SHA[:63] + "\u00e9", SHA[:63] + "\u0660", SHA[:62] + "\n\n", "", "\n", SHA + "\n" + SHA]
    for n in range(1, 4):
        for digests in itertools.product(odd, repeat=n):
            assert all_sha256(list(digests)) == all(map(is_sha256, digests)), digests
    assert all_sha256([])
    assert all_sha256([SHA[:63] + "0", SHA]) and not all_sha256([SHA[:63], SHA + "0"])
