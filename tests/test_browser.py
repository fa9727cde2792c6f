"""The pages of a real run, opened in headless Chromium as a user would open them, offline.

Chromium is Debian's /usr/bin/chromium, driven by Playwright; `scripts/ensure_chromium.sh`
installs it (`make test` runs it first; the fixture below runs it too if the browser is
missing). The browser tests skip, saying why, only where it cannot be installed.
Screenshots are saved under test-artifacts/ (git-ignored) for a person to look at.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlparse

import pytest

from helpers import tiny_config
from newsclf import visualize

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
LAUNCH_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    # No background calls home: this machine's network is closed, and a page must not need one.
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    # WebGL on the CPU (SwiftShader), so Plotly's 3D scatter draws without a GPU.
    "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
]  # fmt: skip
PLOT_CANVAS = ".js-plotly-plot .gl-container canvas"
# Plotly's default colours of the first four classes.
CLASS_COLOURS = [(0x63, 0x6E, 0xFA), (0xEF, 0x55, 0x3B), (0x00, 0xCC, 0x96), (0xAB, 0x63, 0xFA)]
VISUAL_FILES = [
    "training_progress.png", "confusion_matrix.png", "embeddings_tsne3d.html",
    "embeddings_tsne3d.csv", "baseline_metrics.json", "report.html",
]  # fmt: skip


@pytest.fixture(scope="module")
def visual_run(tiny_bert_dir, tmp_path_factory) -> Path:
    """A tiny real training run with visuals on: train itself calls write_visuals."""
    from newsclf import train

    cfg = tiny_config(
        tiny_bert_dir, tmp_path_factory.mktemp("runs"), name="visual", epochs=2, visuals=True,
        max_train_samples=96, max_eval_samples=32, max_test_samples=64,
    )  # fmt: skip
    return train(cfg).run_dir


def test_training_with_visuals_writes_the_pictures_and_the_report(visual_run):
    for name in VISUAL_FILES:
        assert (visual_run / name).is_file(), name
    assert (visual_run / "embeddings_tsne3d.csv").read_text().count("\n") == 64 + 1


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        subprocess.run(["bash", str(ROOT / "scripts" / "ensure_chromium.sh")], timeout=900)
    if not CHROMIUM.exists():
        pytest.skip(
            f"{CHROMIUM} is missing and scripts/ensure_chromium.sh could not install it "
            "(it needs root and apt-get): apt-get install chromium"
        )
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[dev]'")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield browser
        browser.close()


def is_local(url: str) -> bool:
    parsed = urlparse(url)
    return parsed.scheme in ("file", "data", "blob", "about") or parsed.hostname in (
        "localhost", "127.0.0.1",
    )  # fmt: skip


class PageVisit:
    """Open a file in a fresh context, blocking and recording anything that is not local."""

    def __init__(self, browser, path: Path, height: int = 900) -> None:
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.context = browser.new_context(viewport={"width": 1280, "height": height})
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        self.page.goto(path.as_uri(), wait_until="load")

    def _route(self, route) -> None:
        if is_local(route.request.url):
            route.continue_()
        else:
            route.abort()

    def assert_clean(self) -> None:
        assert self.errors == [], self.errors
        leaving = [u for u in self.requests if not is_local(u)]
        assert leaving == [], f"requests leaving the machine: {leaving}"

    def plot_state(self) -> dict:
        """Wait for the 3D plot, then report what the browser drew."""
        self.page.wait_for_selector(PLOT_CANVAS, timeout=30_000)
        self.page.wait_for_timeout(500)  # let the first WebGL frame land
        return self.page.evaluate(
            """(selector) => {
                const canvas = document.querySelector(selector);
                const gd = canvas.closest('.js-plotly-plot');
                canvas.scrollIntoView();
                const box = canvas.getBoundingClientRect();
                return {
                    webgl: !!(canvas.getContext('webgl') || canvas.getContext('webgl2')),
                    title: gd.layout.title.text,
                    traces: gd.data.map(t => [t.name, t.x.length, t.marker.symbol]),
                    noWebglMessage: document.body.innerText.includes('WebGL is not supported'),
                    box: [box.x, box.y, box.width, box.height],
                };
            }""",
            PLOT_CANVAS,
        )

    def close(self) -> None:
        self.context.close()


def colour_pixels(png: bytes, colour: tuple[int, int, int], tolerance: int = 40) -> int:
    import io

    import numpy as np
    from PIL import Image

    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    return int((np.abs(pixels - np.array(colour)).max(axis=2) <= tolerance).sum())


def assert_points_drawn(visit: PageVisit, state: dict) -> None:
    """The WebGL canvas holds marker pixels of every class colour (a blank scene has none)."""
    x, y, w, h = state["box"]
    shot = visit.page.screenshot(clip={"x": x, "y": y, "width": w, "height": h})
    classes = len({name for name, *_ in state["traces"]})
    counts = [colour_pixels(shot, c) for c in CLASS_COLOURS[:classes]]
    assert min(counts) >= 10, counts


def test_tsne_page_draws_the_3d_plot_offline(browser, visual_run):
    visit = PageVisit(browser, visual_run / "embeddings_tsne3d.html")
    try:
        state = visit.plot_state()
        ARTIFACTS.mkdir(exist_ok=True)
        visit.page.screenshot(path=str(ARTIFACTS / "embeddings_tsne3d.png"))
        assert state["webgl"] and not state["noWebglMessage"], state
        assert state["title"].startswith("3D t-SNE Visualization of Embeddings")
        assert sum(n for _, n, _ in state["traces"]) == 64
        assert {name for name, *_ in state["traces"]} == {"World", "Sports", "Business", "Sci/Tech"}
        assert_points_drawn(visit, state)
        visit.assert_clean()
    finally:
        visit.close()


def test_report_opens_offline_with_every_picture(browser, visual_run, tmp_path):
    # Sent on its own, without the run directory: it must still show everything.
    page_path = Path(shutil.copy(visual_run / "report.html", tmp_path / "report.html"))
    visit = PageVisit(browser, page_path)
    try:
        state = visit.plot_state()
        ARTIFACTS.mkdir(exist_ok=True)
        visit.page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
        images = visit.page.evaluate(
            "() => Array.from(document.images).map(i => [i.alt, i.complete && i.naturalWidth])"
        )
        assert [alt for alt, _ in images] == [visualize.PROGRESS_TITLE, visualize.CONFUSION_TITLE]
        assert all(width > 300 for _, width in images), images
        assert visit.page.text_content("h1") == "Run report: visual"
        headings = visit.page.eval_on_selector_all("h2", "hs => hs.map(h => h.textContent)")
        assert headings[0] == "Transformer vs TF-IDF baseline" and len(headings) == 7
        rows = visit.page.eval_on_selector_all(
            "#comparison tbody tr", "rs => rs.map(r => r.cells[0].textContent)"
        )
        assert len(rows) == 2 and rows[1].startswith("TF-IDF")
        assert state["webgl"] and not state["noWebglMessage"]
        assert_points_drawn(visit, state)
        visit.assert_clean()
    finally:
        visit.close()


def test_a_page_that_reaches_out_is_caught(browser, tmp_path):
    """The guard itself works: a page loading a CDN script is flagged, and the load is blocked."""
    page = tmp_path / "cdn.html"
    page.write_text('<html><script src="https://cdn.example.org/x.js"></script></html>')
    visit = PageVisit(browser, page)
    try:
        with pytest.raises(AssertionError):
            visit.assert_clean()
        assert any("cdn.example.org" in u for u in visit.requests)
    finally:
        visit.close()
