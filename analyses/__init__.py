"""Comparison tables, figures and per-model report runners (``physml run MODEL``)."""

from importlib import import_module

# model name -> (module with run(out_dir, *, settings, methods, quick, seed, data, progress), one-line description)
ANALYSES = {
    "regression": ("regression", "Bayesian linear regression: energy ↔ −ln p, free energy ↔ −ln evidence (exact NIG)"),
    "ising": ("ising", "Ising model: exact Kaufman/Onsager, checkerboard & cluster samplers, mean field, Bethe, TI and AIS"),
    "denoise": ("denoise", "Ising-prior image denoising: Gibbs/Metropolis, mean field (CAVI), Hubbard–Stratonovich + NUTS / ADVI, exact 4×4 and TI/AIS evidence"),
    "rbm": ("rbm", "Restricted Boltzmann machine: exact vs AIS ln Z, exact-gradient/CD/PCD learning, Bayesian RBM by NUTS and ADVI"),
}


def analysis(name: str):
    """The module that runs ``physml run NAME``."""
    if name not in ANALYSES:
        raise ValueError(f"model must be one of {sorted(ANALYSES)} or 'all', got {name!r}")
    return import_module(f".{ANALYSES[name][0]}", __name__)
