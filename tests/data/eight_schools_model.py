"""Eight schools (Rubin 1981; BDA3 §5.5) as a user would write it, for ``physml run FILE.py:FUNCTION``.

y_j ~ N(θ_j, σ_j²), θ_j ~ N(μ, τ²), μ ~ N(0, 5²), τ ~ HalfCauchy(5): ``make_model`` is the non-centered
parameterisation (θ_j = μ + τ z_j, z_j ~ N(0, 1)), ``make_centered`` the centered one (a funnel: NUTS
diverges), both with the same evidence p(y); ``make_pooled`` the complete-pooling model (τ = 0).  The other
functions are bad input for the command line.
"""

import numpy as np
import pymc as pm

Y = np.array([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0])  # SAT coaching effects
SIGMA = np.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])  # and their standard errors
MU_SD, TAU_SCALE = 5.0, 5.0


def make_model():
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, MU_SD)
        tau = pm.HalfCauchy("tau", TAU_SCALE)
        z = pm.Normal("z", 0.0, 1.0, shape=len(Y))
        theta = pm.Deterministic("theta", mu + tau * z)
        pm.Normal("y", theta, SIGMA, observed=Y)
    return model


def make_centered():
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, MU_SD)
        tau = pm.HalfCauchy("tau", TAU_SCALE)
        theta = pm.Normal("theta", mu, tau, shape=len(Y))
        pm.Normal("y", theta, SIGMA, observed=Y)
    return model


def make_pooled():
    """Complete pooling: every school has the same effect μ (τ = 0)."""
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, MU_SD)
        pm.Normal("y", mu, SIGMA, observed=Y)
    return model


def make_prior_only():
    """No observed data: refused."""
    with pm.Model() as model:
        pm.Normal("mu", 0.0, MU_SD)
    return model


def make_broken():
    """Raises: the command line reports it in one line."""
    raise RuntimeError("the data file is missing")


def make_number():
    """Returns something that is not a pm.Model."""
    return 42
