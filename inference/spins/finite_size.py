r"""Finite-size observables of the zero-field square-lattice Ising model, simulated and reweighted.

Per draw of an L×L periodic lattice (N = L²) at coupling K: the bond sum :math:`u = \sum_{\langle ij\rangle}
s_i s_j` and :math:`m = M/N`. Per (L, K) (Binder, Z. Phys. B 43, 119 (1981); Landau & Binder ch. 4):

.. math::

    e = -\langle u\rangle/N,\quad C = \frac{K^2}{N}\mathrm{Var}(u),\quad
    \chi = N\big(\langle m^2\rangle - \langle|m|\rangle^2\big),\quad \chi' = N\langle m^2\rangle,\quad
    U_4 = 1 - \frac{\langle m^4\rangle}{3\langle m^2\rangle^2}.

Runs use Wolff cluster flips (:class:`~.wolff.WolffKernel`; a draw ≈ one sweep of flipped spins). Errors of
these nonlinear functions of means: the block jackknife of
:func:`~physml.inference.evidence.multi_histogram.jackknife_blocks`. Between simulated K, every observable
comes from multi-histogram reweighting of all runs of one L (θ = K, statistic u). The Binder crossing of two
sizes is the root of :math:`U_4^{L_1}(K) - U_4^{L_2}(K)` on the reweighted curves (linear interpolation on a
fine grid); its error is the jackknife over blocks of both sizes' runs.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..evidence.multi_histogram import jackknife_blocks, multi_histogram
from .lattice import square_lattice_couplings
from .driver import run_blocks
from .wolff import WolffKernel

OBSERVABLES = ("abs_m", "m2", "m4", "energy", "specific_heat", "chi", "chi_prime", "binder")


def simulate(L: int, K: float, draws: int, seed, burn_in: int = 200) -> dict:
    """Wolff draws at (L, K): {"u": bond sums, "m": M/N} (``draws`` each), after ``burn_in`` sweep-equivalents."""
    couplings = square_lattice_couplings(L, K)
    rng = np.random.default_rng(seed)
    pilot = WolffKernel(couplings, 1)
    state, mean_size = pilot.burn_in(rng, pilot.init(rng=rng), burn_in)
    kernel = WolffKernel(couplings, max(1, int(round(couplings.n_spins / mean_size))))
    _, obs, _ = run_blocks(kernel, rng, state, draws, False)
    n = couplings.n_spins
    return {"u": np.rint(-obs["energy"] * n), "m": obs["magnetisation"]}


def moments(weights_or_none, run: dict) -> np.ndarray:
    """⟨u⟩, ⟨u²⟩, ⟨|m|⟩, ⟨m²⟩, ⟨m⁴⟩ of one pooled sample (weights normalised, or None for plain means)."""
    u, m = run["u"], run["m"]
    cols = np.stack([u, u * u, np.abs(m), m * m, m ** 4])
    if weights_or_none is None:
        return cols.mean(axis=1)
    return cols @ weights_or_none


def observables_from_moments(mom: np.ndarray, L: int, K: float) -> np.ndarray:
    """The OBSERVABLES (in order) from the five moments of :func:`moments`."""
    n = L * L
    mu, mu2, am, m2, m4 = mom
    return np.array([am, m2, m4, -mu / n, K * K * (mu2 - mu * mu) / n, n * (m2 - am * am), n * m2,
                     1.0 - m4 / (3.0 * m2 * m2)])


def observables(run: dict, L: int, K: float, n_blocks: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """(values, jackknife se) of the OBSERVABLES from one run's draws."""
    return jackknife_blocks([run], lambda r: observables_from_moments(moments(None, r[0]), L, K), n_blocks)


def reweighted(runs: Sequence[dict], Ks: Sequence[float], L: int, grid: Sequence[float]) -> np.ndarray:
    """OBSERVABLES (len(grid), 8) at every K of ``grid`` by multi-histogram reweighting of ``runs`` at ``Ks``."""
    mh = multi_histogram(Ks, [r["u"] for r in runs])
    pooled = {k: np.concatenate([r[k] for r in runs]) for k in ("u", "m")}
    grid = np.asarray(grid, dtype=float)
    lw = grid[:, None] * mh.u[None, :] - mh.log_denominator[None, :]
    w = np.exp(lw - lw.max(axis=1, keepdims=True))
    w /= w.sum(axis=1, keepdims=True)
    mom = moments(w.T, pooled)  # (5, len(grid))
    return np.array([observables_from_moments(mom[:, i], L, K) for i, K in enumerate(grid)])

def reweighted_ess(runs: Sequence[dict], Ks: Sequence[float], grid: Sequence[float]) -> np.ndarray:
    """Kish ESS of the pooled reweighted draws at every K of ``grid``."""
    mh = multi_histogram(Ks, [r["u"] for r in runs])
    return np.array([mh.ess(K) for K in grid])


def crossing(grid: np.ndarray, diff: np.ndarray) -> float:
    """The K where ``diff`` (on ``grid``) changes sign, by linear interpolation (NaN when it does not, or
    more than once)."""
    s = np.sign(diff)
    idx = np.nonzero(s[:-1] * s[1:] < 0)[0]
    if len(idx) != 1:
        return float("nan")
    i = idx[0]
    return float(grid[i] - diff[i] * (grid[i + 1] - grid[i]) / (diff[i + 1] - diff[i]))


def binder_crossing(runs_a: Sequence[dict], Ks_a, L_a: int, runs_b: Sequence[dict], Ks_b, L_b: int,
                    grid: np.ndarray, n_blocks: int = 20) -> tuple[float, float]:
    """(K×, jackknife se) where U₄ of sizes L_a and L_b cross on ``grid``; ValueError if they do not cross
    exactly once in the grid (the K range does not contain the crossing)."""
    binder = OBSERVABLES.index("binder")
    na = len(runs_a)

    def estimate(sub):
        ua = reweighted(sub[:na], Ks_a, L_a, grid)[:, binder]
        ub = reweighted(sub[na:], Ks_b, L_b, grid)[:, binder]
        return np.array([crossing(grid, ua - ub)])

    k, se = jackknife_blocks(list(runs_a) + list(runs_b), estimate, n_blocks)
    if not np.isfinite(k[0]):
        raise ValueError(f"the Binder cumulants of L = {L_a} and L = {L_b} do not cross once in the K range "
                         f"[{grid[0]:.5g}, {grid[-1]:.5g}]: choose a K range containing the critical point")
    return float(k[0]), float(se[0])


def peak(grid: np.ndarray, curve: np.ndarray) -> tuple[float, float]:
    """(K, value) of the maximum of ``curve`` on ``grid``, refined by a parabola through the top 3 points."""
    i = int(np.clip(np.argmax(curve), 1, len(grid) - 2))
    x, y = grid[i - 1:i + 2], curve[i - 1:i + 2]
    a, b, c = np.polyfit(x - x[1], y, 2)
    if a >= 0:
        return float(grid[np.argmax(curve)]), float(np.max(curve))
    dx = float(np.clip(-b / (2 * a), x[0] - x[1], x[2] - x[1]))
    return float(x[1] + dx), float(a * dx * dx + b * dx + c)

