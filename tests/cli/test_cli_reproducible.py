"""Same command, same seed, same machine → the same summary.json, apart from wall times.

Two separate processes (as a user would run them) on a small Ising lattice: a checkerboard
fit, thermodynamic integration, AIS, mean field, Bethe and the Wolff K sweep.
"""

from __future__ import annotations

import json
import subprocess
import sys

from seeding import seed
from paths import REPO_ROOT

ROOT = REPO_ROOT


def is_wall_time(key: str) -> bool:
    """``wall_time_s``, ``ais_wall_time_s`` ..., and VI's ``time_init_s``, ``time_optimise_s`` ..."""
    return "wall_time" in key or (key.startswith("time_") and key.endswith("_s"))


def without_wall_times(obj):
    """``obj`` with every key that names a wall time removed, at any depth."""
    if isinstance(obj, dict):
        return {k: without_wall_times(v) for k, v in obj.items() if not is_wall_time(k)}
    if isinstance(obj, list):
        return [without_wall_times(v) for v in obj]
    return obj


def test_same_seed_gives_the_same_summary(tmp_path):
    command = [sys.executable, "-m", "physml", "run", "ising", "--quick", "--methods", "checkerboard",
               "--seed", str(seed(5)), "--quiet"]
    command += [arg for kv in ("L=8", "draws=200", "k_points=3", "ti_rungs=5", "ti_draws=100", "ais_temps=50",
                               "ais_runs=4") for arg in ("--set", kv)]
    runs = [subprocess.Popen([*command, "--out", str(tmp_path / f"run{i}")], cwd=ROOT, stderr=subprocess.PIPE,
                             text=True) for i in (1, 2)]
    for proc in runs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    first, second = (json.loads((tmp_path / f"run{i}" / "ising" / "summary.json").read_text()) for i in (1, 2))
    assert first["fits"]["checkerboard"]["wall_time_s"] >= 0  # the keys that may differ exist ...
    assert without_wall_times(first) == without_wall_times(second)  # ... and nothing else differs
    assert {"ti", "ais", "mean_field", "bethe"} <= {r["estimator"] for r in first["free_energy"]}
