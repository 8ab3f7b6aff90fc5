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


def test_training_to_its_end_relabels_the_selector_finished(server, app_env):
    """Start a short training in the browser (the form filled from the URL, as a reload would
    keep it), wait for its end: the 'Watch run' selector says finished, not running."""
    import json
    import urllib.parse

    from playwright.sync_api import sync_playwright

    from glaucoma_core.store.run_store import RunStore
    from tests.app.helpers import wait_for

    ARTIFACTS.mkdir(exist_ok=True)
    store = RunStore(app_env)
    before = set(store.runs()["id"])
    memory = {"preset": "cpu-small", "set": {"epochs": 2, "input_size": 32, "batch_size": 32}}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 2000})
        page.goto(f"{server}/train?train_cfg={urllib.parse.quote(json.dumps(memory))}")
        settle(page)
        page.get_by_role("button", name="Start training").click()
        new = wait_for(lambda: set(store.runs()["id"]) - before, timeout=60, what="the new run")
        run_id = max(new)
        selector = page.get_by_role("combobox", name="Watch run")  # its value is the shown label
        wait_for(lambda: selector.input_value().startswith(f"run {run_id} "), timeout=60, what="the new run selected")
        labels_seen = {selector.input_value()}
        def ended():
            labels_seen.add(selector.input_value())
            return store.run(run_id)["status"] in ("finished", "failed", "cancelled")

        wait_for(ended, timeout=600, interval=2, what=f"run {run_id} to end")
        assert store.run(run_id)["status"] == "finished", store.run(run_id).get("error")
        assert store.run(run_id)["config"]["epochs"] == 2  # the form used the remembered values

        def says_finished():
            text = selector.input_value()
            labels_seen.add(text)
            return text.startswith(f"run {run_id} ") and text.endswith("finished")

        wait_for(says_finished, timeout=60, interval=1, what=f"the selector to say finished (saw {labels_seen})")
        assert any(label.endswith(("queued", "running")) for label in labels_seen)  # it was relabelled live
        settle(page)
        page.screenshot(path=str(ARTIFACTS / "train_finished.png"), full_page=True)
        assert not page.locator('[data-testid="stException"]').count()
        browser.close()
