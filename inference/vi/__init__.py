"""Variational inference: Gaussian families (mean-field, full-rank) fitted by stochastic gradients
from a Laplace start, a stopping rule that detects stationarity of the ELBO, and the driver
(registers ``advi`` and ``fullrank_advi``)."""
from . import convergence, advi  # noqa: F401
