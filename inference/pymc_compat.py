"""Small helpers over PyMC models shared by several methods (compiled once per model)."""

from __future__ import annotations

import weakref

_NUTPIE_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def discrete_free_variables(model) -> list[str]:
    """Names of the model's discrete free variables (VI and NUTS cannot handle them)."""
    return [model.values_to_rvs[v].name for v in model.discrete_value_vars]


def continuous_only(model) -> str | None:
    names = discrete_free_variables(model)
    if names:
        return (f"Discrete variables are not supported by VI, NUTS or SMC, which need continuous free variables "
                f"(found {names}); "
                "use 'metropolis', or a physics sampler such as 'checkerboard' for spin models")
    return None


def compiled_nutpie(model):
    """nutpie's compiled model, built once per ``pm.Model`` object and reused."""
    import nutpie

    if model not in _NUTPIE_CACHE:
        _NUTPIE_CACHE[model] = nutpie.compile_pymc_model(model)
    return _NUTPIE_CACHE[model]
