"""Free energies F = −ln Z of any model (Bayesian: −ln p(y)): one AIS engine with bidirectional
(BDMC) sandwiches, thermodynamic integration, bridge sampling, Pareto-smoothed importance sampling,
and the ``fe_tol`` driver that grows a budget until the error is below a tolerance.  Each estimator
registers itself in ``FREE_ENERGY_ESTIMATORS``."""
from . import adaptive, ais, thermodynamic_integration, bridge_sampling, importance_sampling  # noqa: F401
