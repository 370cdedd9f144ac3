"""Variational inference: Gaussian families (mean-field, full-rank; ``families``) fitted by Adam (``optimiser``)
from a Laplace start (``laplace``), a stopping rule that detects stationarity of the ELBO (``convergence``), the
optimisation loop (``driver``) and ``fit_vi`` (``advi``, which registers ``advi`` and ``fullrank_advi``)."""
from . import convergence, laplace, families, optimiser, driver, advi  # noqa: F401
