"""How ``physml run regression`` chooses minibatch VI (``--set minibatch=auto|off|SIZE``) and hands it to
the fits; the report of a large CSV stays under the memory guard (tests/inference/vi/test_minibatch.py).
No fit runs here: the report builder is replaced by a recorder (deterministic, fast)."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

from physml.analyses import regression as analysis
from physml.inference.vi.minibatch import AUTO_MIN_ROWS, DEFAULT_BATCH


@pytest.mark.parametrize("setting, n, rows", [
    ("auto", AUTO_MIN_ROWS - 1, AUTO_MIN_ROWS - 1), ("auto", AUTO_MIN_ROWS, DEFAULT_BATCH),
    ("AUTO", 10**7, DEFAULT_BATCH), ("off", 10**6, 10**6), ("500", 10**6, 500), ("500", 40, 40),
])
def test_minibatch_setting_gives_the_rows_per_step(setting, n, rows):
    assert analysis.minibatch_size(setting, n) == rows


def test_auto_keeps_all_rows_when_an_mcmc_method_needs_exact_densities():
    assert analysis.minibatch_size("auto", 10**6, ["advi", "fullrank_advi"]) == DEFAULT_BATCH
    assert analysis.minibatch_size("auto", 10**6, ["advi", "nuts"]) == 10**6
    with pytest.raises(ValueError, match="minibatch=500 applies to VI methods only"):
        analysis.minibatch_size("500", 10**6, ["advi", "nuts"])


@pytest.mark.parametrize("setting", ["0", "-3", "many", "1.5", ""])
def test_bad_minibatch_setting_is_refused(setting):
    with pytest.raises(ValueError, match="setting minibatch must be 'auto', 'off' or an integer >= 1"):
        analysis.minibatch_size(setting, 1000)


@pytest.fixture()
def recorder(monkeypatch):
    """Replace the report builder and the minibatch context by recorders."""
    calls = {"minibatch": [], "report": []}

    @contextlib.contextmanager
    def fake_minibatch(model, batch, seed):
        calls["minibatch"].append({"batch": batch, "seed": seed, "n": int(model.dim_lengths["obs"].eval())})
        yield None

    def fake_report(**kwargs):
        calls["report"].append({**kwargs, "inside_minibatch": len(calls["minibatch"])})
        return {"settings": kwargs["settings"]}

    monkeypatch.setattr(analysis, "minibatch_vi", fake_minibatch)
    monkeypatch.setattr(analysis, "run_and_report", fake_report)
    return calls


def _csv(tmp_path, n: int) -> str:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 2))
    path = tmp_path / "d.csv"
    np.savetxt(path, np.column_stack([X, X @ [1.0, -1.0] + rng.normal(size=n)]), delimiter=",",
               header="a,b,y", comments="", fmt="%.6g")
    return str(path)


def test_default_run_fits_on_all_rows(tmp_path, recorder):
    summary = analysis.run(tmp_path, settings={}, methods=["advi"], quick=True, seed=4, data=None, progress=False)
    assert recorder["minibatch"] == [] and len(recorder["report"]) == 1
    assert summary["settings"]["minibatch_rows"] == 40 and summary["settings"]["minibatch"] == "auto"
    assert all("idata_kwargs" not in p.options for p in recorder["report"][0]["plans"])


def test_large_csv_fits_vi_on_minibatches(tmp_path, recorder):
    path = _csv(tmp_path, AUTO_MIN_ROWS)
    summary = analysis.run(tmp_path, settings={"target": "y"}, methods=["advi"], quick=True, seed=4, data=path,
                           progress=False)
    assert recorder["minibatch"] == [{"batch": DEFAULT_BATCH, "seed": 4, "n": AUTO_MIN_ROWS}]
    assert recorder["report"][0]["inside_minibatch"] == 1
    assert all(p.options["idata_kwargs"] == {"log_likelihood": False} for p in recorder["report"][0]["plans"])
    assert summary["settings"]["minibatch_rows"] == DEFAULT_BATCH
    notes = recorder["report"][0]["notes"]
    assert any(f"minibatches of {DEFAULT_BATCH} of the {AUTO_MIN_ROWS} rows" in note for note in notes)
    assert any("has no `X`" in note and "load_data" in note for note in notes)  # borrowed, not in constant_data


def test_explicit_size_and_off(tmp_path, recorder):
    path = _csv(tmp_path, 2000)
    analysis.run(tmp_path, settings={"target": "y", "minibatch": "256"}, methods=["advi"], quick=True, seed=1,
                 data=path, progress=False)
    analysis.run(tmp_path, settings={"target": "y", "minibatch": "off"}, methods=["advi"], quick=True, seed=1,
                 data=path, progress=False)
    assert [c["batch"] for c in recorder["minibatch"]] == [256] and len(recorder["report"]) == 2
