"""What a model offers as ground truth: an exact free energy and/or reference posterior draws."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import xarray as xr


@dataclass
class Reference:
    """Ground truth for one model and data set.

    ``free_energy``: exact −ln Z (nats) or ``None`` when no closed form exists.
    ``posterior``: a DataTree with a ``posterior`` group of reference draws (exact iid
    draws, or a published reference such as posteriordb's), same names/dims as fits.
    ``moments``: exact per-label ``{"mean", "sd"}`` where known in closed form; labels
    missing there fall back to the draws' moments.
    ``source``: a short description shown in reports (``"exact (NIG closed form)"``...).
    """

    source: str
    free_energy: float | None = None
    posterior: xr.DataTree | None = None
    moments: dict[str, dict[str, float]] = field(default_factory=dict)
    extra: dict = field(default_factory=dict)

    def summary(self) -> dict[str, dict[str, float]]:
        """Per-label mean and sd: closed form where known, else from the reference draws."""
        out = {}
        if self.posterior is not None:
            post = self.posterior["posterior"]
            for var in post.data_vars:
                da = post[var].stack(sample=("chain", "draw"))
                extra_dims = [d for d in da.dims if d != "sample"]
                if not extra_dims:
                    out[var] = {"mean": float(da.mean()), "sd": float(da.std(ddof=1))}
                    continue
                flat = da.stack(component=extra_dims).transpose("component", "sample")
                for i, idx in enumerate(flat["component"].values):
                    idx = idx if isinstance(idx, tuple) else (idx,)
                    label = f"{var}[{', '.join(str(x) for x in idx)}]"
                    row = flat.values[i]
                    out[label] = {"mean": float(row.mean()), "sd": float(row.std(ddof=1))}
        out.update(self.moments)
        return out


def draws_to_datatree(draws: dict[str, np.ndarray], coords: dict | None = None,
                      dims: dict[str, list[str]] | None = None) -> xr.DataTree:
    """Wrap arrays shaped (chain, draw, ...) as a DataTree with a ``posterior`` group."""
    coords = coords or {}
    dims = dims or {}
    data_vars = {}
    for name, arr in draws.items():
        arr = np.asarray(arr, dtype=float)
        data_vars[name] = (["chain", "draw", *dims.get(name, [])], arr)
    n_chain, n_draw = next(iter(draws.values())).shape[:2]
    ds = xr.Dataset(data_vars, coords={"chain": np.arange(n_chain), "draw": np.arange(n_draw), **coords})
    return xr.DataTree.from_dict({"posterior": ds})
