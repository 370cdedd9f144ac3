r"""Annealed importance sampling for the partition function of a binary RBM.

Salakhutdinov & Murray, "On the quantitative analysis of deep belief networks",
ICML 2008. The path runs from a *base-rate* model A (no weights, visible biases
:math:`a^0`, usually fitted to the data marginals) to the target RBM B along the
geometric bridge, with the hidden units summed out analytically:

.. math::

    f_\beta(v) = \exp\big[(1-\beta)\, a^{0\top} v + \beta\, a^\top v\big]
                 \prod_{j=1}^{n_h}\big(1 + e^{\beta (b_j + (W^\top v)_j)}\big),
    \qquad 0 = \beta_0 < \beta_1 < \dots < \beta_K = 1,

so that :math:`f_1(v) = e^{-F(v)}` and :math:`Z_0 = 2^{n_h}\prod_i (1 + e^{a^0_i})`.
Each of :math:`M` independent runs draws :math:`v_1 \sim p_0`, accumulates

.. math::

    \ln w^{(m)} = \sum_{k=1}^{K} \big[\ln f_{\beta_k}(v_k) - \ln f_{\beta_{k-1}}(v_k)\big],

and moves :math:`v_k \to v_{k+1}` with one block-Gibbs sweep that leaves
:math:`p_{\beta_k}` invariant (as :func:`physml.inference.rbm.gibbs.step`). The runs go through the
shared engine of :mod:`physml.inference.evidence.ais` (:class:`RBMPath` supplies the path), which also gives
the weight checks (ESS, Pareto k̂) and, with a reverse pass from block-Gibbs draws of the RBM, the
BDMC sandwich (:func:`bdmc_run`). Then

.. math::

    \hat Z = Z_0 \frac1M \sum_m w^{(m)}, \qquad
    \operatorname{se}(\ln \hat Z) \approx \frac{\operatorname{sd}(w)}{\sqrt{M}\,\bar w}

(delta method). :math:`\hat Z` is unbiased, so :math:`\ln\hat Z` is a stochastic
lower bound on :math:`\ln Z` (by Jensen); its bias is :math:`O(\operatorname{se}^2)`.

The default schedule is the paper's: 500 steps of :math:`10^{-3}` up to 0.5, 4000
of :math:`10^{-4}` up to 0.9 and 10000 of :math:`10^{-5}` up to 1 (14,500
intermediate distributions), rescaled in proportion when ``n_betas`` differs.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy.special import expit

from ..evidence.ais import BDMC_TOLERANCE, AISResult, anneal, bdmc_record
from ..records import FreeEnergy

_SM_SEGMENTS = ((0.5, 500), (0.9, 4000), (1.0, 10000))  # (end beta, number of steps)


@dataclass(frozen=True)
class AISSettings:
    """AIS settings: ``n_betas`` ≥ 2 distributions on the path, ``n_runs`` ≥ 2 runs, ``schedule`` ∈ {"sm", "linear"}."""

    n_betas: int = 14501
    n_runs: int = 100
    schedule: str = "sm"

    def __post_init__(self):
        if int(self.n_betas) != self.n_betas or self.n_betas < 2:
            raise ValueError(f"n_betas must be an integer >= 2, got {self.n_betas}")
        if int(self.n_runs) != self.n_runs or self.n_runs < 2:
            raise ValueError(f"n_runs must be an integer >= 2 (the se needs a spread), got {self.n_runs}")
        if self.schedule not in ("sm", "linear"):
            raise ValueError(f"schedule must be 'sm' or 'linear', got {self.schedule!r}")


def beta_schedule(n_betas: int, schedule: str = "sm") -> np.ndarray:
    r"""Inverse temperatures :math:`0=\beta_0<\dots<\beta_{K}=1` (``n_betas`` values).

    ``"sm"``: Salakhutdinov–Murray piecewise-linear spacing (dense near 1), the
    step counts of the three segments in the ratio 500 : 4000 : 10000.
    ``"linear"``: uniform spacing.
    """
    settings = AISSettings(n_betas=n_betas, n_runs=2, schedule=schedule)
    n_steps = settings.n_betas - 1
    if settings.schedule == "linear" or n_steps < len(_SM_SEGMENTS):
        return np.linspace(0.0, 1.0, settings.n_betas)
    total = sum(n for _, n in _SM_SEGMENTS)
    counts = [max(1, round(n_steps * n / total)) for _, n in _SM_SEGMENTS]
    counts[-1] = n_steps - sum(counts[:-1])
    pieces, start = [np.zeros(1)], 0.0
    for (end, _), count in zip(_SM_SEGMENTS, counts):
        pieces.append(np.linspace(start, end, count + 1)[1:])
        start = end
    return np.concatenate(pieces)


def base_rate_visible_bias(data: np.ndarray, pseudocount: float = 1.0) -> np.ndarray:
    r"""Base-rate visible biases :math:`a^0_i = \ln\frac{\hat p_i}{1-\hat p_i}`, :math:`\hat p_i = \frac{\sum_n v_{ni} + c}{N + 2c}`."""
    data = np.asarray(data, dtype=float)
    if data.ndim != 2 or data.shape[0] < 1:
        raise ValueError(f"data must be a non-empty 2-D array, got shape {data.shape}")
    if not pseudocount > 0:
        raise ValueError(f"pseudocount must be > 0, got {pseudocount}")
    p = (data.sum(axis=0) + pseudocount) / (data.shape[0] + 2 * pseudocount)
    return np.log(p) - np.log1p(-p)


class RBMState(NamedTuple):
    """Visible states ``v`` (runs, n_v) and their hidden pre-activations ``x = v W + b`` (runs, n_h)."""

    v: np.ndarray
    x: np.ndarray


@dataclass(frozen=True, eq=False)
class RBMPath:
    r"""The geometric bridge :math:`f_\beta(v)` of the module docstring (hidden units summed out)."""

    W: np.ndarray
    a: np.ndarray
    b: np.ndarray
    base_visible_bias: np.ndarray

    @property
    def log_z_base(self) -> float:
        return self.W.shape[1] * math.log(2.0) + float(np.logaddexp(0.0, self.base_visible_bias).sum())

    def start_at(self, v) -> RBMState:
        v = np.asarray(v, dtype=float)
        return RBMState(v, v @ self.W + self.b)

    def sample_base(self, n, rng) -> RBMState:
        return self.start_at((rng.random((n, self.W.shape[0])) < expit(self.base_visible_bias)).astype(float))

    def log_weight_increment(self, state, beta_from, beta_to):
        da = self.a - self.base_visible_bias
        return (beta_to - beta_from) * (state.v @ da) + (
            np.logaddexp(0.0, beta_to * state.x) - np.logaddexp(0.0, beta_from * state.x)).sum(axis=1)

    def move(self, state, beta, rng) -> RBMState:
        """One block-Gibbs sweep h ~ p_beta(h | v), v ~ p_beta(v | h), leaving p_beta invariant."""
        h = (rng.random(state.x.shape) < expit(beta * state.x)).astype(float)
        field = self.base_visible_bias + beta * (self.a - self.base_visible_bias + h @ self.W.T)
        return self.start_at((rng.random(state.v.shape) < expit(field)).astype(float))


def _rbm_path(W, a, b, base_visible_bias) -> RBMPath:
    W = np.asarray(W, dtype=float)
    if W.ndim != 2:
        raise ValueError(f"W must be 2-D (n_visible, n_hidden), got shape {W.shape}")
    n_visible, n_hidden = W.shape
    a0 = np.zeros(n_visible) if base_visible_bias is None else np.asarray(base_visible_bias, dtype=float)
    if a0.shape != (n_visible,):
        raise ValueError(f"base_visible_bias must have shape ({n_visible},), got {a0.shape}")
    return RBMPath(W, np.asarray(a, dtype=float).reshape(n_visible), np.asarray(b, dtype=float).reshape(n_hidden), a0)


def ais_run(W, a, b, *, n_betas: int = 14501, n_runs: int = 100, seed=None,
            base_visible_bias=None, schedule: str = "sm") -> AISResult:
    """Run forward AIS (see the module docstring); an :class:`~physml.inference.evidence.ais.AISResult`
    (``log_z``, ``se``, ``log_weights``, ``log_z_base``, ``ess``, ``khat``, ``wall_time_s``).
    :func:`physml.inference.evidence.ais.weight_problems` says whether to trust it."""
    settings = AISSettings(n_betas=n_betas, n_runs=n_runs, schedule=schedule)
    path = _rbm_path(W, a, b, base_visible_bias)
    return anneal(path, beta_schedule(settings.n_betas, settings.schedule), settings.n_runs, seed)


def bdmc_run(W, a, b, *, n_betas: int = 14501, n_runs: int = 100, seed=None, base_visible_bias=None,
             schedule: str = "sm", reverse_start=None, gibbs_sweeps: int = 1000,
             tolerance: float = BDMC_TOLERANCE) -> FreeEnergy:
    """BDMC sandwich of the free energy −ln Z of the RBM (estimator ``rbm_bdmc``), a :class:`FreeEnergy`.

    Forward AIS as :func:`ais_run`; reverse AIS along the same schedule from ``reverse_start``
    (``n_runs`` visible vectors drawn from the RBM, e.g. exact draws by enumeration) or, by default,
    from ``n_runs`` independent block-Gibbs chains of ``gibbs_sweeps`` sweeps started at base-rate
    draws (approximate: the lower end is a bound only as far as the chains have mixed).
    ``-record.sandwich_upper <= ln Z <= -record.sandwich_lower`` stochastically.
    """
    settings = AISSettings(n_betas=n_betas, n_runs=n_runs, schedule=schedule)
    path = _rbm_path(W, a, b, base_visible_bias)
    betas = beta_schedule(settings.n_betas, settings.schedule)
    t0 = time.perf_counter()
    seed_fwd, seed_rev = np.random.SeedSequence(seed).spawn(2)
    fwd = anneal(path, betas, settings.n_runs, seed_fwd)
    rng = np.random.default_rng(seed_rev)
    if reverse_start is None:
        if isinstance(gibbs_sweeps, bool) or int(gibbs_sweeps) != gibbs_sweeps or gibbs_sweeps < 1:
            raise ValueError(f"gibbs_sweeps must be an integer >= 1, got {gibbs_sweeps!r}")
        state = path.sample_base(settings.n_runs, rng)
        for _ in range(int(gibbs_sweeps)):
            state = path.move(state, 1.0, rng)
        source = f"{settings.n_runs} block-Gibbs chains of {gibbs_sweeps} sweeps (approximate draws)"
    else:
        v = np.asarray(reverse_start, dtype=float)
        if v.shape != (settings.n_runs, path.W.shape[0]) or not np.all((v == 0) | (v == 1)):
            raise ValueError(f"reverse_start must be binary with shape ({settings.n_runs}, {path.W.shape[0]}), "
                             f"got {v.shape}")
        state, source = path.start_at(v), f"{settings.n_runs} given draws of the RBM"
    rev = anneal(path, betas[::-1], settings.n_runs, rng, start=state)
    return bdmc_record(fwd, rev, estimator="rbm_bdmc", tolerance=tolerance, wall_time_s=time.perf_counter() - t0,
                       note=f"AIS, {settings.n_runs} runs x {betas.size} distributions ({settings.schedule} "
                            f"schedule), block-Gibbs moves; reverse from {source}")


def log_partition_ais(W, a, b, *, n_betas: int = 14501, n_runs: int = 100, seed=None,
                      base_visible_bias=None) -> tuple[float, float]:
    r"""AIS estimate of :math:`\ln Z` of a binary RBM and its standard error.

    Parameters
    ----------
    W, a, b
        Weights ``(n_visible, n_hidden)``, visible and hidden biases.
    n_betas
        Number of distributions on the geometric path (≥ 2; paper: 14,501).
    n_runs
        Independent AIS runs (≥ 2; paper: 100).
    seed
        Seed of the random generator.
    base_visible_bias
        Visible biases :math:`a^0` of the base-rate model (default zeros, i.e.
        uniform); use :func:`base_rate_visible_bias` of the training data as in the paper.

    Returns
    -------
    (value, se)
        :math:`\ln\hat Z` and its delta-method standard error
        :math:`\operatorname{sd}(w)/(\sqrt M\,\bar w)`.
    """
    result = ais_run(W, a, b, n_betas=n_betas, n_runs=n_runs, seed=seed,
                     base_visible_bias=base_visible_bias)
    return result.log_z, result.se


__all__ = ["AISSettings", "RBMPath", "beta_schedule", "base_rate_visible_bias", "ais_run", "bdmc_run",
           "log_partition_ais"]
