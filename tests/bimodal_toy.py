r"""A bimodal toy with a known normaliser (not a test module; shared by tests and benchmarks/pt_bimodal.py).

Prior :math:`\theta \sim N(0, s^2 I_d)`, "likelihood" a ``pm.Potential`` with the two-mode mixture
:math:`\phi(\theta) = \ln[\tfrac12 N(\theta; \mu, I) + \tfrac12 N(\theta; -\mu, I)]`. The evidence is a
Gaussian convolution: :math:`Z = \int N(\theta; 0, s^2 I)\,e^{\phi(\theta)}\,d\theta = N(\mu; 0, (s^2 + 1) I)`
(both modes give the same term), so :math:`\ln Z = -\tfrac d2\ln(2\pi(s^2+1)) - |\mu|^2/(2(s^2+1))`; the
posterior puts weight :math:`\tfrac12` on each mode (exactly, by the symmetry θ → −θ).
"""

from __future__ import annotations

import math

import numpy as np
import pymc as pm
import pytensor.tensor as pt


def bimodal_model(separation: float = 8.0, prior_sd: float = 10.0, ndim: int = 2) -> tuple[pm.Model, np.ndarray]:
    """(model, μ): modes at ±μ, μ = (separation, 0, …); free variable ``theta`` (ndim,)."""
    mu = np.zeros(ndim)
    mu[0] = separation
    with pm.Model() as model:
        theta = pm.Normal("theta", 0.0, prior_sd, shape=ndim)
        comps = pt.stack([-0.5 * pt.sum((theta - mu) ** 2), -0.5 * pt.sum((theta + mu) ** 2)])
        pm.Potential("mixture", pm.math.logsumexp(comps) + math.log(0.5) - 0.5 * ndim * math.log(2 * math.pi))
    return model, mu


def log_evidence(separation: float = 8.0, prior_sd: float = 10.0, ndim: int = 2) -> float:
    """ln Z of :func:`bimodal_model` (closed form, independent of any sampler)."""
    v = prior_sd**2 + 1.0
    return -0.5 * ndim * math.log(2 * math.pi * v) - separation**2 / (2 * v)
