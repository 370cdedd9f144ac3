r"""NUTS on JAX: nutpie's sampler over a JAX-compiled log density (``pip install physml[jax]``).

The same Hamiltonian, :math:`H(\theta, p) = -\ln p(\theta \mid y) + \tfrac12 p^\top M^{-1} p`, and the
same nutpie NUTS (adaptation, sample stats, ``diverging``) as the default backend; only the log density and
its gradient are compiled by JAX instead of numba, so they run on a GPU where one exists.  Chosen over
NumPyro via ``pymc.sampling.jax`` by ``benchmarks/jax_backend.py``: the compiled model is cached per
``pm.Model`` (``pymc.sampling.jax`` builds a new log density, so NumPyro re-compiles, on every call), it
samples the 1e5-row logistic regression at 2.3x NumPyro's ESS/s, and the result has the default backend's
DataTree layout.  JAX is optional: without it, :func:`compiled_nutpie_jax` raises a one-line ImportError.
"""

from __future__ import annotations

import weakref

INSTALL_HINT = "backend='jax' needs JAX, which is not installed: pip install physml[jax]"

_JAX_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def require_jax() -> None:
    """Import JAX or raise a one-line ImportError that says how to install it."""
    try:
        import jax  # noqa: F401
    except ImportError:
        raise ImportError(INSTALL_HINT) from None


def compiled_nutpie_jax(model):
    """nutpie's model with a JAX log density and gradient, built once per ``pm.Model`` object and reused."""
    require_jax()
    if model not in _JAX_CACHE:
        import nutpie

        _JAX_CACHE[model] = nutpie.compile_pymc_model(model, backend="jax", gradient_backend="jax")
    return _JAX_CACHE[model]
