"""The layout contract of docs/ARCHITECTURE.md, checked on the source tree (AST, no imports).

* dependencies point one way: ``inference`` never imports ``physml.models`` / ``physml.analyses``;
  ``models`` never imports ``physml.analyses``;
* no module imports a private (``_name``) from another physml module;
* no module over ``MAX_MODULE_LINES`` lines and no function over ``MAX_FUNCTION_LINES`` lines unless a
  ``# long: <reason>`` comment sits on its ``def`` line (or the line above).
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"physml": "physml", "models": "physml.models", "inference": "physml.inference",
            "analyses": "physml.analyses"}
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80


def _modules():
    for folder, dotted in PACKAGES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT / folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            yield path, ".".join([dotted, *parts]), path.name == "__init__.py"


MODULES = list(_modules())


def _absolute(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(path: Path, module: str, is_package: bool):
    """(imported module, imported name or None) for every import in the file."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, None
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(module, is_package, node)
            for a in node.names:
                yield source, a.name


def test_the_walk_finds_the_packages():
    names = {m for _, m, _ in MODULES}
    assert {"physml.inference.fit", "physml.models.ising", "physml.analyses.warnings"} <= names


@pytest.mark.parametrize("layer,forbidden", [("physml.inference", ("physml.models", "physml.analyses", "physml.cli")),
                                             ("physml.models", ("physml.analyses", "physml.cli"))])
def test_dependencies_point_one_way(layer, forbidden):
    bad = [f"{m}: imports {src}" for path, m, pkg in MODULES if m.startswith(layer)
           for src, _ in _imports(path, m, pkg) if src.startswith(forbidden)]
    assert not bad, "\n".join(bad)


def test_no_private_names_imported_from_another_module():
    bad = []
    for path, m, pkg in MODULES:
        for src, name in _imports(path, m, pkg):
            if src.startswith("physml") and src != m and name and name.startswith("_") and not name.startswith("__"):
                bad.append(f"{m}: from {src} import {name}")
    assert not bad, "\n".join(bad)


def _long_functions(path: Path):
    lines = path.read_text().splitlines()
    for node in ast.walk(ast.parse("\n".join(lines))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            n = node.end_lineno - node.lineno + 1
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            marks = " ".join(lines[max(0, start - 2): node.lineno])
            if n > MAX_FUNCTION_LINES and "# long:" not in marks:
                yield f"{path.relative_to(ROOT)}:{node.lineno} {node.name}() is {n} lines"


def test_functions_are_short_or_say_why():
    bad = [msg for path, _, _ in MODULES for msg in _long_functions(path)]
    assert not bad, "\n".join(bad)


def test_modules_are_short():
    bad = [f"{path.relative_to(ROOT)}: {n} lines" for path, _, _ in MODULES
           if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES]
    assert not bad, "\n".join(bad)


def _private_uses(path: Path):
    """``from physml.x import _name`` and ``module._name`` attribute uses of an imported physml module."""
    tree = ast.parse(path.read_text())
    aliases = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("physml"):
            for a in node.names:
                if a.name.startswith("_") and not a.name.startswith("__"):
                    yield f"from {node.module} import {a.name}"
                aliases[a.asname or a.name] = f"{node.module}.{a.name}"
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("physml"):
                    aliases[a.asname or a.name.split(".")[0]] = a.name
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__") \
                and isinstance(node.value, ast.Name) and node.value.id in aliases:
            yield f"{node.value.id}.{node.attr}"


def test_tests_and_benchmarks_use_public_names():
    files = sorted([*(ROOT / "tests").rglob("*.py"), *(ROOT / "benchmarks").rglob("*.py")])
    bad = [f"{p.relative_to(ROOT)}: {use}" for p in files if p.name != "test_architecture.py"
           for use in _private_uses(p)]
    assert not bad, "\n".join(bad)
