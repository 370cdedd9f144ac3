r"""``physml.compare``: the comparison report of any PyMC model, several models' Bayes factors and LOO.

Exact references are computed here, independently of physml:

* eight schools (Rubin 1981): μ and θ integrate out analytically, y | τ ~ N(0, diag(σ² + τ²) + 5² 11ᵀ),
  and the remaining integral over τ ~ HalfCauchy(5) is done by ``scipy.integrate.quad``
  (−ln p(y) = 31.3113 nats); centered and non-centered models have the same evidence, so the exact
  Bayes factor between them is 1;
* two normal-mean models with known σ and priors μ ~ N(0, s²): y ~ N(0, σ² I + s² 11ᵀ) in closed form
  (``scipy.stats.multivariate_normal``); the wide one carries a constant ``pm.Potential`` c, which shifts
  −ln p(data) by −c (the report must say that the potential is included).

Statistical checks: every *unflagged* estimate (and the consensus, and the Bayes factor) within
``statcheck.threshold(n_checks)`` of its se from the exact value, or flagged ``unreliable:``.
"""

from __future__ import annotations

import json
import math
import sys

import arviz_stats as azs
import numpy as np
import pytest
import xarray as xr
from scipy import integrate, stats

import physml
from paths import TEST_DATA
from physml.compare import prepare
from seeding import seed
from statcheck import threshold

sys.path.insert(0, str(TEST_DATA))  # the user-model files that tests/cli runs with `physml run FILE.py:FUNCTION`
import eight_schools_model as es  # noqa: E402
import normal_mean_model as nm  # noqa: E402


def eight_schools_free_energy() -> float:
    """−ln p(y) of eight schools by quadrature over τ (μ and θ integrated analytically)."""
    scale = stats.multivariate_normal(np.zeros(len(es.Y)), np.diag(es.SIGMA**2) + es.MU_SD**2).pdf(es.Y)

    def integrand(tau):
        cov = np.diag(es.SIGMA**2 + tau**2) + es.MU_SD**2
        return stats.multivariate_normal(np.zeros(len(es.Y)), cov).pdf(es.Y) / scale * stats.halfcauchy(scale=es.TAU_SCALE).pdf(tau)

    value, error = integrate.quad(integrand, 0.0, np.inf, epsabs=0.0, epsrel=1e-10, limit=200)
    assert error < 1e-8 * value
    return -(math.log(value) + math.log(scale))


def normal_mean_free_energy(prior_sd: float, potential: float = 0.0) -> float:
    n = len(nm.Y)
    cov = nm.SIGMA**2 * np.eye(n) + prior_sd**2 * np.ones((n, n))
    return -stats.multivariate_normal(np.zeros(n), cov).logpdf(nm.Y) - potential


def flagged(note: str) -> bool:
    return note.startswith(("unreliable:", "undefined:"))


def test_quadrature_matches_the_published_value():
    assert eight_schools_free_energy() == pytest.approx(31.3113, abs=1e-4)


def test_eight_schools_evidence_centered_and_noncentered_against_quadrature(tmp_path, capsys):
    exact = eight_schools_free_energy()
    out = tmp_path / "schools"
    summary = physml.compare({"centered": es.make_centered(), "noncentered": es.make_model()}, methods=("nuts", "smc"),
                             free_energy=("bridge", "ais"), quick=True, out=out, seed=seed(1),
                             var_names=["mu", "tau"])
    printed = capsys.readouterr().out
    rows = {name: s["comparison"]["free_energy"] for name, s in summary["model_summaries"].items()}
    estimates = [(name, r) for name, rs in rows.items() for r in rs if r["kind"] == "estimate"]
    consensus = {name: s["comparison"]["free_energy_consensus"] for name, s in summary["model_summaries"].items()}
    bf = summary["bayes_factors"][0]
    q = threshold(len(estimates) + len(consensus) + 1)
    for name, r in estimates:
        z = (r["value"] - exact) / r["se"]
        assert abs(z) < q or flagged(r["note"]), f"{name} / {r['estimator']}: {r['value']:.4f} ± {r['se']:.4f}, z {z:+.2f}"
    for name, c in consensus.items():
        assert c["value"] is None or abs(c["value"] - exact) < q * c["se"] or flagged(c["note"]), (name, c)
    assert bf["ln_bf"] is None or abs(bf["ln_bf"]) < q * bf["se"] or bf["flagged"], bf  # the same evidence
    assert {r["estimator"] for _, r in estimates} == {"bridge", "ais", "smc"}
    # without an exact value every row is shown against the consensus, in the report and in summary.json
    report = (out / "centered" / "report.md").read_text()
    assert "(F − consensus) / se" in report and "Reference: NUTS long run (4 × 2000 draws)" in report
    saved = json.loads((out / "noncentered" / "summary.json").read_text())
    assert {"vs_consensus", "vs_consensus_in_se", "in_consensus"} <= set(saved["comparison"]["free_energy"][0])
    assert saved["reference"]["source"].startswith("NUTS long run")
    assert "ln BF" in printed and f"report: {out / 'report.md'}" in printed
    for model in ("centered", "noncentered"):
        assert (out / model / "nuts.nc").is_file() and (out / model / "smc.nc").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no scratch left


def test_two_model_bayes_factor_against_the_exact_value_and_loo(tmp_path, capsys):
    narrow, wide = normal_mean_free_energy(nm.NARROW), normal_mean_free_energy(nm.WIDE, nm.POTENTIAL)
    summary = physml.compare({"narrow": nm.make_model(), "wide": nm.make_wide()}, methods=("nuts",),
                             free_energy="bridge ais".split(), quick=True, out=tmp_path, seed=seed(2))
    printed = capsys.readouterr().out
    (bf,) = summary["bayes_factors"]
    assert (bf["a"], bf["b"]) == ("narrow", "wide")
    q = threshold(3)
    assert abs(bf["ln_bf"] - (wide - narrow)) < q * bf["se"] or bf["flagged"], (bf, wide - narrow)
    for name, exact in (("narrow", narrow), ("wide", wide)):  # the potential is inside −ln p(data)
        fe = summary["models"][name]["free_energy"]
        assert abs(fe["value"] - exact) < q * fe["se"] or fe["flagged"], (name, fe, exact)
    assert "narrow : wide  ln BF = " in printed
    wide_summary = json.loads((tmp_path / "wide" / "summary.json").read_text())
    assert wide_summary["free_energy_includes_potentials"] == ["constant_factor"]
    assert "includes the potentials" in (tmp_path / "wide" / "report.md").read_text()
    # ArviZ works on physml's results as on pm.sample's
    fits = {name: xr.open_datatree(tmp_path / name / "nuts.nc") for name in ("narrow", "wide")}
    table = azs.compare(fits)
    assert set(table.index) == {"narrow", "wide"} and table["weight"].sum() == pytest.approx(1.0)
    assert math.isfinite(azs.loo(fits["narrow"]).elpd)
    assert {r["model"] for r in summary["loo"]} == {"narrow", "wide"}
    combined = (tmp_path / "report.md").read_text()
    assert "## Bayes factors" in combined and "## PSIS-LOO" in combined and "narrow : wide" in combined
    assert json.loads((tmp_path / "summary.json").read_text())["bayes_factors"][0]["a"] == "narrow"


def test_arguments_are_checked_before_anything_runs():
    model = nm.make_model()
    plan = prepare(model, ("nuts",), free_energy="bridge")  # a name, not its letters
    assert plan.plans["model"][0].free_energy == ("bridge",)
    bad = [
        (dict(models=es.make_prior_only()), "models has no observed data"),
        (dict(models=42), "models must be a pymc.Model"),
        (dict(models={"a b": model}), "a model's name is a folder name"),
        (dict(models=model, free_energy="psis_is"), "free_energy must name estimators that run after NUTS"),
        (dict(models=model, free_energy="brigde"), "got 'brigde'"),
        (dict(models=model, methods=("checkerboard",)), "cannot fit this model"),
        (dict(models=model, methods=("magic",)), "method must be one of"),
        (dict(models=model, reference="31.3"), "reference must be None, an exact"),
        (dict(models=model, reference=float("nan")), "reference must be None, an exact"),
        (dict(models={"a": model, "b": nm.make_wide()}, reference=1.0), "reference for several models"),
        (dict(models=model, seed=-1), "seed must be an integer"),
    ]
    for kwargs, message in bad:
        with pytest.raises(ValueError, match=message):
            prepare(**kwargs)


def test_out_that_holds_other_files_is_refused_before_fitting(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="give a new or empty folder"):
        physml.compare(nm.make_model(), ("nuts",), out=tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_unknown_method_lists_only_methods_that_fit_the_model():
    with pytest.raises(ValueError, match="method must be one of") as info:
        prepare(nm.make_model(), ("magic",))
    assert "nuts" in str(info.value) and "checkerboard" not in str(info.value)
