"""Log prior and log likelihood of a PyMC model over one flat unconstrained vector.

Every free-energy estimator in :mod:`physml.inference` works in the same space:
the model's value variables (``model.value_vars``: transformed where PyMC
transforms, e.g. ``sigma_log__``) concatenated into one flat vector ``x`` of
length ``ndim``, in the order of ``model.free_RVs``.  On that space

* ``log_prior(x)``      = Σ log p(θ) over the free RVs **including** the log-Jacobian
                          of the transforms, so ``∫ exp(log_prior(x)) dx = 1``;
* ``log_likelihood(x)`` = Σ log p(data | θ) over the observed RVs;

and ``log_prior + log_likelihood`` is the unnormalised posterior whose integral
is the evidence ``Z = p(data)``.  All functions are batched: they take an
``(n, ndim)`` array and return ``(n,)`` values (and ``(n, ndim)`` gradients).

:func:`model_density` compiles these functions once per ``pm.Model`` object
(cached in a :class:`weakref.WeakKeyDictionary`) and reuses them across
estimators, seeds and temperatures.  Observed data held in ``pm.Data`` are
shared variables, so ``pm.set_data`` is seen by the compiled functions.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

__all__ = ["ModelDensity", "model_density", "log_mean_exp", "relative_weights_se"]

_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


@dataclass
class ModelDensity:
    """Compiled, batched densities of one PyMC model on the flat unconstrained space.

    Attributes
    ----------
    ndim : int
        Length of the flat unconstrained vector.
    value_names : list of str
        Names of the value variables (``sigma_log__`` ...), in flat order.
    rv_names : list of str
        Names of the free random variables (as in the posterior group), same order.
    shapes : list of tuple
        Shape of each free variable (without sample dims).
    slices : list of slice
        Where each variable lives in the flat vector.
    """

    ndim: int
    value_names: list
    rv_names: list
    shapes: list
    slices: list
    _f_vals: Callable = field(repr=False)
    _f_grads: Callable = field(repr=False)
    _f_forward: Callable = field(repr=False)
    _f_prior_draw: Callable = field(repr=False)
    _prior_rngs: list = field(repr=False)

    # ------------------------------------------------------------------ densities
    def _batch(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        if x.ndim == 1:
            x = x[None, :]
        if x.ndim != 2 or x.shape[1] != self.ndim:
            raise ValueError(f"x must have shape (n, {self.ndim}), got {np.shape(x)}")
        return x

    def log_prior_and_likelihood(self, x) -> tuple[np.ndarray, np.ndarray]:
        """``(log_prior, log_likelihood)`` at each row of ``x`` (shape (n, ndim))."""
        lp, ll = self._f_vals(self._batch(x))
        return _nan_to_ninf(lp), _nan_to_ninf(ll)

    def log_prior(self, x) -> np.ndarray:
        return self.log_prior_and_likelihood(x)[0]

    def log_likelihood(self, x) -> np.ndarray:
        return self.log_prior_and_likelihood(x)[1]

    def log_joint(self, x) -> np.ndarray:
        """Unnormalised log posterior (log prior incl. Jacobian + log likelihood)."""
        lp, ll = self.log_prior_and_likelihood(x)
        return lp + ll

    def values_and_grads(self, x):
        """``(log_prior, log_likelihood, grad_log_prior, grad_log_likelihood)`` per row."""
        lp, ll, glp, gll = self._f_grads(self._batch(x))
        return (_nan_to_ninf(lp), _nan_to_ninf(ll), np.asarray(glp, float), np.asarray(gll, float))

    # ----------------------------------------------------------- conversions
    def to_unconstrained(self, posterior) -> np.ndarray:
        """Posterior draws (Dataset / DataTree group, dims chain, draw, ...) → array (chain, draw, ndim).

        ``posterior`` holds the free variables in the constrained space under
        their model names (ArviZ layout); extra variables (deterministics) are ignored.
        """
        ds = posterior.to_dataset() if hasattr(posterior, "to_dataset") else posterior
        missing = [n for n in self.rv_names if n not in ds]
        if missing:
            raise ValueError(f"posterior draws lack the model's free variables {missing}")
        first = ds[self.rv_names[0]]
        if first.dims[:2] != ("chain", "draw"):
            raise ValueError(f"posterior variables must have dims (chain, draw, ...), got {first.dims}")
        n_chain, n_draw = first.shape[:2]
        arrays = []
        for name, shape in zip(self.rv_names, self.shapes):
            da = ds[name].transpose("chain", "draw", ...)
            arrays.append(np.asarray(da.values).reshape((n_chain * n_draw,) + tuple(shape)))
        flat = self.constrained_to_unconstrained(arrays)
        return flat.reshape(n_chain, n_draw, self.ndim)

    def constrained_to_unconstrained(self, arrays) -> np.ndarray:
        """List of per-variable batched constrained values (n, *shape) → (n, ndim)."""
        outs = self._f_forward(*[np.asarray(a) for a in arrays])
        n = np.asarray(arrays[0]).shape[0]
        return np.concatenate([np.asarray(o, dtype=float).reshape(n, -1) for o in outs], axis=1)

    def sample_prior(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` independent prior draws, returned in the flat unconstrained space (n, ndim)."""
        from pymc.pytensorf import reseed_rngs

        reseed_rngs(self._prior_rngs, rng.integers(2**32, size=2))
        draws = [self._f_prior_draw() for _ in range(int(n))]
        arrays = [np.stack([np.asarray(d[i]) for d in draws]) for i in range(len(self.rv_names))]
        return self.constrained_to_unconstrained(arrays)


def _nan_to_ninf(a) -> np.ndarray:
    a = np.asarray(a, dtype=float)
    return np.where(np.isnan(a), -np.inf, a)


def model_density(model) -> ModelDensity:
    """Compiled batched log prior / log likelihood of ``model`` (cached per model object).

    Raises ``ValueError`` for models without observed data or with discrete free variables.
    """
    with _LOCK:
        cached = _CACHE.get(model)
        if cached is not None:
            return cached
        dens = _compile(model)
        _CACHE[model] = dens
        return dens


def _compile(model) -> ModelDensity:
    import pytensor
    import pytensor.tensor as pt
    import pymc as pm
    from pytensor.graph.replace import graph_replace, vectorize_graph

    if not model.observed_RVs and not model.potentials:
        raise ValueError("the model has no observed data: the evidence p(data) is undefined")
    discrete = [rv.name for rv in model.free_RVs if rv.type.dtype.startswith(("int", "uint", "bool"))]
    if discrete:
        raise ValueError(f"free-energy estimators need continuous free variables; discrete: {discrete}")

    ip = model.initial_point()
    rv_shapes = model.eval_rv_shapes()
    free = list(model.free_RVs)
    values = [model.rvs_to_values[rv] for rv in free]
    shapes, slices, rep = [], [], {}
    x = pt.vector("x_flat", dtype="float64")
    start = 0
    for rv, v in zip(free, values):
        shape = tuple(np.shape(ip[v.name]))
        size = int(np.prod(shape, dtype=int))
        rep[v] = x[start:start + size].reshape(shape).astype(v.dtype)
        slices.append(slice(start, start + size))
        shapes.append(tuple(int(s) for s in rv_shapes[rv.name]))
        start += size
    ndim = start

    log_prior = model.logp(vars=free, jacobian=True, sum=True)
    # Potentials count as likelihood terms (as in PyMC's own tempered SMC, whose "likelihood" is
    # model.datalogp): they are tempered together with the data and are part of the evidence.
    log_lik = model.logp(vars=list(model.observed_RVs) + list(model.potentials), sum=True)
    log_prior, log_lik = graph_replace([log_prior, log_lik], rep, strict=False)
    X = pt.matrix("X_flat", dtype="float64")
    lp_b, ll_b = vectorize_graph([log_prior, log_lik], {x: X})
    glp_b = pt.grad(lp_b.sum(), X)
    gll_b = pt.grad(ll_b.sum(), X)
    # Parameter checks (e.g. sigma > 0) are removed: in the unconstrained space they fail only
    # under floating-point overflow, and once vectorised a check would reduce over the whole
    # batch (one bad row would poison all).  Invalid rows come out nan/-inf and are mapped to -inf.
    from pytensor.compile.mode import Mode, get_mode

    base = get_mode(None)
    mode = Mode(linker=base.linker, optimizer=base.provided_optimizer.including("local_remove_check_parameter"))
    f_vals = pytensor.function([X], [lp_b, ll_b], mode=mode, on_unused_input="ignore")
    f_grads = pytensor.function([X], [lp_b, ll_b, glp_b, gll_b], mode=mode, on_unused_input="ignore")

    # constrained -> unconstrained, batched over a leading dim
    placeholders = {rv: rv.type() for rv in free}
    fwd = []
    for rv in free:
        tr = model.rvs_to_transforms.get(rv)
        fwd.append(rv if tr is None else tr.forward(rv, *rv.owner.inputs))
    fwd = graph_replace(fwd, placeholders, strict=False)
    batched_in = {placeholders[rv]: pt.tensor(dtype=rv.type.dtype, shape=(None,) + tuple(rv.type.shape))
                  for rv in free}
    fwd_b = vectorize_graph(fwd, batched_in)
    f_forward = pytensor.function([batched_in[placeholders[rv]] for rv in free], fwd_b,
                                  on_unused_input="ignore")

    # one prior draw of the free RVs per call (rngs reseeded by sample_prior)
    f_prior = pm.pytensorf.compile([], free, random_seed=0)
    rngs = [v for v in f_prior.get_shared() if "Generator" in type(v.type).__name__]

    return ModelDensity(ndim=ndim, value_names=[v.name for v in values], rv_names=[rv.name for rv in free],
                        shapes=shapes, slices=slices, _f_vals=f_vals, _f_grads=f_grads,
                        _f_forward=f_forward, _f_prior_draw=f_prior, _prior_rngs=rngs)


# ---------------------------------------------------------------- small numerics
def log_mean_exp(a, axis=None) -> np.ndarray:
    """ln mean(exp(a)) computed stably."""
    from scipy.special import logsumexp

    a = np.asarray(a, dtype=float)
    n = a.size if axis is None else a.shape[axis]
    return logsumexp(a, axis=axis) - np.log(n)


def relative_weights_se(log_w) -> float:
    """Delta-method se of ``ln mean(w)`` from independent draws of the log weights.

    se² = Var(w) / (n · mean(w)²) = (n Σ w̃² − 1)/(n − 1) / n with normalised weights w̃.
    """
    from scipy.special import logsumexp

    log_w = np.asarray(log_w, dtype=float).ravel()
    n = log_w.size
    if n < 2:
        return float("nan")
    wn = np.exp(log_w - logsumexp(log_w))
    rel_var = max(n * np.sum(wn**2) - 1.0, 0.0) * n / (n - 1)
    return float(np.sqrt(rel_var / n))
