"""Background jobs: validation before spawning, spawn failures, a real detached CV job."""

from __future__ import annotations

import subprocess
import time

import pytest

from glaucoma_core.config import ConfigError
from glaucoma_core.store import RunStore
from glaucoma_core.training import jobs
from glaucoma_core.workbench import Workbench
from tests.training.fakes import make_tiny_dataset, tiny_config


def test_bad_config_is_refused_before_any_run_or_process(tmp_path, monkeypatch):
    spawned = []
    monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: spawned.append(a))
    store = RunStore(tmp_path)
    bad = tiny_config().to_dict() | {"learning_rate": -1.0}
    with pytest.raises(ConfigError) as info:
        Workbench(tmp_path).start_training(bad, tmp_path, 1)
    assert info.value.field == "learning_rate"
    with pytest.raises(ConfigError):
        Workbench(tmp_path).start_cross_validation({"backbone": "no-such-net"}, tmp_path)
    assert store.runs().empty and not spawned


def test_a_process_that_cannot_start_fails_its_run_with_the_reason(tmp_path, monkeypatch):
    def no_process(*args, **kwargs):
        raise OSError(12, "Cannot allocate memory")

    monkeypatch.setattr(subprocess, "Popen", no_process)
    data = make_tiny_dataset(tmp_path / "data", folds=1, n_train=4, n_valid=1, n_test=1, size=16)
    with pytest.raises(OSError):
        Workbench(tmp_path).start_training(tiny_config(), data, 1)
    run = RunStore(tmp_path).runs().iloc[0]
    assert run["status"] == "failed" and "could not start the training process" in run["error"]


def test_job_command_is_detached_and_logged(tmp_path, monkeypatch):
    seen = {}

    class FakePopen:
        pid = 999_999_999

        def __init__(self, command, **kwargs):
            seen.update(command=command, **kwargs)

        def wait(self):
            return 0

    monkeypatch.setattr(subprocess, "Popen", FakePopen)
    data = make_tiny_dataset(tmp_path / "data", folds=2, n_train=4, n_valid=1, n_test=1, size=16)
    run_id = Workbench(tmp_path / "home").start_training(tiny_config(), data, 2)
    command = seen["command"]
    assert command[1:3] == ["-m", "glaucoma_core"] and "train" in command
    assert command[command.index("--run-id") + 1] == str(run_id)
    assert command[command.index("--home") + 1] == str(tmp_path / "home")
    assert seen["start_new_session"] is True
    assert seen["stdout"].name == str(tmp_path / "home" / "runs" / str(run_id) / "log.txt")
    store = RunStore(tmp_path / "home")
    store.reap_dead_runs()  # what the runs command and the job launcher do before deciding anything
    run = store.run(run_id)  # pid 999999999 does not exist: the job 'died' before starting
    assert run["status"] == "failed" and "before this run started" in run["error"]


@pytest.mark.slow
def test_detached_cv_job_trains_its_folds(tmp_path):
    data = make_tiny_dataset(tmp_path / "data", folds=2, n_train=8, n_valid=4, n_test=4, size=32)
    home = tmp_path / "home"
    exp = Workbench(home).start_cross_validation(tiny_config(epochs=1), data, folds=[2], name="job-cv")
    store = RunStore(home)
    assert store.runs(exp)["fold"].tolist() == [2]  # recorded before the process runs
    deadline = time.time() + 300
    while time.time() < deadline:
        if not store.runs(exp)["status"].isin(["queued", "running"]).any():
            break
        time.sleep(0.5)
    log = jobs.read_log_tail(jobs.experiment_log_path(store, exp))
    report = Workbench(home).cv_report(f"exp:{exp}", n_resamples=20)
    assert report["status"] == "finished", log
    assert [fold["fold"] for fold in report["folds"]] == [2]
    assert report["results"]["per_fold"]["fold"].tolist() == [2]
    assert "experiment" in log and "fold 2" in log


def test_store_reporter_writes_epochs_beats_and_reads_cancel(tmp_path):
    from glaucoma_core.training.store_reporter import StoreReporter

    store = RunStore(tmp_path)
    run_id = store.create_run(None, 1, {}, None)
    store.mark_running(run_id)
    lines = []
    with StoreReporter(store, run_id, echo=lines.append, heartbeat_interval=0.05) as reporter:
        first = store.run(run_id)["heartbeat"]
        reporter.on_train_begin({"epochs": 2})
        reporter.on_epoch_end(1, {"loss": 0.5, "val_auc": 0.75})
        assert not reporter.should_cancel()
        store.request_cancel(run_id)
        assert reporter.should_cancel()
        time.sleep(0.3)
        assert store.run(run_id)["heartbeat"] > first  # the thread beats between epochs
    assert reporter._thread is None
    assert store.epochs(run_id)["val_auc"].tolist() == [0.75]
    assert any("epoch 1/2" in line and "val_auc 0.750" in line for line in lines)
