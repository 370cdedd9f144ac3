#!/usr/bin/env python
"""Load every rendered tutorial page in headless Chromium; fail on a broken image or link; save screenshots.

    python tools/check_tutorials_browser.py [--dir results/tutorials] [--chromium chromium]

Not part of the default test run (it needs Debian's ``chromium`` and the output of ``make tutorials``).
For every ``*.html`` under ``--dir`` (index, tutorials, ``reports/``):

* the page is loaded by Chromium with a probe script appended (in a temporary copy beside the page, so relative
  URLs resolve the same way); after load the probe records every ``<img>`` that the browser failed to decode
  (``complete`` and ``naturalWidth == 0``), and ``--dump-dom`` returns the live DOM;
* every local ``href`` / ``src`` (relative path, ``file:``) must name an existing, non-empty file, and every
  ``#fragment`` link must name an element id of its target page; ``data:`` images must carry image bytes;
  external ``http(s)`` URLs are counted, not fetched (the check runs offline);
* a cell traceback in the page (an executed cell that raised) fails it;
* a screenshot goes to ``DIR/screenshots/NAME.png`` (reports: ``reports-MODEL.png``).

Prints one line per page and a summary; exit status 1 when any page has a problem, 2 on bad arguments.
"""
from __future__ import annotations

import argparse
import base64
import os
import shutil
import subprocess
import sys
import tempfile
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

REPO_ROOT = Path(__file__).resolve().parent.parent
PROBE = """<script>
window.addEventListener("load", function () {
  var broken = Array.from(document.images).filter(function (im) { return im.complete && im.naturalWidth === 0; })
    .map(function (im) { return (im.getAttribute("src") || "").slice(0, 80); });
  document.documentElement.setAttribute("data-physml-broken-images", JSON.stringify(broken));
  document.documentElement.setAttribute("data-physml-images", String(document.images.length));
});
</script>
"""
IMAGE_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"<svg", b"<?xml", b"RIFF")


class Links(HTMLParser):
    """Collects (tag, attribute, url) of every link-like attribute, the element ids and root attributes."""

    def __init__(self):
        super().__init__()
        self.urls: list[tuple[str, str, str]] = []
        self.ids: set[str] = set()
        self.root: dict[str, str] = {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "html":
            self.root = {k: v or "" for k, v in attrs.items()}
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        for name in ("href", "src"):
            if attrs.get(name) and tag in ("a", "img", "link", "script", "iframe", "source"):
                self.urls.append((tag, name, attrs[name]))


def chromium(binary: str, *args: str, timeout: int = 90) -> subprocess.CompletedProcess:
    """Run headless Chromium (no sandbox: containers) with ``args``."""
    base = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--allow-file-access-from-files",
            "--virtual-time-budget=10000"]
    return subprocess.run([*base, *args], capture_output=True, text=True, timeout=timeout)


def live_dom(binary: str, page: Path) -> str:
    """The DOM after load of a probe-carrying copy of ``page`` (written beside it, removed afterwards)."""
    fd, probe_path = tempfile.mkstemp(prefix=".probe-", suffix=".html", dir=page.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(page.read_text(encoding="utf-8") + PROBE)
        done = chromium(binary, "--dump-dom", Path(probe_path).as_uri())
    finally:
        Path(probe_path).unlink(missing_ok=True)
    if done.returncode != 0 or "<html" not in done.stdout:
        raise RuntimeError(f"chromium could not load {page.name}: {done.stderr.strip().splitlines()[-1:]}")
    return done.stdout


def parse(text: str) -> Links:
    links = Links()
    links.feed(text)
    return links


def data_uri_problem(url: str) -> str | None:
    """None when a ``data:`` image URL carries image bytes, else the reason."""
    header, _, payload = url.partition(",")
    try:
        raw = base64.b64decode(payload) if header.endswith(";base64") else unquote(payload).encode()
    except ValueError:
        return "undecodable data: URI"
    return None if raw.lstrip()[:5].startswith(IMAGE_MAGIC) else "data: URI is not an image"


def url_problem(page: Path, tag: str, url: str, ids: dict[Path, set[str]]) -> str | None:
    """None when ``url`` (found on ``page``) resolves, else the reason; external URLs are not checked."""
    parts = urlsplit(url)
    if parts.scheme in ("http", "https", "mailto", "javascript"):
        return None
    if parts.scheme == "data":
        return data_uri_problem(url) if tag == "img" else None
    if not parts.path:
        target = page
    else:
        target = Path(unquote(parts.path)) if parts.scheme == "file" else (page.parent / unquote(parts.path))
        if not (target.is_file() and target.stat().st_size > 0):
            return f"missing file {parts.path}"
    if parts.fragment and target.suffix == ".html":
        key = target.resolve()
        if key not in ids:
            ids[key] = parse(target.read_text(encoding="utf-8")).ids
        if parts.fragment not in ids[key] and unquote(parts.fragment) not in ids[key]:
            return f"no element #{parts.fragment} in {target.name}"
    return None


def check_page(binary: str, page: Path, ids: dict[Path, set[str]]) -> tuple[list[str], int, int]:
    """(problems, number of images, number of external URLs) of one page."""
    dom = parse(live_dom(binary, page))
    ids[page.resolve()] = dom.ids
    problems = [f"broken image {src}" for src in _json_list(dom.root.get("data-physml-broken-images", "[]"))]
    if "data-physml-images" not in dom.root:
        problems.append("page did not finish loading (probe did not run)")
    external = 0
    for tag, _, url in dom.urls:
        external += urlsplit(url).scheme in ("http", "https")
        problem = url_problem(page, tag, url, ids)
        if problem:
            problems.append(f"<{tag}> {problem}")
    if "Traceback (most recent call last)" in page.read_text(encoding="utf-8"):
        problems.append("a cell raised (traceback in the page)")
    return problems, int(dom.root.get("data-physml-images", "0") or 0), external


def _json_list(text: str) -> list[str]:
    import json

    return list(json.loads(text or "[]"))


def screenshot(binary: str, page: Path, out: Path) -> Path:
    """Full-width screenshot of the top of ``page`` into ``out`` (a PNG, checked non-empty)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    done = chromium(binary, f"--screenshot={out}", "--window-size=1280,1800", page.as_uri())
    if done.returncode != 0 or not out.is_file() or out.stat().st_size == 0:
        raise RuntimeError(f"no screenshot of {page.name}")
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=REPO_ROOT / "results" / "tutorials")
    parser.add_argument("--chromium", default="chromium")
    args = parser.parse_args(argv)
    binary = shutil.which(args.chromium)
    pages = sorted(p for p in args.dir.rglob("*.html") if not p.name.startswith("."))
    if binary is None or not pages:
        why = f"no chromium binary {args.chromium!r}" if binary is None else f"no *.html under {args.dir}"
        print(f"check_tutorials_browser: {why}", file=sys.stderr)
        return 2
    failed, ids = 0, {}
    for page in pages:
        rel = page.relative_to(args.dir)
        try:
            problems, n_images, n_external = check_page(binary, page, ids)
            shot = screenshot(binary, page, args.dir / "screenshots" / ("-".join(rel.with_suffix("").parts) + ".png"))
        except (RuntimeError, subprocess.TimeoutExpired, OSError) as error:
            problems, n_images, n_external, shot = [str(error).splitlines()[0]], 0, 0, None
        failed += bool(problems)
        status = "FAIL " + "; ".join(problems[:5]) if problems else "ok"
        print(f"{rel}: {status} ({n_images} images, {n_external} external URLs not fetched) "
              f"screenshot {shot.relative_to(args.dir) if shot else '-'}")
    print(f"{len(pages) - failed}/{len(pages)} pages ok")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
