"""``physml run FILE.py:FUNCTION``: your own PyMC model through :func:`physml.compare`.

``FUNCTION`` (default ``make_model``) takes no arguments and returns a ``pm.Model`` with observed
data.  The file is imported as a module of its own (its folder first on ``sys.path`` while it runs),
the function called, and the model checked, all before ``--out`` is touched: a missing file, a file
that fails to import or lacks the function, a function that raises or returns something else, and a
model without observed data are one line on stderr and exit status 2.  The report goes to
``OUT/NAME`` with NAME the file's stem (``STEM-FUNCTION`` for another function than ``make_model``).
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

DEFAULT_FUNCTION = "make_model"


def is_model_file(spec: str) -> bool:
    """``FILE.py`` or ``FILE.py:FUNCTION`` (a built-in model's name has neither)."""
    return ":" in spec or spec.endswith(".py")


def split_spec(spec: str) -> tuple[Path, str]:
    path, _, function = spec.rpartition(":") if ":" in spec else (spec, "", DEFAULT_FUNCTION)
    if not function.isidentifier():
        raise ValueError(f"model {spec!r}: give FILE.py:FUNCTION with FUNCTION a Python name, got {function!r}")
    return Path(path), function


def report_name(path: Path, function: str) -> str:
    """The folder name of the report: letters, digits, _ and - only."""
    name = path.stem if function == DEFAULT_FUNCTION else f"{path.stem}-{function}"
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)


def _import_file(path: Path):
    if not path.is_file():
        raise ValueError(f"model file {path}: {'is not a file' if path.exists() else 'file not found'}")
    spec = importlib.util.spec_from_file_location(f"physml_user_model_{abs(hash(str(path.resolve())))}", path)
    if spec is None or spec.loader is None:
        raise ValueError(f"model file {path}: cannot be imported as Python (give a .py file)")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.resolve().parent))
    try:
        spec.loader.exec_module(module)
    except Exception as err:  # noqa: BLE001 - any error of the user's file is bad input, said in one line
        raise ValueError(f"model file {path}: importing it raised {type(err).__name__}: {err}") from None
    finally:
        sys.path.remove(str(path.resolve().parent))
    return module


def load_model(spec: str):
    """(report name, model) of ``FILE.py[:FUNCTION]``; ValueError naming what is wrong."""
    import pymc as pm

    path, function = split_spec(spec)
    module = _import_file(path)
    make = getattr(module, function, None)
    if not callable(make):
        raise ValueError(f"model file {path} does not define a function {function}()")
    try:
        model = make()
    except Exception as err:  # noqa: BLE001 - the user's function failed: one line
        raise ValueError(f"model {spec}: {function}() raised {type(err).__name__}: {err}") from None
    if not isinstance(model, pm.Model):
        raise ValueError(f"model {spec}: {function}() must return a pymc.Model, got {type(model).__name__}")
    return report_name(path, function), model


def prepare_run(args, methods: list[str] | None, seed: int):
    """(report name, :class:`physml.compare.ComparisonPlan`) for ``physml run FILE.py:FUNCTION``."""
    from physml.compare import DEFAULT_METHODS, prepare

    for option, value in (("--set", args.settings), ("--data", args.data), ("--target", args.target)):
        if value:
            raise ValueError(f"{option} applies to the built-in models; {args.model} builds its own model and data")
    name, model = load_model(args.model)
    try:
        plan = prepare({name: model}, methods or DEFAULT_METHODS, quick=args.quick, seed=seed)
    except ValueError as err:  # name the model the way the user gave it
        raise ValueError(f"model {args.model}: {str(err).replace('models ', '', 1)}") from None
    return name, plan
