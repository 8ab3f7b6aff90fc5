"""The Streamlit server is killed and restarted while two trainings it started are running.

Both jobs must survive (they run in their own sessions), finish, and be visible with their
curves in the restarted app; a page opened while they still run must follow them live.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from glaucoma_core.store.liveness import pid_alive
from tests.app.helpers import CHROMIUM, CHROMIUM_ARGS, free_port, settle, start_server, stop_server, wait_for

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is missing (apt-get install chromium)"),
]

# Enough epochs (~0.25 s each here) that the first job is still training when the second one
# starts a few seconds of clicks later: with 6, job 1 finished before job 2 ran.
EPOCHS = 150


@pytest.fixture
def small_home(tmp_path, monkeypatch):
    """A home whose demo dataset is small (2 folds of 80 images), so training takes seconds."""
    from glaucoma_core.data.demo import generate_demo_dataset
    from glaucoma_core.paths import demo_data_dir

    home = tmp_path / "home"
    generate_demo_dataset(demo_data_dir(home), n_images=80, k=2, image_size=64)
    monkeypatch.setenv("GLAUCOMA_HOME", str(home))
    return home


def _set_number(page, label: str, value: int) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(str(value))
    box.press("Enter")
    time.sleep(0.5)
    settle(page)


def _start_training(page, fold: int) -> None:
    page.get_by_label("Fold", exact=True).click()
    page.get_by_role("option", name=str(fold), exact=True).click()
    settle(page)
    page.get_by_role("button", name="Start training").click()
    settle(page)


def test_jobs_survive_a_server_restart(small_home, tmp_path):
    from playwright.sync_api import sync_playwright

    from glaucoma_core.store.run_store import RunStore

    store = RunStore(small_home)
    port = free_port()
    log = tmp_path / "streamlit.log"
    server = start_server(small_home, port, log)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 2200})
            page.goto(f"http://127.0.0.1:{port}/train")
            settle(page)
            _set_number(page, "epochs", EPOCHS)
            _set_number(page, "input size", 32)
            _set_number(page, "batch size", 16)
            _set_number(page, "early stopping patience", EPOCHS)
            _start_training(page, 1)
            _start_training(page, 2)
            wait_for(lambda: len(store.runs()) == 2, timeout=60, what="two runs in the store")
            run_ids = sorted(int(i) for i in store.runs()["id"])
            # Both jobs train (status running) before the server goes down.
            def both_running() -> bool:
                runs = store.runs()
                ended = runs[~runs["status"].isin(["queued", "running"])]
                assert ended.empty, f"a job ended before both were running: {ended[['id', 'status', 'epochs_done', 'started_at', 'finished_at', 'created_at']].to_dict('records')}"
                return bool((runs["status"] == "running").all())

            wait_for(both_running, timeout=240, what="both jobs running")
            pids = [store.run(r)["pid"] for r in run_ids]

            stop_server(server, signal.SIGKILL)  # the whole server process group, killed hard
            assert all(pid_alive(pid) for pid in pids), "a training job died with the server"

            server = start_server(small_home, port, log)
            page.goto(f"http://127.0.0.1:{port}/train")
            settle(page)
            assert page.locator('[data-testid="stException"]').count() == 0
            status = {int(r.id): (r.status, r.epochs_done) for r in store.runs().itertuples()}
            if any(s == "running" for s, _ in status.values()):
                # Live curves resume: without reloading, the page follows the epochs.
                shown = page.get_by_text(f"of {EPOCHS}").first.inner_text()
                wait_for(lambda: page.get_by_text(f"of {EPOCHS}").first.inner_text() != shown
                         or not (store.runs()["status"] == "running").any(),
                         timeout=240, interval=1, what="the live view to move on")
            wait_for(lambda: (store.runs()["status"] == "finished").all(), timeout=600, interval=2,
                     what="both jobs to finish")
            for run_id in run_ids:
                assert len(store.epochs([run_id])) >= 1
                assert store.model_path(run_id).is_file()
            page.reload()
            settle(page)
            page.screenshot(path=str(tmp_path / "after_restart.png"), full_page=True)
            table = page.locator('[data-testid="stDataFrame"]').last
            assert page.locator('[data-testid="stException"]').count() == 0
            assert page.get_by_text(f"Run {run_ids[-1]}: finished").count() == 1
            assert table.is_visible()
            assert page.locator('[data-testid="stVegaLiteChart"]').count() >= 1
            browser.close()
    finally:
        stop_server(server)
        for run_id in store.runs()["id"]:
            pid = store.run(int(run_id))["pid"]
            if store.run(int(run_id))["status"] == "running" and pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
