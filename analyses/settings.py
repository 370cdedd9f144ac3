"""Typed ``--set KEY=VALUE`` settings: defaults declare the keys and their types."""

from __future__ import annotations


def merge_settings(defaults: dict, overrides: dict) -> dict:
    """Return ``defaults`` updated with ``overrides`` (strings converted to the default's type).

    Unknown keys and unconvertible values raise ``ValueError`` naming the key.
    """
    out = dict(defaults)
    for key, raw in overrides.items():
        if key not in defaults:
            raise ValueError(f"unknown setting {key!r}; allowed: {', '.join(sorted(defaults))}")
        kind = type(defaults[key])
        if not isinstance(raw, str):
            out[key] = raw
            continue
        try:
            if kind is bool:
                if raw.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError
                out[key] = raw.lower() in ("true", "1", "yes")
            elif kind is int:
                out[key] = int(raw)
            elif kind is float:
                out[key] = float(raw)
            else:
                out[key] = raw
        except ValueError:
            raise ValueError(f"setting {key} must be of type {kind.__name__}, got {raw!r}") from None
    return out


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
