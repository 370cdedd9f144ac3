r"""Ferrenberg–Swendsen multi-histogram reweighting (WHAM / MBAR for one coupling), with jackknife errors.

Runs :math:`k = 1..R` sample :math:`p_k(x) = e^{\theta_k u(x)} / Z_k` (spins: θ = K, u = Σ_⟨ij⟩ s_i s_j);
run k contributes :math:`N_k` draws. Pooling all :math:`n` draws, the self-consistent free energies
(Ferrenberg & Swendsen, PRL 63, 1195 (1989); Shirts & Chodera, J. Chem. Phys. 129, 124105 (2008)) are

.. math::

    \ln Z_k = \ln \sum_{n} \frac{e^{\theta_k u_n}}{\sum_j N_j\, e^{\theta_j u_n - \ln Z_j}},

fixed up to one constant (here ln Z_1 := 0). They are the minimiser of the convex function

.. math::

    \Omega(g) = \sum_n \ln \sum_j N_j e^{\theta_j u_n - g_j} + \sum_j N_j g_j ,

whose gradient :math:`N_j - \sum_n w_{nj}` vanishes at the self-consistency equations. At any θ,

.. math::

    \langle A \rangle_\theta = \frac{\sum_n A_n\, e^{\theta u_n - D_n}}{\sum_n e^{\theta u_n - D_n}}, \qquad
    D_n = \ln \sum_j N_j e^{\theta_j u_n - \ln Z_j},

and :math:`\ln Z(\theta) - \ln Z_1 = \ln\sum_n e^{\theta u_n - D_n}`: the method is a free-energy estimator in
its own right. Errors: the delete-one-block jackknife (block j of every run removed at once; contiguous
blocks absorb the autocorrelation), :math:`\mathrm{se}^2 = \frac{B-1}{B}\sum_j (\hat a_{(j)} - \bar a)^2`.
The Kish ESS of the weights at θ says whether θ lies between sampled histograms (reweighting far outside
them is extrapolation: flagged by the caller when the ESS is small).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
from scipy.optimize import minimize
from scipy.special import logsumexp


@dataclass(frozen=True)
class MultiHistogram:
    """Pooled draws of R runs and their self-consistent ln Z_k (ln Z_1 = 0)."""

    thetas: np.ndarray        # (R,) parameter of each run
    counts: np.ndarray        # (R,) draws per run
    u: np.ndarray             # (n,) sufficient statistic of every pooled draw (run 1's first, then run 2's, …)
    log_z: np.ndarray         # (R,) self-consistent ln Z_k − ln Z_1
    log_denominator: np.ndarray  # (n,) D_n

    def log_weights(self, theta: float) -> np.ndarray:
        """Unnormalised ln weight θ u_n − D_n of every pooled draw at θ."""
        return theta * self.u - self.log_denominator

    def log_partition(self, theta: float) -> float:
        """ln Z(θ) − ln Z(θ_1)."""
        return float(logsumexp(self.log_weights(theta)))

    def expectation(self, theta: float, values: np.ndarray) -> float:
        """⟨A⟩_θ from the pooled per-draw values A_n."""
        lw = self.log_weights(theta)
        w = np.exp(lw - lw.max())
        return float(np.dot(w, values) / w.sum())

    def ess(self, theta: float) -> float:
        """Kish effective sample size (Σw)²/Σw² of the reweighted draws at θ."""
        lw = self.log_weights(theta)
        w = np.exp(lw - lw.max())
        return float(w.sum() ** 2 / np.dot(w, w))


def multi_histogram(thetas: Sequence[float], samples: Sequence[np.ndarray]) -> MultiHistogram:
    """Solve the Ferrenberg–Swendsen equations for runs at ``thetas`` with statistic draws ``samples``."""
    thetas = np.asarray(thetas, dtype=float)
    if thetas.ndim != 1 or len(thetas) < 1 or len(samples) != len(thetas):
        raise ValueError("thetas and samples must be sequences of the same length >= 1")
    if len(np.unique(thetas)) != len(thetas):
        raise ValueError("thetas must be distinct")
    arrays = [np.asarray(s, dtype=float).reshape(-1) for s in samples]
    if any(len(a) < 2 or not np.all(np.isfinite(a)) for a in arrays):
        raise ValueError("every run needs at least 2 finite draws")
    counts = np.array([len(a) for a in arrays], dtype=float)
    u = np.concatenate(arrays)
    exponent = np.outer(u, thetas) + np.log(counts)  # (n, R)

    def objective(g_rest):
        g = np.concatenate([[0.0], g_rest])
        a = exponent - g
        lse = logsumexp(a, axis=1)
        w = np.exp(a - lse[:, None])
        value = lse.sum() + np.dot(counts, g)
        grad = counts - w.sum(axis=0)
        return value, grad[1:]

    start = _sequential_start(thetas, arrays)
    sol = minimize(objective, start[1:], jac=True, method="L-BFGS-B",
                   options={"maxiter": 10_000, "ftol": 1e-13, "gtol": 1e-7})
    g = np.concatenate([[0.0], sol.x])
    log_den = logsumexp(exponent - g, axis=1)
    return MultiHistogram(thetas, counts, u, g, log_den)


def _sequential_start(thetas: np.ndarray, arrays: list[np.ndarray]) -> np.ndarray:
    """ln Z_k guesses by single-histogram steps between runs in θ order (the optimiser's start)."""
    order = np.argsort(thetas)
    g = np.zeros(len(thetas))
    for a, b in zip(order[:-1], order[1:]):
        d = thetas[b] - thetas[a]
        forward = logsumexp(d * arrays[a]) - np.log(len(arrays[a]))
        backward = -(logsumexp(-d * arrays[b]) - np.log(len(arrays[b])))
        g[b] = g[a] + 0.5 * (forward + backward)
    return g - g[0]


def block_slices(n: int, n_blocks: int) -> list[slice]:
    """``n_blocks`` contiguous slices covering range(n) (the first ones one longer where n is not divisible)."""
    edges = np.linspace(0, n, n_blocks + 1).round().astype(int)
    return [slice(a, b) for a, b in zip(edges[:-1], edges[1:])]


def jackknife_blocks(runs: Sequence[dict], estimate: Callable[[list[dict]], np.ndarray],
                     n_blocks: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """(estimate on all draws, delete-one-block jackknife se) of ``estimate(runs)``.

    ``runs``: one dict of equal-length per-draw arrays per run; replicate j drops block j of every run.
    A replicate that fails (returns non-finite values) makes the corresponding se NaN.
    """
    if n_blocks < 2:
        raise ValueError(f"n_blocks must be >= 2, got {n_blocks}")
    full = np.asarray(estimate(list(runs)), dtype=float)
    reps = []
    for j in range(n_blocks):
        sub = []
        for run in runs:
            n = len(next(iter(run.values())))
            keep = np.ones(n, dtype=bool)
            keep[block_slices(n, n_blocks)[j]] = False
            sub.append({k: v[keep] for k, v in run.items()})
        reps.append(np.asarray(estimate(sub), dtype=float))
    reps = np.array(reps)
    se = np.sqrt((n_blocks - 1) / n_blocks * ((reps - reps.mean(axis=0)) ** 2).sum(axis=0))
    return full, se
