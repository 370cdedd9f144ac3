"""Typed ``--set KEY=VALUE`` settings, run sizes and the memory they need.

Defaults declare the keys and their types; ``merge_settings`` converts the user's strings.
Run sizes are capped by an estimate of the memory they need,

    bytes ≈ Σ_allocations (number of stored float64 values) × 8 × COPIES,

against :func:`memory_budget` (half the memory the machine has available, at most
``MEMORY_CAP_BYTES``), so a size that cannot fit is a ``ValueError`` naming the setting
before anything is allocated.
"""

from __future__ import annotations

import math
import os

GIB = 2**30
#: a stored draw lives in the sampler's trace, the result DataTree and the netCDF encoder's buffer
COPIES = 3
#: the most a run may plan to hold, however large the machine (a report is not a big-data job)
MEMORY_CAP_BYTES = 64 * GIB


def merge_settings(defaults: dict, overrides: dict) -> dict:
    """Return ``defaults`` updated with ``overrides`` (strings converted to the default's type).

    Unknown keys, unconvertible values and non-finite floats raise ``ValueError`` naming the key.
    """
    out = dict(defaults)
    for key, raw in overrides.items():
        if key not in defaults:
            raise ValueError(f"unknown setting {key!r}; allowed: {', '.join(sorted(defaults))}")
        out[key] = raw if not isinstance(raw, str) else _convert(key, raw, type(defaults[key]))
        if isinstance(out[key], float) and not math.isfinite(out[key]):
            raise ValueError(f"setting {key} must be a finite number, got {raw!r}")
    return out


def _convert(key: str, raw: str, kind: type):
    try:
        if kind is bool:
            if raw.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError
            return raw.lower() in ("true", "1", "yes")
        if kind in (int, float):
            return kind(raw)
        return raw
    except ValueError:
        raise ValueError(f"setting {key} must be of type {kind.__name__}, got {raw!r}") from None


def resolve_sizes(settings: dict, defaults: dict) -> dict:
    """Run sizes: each ``settings[key]`` > 0 overrides ``defaults[key]``; 0 means "use the default".

    Raises ``ValueError`` naming the key for a negative or non-integer size, and for a
    ``ti_rungs`` that Simpson's rule with Richardson error estimation cannot use (4m + 1 ≥ 5).
    """
    out = {}
    for key, default in defaults.items():
        value = settings[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"setting {key} must be an integer >= 1 (or 0 for the default), got {value!r}")
        out[key] = value or default
    if "ti_rungs" in out and ((out["ti_rungs"] - 1) % 4 or out["ti_rungs"] < 5):
        raise ValueError(f"setting ti_rungs must be 4m + 1 >= 5, got {out['ti_rungs']}")
    return out


def available_memory_bytes() -> int:
    """Memory the machine can give now: MemAvailable (Linux), else free pages (``os.sysconf``)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 8 * GIB  # no way to ask (not POSIX): assume a small machine


def memory_budget() -> int:
    """Bytes a run may plan to hold: half the available memory, at most ``MEMORY_CAP_BYTES``."""
    return int(min(available_memory_bytes() / 2, MEMORY_CAP_BYTES))


def check_memory(parts: dict[str, float]) -> None:
    """Reject run sizes whose stored values cannot fit, before anything is allocated.

    ``parts`` maps the settings that size one allocation (e.g. ``"draws × chains"``) to the
    number of float64 values it stores; ValueError names the largest part and the limit.
    """
    need = {name: float(values) * 8 * COPIES for name, values in parts.items()}
    budget = memory_budget()
    if sum(need.values()) > budget:
        worst = max(need, key=need.get)
        raise ValueError(f"settings {worst} need about {need[worst] / GIB:.3g} GiB of memory; the limit on this "
                         f"machine is {budget / GIB:.3g} GiB (half its available memory, at most "
                         f"{MEMORY_CAP_BYTES // GIB} GiB): choose smaller values")


def check_methods(methods: list[str], model=None, *, allowed=None, reason=None) -> list[str]:
    """Every name is an allowed method that can fit the model (ValueError before any fit); returns them.

    ``allowed``: the names the analysis runs (default: every registered ``METHODS`` key);
    ``reason(name)``: why that method cannot fit, or None (default: the registered method's
    ``supports(model)``).  An unknown name's message lists only the allowed methods that can fit
    ``model`` (a regression is not offered the Ising samplers).
    """
    from ..inference import METHODS

    names = sorted(METHODS) if allowed is None else list(allowed)
    if reason is None:
        reason = ((lambda m: METHODS[m].supports(model) if m in METHODS else None) if model is not None
                  else (lambda m: None))
    for m in methods:
        if m not in names:
            fitting = [n for n in names if not reason(n)]
            raise ValueError(f"method must be one of {fitting}, got {m!r}")
        why = reason(m)
        if why:
            raise ValueError(f"method {m!r} cannot fit this model: {why}")
    return list(methods)
