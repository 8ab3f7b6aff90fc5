"""The run store: experiments, runs, epoch metrics, predictions, final metrics, model files.

One SQLite file, ``<home>/runs.sqlite`` (WAL mode), and one folder per run,
``<home>/runs/<run_id>/`` (``model.keras``, ``log.txt``). A run is one fold trained with one
configuration; an experiment is a configuration over a set of folds (a cross-validation).

Concurrency: each run has one writer (its training process); any number of readers (the app,
the CLI) read at the same time without blocking it. Every write is a short transaction. A
``RunStore`` may be shared by threads: each thread (and each forked process) gets its own
connection.

Liveness: a running run records its pid, host and a heartbeat. Reads never write: they show
the derived ``alive`` / ``stale_reason`` of queued and running runs. :meth:`RunStore.reap_dead_runs`,
called explicitly (rate-limited for pollers), marks a run whose process is gone, or whose
heartbeat is too old, as ``failed`` with the reason, so that no run stays ``running`` forever.

Identity: each run has a random uuid, and the store one too; ``runs/<id>/run.json`` carries
both (:mod:`glaucoma_core.store.run_identity`) and is checked before a model is served, and
new run ids skip every ``runs/<N>/`` folder on disk, so another run's model is never served.

Errors: every SQLite failure of every method (reads included) is a :class:`StoreError` that
says what happened (disk full, I/O error, damaged file, read-only, locked); ids that no row
can have (negative, beyond 64 bits) are :class:`RunNotFound`, non-numbers ``InvalidId``.
"""

from __future__ import annotations

import functools
import json
import math
import os
import sqlite3
import threading
import time
import warnings
from collections.abc import Iterable, Mapping
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from glaucoma_core.errors import UserError
from glaucoma_core.paths import PROJECT_ROOT, home_dir
from glaucoma_core.store.ids import InvalidId, as_id, storable
from glaucoma_core.store.liveness import pid_alive, this_host
from glaucoma_core.store.model_files import (
    MODEL_FILE_NAME,
    ModelFileProblem,
    ModelSaveError,
    load_model_safe,
    save_model_atomic,
)
from glaucoma_core.store.run_identity import (
    IDENTITY_FILE_NAME,
    RunIdentity,
    file_sha256,
    new_run_uuid,
    read_identity,
    write_identity,
)
from glaucoma_core.store.schema import (
    FINAL_STATUSES,
    RUN_STATUSES,
    StoreError,
    connect,
    rollback,
    store_error,
)

STORE_FILE_NAME = "runs.sqlite"
DEFAULT_HEARTBEAT_TIMEOUT = 120.0  # seconds without a heartbeat before a run counts as lost
PREDICTION_COLUMNS = ["run_id", "fold", "split", "path", "sha256", "label", "probability"]
ACTIVE_STATUSES = ("queued", "running")


class RunNotFound(UserError, LookupError):
    """No run or experiment with that id (or name). A UserError: printed without a traceback."""


class StoreWarning(UserWarning):
    """Something about the store the user should know (run folders without rows...)."""


def _guarded(action: str):
    """Decorator: turn any SQLite failure of a RunStore method into a StoreError saying what
    happened (disk full, I/O error, damaged file, read-only, locked) and while doing what."""

    def decorate(method):
        @functools.wraps(method)
        def wrapper(self, *args, **kwargs):
            try:
                return method(self, *args, **kwargs)
            except (sqlite3.Error, pd.errors.DatabaseError) as exc:
                raise store_error(exc, self.path, action) from exc

        return wrapper

    return decorate


class RunStore:
    """Access to the run store of a workbench home.

    Args:
        home: the workbench home (default ``$GLAUCOMA_HOME`` or ``models/``); the store file is
            ``<home>/runs.sqlite``, created and migrated on first use.
        heartbeat_timeout: seconds after which a running run without a heartbeat counts as
            lost (its process hung, or runs on an unreachable host).
        read_only: a viewer (the app's pages, a dashboard): the file is opened with SQLite's
            ``mode=ro``; nothing is created, migrated or written, and every write method raises
            StoreError. :meth:`reap_dead_runs` does nothing there (reads still show the
            derived ``alive`` / ``stale_reason`` of running runs).

    Reads never write: :meth:`runs`, :meth:`run`, :meth:`experiments`, :meth:`epochs` ... show
    what is recorded, plus derived columns ``alive`` and ``stale_reason`` for queued and
    running runs. Recording dead runs as failed is :meth:`reap_dead_runs`, called explicitly.

    ``warnings`` (a list of str, also issued as :class:`StoreWarning` when the store is opened)
    says when run folders exist that the store has no row for (a store emptied or replaced
    while its model files stayed): their models are never served for new runs.
    """

    def __init__(self, home: str | os.PathLike | None = None, *,
                 heartbeat_timeout: float = DEFAULT_HEARTBEAT_TIMEOUT, read_only: bool = False):
        self.read_only = bool(read_only)
        self.home = _existing_home(home) if self.read_only else home_dir(home)
        self.path = self.home / STORE_FILE_NAME
        self.heartbeat_timeout = float(heartbeat_timeout)
        self._local = threading.local()
        self._last_reap = -math.inf
        self._store_uuid: str | None = None
        self._conn()  # create / migrate now, so that a bad store fails here
        self.warnings: list[str] = self._check_orphans()
        for message in self.warnings:
            warnings.warn(message, StoreWarning, stacklevel=2)

    def __repr__(self) -> str:
        mode = ", read_only=True" if self.read_only else ""
        return f"RunStore({str(self.home)!r}{mode})"

    # ------------------------------------------------------------ connections

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "pid", None) != os.getpid():
            conn = connect(self.path, read_only=self.read_only)
            self._local.conn = conn
            self._local.pid = os.getpid()
        return conn

    def close(self) -> None:
        """Close this thread's connection (others close when their thread ends)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None and getattr(self._local, "pid", None) == os.getpid():
            conn.close()
        self._local.conn = None

    def _check_writable(self) -> None:
        if self.read_only:
            raise StoreError(f"{self.path}: this run store was opened read-only; it cannot be written", "readonly")

    @contextmanager
    def _tx(self):
        """A short write transaction (takes the write lock at once; waits when busy)."""
        self._check_writable()
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            rollback(conn)
            raise

    def _query(self, sql: str, params: Iterable[Any] = ()) -> pd.DataFrame:
        return pd.read_sql_query(sql, self._conn(), params=tuple(params))

    @property
    def store_uuid(self) -> str:
        """This store's random identity (written into every run folder it uses)."""
        if self._store_uuid is None:
            row = self._conn().execute("SELECT value FROM store_info WHERE key = 'store_uuid'").fetchone()
            self._store_uuid = str(row[0])
        return self._store_uuid

    # ------------------------------------------------------------ ids

    def _run_id(self, run_id: Any) -> int:
        """``run_id`` as an int a row can have; RunNotFound for a number no run can have
        (negative, 0, beyond 64 bits), InvalidId for something that is not a number."""
        number = as_id(run_id, "run")
        if not storable(number):
            raise RunNotFound(f"no run {number} in {self.path}")
        return number

    def _run_ids(self, run_ids: Any) -> list[int]:
        """Ids for a query over several runs: numbers no run can have match nothing."""
        numbers = [as_id(r, "run") for r in _as_list(run_ids)]
        return [n for n in numbers if storable(n)]

    def _experiment_id(self, experiment_id: Any) -> int:
        number = as_id(experiment_id, "experiment")
        if not storable(number):
            raise RunNotFound(f"no experiment {number} in {self.path}")
        return number

    # ------------------------------------------------------------ experiments

    @_guarded("recording an experiment")
    def create_experiment(self, name: str, config: Mapping | Any, data_root: str | os.PathLike | None,
                          fingerprint: str | None, folds: Iterable[int]) -> int:
        """Record an experiment (``config`` over ``folds`` of the dataset at ``data_root``).

        ``fingerprint`` identifies the dataset's content (``data.index.dataset_fingerprint``).
        Returns the new experiment id.
        """
        folds = [int(f) for f in folds]
        with self._tx() as conn:
            cursor = conn.execute(
                "INSERT INTO experiments (name, config, data_root, fingerprint, folds, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (str(name), _config_json(config), _str_or_none(data_root), fingerprint,
                 json.dumps(folds), time.time()),
            )
            return int(cursor.lastrowid)

    @_guarded("reading experiments")
    def experiments(self) -> pd.DataFrame:
        """All experiments, newest first: id, name, data_root, fingerprint, folds (list),
        created_at, config (dict), runs, finished, running, failed (counts of their runs)."""
        frame = self._query(
            "SELECT e.id, e.name, e.data_root, e.fingerprint, e.folds, e.created_at, e.config, "
            "COUNT(r.id) AS runs, "
            "SUM(r.status = 'finished') AS finished, SUM(r.status = 'running') AS running, "
            "SUM(r.status = 'failed') AS failed, SUM(r.status = 'cancelled') AS cancelled "
            "FROM experiments e LEFT JOIN runs r ON r.experiment_id = e.id "
            "GROUP BY e.id ORDER BY e.id DESC"
        )
        frame["folds"] = frame["folds"].map(json.loads)
        frame["config"] = frame["config"].map(json.loads)
        for column in ("runs", "finished", "running", "failed", "cancelled"):
            frame[column] = frame[column].fillna(0).astype(int)
        return frame

    @_guarded("reading an experiment")
    def experiment(self, id_or_name: int | str) -> dict:
        """One experiment as a dict (keys as in :meth:`experiments`, without the counts).

        ``id_or_name``: the id (int or digit string) or the name (the newest experiment of that
        name). Raises RunNotFound.
        """
        conn = self._conn()
        row = None
        is_number = isinstance(id_or_name, int) or str(id_or_name).strip().isdigit()
        if is_number and not isinstance(id_or_name, bool) and storable(int(str(id_or_name).strip())):
            row = conn.execute("SELECT * FROM experiments WHERE id = ?", (int(str(id_or_name).strip()),)).fetchone()
        if row is None:
            row = conn.execute(
                "SELECT * FROM experiments WHERE name = ? ORDER BY id DESC LIMIT 1", (str(id_or_name),)
            ).fetchone()
        if row is None:
            raise RunNotFound(f"no experiment {id_or_name!r} in {self.path}")
        result = dict(row)
        result["folds"] = json.loads(result["folds"])
        result["config"] = json.loads(result["config"])
        return result

    # ------------------------------------------------------------ runs

    @_guarded("recording a run")
    def create_run(self, experiment_id: int | None, fold: int | None, config: Mapping | Any,
                   data_root: str | os.PathLike | None) -> int:
        """Record a run (one fold; ``experiment_id`` None for a lone run), status 'queued'.

        Run ids are never reused while files remain: the new id is above every id the store
        ever gave (AUTOINCREMENT) and above every ``runs/<N>/`` folder on disk, so a model left
        by a lost store can never be taken for the new run's.
        """
        experiment = None if experiment_id is None else self._experiment_id(experiment_id)
        run_uuid = new_run_uuid()
        with self._tx() as conn:
            next_id = self._next_free_run_id(conn)
            cursor = conn.execute(
                "INSERT INTO runs (id, experiment_id, fold, config, data_root, status, created_at, uuid) "
                "VALUES (?, ?, ?, ?, ?, 'queued', ?, ?)",
                (next_id, experiment, None if fold is None else int(fold), _config_json(config),
                 _str_or_none(data_root), time.time(), run_uuid),
            )
            return int(cursor.lastrowid)

    def _next_free_run_id(self, conn: sqlite3.Connection) -> int:
        row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'runs'").fetchone()
        highest = max(int(row[0]) if row else 0, int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM runs").fetchone()[0]))
        on_disk = max(_run_folder_ids(self.home / "runs"), default=0)
        return max(highest, on_disk) + 1

    @_guarded("reading runs")
    def runs(self, experiment_id: int | None = None) -> pd.DataFrame:
        """Runs (all, or one experiment's), newest first, as recorded (nothing is written).

        Columns: id, experiment_id, experiment_name, fold, status, pid, host, heartbeat,
        created_at, started_at, finished_at (Unix seconds), error, cancel_requested (bool),
        best_epoch, model_path, seconds, skipped_images, data_root, config (dict), backbone,
        epochs_done, valid_auc, test_auc, and two derived ones: alive (True/False for queued
        and running runs: is their process there; <NA> for ended runs) and stale_reason (what
        :meth:`reap_dead_runs` would record for a run whose process is gone, else None).
        """
        if experiment_id is not None:
            where, params = "WHERE r.experiment_id = ?", (self._experiment_id_or_none(experiment_id),)
        else:
            where, params = "", ()
        frame = self._query(
            "SELECT r.id, r.experiment_id, e.name AS experiment_name, r.fold, r.status, r.pid, r.host, "
            "r.heartbeat, r.created_at, r.started_at, r.finished_at, r.error, r.cancel_requested, "
            "r.best_epoch, r.model_path, r.seconds, r.skipped_images, r.data_root, r.config, "
            "(SELECT MAX(epoch) FROM epochs p WHERE p.run_id = r.id) AS epochs_done, "
            "(SELECT value FROM final_metrics m WHERE m.run_id = r.id AND m.split = 'valid' "
            " AND m.metric = 'auc') AS valid_auc, "
            "(SELECT value FROM final_metrics m WHERE m.run_id = r.id AND m.split = 'test' "
            " AND m.metric = 'auc') AS test_auc "
            f"FROM runs r LEFT JOIN experiments e ON e.id = r.experiment_id {where} ORDER BY r.id DESC",
            params,
        )
        for column in ("experiment_id", "fold", "pid", "best_epoch", "skipped_images", "epochs_done"):
            frame[column] = frame[column].astype("Int64")
        frame["cancel_requested"] = frame["cancel_requested"].astype(bool)
        frame["config"] = frame["config"].map(json.loads)
        frame["backbone"] = frame["config"].map(lambda c: c.get("backbone") if isinstance(c, dict) else None)
        for column in ("valid_auc", "test_auc", "heartbeat", "started_at", "finished_at", "seconds"):
            frame[column] = frame[column].astype(float)
        host, now = this_host(), time.time()
        reasons = [
            self._death_reason(row, host, now) if row["status"] in ACTIVE_STATUSES else None
            for row in frame[["status", "pid", "host", "heartbeat", "started_at"]].to_dict("records")
        ]
        frame["stale_reason"] = pd.Series(reasons, index=frame.index, dtype=object)
        frame["alive"] = pd.array(
            [(reason is None) if status in ACTIVE_STATUSES else pd.NA
             for status, reason in zip(frame["status"], reasons, strict=True)],
            dtype="boolean",
        )
        return frame

    def _experiment_id_or_none(self, experiment_id: Any) -> int:
        number = as_id(experiment_id, "experiment")
        return number if storable(number) else 0  # matches no experiment: an empty frame

    @_guarded("reading a run")
    def run(self, run_id: int) -> dict:
        """One run as a dict, as recorded (nothing is written). Keys: id, experiment_id, fold,
        status, pid, host, heartbeat, created_at, started_at, finished_at, error,
        cancel_requested (bool), best_epoch, model_path, seconds, skipped_images, config (dict),
        data_root, uuid, and the derived alive / stale_reason (see :meth:`runs`).
        Raises RunNotFound."""
        result = self._run_row(run_id)
        if result["status"] in ACTIVE_STATUSES:
            result["stale_reason"] = self._death_reason(result, this_host(), time.time())
            result["alive"] = result["stale_reason"] is None
        else:
            result["stale_reason"], result["alive"] = None, None
        return result

    def _run_row(self, run_id: int) -> dict:
        number = self._run_id(run_id)
        row = self._conn().execute("SELECT * FROM runs WHERE id = ?", (number,)).fetchone()
        if row is None:
            raise RunNotFound(f"no run {number} in {self.path}")
        result = dict(row)
        result["config"] = json.loads(result["config"])
        result["cancel_requested"] = bool(result["cancel_requested"])
        return result

    @_guarded("claiming a run")
    def claim_run(self, run_id: int, pid: int | None = None) -> None:
        """Record the process that will run a queued run (so that a job that dies before
        starting it is noticed). ``pid`` defaults to this process."""
        number = self._run_id(run_id)
        with self._tx() as conn:
            conn.execute(
                "UPDATE runs SET pid = ?, host = ? WHERE id = ? AND status = 'queued'",
                (pid or os.getpid(), this_host(), number),
            )

    @_guarded("starting a run")
    def mark_running(self, run_id: int, pid: int | None = None) -> bool:
        """queued -> running, with ``pid`` (default: this process), host and a first heartbeat.

        Returns False (and changes nothing) when the run is no longer queued, e.g. cancelled
        while it waited.
        """
        number = self._run_id(run_id)
        now = time.time()
        with self._tx() as conn:
            cursor = conn.execute(
                "UPDATE runs SET status = 'running', pid = ?, host = ?, heartbeat = ?, started_at = ?, "
                "error = NULL WHERE id = ? AND status = 'queued'",
                (pid or os.getpid(), this_host(), now, now, number),
            )
            return cursor.rowcount == 1

    @_guarded("recording a heartbeat")
    def heartbeat(self, run_id: int) -> None:
        """Record that the run's process is alive (only while the run is running)."""
        number = self._run_id(run_id)
        with self._tx() as conn:
            conn.execute("UPDATE runs SET heartbeat = ? WHERE id = ? AND status = 'running'", (time.time(), number))

    def finish_run(self, run_id: int, status: str, error: str | None = None, *,
                   best_epoch: int | None = None, seconds: float | None = None,
                   skipped_images: int | None = None) -> None:
        """End a run: ``status`` is 'finished', 'failed' or 'cancelled'; ``error`` the reason of
        a failure; the optional keywords describe the result.

        When the store itself cannot write (disk full...), a failure's reason is kept in
        ``runs/<id>/failure.txt`` (best effort), which :meth:`reap_dead_runs` records once the
        store can write again, instead of "exited without finishing"; then StoreError is raised.
        """
        if status not in FINAL_STATUSES:
            raise ValueError(f"finish_run: status must be one of {FINAL_STATUSES}, not {status!r}")
        number = self._run_id(run_id)
        try:
            with self._tx() as conn:
                conn.execute(
                    "UPDATE runs SET status = ?, error = ?, finished_at = ?, "
                    "best_epoch = COALESCE(?, best_epoch), seconds = COALESCE(?, seconds), "
                    "skipped_images = COALESCE(?, skipped_images) WHERE id = ?",
                    (status, error, time.time(), best_epoch, seconds, skipped_images, number),
                )
        except (sqlite3.Error, pd.errors.DatabaseError) as exc:
            problem = store_error(exc, self.path, f"recording the end of run {number}")
            if status == "failed" and not self.read_only:
                _write_failure_note(self.run_dir(number), error or "failed", problem)
            raise problem from exc

    @_guarded("cancelling a run")
    def request_cancel(self, run_id: int) -> str:
        """Ask a run to stop. A queued run is cancelled at once; a running one stops at the end
        of its current epoch (its trainer reads :meth:`cancel_requested`) and keeps its best
        model. Returns the run's status after the request."""
        number = self._run_id(run_id)
        with self._tx() as conn:
            conn.execute(
                "UPDATE runs SET status = 'cancelled', finished_at = ?, cancel_requested = 1 "
                "WHERE id = ? AND status = 'queued'",
                (time.time(), number),
            )
            conn.execute("UPDATE runs SET cancel_requested = 1 WHERE id = ? AND status = 'running'", (number,))
            row = conn.execute("SELECT status FROM runs WHERE id = ?", (number,)).fetchone()
        if row is None:
            raise RunNotFound(f"no run {number} in {self.path}")
        return row["status"]

    @_guarded("reading a cancel request")
    def cancel_requested(self, run_id: int) -> bool:
        """True when someone asked this run to stop."""
        number = self._run_id(run_id)
        row = self._conn().execute("SELECT cancel_requested FROM runs WHERE id = ?", (number,)).fetchone()
        return bool(row and row["cancel_requested"])

    @_guarded("recording dead runs")
    def reap_dead_runs(self, min_interval_s: float = 0.0) -> list[int]:
        """Mark runs whose process is gone as failed, with the reason. Returns their ids.

        The one place where dead runs are written down (reads only *show* ``alive`` and
        ``stale_reason``). Call it where a decision depends on it (before choosing which folds
        to train, before listing runs in the CLI) or, rate-limited, from a poller.

        Args:
            min_interval_s: do nothing (return []) when this store object already reaped less
                than this many seconds ago; a poller passes its period, so that a page polling
                every second checks processes at most that often.

        - running, pid on this host not alive (killed, crashed, zombie): "process N exited
          without finishing (killed?)", or the reason the run's process left in
          ``runs/<id>/failure.txt`` when the store could not record it (disk full);
        - running, no heartbeat for ``heartbeat_timeout`` seconds: hung or lost;
        - queued and claimed by a process (a job) on this host that is no longer alive.

        Nothing is written when no run is dead; a read-only store never writes (returns []).
        """
        if self.read_only:
            return []
        clock = time.monotonic()
        if clock - self._last_reap < float(min_interval_s):
            return []
        self._last_reap = clock
        conn = self._conn()
        rows = conn.execute(
            "SELECT id, status, pid, host, heartbeat, started_at FROM runs "
            "WHERE status IN ('running', 'queued')"
        ).fetchall()
        host, now, dead = this_host(), time.time(), []
        for row in rows:
            reason = self._death_reason(row, host, now)
            if reason:
                note = _read_failure_note(self.run_dir(row["id"]))
                dead.append((row["id"], row["status"], note or reason))
        reaped = []
        for run_id, old_status, reason in dead:
            with self._tx() as tx:
                cursor = tx.execute(
                    "UPDATE runs SET status = 'failed', error = ?, finished_at = ? WHERE id = ? AND status = ?",
                    (reason, now, run_id, old_status),
                )
                if cursor.rowcount:
                    reaped.append(run_id)
        return reaped

    def _death_reason(self, row: Mapping, host: str, now: float) -> str | None:
        pid = row["pid"]
        pid = None if pid is None or pid is pd.NA or pid != pid else int(pid)
        same_host = row["host"] is None or row["host"] is pd.NA or row["host"] != row["host"] or row["host"] == host
        if row["status"] == "queued":
            if pid and same_host and not pid_alive(pid):
                return f"job process {pid} exited before this run started (see its log.txt)"
            return None
        if pid and same_host and not pid_alive(pid):
            return f"process {pid} exited without finishing (killed?)"
        last = _number_or_none(row["heartbeat"]) or _number_or_none(row["started_at"])
        if last is not None and now - last > self.heartbeat_timeout:
            where = f"process {pid} on {row['host']}" if pid else "its process"
            return f"no heartbeat for {now - last:.0f} s ({where} hung or unreachable)"
        return None

    # ------------------------------------------------------------ epochs

    @_guarded("recording an epoch")
    def add_epoch(self, run_id: int, epoch: int, metrics: Mapping[str, Any]) -> None:
        """Record one epoch's metrics (1-based ``epoch``; replaces a previous record of it) and
        refresh the run's heartbeat."""
        number = self._run_id(run_id)
        now = time.time()
        with self._tx() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO epochs (run_id, epoch, metrics, recorded_at) VALUES (?, ?, ?, ?)",
                (number, int(epoch), json.dumps(_plain(dict(metrics))), now),
            )
            conn.execute("UPDATE runs SET heartbeat = ? WHERE id = ? AND status = 'running'", (now, number))

    @_guarded("reading epochs")
    def epochs(self, run_ids: int | Iterable[int]) -> pd.DataFrame:
        """Epoch metrics of the given runs: run_id, fold, epoch, recorded_at, one column per metric."""
        ids = self._run_ids(run_ids)
        if not ids:
            return pd.DataFrame(columns=["run_id", "fold", "epoch", "recorded_at"])
        frame = self._query(
            f"SELECT p.run_id, r.fold, p.epoch, p.recorded_at, p.metrics FROM epochs p "
            f"JOIN runs r ON r.id = p.run_id WHERE p.run_id IN ({_marks(ids)}) ORDER BY p.run_id, p.epoch",
            ids,
        )
        metrics = pd.DataFrame([json.loads(text) for text in frame.pop("metrics")], index=frame.index)
        frame = pd.concat([frame, metrics], axis=1)
        frame["fold"] = frame["fold"].astype("Int64")
        return frame

    # ------------------------------------------------------------ predictions, final metrics

    @_guarded("saving predictions")
    def save_predictions(self, run_id: int, predictions: pd.DataFrame) -> None:
        """Store a run's per-image probabilities (replacing earlier ones). ``predictions`` has
        columns split, path, sha256, label, probability (P(glaucoma))."""
        number = self._run_id(run_id)
        missing = {"split", "path", "label", "probability"} - set(predictions.columns)
        if missing:
            raise ValueError(f"save_predictions: missing columns {sorted(missing)}")
        sha = predictions["sha256"] if "sha256" in predictions.columns else [None] * len(predictions)
        rows = [
            (number, str(split), _text(path), None if s is None or s != s else str(s), int(label), float(prob))
            for split, path, s, label, prob in zip(
                predictions["split"], predictions["path"], sha, predictions["label"], predictions["probability"],
                strict=True,
            )
        ]
        with self._tx() as conn:
            conn.execute("DELETE FROM predictions WHERE run_id = ?", (number,))
            conn.executemany(
                "INSERT INTO predictions (run_id, split, path, sha256, label, probability) VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )

    @_guarded("reading predictions")
    def predictions(self, run_ids: int | Iterable[int], split: str | None = None) -> pd.DataFrame:
        """Per-image predictions: run_id, fold, split, path, sha256, label, probability."""
        ids = self._run_ids(run_ids)
        if not ids:
            return pd.DataFrame(columns=PREDICTION_COLUMNS)
        sql = (
            "SELECT p.run_id, r.fold, p.split, p.path, p.sha256, p.label, p.probability FROM predictions p "
            f"JOIN runs r ON r.id = p.run_id WHERE p.run_id IN ({_marks(ids)})"
        )
        params = list(ids)
        if split is not None:
            sql += " AND p.split = ?"
            params.append(split)
        frame = self._query(sql + " ORDER BY p.run_id, p.split, p.path", params)
        frame["fold"] = frame["fold"].astype("Int64")
        frame["label"] = frame["label"].astype(int)
        frame["probability"] = frame["probability"].astype(float)
        return frame

    @_guarded("saving final metrics")
    def save_final_metrics(self, run_id: int, split: str, metrics: Mapping[str, float]) -> None:
        """Store a run's final metrics on one split (replacing earlier values of those names)."""
        number = self._run_id(run_id)
        rows = [(number, str(split), str(name), _float_or_none(value)) for name, value in metrics.items()]
        with self._tx() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO final_metrics (run_id, split, metric, value) VALUES (?, ?, ?, ?)", rows
            )

    @_guarded("reading final metrics")
    def final_metrics(self, run_ids: int | Iterable[int]) -> pd.DataFrame:
        """Final metrics in long form: run_id, fold, split, metric, value."""
        ids = self._run_ids(run_ids)
        if not ids:
            return pd.DataFrame(columns=["run_id", "fold", "split", "metric", "value"])
        frame = self._query(
            "SELECT m.run_id, r.fold, m.split, m.metric, m.value FROM final_metrics m "
            f"JOIN runs r ON r.id = m.run_id WHERE m.run_id IN ({_marks(ids)}) ORDER BY m.run_id, m.split, m.metric",
            ids,
        )
        frame["fold"] = frame["fold"].astype("Int64")
        frame["value"] = frame["value"].astype(float)
        return frame

    # ------------------------------------------------------------ model files

    def run_dir(self, run_id: int) -> Path:
        """``<home>/runs/<run_id>/``: the run's model, identity and log (not created here)."""
        return self.home / "runs" / str(self._run_id(run_id))

    def log_path(self, run_id: int) -> Path:
        """The run's log file (stdout and stderr of its job); its folder is not created here:
        the writer of the log creates it."""
        return self.run_dir(run_id) / "log.txt"

    def model_path(self, run_id: int) -> Path:
        """Where the run's model is (or will be): ``<home>/runs/<run_id>/model.keras``. Only a
        path: :meth:`verified_model_path` or :meth:`load_model` check that it is this run's."""
        return self.run_dir(run_id) / MODEL_FILE_NAME

    def _identity(self, info: Mapping) -> RunIdentity | None:
        if not info.get("uuid"):
            return None  # recorded before run identities existed (schema < 3)
        return RunIdentity(self.store_uuid, int(info["id"]), str(info["uuid"]), float(info["created_at"]))

    @_guarded("saving a model")
    def save_model(self, run_id: int, model) -> Path:
        """Write the run's model atomically and record it, after the run's identity file.

        Raises ModelSaveError (OSError), or StoreError when ``runs/<id>/`` already belongs to
        another run (another store's folder: it is left alone).
        """
        self._check_writable()  # before any file is written
        info = self._run_row(run_id)
        folder = self.run_dir(info["id"])
        mine = self._identity(info)
        if mine is not None:
            try:
                theirs = read_identity(folder)
            except ValueError as exc:
                raise StoreError(f"{exc}; not saving run {info['id']}'s model over it") from None
            if theirs is not None and not theirs.same_run(mine):
                raise StoreError(
                    f"{folder} belongs to {theirs.describe()}, not to run {info['id']} of this store "
                    f"({mine.describe()}); its files are left alone", "other"
                )
            _write_identity_or_fail(folder, mine)  # claims the folder; no model hash while it is replaced
        path = save_model_atomic(model, folder / MODEL_FILE_NAME)
        if mine is not None:
            try:
                _write_identity_or_fail(folder, replace(mine, model_sha256=file_sha256(path)))
            except OSError as exc:
                raise ModelSaveError(exc.errno, f"could not hash {path}: {exc.strerror or exc}") from exc
        with self._tx() as conn:
            conn.execute(
                "UPDATE runs SET model_path = ? WHERE id = ?",
                (path.relative_to(self.home).as_posix(), int(info["id"])),
            )
        return path

    @_guarded("checking a model file")
    def verified_model_path(self, run_id: int, *, serve: bool = True) -> Path:
        """The run's model file, after checking that it is this run's (use it to serve the
        file itself, e.g. a download). Raises RunNotFound or ModelFileProblem with the reason:
        no model saved, the folder's identity is another run's (a lost or replaced store), or
        (``serve``) the file's sha256 is not the one recorded when it was saved."""
        info = self._run_row(run_id)
        path = self.model_path(info["id"])
        if not info.get("model_path"):
            why = f"; {info['error']}" if info.get("error") else ""
            extra = ""
            if path.exists():
                extra = (f"; {path} exists but the store never recorded saving it for this run "
                         "(left by a lost or replaced store?), so it is not served")
            raise ModelFileProblem(path, f"run {info['id']} has no saved model (status {info['status']}{why}){extra}")
        mine = self._identity(info)
        if mine is None:
            return path  # a run from before identities: as before, the recorded model
        try:
            theirs = read_identity(path.parent)
        except ValueError as exc:
            raise ModelFileProblem(path, str(exc)) from None
        if theirs is None:
            raise ModelFileProblem(
                path, f"no run identity file ({IDENTITY_FILE_NAME}) beside the model: cannot tell it is run "
                      f"{info['id']}'s, so it is not served")
        if not theirs.same_run(mine):
            raise ModelFileProblem(
                path, f"this model belongs to {theirs.describe()}, not to run {info['id']} of this store "
                      f"({mine.describe()}); refusing to serve another run's model")
        if serve:
            self._check_model_hash(path)
        return path

    def load_model(self, run_id: int):
        """The run's model, loaded with ``safe_mode=True``, after :meth:`verified_model_path`.

        Raises RunNotFound, or ModelFileProblem with a reason (no model saved, another run's
        file, file missing, corrupt, unsafe, or a file other than the one saved: a model copied
        over it from another run).
        """
        path = self.verified_model_path(run_id, serve=False)
        model = load_model_safe(path)  # missing / corrupt / unsafe first: their own reasons
        self._check_model_hash(path)
        return model

    def _check_model_hash(self, path: Path) -> None:
        try:
            theirs = read_identity(path.parent)
        except ValueError as exc:
            raise ModelFileProblem(path, str(exc)) from None
        if theirs is None or not theirs.model_sha256:
            return
        try:
            actual = file_sha256(path)
        except OSError as exc:
            raise ModelFileProblem(path, f"model file is unreadable ({exc.strerror or exc})") from None
        if actual != theirs.model_sha256:
            raise ModelFileProblem(
                path, f"model file is not the one saved for run {theirs.run_id} (its sha256 differs from the one "
                      "recorded when it was saved: replaced or copied from another run); refusing to serve it")

    # ------------------------------------------------------------ store health

    def orphaned_run_dirs(self) -> list[int]:
        """Ids of ``runs/<N>/`` folders with files but no run N in this store, or whose identity
        file names another store: left by a store that was emptied, replaced or restored from
        an older backup. Their models are never served."""
        try:
            known = {int(r[0]) for r in self._conn().execute("SELECT id FROM runs")}
        except sqlite3.Error as exc:
            raise store_error(exc, self.path, "listing run folders") from exc
        orphans = []
        for number in sorted(_run_folder_ids(self.home / "runs")):
            folder = self.home / "runs" / str(number)
            if number not in known:
                if _has_files(folder):
                    orphans.append(number)
                continue
            try:
                theirs = read_identity(folder)
            except ValueError:
                continue
            if theirs is not None and theirs.store != self.store_uuid:
                orphans.append(number)
        return orphans

    def _check_orphans(self) -> list[str]:
        try:
            orphans = self.orphaned_run_dirs()
        except (OSError, StoreError):
            return []
        if not orphans:
            return []
        shown = ", ".join(map(str, orphans[:10])) + (" ..." if len(orphans) > 10 else "")
        return [
            f"{self.home / 'runs'}: {len(orphans)} run folder(s) ({shown}) hold files that {self.path} has no "
            "record of (the store was emptied, replaced or restored from an older backup?). Their models "
            "are not served and new runs get other ids; restore runs.sqlite from a backup to use them, or "
            "move the folders away."
        ]

    # ------------------------------------------------------------ annotations and deletion (issue 13)

    @_guarded("reading names, tags and notes")
    def annotations(self, kind: str) -> pd.DataFrame:
        """What the user wrote about each run (``kind='run'``) or experiment (``'experiment'``):
        columns id, name, tags (list of str), notes, archived (bool)."""
        table = _annotated_table(kind)
        frame = self._query(f"SELECT id, name, tags, notes, archived FROM {table} ORDER BY id")
        frame["tags"] = frame["tags"].map(lambda t: json.loads(t) if isinstance(t, str) and t else [])
        frame["archived"] = frame["archived"].fillna(0).astype(bool)
        frame["notes"] = frame["notes"].fillna("")
        return frame

    @_guarded("saving names, tags and notes")
    def annotate(self, kind: str, item_id: int, **fields: Any) -> None:
        """Set ``name`` (text), ``tags`` (list of text), ``notes`` (text) and/or ``archived``
        (bool) of a run or an experiment. Raises RunNotFound when there is none."""
        table = _annotated_table(kind)
        unknown = set(fields) - {"name", "tags", "notes", "archived"}
        if unknown:
            raise ValueError(f"cannot set {', '.join(sorted(unknown))} of a {kind}")
        number = self._run_id(item_id) if kind == "run" else self._experiment_id(item_id)
        values = {k: json.dumps(list(v)) if k == "tags" else int(bool(v)) if k == "archived" else v
                  for k, v in fields.items()}
        with self._tx() as conn:
            if conn.execute(f"SELECT 1 FROM {table} WHERE id = ?", (number,)).fetchone() is None:
                raise RunNotFound(f"no {kind} {number} in {self.path}")
            if values:
                assignments = ", ".join(f"{k} = ?" for k in values)
                conn.execute(f"UPDATE {table} SET {assignments} WHERE id = ?", (*values.values(), number))

    @_guarded("deleting runs")
    def delete_runs(self, run_ids: Iterable[int], experiment_id: int | None = None) -> None:
        """Delete the rows of ``run_ids`` (their epochs, predictions and metrics go with them)
        and, when given, the experiment ``experiment_id``; model files are the caller's."""
        ids = [self._run_id(r) for r in run_ids]
        with self._tx() as conn:
            conn.executemany("DELETE FROM runs WHERE id = ?", [(i,) for i in ids])
            if experiment_id is not None:
                conn.execute("DELETE FROM experiments WHERE id = ?", (self._experiment_id(experiment_id),))


def _annotated_table(kind: str) -> str:
    tables = {"run": "runs", "experiment": "experiments"}
    if kind not in tables:
        raise ValueError(f"kind must be run or experiment, not {kind!r}")
    return tables[kind]


def _write_identity_or_fail(folder: Path, identity: RunIdentity) -> None:
    try:
        write_identity(folder, identity)
    except OSError as exc:
        raise ModelSaveError(exc.errno, f"could not write {folder / IDENTITY_FILE_NAME}: {exc.strerror or exc}") from exc


def _existing_home(home: str | os.PathLike | None) -> Path:
    """The home for a read-only store: resolved, never created."""
    chosen = home or os.environ.get("GLAUCOMA_HOME") or PROJECT_ROOT / "models"
    path = Path(chosen).expanduser().resolve()
    if not path.is_dir():
        raise StoreError(f"{path}: no workbench home here (a read-only viewer does not create one)", "missing")
    return path


def _run_folder_ids(runs_dir: Path) -> list[int]:
    try:
        names = os.listdir(runs_dir)
    except OSError:
        return []
    return [int(name) for name in names if name.isdigit() and name.isascii() and len(name) < 19]


def _has_files(folder: Path) -> bool:
    try:
        return any(True for _ in os.scandir(folder))
    except OSError:
        return False


def _number_or_none(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


_FAILURE_NOTE = "failure.txt"


def _write_failure_note(folder: Path, reason: str, problem: StoreError) -> None:
    """Keep a failure's reason beside the run when the store cannot record it (best effort)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / _FAILURE_NOTE).write_text(f"{reason} [not recorded in the store at the time: {problem}]\n",
                                            encoding="utf-8")
    except OSError:
        pass


def _read_failure_note(folder: Path) -> str | None:
    path = folder / _FAILURE_NOTE
    if not path.is_file():
        return None
    try:
        from glaucoma_core.data.safe_files import read_user_text

        return read_user_text(path, max_bytes=16_384).strip()[:2000] or None
    except OSError:
        return None


def _text(value: Any) -> str:
    """A path as text SQLite accepts: undecodable file-name bytes (surrogates) escaped."""
    text = os.fspath(value) if isinstance(value, os.PathLike) else str(value)
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


# ---------------------------------------------------------------- helpers


def _config_json(config: Mapping | Any) -> str:
    if hasattr(config, "to_dict"):
        config = config.to_dict()
    return json.dumps(_plain(dict(config)), sort_keys=True)


def _plain(value: Any) -> Any:
    """Make numpy scalars, tuples and paths JSON-friendly."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (str, bool, int)) or value is None:
        return value
    if isinstance(value, float):
        return value
    if hasattr(value, "item"):  # numpy scalar
        return _plain(value.item())
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def _float_or_none(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _str_or_none(value: Any) -> str | None:
    return None if value is None else os.fspath(value)


def _as_list(run_ids: Any) -> list:
    """One id or an iterable of ids, as a list (a lone non-iterable value is one id)."""
    if isinstance(run_ids, (int, str, bytes, float)) or run_ids is None or hasattr(run_ids, "__index__"):
        return [run_ids]
    try:
        return list(run_ids)
    except TypeError:
        return [run_ids]


def _marks(ids: list[int]) -> str:
    return ", ".join("?" * len(ids))


__all__ = [
    "DEFAULT_HEARTBEAT_TIMEOUT",
    "RUN_STATUSES",
    "InvalidId",
    "ModelFileProblem",
    "RunNotFound",
    "RunStore",
    "StoreError",
    "StoreWarning",
]
