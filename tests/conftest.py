"""Shared fixtures: each PyMC model is built (and so compiled) once per test session."""

import logging

import pytest

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
