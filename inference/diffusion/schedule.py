r"""The linear β schedule of the VP-SDE (Ho et al. 2020; Song et al. 2021, eq. 11 / appendix B).

.. math:: \beta(t) = \beta_0 + (\beta_1-\beta_0)\,t, \quad B(t) = \int_0^t\beta = \beta_0 t + \tfrac12(\beta_1-\beta_0)t^2,
          \quad \alpha(t) = e^{-B(t)/2}, \quad \sigma^2(t) = 1-\alpha(t)^2, \qquad t\in[0,1],

so :math:`x_t \mid x_0 \sim N(\alpha(t)\,x_0,\ \sigma^2(t)\,I)`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def check_time(t, name: str = "t") -> np.ndarray:
    """``t`` as a float array, every value finite and in [0, 1]; ValueError naming ``name`` otherwise."""
    arr = np.asarray(t, dtype=float)
    if not np.all(np.isfinite(arr)) or np.any(arr < 0) or np.any(arr > 1):
        raise ValueError(f"{name} must lie in [0, 1], got {t!r}")
    return arr


@dataclass(frozen=True)
class LinearBetaSchedule:
    """β(t) = beta_min + (beta_max − beta_min) t on [0, 1]; both ends finite and > 0."""

    beta_min: float = 0.1
    beta_max: float = 20.0

    def __post_init__(self):
        ends = {"beta_min": self.beta_min, "beta_max": self.beta_max}
        bad = [k for k, v in ends.items() if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0)]
        if bad:
            raise ValueError(f"{bad[0]} must be a finite number > 0 (a positive β schedule), got {ends[bad[0]]!r}")

    def beta(self, t):
        return self.beta_min + (self.beta_max - self.beta_min) * check_time(t)

    def integral(self, t):
        """B(t) = ∫₀ᵗ β(s) ds."""
        t = check_time(t)
        return self.beta_min * t + 0.5 * (self.beta_max - self.beta_min) * t * t

    def alpha(self, t):
        return np.exp(-0.5 * self.integral(t))

    def sigma2(self, t):
        """σ²(t) = 1 − α(t)² (computed as −expm1(−B) for small t)."""
        return -np.expm1(-self.integral(t))
