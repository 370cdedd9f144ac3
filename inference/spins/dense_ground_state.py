r"""Ground states of dense couplings by independent parallel-tempering runs that must agree.

:math:`E_0 = \min_s E(s)`, :math:`E(s) = -\tfrac12 s^\top J s - h^\top s`. ``runs`` independent PT chains
(:mod:`.dense_tempering`, geometric ladder from ``t_max`` to ``t_min``) each keep their lowest quenched
energy; they run in blocks of ``sweeps`` until **every** run holds the same record (within ``tol``) or
``max_sweeps`` is reached. The answer is the lowest record; ``agreed`` says whether all runs found it — the
self-flag: a sample whose runs disagree may not be at its ground state (its energy is an upper bound).
Finding the same minimum from independent random starts is the usual empirical certificate for PT ground
states (e.g. Katzgraber, Körner & Young 2006); it is not a proof.

Here: :class:`GroundState`, :func:`ground_state`, :func:`default_rungs`.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .dense_heat_bath import check_dense_couplings
from .dense_tempering import dense_tempering_init, dense_tempering_run, geometric_ladder, swap_acceptance
from .kernel import require_count


class GroundState(NamedTuple):
    """Lowest energy found (total, not per spin), its spins, every run's record, whether all runs agree,
    sweeps per run used, and the swap acceptance per ladder pair."""

    energy: float
    spins: np.ndarray
    run_energies: np.ndarray
    agreed: bool
    sweeps: int
    swap_acceptance: np.ndarray


def default_rungs(n: int, t_min: float = 0.2, t_max: float = 1.6) -> int:
    """Rungs for a geometric ladder on N spins: ∝ √N · ln(t_max/t_min) (energy sd ∝ √N), at least 8."""
    return max(8, int(math.ceil(0.8 * math.sqrt(n) * math.log(t_max / t_min))))


def ground_state(J, rng: np.random.Generator, *, h=0.0, runs: int = 3, sweeps: int = 200,
                 max_sweeps: int = 20_000, t_min: float = 0.2, t_max: float = 1.6, n_rungs: int | None = None,
                 tol: float = 1e-7) -> GroundState:
    """Lowest energy of ``runs`` independent PT runs, continued in blocks of ``sweeps`` until all agree."""
    mat = check_dense_couplings(J)
    for name, value in (("runs", runs), ("sweeps", sweeps), ("max_sweeps", max_sweeps)):
        require_count(name, value)
    if runs < 2:
        raise ValueError(f"runs must be >= 2 (agreement needs two independent runs), got {runs}")
    betas = geometric_ladder(t_min, t_max, 2)  # checks the temperatures
    betas = geometric_ladder(t_min, t_max, n_rungs or default_rungs(mat.shape[0], t_min, t_max))
    state = dense_tempering_init(mat, betas, runs, rng)
    agreed = False
    while state.sweeps < max_sweeps and not agreed:
        state, _ = dense_tempering_run(mat, state, min(sweeps, max_sweeps - state.sweeps), h=h)
        agreed = bool(np.ptp(state.best_energy) <= tol * max(1.0, abs(state.best_energy.min())))
    best = int(np.argmin(state.best_energy))
    return GroundState(float(state.best_energy[best]), state.best_spins[best].copy(), state.best_energy.copy(),
                       agreed, state.sweeps, swap_acceptance(state))
