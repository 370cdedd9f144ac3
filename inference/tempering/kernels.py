r"""Within-replica kernels for parallel tempering of a continuous density: pure ``step(rng, point, params, density)``.

Replica r (a row of a batch) targets the tempered density
:math:`\pi_\beta(x) \propto p(x)\,L(x)^{\beta}`, :math:`\ln\pi_\beta = \ln p + \beta \ln L` (the log prior includes
the Jacobian of PyMC's transforms: :class:`~physml.inference.model_density.ModelDensity`). Each kernel is a
Metropolis–Hastings step, so it leaves every row's :math:`\pi_{\beta_r}` invariant; its proposal is
preconditioned by a per-row scale :math:`s_r` and Cholesky factor :math:`L_r` (:class:`ProposalParams`),
adapted during tuning by :mod:`.sampler` and frozen for the draws:

* :class:`RandomWalkMetropolis`: :math:`x' = x + s L z`, :math:`z \sim N(0, I)`; accept with
  :math:`\min(1, \pi(x')/\pi(x))` (target acceptance 0.234, Roberts, Gelman & Gilks 1997);
* :class:`MALA`: preconditioned Langevin, :math:`x' = x + \tfrac{s^2}{2} \Sigma\nabla\ln\pi(x) + s L z`,
  :math:`\Sigma = LL^\top`; the Hastings ratio uses the reverse proposal density, with
  :math:`z_{rev} = L^{-1}(x - x')/s - \tfrac{s}{2}L^\top\nabla\ln\pi(x')` (target acceptance 0.574,
  Roberts & Rosenthal 1998).

A :class:`TemperedPoint` carries, per row, x and the two parts of the density (and their gradients when the
kernel needs them), so a swap of two rows exchanges whole points and nothing is re-evaluated.
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Protocol

import numpy as np

__all__ = ["TemperedPoint", "ProposalParams", "ReplicaKernel", "RandomWalkMetropolis", "MALA", "KERNELS",
           "tempered_log_density", "evaluate_points"]


class TemperedPoint(NamedTuple):
    """Rows of positions (R, d), log prior (R,), log likelihood (R,); gradients (R, d) or None."""

    x: np.ndarray
    log_prior: np.ndarray
    log_lik: np.ndarray
    grad_log_prior: np.ndarray | None = None
    grad_log_lik: np.ndarray | None = None

    def take(self, index) -> "TemperedPoint":
        """The rows ``index`` of every field (a permutation for swaps)."""
        return TemperedPoint(*[None if a is None else a[index] for a in self])

    def where(self, mask, other: "TemperedPoint") -> "TemperedPoint":
        """Rows of ``other`` where ``mask`` (R,) is true, else this point's rows."""
        out = []
        for a, b in zip(self, other):
            if a is None:
                out.append(None)
            else:
                m = mask.reshape((-1,) + (1,) * (a.ndim - 1))
                out.append(np.where(m, b, a))
        return TemperedPoint(*out)


class ProposalParams(NamedTuple):
    """Per-row inverse temperature β (R,), step scale s (R,) and proposal Cholesky factor L (R, d, d)."""

    beta: np.ndarray
    scale: np.ndarray
    chol: np.ndarray


#: ``density(x, gradient) -> TemperedPoint``: the batched log prior / log likelihood (and gradients)
Density = Callable[[np.ndarray, bool], TemperedPoint]


class ReplicaKernel(Protocol):
    """A Metropolis–Hastings kernel over rows: ``step`` is pure (returns a new point and the accepted mask)."""

    name: str
    target_acceptance: float
    needs_gradient: bool

    def initial_scale(self, ndim: int) -> float: ...

    def step(self, rng: np.random.Generator, point: TemperedPoint, params: ProposalParams,
             density: Density) -> tuple[TemperedPoint, np.ndarray]: ...


def tempered_log_density(point: TemperedPoint, beta) -> np.ndarray:
    r""":math:`\ln p(x) + \beta \ln L(x)` per row (−inf where either part is −inf or nan)."""
    with np.errstate(invalid="ignore"):
        out = point.log_prior + beta * point.log_lik
    return np.where(np.isnan(out), -np.inf, out)


def evaluate_points(model_density, x: np.ndarray, gradient: bool) -> TemperedPoint:
    """A :class:`TemperedPoint` of the rows ``x`` from a :class:`~physml.inference.model_density.ModelDensity`."""
    if gradient:
        lp, ll, glp, gll = model_density.values_and_grads(x)
        return TemperedPoint(x, lp, ll, np.nan_to_num(glp), np.nan_to_num(gll))
    lp, ll = model_density.log_prior_and_likelihood(x)
    return TemperedPoint(x, lp, ll)


def _metropolis(rng, point: TemperedPoint, proposal: TemperedPoint, log_ratio) -> tuple[TemperedPoint, np.ndarray]:
    log_ratio = np.where(np.isnan(log_ratio), -np.inf, log_ratio)
    accept = np.log(rng.random(point.x.shape[0])) < log_ratio
    return point.where(accept, proposal), accept


class RandomWalkMetropolis:
    """Random-walk Metropolis with the proposal ``x + s L z`` (no gradient)."""

    name = "rwm"
    target_acceptance = 0.234
    needs_gradient = False

    def initial_scale(self, ndim: int) -> float:
        return 2.38 / np.sqrt(max(ndim, 1))

    def step(self, rng, point, params, density):
        z = rng.standard_normal(point.x.shape)
        x_new = point.x + params.scale[:, None] * np.einsum("rij,rj->ri", params.chol, z)
        proposal = density(x_new, False)
        log_ratio = tempered_log_density(proposal, params.beta) - tempered_log_density(point, params.beta)
        return _metropolis(rng, point, proposal, log_ratio)


class MALA:
    """Preconditioned Metropolis-adjusted Langevin (needs the gradient of the log prior and log likelihood)."""

    name = "mala"
    target_acceptance = 0.574
    needs_gradient = True

    def initial_scale(self, ndim: int) -> float:
        return 1.65 / max(ndim, 1) ** (1 / 6)

    @staticmethod
    def _grad(point, beta):
        return point.grad_log_prior + beta[:, None] * point.grad_log_lik

    def step(self, rng, point, params, density):
        s, chol, beta = params.scale[:, None], params.chol, params.beta
        z = rng.standard_normal(point.x.shape)
        g = self._grad(point, beta)
        lt_g = np.einsum("rji,rj->ri", chol, g)  # Lᵀ g
        x_new = point.x + 0.5 * s**2 * np.einsum("rij,rj->ri", chol, lt_g) + s * np.einsum("rij,rj->ri", chol, z)
        proposal = density(x_new, True)
        g_new = np.nan_to_num(self._grad(proposal, beta))
        back = np.linalg.solve(chol, (point.x - x_new)[:, :, None])[:, :, 0] / s
        z_rev = back - 0.5 * s * np.einsum("rji,rj->ri", chol, g_new)
        log_ratio = (tempered_log_density(proposal, beta) - tempered_log_density(point, beta)
                     - 0.5 * np.sum(z_rev**2, axis=1) + 0.5 * np.sum(z**2, axis=1))
        return _metropolis(rng, point, proposal, log_ratio)


KERNELS: dict[str, ReplicaKernel] = {"rwm": RandomWalkMetropolis(), "mala": MALA()}
