"""Package list only (everything else is in pyproject.toml): ``physml`` and every subpackage found under the
root folders ``models/``, ``inference/``, ``analyses/`` (installed as ``physml.models.*`` etc.), so adding a
subpackage never needs an edit here or in pyproject.toml."""
from setuptools import find_packages, setup

ROOTS = ("models", "inference", "analyses")
setup(packages=["physml"] + [f"physml.{root}" + (f".{sub}" if sub else "")
                             for root in ROOTS for sub in ["", *find_packages(root)]])
