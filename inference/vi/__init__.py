"""Variational inference: Gaussian families (mean-field, full-rank; ``families``) fitted by Adam (``optimiser``)
from a Laplace start (``laplace``), the control variate re-fitted under q (``control_variate``), a stopping rule that detects stationarity (``convergence``), the
optimisation loop (``driver``) and ``fit_vi`` (``advi``, which registers ``advi`` and ``fullrank_advi``)."""
from . import convergence, laplace, control_variate, families, optimiser, driver, advi  # noqa: F401
