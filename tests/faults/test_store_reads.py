"""Store reads have no side effects (issue 10): polling never writes, reaping is explicit and
rate-limited, a read-only store never writes at all.

Writes are counted three ways over a loop of the reads a live page makes, on a store holding
a run whose process is dead (what the old implicit reaping rewrote on every read): SQLite's
``PRAGMA data_version`` seen from a second connection (it changes when any other connection
commits), the store connection's ``total_changes``, and the files' size and mtime.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

import pandas as pd
import pytest

from glaucoma_core.store import RunStore, StoreError


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.fixture
def dead_store(tmp_path):
    """A store with an experiment, a running run whose process is dead (with an epoch, final
    metrics and predictions) and a queued run claimed by a dead job."""
    store = RunStore(tmp_path / "home")
    exp = store.create_experiment("cv", {"backbone": "small_cnn"}, "/data", "fp", [1, 2])
    running = store.create_run(exp, 1, {"backbone": "small_cnn"}, "/data")
    queued = store.create_run(exp, 2, {"backbone": "small_cnn"}, "/data")
    store.mark_running(running, pid=_dead_pid())
    store.add_epoch(running, 1, {"loss": 0.5, "val_auc": 0.7})
    store.save_final_metrics(running, "valid", {"auc": 0.7})
    store.save_predictions(running, pd.DataFrame({"split": ["test"], "path": ["/x.png"], "label": [1],
                                                  "probability": [0.9]}))
    store.claim_run(queued, _dead_pid())
    store.close()
    return tmp_path / "home", exp, running, queued


def _file_state(home):
    return {
        name: (os.stat(home / name).st_size, os.stat(home / name).st_mtime_ns)
        for name in ("runs.sqlite", "runs.sqlite-wal") if (home / name).exists()
    }


def _poll(store: RunStore, exp: int, running: int, queued: int, rounds: int = 25) -> None:
    """What the Train / Cross-validation / Compare pages and the CLI read, many times over."""
    for _ in range(rounds):
        store.runs()
        store.runs(exp)
        store.run(running)
        store.run(queued)
        store.epochs([running])
        store.experiments()
        store.experiment(exp)
        store.predictions([running])
        store.final_metrics([running, queued])
        store.cancel_requested(running)
        store.log_path(running)
        store.model_path(running)
        store.run_dir(queued)


@pytest.mark.parametrize("read_only", [False, True], ids=["read-write", "read-only"])
def test_polling_reads_write_nothing(dead_store, read_only):
    home, exp, running, queued = dead_store
    store = RunStore(home, read_only=read_only)
    watcher = sqlite3.connect(home / "runs.sqlite")
    version = watcher.execute("PRAGMA data_version").fetchone()[0]
    files = _file_state(home)
    _poll(store, exp, running, queued)
    assert watcher.execute("PRAGMA data_version").fetchone()[0] == version, "a read committed a write"
    assert store._conn().total_changes == 0
    assert _file_state(home) == files
    assert not (home / "runs").exists(), "log_path / run_dir created folders"
    # what the old reads wrote is now only shown: derived, not recorded
    row = store.run(running)
    assert row["status"] == "running" and row["alive"] is False
    assert "exited without finishing" in row["stale_reason"]
    frame = store.runs(exp).set_index("id")
    assert not frame.loc[queued, "alive"] and "before this run started" in frame.loc[queued, "stale_reason"]
    watcher.close()


def test_reaping_is_explicit_and_rate_limited(dead_store):
    home, exp, running, queued = dead_store
    store = RunStore(home)
    assert sorted(store.reap_dead_runs(min_interval_s=60)) == [running, queued]
    assert store.run(running)["status"] == "failed" and store.run(running)["alive"] is None
    another = store.create_run(exp, 1, {}, "/data")
    store.mark_running(another, pid=_dead_pid())
    assert store.reap_dead_runs(min_interval_s=60) == []  # reaped less than 60 s ago: nothing checked
    assert store.run(another)["status"] == "running"
    assert store.reap_dead_runs() == [another]  # no interval: checked now
    watcher = sqlite3.connect(home / "runs.sqlite")
    version = watcher.execute("PRAGMA data_version").fetchone()[0]
    assert store.reap_dead_runs() == []  # nothing dead: nothing written
    assert watcher.execute("PRAGMA data_version").fetchone()[0] == version
    watcher.close()


def test_read_only_store_refuses_every_write_and_creates_nothing(dead_store, tmp_path):
    home, exp, running, queued = dead_store
    store = RunStore(home, read_only=True)
    before = _file_state(home)
    writes = [
        lambda: store.create_experiment("x", {}, None, None, [1]),
        lambda: store.create_run(None, 1, {}, None),
        lambda: store.mark_running(queued),
        lambda: store.claim_run(queued),
        lambda: store.heartbeat(running),
        lambda: store.add_epoch(running, 2, {"loss": 0.1}),
        lambda: store.request_cancel(running),
        lambda: store.finish_run(running, "finished"),
        lambda: store.save_final_metrics(running, "test", {"auc": 1.0}),
        lambda: store.save_predictions(running, pd.DataFrame({"split": ["test"], "path": ["/y.png"],
                                                             "label": [0], "probability": [0.1]})),
        lambda: store.save_model(running, object()),
    ]
    for write in writes:
        with pytest.raises(StoreError, match="read-only"):
            write()
    assert store.reap_dead_runs() == []  # a viewer never records anything
    assert store.run(running)["status"] == "running"
    assert _file_state(home) == before
    # a read-only viewer of a home that has no store creates neither the folder nor the file
    with pytest.raises(StoreError, match="read-only viewer"):
        RunStore(tmp_path / "nowhere", read_only=True)
    assert not (tmp_path / "nowhere").exists()
    (tmp_path / "empty-home").mkdir()
    with pytest.raises(StoreError, match="no run store here yet"):
        RunStore(tmp_path / "empty-home", read_only=True)
    assert os.listdir(tmp_path / "empty-home") == []


def test_read_only_store_does_not_migrate_an_old_store(tmp_path):
    store = RunStore(tmp_path)
    store._conn().execute("DELETE FROM schema_version WHERE version = (SELECT MAX(version) FROM schema_version)")
    store.close()
    with pytest.raises(StoreError, match="does not migrate"):
        RunStore(tmp_path, read_only=True)


def test_requeue_run_is_gone():
    assert not hasattr(RunStore, "requeue_run")
