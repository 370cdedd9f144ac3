"""Free-energy records stored in a DataTree: one by name, and a clear error for a missing one."""

from __future__ import annotations

import pytest
import xarray as xr

from physml.inference import FreeEnergy, add_free_energy, free_energies, free_energy


def _tree() -> xr.DataTree:
    dt = xr.DataTree()
    add_free_energy(dt, FreeEnergy(value=3.5, se=0.1, kind="upper_bound", estimator="neg_elbo"))
    add_free_energy(dt, FreeEnergy(value=3.2, se=0.05, kind="estimate", estimator="psis_is", pareto_k=0.3))
    return dt


def test_free_energy_by_name_is_the_listed_record():
    dt = _tree()
    listed = next(r for r in free_energies(dt) if r.estimator == "psis_is")
    picked = free_energy(dt, "psis_is")
    assert (picked.value, picked.se, picked.kind, picked.pareto_k) == (listed.value, listed.se, "estimate", 0.3)
    assert free_energy(dt, "neg_elbo").kind == "upper_bound"


def test_missing_estimator_names_the_ones_present():
    with pytest.raises(KeyError, match=r"'bridge'.*\['neg_elbo', 'psis_is'\]"):
        free_energy(_tree(), "bridge")
    with pytest.raises(KeyError, match="none"):
        free_energy(xr.DataTree(), "bridge")
