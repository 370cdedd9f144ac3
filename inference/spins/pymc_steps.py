r"""PyMC step methods that update a physml Ising model's spins with a :class:`~.kernel.SpinKernel`.

A physml Ising model has one Bernoulli vector ``up`` ∈ {0, 1}^N with the Boltzmann density
:math:`P(s) \propto e^{\sum K s s + \sum h s}` over :math:`s = 2\,\mathrm{up} - 1`; a step maps
``up → s``, applies one kernel step (which leaves that density invariant) and maps back, so
``pm.sample(step=...)`` mixes the kernel with PyMC's own samplers for the other variables. Each
draw records the bond energy per spin :math:`-\sum_e s_i s_j / N` as the sample stat ``energy``.

Here: :class:`SpinStepBase` and the adapters :class:`CheckerboardStep` (Metropolis / heat bath),
:class:`SwendsenWangStep`, :class:`WolffStep`.
"""

from __future__ import annotations

import numpy as np
from pymc.model import modelcontext
from pymc.step_methods.compound import BlockedStep, Competence, StepMethodState
from pymc.step_methods.state import dataclass_state
from pymc.util import get_random_generator

from .checkerboard import CheckerboardKernel
from .kernel import SpinKernel, SpinState, energy_magnetisation_per_spin, with_ghost
from .lattice import IsingCouplings, couplings_of, ising_support_reason
from .swendsen_wang import SwendsenWangKernel
from .wolff import WolffKernel

__all__ = ["SpinStepBase", "CheckerboardStep", "SwendsenWangStep", "WolffStep"]


@dataclass_state
class SpinStepState(StepMethodState):
    pass


class SpinStepBase(BlockedStep):
    """Base of physml's PyMC steps: update the model's spin indicators with a compiled kernel.

    A subclass sets ``name`` and implements :meth:`make_kernel` (its keyword options are the step's).
    """

    name = "physml_spin_step"
    stats_dtypes_shapes = {"energy": (np.float64, [])}
    _state_class = SpinStepState

    def __init__(self, vars=None, *, model=None, rng=None, blocked=True, **kernel_options):
        model = modelcontext(model)
        found = couplings_of(model)
        if found is None:
            raise ValueError(ising_support_reason(model))
        couplings, var_name = found
        self.vars = [model.rvs_to_values[model[var_name]]]
        self._var_name = self.vars[0].name
        self.kernel = self.make_kernel(couplings, **kernel_options)
        self.rng = get_random_generator(rng)
        self.blocked = blocked

    def make_kernel(self, couplings: IsingCouplings, **options) -> SpinKernel:  # pragma: no cover - abstract
        raise NotImplementedError

    def step(self, point):
        bits = np.asarray(point[self._var_name])
        state = SpinState((2 * bits.astype(np.int8) - 1).reshape(-1), 0)
        state = self.kernel.step(self.rng, state)
        new = dict(point)
        new[self._var_name] = ((state.spins + 1) // 2).astype(bits.dtype).reshape(bits.shape)
        e, _ = energy_magnetisation_per_spin(with_ghost(state.spins), self.kernel.couplings.edges,
                                             len(state.spins))
        return new, [{"energy": float(e)}]

    def reset_tuning(self):
        return None

    @staticmethod
    def competence(var, has_grad=None):
        return Competence.INCOMPATIBLE


class CheckerboardStep(SpinStepBase):
    """``pm.sample(step=CheckerboardStep(rule="metropolis" | "heat_bath", sweeps=1))`` on a physml Ising model."""

    name = "checkerboard"

    def make_kernel(self, couplings, rule="metropolis", sweeps=1):
        return CheckerboardKernel(couplings, rule, sweeps)


class SwendsenWangStep(SpinStepBase):
    """``pm.sample(step=SwendsenWangStep(sweeps=1))`` on a physml Ising model with h = 0."""

    name = "swendsen_wang"

    def make_kernel(self, couplings, sweeps=1):
        return SwendsenWangKernel(couplings, sweeps)


class WolffStep(SpinStepBase):
    """``pm.sample(step=WolffStep(clusters=1))`` on a physml Ising model with h = 0."""

    name = "wolff"

    def make_kernel(self, couplings, clusters=1):
        return WolffKernel(couplings, clusters)
