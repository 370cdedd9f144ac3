"""Shared fixtures: each PyMC model is built (and so compiled) once per test session.

Tests mirror the package (tests/inference/spins/ for physml.inference.spins, tests/models/, tests/analyses/,
tests/cli/); the helpers they share (seeding, statcheck, paths, fe_models, ...) are plain modules in this
folder, put on ``sys.path`` here.
"""

import logging
import sys
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")  # the library leaves the backend to its caller (a notebook keeps its inline figures)

sys.path.insert(0, str(Path(__file__).resolve().parent))
logging.getLogger("pymc").setLevel(logging.ERROR)


@pytest.fixture(scope="session")
def conjugate_case():
    """Built-in correlated data, conjugate prior, its PyMC model and the exact reference."""
    from physml.models import regression as reg

    data = reg.synthetic_data()
    prior = reg.ConjugatePrior(data.d)
    return {"data": data, "prior": prior, "model": reg.conjugate_model(data, prior),
            "reference": reg.exact_reference(data, prior, seed=1),
            "posterior": reg.nig_posterior(data, prior),
            "free_energy": -reg.log_evidence_exact(data, prior)}
