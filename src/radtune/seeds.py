"""Sub-seeds: one random stream per (seed, what it is for), independent of iteration order.

`sub_seed(42, "stratum", "0-24|F|normal")` hashes the parts joined by ":" with SHA-256 and
takes the first `bits` bits (little-endian). Streams are keyed by names, so adding an
image or a stratum never shifts the randomness of another."""

from __future__ import annotations

import hashlib

import numpy as np


def sub_seed(seed: int, *parts: object, bits: int = 64) -> int:
    """A seed derived from `seed` and `parts` (`bits` 32 or 64)."""
    if bits not in (32, 64):
        raise ValueError(f"sub_seed: bits must be 32 or 64, got {bits}")
    digest = hashlib.sha256(":".join(str(x) for x in (seed, *parts)).encode()).digest()
    return int.from_bytes(digest[: bits // 8], "little")


def sub_rng(seed: int, *parts: object) -> np.random.Generator:
    """A numpy generator seeded with `sub_seed(seed, *parts)`."""
    return np.random.default_rng(sub_seed(seed, *parts))
