r"""Calibration tasks: one seeded run of one free-energy estimator on one model with an exact answer.

A task is ``(model, estimator, seed, quick)``; :func:`run_task` turns it into one record

.. math:: \{\,\hat F,\ \mathrm{se},\ F_\mathrm{exact},\ \mathrm{kind},\ \mathrm{flagged},\ \mathrm{note},\ \mathrm{wall}\,\}

with :math:`F = -\ln Z` in nats (for a Bayesian model :math:`-\ln p(\mathrm{data})`), ``flagged`` when
the record's note starts with ``unreliable:``, and ``wall`` the seconds of the whole run (its own NUTS /
ADVI fit included; the model's construction is not, it is built once per process by :func:`problem`).
The record depends on the task only: the same task gives the same numbers in any process (a task is a frozen
dataclass, picklable and hashable by :func:`physml.inference.executor.spec_key`, so any executor can run it and
a :class:`~physml.inference.executor.TaskStore` can keep its record).

Models and their exact free energies:

=================  ==========================================================================================
``regression``      NIG conjugate regression (:mod:`physml.models.regression`, synthetic n = 40, d = 3,
                    ρ = 0.95): closed-form evidence.
``isingL_KX``       periodic L×L Ising, h = 0, L ∈ {8, 16}, K ∈ {0.3, K_c, 0.6}: Kaufman's ln Z.
``rbm``             binary RBM 9×6 trained by CD-1 (300 epochs) on bars-and-stripes 3×3: ln Z by enumeration.
``denoise4``        4×4 Ising-prior denoising posterior (built-in ``tiny`` image, Gaussian noise, K = 0.5):
                    −ln p(y) by enumerating all 2¹⁶ images; the posterior's F = −ln Z(K, h) estimates give
                    −ln p(y) = F − Σaᵢ + ln Z(K, 0), with the prior's ln Z(K, 0) exact (enumeration).
``hs4``             Hubbard–Stratonovich (continuous) Ising, periodic 4×4 at K_c, h = 0: the spin model's ln Z
                    by enumeration.
=================  ==========================================================================================

Estimators (one place each: :func:`_pymc_record`, :func:`_spin_record`, :func:`_rbm_record`,
:func:`_denoise_record`):

* PyMC models (``regression``, ``hs4``): ``ti``, ``ais``, ``smc`` from the estimator registry
  (:data:`physml.inference.FREE_ENERGY_ESTIMATORS`; SMC with ``cores=1``); ``bridge`` and ``bdmc`` after a
  NUTS fit of the task's own; ``psis_is`` after a full-rank ADVI fit; ``neg_elbo`` (−ELBO, an upper bound)
  of a mean-field ADVI fit.
* Ising: spin TI / AIS / BDMC over the coupling scale (registry ``ising_ti`` / ``ising_ais`` / ``ising_bdmc``,
  their default samplers).
* RBM: Salakhutdinov–Murray AIS (``rbm_ais.ais_run``, base-rate start, its weight checks by
  ``ais.ais_record``) and BDMC (``rbm_ais.bdmc_run``, reverse from block-Gibbs chains).
* denoise: as ``physml run denoise`` uses them: spin TI (heat bath), spin AIS and BDMC (checkerboard), bridge
  from NUTS on the HS posterior, −ELBO of mean-field ADVI on it (``neg_elbo``) and naive mean field's
  F_MF (``neg_elbo_mf``, deterministic: se 0).

BDMC is listed only where its registry entry (``bdmc`` / ``ising_bdmc``) exists.
"""

from __future__ import annotations

import dataclasses
import functools
import time
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np

from timing import quiet_pymc

UPPER_BOUNDS = ("neg_elbo", "neg_elbo_mf")
"""Estimators whose records are upper bounds on F (reported as 'bound holds' and gap, not coverage)."""

PYMC_ESTIMATORS = ("ti", "ais", "bdmc", "bridge", "psis_is", "smc", "neg_elbo")
FAMILY_ESTIMATORS = {
    "pymc": PYMC_ESTIMATORS,
    "spin": ("ti", "ais", "bdmc"),
    "rbm": ("ais", "bdmc"),
    "denoise": ("ti", "ais", "bdmc", "bridge", "neg_elbo", "neg_elbo_mf"),
}
#: the registry entry each (family, estimator) goes through, where it goes through the registry
REGISTRY_NAMES = {("pymc", e): e for e in ("ti", "ais", "bdmc", "bridge", "psis_is", "smc")} | {
    (fam, e): f"ising_{e}" for fam in ("spin", "denoise") for e in ("ti", "ais", "bdmc")} | {
    ("denoise", "bridge"): "bridge"}

ISING_SIZES = (8, 16)
ISING_COUPLINGS = {"K0.3": 0.3, "Kc": None, "K0.6": 0.6}  # None: the critical coupling K_c
HS_L = 4
RBM_SETUP = dict(size=3, n_samples=200, data_seed=0, n_hidden=6, epochs=300, learning_rate=0.05, batch_size=10,
                 momentum=0.5)
DENOISE_OBSERVATION_SEED = 0


@dataclass(frozen=True)
class Task:
    """One seeded run: ``estimator`` on ``model`` with ``seed``, at quick or full budget."""

    model: str
    estimator: str
    seed: int
    quick: bool = False


@dataclass(frozen=True)
class ModelDef:
    family: str  # a key of FAMILY_ESTIMATORS
    description: str
    build: Callable[[], "Problem"]


@dataclass(frozen=True)
class Problem:
    """A built model: exact F, where it comes from, and ``run(estimator, seed, budget) -> FreeEnergy``."""

    exact: float
    reference: str
    run: Callable


# ------------------------------------------------------------------ budgets
# (full, quick) per (family, estimator); "fit": options of the fit a record needs, "options": the estimator's.
_NUTS = dict(draws=1000, tune=500, chains=2)
_NUTS_QUICK = dict(draws=300, tune=300, chains=2)
_VI_QUICK = dict(n_eval=1000, max_steps=1000)  # a capped fit: the bound needs no convergence, PSIS flags a poor q
BUDGETS = {
    ("pymc", "ti"): (dict(options=dict(n_rungs=20, draws=500, tune=500)),
                     dict(options=dict(n_rungs=12, draws=200, tune=200))),
    ("pymc", "ais"): (dict(options=dict(n_runs=100, n_temperatures=200)),
                      dict(options=dict(n_runs=50, n_temperatures=100))),
    ("pymc", "bdmc"): (dict(fit=dict(draws=500, tune=500, chains=2), options=dict(n_runs=100, n_temperatures=200)),
                       dict(fit=_NUTS_QUICK, options=dict(n_runs=50, n_temperatures=100))),
    ("pymc", "bridge"): (dict(fit=_NUTS), dict(fit=_NUTS_QUICK)),
    ("pymc", "psis_is"): (dict(fit=dict(n_eval=4000)), dict(fit=_VI_QUICK)),
    ("pymc", "smc"): (dict(options=dict(draws=1000, chains=4, cores=1)),
                      dict(options=dict(draws=300, chains=4, cores=1))),
    ("pymc", "neg_elbo"): (dict(fit=dict(n_eval=4000)), dict(fit=_VI_QUICK)),
    ("spin", "ti"): (dict(options=dict(n_rungs=33, draws=1000)), dict(options=dict(n_rungs=17, draws=300))),
    ("spin", "ais"): (dict(options=dict(n_temps=1000, n_runs=32)), dict(options=dict(n_temps=300, n_runs=32))),
    ("spin", "bdmc"): (dict(options=dict(n_temps=1000, n_runs=32)), dict(options=dict(n_temps=300, n_runs=32))),
    ("rbm", "ais"): (dict(options=dict(n_betas=3001, n_runs=100)), dict(options=dict(n_betas=1001, n_runs=100))),
    ("rbm", "bdmc"): (dict(options=dict(n_betas=3001, n_runs=100)), dict(options=dict(n_betas=1001, n_runs=100))),
    # the sizes of `physml run denoise` (full / --quick)
    ("denoise", "ti"): (dict(options=dict(n_rungs=17, draws=400, sampler="heat_bath")),
                        dict(options=dict(n_rungs=9, draws=150, sampler="heat_bath"))),
    ("denoise", "ais"): (dict(options=dict(n_temps=400, n_runs=16, sampler="checkerboard")),
                         dict(options=dict(n_temps=150, n_runs=16, sampler="checkerboard"))),
    ("denoise", "bdmc"): (dict(options=dict(n_temps=400, n_runs=16, sampler="checkerboard")),
                          dict(options=dict(n_temps=150, n_runs=16, sampler="checkerboard"))),
    ("denoise", "bridge"): (dict(fit=dict(draws=1000, tune=1000, chains=2)), dict(fit=_NUTS_QUICK)),
    ("denoise", "neg_elbo"): (dict(fit=dict(n_eval=4000)), dict(fit=_VI_QUICK)),
    ("denoise", "neg_elbo_mf"): (dict(), dict()),
}
#: the fit a record comes from: (method, estimator whose record is read off the fit, estimators run after it)
_FITS = {"bridge": ("nuts", "bridge"), "bdmc": ("nuts", "bdmc"), "psis_is": ("fullrank_advi", "psis_is"),
         "neg_elbo": ("advi", "neg_elbo")}


def budget(family: str, estimator: str, quick: bool) -> dict:
    return BUDGETS[(family, estimator)][1 if quick else 0]


# ------------------------------------------------------------------ estimators, one place each
def _read_record(result, estimator: str):
    from physml.inference import free_energies

    return next(r for r in free_energies(result) if r.estimator == estimator)


def _pymc_record(model, estimator: str, seed: int, spend: dict):
    """One estimator on a PyMC model: a registry estimator that samples by itself, or one read off a fit."""
    import xarray as xr

    from physml.inference import FREE_ENERGY_ESTIMATORS, fit

    options = spend.get("options", {})
    if estimator not in _FITS:
        return FREE_ENERGY_ESTIMATORS[estimator].estimate(model, xr.DataTree(), seed=seed, **options)
    method, name = _FITS[estimator]
    after = () if name == "neg_elbo" else (name,)
    result = fit(model, method, seed=seed, free_energy=after, free_energy_options={name: options},
                 **spend.get("fit", {}))
    return _read_record(result, name)


def _spin_record(spin_model, estimator: str, seed: int, spend: dict):
    """Spin TI / AIS / BDMC over the coupling scale (registry ``ising_*``)."""
    from physml.inference import FREE_ENERGY_ESTIMATORS

    return FREE_ENERGY_ESTIMATORS[f"ising_{estimator}"].estimate(spin_model, None, seed=seed,
                                                                 **spend.get("options", {}))


def _rbm_record(params, estimator: str, seed: int, spend: dict):
    """Salakhutdinov–Murray AIS (forward, weight checks) or BDMC of the RBM's −ln Z."""
    from physml.inference.rbm import ais as rbm_ais
    from physml.inference.evidence.ais import ais_record

    W, a, b, base = params
    options = spend.get("options", {})
    if estimator == "bdmc":
        return rbm_ais.bdmc_run(W, a, b, seed=seed, base_visible_bias=base, **options)
    res = rbm_ais.ais_run(W, a, b, seed=seed, base_visible_bias=base, **options)
    return ais_record(res, estimator="rbm_ais", note=f"AIS, {res.n_runs} runs, base-rate start, block-Gibbs moves")


def _denoise_record(setup, estimator: str, seed: int, spend: dict):
    """F = −ln Z(K, h) of the posterior by the estimator, shifted to −ln p(y) = F − Σaᵢ + ln Z(K, 0)."""
    from physml.inference.spins.mean_field import mean_field
    from physml.inference.records import FreeEnergy

    post, spin_model, hs_model, shift = setup
    if estimator == "neg_elbo_mf":
        mf = mean_field(post, init=np.tanh(post.field))
        rec = FreeEnergy(mf.free_energy, 0.0, "upper_bound", "mean_field",
                         note=f"naive mean field (CAVI), converged {mf.converged} in {mf.n_iter} iterations")
    elif estimator in ("bridge", "neg_elbo"):
        rec = _pymc_record(hs_model, estimator, seed, spend)
    else:
        rec = _spin_record(spin_model, estimator, seed, spend)
    return dataclasses.replace(rec, value=rec.value + shift, sandwich_lower=rec.sandwich_lower + shift,
                               sandwich_upper=rec.sandwich_upper + shift)


# ------------------------------------------------------------------ models (built once per process)
def _regression() -> Problem:
    from physml.models import regression as reg

    data = reg.synthetic_data()
    prior = reg.ConjugatePrior(data.d)
    model = reg.conjugate_model(data, prior)
    return Problem(-reg.log_evidence_exact(data, prior), "NIG closed form",
                   functools.partial(_pymc_record, model))


def _ising(L: int, K: float | None) -> Problem:
    from physml.models import ising as im

    K = im.K_CRITICAL if K is None else K
    model = im.ising_model_from_couplings(im.ising_couplings(L, K))
    return Problem(-im.log_partition_kaufman(L, K), "Kaufman", functools.partial(_spin_record, model))


def _rbm() -> Problem:
    from physml.inference.rbm import contrastive_divergence as cd
    from physml.inference.rbm import ais as rbm_ais
    from physml.models import rbm

    s = RBM_SETUP
    data = rbm.bars_and_stripes(s["size"], s["n_samples"], seed=s["data_seed"])
    init = cd.init_params(s["size"] ** 2, s["n_hidden"], seed=s["data_seed"] + 1, data=data)
    settings = cd.TrainingSettings(method="cd", n_epochs=s["epochs"], learning_rate=s["learning_rate"],
                                   batch_size=s["batch_size"], momentum=s["momentum"])
    W, a, b = cd.train(data, init, settings, seed=s["data_seed"] + 2, monitor=False).params
    params = (W, a, b, rbm_ais.base_rate_visible_bias(data))
    return Problem(-rbm.log_partition_exact(W, a, b), "enumeration", functools.partial(_rbm_record, params))


def _denoise() -> Problem:
    from physml.models import continuous_ising as ci
    from physml.models import denoise as dn

    data = dn.make_observation(dn.builtin_image("tiny"), dn.DenoiseSpec(), seed=DENOISE_OBSERVATION_SEED,
                               name="tiny 4x4")
    log_z_prior, _ = dn.log_partition_prior(data)  # enumeration at 4x4
    shift = log_z_prior - dn.likelihood_constant(data)
    setup = (dn.posterior_couplings(data), dn.spin_posterior_model(data), dn.hs_posterior_model(data, ci.HSSpec()),
             shift)
    return Problem(-dn.log_evidence_enumeration(data), "enumeration of all 2^16 images",
                   functools.partial(_denoise_record, setup))


def _hs() -> Problem:
    from physml.models import continuous_ising as ci
    from physml.models import ising as im

    couplings = im.ising_couplings(HS_L, im.K_CRITICAL)
    model = ci.continuous_ising_model(couplings, ci.HSSpec())
    return Problem(-im.enumerate_ising(couplings)["log_z"], "enumeration of the spin model",
                   functools.partial(_pymc_record, model))


def _model_defs() -> dict[str, ModelDef]:
    defs = {"regression": ModelDef("pymc", "NIG conjugate regression, n=40, d=3, rho=0.95", _regression)}
    for L in ISING_SIZES:
        for label, K in ISING_COUPLINGS.items():
            defs[f"ising{L}_{label}"] = ModelDef("spin", f"Ising {L}x{L} periodic, h=0, {label}",
                                                 functools.partial(_ising, L, K))
    defs["rbm"] = ModelDef("rbm", "RBM 9x6, CD-1 on bars-and-stripes 3x3", _rbm)
    defs["denoise4"] = ModelDef("denoise", "4x4 denoising posterior, Gaussian noise, K=0.5", _denoise)
    defs[f"hs{HS_L}"] = ModelDef("pymc", f"HS continuous Ising {HS_L}x{HS_L} periodic at K_c", _hs)
    return defs


MODELS = _model_defs()
QUICK_MODELS = tuple(m for m in MODELS if not m.startswith("ising16"))


@functools.lru_cache(maxsize=None)
def problem(model: str) -> Problem:
    """The built model (compiled objects cached inside physml per model object): once per process. This cache
    is what makes a Dask worker (a long-lived process running many tasks) build and compile each model once,
    not once per task (see docs/SWEEPS.md)."""
    quiet_pymc()  # in a worker process too
    return MODELS[model].build()


def estimators_for(model: str) -> tuple[str, ...]:
    """The estimators calibrated on ``model``; BDMC only where its registry entry exists."""
    from physml.inference import FREE_ENERGY_ESTIMATORS

    family = MODELS[model].family
    names = FAMILY_ESTIMATORS[family]
    return tuple(e for e in names
                 if (family, e) not in REGISTRY_NAMES or REGISTRY_NAMES[(family, e)] in FREE_ENERGY_ESTIMATORS)


def task_list(models, estimators, repeats: int, first_seed: int = 0, quick: bool = False) -> list[Task]:
    """Every (model, estimator) pair with ``estimator`` in ``estimators`` (None: all) × ``repeats`` seeds."""
    seeds = range(first_seed, first_seed + repeats)
    return [Task(m, e, s, quick) for m in models for e in estimators_for(m)
            if estimators is None or e in estimators for s in seeds]


def run_task(task: Task) -> dict:
    """The record of one task (see the module docstring); an estimator's exception is recorded, not raised."""
    prob = problem(task.model)
    spend = budget(MODELS[task.model].family, task.estimator, task.quick)
    t0 = time.perf_counter()
    rec, error = None, ""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            rec = prob.run(task.estimator, task.seed, spend)
        except Exception as err:  # a failed run is a result of the calibration, not a crash of it
            error = f"{type(err).__name__}: {err}"
    wall = time.perf_counter() - t0
    nan = float("nan")
    return {
        "model": task.model, "estimator": task.estimator, "seed": task.seed, "quick": task.quick,
        "exact": prob.exact, "reference": prob.reference,
        "value": rec.value if rec else nan, "se": rec.se if rec else nan, "kind": rec.kind if rec else "",
        "flagged": bool(rec and rec.note.startswith("unreliable:")), "note": rec.note if rec else "",
        "pareto_k": rec.pareto_k if rec else nan,
        "sandwich_lower": rec.sandwich_lower if rec else nan, "sandwich_upper": rec.sandwich_upper if rec else nan,
        "wall": wall, "error": error,
        "warnings": sorted({f"{w.category.__name__}: {str(w.message)[:120]}" for w in caught}),
    }
