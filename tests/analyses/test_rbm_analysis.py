"""`physml run rbm --quick` end to end (one Bayesian method, to keep the compile cost down)."""

import json

from physml.analyses import rbm as rbm_analysis


def test_quick_rbm_report(tmp_path):
    summary = rbm_analysis.run(tmp_path, settings={"epochs": 20, "ais_betas": 1001}, methods=["advi"], quick=True,
                               seed=0, data=None, progress=False)
    on_disk = json.loads((tmp_path / "summary.json").read_text())
    assert on_disk["model"] == summary["model"] == "rbm"
    assert set(on_disk["fits"]) == {"advi"}
    report = (tmp_path / "report.md").read_text()
    assert "Symmetry, R-hat" in report and "ln Ẑ (AIS)" in report
    assert "## Warnings" in report and on_disk["warnings"] == summary["warnings"]
    assert all(f"- {w}" in report for w in summary["warnings"]) and (summary["warnings"] or "- none (checked:" in report)
    assert (tmp_path / "advi.nc").is_file()
    assert any(p.suffix == ".png" for p in (tmp_path / "figures").iterdir())
