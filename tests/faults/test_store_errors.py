"""The store's failures become clear messages, on every method (issue 17 items 4 and 8).

- SQLite itself cannot write ("database or disk is full", made real with ``PRAGMA
  max_page_count``: SQLite answers SQLITE_FULL exactly as on a full disk): a StoreError saying
  "disk full" from every write; the run being trained records it as its error, or, when even
  that cannot be written, the reaper records it later instead of "killed?"; no traceback.
- A damaged page (random bytes over a table's root page): every read of it is a StoreError
  saying the file is damaged (pandas.read_sql wraps sqlite3's DatabaseError: unwrapped too).
- Ids no row can have (2**70, negative, 0) are "no run N"; non-numbers "not a valid run id";
  at every RunStore method taking an id, and through the commands.
- ``GLAUCOMA_HOME`` naming a file: a clear UserError, not FileExistsError.
- StoreError and RunNotFound are UserErrors: every entry point prints them cleanly.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

import pandas as pd
import pytest

from glaucoma_core.cli import main
from glaucoma_core.data.index import scan_dataset
from glaucoma_core.errors import UserError
from glaucoma_core.paths import PROJECT_ROOT, HomeError, home_dir
from glaucoma_core.store import InvalidId, RunNotFound, RunStore, StoreError
from glaucoma_core.training.fold_run import execute_run
from tests.training.fakes import fake_train_fold, make_tiny_dataset


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _fill(store: RunStore) -> None:
    """Make the store's file full for this thread's connection: no page may be added, and the
    free space of the existing pages is used up, as on a disk with no byte left."""
    conn = store._conn()
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")
    filler = conn.execute(
        "INSERT INTO runs (config, status, created_at) VALUES ('{}', 'finished', 0)").lastrowid
    epoch = 10_000
    for size in (2000, 200, 20, 1):  # large rows first, then smaller ones into what is left
        while True:
            try:
                conn.execute("INSERT INTO epochs (run_id, epoch, metrics, recorded_at) VALUES (?, ?, ?, 0)",
                             (filler, epoch, "x" * size))
            except sqlite3.OperationalError as exc:
                assert "full" in str(exc)
                break
            epoch += 1


def test_the_error_types_are_user_errors():
    assert issubclass(StoreError, UserError) and issubclass(RunNotFound, UserError)
    assert issubclass(RunNotFound, LookupError) and issubclass(InvalidId, ValueError)


# ---------------------------------------------------------------- disk full


def test_every_write_says_disk_full(tmp_path):
    store = RunStore(tmp_path)
    exp = store.create_experiment("e", {}, None, None, [1])
    run = store.create_run(exp, 1, {}, None)
    store.mark_running(run)
    _fill(store)
    big = {"text": "y" * 20_000}
    writes = {
        "create_experiment": lambda: store.create_experiment("big", big, None, None, [1]),
        "create_run": lambda: store.create_run(None, 1, big, None),
        "add_epoch": lambda: store.add_epoch(run, 1, big),
        "save_final_metrics": lambda: store.save_final_metrics(run, "test", {f"m{i}": i for i in range(2000)}),
        "save_predictions": lambda: store.save_predictions(run, pd.DataFrame({
            "split": "test", "path": [f"/x/{i}.png" for i in range(2000)], "label": 0, "probability": 0.5})),
    }
    for name, write in writes.items():
        with pytest.raises(StoreError, match="disk full") as caught:
            write()
        assert caught.value.kind == "full", name
    assert store.run(run)["status"] == "running"  # reads still work; nothing half-written


def test_a_run_whose_store_fills_up_records_disk_full_without_a_traceback(tmp_path):
    data = make_tiny_dataset(tmp_path / "data", folds=1, n_train=2, n_valid=2, n_test=2, size=16)
    store = RunStore(tmp_path / "home")
    index = scan_dataset(data, home=store.home)
    run = store.create_run(None, 1, {"backbone": "small_cnn"}, str(data))

    def fill_at_epoch_2(fold, epoch):
        if epoch == 2:
            _fill(store)

    lines: list[str] = []
    try:
        outcome = execute_run(store, run, index=index, echo=lines.append, make_config=lambda c: c,
                              train_fn=lambda *a, **k: fake_train_fold(*a, **k, on_epoch=fill_at_epoch_2))
    except StoreError as exc:  # even the failure could not be recorded: the command says so
        assert "disk full" in str(exc)
        assert "disk full" in (tmp_path / "home" / "runs" / str(run) / "failure.txt").read_text()
        later = RunStore(tmp_path / "home", heartbeat_timeout=0)  # space freed; the process is silent
        assert later.reap_dead_runs() == [run]
    else:
        assert outcome["status"] == "failed" and "disk full" in outcome["error"]
    info = RunStore(tmp_path / "home").run(run)  # another connection sees what was recorded
    assert info["status"] == "failed" and "disk full" in info["error"]
    output = "\n".join(lines)
    assert "disk full" in output and "Traceback" not in output


def test_when_the_store_cannot_record_the_failure_the_reaper_records_disk_full_later(tmp_path):
    store = RunStore(tmp_path)
    run = store.create_run(None, 1, {}, None)
    store.mark_running(run, pid=_dead_pid())  # the training process, gone by the time we look
    reason = "StoreError: runs.sqlite: disk full: the run store cannot write (database or disk is full)"
    store._conn().execute("PRAGMA query_only = ON")  # now even a one-row update fails
    with pytest.raises(StoreError):
        store.finish_run(run, "failed", reason)
    assert (tmp_path / "runs" / str(run) / "failure.txt").is_file()
    later = RunStore(tmp_path)  # space freed; the next listing reaps the run
    assert later.reap_dead_runs() == [run]
    error = later.run(run)["error"]
    assert "disk full" in error and "killed" not in error


# ---------------------------------------------------------------- damaged pages


@pytest.fixture
def full_store(tmp_path):
    store = RunStore(tmp_path)
    exp = store.create_experiment("e", {"backbone": "small_cnn"}, "/d", "fp", [1])
    run = store.create_run(exp, 1, {"backbone": "small_cnn"}, "/d")
    store.mark_running(run)
    store.add_epoch(run, 1, {"loss": 0.3})
    store.save_final_metrics(run, "test", {"auc": 0.8})
    store.save_predictions(run, pd.DataFrame({"split": "test", "path": ["/a.png", "/b.png"], "label": [0, 1],
                                              "probability": [0.2, 0.9]}))
    store.finish_run(run, "finished")
    store.close()
    return tmp_path, exp, run


def _damage(home, table: str) -> None:
    path = home / "runs.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    (root,) = conn.execute("SELECT rootpage FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone()
    conn.close()
    with open(path, "r+b") as handle:
        handle.seek((root - 1) * page_size)
        handle.write(os.urandom(page_size))


READS = {
    "runs": lambda s, e, r: s.runs(),
    "runs(experiment)": lambda s, e, r: s.runs(e),
    "run": lambda s, e, r: s.run(r),
    "experiments": lambda s, e, r: s.experiments(),
    "experiment": lambda s, e, r: s.experiment(e),
    "epochs": lambda s, e, r: s.epochs([r]),
    "predictions": lambda s, e, r: s.predictions([r]),
    "final_metrics": lambda s, e, r: s.final_metrics([r]),
    "cancel_requested": lambda s, e, r: s.cancel_requested(r),
    "reap_dead_runs": lambda s, e, r: s.reap_dead_runs(),
    "load_model": lambda s, e, r: s.load_model(r),
}
# Which reads read which table's root page (others are answered from an index, e.g. the
# reaper's status index or the epochs primary key, and may succeed).
TOUCHES = {
    "runs": ["runs", "runs(experiment)", "run", "experiments", "epochs", "predictions", "final_metrics",
             "cancel_requested", "load_model"],
    "experiments": ["runs", "experiments", "experiment"],
    "epochs": ["epochs"],
    "predictions": ["predictions"],
    "final_metrics": ["runs", "final_metrics"],
}


@pytest.mark.parametrize("table", list(TOUCHES))
def test_a_damaged_page_is_a_clear_store_error_on_every_read(full_store, table):
    home, exp, run = full_store
    _damage(home, table)
    store = RunStore(home)  # opening reads only the schema: it works
    for name in TOUCHES[table]:
        with pytest.raises(StoreError, match="damaged") as caught:
            READS[name](store, exp, run)
        assert caught.value.kind == "damaged", name


def test_commands_on_a_damaged_store_print_a_message_not_a_traceback(full_store):
    home, exp, run = full_store
    _damage(home, "predictions")
    for command in (["evaluate", str(run)], ["compare", str(run), str(run)]):
        out = subprocess.run([sys.executable, "-m", "glaucoma_core", "--home", str(home), *command],
                             cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=180)
        assert out.returncode == 2, (command, out.stdout, out.stderr)
        assert "damaged" in out.stderr and "Traceback" not in out.stderr, out.stderr


# ---------------------------------------------------------------- ids


BAD_NUMBERS = [2**70, -(2**70), -1, 0, 2**63]

ID_METHODS = {
    "run": lambda s, i: s.run(i),
    "claim_run": lambda s, i: s.claim_run(i),
    "mark_running": lambda s, i: s.mark_running(i),
    "heartbeat": lambda s, i: s.heartbeat(i),
    "finish_run": lambda s, i: s.finish_run(i, "failed", "x"),
    "request_cancel": lambda s, i: s.request_cancel(i),
    "cancel_requested": lambda s, i: s.cancel_requested(i),
    "add_epoch": lambda s, i: s.add_epoch(i, 1, {}),
    "save_predictions": lambda s, i: s.save_predictions(i, pd.DataFrame(
        {"split": ["test"], "path": ["/a"], "label": [0], "probability": [0.5]})),
    "save_final_metrics": lambda s, i: s.save_final_metrics(i, "test", {"auc": 0.5}),
    "run_dir": lambda s, i: s.run_dir(i),
    "log_path": lambda s, i: s.log_path(i),
    "model_path": lambda s, i: s.model_path(i),
    "save_model": lambda s, i: s.save_model(i, object()),
    "load_model": lambda s, i: s.load_model(i),
    "verified_model_path": lambda s, i: s.verified_model_path(i),
    "create_run(experiment)": lambda s, i: s.create_run(i, 1, {}, None),
}
LIST_METHODS = {
    "epochs": lambda s, i: s.epochs([i, 1]),
    "predictions": lambda s, i: s.predictions([i]),
    "final_metrics": lambda s, i: s.final_metrics(i),
    "runs(experiment)": lambda s, i: s.runs(i),
}


@pytest.mark.parametrize("number", BAD_NUMBERS, ids=str)
def test_ids_no_row_can_have_are_no_run_n_at_every_method(tmp_path, number):
    store = RunStore(tmp_path)
    for call in ID_METHODS.values():
        with pytest.raises(RunNotFound, match=f"no (run|experiment) {number}"):
            call(store, number)
    for name, call in LIST_METHODS.items():
        assert call(store, number).empty, name  # a query over ids: matches nothing
    with pytest.raises(RunNotFound):
        store.experiment(number)
    with pytest.raises(RunNotFound):
        store.experiment(str(number))


@pytest.mark.parametrize("value", ["abc", "1.5", 1.5, True, None, "", "١٢"], ids=repr)
def test_ids_that_are_not_numbers_are_not_valid_ids(tmp_path, value):
    store = RunStore(tmp_path)
    for name, call in {**ID_METHODS, **LIST_METHODS}.items():
        if name in ("runs(experiment)", "create_run(experiment)") and value is None:
            continue  # None means "all runs" / "a lone run" there
        with pytest.raises(InvalidId, match="not a valid (run|experiment) id"):
            call(store, value)


def test_numeric_strings_and_numpy_ints_still_work(tmp_path):
    import numpy as np

    store = RunStore(tmp_path)
    run = store.create_run(None, 1, {}, None)
    assert store.run(str(run))["id"] == run == store.run(np.int64(run))["id"] == store.run(float(run))["id"]


@pytest.mark.parametrize("command", [
    ["predict", "--run", str(2**70), "x.png"],
    ["gradcam", "--run", str(2**70), "x.png", "--out", "o.png"],
    ["evaluate", str(2**70)],
    ["compare", str(2**70), "1"],
    ["runs", "--experiment", str(2**70)],
    ["train", "--run-id", str(2**70)],
    ["predict", "--run", "-5", "x.png"],
], ids=lambda c: " ".join(c[:2]))
def test_commands_with_huge_ids_answer_with_a_message(tmp_path, capsys, command):
    RunStore(tmp_path).create_run(None, 1, {}, None)
    try:
        code = main(["--home", str(tmp_path), *command])
    except SystemExit as exc:  # argparse refusing the value itself (a usage message)
        code = exc.code
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and "OverflowError" not in captured.err + captured.out
    if command[0] == "runs":
        assert code in (0, 2)  # an experiment no row can have: no runs, or "no experiment"
    else:  # the message names the id (the CLI's own check, or the store's "no run N")
        number = next(part for part in command if part.lstrip("-").isdigit())
        assert code == 2 and number in captured.err, captured.err


# ---------------------------------------------------------------- home


def test_glaucoma_home_pointing_at_a_file_is_a_clear_error(tmp_path, monkeypatch, capsys):
    afile = tmp_path / "home.txt"
    afile.write_text("not a folder")
    monkeypatch.setenv("GLAUCOMA_HOME", str(afile))
    with pytest.raises(HomeError, match="GLAUCOMA_HOME .* is a file, not a folder"):
        home_dir()
    with pytest.raises(UserError):
        RunStore()
    with pytest.raises(HomeError, match="cannot create the folder"):
        home_dir(afile / "below")  # a parent is a file
    assert main(["runs"]) == 2
    captured = capsys.readouterr()
    assert "is a file, not a folder" in captured.err and "Traceback" not in captured.err


def test_external_evaluations_take_ids_no_row_can_have(tmp_path):
    from glaucoma_core.store.external_results import ExternalNotFound, list_external, read_external

    store = RunStore(tmp_path)
    for number in (2**70, -1, 0):
        assert list_external(store, experiment_id=number).empty and list_external(store, run_id=number).empty
        with pytest.raises(ExternalNotFound, match=f"no external evaluation {number}"):
            read_external(store, number)
    with pytest.raises(InvalidId):
        read_external(store, "abc")
