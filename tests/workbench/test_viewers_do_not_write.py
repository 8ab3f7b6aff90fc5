"""The pages read the run store without writing to it: a page that polls every two seconds
while a job trains must not turn each poll into a write transaction (issue 10).

A second connection reads SQLite's ``PRAGMA data_version``, which changes whenever another
connection commits a write; the store file and its write-ahead log must not change either.
The store holds a run marked running whose process is gone: the case where a read that
reaped dead runs would write.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import pytest

from glaucoma_core.store import RunStore
from tests.app.helpers import REPO
from tests.training.fakes import make_tiny_dataset


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def snapshot(path):
    """(data_version seen by a watching connection, file sizes and mtimes of the store)."""
    files = [path, path.with_name(path.name + "-wal")]
    return tuple((f.stat().st_size, f.stat().st_mtime_ns) if f.exists() else None for f in files)


@pytest.fixture
def busy_home(tmp_path):
    data = make_tiny_dataset(tmp_path / "data", folds=2, n_train=2, n_valid=1, n_test=1, size=16)
    store = RunStore(tmp_path / "home")
    exp = store.create_experiment("cv", {"backbone": "small_cnn", "epochs": 3}, str(data), "fp", [1, 2])
    finished = store.create_run(exp, 1, {"backbone": "small_cnn", "epochs": 3}, str(data))
    store.add_epoch(finished, 1, {"loss": 0.5})
    store.finish_run(finished, "finished")
    lost = store.create_run(exp, 2, {"backbone": "small_cnn", "epochs": 3}, str(data))
    store.mark_running(lost, dead_pid())
    store.add_epoch(lost, 1, {"loss": 0.7})
    store.close()
    return store.home, data, lost


def test_store_reads_and_the_workbench_viewer_do_not_write(busy_home):
    from glaucoma_core.workbench import Workbench

    home, _, lost = busy_home
    path = home / "runs.sqlite"
    watcher = sqlite3.connect(path)
    version = watcher.execute("PRAGMA data_version").fetchone()[0]
    before = snapshot(path)
    viewer = Workbench(home, read_only=True)
    for _ in range(5):  # what a polling page does
        runs = viewer.store.runs()
        viewer.store.run(lost)
        viewer.store.epochs([lost])
        viewer.store.experiments()
        viewer.cv_report("exp:1", n_resamples=10)
    assert watcher.execute("PRAGMA data_version").fetchone()[0] == version
    assert snapshot(path) == before
    row = runs.set_index("id").loc[lost]
    assert row["status"] == "running" and not row["alive"]  # shown as lost, not written as failed
    watcher.close()


@pytest.mark.slow
@pytest.mark.parametrize("page", ["cross_validation.py", "train.py", "runs.py", "compare.py", "false_negatives.py"])
def test_polling_pages_do_not_write(busy_home, page, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from app_pages._components.context import CONTEXT_KEY, AppContext

    home, data, lost = busy_home
    monkeypatch.setenv("GLAUCOMA_HOME", str(home))
    path = home / "runs.sqlite"
    watcher = sqlite3.connect(path)
    version = watcher.execute("PRAGMA data_version").fetchone()[0]
    before = snapshot(path)
    at = AppTest.from_file(str(REPO / "app_pages" / page), default_timeout=120)
    at.session_state[CONTEXT_KEY] = AppContext(data_root=data, data_label=str(data), is_demo=False, home=home)
    at.session_state["cv_experiment"] = 1
    at.session_state["train_watch"] = lost
    for _ in range(3):  # each rerun is one poll
        at.run()
        assert not at.exception, [e.value for e in at.exception]
    shown = " ".join(str(e.value) for e in at.markdown) + " ".join(str(e.value) for e in at.error)
    assert watcher.execute("PRAGMA data_version").fetchone()[0] == version
    assert snapshot(path) == before
    if page == "train.py":
        assert "failed" in shown and "not yet recorded" in shown  # the lost run reads as failed
    watcher.close()
