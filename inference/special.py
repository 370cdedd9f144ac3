r"""Numerically stable special functions shared by algorithms and models.

.. math::

    \ln 2\cosh x = \operatorname{logaddexp}(x, -x) = |x| + \ln\big(1 + e^{-2|x|}\big),
    \qquad
    \ln|2\sinh x| = |x| + \ln\big(1 - e^{-2|x|}\big) \quad (-\infty \text{ at } x = 0).

Both stay finite for any finite x (the naive ``log(2*cosh(x))`` overflows beyond |x| ≈ 710).
``ln 2cosh`` is the log-partition function of one ±1 spin in the field x (and the log of the
Hubbard–Stratonovich likelihood factor); ``ln|2sinh|`` appears in Kaufman's exact torus
partition function. Element-wise, for scalars or arrays; float64 results.
"""

from __future__ import annotations

import numpy as np

__all__ = ["log_2cosh", "log_abs_2sinh"]


def log_2cosh(x) -> np.ndarray:
    r""":math:`\ln 2\cosh x`, computed as ``np.logaddexp(x, -x)`` (no overflow)."""
    x = np.asarray(x, dtype=float)
    return np.logaddexp(x, -x)


def log_abs_2sinh(x) -> np.ndarray:
    r""":math:`\ln|2\sinh x| = |x| + \ln(-\mathrm{expm1}(-2|x|))`; :math:`-\infty` at x = 0 (no warning)."""
    ax = np.abs(np.asarray(x, dtype=float))
    with np.errstate(divide="ignore"):
        return ax + np.log(-np.expm1(-2.0 * ax))
