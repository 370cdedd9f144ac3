"""Algorithms over densities, lattices and graphs, and the one entry point ``fit``.

Never imports ``physml.models``: models depend on inference, not the other way round.

The spine (this folder): ``fit`` (the driver), ``registry`` (methods and free-energy estimators
register themselves), ``records`` (the result DataTree: ``FreeEnergy`` rows, diagnostics),
``convergence`` (R-hat / ESS tables), ``priors`` (is the evidence defined?), ``model_density``
(a PyMC model's log density compiled once), ``pymc_compat``, ``draw_checks`` (pm.sample-grade warnings,
``FitWarning``, refusals before sampling), ``log_likelihood`` (the pointwise ArviZ group, in chunks), and the math shared by algorithms and
models: ``special`` (ln 2cosh, ln|2sinh|) and ``enumeration`` (all 2^N states, in blocks).  The
algorithms, by role:

* ``mcmc/``      PyMC's NUTS / Metropolis (nutpie where it applies) and SMC
* ``vi/``        Gaussian variational families, the optimiser, the stopping rule, the ADVI driver
* ``evidence/``  free energies of any model: one AIS engine (and BDMC), one TI core, bridge
                 sampling, importance sampling, the fe_tol driver
* ``spins/``     Ising couplings, spin kernels behind one protocol, mean field, Bethe,
                 Hubbard–Stratonovich, the spin free energies
* ``rbm/``       restricted Boltzmann machines: enumeration, block Gibbs, AIS, contrastive divergence
* ``tempering/`` parallel tempering of continuous PyMC models; registers ``parallel_tempering`` (spins too)

Importing this package imports every subpackage, which registers every method and estimator.
"""
from .records import FreeEnergy, add_free_energy, free_energy, free_energies, set_diagnostics, diagnostics
from .registry import METHODS, FREE_ENERGY_ESTIMATORS, Method, FreeEnergyEstimator, register_method, register_free_energy
from .fit import fit, fit_info
from .convergence import posterior_table, mcmc_diagnostics
from .draw_checks import FitWarning

# Registration side effects: each subpackage imports its modules, which add their methods / estimators.
from . import mcmc, vi, evidence, spins, rbm, tempering  # noqa: F401,E402

from .spins import CheckerboardStep, SwendsenWangStep, WolffStep  # noqa: E402
from .rbm.ais import log_partition_ais  # noqa: E402
