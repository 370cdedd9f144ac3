r"""Thermodynamic integration with power posteriors (Friel & Pettitt 2008): ``power_posterior_ti``.

The power posterior :math:`p_t(\theta) \propto p(\text{data}\mid\theta)^t\, p(\theta)` has
normaliser :math:`Z(t)` with :math:`Z(0)=1` and :math:`Z(1)=p(\text{data})`, and

.. math:: \frac{d \ln Z(t)}{dt} = \mathbb{E}_t[\ln p(\text{data}\mid\theta)]
          \quad\Rightarrow\quad
          \ln p(\text{data}) = \int_0^1 \mathbb{E}_t[\ln p(\text{data}\mid\theta)]\,dt ,

the statistical-physics identity :math:`d\ln Z/d\beta = -\langle E\rangle_\beta` with
:math:`E = -\ln p(\text{data}\mid\theta)`.  The derivative of the integrand is
:math:`\mathrm{Var}_t[\ln p(\text{data}\mid\theta)]`, which gives Friel & Pettitt's corrected
trapezoid rule

.. math:: \ln Z \approx \sum_k \tfrac{h_k}{2}(E_k + E_{k+1}) - \sum_k \tfrac{h_k^2}{12}(V_{k+1} - V_k),
          \qquad h_k = t_{k+1} - t_k .

Each rung is sampled by NUTS (nutpie) on **one** tempered copy of the model in which the
inverse temperature is a ``pm.Data``: it is compiled once per model object and re-used via
``compiled.with_data`` across rungs and seeds.  Rung ``t = 0`` is the prior, drawn exactly
(independent draws).  The standard error combines

* the Monte Carlo error: the per-rung MCSE of :math:`E_k` and :math:`V_k` (ArviZ
  ``mcse``, which accounts for autocorrelation) propagated through the quadrature weights;
* the discretisation error: with an even ``n`` the same draws on every other rung form a
  second ladder, and Richardson's estimate for the O(h⁴) corrected rule is
  |C_n − C_{n/2}| / 15 (it shrinks as O(n⁻⁴)) less the Monte Carlo noise of that difference,
  max(|D| − 2σ_D, 0)/15; with an odd ``n``, the size of the Friel–Pettitt correction
  |C_n − T_n| (conservative).

Ladders, rung statistics, the rules and their error estimates are the TI core's
(:mod:`.thermodynamic_integration`); this module supplies the rung sampler (NUTS on the tempered model,
exact prior draws at t = 0), the prior stepping stone below :math:`t_1` and the self-checks.
"""

from __future__ import annotations

import threading
import time
import weakref

import numpy as np

from .adaptive import Knob, split_details, with_tolerance
from .thermodynamic_integration import (auto_ladder, discretisation_error, first_rung, hermite_rule_in_t,
                                        integrand_on_ladder, log_discretisation_error, log_trapezoid_rules,
                                        power_ladder, trapezoid_rules)
from .weights import log_mean_exp, relative_weights_se
from ..model_density import model_density
from ..priors import require_proper_prior
from ..records import FreeEnergy
from ..registry import FreeEnergyEstimator, register_free_energy

__all__ = ["sample_power_posterior", "power_posterior_ti", "ti_to_tolerance", "estimate_ti", "BETA_NAME",
           "LOGLIK_NAME"]

BETA_NAME = "__physml_ti_beta"
LOGLIK_NAME = "__physml_ti_loglik"
_TEMPERED: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def _tempered(model):
    """(compiled nutpie model of the tempered clone, names) — compiled once per model object."""
    with _LOCK:
        hit = _TEMPERED.get(model)
        if hit is not None:
            return hit
        import nutpie
        import pymc as pm
        import pytensor.tensor as pt
        from pymc.model.fgraph import clone_model

        model_density(model)  # validates: observed data, continuous free variables
        tempered = clone_model(model)
        with tempered:
            beta = pm.Data(BETA_NAME, 1.0)
            # log-likelihood in terms of the random variables, so that it is both a
            # Potential (logp += (beta - 1) * loglik) and a stored Deterministic
            terms = [pm.logp(obs, tempered.rvs_to_values[obs]).sum() for obs in tempered.observed_RVs]
            # the model's own potentials are likelihood terms too (as in model_density and PyMC's SMC)
            terms += [pot.sum() for pot in tempered.potentials]
            loglik = terms[0] if len(terms) == 1 else pt.add(*terms)
            pm.Potential("__physml_ti_tempering", (beta - 1.0) * loglik)
            pm.Deterministic(LOGLIK_NAME, loglik)
        names = [rv.name for rv in model.free_RVs] + [LOGLIK_NAME]
        compiled = nutpie.compile_pymc_model(tempered, var_names=names)
        hit = (compiled, tempered)
        _TEMPERED[model] = hit
        return hit


def sample_power_posterior(model, beta: float, *, draws: int = 500, tune: int = 500, chains: int = 2,
                           seed: int = 0, cores: int | None = None, **nutpie_kwargs):
    """NUTS draws from ``p(data|θ)^beta p(θ)`` (DataTree; ``posterior`` holds the free
    variables and the per-draw log likelihood ``LOGLIK_NAME``).  ``beta = 1`` is the posterior."""
    import nutpie

    if not 0.0 <= float(beta) <= 1.0:
        raise ValueError(f"beta must lie in [0, 1], got {beta}")
    compiled, _ = _tempered(model)
    return nutpie.sample(compiled.with_data(**{BETA_NAME: float(beta)}), draws=int(draws), tune=int(tune),
                         chains=int(chains), cores=cores or min(int(chains), 2), seed=int(seed),
                         progress_bar=False, save_warmup=False, **nutpie_kwargs)


class PowerPosteriorRungs:
    """:class:`~.thermodynamic_integration.RungSampler` of ln L: exact prior draws at t = 0, NUTS on the tempered
    model elsewhere (rung k seeded from ``seeds[k]``); counts the divergences."""

    def __init__(self, model, prior_log_lik, seeds, *, draws, tune, chains, nutpie_kwargs):
        self.model, self.prior_log_lik, self.seeds = model, prior_log_lik, seeds
        self.draws, self.tune, self.chains, self.nutpie_kwargs = int(draws), int(tune), int(chains), nutpie_kwargs
        self.divergences = 0

    def __call__(self, k: int, t: float) -> np.ndarray:
        if t == 0.0:
            return self.prior_log_lik.reshape(self.chains, self.draws)
        tr = sample_power_posterior(self.model, t, draws=self.draws, tune=self.tune, chains=self.chains,
                                    seed=int(self.seeds[k] % 2**31), **self.nutpie_kwargs)
        if "sample_stats" in tr.children and "diverging" in tr["sample_stats"]:
            self.divergences += int(tr["sample_stats"]["diverging"].values.sum())
        return tr.posterior[LOGLIK_NAME].transpose("chain", "draw").values


def _ti_ladder(ll0, ladder, n_rungs, power, rungs_per_decade):
    """(ladder, description): the user's, or :func:`~.thermodynamic_integration.auto_ladder` from t_1 of the
    prior draws' log likelihoods ``ll0``."""
    if ladder is None:
        t1 = first_rung(ll0, power_ladder(n_rungs, power)[1])
        t = auto_ladder(t1, n_rungs, power, rungs_per_decade)
        return t, (f"auto ladder: t1={t1:.3g} from the prior draws, {rungs_per_decade:g}/decade then "
                   f"(k/{n_rungs})^{power:g}")
    t = np.asarray(ladder, dtype=float)
    if t.ndim != 1 or t.size < 2 or np.any(np.diff(t) <= 0) or not (0 <= t[0] < 1) or not np.isclose(t[-1], 1.0):
        raise ValueError("ladder must increase strictly from t >= 0 to 1")
    return t, "user ladder"


def _integrate(t, st, ll0) -> dict:
    """ln Z and its parts from the rung statistics: the Friel-Pettitt rule in t when the ladder starts at 0,
    else prior importance sampling up to t_1 and the Hermite rule in ln t; ``alt``: the other rule on the
    same rungs (the self-check)."""
    means, variances, se_m, se_v = st.means, st.variances, st.se_means, st.se_variances
    if t[0] == 0.0:
        rules = trapezoid_rules(t, means, variances, se_m, se_v)
        disc, disc_how = discretisation_error(t, means, variances, se_m, se_v)
        # the same rungs by the rule in ln t above t_1 (the prior segment [0, t_1] stays in t)
        alt = (hermite_rule_in_t(t[:2], means[:2], variances[:2])
               + log_trapezoid_rules(t[1:], means[1:], variances[1:])["corrected"]) if t.size > 2 \
            else rules["corrected"]
        return {"rules": rules, "log_z": rules["corrected"], "mc_se": rules["mc_se"], "log_z_prior": 0.0,
                "se_prior": 0.0, "disc": disc, "disc_how": disc_how, "alt": alt,
                "rule_name": "Friel-Pettitt corrected trapezoid in t"}
    lw = t[0] * ll0
    log_z_prior = float(log_mean_exp(lw))
    se_prior = relative_weights_se(lw)
    rules = log_trapezoid_rules(t, means, variances, se_m, se_v)
    disc, disc_how = log_discretisation_error(t, means, variances, se_m, se_v)
    return {"rules": rules, "log_z": log_z_prior + rules["corrected"],
            "mc_se": float(np.hypot(rules["mc_se"], se_prior)), "log_z_prior": log_z_prior, "se_prior": se_prior,
            "disc": disc, "disc_how": disc_how, "alt": log_z_prior + hermite_rule_in_t(t, means, variances),
            "rule_name": f"ln Z(t1) by prior importance sampling (se {se_prior:.2g}) + Hermite rule in ln t"}


def _ti_problems(log_z, se, mc_se, disc, rule_gap) -> list[str]:
    """Why the estimate cannot be trusted (see :func:`power_posterior_ti`)."""
    problems = []
    if not np.isfinite(log_z) or not np.isfinite(se):
        problems.append("non-finite estimate")
    if rule_gap > 4 * se:
        problems.append(f"quadrature rules in t and ln t disagree by {rule_gap:.3g} > 4 se "
                        "(the ladder does not resolve E_t)")
    if disc > 0.5 and disc > mc_se:
        problems.append(f"discretisation error {disc:.3g} nat dominates the Monte Carlo error")
    if se > 1.0:
        problems.append(f"se {se:.3g} > 1 nat")
    return problems


def power_posterior_ti(model, *, n_rungs: int = 20, power: float = 5.0, ladder=None,
                       rungs_per_decade: float = 4.0, draws: int = 500, tune: int = 500,
                       chains: int = 2, seed: int = 0, return_details: bool = False,
                       **nutpie_kwargs):
    r"""−ln p(data) by TI over power posteriors; returns a :class:`FreeEnergy` (kind ``estimate``).

    Default ladder (``ladder=None``): exact prior draws give :math:`t_1` (:func:`first_rung`);
    :math:`\ln Z(t_1)` is estimated by importance sampling from the prior (one stepping
    stone; its delta-method se enters the budget), and :math:`\int_{t_1}^1 E_t\,dt` by the
    Hermite rule in :math:`\ln t` (:func:`log_trapezoid_rules`) over :func:`auto_ladder`
    (geometric at ``rungs_per_decade`` near :math:`t_1`, then the :math:`(k/n)^{power}` rungs).
    A user ``ladder`` starting at 0 uses the Friel–Pettitt rule in ``t`` (the prior as rung 0);
    one starting above 0 is used like the default ladder.

    Self-check: the record's note starts with ``"unreliable: ..."`` when the rules in ``t`` and
    in ``ln t`` on the same rungs disagree by more than 4 se (the ladder does not resolve the
    integrand, so neither the value nor the discretisation error estimate can be trusted), when
    the discretisation error dominates the budget and exceeds 0.5 nat, when the se exceeds
    1 nat, or when NUTS diverged on any rung (the rung's draws miss part of the power posterior).
    With ``return_details=True`` returns ``(record, details)``.
    """
    require_proper_prior(model, "thermodynamic integration")
    for name, val, low in (("draws", draws, 4), ("tune", tune, 0), ("chains", chains, 1)):
        if int(val) < low:
            raise ValueError(f"{name} must be >= {low}, got {val}")
    t0 = time.perf_counter()
    dens = model_density(model)
    _tempered(model)  # first call per model compiles (counted in wall time); later calls reuse it
    prior_seed, rung_ss = np.random.SeedSequence(int(seed)).spawn(2)
    ll0 = dens.log_likelihood(dens.sample_prior(int(draws) * int(chains), np.random.default_rng(prior_seed)))
    t, how = _ti_ladder(ll0, ladder, n_rungs, power, rungs_per_decade)
    rungs = PowerPosteriorRungs(model, ll0, rung_ss.generate_state(len(t) + 1), draws=draws, tune=tune,
                                chains=chains, nutpie_kwargs=nutpie_kwargs)
    st = integrand_on_ladder(t, rungs)
    parts = _integrate(t, st, ll0)
    log_z, mc_se, disc = parts["log_z"], parts["mc_se"], parts["disc"]
    se = float(np.hypot(mc_se, disc))
    rule_gap = abs(log_z - parts["alt"])
    note = (f"power posteriors, {len(t)} rungs ({how}); {parts['rule_name']}; se = MCSE {mc_se:.3g} (+) "
            f"discretisation {disc:.3g} ({parts['disc_how']}); rules in t and ln t differ by {rule_gap:.3g}")
    if rungs.divergences:
        note += f"; {rungs.divergences} divergences"
    problems = _ti_problems(log_z, se, mc_se, disc, rule_gap)
    hints = ["use more rungs/draws"] if problems else []
    if rungs.divergences:  # a rung's draws miss part of p_t: its E_t and V_t (and their MCSE) are biased
        problems.insert(0, f"NUTS diverged {rungs.divergences} times on the rungs")
        hints.insert(0, "reparameterise, or raise target_accept, e.g. target_accept=0.99")
    if problems:
        note = "unreliable: " + "; ".join(problems) + f" ({'; '.join(hints)}); " + note
    rec = FreeEnergy(value=-log_z, se=se, kind="estimate", estimator="ti", wall_time_s=time.perf_counter() - t0,
                     note=note)
    if not return_details:
        return rec
    return rec, {"ladder": t, "means": st.means, "variances": st.variances, "mcse_means": st.se_means,
                 "mcse_variances": st.se_variances, "trapezoid": parts["rules"]["trapezoid"],
                 "corrected": parts["rules"]["corrected"], "log_z": log_z,
                 "log_z_prior_segment": parts["log_z_prior"], "se_prior_segment": parts["se_prior"],
                 "mc_se": mc_se, "discretisation": disc, "discretisation_method": parts["disc_how"],
                 "rule_gap": rule_gap, "divergences": rungs.divergences, "unreliable": bool(problems)}


#: :func:`power_posterior_ti` with ``fe_tol`` / ``fe_time_cap`` (:mod:`.adaptive`): draws are the
#: Monte Carlo knob, ``n_rungs`` and ``rungs_per_decade`` (Hermite rules, error ∝ h^4) the bias knobs
ti_to_tolerance = with_tolerance(power_posterior_ti,
                                 (Knob("draws", "monte_carlo", 0.5), Knob("n_rungs", "bias", 4.0),
                                  Knob("rungs_per_decade", "bias", 4.0, float, work=True)),
                                 split_details, return_details=True)


def estimate_ti(model, result=None, *, seed: int = 0, **options) -> FreeEnergy:
    """Registry entry: runs its own sampling; ``result`` is not needed. Option ``fe_tol`` > 0 (nats):
    grow draws and rungs until the se (MCSE ⊕ discretisation) <= fe_tol (:mod:`.adaptive`)."""
    return ti_to_tolerance(model, seed=seed, **options)


register_free_energy(FreeEnergyEstimator(
    name="ti", estimate=estimate_ti, applies_to=("any",),
    description="thermodynamic integration over power posteriors (Friel & Pettitt 2008), NUTS per rung"))
