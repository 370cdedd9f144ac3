r"""The diffusion ELBO-type bound: the denoising loss with weighting g² = β as a bound on −ln p(x).

For the VP-SDE (f = −½βx, g² = β, ∇·f = −½βd) with prior π = N(0, I), the reverse-SDE model with score s
has (Song, Durkan, Murray & Ermon 2021, "Maximum likelihood training of score-based diffusion models",
the pointwise bound behind their Theorem 1; Huang, Lim & Courville 2021)

.. math:: -\ln p^{\rm SDE}_s(x) \le \mathcal B_s(x) = E\big[-\ln\pi(x_1)\big] + \tfrac d2 B(1)
          + \tfrac12\int_0^1 \beta(t)\, E_{\varepsilon}\Big[\big|s(x_t,t) + \varepsilon/\sigma_t\big|^2
          - |\varepsilon|^2/\sigma_t^2\Big]\,dt,\qquad x_t = \alpha_t x + \sigma_t\varepsilon,

the denoising score-matching loss with λ(t) = g(t)² plus constants. Here E[−ln π(x_1)] = ½d ln 2π +
½(α_1²|x|² + dσ_1²) exactly, and the bracket is |s|² + 2 s·ε/σ_t. Averaged over the data (Stein / de Bruijn):

.. math:: E_{p_0}\mathcal B_s = -E_{p_0}\ln p_0 + \mathrm{KL}(p_1\|\pi) + \tfrac12\int_0^1\beta\,
          E_{p_t}|s - \nabla\ln p_t|^2\,dt,

so the exact score leaves the gap KL(p_1‖π) (pointwise too: the path measures agree given x), and a
learned score adds its β-weighted squared error.

Estimator: t from q(t) = β(t)/(σ_t Z), Z = ∫₀¹β/σ dt = 2 artanh √(1 − e^{−B(1)}) (exactly invertible:
B = 2 ln cosh(Z u / 2), u ~ U(0, 1)); each draw contributes ½Z(σ_t|s|² + 2 s·ε) — bounded, no 1/σ — and
ε is paired with −ε (antithetic), so the 1/σ-sized noise of s·ε cancels to first order.
``form="divergence"`` uses E_ε[s·ε]/σ = E_ε[∇·s] instead (Hyvärinen's implicit score matching):
½Zσ_t(|s|² + 2∇·s), the same expectation with a smaller variance near t = 0. Standard errors: over the
independent (t, ε) draws.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .integrators import Score
from .schedule import LinearBetaSchedule

FORMS = ("denoising", "divergence")


def _integral_inverse(schedule: LinearBetaSchedule, b) -> np.ndarray:
    """t with B(t) = b (B(t) = β₀t + ½(β₁ − β₀)t²)."""
    b0, slope = schedule.beta_min, schedule.beta_max - schedule.beta_min
    if slope == 0:
        return np.clip(b / b0, 0.0, 1.0)
    return np.clip((np.sqrt(b0 * b0 + 2 * slope * b) - b0) / slope, 0.0, 1.0)


def time_normaliser(schedule: LinearBetaSchedule) -> float:
    """Z = ∫₀¹ β/σ dt = 2 artanh √(1 − e^{−B(1)})."""
    return float(2 * np.arctanh(np.sqrt(-np.expm1(-schedule.integral(1.0)))))


def sample_times(schedule: LinearBetaSchedule, n: int, rng: np.random.Generator) -> np.ndarray:
    """n draws of t ~ q(t) = β(t)/(σ_t Z) by inversion."""
    z = time_normaliser(schedule)
    u = rng.uniform(0.0, 1.0, int(n))
    return _integral_inverse(schedule, 2 * np.log(np.cosh(0.5 * z * u)))


def diffusion_bound(x, score: Score, schedule: LinearBetaSchedule, n_times: int, rng: np.random.Generator, *,
                    form: str = "denoising",
                    divergence: Callable[[np.ndarray, float], np.ndarray] | None = None) -> dict:
    """The bound B_s(x) per point (module docstring) with ``n_times`` draws of (t, ε) per point.

    Returns ``{"value": (n,), "se": (n,), "mean": float, "mean_se": float, "per_draw": (n_times,)}``;
    ``mean_se`` comes from the spread of ``per_draw``, the per-draw means over points (one t per draw is
    shared by all points). Two scores run from equal generator states see the same (t, ε): their per-draw
    differences give a paired standard error."""
    x = np.asarray(x, dtype=float)
    if x.ndim != 2 or not np.all(np.isfinite(x)):
        raise ValueError(f"x must be a finite (n, d) array, got shape {x.shape}")
    if form not in FORMS:
        raise ValueError(f"form must be one of {FORMS}, got {form!r}")
    if form == "divergence" and divergence is None:
        raise ValueError("form='divergence' needs the score's divergence")
    if isinstance(n_times, bool) or not isinstance(n_times, (int, np.integer)) or n_times < 2:
        raise ValueError(f"n_times must be an integer >= 2, got {n_times!r}")
    n, d = x.shape
    z_norm = time_normaliser(schedule)
    terms = np.empty((n_times, n))
    for j, t in enumerate(sample_times(schedule, n_times, rng)):
        t = float(t)
        a, s = float(schedule.alpha(t)), float(np.sqrt(schedule.sigma2(t)))
        eps = rng.standard_normal(x.shape)
        if form == "denoising":
            sp, sm = score(a * x + s * eps, t), score(a * x - s * eps, t)
            bracket = 0.5 * (s * (np.sum(sp**2, 1) + np.sum(sm**2, 1)) + 2 * np.sum((sp - sm) * eps, 1))
        else:
            xt = a * x + s * eps
            bracket = s * (np.sum(score(xt, t) ** 2, 1) + 2 * divergence(xt, t))
        terms[j] = 0.5 * z_norm * bracket
    a1, s1 = float(schedule.alpha(1.0)), float(schedule.sigma2(1.0))
    const = 0.5 * d * np.log(2 * np.pi) + 0.5 * (a1 * a1 * np.sum(x**2, 1) + d * s1) + 0.5 * d * float(
        schedule.integral(1.0))
    value = const + terms.mean(axis=0)
    per_draw = terms.mean(axis=1)
    return {"value": value, "se": terms.std(axis=0, ddof=1) / np.sqrt(n_times), "mean": float(value.mean()),
            "mean_se": float(per_draw.std(ddof=1) / np.sqrt(n_times)), "per_draw": per_draw}


def weighted_score_error(samples_at: Callable[[float], np.ndarray], score: Score, reference: Score,
                         schedule: LinearBetaSchedule, n_times: int, rng: np.random.Generator) -> dict:
    """½∫₀¹ β E_{p_t}|s − s_ref|² dt with t ~ q and a batch x ~ ``samples_at(t)``
    per t: ``{"value", "se"}``, se over the t draws (the gap a learned score adds to the bound, averaged over
    the data)."""
    z_norm = time_normaliser(schedule)
    vals = []
    for t in sample_times(schedule, n_times, rng):
        t = float(t)
        xt = samples_at(t)
        err = np.sum((score(xt, t) - reference(xt, t)) ** 2, 1)
        vals.append(0.5 * z_norm * float(np.sqrt(schedule.sigma2(t))) * float(err.mean()))
    vals = np.asarray(vals)
    return {"value": float(vals.mean()), "se": float(vals.std(ddof=1) / np.sqrt(vals.size))}
