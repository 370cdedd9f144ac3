"""Parallel tempering (replica exchange) of continuous densities, and the one ``parallel_tempering`` method.

* ``kernels``         within-replica Metropolis–Hastings kernels, pure ``step(rng, point, params, density)``:
                      random-walk Metropolis and preconditioned MALA on p(θ) L(θ)^β
* ``sampler``         ``ReplicaExchange``: its own immutable state, neighbour swaps (the spin PT's rule),
                      ladder / proposal adaptation in tuning, round trips
* ``pymc_tempering``  a continuous PyMC model's tempered likelihood as ``fit()`` chains, with the evidence by
                      stepping stone, BAR and TI over β from the same run
* ``method``          registers ``fit(model, "parallel_tempering")`` for spin and PyMC models alike, and the
                      estimators ``pt_stepping_stone`` / ``pt_bar`` / ``pt_ti``
"""
from . import method  # noqa: F401
