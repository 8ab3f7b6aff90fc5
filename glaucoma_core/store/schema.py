"""SQLite schema of the run store: connections and versioned migrations.

The schema is a list of migrations applied in order; ``schema_version`` records each applied
one. Opening a store made by an older version applies the missing migrations and keeps the
data; a store made by a newer version is refused with a clear message (never rewritten).

Connections use WAL mode (readers never block the one writer of a run, and the writer never
blocks readers), a busy timeout (writers wait for each other instead of failing) and
foreign keys. A connection belongs to one thread of one process. A read-only connection
(``connect(path, read_only=True)``) opens the file with SQLite's ``mode=ro`` and
``query_only``: it applies no migration and any write fails.

Every SQLite failure becomes a :class:`StoreError` whose message says what happened in words
(:func:`store_error`): a full disk, an I/O error, a damaged file, a read-only file, a lock held
too long.
"""

from __future__ import annotations

import sqlite3
import time
import urllib.parse
from pathlib import Path

from glaucoma_core.errors import UserError

BUSY_TIMEOUT_MS = 30_000
RUN_STATUSES = ("queued", "running", "finished", "failed", "cancelled")
FINAL_STATUSES = ("finished", "failed", "cancelled")


class StoreError(UserError):
    """The store cannot be used (corrupt, newer schema, disk full, read-only...); the message
    says why. A UserError, so every entry point prints it without a traceback.

    ``kind`` is one word for programs: 'full', 'io', 'damaged', 'readonly', 'locked', 'schema',
    'missing' or 'other'.
    """

    def __init__(self, message: str, kind: str = "other"):
        super().__init__(message)
        self.kind = kind


# What SQLite says (lower case) -> kind, what happened, what the user can do.
_ERROR_KINDS = (
    (("database or disk is full", "sqlite_full"), "full",
     "disk full: the run store cannot write (database or disk is full)", "free disk space, then retry"),
    (("disk i/o error", "sqlite_ioerr"), "io",
     "disk I/O error: the disk holding the run store failed to read or write", "check the disk"),
    (("malformed", "file is not a database", "not a database", "sqlite_corrupt", "sqlite_notadb",
      "file is encrypted"), "damaged",
     "the run store file is damaged (database disk image is malformed)",
     "restore it from a backup, or move it away to start a new store"),
    (("readonly database", "read-only", "sqlite_readonly", "query_only"), "readonly",
     "the run store is read-only here", "open it read-write, or make the file and its folder writable"),
    (("database is locked", "database table is locked", "sqlite_busy", "sqlite_locked"), "locked",
     "the run store is locked by another process for too long", "retry when that process is done"),
    (("unable to open database",), "missing",
     "the run store file cannot be opened", "check that its folder exists and is accessible"),
)


def store_error(exc: BaseException, path: str | Path, action: str = "") -> StoreError:
    """The StoreError for a sqlite3 (or pandas.errors.DatabaseError) failure ``exc``.

    path: the store file; action: what was being done ('reading runs', 'saving an epoch'...).
    The message reads "PATH: what happened while ACTION; what to do (SQLite: its words)".
    """
    cause = exc
    while not isinstance(cause, sqlite3.Error) and cause.__cause__ is not None:
        cause = cause.__cause__  # pandas wraps the sqlite3 error
    text = str(cause).lower()
    name = str(getattr(cause, "sqlite_errorname", "") or "").lower()
    doing = f" while {action}" if action else ""
    for needles, kind, what, advice in _ERROR_KINDS:
        if any(needle in text or needle == name for needle in needles):
            return StoreError(f"{path}: {what}{doing}; {advice} (SQLite: {cause})", kind)
    return StoreError(f"{path}: the run store failed{doing} (SQLite: {cause})")


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

_V3 = [
    # A run's identity, written into its model folder (run.json) and checked on load, so a
    # model file is served only for the run that made it: the store's own random id plus a
    # random id per run. Runs recorded before this migration keep uuid NULL (legacy).
    "CREATE TABLE IF NOT EXISTS store_info (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "INSERT OR IGNORE INTO store_info (key, value) VALUES ('store_uuid', lower(hex(randomblob(16))))",
    "ALTER TABLE runs ADD COLUMN uuid TEXT",
    "CREATE UNIQUE INDEX IF NOT EXISTS runs_by_uuid ON runs(uuid)",
]

MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (1, "experiments, runs, epochs, predictions, final metrics", _V1),
    (2, "runs: best epoch, model path, host, seconds, skipped images; indexes", _V2),
    (3, "store identity (store_info.store_uuid) and run identity (runs.uuid)", _V3),
    # External evaluations (glaucoma_core/store/external_results.py): one per experiment or run,
    # external dataset fingerprint and threshold rule; a new one of the same three replaces it.
    (4, "external evaluations", [
        """CREATE TABLE IF NOT EXISTS external_evaluations (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            experiment_id INTEGER REFERENCES experiments(id) ON DELETE CASCADE,
            run_id INTEGER REFERENCES runs(id) ON DELETE CASCADE,
            data_root TEXT NOT NULL,
            fingerprint TEXT NOT NULL,
            threshold_rule TEXT NOT NULL,
            created_at REAL NOT NULL,
            result TEXT NOT NULL,
            predictions TEXT)""",
        "CREATE UNIQUE INDEX IF NOT EXISTS external_by_target ON external_evaluations("
        "COALESCE(experiment_id, -1), COALESCE(run_id, -1), fingerprint, threshold_rule)",
    ]),
    # What a researcher writes about runs and experiments (the Runs page, RunStore.annotate):
    # a run's name, tags (JSON list), notes, and an archived flag that hides it from the lists.
    (5, "runs and experiments: name, tags, notes, archived", [
        "ALTER TABLE runs ADD COLUMN name TEXT",
        "ALTER TABLE runs ADD COLUMN tags TEXT",
        "ALTER TABLE runs ADD COLUMN notes TEXT",
        "ALTER TABLE runs ADD COLUMN archived INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE experiments ADD COLUMN tags TEXT",
        "ALTER TABLE experiments ADD COLUMN notes TEXT",
        "ALTER TABLE experiments ADD COLUMN archived INTEGER NOT NULL DEFAULT 0",
    ]),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]


# ---------------------------------------------------------------- connections


def connect(path: str | Path, *, read_only: bool = False) -> sqlite3.Connection:
    """Open ``path`` (created if missing) in WAL mode with a busy timeout, migrated to the
    current schema. Autocommit mode: callers group writes with ``BEGIN IMMEDIATE``.

    read_only: open with SQLite's ``mode=ro`` URI and ``PRAGMA query_only``: the file must
        exist and have the current schema (no migration is applied), nothing can be written.

    Raises StoreError when the file is not a usable SQLite database.
    """
    path = Path(path)
    if read_only and not path.is_file():
        raise StoreError(f"{path}: no run store here yet (a read-only viewer does not create one)", "missing")
    conn = None
    try:
        if read_only:
            uri = f"file:{urllib.parse.quote(str(path.resolve()))}?mode=ro"
            conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        else:
            conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if read_only:
            conn.execute("PRAGMA query_only = ON")
            _check_readable_version(conn, path)
        else:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            migrate(conn, path)
    except StoreError:
        if conn is not None:
            conn.close()
        raise
    except sqlite3.Error as exc:
        if conn is not None:
            conn.close()
        raise store_error(exc, path, "opening it") from exc
    return conn


def _check_readable_version(conn: sqlite3.Connection, path: Path) -> None:
    version = current_version(conn)
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{path}: schema version {version} is newer than this workbench understands "
            f"({SCHEMA_VERSION}); update the workbench instead of opening it with this one", "schema"
        )
    if version < SCHEMA_VERSION:
        raise StoreError(
            f"{path}: schema version {version} is older than this workbench's ({SCHEMA_VERSION}); "
            "a read-only viewer does not migrate it: open it once read-write (any command does)", "schema"
        )


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
                f"({SCHEMA_VERSION}); update the workbench instead of opening it with this one", "schema"
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
        rollback(conn)
        raise
    return SCHEMA_VERSION


def rollback(conn: sqlite3.Connection) -> None:
    """Roll back the open transaction, if any (SQLite may already have rolled it back itself,
    after a full disk or an I/O error); never raises, so the first error is the one reported."""
    try:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
    except sqlite3.Error:
        pass
