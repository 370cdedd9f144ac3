"""What ``fit()`` says about its draws, as ``pm.sample`` does, and what it refuses before sampling.

After an MCMC or SMC fit, :func:`draw_problems` reads the ``diagnostics`` group (computed by ArviZ in
:mod:`.convergence`) and :func:`warn_about_draws` issues one :class:`FitWarning` line per problem, with
a hint:

* divergences (NUTS): the sampler could not follow the posterior's curvature somewhere, so the draws
  miss part of it — reparameterise (e.g. non-centred) or raise ``target_accept``;
* rank-normalised split R-hat > ``MAX_RHAT`` (1.01, Vehtari et al. 2021): the chains disagree;
* bulk ESS < ``MIN_ESS_PER_CHAIN`` (100) per chain: too few effective draws for an honest MCSE.

Free-energy estimators that use the draws inherit these problems through their own notes
(``unreliable: ...``); see :mod:`.evidence.bridge_sampling` and :mod:`.evidence.power_posteriors`.
"""

from __future__ import annotations

import math
import warnings

from .pymc_compat import discrete_free_variables

__all__ = ["FitWarning", "draw_problems", "warn_about_draws", "refuse_discrete", "MAX_RHAT",
           "MIN_ESS_PER_CHAIN", "CONTINUOUS_ESTIMATORS"]

MAX_RHAT = 1.01
MIN_ESS_PER_CHAIN = 100
#: free-energy estimators that work on the model's continuous unconstrained density (model_density,
#: or SMC's tempered populations): with a discrete free variable they can only fail
CONTINUOUS_ESTIMATORS = frozenset({"bridge", "ti", "ais", "bdmc", "psis_is", "smc"})
HINT = "reparameterise (e.g. non-centred), raise target_accept (e.g. fit(..., target_accept=0.95)) or draw more"
#: without divergences (or for samplers without a step size) the remedy is longer chains
MIXING_HINT = "run longer chains (more draws and tune) or reparameterise"


class FitWarning(UserWarning):
    """A fit whose draws should not be trusted as they are (divergences, R-hat, low ESS)."""


def draw_problems(diag: dict) -> list[str]:
    """The problems of a fit's draws, from its ``diagnostics`` (empty when there are none)."""
    out = []
    div = int(diag.get("divergences", 0) or 0)
    n = int(diag.get("n_chains", 0) or 0) * int(diag.get("n_draws", 0) or 0)
    if div:
        out.append(f"{div} divergences after tuning ({100 * div / max(n, 1):.2g} % of the draws)")
    rhat = float(diag.get("max_rhat", float("nan")))
    if math.isfinite(rhat) and rhat > MAX_RHAT:
        out.append(f"max R-hat {rhat:.3f} > {MAX_RHAT}")
    ess, chains = float(diag.get("min_ess_bulk", float("nan"))), int(diag.get("n_chains", 1) or 1)
    if math.isfinite(ess) and ess < MIN_ESS_PER_CHAIN * chains:
        out.append(f"min bulk ESS {ess:.0f} < {MIN_ESS_PER_CHAIN * chains} ({MIN_ESS_PER_CHAIN} per chain, "
                   f"{chains} chain{'s' if chains > 1 else ''})")
    return out


def warn_about_draws(method: str, diag: dict) -> list[str]:
    """One :class:`FitWarning` (one line) naming every problem of the draws, with the hint."""
    problems = draw_problems(diag)
    if problems:
        hint = HINT if int(diag.get("divergences", 0) or 0) else MIXING_HINT
        warnings.warn(f"{method}: {'; '.join(problems)} — the draws may be biased; {hint}.", FitWarning,
                      stacklevel=4)  # the caller of fit()
    return problems


def refuse_discrete(model, estimators) -> None:
    """ValueError before any sampling when an estimator in ``estimators`` needs continuous variables."""
    needs = [e for e in estimators if e in CONTINUOUS_ESTIMATORS]
    discrete = discrete_free_variables(model) if needs else []
    if discrete:
        raise ValueError(f"free_energy={tuple(needs)!r} needs continuous free variables, but {discrete} "
                         "are discrete; fit without free_energy (free_energy=()), or marginalise them out")
