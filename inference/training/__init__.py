r"""Training dynamics as physics: optimisers and samplers over the weights of a network.

A network's weights :math:`w` move on the energy :math:`U(w)` (training loss plus weight-decay prior):

* :mod:`.adamw` — AdamW (decoupled weight decay) as a pure ``init`` / ``step`` pair over an immutable state
  (blackjax / optax style: the caller owns the state);
* :mod:`.driver` — the training loop over an objective and an update rule, recording metrics and order
  parameters;
* :mod:`.local_free_energy` — the local free energy F_γ(w) = −ln ∫ e^{−L(w′) − γ|w′−w|²/2} dw′ of a point on
  the landscape, by Laplace and by thermodynamic integration over γ (MALA rungs, the project's TI rules);
* :mod:`.mode_connectivity` — the loss along the straight line and along an optimised quadratic Bézier
  curve between two minima (Garipov et al. 2018), and the barrier height;
* :mod:`.tree` — parameters as an array or a NamedTuple of arrays, per-replica values;
* :mod:`.langevin` — overdamped Langevin dynamics :math:`w' = w - \eta \nabla U + \sqrt{2\eta T}\,\xi`, which
  samples the Gibbs density :math:`e^{-U/T}` as :math:`\eta \to 0`; :math:`T = 0` is plain gradient descent.

Every function takes the gradient from the caller (a compiled PyTensor function, a hand-written NumPy
network, a closed form), so nothing here knows the model. Parameters are NumPy arrays or NamedTuples of
arrays (a pytree one level deep); a leading *replica* axis lets many networks train at once, and the weight
decay or temperature may then be one value per replica.
"""

from .adamw import AdamWState, adamw_init, adamw_step
from .driver import TrainingHistory, adamw_update, langevin_update, train
from .langevin import langevin_step

__all__ = ["AdamWState", "adamw_init", "adamw_step", "langevin_step", "TrainingHistory", "train", "adamw_update",
           "langevin_update"]
