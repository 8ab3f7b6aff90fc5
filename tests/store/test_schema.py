"""Schema versions and migrations of the run store."""

from __future__ import annotations

import json
import sqlite3

import pytest

from glaucoma_core.store import SCHEMA_VERSION, RunStore, StoreError
from glaucoma_core.store.schema import _V1, MIGRATIONS, current_version


def _make_v1_store(path):
    """A store exactly as version 1 of the schema made it, with one finished run."""
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, description TEXT, applied_at REAL NOT NULL)")
    for statement in _V1:
        conn.execute(statement)
    conn.execute("INSERT INTO schema_version VALUES (1, 'v1', 0)")
    conn.execute(
        "INSERT INTO experiments (name, config, data_root, fingerprint, folds, created_at) "
        "VALUES ('old-cv', ?, '/data', 'abc', '[1, 2]', 1.0)",
        (json.dumps({"backbone": "small_cnn"}),),
    )
    conn.execute(
        "INSERT INTO runs (experiment_id, fold, config, data_root, status, created_at, finished_at) "
        "VALUES (1, 1, '{\"backbone\": \"small_cnn\"}', '/data', 'finished', 1.0, 2.0)"
    )
    conn.execute("INSERT INTO epochs VALUES (1, 1, '{\"loss\": 0.7, \"val_auc\": 0.8}', 1.5)")
    conn.execute("INSERT INTO predictions VALUES (1, 'test', '/data/a.png', 'ff', 1, 0.9)")
    conn.execute("INSERT INTO final_metrics VALUES (1, 'test', 'auc', 0.93)")
    conn.commit()
    conn.close()


def test_new_store_has_current_schema_and_wal(tmp_path):
    store = RunStore(tmp_path)
    conn = store._conn()
    assert current_version(conn) == SCHEMA_VERSION == MIGRATIONS[-1][0]
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000
    versions = [row[0] for row in conn.execute("SELECT version FROM schema_version ORDER BY version")]
    assert versions == [number for number, _, _ in MIGRATIONS]


def test_old_store_is_migrated_and_keeps_its_data(tmp_path):
    _make_v1_store(tmp_path / "runs.sqlite")
    store = RunStore(tmp_path)
    assert current_version(store._conn()) == SCHEMA_VERSION
    run = store.run(1)
    assert run["status"] == "finished" and run["config"] == {"backbone": "small_cnn"}
    assert run["best_epoch"] is None and "model_path" in run and "host" in run  # v2 columns
    assert store.experiment("old-cv")["folds"] == [1, 2]
    assert store.epochs(1)["val_auc"].tolist() == [0.8]
    assert store.predictions(1)["probability"].tolist() == [0.9]
    assert store.final_metrics(1)["value"].tolist() == [0.93]
    # and the migrated store takes new data
    new = store.create_run(1, 2, {"backbone": "small_cnn"}, "/data")
    store.finish_run(new, "finished", best_epoch=3)
    assert store.run(new)["best_epoch"] == 3


def test_opening_twice_does_not_migrate_twice(tmp_path):
    RunStore(tmp_path).create_run(None, 1, {}, None)
    store = RunStore(tmp_path)
    count = store._conn().execute("SELECT COUNT(*) FROM schema_version").fetchone()[0]
    assert count == len(MIGRATIONS)
    assert len(store.runs()) == 1


def test_newer_schema_is_refused_not_rewritten(tmp_path):
    RunStore(tmp_path)
    conn = sqlite3.connect(tmp_path / "runs.sqlite")
    conn.execute("INSERT INTO schema_version VALUES (?, 'future', 0)", (SCHEMA_VERSION + 1,))
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="newer"):
        RunStore(tmp_path)


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path):
    (tmp_path / "runs.sqlite").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="runs.sqlite"):
        RunStore(tmp_path)


@pytest.mark.parametrize("message, kind, words", [
    ("database or disk is full", "full", "disk full"),
    ("disk I/O error", "io", "disk I/O error"),
    ("database disk image is malformed", "damaged", "damaged"),
    ("file is not a database", "damaged", "damaged"),
    ("attempt to write a readonly database", "readonly", "read-only"),
    ("database is locked", "locked", "locked by another process"),
    ("unable to open database file", "missing", "cannot be opened"),
    ("something new", "other", "the run store failed"),
])
def test_sqlite_errors_become_store_errors_that_say_what_happened(message, kind, words):
    import pandas as pd

    from glaucoma_core.errors import UserError
    from glaucoma_core.store.schema import store_error

    for exc in (sqlite3.OperationalError(message), pd.errors.DatabaseError(f"Execution failed on sql: {message}")):
        if isinstance(exc, pd.errors.DatabaseError):
            exc.__cause__ = sqlite3.DatabaseError(message)  # how pandas wraps it
        error = store_error(exc, "/h/runs.sqlite", "reading runs")
        assert isinstance(error, StoreError) and isinstance(error, UserError)
        assert error.kind == kind and words in str(error) and "while reading runs" in str(error)
        assert str(error).startswith("/h/runs.sqlite: ")


def test_a_locked_store_is_a_store_error_not_a_hang(tmp_path, monkeypatch):
    import glaucoma_core.store.schema as schema

    RunStore(tmp_path).close()
    holder = sqlite3.connect(tmp_path / "runs.sqlite", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    monkeypatch.setattr(schema, "BUSY_TIMEOUT_MS", 200)
    store = RunStore(tmp_path)
    try:
        with pytest.raises(StoreError, match="locked by another process") as caught:
            store.create_run(None, 1, {}, None)
        assert caught.value.kind == "locked"
        assert store.runs().empty  # reads are not blocked by the writer (WAL)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
