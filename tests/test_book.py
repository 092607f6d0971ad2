"""The built book, opened in a real browser: every page of ``_toc.yml`` loads, shows its images,
notebook pages carry at least one figure, no notebook output is an error, and the results page
shows Table 1.

The book is built once per test session with ``jupyter-book build . --path-output <tmp>`` in the
smoke profile (the notebooks execute; they reuse or recompute the smoke artifacts through
``invdes.study.pipeline.reproduce``), served by a local ``http.server`` on 127.0.0.1 and opened in
headless Chromium through playwright's Python API.

Needs the Debian packages ``chromium`` (``/usr/bin/chromium``) and ``chromium-driver`` and the
Python package ``playwright`` (the dev extra). Missing either makes the tests FAIL with what to
install, because CI installs them; ``INVDES_SKIP_BROWSER=1`` skips the whole file instead.
``INVDES_CHROMIUM`` names another Chromium binary. ``INVDES_BOOK_TOC`` builds with another
table of contents (development only, e.g. while chapters are missing); the pages checked are
then that file's pages. Screenshots of every page land in the session's temporary folder
(``book-screenshots/``), for debugging only.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path(os.environ.get("INVDES_CHROMIUM", "/usr/bin/chromium"))
TOC = Path(os.environ.get("INVDES_BOOK_TOC", ROOT / "_toc.yml"))
RESULTS_PAGE = "notebooks/07_results"
RESULTS_TARGET = "0.55"
BUILD_TIMEOUT_S = 3600
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
INSTALL_HINT = (
    "the book test needs headless Chromium and playwright's Python API: as root run "
    "`apt-get install -y --no-install-recommends chromium chromium-driver fonts-dejavu-core` "
    "(or `.ci/run`, which does it), and `.venv/bin/pip install -e '.[dev]'` for playwright "
    "(do not run `playwright install`); set INVDES_SKIP_BROWSER=1 to skip these tests"
)

pytestmark = pytest.mark.slow


def _toc_pages(path: Path) -> list[str]:
    """Every page of a jb-book table of contents, in order (the root first)."""
    toc = yaml.safe_load(path.read_text())

    def walk(entries) -> list[str]:
        out = []
        for entry in entries or []:
            if "file" in entry:
                out.append(entry["file"])
            for key in ("chapters", "sections", "parts"):
                out += walk(entry.get(key))
        return out

    return [toc["root"]] + walk(toc.get("parts")) + walk(toc.get("chapters"))


PAGES = _toc_pages(TOC)


def _is_notebook(page: str) -> bool:
    return (ROOT / f"{page}.ipynb").exists()


def _build_error_summary(log: str, limit: int = 4000) -> str:
    """The informative part of a failed build's log: the failing notebook cell and its error
    when a notebook raised (nbclient's message), else the log's tail."""
    ansi = re.compile(r"\x1b\[[0-9;]*m")
    log = ansi.sub("", log)
    start = log.find("An error occurred while executing the following cell")
    if start >= 0:
        notebook = re.search(r"ExecutionError: (\S+\.ipynb)", log)
        head = f"notebook {notebook.group(1)}: " if notebook else ""
        return head + log[start:start + limit]
    return log[-limit:]


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def _browser_available() -> None:
    """Skip on INVDES_SKIP_BROWSER=1; otherwise fail early (before the build) if anything the
    browser needs is missing."""
    if os.environ.get("INVDES_SKIP_BROWSER") == "1":
        pytest.skip("INVDES_SKIP_BROWSER=1: the built book is not opened in a browser")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.fail(f"python package playwright is not installed; {INSTALL_HINT}", pytrace=False)
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(f"no Chromium executable at {CHROMIUM}; {INSTALL_HINT}", pytrace=False)


@pytest.fixture(scope="session")
def book_html(_browser_available, tmp_path_factory) -> Path:
    """Build the book once (smoke profile) into a temporary folder; its ``_build/html``."""
    missing = [p for p in PAGES
               if not any((ROOT / f"{p}{ext}").exists() for ext in (".md", ".ipynb"))]
    if missing:
        pytest.fail(f"{TOC.name} lists pages that do not exist, so the book cannot be built: "
                    f"{missing}", pytrace=False)
    exe = Path(sys.executable).parent / "jupyter-book"
    out = tmp_path_factory.mktemp("book")
    command = [str(exe) if exe.exists() else (shutil.which("jupyter-book") or "jupyter-book"),
               "build", ".", "--path-output", str(out)]
    if TOC != ROOT / "_toc.yml":
        command += ["--toc", str(TOC)]
    env = dict(os.environ, INVDES_PROFILE="smoke")
    # A non-interactive MPLBACKEND (CI exports Agg) would stop the kernels from showing figures
    env.pop("MPLBACKEND", None)
    t0 = time.perf_counter()
    proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=BUILD_TIMEOUT_S)
    log = out / "build.log"
    log.write_text(proc.stdout + "\n--- stderr ---\n" + proc.stderr)
    html = out / "_build" / "html"
    if proc.returncode != 0 or not (html / "index.html").exists():
        pytest.fail(f"jupyter-book build failed (exit {proc.returncode}; full log {log}):\n"
                    f"{_build_error_summary(proc.stdout + proc.stderr)}", pytrace=False)
    print(f"book built in {time.perf_counter() - t0:.0f} s into {html}")
    return html


@pytest.fixture(scope="session")
def server(book_html: Path):
    """Base URL of a local HTTP server over the built HTML (127.0.0.1, a free port)."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:  # keep the test output clean
            pass

    handler = functools.partial(Quiet, directory=str(book_html))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser_context(_browser_available, tmp_path_factory):
    """A headless Chromium context with a fresh user-data-dir (module scope: its sync
    Playwright loop must be gone before another module, e.g. the JupyterLab test, starts one)."""
    from playwright.sync_api import Error, sync_playwright

    profile_dir = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as pw:
        try:
            context = pw.chromium.launch_persistent_context(
                str(profile_dir), executable_path=str(CHROMIUM), headless=True,
                args=CHROMIUM_ARGS, viewport={"width": 1280, "height": 900})
        except Error as exc:
            pytest.fail(f"cannot start {CHROMIUM}: {exc}; {INSTALL_HINT}", pytrace=False)
        # nothing but the local server: a page that reaches out would fail here, not hang
        context.route(re.compile(r"^(?!http://127\.0\.0\.1[:/]).*"), lambda route: route.abort())
        yield context
        context.close()


@pytest.fixture(scope="session")
def screenshot_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("book-screenshots")


@pytest.fixture(scope="module")
def opened(browser_context, server, book_html, screenshot_dir):
    """``opened(page_name) -> (playwright page, HTTP status)``: each page opened once."""
    cache = {}

    def open_page(name: str):
        if name not in cache:
            page = browser_context.new_page()
            response = page.goto(f"{server}/{name}.html", wait_until="load")
            status = response.status if response is not None else None
            _load_images(page)
            page.screenshot(path=str(screenshot_dir / (name.replace("/", "__") + ".png")),
                            full_page=True)
            cache[name] = (page, status)
        return cache[name]

    yield open_page
    for page, _ in cache.values():
        page.close()


MAIN = "main#main-content article, main article, article[role=main], main"

_LOAD_IMAGES_JS = """async (sel) => {
    const main = document.querySelector(sel);
    if (!main) return;
    const imgs = Array.from(main.querySelectorAll('img'));
    for (const img of imgs) { img.loading = 'eager'; }
    await Promise.all(imgs.map(img => img.decode().catch(() => null)));
}"""


def _load_images(page) -> None:
    """Make lazy images load and wait until every image of the main content is decoded."""
    page.evaluate(_LOAD_IMAGES_JS, MAIN)


def _main(page):
    main = page.locator(MAIN).first
    assert main.count() == 1, f"{page.url}: no main content element ({MAIN})"
    return main


# ----------------------------------------------------------------------------- tests


@pytest.mark.parametrize("name", PAGES)
def test_page_loads_with_content(opened, name):
    page, status = opened(name)
    assert status == 200, f"{name}.html: HTTP status {status}"
    text = _main(page).inner_text().strip()
    assert len(text) > 50, f"{name}.html: the main content is (almost) empty: {text!r}"


@pytest.mark.parametrize("name", PAGES)
def test_images_render(opened, name):
    page, _ = opened(name)
    images = _main(page).locator("img").evaluate_all(
        "imgs => imgs.map(i => ({src: i.getAttribute('src'), w: i.naturalWidth}))")
    broken = [im["src"] for im in images if not im["w"]]
    assert not broken, f"{name}.html: images that do not render (naturalWidth 0): {broken}"


@pytest.mark.parametrize("name", [p for p in PAGES if _is_notebook(p)])
def test_notebook_has_a_figure(opened, name):
    page, _ = opened(name)
    main = _main(page)
    figures = main.locator(".cell_output img").count()  # (svg there: copy-button icons)
    assert figures >= 1, f"{name}.html: no figure among the notebook's outputs"


@pytest.mark.parametrize("name", [p for p in PAGES if _is_notebook(p)])
def test_no_error_output(opened, name):
    page, _ = opened(name)
    main = _main(page)
    errors = main.locator('[class*="output"][class*="error"], [class*="output"].traceback, '
                          '.output.traceback')
    assert errors.count() == 0, (f"{name}.html shows an error output: "
                                 f"{errors.first.inner_text()[:500]}")
    outputs = main.locator(".cell_output").all_inner_texts()
    with_tb = [o for o in outputs if "Traceback" in o]
    assert not with_tb, f"{name}.html: an output shows a traceback: {with_tb[0][:500]}"


def test_results_page_shows_table1(opened):
    if RESULTS_PAGE not in PAGES or not (ROOT / f"{RESULTS_PAGE}.ipynb").exists():
        pytest.skip(f"{RESULTS_PAGE} is not (yet) in {TOC.name} or does not exist: "
                    "the Table 1 check waits for it")
    page, _ = opened(RESULTS_PAGE)
    tables = _main(page).locator("table").all_inner_texts()
    assert tables, f"{RESULTS_PAGE}.html has no table"
    hits = [t for t in tables
            if RESULTS_TARGET in t and ("Table 1" in t or re.search(r"\bmin\b", t))]
    assert hits, (f"{RESULTS_PAGE}.html: no table mentions 'Table 1' or a 'min' column together "
                  f"with the target {RESULTS_TARGET}; tables found: "
                  f"{[t[:200] for t in tables]}")
