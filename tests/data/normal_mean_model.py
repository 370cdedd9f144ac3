"""Two conjugate models of the same data for ``physml run FILE.py:FUNCTION`` and Bayes-factor tests.

y_i ~ N(μ, σ²) with σ = 1 known and μ ~ N(0, s²): the evidence is closed form,
y ~ N(0, σ² I + s² 11ᵀ).  ``make_model``: s = 1; ``make_wide``: s = 10 and a constant ``pm.Potential``
``POTENTIAL`` (a known factor e^POTENTIAL on the joint density, so −ln p(data) is shifted by −POTENTIAL).
"""

import numpy as np
import pymc as pm

Y = np.array([0.8, 1.1, 0.53, -0.09, 0.35, -0.19, 0.86, 2.14, 0.31, 0.18, 1.29, 1.16])
SIGMA = 1.0
NARROW, WIDE = 1.0, 10.0
POTENTIAL = -0.5


def normal_mean(prior_sd: float, potential: float | None = None) -> pm.Model:
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, prior_sd)
        pm.Normal("y", mu, SIGMA, observed=Y)
        if potential is not None:
            pm.Potential("constant_factor", pm.math.constant(potential))
    return model


def make_model():
    return normal_mean(NARROW)


def make_wide():
    return normal_mean(WIDE, POTENTIAL)
