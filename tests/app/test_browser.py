"""End to end in a real headless browser: `streamlit run` on 127.0.0.1, every page, screenshots.

Screenshots go to ``test-artifacts/`` (git-ignored) for a person to look at.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.app.helpers import (
    CHROMIUM,
    CHROMIUM_ARGS,
    PAGES,
    REPO,
    URL_PATHS,
    free_port,
    settle,
    start_server,
    stop_server,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is missing (apt-get install chromium)"),
]

ARTIFACTS = REPO / "test-artifacts"


@pytest.fixture
def server(app_env, tmp_path):
    port = free_port()
    process = start_server(app_env, port, tmp_path / "streamlit.log")
    yield f"http://127.0.0.1:{port}"
    stop_server(process)


def test_every_page_in_chromium(server, app_env):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    failures = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 2200})
        for name in PAGES:
            page.goto(f"{server}/{URL_PATHS[name]}")
            settle(page)
            if name == "classify":
                demo = Path(app_env) / "demo-data" / "fold_01" / "test" / "abnormal"
                page.set_input_files('input[type="file"]', str(sorted(demo.iterdir())[0]))
                page.get_by_text("P(glaucoma)").first.wait_for(timeout=120_000)
                settle(page)
            page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
            exceptions = page.locator('[data-testid="stException"]')
            if exceptions.count():
                failures.append(f"{name}: {exceptions.first.inner_text()[:500]}")
            assert page.locator("h1").first.inner_text().strip(), f"{name}: no title"
        browser.close()
    assert not failures, failures
