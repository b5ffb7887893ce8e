"""Orb-looking ids: a prefix and a deterministic, random-looking string, unique across the export.

Each id comes from a `random.Random` owned by one customer (or by the catalog), so ids never depend on
how customers are chunked. The SQL side (daily revenue) derives its ids from md5 of the line id instead.
"""

from __future__ import annotations

import base64
import random

_ALNUM = bytes.maketrans(b"+/", b"xZ")   # base64 without its two non-alphanumeric characters


def seeded_random(*parts: int) -> random.Random:
    """A Random seeded from a tuple of ints (stable across runs and Python processes)."""
    seed = 0
    for part in parts:
        seed = (seed * 1_000_003 + part + 0x9E3779B9) % (1 << 64)
    return random.Random(seed)


class IdMaker:
    """Makes ids like `inv_7fK2c9QmZt0aLx3B` from its own random stream."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def new(self, prefix: str, length: int = 16) -> str:
        """prefix_ + `length` (a multiple of 4) alphanumeric characters."""
        text = base64.b64encode(self._rng.randbytes(length * 3 // 4)).translate(_ALNUM)
        return f"{prefix}_{text.decode()}"

    def charge(self) -> str:
        """A Stripe charge id (ch_ + 24 characters)."""
        return self.new("ch", 24)

    def code(self, length: int = 6) -> str:
        """An upper-case code (invoice number prefixes, redemption codes)."""
        return "".join(self._rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(length))
