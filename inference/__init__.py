"""Algorithms over densities, lattices and graphs, and the one entry point ``fit``.

Never imports ``physml.models``: models depend on inference, not the other way round.
Importing this package registers every method and free-energy estimator.
"""
from .records import FreeEnergy, add_free_energy, free_energies, set_diagnostics, diagnostics
from .registry import METHODS, FREE_ENERGY_ESTIMATORS, Method, FreeEnergyEstimator, register_method, register_free_energy
from .fit import fit, fit_info
from .convergence import posterior_table, mcmc_diagnostics

# Registration side effects: each module adds its methods / estimators.
from . import mcmc, smc, vi  # noqa: F401,E402  (nuts, metropolis, smc, advi, fullrank_advi)
from . import thermodynamic_integration, bridge_sampling, importance_sampling, ais  # noqa: F401,E402
from . import lattice, checkerboard, swendsen_wang, wolff, ising_free_energy, mean_field, bethe  # noqa: F401,E402
from . import hubbard_stratonovich  # noqa: F401,E402
from . import rbm_exact, rbm_gibbs, rbm_ais, contrastive_divergence  # noqa: F401,E402

from .checkerboard import CheckerboardStep  # noqa: E402
from .swendsen_wang import SwendsenWangStep  # noqa: E402
from .wolff import WolffStep  # noqa: E402
from .rbm_ais import log_partition_ais  # noqa: E402
