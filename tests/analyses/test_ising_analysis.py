"""`physml run ising` runner: quick run at L = 4 writes every output; bad settings raise ValueError."""
import json

import pytest

from physml.analyses import ising


def test_quick_run_writes_outputs(tmp_path):
    s = ising.run(tmp_path, settings={"L": "4", "K": "0.35", "k_points": "3"}, methods=None, quick=True, seed=0,
                  data=None, progress=False)
    assert set(s) >= {"model", "settings", "reference", "fits"} and s["reference"]["source"] == "enumeration"
    for m in ("checkerboard", "heat_bath", "swendsen_wang", "wolff"):
        assert (tmp_path / f"{m}.nc").exists()
    assert json.loads((tmp_path / "summary.json").read_text())["model"] == "ising"
    assert (tmp_path / "report.md").exists() and (tmp_path / "figures" / "k_sweep.png").exists()
    # Warnings: the same list in summary.json and report.md (or an explicit "none"); mean field is an
    # exact upper bound on −ln Z, so it is never listed as on the wrong side of the exact value.
    report = (tmp_path / "report.md").read_text()
    assert "## Warnings" in report and json.loads((tmp_path / "summary.json").read_text())["warnings"] == s["warnings"]
    assert all(f"- {w}" in report for w in s["warnings"]) and (s["warnings"] or "- none (checked:" in report)
    assert not [w for w in s["warnings"] if w.startswith("**mean field")]


@pytest.mark.parametrize("settings,methods", [({"L": "1"}, None), ({"K": "nan"}, None), ({"boundary": "x"}, None),
                                              ({"h": "0.1"}, ["wolff"]), ({}, ["nuts"]), ({"ti_rungs": "10"}, None)])
def test_bad_settings(tmp_path, settings, methods):
    with pytest.raises(ValueError):
        ising.run(tmp_path, settings=settings, methods=methods, quick=True, seed=0, data=None, progress=False)
