r"""Checkerboard Metropolis and heat-bath samplers for Ising models (numba, in-place sweeps).

A sweep visits the colour classes of a proper colouring in turn (the checkerboard on a
bipartite lattice, 3 colours on an odd periodic L). Sites of one colour do not interact, so
their updates are independent and a colour half-sweep is a product of single-site kernels.
Each site draws its new value from

.. math::

    P(s_i' = +1) = \begin{cases}
      \dfrac{1}{1 + e^{-2 f_i}} & \text{heat bath}\\[4pt]
      s_i = +1:\ 1 - \min(1, e^{-2 f_i}),\quad s_i = -1:\ \min(1, e^{2 f_i}) & \text{Metropolis}
    \end{cases}
    \qquad f_i = h_i + \sum_j K_{ij} s_j,

and both satisfy detailed balance with respect to :math:`P(s) \propto e^{\sum K s s + \sum h s}`.
The new spin is ``+1 if u_i < P(s_i' = +1) else -1`` with one uniform per site per sweep, so
the compiled kernel is a pure function of (spins, uniforms). With uniform K and h the local
field takes 2d + 1 values and the probabilities come from a precomputed table.

``init`` / ``step`` follow the blackjax style: :class:`SpinState` is an immutable NamedTuple;
``step`` copies the spins and sweeps the copy in place.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, NamedTuple

import numba
import numpy as np
import xarray as xr

from .lattice import IsingCouplings, couplings_of, ising_support_reason
from .records import set_diagnostics
from .registry import Method, register_method

RULES = ("metropolis", "heat_bath")
_RULE_CODE = {"metropolis": 0, "heat_bath": 1}


class SpinState(NamedTuple):
    """Spins in {-1, +1} (int8, shape (N,)) and the bookkeeping a kernel reports."""

    spins: np.ndarray
    n_updates: int = 0


# ----------------------------------------------------------------- compiled kernels
@numba.njit(cache=True, inline="always")
def _p_up_from_field(s, f, rule):
    if rule == 1:
        return 1.0 / (1.0 + math.exp(-2.0 * f))
    x = -2.0 * s * f  # log acceptance ratio of the flip
    p_flip = 1.0 if x >= 0.0 else math.exp(x)
    return 1.0 - p_flip if s > 0 else p_flip


@numba.njit(cache=True)
def site_up_probability_kernel(spins, nbr, w, h, i, rule):
    """P(s_i' = +1 | s) for one site (general couplings); ``spins`` has the ghost entry."""
    f = h[i]
    for k in range(nbr.shape[1]):
        f += w[i, k] * spins[nbr[i, k]]
    return _p_up_from_field(spins[i], f, rule)


@numba.njit(cache=True)
def sweep_general(spins, nbr, w, h, order, starts, u, rule, colours):
    """In-place colour-by-colour sweeps; ``u`` is (n_sweeps, N); ``colours`` lists the colours to visit."""
    d = nbr.shape[1]
    for t in range(u.shape[0]):
        for c in colours:
            for q in range(starts[c], starts[c + 1]):
                i = order[q]
                f = h[i]
                for k in range(d):
                    f += w[i, k] * spins[nbr[i, k]]
                spins[i] = 1 if u[t, i] < _p_up_from_field(spins[i], f, rule) else -1


@numba.njit(cache=True)
def sweep_table(spins, nbr, table, order, starts, u, colours):
    """In-place sweeps for uniform K and h: ``table[(s+1)//2, n + d]`` is P(s' = +1), n = Σ s_nbr."""
    d = nbr.shape[1]
    for t in range(u.shape[0]):
        for c in colours:
            for q in range(starts[c], starts[c + 1]):
                i = order[q]
                n = 0
                for k in range(d):
                    n += spins[nbr[i, k]]
                spins[i] = 1 if u[t, i] < table[(spins[i] + 1) >> 1, n + d] else -1


@numba.njit(cache=True)
def spin_observables(spins, edges, n):
    """(bond energy per spin −Σ s_i s_j / N, magnetisation per spin M/N)."""
    b = 0
    for e in range(edges.shape[0]):
        b += spins[edges[e, 0]] * spins[edges[e, 1]]
    m = 0
    for i in range(n):
        m += spins[i]
    return -b / n, m / n


def up_probability_table(K: float, h: float, degree: int, rule: str) -> np.ndarray:
    """(2, 2d + 1) table of P(s' = +1) for s ∈ {−1, +1} and neighbour sums −d … d."""
    code = _RULE_CODE[rule]
    table = np.empty((2, 2 * degree + 1))
    for a, s in enumerate((-1, 1)):
        for j, n in enumerate(range(-degree, degree + 1)):
            table[a, j] = _p_up_from_field(s, h + K * n, code)
    return table


# ----------------------------------------------------------------- kernel object
@dataclass(frozen=True, eq=False)
class CheckerboardKernel:
    """Colour-by-colour single-site updates: ``rule`` ∈ {"metropolis", "heat_bath"}, ``sweeps`` ≥ 1 per step."""

    couplings: IsingCouplings
    rule: str = "metropolis"
    sweeps: int = 1

    def __post_init__(self):
        if not isinstance(self.couplings, IsingCouplings):
            raise ValueError("couplings must be an IsingCouplings record")
        if self.rule not in RULES:
            raise ValueError(f"rule must be one of {RULES}, got {self.rule!r}")
        if isinstance(self.sweeps, bool) or not isinstance(self.sweeps, (int, np.integer)) or self.sweeps < 1:
            raise ValueError(f"sweeps must be an integer >= 1, got {self.sweeps!r}")
        c = self.couplings
        nbr, w = c.neighbour_table
        order, starts = c.colouring
        object.__setattr__(self, "_nbr", nbr)
        object.__setattr__(self, "_w", w)
        object.__setattr__(self, "_order", order)
        object.__setattr__(self, "_starts", starts)
        object.__setattr__(self, "_all_colours", np.arange(len(starts) - 1, dtype=np.int64))
        table = None
        if c.uniform_coupling is not None and c.uniform_field is not None:
            table = up_probability_table(c.uniform_coupling, c.uniform_field, nbr.shape[1], self.rule)
        object.__setattr__(self, "_table", table)

    @property
    def n_spins(self) -> int:
        return self.couplings.n_spins

    def init(self, spins=None, rng: np.random.Generator | None = None) -> SpinState:
        """State from given spins (±1), or uniformly random spins drawn with ``rng``."""
        n = self.n_spins
        if spins is None:
            rng = np.random.default_rng(rng)
            spins = 2 * rng.integers(0, 2, size=n, dtype=np.int8) - 1
        spins = np.asarray(spins).reshape(-1)
        if spins.shape != (n,) or not np.all(np.abs(spins) == 1):
            raise ValueError(f"spins must have shape ({n},) with values in {{-1, +1}}")
        return SpinState(spins.astype(np.int8), 0)

    def sweep_inplace(self, buf: np.ndarray, u: np.ndarray, colours: np.ndarray | None = None) -> None:
        """Sweep ``buf`` (int8, length N + 1, ghost last = 0) in place with uniforms ``u`` (n_sweeps, N)."""
        colours = self._all_colours if colours is None else np.asarray(colours, dtype=np.int64)
        if self._table is not None:
            sweep_table(buf, self._nbr, self._table, self._order, self._starts, u, colours)
        else:
            sweep_general(buf, self._nbr, self._w, self.couplings.field, self._order, self._starts, u,
                          _RULE_CODE[self.rule], colours)

    def step(self, rng: np.random.Generator, state: SpinState) -> SpinState:
        """One step = ``sweeps`` full sweeps; returns a new state (the input is not modified)."""
        buf = _with_ghost(state.spins)
        self.sweep_inplace(buf, rng.random((self.sweeps, self.n_spins)))
        return SpinState(buf[:-1].copy(), state.n_updates + self.sweeps * self.n_spins)

    def sample(self, rng, state, draws, *, record_spins=False, thin=1):
        """Run ``draws`` steps; returns (state, observables dict, spins array or None)."""
        return _run_blocks(self, rng, state, draws, record_spins)

    # used by _run_blocks
    def _advance(self, rng, buf, n_steps):
        self.sweep_inplace(buf, rng.random((n_steps * self.sweeps, self.n_spins)))
        return None


def _with_ghost(spins):
    buf = np.zeros(len(spins) + 1, dtype=np.int8)
    buf[:-1] = spins
    return buf


def site_up_probability(couplings: IsingCouplings, rule: str, spins, i: int) -> float:
    """The compiled P(s_i' = +1 | s) the sweep kernels use (for tests and transition matrices)."""
    nbr, w = couplings.neighbour_table
    return float(site_up_probability_kernel(_with_ghost(np.asarray(spins, dtype=np.int8)), nbr, w,
                                            couplings.field, int(i), _RULE_CODE[rule]))


def _run_blocks(kernel, rng, state, draws, record_spins, stats_name=None):
    """Shared driver: ``draws`` steps, observables after each, optional spins and per-step stats."""
    n = kernel.n_spins
    edges = kernel.couplings.edges
    buf = _with_ghost(state.spins)
    energy = np.empty(draws)
    mag = np.empty(draws)
    spins_out = np.empty((draws, n), dtype=np.int8) if record_spins else None
    stats = np.empty(draws) if stats_name else None
    for t in range(draws):
        out = kernel._advance(rng, buf, 1)
        energy[t], mag[t] = spin_observables(buf, edges, n)
        if record_spins:
            spins_out[t] = buf[:-1]
        if stats_name:
            stats[t] = out
    obs = {"energy": energy, "magnetisation": mag, "abs_magnetisation": np.abs(mag),
           "magnetisation_sq": mag ** 2}
    if stats_name:
        obs[stats_name] = stats
    new_state = SpinState(buf[:-1].copy(), state.n_updates + draws * getattr(kernel, "sweeps", 1) * n)
    return new_state, obs, spins_out


# ----------------------------------------------------------------- fit() integration
OBSERVABLES = ("energy", "abs_magnetisation", "magnetisation_sq", "magnetisation")


def run_spin_kernel(make_kernel: Callable[[IsingCouplings], object], model, *, draws, tune, chains, seed,
                    progress=False, record_spins=None, method_name="", sweeps_per_draw=1.0,
                    stats_name=None, **unused) -> xr.DataTree:
    r"""Run ``chains`` independent chains of ``make_kernel(couplings)`` and build the result DataTree.

    Posterior: per-draw E/N (bond energy), M/N, |M|/N, (M/N)² and, for small runs, the spins.
    Diagnostics (ArviZ): R-hat, bulk/tail ESS, MCSE, integrated autocorrelation time
    :math:`\tau_\mathrm{int} = n_\mathrm{draws}/\mathrm{ESS}` (in draws and in sweeps), and the
    specific heat :math:`c = K^2 N\,\mathrm{Var}(E/N)` and susceptibility
    :math:`\chi = N\,\mathrm{Var}(|M|/N)` with standard errors from the MCSE of the sd.
    """
    if unused:
        raise ValueError(f"unknown options for {method_name}: {sorted(unused)}")
    found = couplings_of(model)
    if found is None:
        raise ValueError(ising_support_reason(model))
    couplings, _ = found
    kernel = make_kernel(couplings)
    n = couplings.n_spins
    if record_spins is None:
        record_spins = n * draws * chains <= 4_000_000
    rngs = np.random.default_rng(seed).spawn(chains)
    per_chain, spins_all = [], []
    for c in range(chains):
        state = kernel.init(rng=rngs[c])
        if tune:
            state, _, _ = _run_blocks(kernel, rngs[c], state, tune, False, stats_name)
        state, obs, spins = _run_blocks(kernel, rngs[c], state, draws, record_spins, stats_name)
        per_chain.append(obs)
        spins_all.append(spins)
    post = {k: (("chain", "draw"), np.stack([o[k] for o in per_chain])) for k in OBSERVABLES}
    coords = {"chain": np.arange(chains), "draw": np.arange(draws)}
    if record_spins:
        post["spins"] = (("chain", "draw", "site"), np.stack(spins_all))
        coords["site"] = np.arange(n)
    posterior = xr.Dataset(post, coords=coords)
    stats = {}
    if stats_name:
        stats[stats_name] = (("chain", "draw"), np.stack([o[stats_name] for o in per_chain]))
    sample_stats = xr.Dataset(stats, coords={"chain": coords["chain"], "draw": coords["draw"]})
    dt = xr.DataTree.from_dict({"posterior": posterior, "sample_stats": sample_stats})
    dt.attrs.update({"n_spins": n, "sweeps_per_draw": float(sweeps_per_draw), "kernel": method_name})
    set_diagnostics(dt, spin_diagnostics(posterior, couplings, sweeps_per_draw))
    return dt


def spin_diagnostics(posterior: xr.Dataset, couplings: IsingCouplings, sweeps_per_draw: float) -> dict:
    """ESS / R-hat / MCSE (arviz_stats) of the per-draw observables, τ_int, c and χ with errors."""
    import arviz_stats as azs

    obs = posterior[["energy", "abs_magnetisation", "magnetisation_sq"]]
    n_total = obs.sizes["chain"] * obs.sizes["draw"]
    ess_bulk = azs.ess(obs, method="bulk")
    ess_tail = azs.ess(obs, method="tail")
    ess_mean = azs.ess(obs, method="mean")
    mcse_mean = azs.mcse(obs, method="mean")
    mcse_sd = azs.mcse(obs, method="sd")
    multi = obs.sizes["chain"] > 1
    rhat = azs.rhat(obs) if multi else None
    out: dict = {
        "min_ess_bulk": float(min(ess_bulk[v].item() for v in obs.data_vars)),
        "min_ess_tail": float(min(ess_tail[v].item() for v in obs.data_vars)),
        "max_rhat": float(max(rhat[v].item() for v in obs.data_vars)) if multi else float("nan"),
        "divergences": 0,
        "sweeps_per_draw": float(sweeps_per_draw),
    }
    for v in obs.data_vars:
        out[f"mean_{v}"] = float(obs[v].mean())
        out[f"mcse_{v}"] = float(mcse_mean[v].item())
        out[f"ess_{v}"] = float(ess_mean[v].item())
        tau = n_total / float(ess_mean[v].item())
        out[f"tau_int_{v}"] = tau
        out[f"tau_int_sweeps_{v}"] = tau * sweeps_per_draw
    n = couplings.n_spins
    K = couplings.uniform_coupling or 0.0
    sd_e, sd_m = float(obs["energy"].std()), float(obs["abs_magnetisation"].std())
    out["specific_heat_per_spin"] = K * K * n * sd_e ** 2
    out["specific_heat_per_spin_se"] = K * K * n * 2 * sd_e * float(mcse_sd["energy"].item())
    out["susceptibility"] = n * sd_m ** 2
    out["susceptibility_se"] = n * 2 * sd_m * float(mcse_sd["abs_magnetisation"].item())
    return out


def _run_rule(rule):
    def run(model, *, draws=1000, tune=200, chains=4, seed=0, progress=False, sweeps=1, record_spins=None,
            **options):
        return run_spin_kernel(lambda c: CheckerboardKernel(c, rule, sweeps), model, draws=draws, tune=tune,
                               chains=chains, seed=seed, progress=progress, record_spins=record_spins,
                               method_name=rule if rule == "heat_bath" else "checkerboard",
                               sweeps_per_draw=sweeps, **options)
    return run


run_checkerboard = _run_rule("metropolis")
run_heat_bath = _run_rule("heat_bath")

register_method(Method(name="checkerboard", run=run_checkerboard, family="mcmc", supports=ising_support_reason,
                       description="checkerboard Metropolis sweeps (numba) for Ising models"))
register_method(Method(name="heat_bath", run=run_heat_bath, family="mcmc", supports=ising_support_reason,
                       description="checkerboard heat-bath (Gibbs) sweeps (numba) for Ising models"))


# ----------------------------------------------------------------- PyMC step method
def _make_pymc_step():
    from dataclasses import field as dc_field  # noqa: F401

    from pymc.model import modelcontext
    from pymc.step_methods.compound import BlockedStep, Competence, StepMethodState
    from pymc.step_methods.state import dataclass_state
    from pymc.util import get_random_generator

    @dataclass_state
    class SpinStepState(StepMethodState):
        pass

    class _SpinStep(BlockedStep):
        """Base of physml's PyMC steps: update the model's spin indicators with a compiled kernel."""

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
            self.kernel = self._make_kernel(couplings, **kernel_options)
            self.rng = get_random_generator(rng)
            self.blocked = blocked

        def _make_kernel(self, couplings, **options):  # pragma: no cover - abstract
            raise NotImplementedError

        def step(self, point):
            bits = np.asarray(point[self._var_name])
            state = SpinState((2 * bits.astype(np.int8) - 1).reshape(-1), 0)
            state = self.kernel.step(self.rng, state)
            new = dict(point)
            new[self._var_name] = ((state.spins + 1) // 2).astype(bits.dtype).reshape(bits.shape)
            e, _ = spin_observables(_with_ghost(state.spins), self.kernel.couplings.edges, len(state.spins))
            return new, [{"energy": float(e)}]

        def reset_tuning(self):
            return None

        @staticmethod
        def competence(var, has_grad=None):
            return Competence.INCOMPATIBLE

    class CheckerboardStep(_SpinStep):
        """``pm.sample(step=CheckerboardStep(rule="metropolis" | "heat_bath", sweeps=1))`` on a physml Ising model."""

        name = "checkerboard"

        def _make_kernel(self, couplings, rule="metropolis", sweeps=1):
            return CheckerboardKernel(couplings, rule, sweeps)

    return _SpinStep, CheckerboardStep


SpinStepBase, CheckerboardStep = _make_pymc_step()
