r"""ArviZ's ``observed_data`` and pointwise ``log_likelihood`` groups for any fit of a PyMC model.

For every draw :math:`\theta^{(c,d)}` of the ``posterior`` group and every observed variable
:math:`y_v`, the ``log_likelihood`` group holds the elementwise

.. math:: \ell_{v,i}^{(c,d)} = \ln p(y_{v,i} \mid \theta^{(c,d)}),

with dims ``(chain, draw, *dims of y_v)`` — exactly what ``pymc.compute_log_likelihood`` stores
(same graph: the model without value transforms, ``model.logp(vars=observed, sum=False)``), so
``arviz_stats.loo`` / ``compare`` / ``waic`` read physml results as they read ``pm.sample``'s.
A ``pm.Potential`` is not part of it (PyMC does the same), although it is part of −ln p(data).

Memory: the graph is vectorised over a leading batch of draws and evaluated in chunks of at most
``CHUNK_ELEMENTS`` output numbers, written into the group's own arrays, so nothing of size
draws × rows exists beyond the group itself.  Above ``MAX_BYTES`` the group is not built: the
result's ``attrs["physml_log_likelihood"]`` says so (and how to get it anyway), and a warning is
issued.  The compiled function is cached per ``pm.Model`` object.
"""

from __future__ import annotations

import threading
import warnings
import weakref

import numpy as np
import xarray as xr

__all__ = ["add_observed_data", "add_log_likelihood", "pointwise_log_likelihood", "CHUNK_ELEMENTS",
           "MAX_BYTES", "ATTR"]

#: output numbers per evaluated chunk (8 MiB of float64)
CHUNK_ELEMENTS = 2**20
#: size of the whole group above which it is skipped (with a note); pass ``max_bytes`` to override
MAX_BYTES = 512 * 2**20
#: the result attribute that records what was done ("stored" / "skipped: ..." / "none: ...")
ATTR = "physml_log_likelihood"

_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def _coords_dims(model):
    from pymc.backends.arviz import coords_and_dims_for_inferencedata

    return coords_and_dims_for_inferencedata(model)


def add_observed_data(dt: xr.DataTree, model) -> xr.DataTree:
    """Add ``observed_data`` (and ``constant_data``) as ``pm.sample`` stores them, where absent."""
    import pymc as pm
    from arviz_base import dict_to_dataset
    from pymc.backends.arviz import find_constants, find_observations

    coords, dims = _coords_dims(model)
    for group, values in (("observed_data", find_observations(model)), ("constant_data", find_constants(model))):
        if group not in dt.children and values:
            dt[group] = xr.DataTree(dict_to_dataset(values, inference_library=pm, coords=coords, dims=dims,
                                                    sample_dims=[]))
    return dt


class _Evaluator:
    """Elementwise log-likelihood of ``names`` over a batch of draws: ``__call__(inputs) -> list``."""

    def __init__(self, model, names: tuple[str, ...]):
        import pytensor
        import pytensor.tensor as pt
        from pymc.model.transform.conditioning import remove_value_transforms
        from pytensor.graph.replace import vectorize_graph

        # the draws are on the constrained scale; a model without transforms is used as it is
        # (remove_value_transforms cannot clone models with custom initial values)
        transformed = any(model.rvs_to_transforms.get(rv) is not None for rv in model.free_RVs)
        umodel = remove_value_transforms(model) if transformed else model
        observed = [umodel.named_vars[n] for n in names]
        values = list(umodel.value_vars)
        self.input_names = [umodel.values_to_rvs[v].name for v in values]
        self.dtypes = [v.type.dtype for v in values]
        outs = umodel.logp(vars=observed, sum=False)
        batched = [pt.tensor(name=f"{v.name}_batch", dtype=v.type.dtype, shape=(None, *v.type.shape))
                   for v in values]
        batched_outs = vectorize_graph(outs, replace=dict(zip(values, batched)))
        self.fn = pytensor.function(batched, batched_outs, on_unused_input="ignore")

    def __call__(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        return self.fn(*[np.asarray(x, dtype=d) for x, d in zip(inputs, self.dtypes)])


def _evaluator(model, names: tuple[str, ...]) -> _Evaluator:
    with _LOCK:
        per_model = _CACHE.setdefault(model, {})
        if names not in per_model:
            per_model[names] = _Evaluator(model, names)
        return per_model[names]


def _observed_shapes(model, names) -> dict[str, tuple[int, ...]]:
    from pymc.backends.arviz import find_observations

    data = find_observations(model)
    return {n: tuple(np.shape(data[n])) for n in names}


def pointwise_log_likelihood(model, posterior: xr.Dataset, names=None, *,
                             chunk_elements: int = CHUNK_ELEMENTS) -> xr.Dataset:
    """The ``log_likelihood`` Dataset of ``posterior`` (dims chain, draw) for the observed ``names``."""
    from arviz_base import dict_to_dataset
    import pymc as pm

    names = tuple(rv.name for rv in model.observed_RVs) if names is None else tuple(names)
    ev = _evaluator(model, names)
    shapes = _observed_shapes(model, names)
    n_chain, n_draw = posterior.sizes["chain"], posterior.sizes["draw"]
    flat_inputs = [posterior[n].transpose("chain", "draw", ...).values.reshape(n_chain * n_draw, -1)
                   for n in ev.input_names]
    var_shapes = [posterior[n].shape[2:] for n in ev.input_names]
    total = n_chain * n_draw
    out: dict[str, np.ndarray] = {}  # allocated at the first chunk: a multivariate logp drops its support dims
    rows = max(1, sum(int(np.prod(s, dtype=int)) for s in shapes.values()))
    step = max(1, int(chunk_elements) // rows)
    for start in range(0, total, step):
        stop = min(start + step, total)
        chunk = [x[start:stop].reshape(stop - start, *s) for x, s in zip(flat_inputs, var_shapes)]
        for n, values in zip(names, ev(chunk)):
            if n not in out:
                out[n] = np.empty((total, *np.shape(values)[1:]))
            out[n][start:stop] = values
    coords, dims = _coords_dims(model)
    arrays = {n: a.reshape(n_chain, n_draw, *a.shape[1:]) for n, a in out.items()}
    dims = {n: list(dims[n])[:arrays[n].ndim - 2] for n in names if n in dims}
    ds = dict_to_dataset(arrays, inference_library=pm, coords=coords, dims=dims, sample_dims=["chain", "draw"])
    return ds.assign_coords(chain=posterior["chain"].values, draw=posterior["draw"].values)


def _skip_reason(model, dt, names, max_bytes) -> str | None:
    """Why the group cannot or should not be built (None: build it)."""
    if not names:
        return "none: the model has no observed variables"
    if "posterior" not in dt.children:
        return "none: the result has no posterior draws"
    post = dt["posterior"]
    missing = [rv.name for rv in model.free_RVs if rv.name not in post.data_vars]
    if missing:
        return f"none: the posterior lacks the free variables {missing}"
    n = post.sizes.get("chain", 1) * post.sizes.get("draw", 1)
    size = 8 * n * sum(int(np.prod(s, dtype=int)) for s in _observed_shapes(model, names).values())
    if size > max_bytes:
        return (f"skipped: the pointwise log likelihood would take {size / 2**20:.0f} MiB > "
                f"{max_bytes / 2**20:.0f} MiB; compute it with "
                "physml.inference.log_likelihood.add_log_likelihood(result, model, max_bytes=...) "
                "or pymc.compute_log_likelihood")
    return None


def add_log_likelihood(dt: xr.DataTree, model, names=None, *, max_bytes: int = MAX_BYTES) -> xr.DataTree:
    """Add ``observed_data`` and the pointwise ``log_likelihood`` group to a fit of ``model`` (in place).

    ``names``: observed variables (default all).  Records in ``dt.attrs[ATTR]`` whether the group was
    stored, and why not (no observed data, no posterior, above ``max_bytes`` — then it also warns).
    """
    observed = [rv.name for rv in model.observed_RVs]
    names = tuple(observed) if names is None else tuple(names)
    unknown = [n for n in names if n not in observed]
    if unknown:
        raise ValueError(f"log_likelihood must name observed variables from {observed}, got {unknown}")
    if observed:
        add_observed_data(dt, model)
    reason = _skip_reason(model, dt, names, max_bytes)
    if reason is None:
        try:
            group = pointwise_log_likelihood(model, dt["posterior"].to_dataset(), names)
        except (NotImplementedError, ValueError, TypeError) as err:  # PyMC cannot rewrite the model's graph
            reason = f"failed: {type(err).__name__}: {err}".replace("\n", " ")
        else:
            dt["log_likelihood"] = xr.DataTree(group)
            reason = f"stored for {list(names)}"
    if reason.startswith(("skipped", "failed")):
        warnings.warn(f"no log_likelihood group: {reason}", UserWarning, stacklevel=2)
    dt.attrs[ATTR] = reason
    return dt
