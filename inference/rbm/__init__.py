"""Restricted Boltzmann machines: exact sums over the smaller layer (``exact``), block Gibbs (``gibbs``),
Salakhutdinov–Murray AIS and BDMC of ln Z (``ais``), contrastive-divergence learning."""
from . import exact, gibbs, ais, contrastive_divergence  # noqa: F401
