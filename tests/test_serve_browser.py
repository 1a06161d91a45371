"""The page at / in a real browser: headless Chromium (Debian's `chromium`) driven by Playwright.

Playwright's own browser downloads are never used: the test launches the `chromium` found on PATH. Without it
(or without the playwright package) the test is skipped, unless TEXTRNN_REQUIRE_BROWSER=1 (as .ci/run sets),
which makes that a failure. Install it with `apt-get install chromium`.
"""

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from serve_process import multi_label_model, onnx_export, running_server, server_in_thread
from textrnn.inference import classify_text, load
from textrnn.serve import ServeSettings, create_app

pytestmark = pytest.mark.slow  # a real server and a headless browser

ARTIFACTS = Path(__file__).parent / "artifacts"


def browser_or_skip() -> str:
    missing = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing = "the playwright package is not installed (pip install -e '.[test]')"
    chromium = shutil.which("chromium")
    if chromium is None:
        missing = missing or "no chromium on PATH (apt-get install chromium)"
    if missing and os.environ.get("TEXTRNN_REQUIRE_BROWSER") == "1":
        pytest.fail(f"TEXTRNN_REQUIRE_BROWSER=1 but {missing}")
    if missing:
        pytest.skip(missing)
    return chromium


def test_page_shows_the_label_scores_and_highlighted_tokens(trained_run, tmp_path):
    chromium = browser_or_skip()
    from playwright.sync_api import expect, sync_playwright

    classifier = load(trained_run)
    text = "The acting was wonderful and the music charming, the plot a little tedious."
    expected = classify_text(text, classifier, top_k=None)
    with running_server(trained_run, log_path=tmp_path / "serve.log") as (_, url), sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 720})
            page.set_default_timeout(60_000)  # generous: a loaded 2-core machine, and /explain's first call
            expect.set_options(timeout=60_000)
            outside = []
            page.on("request", lambda request: None if request.url.startswith(url) else outside.append(request.url))
            page.goto(url + "/")
            expect(page.locator("#model-info")).to_contain_text(", ".join(classifier.labels))
            page.fill("#text", text)
            page.click("#classify")
            expect(page.locator("#predicted-label")).to_have_text(expected[0]["label"])
            expect(page.locator("#explanation")).to_be_visible()
            bars = page.locator(".bar-row")
            expect(bars).to_have_count(len(classifier.labels))
            for row, result in zip(bars.all(), expected):
                expect(row.locator(".bar-name")).to_have_text(result["label"])
                assert float(row.locator(".bar-score").inner_text()) == pytest.approx(result["score"], abs=1e-3)
            tokens = page.locator("#tokens span.token")
            assert tokens.count() > 5
            assert page.locator("#tokens").inner_text() == text  # offsets put every character back in its place
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "serve_page.png"), full_page=True)
            assert outside == []
        finally:
            browser.close()


def open_browser(playwright, chromium: str):
    """Headless Chromium; its tests' pages wait generously (a loaded 2-core machine, /explain's first call)."""
    from playwright.sync_api import expect

    expect.set_options(timeout=60_000)
    return playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])


def offline_page(browser, url: str):
    """A page that can reach this server only, as if offline, and the list of what it tried to fetch elsewhere
    (a request the server's Content-Security-Policy blocks never gets here: it never leaves the browser)."""
    context = browser.new_context(viewport={"width": 1000, "height": 720})
    outside = []

    def only_this_server(route):
        if route.request.url.startswith(url + "/"):
            return route.continue_()
        outside.append(route.request.url)
        return route.abort("internetdisconnected")

    context.route("**/*", only_this_server)
    page = context.new_page()
    page.set_default_timeout(60_000)
    return page, outside


def classify_in_page(page, url: str, text: str) -> None:
    from playwright.sync_api import expect

    page.goto(url + "/")
    expect(page.locator("#model-info")).to_contain_text("labels")
    page.fill("#text", text)
    page.click("#classify")
    expect(page.locator("#explanation")).to_be_visible()


def test_an_exported_model_is_explained_in_the_page_by_occlusion(trained_run, tmp_path_factory):
    chromium = browser_or_skip()
    from playwright.sync_api import expect, sync_playwright

    settings = ServeSettings()
    app = create_app(load(onnx_export(tmp_path_factory, trained_run)), settings)
    with server_in_thread(app, settings) as port, sync_playwright() as playwright:
        browser = open_browser(playwright, chromium)
        try:
            url = f"http://127.0.0.1:{port}"
            page, outside = offline_page(browser, url)
            classify_in_page(page, url, "a charming film with a tedious ending")
            expect(page.locator("#explanation-about")).to_contain_text("occlusion")
            expect(page.locator("#status")).to_have_text("")  # no red error
            assert page.locator("#tokens span.token").count() > 3 and outside == []
        finally:
            browser.close()


def test_a_multi_label_models_thresholds_are_shown_and_decide_the_bold_labels(tmp_path_factory):
    chromium = browser_or_skip()
    from playwright.sync_api import expect, sync_playwright

    classifier = load(multi_label_model(tmp_path_factory))
    text = "a wonderful film, the story was really very charming and the music brilliant at times"
    scores = classifier.predict_proba([text])[0]
    best, second = np.argsort(-scores)[:2]
    # thresholds that make the best label fail and the second pass: bold must follow them, not the ranking
    thresholds = np.full(len(scores), 0.5, dtype=np.float32)
    thresholds[best] = (scores[best] + 1) / 2
    thresholds[second] = scores[second] / 2
    classifier.task.thresholds = thresholds
    settings = ServeSettings()
    with server_in_thread(create_app(classifier, settings), settings) as port, sync_playwright() as playwright:
        browser = open_browser(playwright, chromium)
        try:
            url = f"http://127.0.0.1:{port}"
            page, outside = offline_page(browser, url)
            classify_in_page(page, url, text)
            rows = page.locator(".bar-row")
            expect(rows).to_have_count(len(classifier.labels))
            shown = {}
            for row in rows.all():
                label = row.locator(".bar-name").inner_text()
                index = classifier.labels.index(label)
                expect(row.locator(".bar-threshold-value")).to_have_text(f"≥ {thresholds[index]:.3f}")
                assert row.locator(".bar-threshold").count() == 1  # the mark on the bar
                chosen = "chosen" in row.locator(".bar-name").get_attribute("class")
                shown[label] = float(row.locator(".bar-score").inner_text())
                assert chosen == bool(scores[index] >= thresholds[index]), label
            assert list(shown) == [classifier.labels[i] for i in np.argsort(-scores)]  # best first
            assert "chosen" not in rows.nth(0).locator(".bar-name").get_attribute("class")
            assert "chosen" in rows.nth(1).locator(".bar-name").get_attribute("class")
            expect(page.locator("#threshold-note")).to_be_visible()
            # the label explained is the predicted one, not the best score that fails its threshold
            expect(page.locator("#explanation-about")).to_contain_text(f"label {classifier.labels[second]},")
            page.screenshot(path=str(ARTIFACTS / "serve_page_multi_label.png"), full_page=True)
            assert outside == []
        finally:
            browser.close()


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_the_docs_render_offline(trained_run, path):
    chromium = browser_or_skip()
    from playwright.sync_api import sync_playwright

    settings = ServeSettings()
    with server_in_thread(create_app(load(trained_run), settings), settings) as port, \
            sync_playwright() as playwright:
        browser = open_browser(playwright, chromium)
        try:
            url = f"http://127.0.0.1:{port}"
            page, outside = offline_page(browser, url)
            page.goto(url + path)
            # Swagger UI and ReDoc draw the routes with a script (Swagger UI breaks paths with zero-width
            # spaces); the page without them lists the routes itself
            page.wait_for_function("""() => { const text = document.body.innerText.replace(/\\u200b/g, "");
                                              return ["/predict", "/explain", "/info"].every((route) =>
                                                  text.includes(route)); }""")
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / f"serve{path.replace('/', '_')}.png"))
            assert outside == []
        finally:
            browser.close()
