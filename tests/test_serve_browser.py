"""The page at `/` of `newsclf serve`, used in headless Chromium as a person would use it.

Whatever the tiny test model predicts, the page must show the label that /predict gives for the
same text, one bar per class whose width is its probability, and clear messages when the text
is empty or the server fails. Chromium is Debian's /usr/bin/chromium driven by Playwright
(`scripts/ensure_chromium.sh` installs it). Screenshots go to test-artifacts/ (git-ignored).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest

from helpers import CHROMIUM, CHROMIUM_ARGS
from newsclf import Classifier
from newsclf.serve.app import create_app
from newsclf.serve.options import ServeOptions
from serve_helpers import LiveServer, build_tag_model

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
HEADLINE = "Federer beats Roddick to win his fifth straight Wimbledon title"


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        subprocess.run(["bash", str(ROOT / "scripts" / "ensure_chromium.sh")], timeout=900)
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing and could not be installed: apt-get install chromium")
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[dev]'")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def served(tiny_run):
    model_dir = tiny_run.run_dir / "best_model"
    app = create_app(Classifier.from_pretrained(model_dir), model_dir, ServeOptions())
    with LiveServer(app) as url:
        yield url


@pytest.fixture
def page(browser, served):
    """A fresh page on the server's `/`; anything not on 127.0.0.1 is blocked and recorded."""
    context = browser.new_context(viewport={"width": 1000, "height": 800})
    outside: list[str] = []
    errors: list[str] = []

    def route(r):
        if urlparse(r.request.url).hostname == "127.0.0.1":
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(served + "/", wait_until="load")
    yield page
    context.close()
    assert outside == [], f"the page reached outside the machine: {outside}"
    assert errors == [], errors


def shown_bars(page) -> list[dict]:
    return page.eval_on_selector_all(
        "#bars .bar-row",
        """rows => rows.map(r => ({
            label: r.dataset.label,
            p: Number(r.dataset.probability),
            name: r.querySelector('.name').textContent,
            fill: r.querySelector('.bar').getBoundingClientRect().width
                  / r.querySelector('.track').getBoundingClientRect().width,
        }))""",
    )


def test_type_a_headline_click_classify_see_the_label_and_a_bar_per_class(page, served):
    page.fill("#text", HEADLINE)
    page.click("#classify")
    page.wait_for_selector("#result:not([hidden])", timeout=30_000)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "serve_page.png"), full_page=True)

    expected = httpx.post(f"{served}/predict", json={"text": HEADLINE}).json()
    assert page.text_content("#label") == expected["label"]
    bars = shown_bars(page)
    labels = httpx.get(f"{served}/labels").json()
    assert [b["label"] for b in bars] == [b["name"] for b in bars] == labels
    assert len(bars) == 4
    for bar in bars:
        assert bar["p"] == pytest.approx(expected["probabilities"][bar["label"]], abs=1e-6)
        assert bar["fill"] == pytest.approx(bar["p"], abs=0.01)
    assert page.text_content("#message") == ""


def test_an_example_article_is_classified_when_clicked(page, served):
    page.click("#examples button:has-text('Business')")
    page.wait_for_selector("#result:not([hidden])", timeout=30_000)
    text = page.input_value("#text")
    assert "Oil prices" in text
    expected = httpx.post(f"{served}/predict", json={"text": text}).json()
    assert page.text_content("#label") == expected["label"]
    assert len(shown_bars(page)) == 4


def test_explain_button_sends_one_request_and_highlights_its_words(page, served):
    """The button asks POST /explain for the text in the box (Classify never does), and the
    page shows every word of the answer, in order, shaded by the sign of its score."""
    sent = []
    page.on("request", lambda r: r.url.endswith("/explain") and sent.append(r.post_data_json))
    page.fill("#text", HEADLINE)
    page.click("#classify")
    page.wait_for_selector("#result:not([hidden])", timeout=30_000)
    assert sent == [] and page.is_hidden("#words")
    page.click("#explain")
    page.wait_for_selector("#words:not([hidden])", timeout=60_000)
    assert sent == [{"text": HEADLINE}]
    expected = httpx.post(f"{served}/explain", json={"text": HEADLINE}, timeout=60).json()
    shown = page.eval_on_selector_all(
        "#highlighted .word",
        "spans => spans.map(s => [s.textContent, Number(s.dataset.score), s.style.background])",
    )
    assert [w for w, _, _ in shown] == [w["word"] for w in expected["words"]]
    for (_, score, background), want in zip(shown, expected["words"], strict=True):
        assert score == pytest.approx(want["score"], abs=1e-6)
        assert background.startswith("rgba(26, 127, 55" if score >= 0 else "rgba(207, 34, 46")
    assert expected["label"] in page.text_content("#words-kind")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "serve_explain.png"), full_page=True)


def test_an_empty_text_gets_a_clear_message_and_no_request(page):
    sent = []
    page.on("request", lambda r: r.url.endswith("/predict") and sent.append(r.url))
    page.fill("#text", "   ")
    page.click("#classify")
    assert "box is empty" in page.text_content("#message")
    assert page.get_attribute("#message", "class") == "error"
    assert page.is_hidden("#result") and sent == []


def test_a_server_error_is_shown_as_such(page):
    page.route(
        "**/predict",
        lambda r: r.fulfill(status=503, content_type="application/json",
                            body='{"detail": "server busy: try again"}'),
    )  # fmt: skip
    page.fill("#text", HEADLINE)
    page.click("#classify")
    page.wait_for_selector("#message.error", timeout=30_000)
    message = page.text_content("#message")
    assert "HTTP 503" in message and "server busy: try again" in message
    assert page.is_hidden("#result")
    assert page.is_enabled("#classify")


def test_the_api_docs_render_offline(browser, served):
    context = browser.new_context()
    outside: list[str] = []
    context.route(
        "**/*",
        lambda r: (
            r.continue_()
            if urlparse(r.request.url).hostname == "127.0.0.1"
            else (outside.append(r.request.url), r.abort())
        ),
    )
    page = context.new_page()
    page.goto(served + "/docs", wait_until="load")
    page.wait_for_selector("text=/predict", timeout=30_000)
    context.close()
    assert outside == []


def test_a_multi_label_model_shows_every_tag_at_or_above_its_threshold(
    browser, tiny_bert_dir, tmp_path
):
    """Sports' threshold is 0 (always shown), World's 1.01 (never): the page's tags and the
    highlighted bars are /predict's `labels`."""
    thresholds = {"World": 1.01, "Sports": 0.0, "Business": 0.5, "Sci/Tech": 0.3}
    model_dir = build_tag_model(tiny_bert_dir, tmp_path / "tags", thresholds)
    app = create_app(Classifier.from_pretrained(model_dir), model_dir, ServeOptions())
    with LiveServer(app) as url:
        page = browser.new_context().new_page()
        page.goto(url + "/", wait_until="load")
        page.fill("#text", HEADLINE)
        page.click("#classify")
        page.wait_for_selector("#result:not([hidden])", timeout=30_000)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "serve_page_tags.png"), full_page=True)
        expected = httpx.post(f"{url}/predict", json={"text": HEADLINE}).json()
        top = page.eval_on_selector_all(
            "#bars .bar-row.top", "rows => rows.map(r => r.dataset.label)"
        )
        kind = page.text_content("#kind")
        shown = page.text_content("#label")
        page.context.close()
    assert "Sports" in expected["labels"] and "World" not in expected["labels"]
    assert kind.startswith("Predicted tags")
    assert shown == ", ".join(expected["labels"])
    assert top == expected["labels"]


def test_the_page_asks_for_the_key_once_and_says_not_sure(browser, tiny_run):
    """A keyed server that abstains below 1.0: the page asks for the key, a wrong one is asked
    again, the right one is kept for the tab, and the answer reads "(not sure)" with its bars."""
    key = "page-key-5d1e"
    model_dir = tiny_run.run_dir / "best_model"
    options = ServeOptions(api_key=key, min_confidence=1.0)
    app = create_app(Classifier.from_pretrained(model_dir), model_dir, options)
    with LiveServer(app) as url:
        page = browser.new_context().new_page()
        page.goto(url + "/", wait_until="load")
        page.wait_for_selector("#keyrow:not([hidden])", timeout=30_000)
        assert key not in page.content()
        page.fill("#key", "wrong")
        page.click("#usekey")
        page.fill("#text", HEADLINE)
        page.click("#classify")
        page.wait_for_selector("#keyrow:not([hidden])", timeout=30_000)
        refused = page.text_content("#message")
        page.fill("#key", key)
        page.press("#key", "Enter")
        for _ in range(2):  # the key is asked once, then sent with every request
            page.click("#classify")
            page.wait_for_selector("#result:not([hidden])", timeout=30_000)
            assert page.is_hidden("#keyrow")
        label, kind = page.text_content("#label"), page.text_content("#kind")
        bars = len(shown_bars(page))
        page.context.close()
    assert "needs its API key" in refused
    assert label == "(not sure)" and kind.startswith("Not sure")
    assert bars == 4  # the probabilities are still shown
