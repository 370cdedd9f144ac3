"""Ising spin systems on any graph.

* ``lattice``       the couplings :math:`\\ln P(s) = \\sum_e K_e s_i s_j + \\sum_i h_i s_i - \\ln Z` (square lattice,
                    rows×cols grid, any graph), neighbour tables, colourings
* ``kernel``        the ``SpinKernel`` protocol (init / step / sweeps; in-place advance / sample_batch) and
                    the spin state; ``driver`` runs any kernel as ``fit()`` chains with diagnostics; ``rng``
                    the in-numba xoshiro256+ uniforms
* ``checkerboard``, ``swendsen_wang``, ``wolff``  the kernels (checkerboard Metropolis / heat bath,
                    Swendsen–Wang, Wolff), each registered as a ``fit()`` method; ``pymc_steps`` their PyMC
                    step adapters
* ``mean_field``, ``bethe``, ``hubbard_stratonovich``  mean field, Bethe belief propagation, the
                    Hubbard–Stratonovich continuous representation
* ``parallel_tempering`` replica exchange of any kernel with an adapted ladder (``tempering_fit``: the run behind
                    ``fit(model, "parallel_tempering")``, registered by ``physml.inference.tempering``;
                    ``tempering_free_energy`` stepping stone / BAR / TI on it)
* ``multispin``     multi-spin coded checkerboard Metropolis: 64 sites of one lattice per machine word, bitwise
                    acceptance, one xoshiro256** bit per lane (``multispin_packing``, ``xoshiro_bits``);
                    registers ``fit(model, "multispin")``
* ``dense_tempering`` numba parallel tempering on dense couplings (C copies × M rungs per compiled call, overlaps
                    of two copies); ``dense_ground_state`` ground states by independent PT runs that must agree;
                    ``tap`` naive mean field and TAP (Onsager reaction term) magnetisations and free energies
* ``perceptron_metropolis`` Metropolis on the binary perceptron's training errors (O(P) per flip)
* ``finite_size``   observables per (L, K) from Wolff runs, Binder crossings, peaks (finite-size scaling);
                    ``block_spin`` majority-rule block spins
* ``free_energy``   spin free energies by TI / AIS / BDMC over the coupling scale (``coupling_scale``,
                    ``coupling_ti``, ``coupling_ais``)
"""
from . import lattice, checkerboard, swendsen_wang, wolff, mean_field, bethe, hubbard_stratonovich  # noqa: F401
from . import free_energy, tempering_fit, multispin  # noqa: F401
from .pymc_steps import CheckerboardStep, SwendsenWangStep, WolffStep  # noqa: F401
