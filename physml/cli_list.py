"""``physml list`` and ``physml list MODEL``: the models, and one model's settings and methods.

A model's settings are its analysis's ``DEFAULTS`` (the keys ``--set`` accepts, their types and
defaults; a size of 0 means "the --quick or full default"); the allowed values of a text setting and
the model's methods are read from the tuples that the analysis and its model check them against
(``CHOICES`` and ``METHODS`` below name them), so this help cannot drift from what a run accepts.
"""

from __future__ import annotations

from importlib import import_module

#: model -> (module, attribute, what the tuple is): the methods ``--methods`` accepts for that model
METHODS = {
    "regression": ("physml.analyses.regression", "DEFAULT_METHODS", "default; any registered method that can fit "
                   "a continuous PyMC model is accepted"),
    "ising": ("physml.analyses.ising", "ALL_METHODS", "all run by default"),
    "denoise": ("physml.analyses.denoise", "ALL_METHODS", "all run by default"),
    "rbm": ("physml.analyses.rbm", "DEFAULT_METHODS", "default; any registered method that can fit a continuous "
            "PyMC model is accepted (learning by exact gradient, CD-1 and PCD always runs)"),
    "criticality": ("physml.analyses.criticality", "ALL_METHODS", "Bayesian finite-size-scaling fit"),
    "double_descent": ("physml.analyses.double_descent_bayes", "METHODS", "hierarchical-prior fits"),
    "spin_glass": ("physml.analyses.spin_glass", "METHODS", "all run by default"),
    "diffusion": ("physml.analyses.diffusion", "ALL_METHODS", "all run by default (--quick: the exact-score "
                  "integrators only unless nuts / advi are named)"),
    "grokking": ("physml.analyses.grokking", "METHODS", "training dynamics"),
    "hopfield": ("physml.analyses.hopfield", "METHODS", "asynchronous zero-temperature retrieval"),
    "landscape": ("physml.analyses.landscape", "METHODS", "local free energy F_γ estimators"),
    "rg": ("physml.analyses.rg", "ALL_METHODS", "pseudo-likelihood fits (K_nn alone by all; the 3-coupling model by "
           "the first)"),
    "perceptron": ("physml.analyses.perceptron", "METHODS", "Gibbs learning (exact HMC at T = 0, NUTS / ADVI on the "
                   "probit model) and the binary perceptron (Metropolis)"),
}
#: (model, setting) -> (module, attribute) of the values that setting may take
CHOICES = {
    ("regression", "prior"): ("physml.analyses.regression", "PRIORS"),
    ("ising", "boundary"): ("physml.models.ising", "BOUNDARIES"),
    ("denoise", "boundary"): ("physml.models.denoise", "BOUNDARIES"),
    ("denoise", "noise"): ("physml.models.denoise", "NOISE_MODELS"),
    ("denoise", "image"): ("physml.models.denoise", "IMAGES"),
    ("diffusion", "dataset"): ("physml.models.diffusion", "BUILTINS"),
}
#: settings whose text names a data set: a built-in name or a file
DATA_NOTE = {("rbm", "data"): "bas3, bas4 or a .npy / CSV file of binary rows"}


def list_models() -> int:
    from physml.analyses import ANALYSES

    for name, (_, description) in ANALYSES.items():
        print(f"{name:15s} {description}")
    print("\nphysml list MODEL: its settings and methods; physml run FILE.py:FUNCTION: your own PyMC model")
    return 0


def _choices(model: str, key: str, default) -> str:
    if (model, key) in CHOICES:
        module, attribute = CHOICES[model, key]
        return "one of: " + ", ".join(map(str, getattr(import_module(module), attribute)))
    if (model, key) in DATA_NOTE:
        return DATA_NOTE[model, key]
    if isinstance(default, bool):
        return "true / false"
    return type(default).__name__


def describe_model(name: str) -> int:
    """Print one model's description, methods and settings (``--set KEY=VALUE``)."""
    from physml.analyses import ANALYSES, analysis

    module = analysis(name)  # ValueError naming the models for an unknown one
    print(f"{name}: {ANALYSES[name][1]}\n")
    if name in METHODS:
        source, attribute, meaning = METHODS[name]
        print(f"methods (--methods a,b,...): {', '.join(getattr(import_module(source), attribute))}  ({meaning})\n")
    else:
        print("methods: the model's own (not declared in physml/cli_list.py METHODS)\n")
    print("settings (--set KEY=VALUE):")
    rows = [(key, repr(default), _choices(name, key, default)) for key, default in module.DEFAULTS.items()]
    width = max(len(k) for k, _, _ in rows)
    for key, default, allowed in rows:
        print(f"  {key:{width}s}  default {default:12s}  {allowed}")
    print("\nsizes (draws, chains, ...) of 0 mean the --quick or full default")
    return 0
