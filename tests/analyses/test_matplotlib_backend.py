"""Importing physml (and drawing report figures) leaves matplotlib's backend to the caller, so a notebook keeps
its inline figures; only the ``physml`` program chooses Agg."""
import os
import subprocess
import sys

CODE = """
import matplotlib, importlib, pkgutil
import physml, physml.analyses as A
for m in pkgutil.iter_modules(A.__path__):
    importlib.import_module("physml.analyses." + m.name)
import physml.compare
print(matplotlib.get_backend())
"""


def test_importing_every_analysis_keeps_the_callers_backend():
    env = {**os.environ, "MPLBACKEND": "svg"}
    done = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "svg"
