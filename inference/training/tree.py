"""Parameters as a one-level pytree: an array, or a NamedTuple of arrays (e.g. a network's weight matrices),
and per-replica values (one per leading index) broadcast against an array."""

from __future__ import annotations

import numpy as np

__all__ = ["leaves", "rebuild", "per_replica"]


def leaves(params) -> list[np.ndarray]:
    """The arrays of ``params`` (a NamedTuple's fields in order, or the array itself)."""
    return list(params) if isinstance(params, tuple) else [params]


def rebuild(like, arrays: list[np.ndarray]):
    """The structure of ``like`` holding ``arrays``."""
    return type(like)(*arrays) if isinstance(like, tuple) else arrays[0]


def per_replica(value, x: np.ndarray) -> np.ndarray | float:
    """``value`` (a scalar, or one value per leading index of ``x``) shaped to broadcast against ``x``."""
    value = np.asarray(value, dtype=float)
    if value.ndim == 0:
        return float(value)
    if value.shape != x.shape[:1]:
        raise ValueError(f"a per-replica value must have shape {x.shape[:1]}, got {value.shape}")
    return value.reshape(value.shape + (1,) * (x.ndim - 1))
