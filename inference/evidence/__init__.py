"""Free energies F = −ln Z of any model (Bayesian: −ln p(y)).

* ``weights``          importance weights: ln mean w, its delta-method se, Kish ESS, Pareto k-hat
* ``ais``              the AIS engine (a path supplies base draws, weight increments, invariant moves),
                       BDMC sandwiches and the shared weight checks; ``pymc_ais`` the PyMC path (HMC tuned
                       on a pilot population) and the ``ais`` / ``bdmc`` estimators
* ``thermodynamic_integration``  the TI core: ladders, rung statistics, a driver over a pluggable rung
                       sampler, quadrature rules with their error estimates; ``power_posteriors`` TI over
                       power posteriors of a PyMC model (the ``ti`` estimator)
* ``bridge_sampling``, ``importance_sampling``  bridge sampling from posterior draws, PSIS from a VI fit
* ``multi_histogram``  Ferrenberg–Swendsen reweighting of several runs along a parameter: self-consistent
                       ln Z_k, reweighted means between them, block-jackknife errors (not a fit() estimator:
                       it combines many runs)
* ``adaptive``         ``fe_tol``: grow an estimator's budget until its error is below a tolerance

Each estimator registers itself in ``FREE_ENERGY_ESTIMATORS``."""
from . import adaptive, weights, ais, thermodynamic_integration, bridge_sampling, importance_sampling  # noqa: F401
from . import pymc_ais, power_posteriors  # noqa: F401
