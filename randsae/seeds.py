"""Stable seeds: every per-job seed derives from the config's seeds by a sha256 hash."""

from __future__ import annotations

import hashlib


def stable_seed(*parts: object) -> int:
    """A 31-bit seed from a sha256 of the parts (never Python's salted ``hash``)."""
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).hexdigest()
    return int(digest, 16) % (2**31)
