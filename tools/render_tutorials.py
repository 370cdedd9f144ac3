#!/usr/bin/env python
"""Execute the tutorials (jupytext MyST notebooks in ``tutorials/``) and render them to HTML.

    python tools/render_tutorials.py [--quick] [--out results/tutorials] [--results results] [NAME ...]

Writes ``OUT/NAME.html`` per tutorial (figures embedded as data URIs), ``OUT/reports/MODEL.html`` for every
``physml run`` report found as ``RESULTS/MODEL/report.md`` (markdown rendered with mistune; relative figure
and file links rewritten to point at ``RESULTS/MODEL/``), and ``OUT/index.html`` linking all of them.
Each notebook runs in a kernel of this interpreter with a scratch working directory, so it writes nothing
into the repository.  Every file is written atomically (temporary file + rename).  Errors: one line, exit 1
(a notebook that raises) or 2 (bad arguments).

``execute_notebook`` is also what ``tests/tutorials/test_tutorials.py`` runs (quick mode).
"""
from __future__ import annotations

import argparse
import html
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
TUTORIALS = REPO_ROOT / "tutorials"
QUICK_ENV = "PHYSML_TUTORIAL_QUICK"


def tutorial_paths(names=()) -> list[Path]:
    """The tutorial notebooks (``tutorials/*.md`` except README.md), or the named ones."""
    paths = sorted(p for p in TUTORIALS.glob("*.md") if p.name != "README.md")
    if not names:
        return paths
    by_stem = {p.stem: p for p in paths}
    unknown = [n for n in names if n not in by_stem]
    if unknown:
        raise ValueError(f"tutorial names must be among {sorted(by_stem)}, got {unknown}")
    return [by_stem[n] for n in names]


def execute_notebook(path: Path, *, quick: bool, cwd: Path, timeout: int = 600):
    """Read ``path`` with jupytext and run every cell in a fresh kernel of this interpreter, in ``cwd``.

    ``PHYSML_TUTORIAL_QUICK`` is set to "1" (quick) or "0" for the kernel.  Raises nbclient's
    ``CellExecutionError`` (the failing cell and its traceback) when a cell raises.
    """
    import jupytext
    from nbclient import NotebookClient

    notebook = jupytext.read(path)
    previous = os.environ.get(QUICK_ENV)
    os.environ[QUICK_ENV] = "1" if quick else "0"
    try:  # the kernel inherits this environment; jupyter_client replaces argv "python" by sys.executable
        client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": str(cwd)}})
        client.execute()
    finally:
        if previous is None:
            os.environ.pop(QUICK_ENV, None)
        else:
            os.environ[QUICK_ENV] = previous
    return notebook


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; pages are for reading
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


#: Debian's libjs-mathjax (MathJax 2, what nbconvert's template expects); without it the pages load MathJax from
#: nbconvert's default CDN URL, so equations show as TeX source when read offline
LOCAL_MATHJAX = Path("/usr/share/javascript/mathjax/MathJax.js")


def render_notebook_html(notebook) -> str:
    """nbconvert's HTML (lab template), images embedded; MathJax from the local copy when there is one."""
    from nbconvert import HTMLExporter

    options = {"embed_images": True}
    if LOCAL_MATHJAX.is_file():
        options["mathjax_url"] = LOCAL_MATHJAX.as_uri() + "?config=TeX-AMS_CHTML-full,Safe"
    body, _ = HTMLExporter(**options).from_notebook_node(notebook)
    return body


def markdown_renderer(prefix: str):
    """A mistune renderer (tables, strikethrough) that prefixes relative links and image sources by ``prefix``."""
    import mistune

    def relocate(url: str) -> str:
        local = not (url.startswith(("http://", "https://", "mailto:", "data:", "#", "/")))
        return prefix + url if local else url

    class RelocatingRenderer(mistune.HTMLRenderer):
        def link(self, text, url, title=None):
            return super().link(text, relocate(url), title)

        def image(self, text, url, title=None):
            return super().image(text, relocate(url), title)

    return mistune.create_markdown(renderer=RelocatingRenderer(escape=False), plugins=["table", "strikethrough"])


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em;line-height:1.45}}
table{{border-collapse:collapse}}td,th{{border:1px solid #bbb;padding:.2em .5em}}
img{{max-width:100%}}code{{background:#f4f4f4}}</style></head>
<body>
{body}
</body></html>
"""


def render_reports(results: Path, out: Path) -> list[tuple[str, str]]:
    """Render every ``results/MODEL/report.md`` to ``out/reports/MODEL.html``; return (model, href) pairs."""
    links = []
    for report in sorted(results.glob("*/report.md")):
        model = report.parent.name
        page = out / "reports" / f"{model}.html"
        prefix = os.path.relpath(report.parent, page.parent).replace(os.sep, "/") + "/"
        body = markdown_renderer(prefix)(report.read_text(encoding="utf-8"))
        write_atomic(page, PAGE.format(title=html.escape(f"physml run {model}"), body=body))
        links.append((model, f"reports/{model}.html"))
    return links


def index_html(tutorials: list[tuple[str, str, str]], reports: list[tuple[str, str]]) -> str:
    """The index page: tutorials (title, href, how long it ran) and the rendered ``physml run`` reports."""
    items = "\n".join(f'<li><a href="{html.escape(href)}">{html.escape(title)}</a> <small>{html.escape(note)}</small></li>'
                      for title, href, note in tutorials)
    runs = "\n".join(f'<li><a href="{html.escape(href)}">{html.escape(model)}</a></li>' for model, href in reports)
    runs = runs or "<li>none found — run <code>physml run MODEL</code> first</li>"
    body = (f"<h1>physml tutorials</h1>\n<ol>\n{items}\n</ol>\n"
            f"<h2>Reports of <code>physml run</code></h2>\n<ul>\n{runs}\n</ul>")
    return PAGE.format(title="physml tutorials", body=body)


def tutorial_entries(out: Path, timings: dict) -> list[tuple[str, str, str]]:
    """(title, href, note) of every tutorial rendered into ``out`` (by this run or an earlier one)."""
    entries = []
    for path in tutorial_paths():
        if (out / f"{path.stem}.html").is_file():
            title = next((line[2:].strip() for line in path.read_text(encoding="utf-8").splitlines()
                          if line.startswith("# ")), path.stem)
            seconds = timings.get(path.stem)
            note = f"(executed in {seconds:.0f} s)" if seconds is not None else ""
            entries.append((title, f"{path.stem}.html", note))
    return entries


def last_line(error: BaseException) -> str:
    """The last non-empty line of an error's message (nbclient puts the cell's exception there)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error))  # the kernel's traceback is ANSI-coloured
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__


def render_all(paths: list[Path], out: Path, results: Path, quick: bool) -> None:
    """Execute and render each tutorial, then the reports and the index (which lists every rendered tutorial)."""
    timings_path = out / "timings.json"
    timings = json.loads(timings_path.read_text()) if timings_path.is_file() else {}
    for path in paths:
        start = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="physml-tutorial-") as cwd:
            try:
                notebook = execute_notebook(path, quick=quick, cwd=Path(cwd))
            except Exception as error:  # nbclient's message ends with the cell's exception line
                raise RuntimeError(f"{path.name}: {last_line(error)}") from error
        timings[path.stem] = time.perf_counter() - start
        write_atomic(out / f"{path.stem}.html", render_notebook_html(notebook))
        write_atomic(timings_path, json.dumps(timings, indent=1, sort_keys=True))
        print(f"{path.stem}: {timings[path.stem]:.1f} s -> {out / (path.stem + '.html')}", flush=True)
    reports = render_reports(results, out)
    entries = tutorial_entries(out, timings)
    write_atomic(out / "index.html", index_html(entries, reports))
    print(f"index: {out / 'index.html'} ({len(entries)} tutorials, {len(reports)} reports)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="tutorial file stems (default: all)")
    parser.add_argument("--quick", action="store_true", help="small sizes (PHYSML_TUTORIAL_QUICK=1)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "results" / "tutorials")
    parser.add_argument("--results", type=Path, default=REPO_ROOT / "results")
    args = parser.parse_args(argv)
    try:
        paths = tutorial_paths(args.names)
    except ValueError as error:
        print(f"render_tutorials: {error}", file=sys.stderr)
        return 2
    try:
        render_all(paths, args.out, args.results, args.quick)
    except Exception as error:
        print(f"render_tutorials: {last_line(error)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
