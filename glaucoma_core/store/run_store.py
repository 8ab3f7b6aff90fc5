"""The run store: experiments, runs, epoch metrics, predictions, final metrics, model files.

One SQLite file, ``<home>/runs.sqlite`` (WAL mode), and one folder per run,
``<home>/runs/<run_id>/`` (``model.keras``, ``log.txt``). A run is one fold trained with one
configuration; an experiment is a configuration over a set of folds (a cross-validation).

Concurrency: each run has one writer (its training process); any number of readers (the app,
the CLI) read at the same time without blocking it. Every write is a short transaction. A
``RunStore`` may be shared by threads: each thread (and each forked process) gets its own
connection.

Liveness: a running run records its pid, host and a heartbeat. :meth:`RunStore.reap_dead_runs`
(called by :meth:`runs` and :meth:`run`) marks a run whose process is gone, or whose heartbeat
is too old, as ``failed`` with the reason, so that no run stays ``running`` forever.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from glaucoma_core.paths import home_dir
from glaucoma_core.store.liveness import pid_alive, this_host
from glaucoma_core.store.model_files import (
    MODEL_FILE_NAME,
    ModelFileProblem,
    load_model_safe,
    save_model_atomic,
)
from glaucoma_core.store.schema import FINAL_STATUSES, RUN_STATUSES, connect

STORE_FILE_NAME = "runs.sqlite"
DEFAULT_HEARTBEAT_TIMEOUT = 120.0  # seconds without a heartbeat before a run counts as lost
PREDICTION_COLUMNS = ["run_id", "fold", "split", "path", "sha256", "label", "probability"]


class RunNotFound(LookupError):
    """No run or experiment with that id (or name)."""


class RunStore:
    """Access to the run store of a workbench home.

    Args:
        home: the workbench home (default ``$GLAUCOMA_HOME`` or ``models/``); the store file is
            ``<home>/runs.sqlite``, created and migrated on first use.
        heartbeat_timeout: seconds after which a running run without a heartbeat is marked
            failed (its process hung, or runs on an unreachable host).
    """

    def __init__(self, home: str | os.PathLike | None = None, *,
                 heartbeat_timeout: float = DEFAULT_HEARTBEAT_TIMEOUT):
        self.home = home_dir(home)
        self.path = self.home / STORE_FILE_NAME
        self.heartbeat_timeout = float(heartbeat_timeout)
        self._local = threading.local()
        self._conn()  # create / migrate now, so that a bad store fails here

    def __repr__(self) -> str:
        return f"RunStore({str(self.home)!r})"

    # ------------------------------------------------------------ connections

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "pid", None) != os.getpid():
            conn = connect(self.path)
            self._local.conn = conn
            self._local.pid = os.getpid()
        return conn

    def close(self) -> None:
        """Close this thread's connection (others close when their thread ends)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None and getattr(self._local, "pid", None) == os.getpid():
            conn.close()
        self._local.conn = None

    @contextmanager
    def _tx(self):
        """A short write transaction (takes the write lock at once; waits when busy)."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _query(self, sql: str, params: Iterable[Any] = ()) -> pd.DataFrame:
        return pd.read_sql_query(sql, self._conn(), params=tuple(params))

    # ------------------------------------------------------------ experiments

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

    def experiments(self) -> pd.DataFrame:
        """All experiments, newest first: id, name, data_root, fingerprint, folds (list),
        created_at, config (dict), runs, finished, running, failed (counts of their runs)."""
        self.reap_dead_runs()
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

    def experiment(self, id_or_name: int | str) -> dict:
        """One experiment as a dict (keys as in :meth:`experiments`, without the counts).

        ``id_or_name``: the id (int or digit string) or the name (the newest experiment of that
        name). Raises RunNotFound.
        """
        conn = self._conn()
        row = None
        if isinstance(id_or_name, int) or str(id_or_name).strip().isdigit():
            row = conn.execute("SELECT * FROM experiments WHERE id = ?", (int(id_or_name),)).fetchone()
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

    def create_run(self, experiment_id: int | None, fold: int | None, config: Mapping | Any,
                   data_root: str | os.PathLike | None) -> int:
        """Record a run (one fold; ``experiment_id`` None for a lone run), status 'queued'."""
        with self._tx() as conn:
            cursor = conn.execute(
                "INSERT INTO runs (experiment_id, fold, config, data_root, status, created_at) "
                "VALUES (?, ?, ?, ?, 'queued', ?)",
                (experiment_id, None if fold is None else int(fold), _config_json(config),
                 _str_or_none(data_root), time.time()),
            )
            return int(cursor.lastrowid)

    def runs(self, experiment_id: int | None = None) -> pd.DataFrame:
        """Runs (all, or one experiment's), newest first, after reaping dead ones.

        Columns: id, experiment_id, experiment_name, fold, status, pid, host, heartbeat,
        created_at, started_at, finished_at (Unix seconds), error, cancel_requested (bool),
        best_epoch, model_path, seconds, skipped_images, data_root, config (dict), backbone,
        epochs_done, valid_auc, test_auc.
        """
        self.reap_dead_runs()
        where, params = ("WHERE r.experiment_id = ?", (int(experiment_id),)) if experiment_id is not None else ("", ())
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
        return frame

    def run(self, run_id: int) -> dict:
        """One run as a dict (after reaping dead runs). Keys: id, experiment_id, fold, status,
        pid, host, heartbeat, created_at, started_at, finished_at, error, cancel_requested (bool),
        best_epoch, model_path, seconds, skipped_images, config (dict), data_root.
        Raises RunNotFound."""
        self.reap_dead_runs()
        return self._run_row(run_id)

    def _run_row(self, run_id: int) -> dict:
        row = self._conn().execute("SELECT * FROM runs WHERE id = ?", (int(run_id),)).fetchone()
        if row is None:
            raise RunNotFound(f"no run {run_id} in {self.path}")
        result = dict(row)
        result["config"] = json.loads(result["config"])
        result["cancel_requested"] = bool(result["cancel_requested"])
        return result

    def claim_run(self, run_id: int, pid: int | None = None) -> None:
        """Record the process that will run a queued run (so that a job that dies before
        starting it is noticed). ``pid`` defaults to this process."""
        with self._tx() as conn:
            conn.execute(
                "UPDATE runs SET pid = ?, host = ? WHERE id = ? AND status = 'queued'",
                (pid or os.getpid(), this_host(), int(run_id)),
            )

    def mark_running(self, run_id: int, pid: int | None = None) -> bool:
        """queued -> running, with ``pid`` (default: this process), host and a first heartbeat.

        Returns False (and changes nothing) when the run is no longer queued, e.g. cancelled
        while it waited.
        """
        now = time.time()
        with self._tx() as conn:
            cursor = conn.execute(
                "UPDATE runs SET status = 'running', pid = ?, host = ?, heartbeat = ?, started_at = ?, "
                "error = NULL WHERE id = ? AND status = 'queued'",
                (pid or os.getpid(), this_host(), now, now, int(run_id)),
            )
            return cursor.rowcount == 1

    def requeue_run(self, run_id: int) -> None:
        """Put a failed or cancelled run back in the queue (to run it again on resume)."""
        with self._tx() as conn:
            conn.execute(
                "UPDATE runs SET status = 'queued', pid = NULL, heartbeat = NULL, started_at = NULL, "
                "finished_at = NULL, error = NULL, cancel_requested = 0 WHERE id = ?",
                (int(run_id),),
            )

    def heartbeat(self, run_id: int) -> None:
        """Record that the run's process is alive (only while the run is running)."""
        with self._tx() as conn:
            conn.execute(
                "UPDATE runs SET heartbeat = ? WHERE id = ? AND status = 'running'", (time.time(), int(run_id))
            )

    def finish_run(self, run_id: int, status: str, error: str | None = None, *,
                   best_epoch: int | None = None, seconds: float | None = None,
                   skipped_images: int | None = None) -> None:
        """End a run: ``status`` is 'finished', 'failed' or 'cancelled'; ``error`` the reason of
        a failure; the optional keywords describe the result."""
        if status not in FINAL_STATUSES:
            raise ValueError(f"finish_run: status must be one of {FINAL_STATUSES}, not {status!r}")
        with self._tx() as conn:
            conn.execute(
                "UPDATE runs SET status = ?, error = ?, finished_at = ?, "
                "best_epoch = COALESCE(?, best_epoch), seconds = COALESCE(?, seconds), "
                "skipped_images = COALESCE(?, skipped_images) WHERE id = ?",
                (status, error, time.time(), best_epoch, seconds, skipped_images, int(run_id)),
            )

    def request_cancel(self, run_id: int) -> str:
        """Ask a run to stop. A queued run is cancelled at once; a running one stops at the end
        of its current epoch (its trainer reads :meth:`cancel_requested`) and keeps its best
        model. Returns the run's status after the request."""
        with self._tx() as conn:
            conn.execute(
                "UPDATE runs SET status = 'cancelled', finished_at = ?, cancel_requested = 1 "
                "WHERE id = ? AND status = 'queued'",
                (time.time(), int(run_id)),
            )
            conn.execute(
                "UPDATE runs SET cancel_requested = 1 WHERE id = ? AND status = 'running'", (int(run_id),)
            )
            row = conn.execute("SELECT status FROM runs WHERE id = ?", (int(run_id),)).fetchone()
        if row is None:
            raise RunNotFound(f"no run {run_id} in {self.path}")
        return row["status"]

    def cancel_requested(self, run_id: int) -> bool:
        """True when someone asked this run to stop."""
        row = self._conn().execute("SELECT cancel_requested FROM runs WHERE id = ?", (int(run_id),)).fetchone()
        return bool(row and row["cancel_requested"])

    def reap_dead_runs(self) -> list[int]:
        """Mark runs whose process is gone as failed, with the reason. Returns their ids.

        - running, pid on this host not alive (killed, crashed, zombie): "process N exited
          without finishing (killed?)";
        - running, no heartbeat for ``heartbeat_timeout`` seconds: hung or lost;
        - queued and claimed by a process (a job) on this host that is no longer alive.
        """
        conn = self._conn()
        rows = conn.execute(
            "SELECT id, status, pid, host, heartbeat, started_at FROM runs "
            "WHERE status IN ('running', 'queued')"
        ).fetchall()
        host, now, dead = this_host(), time.time(), []
        for row in rows:
            reason = self._death_reason(row, host, now)
            if reason:
                dead.append((row["id"], row["status"], reason))
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

    def _death_reason(self, row: sqlite3.Row, host: str, now: float) -> str | None:
        pid, same_host = row["pid"], row["host"] in (None, host)
        if row["status"] == "queued":
            if pid and same_host and not pid_alive(pid):
                return f"job process {pid} exited before this run started (see its log.txt)"
            return None
        if pid and same_host and not pid_alive(pid):
            return f"process {pid} exited without finishing (killed?)"
        last = row["heartbeat"] or row["started_at"]
        if last is not None and now - last > self.heartbeat_timeout:
            where = f"process {pid} on {row['host']}" if pid else "its process"
            return f"no heartbeat for {now - last:.0f} s ({where} hung or unreachable)"
        return None

    # ------------------------------------------------------------ epochs

    def add_epoch(self, run_id: int, epoch: int, metrics: Mapping[str, Any]) -> None:
        """Record one epoch's metrics (1-based ``epoch``; replaces a previous record of it) and
        refresh the run's heartbeat."""
        now = time.time()
        with self._tx() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO epochs (run_id, epoch, metrics, recorded_at) VALUES (?, ?, ?, ?)",
                (int(run_id), int(epoch), json.dumps(_plain(dict(metrics))), now),
            )
            conn.execute("UPDATE runs SET heartbeat = ? WHERE id = ? AND status = 'running'", (now, int(run_id)))

    def epochs(self, run_ids: int | Iterable[int]) -> pd.DataFrame:
        """Epoch metrics of the given runs: run_id, fold, epoch, recorded_at, one column per metric."""
        ids = _ids(run_ids)
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

    def save_predictions(self, run_id: int, predictions: pd.DataFrame) -> None:
        """Store a run's per-image probabilities (replacing earlier ones). ``predictions`` has
        columns split, path, sha256, label, probability (P(glaucoma))."""
        missing = {"split", "path", "label", "probability"} - set(predictions.columns)
        if missing:
            raise ValueError(f"save_predictions: missing columns {sorted(missing)}")
        sha = predictions["sha256"] if "sha256" in predictions.columns else [None] * len(predictions)
        rows = [
            (int(run_id), str(split), str(path), None if s is None or s != s else str(s), int(label), float(prob))
            for split, path, s, label, prob in zip(
                predictions["split"], predictions["path"], sha, predictions["label"], predictions["probability"],
                strict=True,
            )
        ]
        with self._tx() as conn:
            conn.execute("DELETE FROM predictions WHERE run_id = ?", (int(run_id),))
            conn.executemany(
                "INSERT INTO predictions (run_id, split, path, sha256, label, probability) VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )

    def predictions(self, run_ids: int | Iterable[int], split: str | None = None) -> pd.DataFrame:
        """Per-image predictions: run_id, fold, split, path, sha256, label, probability."""
        ids = _ids(run_ids)
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

    def save_final_metrics(self, run_id: int, split: str, metrics: Mapping[str, float]) -> None:
        """Store a run's final metrics on one split (replacing earlier values of those names)."""
        rows = [(int(run_id), str(split), str(name), _float_or_none(value)) for name, value in metrics.items()]
        with self._tx() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO final_metrics (run_id, split, metric, value) VALUES (?, ?, ?, ?)", rows
            )

    def final_metrics(self, run_ids: int | Iterable[int]) -> pd.DataFrame:
        """Final metrics in long form: run_id, fold, split, metric, value."""
        ids = _ids(run_ids)
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
        """``<home>/runs/<run_id>/`` (created): the run's model and log."""
        path = self.home / "runs" / str(int(run_id))
        path.mkdir(parents=True, exist_ok=True)
        return path

    def log_path(self, run_id: int) -> Path:
        """The run's log file (stdout and stderr of its job)."""
        return self.run_dir(run_id) / "log.txt"

    def model_path(self, run_id: int) -> Path:
        """Where the run's model is (or will be): ``<home>/runs/<run_id>/model.keras``."""
        return self.home / "runs" / str(int(run_id)) / MODEL_FILE_NAME

    def save_model(self, run_id: int, model) -> Path:
        """Write the run's model atomically and record it. Raises ModelSaveError (OSError)."""
        path = save_model_atomic(model, self.run_dir(run_id) / MODEL_FILE_NAME)
        with self._tx() as conn:
            conn.execute(
                "UPDATE runs SET model_path = ? WHERE id = ?",
                (path.relative_to(self.home).as_posix(), int(run_id)),
            )
        return path

    def load_model(self, run_id: int):
        """The run's model, loaded with ``safe_mode=True``.

        Raises RunNotFound, or ModelFileProblem with a reason (no model saved, file missing,
        corrupt, unsafe).
        """
        info = self._run_row(run_id)
        path = self.model_path(run_id)
        if not info.get("model_path") and not path.exists():
            why = f"; {info['error']}" if info.get("error") else ""
            raise ModelFileProblem(path, f"run {run_id} has no saved model (status {info['status']}{why})")
        return load_model_safe(path)


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


def _ids(run_ids: int | Iterable[int]) -> list[int]:
    if isinstance(run_ids, (int,)) or hasattr(run_ids, "__index__"):
        return [int(run_ids)]
    return [int(r) for r in run_ids]


def _marks(ids: list[int]) -> str:
    return ", ".join("?" * len(ids))


__all__ = [
    "DEFAULT_HEARTBEAT_TIMEOUT",
    "RUN_STATUSES",
    "ModelFileProblem",
    "RunNotFound",
    "RunStore",
]
