"""SQLite schema of the run store: connections and versioned migrations.

The schema is a list of migrations applied in order; ``schema_version`` records each applied
one. Opening a store made by an older version applies the missing migrations and keeps the
data; a store made by a newer version is refused with a clear message (never rewritten).

Connections use WAL mode (readers never block the one writer of a run, and the writer never
blocks readers), a busy timeout (writers wait for each other instead of failing) and
foreign keys. A connection belongs to one thread of one process.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

BUSY_TIMEOUT_MS = 30_000
RUN_STATUSES = ("queued", "running", "finished", "failed", "cancelled")
FINAL_STATUSES = ("finished", "failed", "cancelled")


class StoreError(Exception):
    """The store file cannot be used (corrupt, newer schema...); the message says why."""


# ---------------------------------------------------------------- migrations
# Each entry: (version, description, statements). Never edit an applied migration: add one.

_V1 = [
    """CREATE TABLE experiments (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL,
        config TEXT NOT NULL,
        data_root TEXT,
        fingerprint TEXT,
        folds TEXT NOT NULL,
        created_at REAL NOT NULL)""",
    f"""CREATE TABLE runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        experiment_id INTEGER REFERENCES experiments(id) ON DELETE CASCADE,
        fold INTEGER,
        config TEXT NOT NULL,
        data_root TEXT,
        status TEXT NOT NULL DEFAULT 'queued' CHECK (status IN {RUN_STATUSES!r}),
        pid INTEGER,
        heartbeat REAL,
        created_at REAL NOT NULL,
        started_at REAL,
        finished_at REAL,
        error TEXT,
        cancel_requested INTEGER NOT NULL DEFAULT 0)""",
    """CREATE TABLE epochs (
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        epoch INTEGER NOT NULL,
        metrics TEXT NOT NULL,
        recorded_at REAL NOT NULL,
        PRIMARY KEY (run_id, epoch))""",
    """CREATE TABLE predictions (
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        split TEXT NOT NULL,
        path TEXT NOT NULL,
        sha256 TEXT,
        label INTEGER NOT NULL,
        probability REAL NOT NULL)""",
    """CREATE TABLE final_metrics (
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        split TEXT NOT NULL,
        metric TEXT NOT NULL,
        value REAL,
        PRIMARY KEY (run_id, split, metric))""",
]

_V2 = [
    # What the best model is and where it lives; where the run's process runs (liveness
    # by pid is only meaningful on the same host, e.g. for Ray workers).
    "ALTER TABLE runs ADD COLUMN best_epoch INTEGER",
    "ALTER TABLE runs ADD COLUMN model_path TEXT",
    "ALTER TABLE runs ADD COLUMN host TEXT",
    "ALTER TABLE runs ADD COLUMN seconds REAL",
    "ALTER TABLE runs ADD COLUMN skipped_images INTEGER",
    "CREATE INDEX IF NOT EXISTS runs_by_experiment ON runs(experiment_id)",
    "CREATE INDEX IF NOT EXISTS runs_by_status ON runs(status)",
    "CREATE INDEX IF NOT EXISTS predictions_by_run ON predictions(run_id, split)",
]

MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (1, "experiments, runs, epochs, predictions, final metrics", _V1),
    (2, "runs: best epoch, model path, host, seconds, skipped images; indexes", _V2),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]


# ---------------------------------------------------------------- connections


def connect(path: str | Path) -> sqlite3.Connection:
    """Open ``path`` (created if missing) in WAL mode with a busy timeout, migrated to the
    current schema. Autocommit mode: callers group writes with ``BEGIN IMMEDIATE``.

    Raises StoreError when the file is not a usable SQLite database.
    """
    path = Path(path)
    try:
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        migrate(conn, path)
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path}: not a usable run store ({exc})") from exc
    return conn


def current_version(conn: sqlite3.Connection) -> int:
    """Schema version of the open database (0 for an empty one)."""
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type='table' AND name='schema_version'"
    ).fetchone()
    if not exists:
        return 0
    row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(row[0] or 0)


def migrate(conn: sqlite3.Connection, path: str | Path = "<store>") -> int:
    """Apply the migrations the database lacks, in order, in one transaction.

    Safe when several processes open the same new store at once (the write lock serialises
    them, and the version is re-read under the lock). Returns the resulting version.
    """
    if current_version(conn) == SCHEMA_VERSION:
        return SCHEMA_VERSION
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version ("
            "version INTEGER PRIMARY KEY, description TEXT, applied_at REAL NOT NULL)"
        )
        version = current_version(conn)
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{path}: schema version {version} is newer than this workbench understands "
                f"({SCHEMA_VERSION}); update the workbench instead of opening it with this one"
            )
        for number, description, statements in MIGRATIONS:
            if number <= version:
                continue
            for statement in statements:
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_version (version, description, applied_at) VALUES (?, ?, ?)",
                (number, description, time.time()),
            )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return SCHEMA_VERSION
