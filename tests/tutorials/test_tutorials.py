"""Every tutorial in ``tutorials/`` executes end to end in quick mode (``PHYSML_TUTORIAL_QUICK=1``).

One test per notebook: jupytext reads the MyST text notebook, nbclient runs it in a kernel of this
interpreter with a scratch working directory (nothing is written into the repository).  A cell that
raises fails the test with that cell's error.  The notebooks' own numbers are checked inside them by
asserts that hold for any seed (exact identities, bounds), not by this file.
"""
import importlib.util

import pytest

from paths import REPO_ROOT


def _load_renderer():
    spec = importlib.util.spec_from_file_location("render_tutorials", REPO_ROOT / "tools" / "render_tutorials.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


renderer = _load_renderer()
NOTEBOOKS = renderer.tutorial_paths()


def test_there_are_tutorials():
    assert len(NOTEBOOKS) >= 5, [p.name for p in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_tutorial_executes(path, tmp_path):
    notebook = renderer.execute_notebook(path, quick=True, cwd=tmp_path, timeout=300)
    errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
