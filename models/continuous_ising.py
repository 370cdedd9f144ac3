r"""The continuous (Hubbard–Stratonovich) Ising model: an Ising model NUTS and ADVI can run on.

For an Ising model :math:`P(s) \propto \exp(\tfrac12 s^\top K s + h^\top s)` on any graph
(:class:`~physml.inference.spins.lattice.IsingCouplings`) and a shift :math:`c` that makes
:math:`A = K + c\,I` positive definite (Zhang, Sutton, Storkey & Ghahramani, NeurIPS 2012):

.. math::

    Z = e^{-cN/2} \int N(x;\,0, A) \prod_i 2\cosh(x_i + h_i)\,dx,
    \qquad P(s_i = +1 \mid x) = \sigma\big(2(x_i + h_i)\big),\qquad x \mid s \sim N(A s, A).

The joint :math:`p(x, s) \propto N(x; 0, A)\, e^{(x + h)^\top s}` has the Ising distribution as
its spin marginal, so spin averages are Rao–Blackwellised over continuous draws:
:math:`\mathbb E[s_i] = \mathbb E[\tanh(x_i + h_i)]`, :math:`\mathbb E[s_i s_j] = \mathbb E[\tanh\tanh]` (i ≠ j).

**The PyMC model** is non-centred: ``z ~ N(0, I)`` (the *prior*), :math:`x = A^{1/2} z` by a
fast separable transform on grids (dense ``eigh`` otherwise), and an observed ``CustomDist``
(the *likelihood*) with log density :math:`\sum_i [\ln 2\cosh(x_i + h_i) - c/2]`. Its evidence
:math:`\int N(z; 0, I) \prod_i 2\cosh(\cdot)\, e^{-c/2}\, dz` **is the Ising partition function Z**,
so every free-energy estimator of physml (SMC, TI, bridge, −ELBO) reports the spin model's
:math:`F = -\ln Z` directly, and ``fit(model, "nuts" | "advi" | "fullrank_advi" | "smc")`` runs.

**Choice of c.** In the non-centred coordinates each mixture component :math:`z \mid s` is a
*unit* isotropic Gaussian centred at :math:`A^{1/2} s`; flipping spin i moves the centre by
:math:`2 A^{1/2} e_i`, of length :math:`2\sqrt{A_{ii}} = 2\sqrt c`. So the smaller c, the more the
:math:`2^N` components overlap and the easier NUTS moves between spin patterns; c must exceed
:math:`-\lambda_{\min}(K)` (= 4K on a bipartite square lattice). physml uses
:math:`c = -\lambda_{\min}(K) + \text{margin}`, default margin ``DEFAULT_MARGIN``; the directions
with eigenvalue ≈ margin carry almost no likelihood information and stay at unit prior scale in
z, so a small margin does not hurt the geometry. ``benchmarks/hs_vs_spin_samplers.py`` measures
ESS/s against the margin.

Exact references: enumeration of the spin model (N ≤ 20), Kaufman on the periodic torus at
h = 0, and Gauss–Hermite quadrature of the HS integral itself for N ≤ 5 (a check of the identity).
"""

from __future__ import annotations

import hashlib
import math
import threading
import weakref
from dataclasses import dataclass

import numpy as np
import xarray as xr
from scipy import special

from physml.inference.enumeration import spin_states
from physml.inference.special import log_2cosh
from physml.inference.spins.hubbard_stratonovich import (HSTransform, hs_spin_observables, min_coupling_eigenvalue)
from physml.inference.spins.lattice import IsingCouplings

from . import ising as im

__all__ = ["DEFAULT_MARGIN", "HSSpec", "hs_shift", "hs_log_density", "hs_energy", "continuous_ising_model",
           "hs_info", "spin_observables", "spin_summary", "exact_reference", "log_partition_quadrature",
           "spin_probabilities_quadrature", "LATENT_VAR", "LIKELIHOOD_VAR"]

DEFAULT_MARGIN = 0.5
"""Default c + λ_min(K): measured in ``benchmarks/hs_vs_spin_samplers.py`` (see its docstring)."""
LATENT_VAR = "z"
"""Name of the standard-normal latent of the PyMC model (x = A^{1/2} z)."""
LIKELIHOOD_VAR = "cosh_factor"
"""Name of the observed CustomDist that carries Σ ln 2cosh(x + h) − cN/2."""


@dataclass(frozen=True)
class HSSpec:
    """Settings of the HS representation: ``margin`` > 0 (c = −λ_min(K) + margin) or an explicit ``shift`` c."""

    margin: float = DEFAULT_MARGIN
    shift: float | None = None

    def __post_init__(self):
        if isinstance(self.margin, bool) or not isinstance(self.margin, (int, float, np.integer, np.floating)) \
                or not (math.isfinite(self.margin) and self.margin > 0):
            raise ValueError(f"margin must be a finite number > 0, got {self.margin!r}")
        if self.shift is not None and (isinstance(self.shift, bool) or not math.isfinite(float(self.shift))):
            raise ValueError(f"shift must be a finite number (or None), got {self.shift!r}")


def hs_shift(couplings: IsingCouplings, spec: HSSpec = HSSpec()) -> float:
    """The shift c: ``spec.shift`` if given, else −λ_min(K) + ``spec.margin``."""
    if spec.shift is not None:
        return float(spec.shift)
    return -min_coupling_eigenvalue(couplings) + float(spec.margin)


# ------------------------------------------------------------------ energy / log density
def hs_log_density(x, couplings: IsingCouplings, shift: float) -> np.ndarray:
    r"""Unnormalised log density of x whose integral is Z:

    :math:`\ln\big[e^{-cN/2} N(x; 0, A) \prod_i 2\cosh(x_i + h_i)\big]`, for x of shape (..., N).
    """
    x = np.asarray(x, dtype=float)
    n = couplings.n_spins
    A = couplings.dense_matrix() + shift * np.eye(n)
    L = np.linalg.cholesky(A)
    sol = np.linalg.solve(L, np.moveaxis(x, -1, 0).reshape(n, -1)).T.reshape(x.shape)
    log_norm = -0.5 * (sol ** 2).sum(axis=-1) - np.log(np.diag(L)).sum() - 0.5 * n * math.log(2 * math.pi)
    return log_norm + log_2cosh(x + couplings.field).sum(axis=-1) - 0.5 * shift * n


def hs_energy(z, transform: HSTransform) -> np.ndarray:
    r"""Energy of the non-centred model, :math:`E(z) = \tfrac12|z|^2 + \tfrac N2\ln 2\pi - \sum_i[\ln 2\cosh((A^{1/2}z)_i + h_i) - c/2]`.

    :math:`\int e^{-E(z)} dz = Z` (the Ising partition function). ``z`` has shape (..., N).
    """
    z = np.asarray(z, dtype=float)
    n = transform.n
    x = transform.apply(z)
    return (0.5 * (z ** 2).sum(axis=-1) + 0.5 * n * math.log(2 * math.pi)
            - (log_2cosh(x + transform.couplings.field) - 0.5 * transform.shift).sum(axis=-1))


# ------------------------------------------------------------------ PyMC model
_MODELS: dict = {}
_INFO: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def _key(couplings: IsingCouplings, shift: float) -> str:
    h = hashlib.sha1()
    for a in (couplings.edges, couplings.weights, couplings.field):
        h.update(np.ascontiguousarray(a).tobytes())
    h.update(repr((couplings.n_spins, couplings.shape, couplings.boundary, float(shift))).encode())
    return h.hexdigest()


def continuous_ising_model(couplings: IsingCouplings, spec: HSSpec = HSSpec()):
    r"""The HS model of ``couplings`` as a ``pm.Model`` (one object per couplings and c, cached).

    ``z ~ Normal(0, 1)`` over ``site``; :math:`x = A^{1/2} z`; observed
    ``cosh_factor`` with log density :math:`\sum_i [\ln 2\cosh(x_i + h_i) - c/2]`. The model's
    evidence is Z of the spin model. The same couplings and spec return the same model object, so
    nutpie / ADVI / TI compile once per process.
    """
    import pymc as pm
    import pytensor.tensor as pt

    if not isinstance(couplings, IsingCouplings):
        raise ValueError("couplings must be an IsingCouplings record")
    if not isinstance(spec, HSSpec):
        raise ValueError("spec must be an HSSpec")
    shift = hs_shift(couplings, spec)
    key = _key(couplings, shift)
    with _LOCK:
        model = _MODELS.get(key)
        if model is not None:
            return model
        transform = HSTransform(couplings, shift)
        n = couplings.n_spins
        h = couplings.field

        def logp(value, eta):
            return pt.logaddexp(eta, -eta) - 0.5 * shift

        with pm.Model(coords={"site": np.arange(n)}) as model:
            z = pm.Normal(LATENT_VAR, 0.0, 1.0, dims="site")
            x = transform.apply_pt(z)
            pm.CustomDist(LIKELIHOOD_VAR, x + h, logp=logp, observed=np.zeros(n), dims="site")
        _MODELS[key] = model
        _INFO[model] = (couplings, transform)
        return model


def hs_info(model) -> tuple[IsingCouplings, HSTransform]:
    """``(couplings, transform)`` of a model built by :func:`continuous_ising_model`."""
    try:
        found = _INFO.get(model)
    except TypeError:
        found = None
    if found is None:
        raise ValueError("model must be built by physml.models.continuous_ising.continuous_ising_model")
    return found


def spin_observables(model, result: xr.DataTree, *, abs_magnetisation: bool = True) -> xr.Dataset:
    r"""Rao–Blackwellised spin observables of every posterior draw (dims chain, draw[, site]).

    ``energy`` (E/N), ``abs_magnetisation`` (|M|/N), ``magnetisation_sq`` ((M/N)²), ``magnetisation``
    and ``spin_mean`` = tanh(x + h) (its average is the marginal magnetisation ⟨s_i⟩).
    """
    couplings, transform = hs_info(model)
    z = result["posterior"][LATENT_VAR].transpose("chain", "draw", ...).values
    x = transform.apply(z)
    obs = hs_spin_observables(couplings, x, abs_magnetisation=abs_magnetisation)
    coords = {"chain": np.arange(z.shape[0]), "draw": np.arange(z.shape[1]), "site": np.arange(z.shape[2])}
    data = {k: (("chain", "draw", "site") if v.ndim == 3 else ("chain", "draw"), v) for k, v in obs.items()}
    return xr.Dataset(data, coords=coords)


def spin_summary(model, result: xr.DataTree, *, abs_magnetisation: bool = True) -> dict:
    """Mean, MCSE and ESS (ArviZ) of the Rao–Blackwellised scalar observables, and the marginal map with MCSEs."""
    import arviz_stats as azs

    ds = spin_observables(model, result, abs_magnetisation=abs_magnetisation)
    scalars = [v for v in ("energy", "abs_magnetisation", "magnetisation_sq") if v in ds]
    out = {}
    mc = azs.mcse(ds, method="mean")
    ess = azs.ess(ds[scalars], method="mean")
    for v in scalars:
        out[v] = {"mean": float(ds[v].mean()), "mcse": float(mc[v].item()), "ess": float(ess[v].item())}
    out["spin_mean"] = {"mean": ds["spin_mean"].mean(("chain", "draw")).values,
                        "mcse": mc["spin_mean"].values}
    return out


# ------------------------------------------------------------------ exact references
def exact_reference(couplings: IsingCouplings) -> dict:
    """Exact ln Z and spin observables: enumeration (N ≤ 20) or Kaufman (periodic L×L, h = 0)."""
    n = couplings.n_spins
    if n <= 20:
        return {"source": "enumeration", **im.enumerate_ising(couplings)}
    K = couplings.uniform_coupling
    shape = couplings.shape
    if (couplings.zero_field and K is not None and shape is not None and len(shape) == 2 and shape[0] == shape[1]
            and couplings.boundary == "periodic" and K > 0):
        ko = im.kaufman_observables(shape[0], K)
        return {"source": "kaufman", "log_z": ko["log_z"], "energy_per_spin": ko["energy_per_spin"]}
    return {"source": "none"}


def _hermite_grid(transform: HSTransform, n_nodes: int):
    n = transform.n
    if n > 5:
        raise ValueError(f"quadrature needs n_spins <= 5, got {n}")
    if isinstance(n_nodes, bool) or not isinstance(n_nodes, int) or n_nodes < 2:
        raise ValueError(f"n_nodes must be an integer >= 2, got {n_nodes!r}")
    t, w = np.polynomial.hermite_e.hermegauss(n_nodes)  # weight e^{-t²/2}
    z = np.stack(np.meshgrid(*([t] * n), indexing="ij"), axis=-1).reshape(-1, n)
    logw = np.log(w)
    lw = np.stack(np.meshgrid(*([logw] * n), indexing="ij"), axis=-1).reshape(-1, n).sum(axis=1)
    lw -= 0.5 * n * math.log(2 * math.pi)  # so that Σ exp(lw) f(z) ≈ E_{N(0, I)}[f]
    return transform.apply(z), lw


def log_partition_quadrature(couplings: IsingCouplings, shift: float, n_nodes: int = 40) -> float:
    r""":math:`\ln Z = -cN/2 + \ln \mathbb E_{N(0,A)}[\prod_i 2\cosh(x_i + h_i)]` by tensor Gauss–Hermite (N ≤ 5)."""
    tr = HSTransform(couplings, shift)
    x, lw = _hermite_grid(tr, n_nodes)
    return float(special.logsumexp(lw + log_2cosh(x + couplings.field).sum(axis=1)) - 0.5 * tr.shift * tr.n)


def spin_probabilities_quadrature(couplings: IsingCouplings, shift: float, n_nodes: int = 40) -> np.ndarray:
    r"""P(s) for all :math:`2^N` states (in the order of :func:`physml.inference.enumeration.spin_states`)
    from the HS joint: :math:`P(s) = \int p(x)\prod_i \sigma(2 s_i (x_i + h_i))\,dx` by Gauss–Hermite (N ≤ 5)."""
    tr = HSTransform(couplings, shift)
    n = tr.n
    x, lw = _hermite_grid(tr, n_nodes)
    a = x + couplings.field
    log_px = lw + log_2cosh(a).sum(axis=1)
    log_px -= special.logsumexp(log_px)
    states = spin_states(n)
    # ln σ(2 s a) = s a − ln 2cosh a
    log_cond = states @ a.T - log_2cosh(a).sum(axis=1)[None, :]
    return np.exp(special.logsumexp(log_px[None, :] + log_cond, axis=1))
