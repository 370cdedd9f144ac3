"""Seeds for statistical tests, shifted by ``PHYSML_TEST_SEED_OFFSET`` (not a test module).

Every random test draws its seeds through :func:`seed` / :func:`seeds`, so the whole suite can be
re-run on other trajectories (``tools/seed-sweep`` does, for ≥ 10 offsets).  A statistical test
must pass for *every* offset, on any CPU: it asserts what holds with overwhelming probability
(an aggregate over repeats with a threshold set from the number of repeats, or "within tolerance
or self-flagged" where the flag is under test), never the luck of one seeded trajectory.

Deterministic checks (exact enumeration, closed forms) need no seed and do not use this module.
"""

from __future__ import annotations

import os

#: distance between two offsets' seeds: larger than any seed a test uses directly
STRIDE = 100_003

OFFSET = int(os.environ.get("PHYSML_TEST_SEED_OFFSET", "0"))
if OFFSET < 0:
    raise ValueError(f"PHYSML_TEST_SEED_OFFSET must be an integer >= 0, got {OFFSET}")


def seed(s: int = 0) -> int:
    """The test's seed ``s`` under the current offset (``s`` itself when the offset is 0)."""
    return int(s) + OFFSET * STRIDE


def seeds(start: int, n: int) -> list[int]:
    """``n`` consecutive seeds from ``start`` under the current offset."""
    return [seed(start + i) for i in range(int(n))]
