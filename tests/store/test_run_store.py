"""Run store: experiments, runs, statuses, liveness, epochs, predictions, metrics."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pandas as pd
import pytest

from glaucoma_core.store import RunNotFound, RunStore
from glaucoma_core.store.liveness import pid_alive


@pytest.fixture
def store(tmp_path):
    return RunStore(tmp_path)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_experiment_and_runs_round_trip(store):
    exp = store.create_experiment("cv-a", {"backbone": "small_cnn", "epochs": 2}, "/data", "fp1", [1, 2])
    runs = [store.create_run(exp, fold, {"backbone": "small_cnn"}, "/data") for fold in (1, 2)]
    assert store.experiment(exp)["name"] == "cv-a"
    assert store.experiment("cv-a")["id"] == exp
    assert store.experiment(str(exp))["fingerprint"] == "fp1"
    frame = store.runs(exp)
    assert sorted(frame["id"]) == runs
    assert set(frame["status"]) == {"queued"}
    assert frame["backbone"].tolist() == ["small_cnn", "small_cnn"]
    assert store.experiments().loc[0, "runs"] == 2
    lone = store.create_run(None, 3, {"backbone": "x"}, None)
    assert len(store.runs()) == 3 and len(store.runs(exp)) == 2
    assert pd.isna(store.runs().set_index("id").loc[lone, "experiment_id"])


def test_unknown_ids_raise_run_not_found(store):
    with pytest.raises(RunNotFound):
        store.run(42)
    with pytest.raises(RunNotFound):
        store.experiment("nope")


def test_status_lifecycle(store):
    run = store.create_run(None, 1, {}, None)
    assert store.mark_running(run)
    info = store.run(run)
    assert info["status"] == "running" and info["pid"] == os.getpid() and info["heartbeat"]
    assert not store.mark_running(run)  # only from queued
    store.finish_run(run, "finished", best_epoch=2, seconds=3.5, skipped_images=1)
    info = store.run(run)
    assert (info["status"], info["best_epoch"], info["seconds"], info["skipped_images"]) == ("finished", 2, 3.5, 1)
    assert info["finished_at"] >= info["started_at"]
    with pytest.raises(ValueError):
        store.finish_run(run, "running")


def test_cancel_queued_is_immediate_running_is_a_request(store):
    queued = store.create_run(None, 1, {}, None)
    assert store.request_cancel(queued) == "cancelled"
    assert not store.mark_running(queued)  # a cancelled run never starts
    running = store.create_run(None, 2, {}, None)
    store.mark_running(running)
    assert not store.cancel_requested(running)
    assert store.request_cancel(running) == "running"
    assert store.cancel_requested(running)


def test_dead_process_is_reaped_with_reason(store):
    run = store.create_run(None, 1, {}, None)
    store.mark_running(run, pid=_dead_pid())
    row = store.runs().set_index("id").loc[run]  # a read shows it, writes nothing
    assert row["status"] == "running" and not row["alive"] and "exited without finishing" in row["stale_reason"]
    assert store.reap_dead_runs() == [run]
    row = store.runs().set_index("id").loc[run]
    assert row["status"] == "failed" and pd.isna(row["alive"]) and row["stale_reason"] is None
    assert "exited without finishing" in row["error"] and str(store.run(run)["pid"]) in row["error"]


def test_zombie_counts_as_dead():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped yet: a zombie
    try:
        assert not pid_alive(proc.pid)
    finally:
        proc.wait()
    assert pid_alive(os.getpid())


def test_stale_heartbeat_is_reaped(tmp_path):
    store = RunStore(tmp_path, heartbeat_timeout=0.2)
    run = store.create_run(None, 1, {}, None)
    store.mark_running(run)  # this process: alive, but silent
    time.sleep(0.4)
    assert store.run(run)["alive"] is False and "no heartbeat" in store.run(run)["stale_reason"]
    assert store.reap_dead_runs() == [run]
    assert store.run(run)["status"] == "failed"
    assert "no heartbeat" in store.run(run)["error"]


def test_live_running_run_is_left_alone(store):
    run = store.create_run(None, 1, {}, None)
    store.mark_running(run)
    store.heartbeat(run)
    assert store.reap_dead_runs() == []
    assert store.run(run)["status"] == "running"


def test_queued_run_of_a_dead_job_is_reaped(store):
    run = store.create_run(None, 1, {}, None)
    store.claim_run(run, _dead_pid())
    assert store.run(run)["status"] == "queued" and store.run(run)["alive"] is False
    assert store.reap_dead_runs() == [run]
    assert store.run(run)["status"] == "failed"
    assert "before this run started" in store.run(run)["error"]
    unclaimed = store.create_run(None, 1, {}, None)
    assert store.run(unclaimed)["status"] == "queued"


def test_other_hosts_are_judged_by_heartbeat_only(store):
    run = store.create_run(None, 1, {}, None)
    store.mark_running(run, pid=_dead_pid())
    store._conn().execute("UPDATE runs SET host = 'elsewhere' WHERE id = ?", (run,))
    assert store.reap_dead_runs() == []
    assert store.run(run)["status"] == "running" and store.run(run)["alive"] is True


def test_epochs_predictions_and_final_metrics(store):
    run = store.create_run(None, 4, {}, None)
    store.mark_running(run)
    store.add_epoch(run, 1, {"loss": 0.9, "val_auc": 0.6})
    store.add_epoch(run, 2, {"loss": 0.5, "val_auc": float("nan")})
    frame = store.epochs([run])
    assert frame["epoch"].tolist() == [1, 2] and frame["fold"].tolist() == [4, 4]
    assert frame["loss"].tolist() == [0.9, 0.5] and pd.isna(frame["val_auc"].iloc[1])
    preds = pd.DataFrame({
        "split": ["valid", "test", "test"], "path": ["/a.png", "/b.png", "/c.png"],
        "sha256": ["1", "2", "3"], "label": [1, 0, 1], "probability": [0.9, 0.2, 0.6],
    })
    store.save_predictions(run, preds)
    store.save_predictions(run, preds)  # replaces, does not duplicate
    assert len(store.predictions(run)) == 3
    assert store.predictions(run, split="test")["path"].tolist() == ["/b.png", "/c.png"]
    assert store.predictions([], split="test").empty
    store.save_final_metrics(run, "test", {"auc": 1.0, "tp": 1, "sensitivity": float("nan")})
    metrics = store.final_metrics(run).set_index("metric")["value"]
    assert metrics["auc"] == 1.0 and metrics["tp"] == 1 and pd.isna(metrics["sensitivity"])
    store.finish_run(run, "finished")
    assert store.runs().loc[0, "test_auc"] == 1.0


def test_readers_are_not_blocked_by_a_writer_and_threads_get_own_connections(store):
    run = store.create_run(None, 1, {}, None)
    store.mark_running(run)
    other = RunStore(store.home)
    conn = other._conn()
    conn.execute("BEGIN IMMEDIATE")  # another writer holds the write lock
    conn.execute("UPDATE runs SET heartbeat = 1 WHERE id = ?", (run,))
    started = time.time()
    assert store.run(run)["status"] == "running"  # reading does not wait for it
    assert time.time() - started < 1.0
    conn.execute("COMMIT")
    errors = []

    def write(n):
        try:
            for epoch in range(n * 10, n * 10 + 10):
                store.add_epoch(run, epoch, {"loss": epoch})
        except Exception as exc:  # pragma: no cover - shown on failure
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(1, 4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(store.epochs(run)) == 30
