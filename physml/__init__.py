"""physml: statistical physics <-> machine learning, made runnable.

Public API::

    from physml import fit, FreeEnergy, log_partition_kaufman, log_partition_exact, log_partition_ais
"""
__version__ = "0.1.0"

from physml.inference import FreeEnergy, fit, free_energies, diagnostics, METHODS, FREE_ENERGY_ESTIMATORS  # noqa: E402
from physml.inference.rbm_ais import log_partition_ais  # noqa: E402
from physml.models.ising import log_partition_kaufman  # noqa: E402
from physml.models.rbm import log_partition_exact  # noqa: E402

__all__ = ["fit", "FreeEnergy", "free_energies", "diagnostics", "METHODS", "FREE_ENERGY_ESTIMATORS",
           "log_partition_kaufman", "log_partition_exact", "log_partition_ais"]
