"""Records that every physml result carries inside its DataTree.

A fit result is an :class:`xarray.DataTree` with ArviZ's groups (``posterior``,
``sample_stats`` ...) plus three physml groups, all of which survive a netCDF
round trip:

``free_energy``
    one row per estimator (dimension ``estimator``) with ``value`` (−ln Z in
    nats), ``se``, ``kind`` (``exact`` | ``upper_bound`` | ``lower_bound`` |
    ``estimate`` | ``undefined``) and ``wall_time_s``.
``diagnostics``
    scalar variables (``max_rhat``, ``min_ess_bulk``, ``divergences``,
    ``converged`` ...), one per diagnostic.
``vi_history`` / ``vi_params``
    for variational fits: the −ELBO per optimisation step and the fitted
    variational parameters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, asdict

import numpy as np
import xarray as xr

FREE_ENERGY_KINDS = ("exact", "upper_bound", "lower_bound", "estimate", "undefined")


@dataclass(frozen=True)
class FreeEnergy:
    r"""A free-energy estimate :math:`F = -\ln Z` in nats with its standard error.

    For a Bayesian model :math:`Z = p(\mathrm{data})`, so :math:`F = -\ln p(\mathrm{data})`.

    ``kind`` says what the number is: ``exact``; ``upper_bound`` (e.g. −ELBO,
    which is :math:`F + \mathrm{KL}(q\,\|\,p)`); ``lower_bound`` (e.g. −ln of a
    stochastic upper bound on Z, as reverse AIS gives); or ``estimate``. (Forward AIS
    and SMC are unbiased for Z, so their −ln Ẑ errs *high* on average: kind ``estimate``.)
    ``undefined`` (value and se NaN) stands where an estimator refused to give a number because
    Z itself is undefined (an improper prior, see :mod:`.priors`); its note says why.
    ``pareto_k`` is set where the estimate rests on importance weights.
    ``sandwich_lower`` / ``sandwich_upper``: stochastic lower and upper bounds that bracket F
    (bidirectional Monte Carlo: −ln of reverse AIS's upper bound on Z, and of forward AIS's lower
    bound); nan for estimators that give no bracket.
    """

    value: float
    se: float
    kind: str
    estimator: str
    wall_time_s: float = float("nan")
    pareto_k: float = float("nan")
    note: str = ""
    sandwich_lower: float = float("nan")
    sandwich_upper: float = float("nan")

    def __post_init__(self):
        if self.kind not in FREE_ENERGY_KINDS:
            raise ValueError(f"kind must be one of {FREE_ENERGY_KINDS}, got {self.kind!r}")
        if self.kind == "undefined" and not math.isnan(self.value):
            raise ValueError(f"a record of kind 'undefined' must have value nan, got {self.value}")
        if not (isinstance(self.estimator, str) and self.estimator):
            raise ValueError("estimator must be a non-empty string")
        if not math.isnan(self.se) and self.se < 0:
            raise ValueError(f"se must be >= 0 or nan, got {self.se}")

    def to_dict(self) -> dict:
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in asdict(self).items()}

    def z_score(self, exact: float) -> float:
        """(value − exact) / se: the error in units of the standard error."""
        if not self.se > 0:
            return float("nan")
        return (self.value - exact) / self.se


def add_free_energy(dt: xr.DataTree, record: FreeEnergy) -> xr.DataTree:
    """Store ``record`` in ``dt['free_energy']`` (replacing one of the same estimator)."""
    existing = {r.estimator: r for r in free_energies(dt)}
    existing[record.estimator] = record
    rows = list(existing.values())
    ds = xr.Dataset(
        {
            "value": ("estimator", np.array([r.value for r in rows], dtype=float)),
            "se": ("estimator", np.array([r.se for r in rows], dtype=float)),
            "kind": ("estimator", np.array([r.kind for r in rows], dtype=str)),
            "wall_time_s": ("estimator", np.array([r.wall_time_s for r in rows], dtype=float)),
            "pareto_k": ("estimator", np.array([r.pareto_k for r in rows], dtype=float)),
            "note": ("estimator", np.array([r.note for r in rows], dtype=str)),
            "sandwich_lower": ("estimator", np.array([r.sandwich_lower for r in rows], dtype=float)),
            "sandwich_upper": ("estimator", np.array([r.sandwich_upper for r in rows], dtype=float)),
        },
        coords={"estimator": np.array([r.estimator for r in rows], dtype=str)},
        attrs={"units": "nats", "definition": "-ln Z (for a Bayesian model -ln p(data))"},
    )
    dt["free_energy"] = xr.DataTree(ds)
    return dt


def free_energy(dt: xr.DataTree, estimator: str) -> FreeEnergy:
    """The free-energy record of one ``estimator`` in ``dt`` (e.g. ``"neg_elbo"``, ``"bridge"``); ``KeyError``
    naming the estimators present when it is not there."""
    records = {r.estimator: r for r in free_energies(dt)}
    if estimator not in records:
        raise KeyError(f"no free energy by {estimator!r} in this result; it has {sorted(records) or 'none'}")
    return records[estimator]


def free_energies(dt: xr.DataTree) -> list[FreeEnergy]:
    """All free-energy records stored in ``dt`` (empty list if none)."""
    if "free_energy" not in dt.children:
        return []
    ds = dt["free_energy"].to_dataset()
    n = ds.sizes["estimator"]

    def column(var, default):  # optional columns are absent from files written by older versions
        return ds[var].values if var in ds else [default] * n

    note, pk = column("note", ""), column("pareto_k", float("nan"))
    lower, upper = column("sandwich_lower", float("nan")), column("sandwich_upper", float("nan"))
    out = []
    for i, name in enumerate(ds["estimator"].values):
        out.append(FreeEnergy(
            value=float(ds["value"].values[i]), se=float(ds["se"].values[i]),
            kind=str(ds["kind"].values[i]), estimator=str(name),
            wall_time_s=float(ds["wall_time_s"].values[i]), pareto_k=float(pk[i]), note=str(note[i]),
            sandwich_lower=float(lower[i]), sandwich_upper=float(upper[i])))
    return out


def set_diagnostics(dt: xr.DataTree, values: dict) -> xr.DataTree:
    """Merge scalar diagnostics into ``dt['diagnostics']`` (bool/int/float/str)."""
    current = diagnostics(dt)
    current.update(values)
    ds = xr.Dataset({k: ((), _scalar(v)) for k, v in current.items()})
    dt["diagnostics"] = xr.DataTree(ds)
    return dt


def diagnostics(dt: xr.DataTree) -> dict:
    """The scalar diagnostics stored in ``dt`` as plain Python values."""
    if "diagnostics" not in dt.children:
        return {}
    ds = dt["diagnostics"].to_dataset()
    return {k: ds[k].values.item() if ds[k].values.dtype.kind != "U" else str(ds[k].values)
            for k in ds.data_vars}


def _scalar(v):
    if isinstance(v, (bool, np.bool_)):
        return np.bool_(v)  # netCDF has no bool type: xarray stores it as int8 with a flag and restores it
    if isinstance(v, (int, np.integer)):
        return np.int64(v)
    if isinstance(v, (float, np.floating)):
        return np.float64(v)
    return np.str_(str(v))


def netcdf_safe(dt: xr.DataTree) -> xr.DataTree:
    """Drop warm-up groups and turn object-dtype variables into strings, so ``to_netcdf`` works."""
    for name in [n for n in dt.children if n.startswith("warmup_")]:
        del dt[name]
    for node in dt.subtree:
        for var in list(node.data_vars):
            if node[var].dtype == object:
                node[var] = node[var].astype(str)
        for key, value in list(node.attrs.items()):
            if not isinstance(value, (str, int, float, np.number, np.ndarray, list, tuple)):
                node.attrs[key] = str(value)
            elif isinstance(value, (list, tuple)):
                node.attrs[key] = [str(v) for v in value]
    return dt
