"""physml: statistical physics <-> machine learning, made runnable.

Public API::

    from physml import fit, FreeEnergy, log_partition_kaufman, log_partition_exact, log_partition_ais
    from physml import compare        # the comparison report of any PyMC model (physml/compare.py)

The names are imported on first use (PEP 562), so ``python -m physml`` starts in a fraction of a
second and installs its Ctrl-C handling before PyMC, numba and nutpie are loaded. ``compare`` is bound
at import (its module imports only the standard library until it is called), so that the name
``physml.compare`` is the function even after ``import physml.compare``.
"""
from importlib import import_module

from .compare import compare

__version__ = "0.1.0"

_PUBLIC = {
    "fit": "physml.inference", "FreeEnergy": "physml.inference", "free_energies": "physml.inference",
    "diagnostics": "physml.inference", "METHODS": "physml.inference", "FREE_ENERGY_ESTIMATORS": "physml.inference",
    "log_partition_ais": "physml.inference.rbm.ais", "log_partition_kaufman": "physml.models.ising",
    "log_partition_exact": "physml.models.rbm",
}
__all__ = [*_PUBLIC, "compare"]


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'physml' has no attribute {name!r}")
    value = getattr(import_module(_PUBLIC[name]), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted([*globals(), *_PUBLIC])
