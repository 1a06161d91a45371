"""The page at / in a real browser: headless Chromium (Debian's `chromium`) driven by Playwright.

Playwright's own browser downloads are never used: the test launches the `chromium` found on PATH. Without it
(or without the playwright package) the test is skipped, unless TEXTRNN_REQUIRE_BROWSER=1 (as .ci/run sets),
which makes that a failure. Install it with `apt-get install chromium`.
"""

import os
import shutil
from pathlib import Path

import pytest

from serve_process import running_server
from textrnn.inference import classify_text, load

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
