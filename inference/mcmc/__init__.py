"""MCMC over PyMC models: NUTS (nutpie where it applies, else PyMC) and Metropolis (``pymc_samplers``),
sequential Monte Carlo with its evidence estimate and self-checks (``smc``)."""
from . import pymc_samplers, smc  # noqa: F401  (registers nuts, metropolis, smc)
