"""Ising spin systems on any graph: the couplings (``lattice``), spin kernels (checkerboard Metropolis /
heat bath, Swendsen–Wang, Wolff) with their PyMC step adapters, mean field, Bethe belief propagation,
the Hubbard–Stratonovich continuous representation, and spin free energies by TI / AIS / BDMC over
the coupling scale."""
from . import lattice, checkerboard, swendsen_wang, wolff, mean_field, bethe, hubbard_stratonovich  # noqa: F401
from . import free_energy  # noqa: F401
