"""Langevin dynamics samples e^{−U/T} on a 1-D double well: histograms of independent chains against the exact
density by quadrature (χ² per seed, Bonferroni over seeds, and pooled over seeds), through the training driver
with a weight-decay term in U."""
import numpy as np
import pytest
from scipy import integrate, stats
from seeding import seeds
from statcheck import threshold

from physml.inference.training.driver import langevin_update, train
from physml.inference.training.langevin import langevin_step

T, DECAY = 0.5, 0.5
EDGES = np.array([-np.inf, -1.4, -1.1, -0.8, -0.4, 0.0, 0.4, 0.8, 1.1, 1.4, np.inf])


def potential(x):
    """U(x) = (x² − 1)² + (λ/2) x² (the driver adds the decay term to the loss's gradient)."""
    return (x * x - 1) ** 2 + 0.5 * DECAY * x * x


def exact_bin_probabilities() -> np.ndarray:
    def density(x):
        return np.exp(-potential(x) / T)
    z = integrate.quad(density, -np.inf, np.inf)[0]
    return np.array([integrate.quad(density, a, b)[0] for a, b in zip(EDGES[:-1], EDGES[1:])]) / z


def double_well(x):
    return (x * x - 1) ** 2, 4 * x * (x * x - 1), {}


def chi2_z(x: np.ndarray, p: np.ndarray) -> float:
    """The histogram's χ² against p as a standard normal score (its upper tail)."""
    counts = np.histogram(x, bins=EDGES)[0]
    expected = p * len(x)
    chi2 = float(np.sum((counts - expected) ** 2 / expected))
    return float(stats.norm.isf(stats.chi2.sf(chi2, len(p) - 1)))


def test_double_well_histogram():
    p, chains, runs = exact_bin_probabilities(), 4000, seeds(10, 4)
    pooled = []
    for s in runs:
        rng = np.random.default_rng(s)
        update = langevin_update(step_size=2e-3, temperature=T, weight_decay=DECAY, rng=rng)
        x0 = rng.normal(0.0, 0.5, chains)  # independent chains: their end points are independent draws
        history = train(double_well, x0, update, steps=5000, record_every=5000)
        assert history.steps.tolist() == [0, 5000]
        pooled.append(history.params)
        assert chi2_z(history.params, p) < threshold(len(runs)), f"seed {s}"
    assert chi2_z(np.concatenate(pooled), p) < threshold(1)


def test_zero_temperature_is_gradient_descent():
    rng = np.random.default_rng(0)
    x = np.array([0.3, -2.0])
    grad = 4 * x * (x * x - 1)
    assert np.array_equal(langevin_step(x, grad, rng, step_size=0.01, temperature=0.0), x - 0.01 * grad)
    with pytest.raises(ValueError, match="temperature"):
        langevin_step(x, grad, rng, step_size=0.01, temperature=-1.0)
    with pytest.raises(ValueError, match="step_size"):
        langevin_step(x, grad, rng, step_size=0.0)
