"""Faults in jobs and the run store: killed processes, full disks, broken model files, old
stores, restarted servers, cancelled cross-validations."""

from __future__ import annotations

import errno
import functools
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from glaucoma_core.cli import main
from glaucoma_core.data.index import scan_dataset
from glaucoma_core.paths import PROJECT_ROOT
from glaucoma_core.store import ModelFileProblem, RunStore
from glaucoma_core.training.cross_validation import create_cv_experiment, pending_runs, run_cv
from glaucoma_core.training.fold_run import execute_run
from tests.training.fakes import fake_train_fold, make_tiny_dataset, tiny_config, tiny_keras_model


@pytest.fixture
def tiny(tmp_path):
    data = make_tiny_dataset(tmp_path / "data", folds=2, n_train=2, n_valid=2, n_test=2, size=16)
    store = RunStore(tmp_path / "home")
    return store, data, scan_dataset(data, home=store.home)


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


# ---------------------------------------------------------------- killed process


@pytest.mark.slow
def test_sigkilled_training_process_is_failed_with_reason_and_cv_resumes(tiny):
    """A process training a fold (fake trainer, real process) is SIGKILLed mid-epoch."""
    store, data, index = tiny
    exp = create_cv_experiment(store, data, tiny_config(), index=index)
    script = textwrap.dedent(f"""
        import functools
        from glaucoma_core.store import RunStore
        from glaucoma_core.training.cross_validation import run_cv
        from tests.training.fakes import fake_train_fold
        train = functools.partial(fake_train_fold, epochs=1000, sleep=0.1)
        run_cv(RunStore({str(store.home)!r}), {exp}, train_fn=train, echo=None)
    """)
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=PROJECT_ROOT, env=env)
    try:
        runs = store.runs(exp).set_index("fold")
        first = int(runs.loc[1, "id"])
        _wait_for(lambda: (store.epochs(first)["epoch"].max() or 0) >= 2 if len(store.epochs(first)) else False,
                  60, "two epochs")
        assert store.run(first)["status"] == "running"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    frame = store.runs(exp).set_index("fold")  # a read shows the process is gone, records nothing
    assert frame.loc[1, "status"] == "running" and not frame.loc[1, "alive"]
    assert sorted(store.reap_dead_runs()) == sorted(frame["id"].tolist())  # the explicit reaper records it
    frame = store.runs(exp).set_index("fold")
    assert frame.loc[1, "status"] == "failed"
    assert f"process {proc.pid} exited without finishing (killed?)" == frame.loc[1, "error"]
    assert frame.loc[2, "status"] == "failed"  # queued for the dead job: never started
    assert "before this run started" in frame.loc[2, "error"]
    # resume runs exactly the two unfinished folds, as new runs
    todo = pending_runs(store, exp)
    assert len(todo) == 2 and first not in todo
    run_cv(store, exp, index=index, train_fn=fake_train_fold, echo=None)
    runs = store.runs(exp)
    assert len(runs) == 4 and set(runs.loc[runs["id"].isin(todo), "status"]) == {"finished"}


# ---------------------------------------------------------------- disk full


def _disk_full(model, path, *args, **kwargs):
    with open(path, "wb") as handle:
        handle.write(b"PK\x03\x04 half a zip")
    raise OSError(errno.ENOSPC, "No space left on device")


def test_disk_full_while_saving_fails_the_run_and_leaves_no_model(tiny, monkeypatch):
    import keras

    store, data, index = tiny
    run = store.create_run(None, 1, tiny_config().to_dict(), str(data))
    monkeypatch.setattr(keras.saving, "save_model", _disk_full)
    outcome = execute_run(store, run, index=index, train_fn=fake_train_fold, echo=None)
    assert outcome["status"] == "failed"
    info = store.run(run)
    assert info["status"] == "failed" and "No space left on device" in info["error"]
    assert "could not save the model" in info["error"]
    assert info["model_path"] is None
    assert not store.model_path(run).exists()
    assert list(store.run_dir(run).glob("*.keras")) == []  # no half-written temporary left
    with pytest.raises(ModelFileProblem, match="no saved model"):
        store.load_model(run)


def test_disk_full_while_replacing_keeps_the_good_model(tmp_path, monkeypatch):
    import keras

    store = RunStore(tmp_path)
    run = store.create_run(None, 1, {}, None)
    store.save_model(run, tiny_keras_model())
    good = store.model_path(run).read_bytes()
    monkeypatch.setattr(keras.saving, "save_model", _disk_full)
    with pytest.raises(OSError, match="No space left on device"):
        store.save_model(run, tiny_keras_model())
    assert store.model_path(run).read_bytes() == good
    assert store.load_model(run) is not None


# ---------------------------------------------------------------- broken model files


@pytest.mark.parametrize("damage", ["delete", "truncate", "garbage"])
def test_damaged_model_file_is_reported_and_other_runs_keep_working(tiny, damage, capsys):
    store, data, index = tiny
    runs = []
    for fold in (1, 2):
        run = store.create_run(None, fold, tiny_config().to_dict(), str(data))
        execute_run(store, run, index=index, train_fn=fake_train_fold, echo=None)
        runs.append(run)
    broken, fine = runs
    path = store.model_path(broken)
    if damage == "delete":
        path.unlink()
    elif damage == "truncate":
        path.write_bytes(path.read_bytes()[:200])
    else:
        path.write_bytes(os.urandom(4096))
    with pytest.raises(ModelFileProblem) as info:
        store.load_model(broken)
    assert info.value.reason.startswith("model file is")
    assert store.load_model(fine) is not None
    assert store.run(broken)["status"] == "finished"
    home = ["--home", str(store.home)]
    assert main([*home, "predict", "--run", str(broken), str(index["path"].iloc[0])]) == 2
    assert "model file is" in capsys.readouterr().err
    assert main([*home, "evaluate", str(broken), "--json"]) == 0  # stored predictions still usable
    assert main([*home, "runs"]) == 0


# ---------------------------------------------------------------- old store


def test_store_of_an_older_schema_is_migrated_not_discarded(tmp_path):
    import sqlite3

    from glaucoma_core.store.schema import _V1, SCHEMA_VERSION, current_version

    path = tmp_path / "runs.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, description TEXT, applied_at REAL NOT NULL)")
    for statement in _V1:
        conn.execute(statement)
    conn.execute("INSERT INTO schema_version VALUES (1, 'v1', 0)")
    conn.execute("INSERT INTO runs (fold, config, status, created_at) VALUES (3, '{}', 'finished', 0)")
    conn.execute("INSERT INTO final_metrics VALUES (1, 'test', 'auc', 0.91)")
    conn.commit()
    conn.close()
    store = RunStore(tmp_path)
    assert current_version(store._conn()) == SCHEMA_VERSION
    frame = store.runs()
    assert frame.loc[0, "fold"] == 3 and frame.loc[0, "test_auc"] == 0.91
    assert path.exists() and not list(tmp_path.glob("*.bak"))


# ---------------------------------------------------------------- real jobs (slow)


def _real_trainer_available() -> bool:
    try:
        import glaucoma_core.training.trainer  # noqa: F401
    except ModuleNotFoundError:
        return False
    return True


needs_trainer = pytest.mark.skipif(not _real_trainer_available(), reason="trainer not available")


@pytest.mark.slow
@needs_trainer
def test_real_job_killed_shows_failed_and_cancelled_job_keeps_best_model(tmp_path):
    from glaucoma_core.workbench import Workbench

    data = make_tiny_dataset(tmp_path / "data", folds=1, n_train=8, n_valid=4, n_test=4, size=32)
    store = RunStore(tmp_path / "home")
    bench = Workbench(store.home)
    slow = tiny_config(epochs=200)  # long enough to be interrupted
    killed = bench.start_training(slow, data, 1)
    cancelled = bench.start_training(slow, data, 1)

    def epochs_of(run_id):
        frame = store.epochs(run_id)
        return 0 if frame.empty else int(frame["epoch"].max())

    _wait_for(lambda: epochs_of(killed) >= 1 and epochs_of(cancelled) >= 1, 240, "both jobs to train an epoch")
    pid = store.run(killed)["pid"]
    os.killpg(os.getpgid(pid), signal.SIGKILL)  # the whole job, like the OOM killer would
    assert bench.cancel(f"run:{cancelled}") == [cancelled]
    def failed():
        store.reap_dead_runs()
        run = store.run(killed)
        return run if run["status"] == "failed" else None

    info = _wait_for(failed, 30, "failed")
    assert info["error"] == f"process {pid} exited without finishing (killed?)"
    info = _wait_for(lambda: (lambda r: r if r["status"] != "running" else None)(store.run(cancelled)),
                     120, "the cancelled job to stop")
    assert info["status"] == "cancelled", store.log_path(cancelled).read_text()[-3000:]
    assert epochs_of(cancelled) < 200
    model = store.load_model(cancelled)  # the best model so far was kept
    assert model.get_layer("probabilities") is not None
    assert len(store.predictions(cancelled, split="test")) == 8


@pytest.mark.slow
@needs_trainer
def test_jobs_survive_the_death_of_the_process_that_started_them(tmp_path):
    """Like a Streamlit server restarted while two jobs run: both finish and stay visible."""
    data = make_tiny_dataset(tmp_path / "data", folds=1, n_train=8, n_valid=4, n_test=4, size=32)
    home = tmp_path / "home"
    config = tiny_config(epochs=2).to_dict()
    script = textwrap.dedent(f"""
        import json, os, signal
        from glaucoma_core.workbench import Workbench
        ids = [Workbench({str(home)!r}).start_training({config!r}, {str(data)!r}, 1) for _ in range(2)]
        print(json.dumps(ids), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)  # the 'server' dies abruptly
    """)
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    out = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT, env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == -signal.SIGKILL
    run_ids = [int(x) for x in out.stdout.strip().strip("[]").split(",")]
    store = RunStore(home)  # a 'new server' reads the store
    _wait_for(lambda: all(store.run(r)["status"] not in ("queued", "running") for r in run_ids), 240,
              "both jobs to end")
    for run_id in run_ids:
        assert store.run(run_id)["status"] == "finished", store.log_path(run_id).read_text()[-3000:]
        assert store.epochs(run_id)["epoch"].tolist() == [1, 2]  # the curves are all there
    assert set(run_ids) <= set(store.runs()["id"])


def test_cancelled_cv_stops_after_the_current_epoch_and_keeps_finished_folds(tiny):
    store, data, index = tiny
    exp = create_cv_experiment(store, data, tiny_config(), index=index)

    def user_cancels(fold, epoch):
        if fold == 2 and epoch == 2:
            from glaucoma_core.workbench import Workbench

            Workbench(store.home).cancel(f"exp:{exp}")

    run_cv(store, exp, index=index, train_fn=functools.partial(fake_train_fold, epochs=50, on_epoch=user_cancels),
           echo=None)
    frame = store.runs(exp).set_index("fold")
    assert frame.loc[1, "status"] == "finished" and frame.loc[1, "epochs_done"] == 50
    assert frame.loc[2, "status"] == "cancelled" and frame.loc[2, "epochs_done"] == 2
    assert store.load_model(int(frame.loc[2, "id"])) is not None


def test_diverged_training_fails_with_a_reason_instead_of_a_database_error(tiny):
    store, data, index = tiny
    run = store.create_run(None, 1, tiny_config().to_dict(), str(data))

    def diverged(*args, **kwargs):
        result = fake_train_fold(*args, **kwargs)
        result.predictions["probability"] = float("nan")
        return result

    outcome = execute_run(store, run, index=index, train_fn=diverged, echo=None)
    assert outcome["status"] == "failed" and "diverged" in outcome["error"]
    assert not store.model_path(run).exists()
