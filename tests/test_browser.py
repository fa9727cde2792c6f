"""The pages of a run, opened in headless Chromium as a user would open them, offline.

The run's content is made by hand (tests/synthetic.py): known embeddings, labels and
predictions, with right and wrong predictions in every class. So the tests know exactly what
each page must draw, whatever a model would learn on this CPU, and check it in Plotly's own
`_fullData`, in the legend, and in a screenshot that is not blank.

Chromium is Debian's /usr/bin/chromium, driven by Playwright; `scripts/ensure_chromium.sh`
installs it (`make test` runs it first; the fixture below runs it too if the browser is
missing). The browser tests skip, saying why, only where it cannot be installed.
Screenshots are saved under test-artifacts/ (git-ignored) for a person to look at.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlparse

import pytest

from helpers import CHROMIUM, CHROMIUM_ARGS
from newsclf.report import figures
from synthetic import LABELS, SyntheticRun, expected_points, synthetic_run

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
LAUNCH_ARGS = [
    *CHROMIUM_ARGS,
    # WebGL on the CPU (SwiftShader), so Plotly's 3D scatter draws without a GPU.
    "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
]  # fmt: skip
PLOT_CANVAS = ".js-plotly-plot .gl-container canvas"
# Plotly's default colours of the first four classes, in LABELS order.
CLASS_COLOURS = ["#636efa", "#ef553b", "#00cc96", "#ab63fa"]


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> SyntheticRun:
    """A run named "visual" whose pages write_visuals drew from content made by hand."""
    run = synthetic_run(tmp_path_factory.mktemp("runs") / "visual")
    run.write_visuals()
    return run


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
        """Wait for the 3D plot, then report what Plotly holds and where the canvas is."""
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
                    title: gd._fullLayout.title.text,
                    traces: gd._fullData.map(t => ({
                        name: t.name, points: t._length, symbol: t.marker.symbol,
                        colour: String(t.marker.color).toLowerCase(), inLegend: t.showlegend,
                    })),
                    legend: Array.from(gd.querySelectorAll('.legend .traces .legendtext'))
                        .map(e => e.textContent),
                    noWebglMessage: document.body.innerText.includes('WebGL is not supported'),
                    box: [box.x, box.y, box.width, box.height],
                };
            }""",
            PLOT_CANVAS,
        )

    def close(self) -> None:
        self.context.close()


def marker_pixels(png: bytes, tolerance: int = 40) -> int:
    """Pixels close to any class colour: a scene drawn without its points has none."""
    import io

    import numpy as np
    from PIL import Image

    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    colours = [[int(c[i : i + 2], 16) for i in (1, 3, 5)] for c in CLASS_COLOURS]
    near = [np.abs(pixels - np.array(c)).max(axis=2) <= tolerance for c in colours]
    return int(np.logical_or.reduce(near).sum())


def assert_tsne_drawn(visit: PageVisit, state: dict, run: SyntheticRun) -> None:
    """What the 3D plot must show for the hand-made run, and a canvas that is not blank."""
    assert state["webgl"] and not state["noWebglMessage"], state
    counts = expected_points(run)
    wrong = sum(n for (_, correct), n in counts.items() if not correct)
    assert state["title"].startswith(figures.TSNE_TITLE)
    assert f"{sum(counts.values())} test texts" in state["title"]
    assert f"misclassified ({wrong})" in state["title"]
    # Per class, in LABELS order: its right predictions as circles (the class's legend entry),
    # then its mistakes as diamonds, both in the class's own colour.
    expected = [
        {"name": name, "points": counts[(name, correct)],
         "symbol": "circle" if correct else "diamond", "colour": colour, "inLegend": correct}
        for name, colour in zip(LABELS, CLASS_COLOURS, strict=True)
        for correct in (True, False)
    ]  # fmt: skip
    assert state["traces"] == expected
    assert state["legend"] == LABELS
    x, y, w, h = state["box"]
    shot = visit.page.screenshot(clip={"x": x, "y": y, "width": w, "height": h})
    assert marker_pixels(shot) >= 100, "the 3D scene shows no points"


def test_the_hand_made_run_has_right_and_wrong_points_in_every_class(run):
    counts = expected_points(run)
    assert all(counts.get((name, ok), 0) >= 2 for name in LABELS for ok in (True, False))


def test_tsne_page_draws_the_3d_plot_offline(browser, run):
    visit = PageVisit(browser, run.run_dir / "embeddings_tsne3d.html")
    try:
        state = visit.plot_state()
        ARTIFACTS.mkdir(exist_ok=True)
        visit.page.screenshot(path=str(ARTIFACTS / "embeddings_tsne3d.png"))
        assert_tsne_drawn(visit, state, run)
        visit.assert_clean()
    finally:
        visit.close()


def test_report_opens_offline_with_every_picture(browser, run, tmp_path):
    # Sent on its own, without the run directory: it must still show everything.
    page_path = Path(shutil.copy(run.run_dir / "report.html", tmp_path / "report.html"))
    visit = PageVisit(browser, page_path)
    try:
        state = visit.plot_state()
        ARTIFACTS.mkdir(exist_ok=True)
        visit.page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
        images = visit.page.evaluate(
            "() => Array.from(document.images).map(i => [i.alt, i.complete && i.naturalWidth])"
        )
        assert [alt for alt, _ in images] == [figures.PROGRESS_TITLE, figures.CONFUSION_TITLE]
        assert all(width > 300 for _, width in images), images
        assert visit.page.text_content("h1") == "Run report: visual"
        headings = visit.page.eval_on_selector_all("h2", "hs => hs.map(h => h.textContent)")
        # The calibration section always; the explained mistakes when the run has any.
        explained = run.run_dir / "explanations.json"
        why = explained.is_file() and bool(json.loads(explained.read_text()))
        assert "Calibration and answering only when sure" in headings
        assert headings[0] == "Transformer vs TF-IDF baseline" and len(headings) == 8 + why
        rows = visit.page.eval_on_selector_all(
            "#comparison tbody tr", "rs => rs.map(r => r.cells[0].textContent)"
        )
        assert len(rows) == 2 and rows[1].startswith("TF-IDF")
        classes = visit.page.eval_on_selector_all(
            "#test tbody tr", "rs => rs.map(r => r.cells[0].textContent)"
        )
        assert classes == LABELS
        samples = visit.page.eval_on_selector_all("#samples tbody tr", "rs => rs.length")
        assert samples == len(run.metrics["samples"])
        assert_tsne_drawn(visit, state, run)
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
