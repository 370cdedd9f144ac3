"""The one Warnings collector (analyses/warnings.py): each rule on synthetic records, and the section in reports.

The unit tests build DataTrees with the groups every fit writes (``diagnostics``, ``free_energy``) and
check that each rule fires on a failing value and stays quiet just inside its threshold; the end-to-end
tests run the regression and denoise reports at their smallest sizes (ising and rbm are checked in
their own analysis tests).
"""

import json

import numpy as np
import pytest
import xarray as xr

from physml.analyses.warnings import (collect_warnings, diagnostic_warnings, free_energy_warnings,
                                      warnings_markdown)
from physml.inference import FreeEnergy, add_free_energy, set_diagnostics

from seeding import seed

EXACT = -100.0


def fit_tree(chains: int = 4, draws: int = 10, records=(), **diag) -> xr.DataTree:
    """A fit DataTree with a posterior of ``chains`` × ``draws``, the given diagnostics and free energies."""
    dt = xr.DataTree()
    dt["posterior"] = xr.DataTree(xr.Dataset({"x": (("chain", "draw"), np.zeros((chains, draws)))}))
    clean = {"max_rhat": 1.001, "min_ess_bulk": 1000.0, "min_ess_tail": 1000.0, "divergences": 0}
    set_diagnostics(dt, {**clean, **diag})
    for rec in records:
        add_free_energy(dt, rec)
    return dt


def report_bullets(report: str) -> list[str]:
    """The bullets of the report's ``## Warnings`` section."""
    section = report.split("## Warnings\n", 1)[1].split("\n## ", 1)[0]
    return [line[2:] for line in section.splitlines() if line.startswith("- ")]


def assert_section_lists(report: str, warnings: list[str]) -> None:
    """The report's Warnings section lists exactly ``warnings``, or says "none"."""
    bullets = report_bullets(report)
    if warnings:
        assert bullets == warnings
    else:
        assert len(bullets) == 1 and bullets[0].startswith("none (checked:")


def test_clean_fit_says_none():
    good = FreeEnergy(EXACT + 0.1, 0.05, "estimate", "ti")  # 2 se off: agreement
    lines = collect_warnings({"nuts": fit_tree(records=[good])}, exact_free_energy=EXACT)
    assert lines == []
    md = warnings_markdown(lines)
    assert md.startswith("## Warnings\n") and report_bullets(md)[0].startswith("none (checked:")


def test_unreliable_note_is_listed_with_its_label():
    bad = FreeEnergy(EXACT, 0.1, "estimate", "smc", note="unreliable: chains disagree")
    fine = FreeEnergy(EXACT, 0.1, "estimate", "bridge", note="reliable: unreliable: is not a prefix here")
    lines = collect_warnings({"smc": fit_tree(records=[bad, fine])}, records=[("spin AIS", bad)])
    assert lines == ["smc / smc: unreliable: chains disagree", "spin AIS / smc: unreliable: chains disagree"]


def test_undefined_evidence_is_listed():
    """An estimator that refused (improper prior) says so in the Warnings, and is not compared."""
    nan = float("nan")
    undefined = FreeEnergy(nan, nan, "undefined", "bridge", note="undefined: improper prior (Flat on 'beta')")
    lines = collect_warnings({"nuts": fit_tree(records=[undefined])}, exact_free_energy=EXACT)
    assert lines == ["nuts / bridge: undefined: improper prior (Flat on 'beta')"]


def test_estimate_more_than_four_se_from_exact():
    se = 0.29
    miss = FreeEnergy(EXACT + 6.2 * se, se, "estimate", "ising_ais")
    near = FreeEnergy(EXACT - 3.9 * se, se, "estimate", "ising_ti")
    lines = collect_warnings(records=[("spin AIS", miss), ("spin TI", near)], exact_free_energy=EXACT)
    assert len(lines) == 1 and "spin AIS / ising_ais" in lines[0] and "+6.2 se" in lines[0]
    assert collect_warnings(records=[("spin AIS", miss)]) == []  # no exact value: nothing to compare


def test_bounds_are_checked_only_on_their_wrong_side():
    se = 0.01
    kl_gap = FreeEnergy(EXACT + 100 * se, se, "upper_bound", "neg_elbo")  # −ELBO above F: the KL gap, fine
    below = FreeEnergy(EXACT - 5 * se, se, "upper_bound", "neg_elbo")
    above = FreeEnergy(EXACT + 5 * se, se, "lower_bound", "reverse_ais")
    ok_lower = FreeEnergy(EXACT - 100 * se, se, "lower_bound", "reverse_ais")
    assert free_energy_warnings("advi", kl_gap, EXACT) == free_energy_warnings("r", ok_lower, EXACT) == []
    assert "upper bound below the exact value" in free_energy_warnings("advi", below, EXACT)[0]
    assert "lower bound above the exact value" in free_energy_warnings("r", above, EXACT)[0]


def test_deterministic_approximations():
    """se = 0: an approximation's distance from F is its error (no warning), a violated bound is one."""
    bethe = FreeEnergy(EXACT + 3.0, 0.0, "estimate", "bethe")
    mean_field = FreeEnergy(EXACT + 5.0, 0.0, "upper_bound", "mean_field")
    broken = FreeEnergy(EXACT - 1e-3, 0.0, "upper_bound", "mean_field")
    rounding = FreeEnergy(EXACT * (1 + 1e-13), 0.0, "upper_bound", "mean_field")
    exact = FreeEnergy(EXACT + 1.0, 0.0, "exact", "enumeration")
    assert collect_warnings(records=[("Bethe", bethe), ("mf", mean_field), ("mf", rounding), ("x", exact)],
                            exact_free_energy=EXACT) == []
    assert len(free_energy_warnings("mean field", broken, EXACT)) == 1


def test_unconverged_vi_fit():
    dt = fit_tree(chains=1, converged=False, stop_reason="max_steps (1000) reached")
    lines = collect_warnings({"advi": dt})
    assert len(lines) == 1 and "**advi did NOT converge**" in lines[0] and "max_steps (1000)" in lines[0]
    assert collect_warnings({"advi": fit_tree(chains=1, converged=True)}) == []
    assert "mean field did NOT converge" in collect_warnings(diagnostics={"mean field": {"converged": False}})[0]


@pytest.mark.parametrize("rhat,flagged", [(1.05, True), (1.0101, True), (1.01, False), (float("nan"), False)])
def test_rhat(rhat, flagged):
    lines = collect_warnings({"nuts": fit_tree(max_rhat=rhat)})
    assert (lines == [f"nuts: R-hat {rhat:.3f} > 1.01 (chains disagree)"]) if flagged else lines == []


@pytest.mark.parametrize("chains,ess,flagged", [(4, 50.0, True), (4, 399.0, True), (4, 400.0, False),
                                                (2, 399.0, False), (2, 199.0, True), (1, 99.0, True)])
@pytest.mark.parametrize("key", ["min_ess_bulk", "min_ess_tail"])
def test_low_ess_is_100_per_chain(chains, ess, flagged, key):
    lines = collect_warnings({"nuts": fit_tree(chains=chains, **{key: ess})})
    kind = key.split("_")[-1]
    assert lines == ([f"nuts: {kind} ESS {ess:.0f} < {100 * chains} (100 per chain × {chains} chains)"]
                     if flagged else [])


def test_ess_of_plain_diagnostics_uses_their_chain_count():
    assert diagnostic_warnings("x", {"min_ess_bulk": 350.0, "n_chains": 2}) == []
    assert diagnostic_warnings("x", {"min_ess_bulk": 350.0}) != []  # unknown chains: ArviZ's 400


def test_divergences_and_pareto_k():
    assert collect_warnings({"nuts": fit_tree(divergences=3)}) == [
        "nuts: 3 divergent transitions (the sampler missed part of the posterior)"]
    lines = collect_warnings({"advi": fit_tree(chains=1, pareto_k=0.8)})
    assert len(lines) == 1 and "advi cannot be trusted as an importance proposal" in lines[0]
    assert collect_warnings({"advi": fit_tree(chains=1, pareto_k=0.69)}) == []


def test_netcdf_round_trip_keeps_every_warning(tmp_path):
    """The collector reads what a saved METHOD.nc holds: booleans and notes survive netCDF."""
    rec = FreeEnergy(EXACT + 1.0, 0.1, "estimate", "bridge", note="unreliable: test")
    dt = fit_tree(records=[rec], converged=False, stop_reason="max_steps", max_rhat=1.2, min_ess_bulk=10.0,
                  divergences=2)
    before = collect_warnings({"m": dt}, exact_free_energy=EXACT)
    dt.to_netcdf(tmp_path / "m.nc", engine="netcdf4")
    after = collect_warnings({"m": xr.open_datatree(tmp_path / "m.nc", engine="netcdf4")}, exact_free_energy=EXACT)
    assert after == before and len(before) == 6


def test_extra_lines_and_order():
    lines = collect_warnings({"nuts": fit_tree(divergences=1)}, diagnostics={"bp": {"converged": False}},
                             records=[("ti", FreeEnergy(0.0, 0.1, "estimate", "ti", note="unreliable: x"))],
                             extra=["custom"])
    assert [w.split(":")[0] for w in lines] == ["nuts", "**bp did NOT converge** (no stop reason recorded)",
                                                "ti / ti", "custom"]


def test_regression_report_lists_an_unconverged_advi(tmp_path):
    """bayes_report path: ADVI capped at 20 steps cannot meet its stopping rule, and the report says so."""
    from physml.analyses.bayes_report import MethodPlan, run_and_report
    from physml.models import regression as reg

    from physml.inference.vi.advi import VIConvergenceWarning

    data = reg.synthetic_data()
    prior = reg.ConjugatePrior(data.d)
    with pytest.warns(VIConvergenceWarning):
        summary = run_and_report(model_name="regression", title="t", intro="i",
                                 model=reg.conjugate_model(data, prior),
                                 reference=reg.exact_reference(data, prior, seed=seed(1)),
                                 plans=[MethodPlan("advi", draws=500, tune=0, chains=1, options={"max_steps": 20})],
                                 var_names=["beta", "sigma"], settings={}, out_dir=tmp_path, seed=seed(1),
                                 progress=False)
    assert_section_lists((tmp_path / "report.md").read_text(), summary["warnings"])
    assert json.loads((tmp_path / "summary.json").read_text())["warnings"] == summary["warnings"]
    assert any(w.startswith("**advi did NOT converge**") for w in summary["warnings"])


def test_denoise_report_has_warnings_section(tmp_path):
    from physml.analyses import denoise

    s = denoise.run(tmp_path, settings={"image": "tiny"}, methods=["mean_field", "heat_bath"], quick=True,
                    seed=seed(0), data=None, progress=False)
    assert_section_lists((tmp_path / "report.md").read_text(), s["warnings"])
    assert json.loads((tmp_path / "summary.json").read_text())["warnings"] == s["warnings"]
    # the mean-field evidence is a deterministic upper bound on −ln p(y): never on the wrong side
    assert not [w for w in s["warnings"] if w.startswith("**mean_field / mean_field")]


def test_estimate_without_se_is_listed_not_skipped():
    """One SMC population gives no se: the estimate cannot be checked, and the report says so."""
    rec = FreeEnergy(EXACT + 5.0, float("nan"), "estimate", "smc")
    lines = collect_warnings({"smc": fit_tree(records=[rec])}, exact_free_energy=EXACT)
    assert len(lines) == 1 and "no finite se" in lines[0]


def test_report_builder_sections_in_order_and_free_energy_against_exact():
    """analyses/report.py: title, intro, the Warnings section from the records, then the sections in the
    order they were added; the free-energy table computes error and z = error / se against the exact value
    and shows an optional column only where some row has it."""
    from physml.analyses.report import Report

    report = Report("T", "intro")
    warnings = report.check(records=[("ti", FreeEnergy(EXACT + 1.0, 0.1, "estimate", "ti"))],
                            exact_free_energy=EXACT)
    assert len(warnings) == 1 and "+10.0 se from the exact value" in warnings[0]
    report.free_energy([{"estimator": "ti", "kind": "estimate", "value": EXACT + 1.0, "se": 0.1},
                        {"estimator": "mf", "kind": "upper_bound", "value": EXACT + 2.0, "se": 0.0}], EXACT)
    report.section("Model's own", "text")
    md = report.markdown()
    assert md.index("# T") < md.index("intro") < md.index("## Warnings") < md.index("## Free energy") \
        < md.index("## Model's own")
    assert_section_lists(md, warnings)
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in md.splitlines()
            if line.startswith(("| ti ", "| mf "))]
    assert rows[0][3:5] == ["1", "10"]  # error, error / se
    assert rows[1][3:5] == ["2", "—"]  # se = 0: no z
    assert "Pareto" not in md and "BDMC" not in md and "method" not in md  # no row has them
