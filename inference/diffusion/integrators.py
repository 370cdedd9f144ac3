r"""Vectorised integrators of the VP-SDE, its time reversal and its probability-flow ODE, over any score.

With f(x, t) = −½β(t) x and g(t)² = β(t) (``schedule.LinearBetaSchedule``), on a uniform grid of ``n_steps``:

* forward Euler–Maruyama:   x ← x − ½β(t) x h + √(β(t) h) z,                     t: t₀ → t₁;
* reverse Euler–Maruyama:   x ← x + [½β(t) x + β(t) s(x, t)] h + √(β(t) h) z,     t: 1 → t_end
  (Anderson 1982: the reverse-time drift is f − g² ∇ln p_t; weak order 1);
* probability flow:         dx/dt = −½β(t) [x + s(x, t)]  (Song et al. 2021, eq. 13), explicit Runge–Kutta
  (``euler`` order 1, ``heun`` order 2, ``rk4`` order 4), in either direction;
* exact likelihood by the instantaneous change of variables (Chen et al. 2018):
  d ln p_t(x(t))/dt = −∇·v,  ∇·v = −½β(t) [d + ∇·s(x, t)],  so

  .. math:: \ln p_0(x_0) = \ln p_1(x(1)) + \int_0^1 \nabla\!\cdot v(x(t), t)\,dt,

  integrated together with x by RK4; ``divergence(x, t)`` is the exact ∇·s (no Hutchinson estimator).

``score(x, t)`` takes x shaped (n, d) and a scalar t and returns an array shaped (n, d).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .schedule import LinearBetaSchedule, check_time

Score = Callable[[np.ndarray, float], np.ndarray]

#: explicit Runge–Kutta tableaux (c, A rows, b) by name; the value is (stages, weights, order)
TABLEAUX = {
    "euler": (((0.0, ()),), (1.0,), 1),
    "heun": (((0.0, ()), (1.0, (1.0,))), (0.5, 0.5), 2),
    "rk4": (((0.0, ()), (0.5, (0.5,)), (0.5, (0.0, 0.5)), (1.0, (0.0, 0.0, 1.0))), (1 / 6, 1 / 3, 1 / 3, 1 / 6), 4),
}


def _points(x) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    if x.ndim != 2 or x.shape[0] < 1:
        raise ValueError(f"x must be shaped (n >= 1, d), got {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("x must be finite (it holds NaN or inf)")
    return x


def _steps(n_steps) -> int:
    if isinstance(n_steps, bool) or not isinstance(n_steps, (int, np.integer)) or n_steps < 1:
        raise ValueError(f"n_steps must be an integer >= 1, got {n_steps!r}")
    return int(n_steps)


def forward_euler_maruyama(x0, schedule: LinearBetaSchedule, n_steps: int, rng: np.random.Generator, *,
                           t0: float = 0.0, t1: float = 1.0, snapshots: int = 0):
    """Simulate the forward SDE from ``x0`` at t0 to t1; returns x(t1), or with ``snapshots`` = k > 0
    ``(times, states)``, k + 1 states at equally spaced times (the first is x0)."""
    x, n = _points(x0).copy(), _steps(n_steps)
    t0, t1 = float(check_time(t0, "t0")), float(check_time(t1, "t1"))
    h = (t1 - t0) / n
    every = max(1, n // snapshots) if snapshots else 0
    times, states = [t0], [x.copy()]
    for k in range(n):
        b = float(schedule.beta(t0 + k * h))
        x += -0.5 * b * h * x + np.sqrt(b * h) * rng.standard_normal(x.shape)
        if every and ((k + 1) % every == 0 or k + 1 == n):
            times.append(t0 + (k + 1) * h)
            states.append(x.copy())
    return (np.array(times), np.stack(states)) if snapshots else x


def reverse_euler_maruyama(x1, score: Score, schedule: LinearBetaSchedule, n_steps: int, rng: np.random.Generator, *,
                           t_end: float = 0.0, snapshots: int = 0):
    """Integrate the reverse SDE from ``x1`` at t = 1 down to ``t_end``; the score is evaluated at the left
    (later-time) end of each step, never at t_end. Returns x(t_end) or ``(times, states)`` as the forward one."""
    x, n = _points(x1).copy(), _steps(n_steps)
    t_end = float(check_time(t_end, "t_end"))
    h = (1.0 - t_end) / n
    every = max(1, n // snapshots) if snapshots else 0
    times, states = [1.0], [x.copy()]
    for k in range(n):
        t = 1.0 - k * h
        b = float(schedule.beta(t))
        x += (0.5 * b * x + b * score(x, t)) * h + np.sqrt(b * h) * rng.standard_normal(x.shape)
        if every and ((k + 1) % every == 0 or k + 1 == n):
            times.append(1.0 - (k + 1) * h)
            states.append(x.copy())
    return (np.array(times), np.stack(states)) if snapshots else x


def _rk_step(rhs, y, t: float, h: float, method: str):
    stages, weights, _ = TABLEAUX[method]
    ks = []
    for c, row in stages:
        yi = y if not row else y + h * sum(a * k for a, k in zip(row, ks))
        ks.append(rhs(yi, min(max(t + c * h, 0.0), 1.0)))  # round-off at the ends of [0, 1]
    return y + h * sum(w * k for w, k in zip(weights, ks))


def _check_method(method: str) -> str:
    if method not in TABLEAUX:
        raise ValueError(f"method must be one of {sorted(TABLEAUX)}, got {method!r}")
    return method


def probability_flow(x, score: Score, schedule: LinearBetaSchedule, n_steps: int, *, t0: float = 1.0,
                     t1: float = 0.0, method: str = "heun") -> np.ndarray:
    """Integrate dx/dt = −½β(t)[x + s(x, t)] from t0 to t1 (t1 < t0 generates) with ``n_steps`` steps."""
    y, n, method = _points(x), _steps(n_steps), _check_method(method)
    t0, t1 = float(check_time(t0, "t0")), float(check_time(t1, "t1"))
    h = (t1 - t0) / n

    def rhs(z, t):
        return -0.5 * float(schedule.beta(t)) * (z + score(z, t))

    for k in range(n):
        y = _rk_step(rhs, y, t0 + k * h, h, method)
    return y


def probability_flow_log_likelihood(x0, score: Score, divergence: Callable[[np.ndarray, float], np.ndarray],
                                    schedule: LinearBetaSchedule, n_steps: int,
                                    prior_log_density: Callable[[np.ndarray], np.ndarray], *,
                                    method: str = "rk4") -> tuple[np.ndarray, np.ndarray]:
    """ln p_0(x0) of the probability-flow model: ``(log_likelihood, x(1))``, each point's value
    ln p_prior(x(1)) + ∫₀¹ ∇·v dt with the exact divergence (module docstring)."""
    x, n, method = _points(x0), _steps(n_steps), _check_method(method)
    d = x.shape[1]
    h = 1.0 / n

    def rhs(y, t):
        z, b = y[:, :d], float(schedule.beta(t))
        dx = -0.5 * b * (z + score(z, t))
        div = -0.5 * b * (d + divergence(z, t))
        return np.concatenate([dx, div[:, None]], axis=1)

    y = np.concatenate([x, np.zeros((x.shape[0], 1))], axis=1)
    for k in range(n):
        y = _rk_step(rhs, y, k * h, h, method)
    x1 = y[:, :d]
    return prior_log_density(x1) + y[:, d], x1


def observed_order(sizes, errors) -> float:
    """Order p of a convergence error ≈ C·size^(−p): minus the least-squares slope of ln error on ln size
    (sizes: grid cells or steps)."""
    sizes, errors = np.asarray(sizes, float), np.asarray(errors, float)
    if sizes.size < 2 or np.any(sizes <= 0) or np.any(errors <= 0):
        raise ValueError("observed_order needs >= 2 positive sizes and errors")
    return float(-np.polyfit(np.log(sizes), np.log(errors), 1)[0])
