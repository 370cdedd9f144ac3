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

:func:`density_override` hands consumers another density of a model (e.g. the minibatch one of
:mod:`physml.inference.vi.minibatch`, built on :meth:`ModelDensity.batched_graphs`).
"""

from __future__ import annotations

import contextlib
import threading
import weakref

import numpy as np

__all__ = ["ModelDensity", "model_density", "density_override"]

_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()
_OVERRIDES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


class ModelDensity:
    """Compiled, batched densities of one PyMC model on the flat unconstrained space.

    Shared by the evidence estimators (bridge sampling, TI, AIS, importance sampling) and
    by VI (:mod:`.vi`), so a model fitted by one and scored by another compiles once.
    Each compiled function is built on first use (VI never builds the prior sampler,
    bridge sampling never builds the constrained-outputs map).

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
    value_shapes : list of tuple
        Shape of each value variable (may differ from ``shapes`` under a transform).
    slices : list of slice
        Where each variable lives in the flat vector.
    param_names : list of str
        One label per flat coordinate (``mu``, ``x[0,1]``, ...): VI's ``vi_params`` ``param`` coordinate.
    x0 : ndarray
        The model's initial point, flattened.
    has_data : bool
        Whether the model has observed variables or potentials (a likelihood).
    """

    def __init__(self, model, signature):
        import pytensor.tensor as pt
        from pytensor.graph.replace import graph_replace

        self.signature = signature
        self._model_ref = weakref.ref(model)
        self._fns: dict = {}
        self._lock = threading.RLock()
        ip = model.initial_point()
        rv_shapes = model.eval_rv_shapes()
        free = list(model.free_RVs)
        values = [model.rvs_to_values[rv] for rv in free]
        self.value_names = [v.name for v in values]
        self.rv_names = [rv.name for rv in free]
        self.value_shapes, self.shapes, self.slices = [], [], []
        x = pt.vector("x_flat", dtype="float64")
        rep = {}
        start = 0
        for rv, v in zip(free, values):
            shape = tuple(int(s) for s in np.shape(ip[v.name]))
            size = int(np.prod(shape, dtype=int))
            rep[v] = x[start:start + size].reshape(shape).astype(v.dtype)
            self.value_shapes.append(shape)
            self.slices.append(slice(start, start + size))
            self.shapes.append(tuple(int(s) for s in rv_shapes[rv.name]))
            start += size
        self.ndim = start
        self.x0 = (np.concatenate([np.ravel(ip[n]) for n in self.value_names]).astype(float)
                   if self.value_names else np.zeros(0))
        self.param_names = []
        for n, s in zip(self.value_names, self.value_shapes):
            if s == ():
                self.param_names.append(n)
            else:
                self.param_names.extend(f"{n}[{','.join(map(str, idx))}]" for idx in np.ndindex(*s))
        self.has_data = bool(model.observed_RVs or model.potentials)
        self.discrete = [rv.name for rv in free if rv.type.dtype.startswith(("int", "uint", "bool"))]
        self._x = x
        self._rep = rep
        self._graph_replace = graph_replace

    # ------------------------------------------------------------- validation
    def require_data(self) -> "ModelDensity":
        """Raise ``ValueError`` unless the evidence estimators can use this model."""
        if not self.has_data:
            raise ValueError("the model has no observed data: the evidence p(data) is undefined")
        if self.discrete:
            raise ValueError(f"free-energy estimators need continuous free variables; discrete: {self.discrete}")
        return self

    # ------------------------------------------------------------- lazy compilation
    def _model(self):
        model = self._model_ref()
        if model is None:  # pragma: no cover - the cache dies with the model
            raise RuntimeError("the model of this ModelDensity no longer exists")
        return model

    def _fn(self, key):
        fn = self._fns.get(key)
        if fn is None:
            with self._lock:
                fn = self._fns.get(key)
                if fn is None:
                    fn = getattr(self, f"_build_{key}")()
                    self._fns[key] = fn
        return fn

    def _densities(self):
        """Batched (log_prior, log_lik) graphs over ``X`` (n, ndim), checks made per-row ``-inf``."""
        if "_graphs" in self._fns:
            return self._fns["_graphs"]
        self._fns["_graphs"] = self.batched_graphs()
        return self._fns["_graphs"]

    def batched_graphs(self, rewrite=None):
        """``(X, log_prior, log_lik)`` batched over the rows of ``X`` (n, ndim), checks per-row ``-inf``;
        ``rewrite([log_prior, log_lik]) -> [...]`` edits the model's graphs first (e.g. data → ``data[idx]``)."""
        import pytensor.tensor as pt
        from pytensor.graph.replace import vectorize_graph

        model = self._model()
        free = list(model.free_RVs)
        log_prior = model.logp(vars=free, jacobian=True, sum=True)
        # Potentials count as likelihood terms (as in PyMC's own tempered SMC, whose "likelihood" is
        # model.datalogp): they are tempered together with the data and are part of the evidence.
        log_lik = model.logp(vars=list(model.observed_RVs) + list(model.potentials), sum=True)
        graphs = rewrite([log_prior, log_lik]) if rewrite is not None else [log_prior, log_lik]
        log_prior, log_lik = _checks_to_ninf(self._graph_replace(graphs, self._rep, strict=False),
                                             check_bounds=getattr(model, "check_bounds", True))
        X = pt.matrix("X_flat", dtype="float64")
        lp_b, ll_b = vectorize_graph([log_prior, log_lik], {self._x: X})
        zero = pt.zeros((X.shape[0],), dtype="float64")  # a constant (no data / no prior) still has n rows
        return X, lp_b + zero, ll_b + zero

    def compile(self, inputs, outputs):
        """``pytensor.function(inputs, outputs)`` in the mode of this density's own functions."""
        import pytensor

        return pytensor.function(inputs, outputs, mode=self._mode(), on_unused_input="ignore")

    @staticmethod
    def _mode():
        from pytensor.compile.mode import Mode, get_mode

        base = get_mode(None)
        return Mode(linker=base.linker, optimizer=base.provided_optimizer.including("local_remove_check_parameter"))

    def _build_vals(self):
        X, lp_b, ll_b = self._densities()
        return self.compile([X], [lp_b, ll_b])

    def _build_grads(self):
        import pytensor.tensor as pt

        X, lp_b, ll_b = self._densities()
        glp_b = pt.grad(lp_b.sum(), X, disconnected_inputs="ignore")
        gll_b = pt.grad(ll_b.sum(), X, disconnected_inputs="ignore")
        return self.compile([X], [lp_b, ll_b, glp_b, gll_b])

    def _build_forward(self):
        """constrained -> unconstrained, batched over a leading dim."""
        import pytensor
        import pytensor.tensor as pt
        from pytensor.graph.replace import vectorize_graph

        model = self._model()
        free = list(model.free_RVs)
        placeholders = {rv: rv.type() for rv in free}
        fwd = []
        for rv in free:
            tr = model.rvs_to_transforms.get(rv)
            fwd.append(rv if tr is None else tr.forward(rv, *rv.owner.inputs))
        fwd = self._graph_replace(fwd, placeholders, strict=False)
        batched_in = {placeholders[rv]: pt.tensor(dtype=rv.type.dtype, shape=(None,) + tuple(rv.type.shape))
                      for rv in free}
        fwd_b = vectorize_graph(fwd, batched_in)
        return pytensor.function([batched_in[placeholders[rv]] for rv in free], fwd_b, on_unused_input="ignore")

    def _build_prior(self):
        """one prior draw of the free RVs per call (rngs reseeded by sample_prior)."""
        import pymc as pm

        f_prior = pm.pytensorf.compile([], list(self._model().free_RVs), random_seed=0)
        rngs = [v for v in f_prior.get_shared() if "Generator" in type(v.type).__name__]
        return f_prior, rngs

    def _build_constrained(self):
        """flat unconstrained (n, ndim) -> constrained free RVs + deterministics, as pm.sample stores them."""
        import pytensor
        import pytensor.tensor as pt
        from pytensor.graph.replace import vectorize_graph

        model = self._model()
        names = [rv.name for rv in model.free_RVs] + [d.name for d in model.deterministics]
        outs = model.replace_rvs_by_values(list(model.free_RVs) + list(model.deterministics))
        outs = self._graph_replace(outs, self._rep, strict=False)
        X = pt.matrix("X_flat_out", dtype="float64")
        outs_b = vectorize_graph(outs, {self._x: X})
        fn = pytensor.function([X], outs_b, on_unused_input="ignore")
        return names, fn

    # ------------------------------------------------------------------ densities
    def _batch(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        if x.ndim == 1:
            x = x[None, :]
        if x.ndim != 2 or x.shape[1] != self.ndim:
            raise ValueError(f"x must have shape (n, {self.ndim}), got {np.shape(x)}")
        return x

    def _safe(self, key, X):
        """Call compiled ``key`` on the batch ``X``; if an op raises (e.g. a failed decomposition at
        an invalid point), evaluate row by row and give the failing rows log density -inf."""
        fn = self._fn(key)
        try:
            return [np.asarray(o, dtype=float) for o in fn(X)]
        except Exception:
            if len(X) <= 1:
                n = len(X)
                vals = [np.full(n, -np.inf), np.full(n, -np.inf)]
                return vals if key == "vals" else vals + [np.full_like(X, np.nan), np.full_like(X, np.nan)]
            rows = [self._safe(key, X[i:i + 1]) for i in range(len(X))]
            return [np.concatenate([r[k] for r in rows]) for k in range(len(rows[0]))]

    def log_prior_and_likelihood(self, x) -> tuple[np.ndarray, np.ndarray]:
        """``(log_prior, log_likelihood)`` at each row of ``x`` (shape (n, ndim))."""
        lp, ll = self._safe("vals", self._batch(x))
        return _nan_to_ninf(lp), _nan_to_ninf(ll)

    def log_prior(self, x) -> np.ndarray:
        return self.log_prior_and_likelihood(x)[0]

    def log_likelihood(self, x) -> np.ndarray:
        return self.log_prior_and_likelihood(x)[1]

    def log_joint(self, x, chunk: int | None = None) -> np.ndarray:
        """Unnormalised log posterior (log prior incl. Jacobian + log likelihood), in chunks of rows."""
        x = self._batch(x)
        if chunk is None or len(x) <= chunk:
            lp, ll = self.log_prior_and_likelihood(x)
            return lp + ll
        return np.concatenate([self.log_joint(x[i:i + chunk]) for i in range(0, len(x), chunk)])

    def values_and_grads(self, x):
        """``(log_prior, log_likelihood, grad_log_prior, grad_log_likelihood)`` per row."""
        lp, ll, glp, gll = self._safe("grads", self._batch(x))
        return _nan_to_ninf(lp), _nan_to_ninf(ll), glp, gll

    def log_joint_and_grad(self, x) -> tuple[np.ndarray, np.ndarray]:
        """``(log_joint, grad_log_joint)`` per row: what VI optimises."""
        lp, ll, glp, gll = self.values_and_grads(x)
        return lp + ll, glp + gll

    # ----------------------------------------------------------- conversions
    def constrained(self, x) -> dict:
        """Flat unconstrained rows (n, ndim) → {name: (n, *shape)} of free RVs and deterministics."""
        names, fn = self._fn("constrained")
        return dict(zip(names, [np.asarray(o) for o in fn(self._batch(x))]))

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
        outs = self._fn("forward")(*[np.asarray(a) for a in arrays])
        n = np.asarray(arrays[0]).shape[0]
        return np.concatenate([np.asarray(o, dtype=float).reshape(n, -1) for o in outs], axis=1)

    def sample_prior(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` independent prior draws, returned in the flat unconstrained space (n, ndim)."""
        from pymc.pytensorf import reseed_rngs

        f_prior, rngs = self._fn("prior")
        reseed_rngs(rngs, rng.integers(2**32, size=2))
        draws = [f_prior() for _ in range(int(n))]
        arrays = [np.stack([np.asarray(d[i]) for d in draws]) for i in range(len(self.rv_names))]
        return self.constrained_to_unconstrained(arrays)


def _checks_to_ninf(graphs, check_bounds: bool = True):
    """Replace PyMC's parameter checks by ``switch(ok, logp, -inf)`` *before* vectorising.

    Each check's condition is a scalar of one point, so after ``vectorize_graph`` the switch
    is per row: one invalid row is -inf and does not poison the batch (a vectorised check
    would reduce over the whole batch).  With ``model.check_bounds=False`` checks are dropped,
    as PyMC's own compile does.
    """
    import pytensor.tensor as pt
    from pymc.logprob.utils import CheckParameterValue
    from pytensor.graph.replace import graph_replace
    from pytensor.graph.traversal import ancestors

    rep = {}
    for var in ancestors(graphs):
        node = var.owner
        if node is None or not isinstance(node.op, CheckParameterValue) or var in rep:
            continue
        value, *conds = node.inputs
        if not check_bounds:
            rep[var] = value
            continue
        ok = pt.all([pt.all(c) for c in conds]) if len(conds) > 1 else pt.all(conds[0])
        rep[var] = pt.switch(ok, value, -np.inf)
    return graph_replace(graphs, rep, strict=False) if rep else list(graphs)


def _nan_to_ninf(a) -> np.ndarray:
    a = np.asarray(a, dtype=float)
    return np.where(np.isnan(a), -np.inf, a)


def _signature(model):
    return (tuple(id(v) for v in model.value_vars), tuple(id(d) for d in model.deterministics),
            tuple(id(p) for p in model.potentials), tuple(id(o) for o in model.observed_RVs))


def model_density(model, *, for_evidence: bool = True) -> ModelDensity:
    """Compiled batched log prior / log likelihood of ``model`` (cached per model object).

    With ``for_evidence=True`` (the evidence estimators) raises ``ValueError`` for models
    without observed data or with discrete free variables.  VI passes ``for_evidence=False``:
    its target, the joint density, is defined without data.  Both get the same cached object,
    rebuilt only if variables were added to the model since.
    """
    sig = _signature(model)
    with _LOCK:
        override = _OVERRIDES.get(model)
        if override is not None:
            return override.require_data() if for_evidence else override
        dens = _CACHE.get(model)
        if dens is None or dens.signature != sig:
            dens = ModelDensity(model, sig)
            _CACHE[model] = dens
    return dens.require_data() if for_evidence else dens


@contextlib.contextmanager
def density_override(model, density: ModelDensity):
    """While active, :func:`model_density` returns ``density`` (a :class:`ModelDensity` of ``model``,
    e.g. a subclass) for ``model``: how a minibatch density reaches the unchanged VI driver."""
    with _LOCK:
        previous = _OVERRIDES.get(model)
        _OVERRIDES[model] = density
    try:
        yield density
    finally:
        with _LOCK:
            if previous is None:
                _OVERRIDES.pop(model, None)
            else:
                _OVERRIDES[model] = previous
