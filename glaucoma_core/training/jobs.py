"""Background jobs: training and cross-validation in their own detached processes.

The app starts training by running the CLI (``python -m glaucoma_core ... train|cv``) in a new
session (``start_new_session=True``), so that a rerun, a reload, a closed tab or a restarted
Streamlit server loses nothing: the job writes its progress to the run store, which the app
polls. A job's stdout and stderr go to its ``log.txt``. The run rows exist (status 'queued')
before the process starts, and record the job's pid at once, so a job that dies before it
starts training is noticed too (``RunStore.reap_dead_runs``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterable
from pathlib import Path

from glaucoma_core.paths import PROJECT_ROOT
from glaucoma_core.store.run_store import RunStore


def start_training_job(data_root: str | os.PathLike, fold: int | None, config, home: str | os.PathLike | None = None) -> int:
    """Start training one fold in a detached process; returns the run id at once.

    Args:
        data_root: the dataset folder.
        fold: the fold number to train (None for a flat dataset).
        config: a TrainConfig or its dict; validated here (ConfigError before any process).
        home: the workbench home (default ``$GLAUCOMA_HOME`` or ``models/``).
    """
    store = RunStore(home)
    config_dict = validated_config(config)
    data_root = Path(data_root).expanduser().resolve()
    fold = None if fold is None else int(fold)
    if fold is not None:  # batch size against the fold's training images, before any run or process
        try:
            index = _scan(data_root, store)
        except (OSError, ValueError):
            index = None  # a dataset that cannot be scanned: the job fails with the reason
        if index is not None:
            validated_config(config_dict, n_train_images=_training_images(index, [fold]))
    run_id = store.create_run(None, fold, config_dict, str(data_root))
    command = _cli(store) + ["train", "--data", str(data_root), "--run-id", str(run_id)]
    try:
        process = _spawn(command, store.log_path(run_id))
    except OSError as exc:
        store.finish_run(run_id, "failed", f"could not start the training process: {exc}")
        raise
    store.claim_run(run_id, process.pid)
    return run_id


def start_cv_job(data_root: str | os.PathLike, config, home: str | os.PathLike | None = None, *,
                 folds: Iterable[int] | None = None, name: str | None = None,
                 executor: str = "local", address: str | None = None) -> int:
    """Start a cross-validation in a detached process; returns the experiment id at once.

    Args:
        data_root: the dataset folder (fold layout).
        config: a TrainConfig or its dict; validated here.
        home: the workbench home.
        folds: fold numbers (default: all folds of the dataset).
        name: experiment name.
        executor: 'local' (folds in turn in the job) or 'ray' (folds as Ray tasks).
        address: the Ray cluster address for the 'ray' executor.

    The experiment and its queued runs are recorded before the process starts (the dataset is
    scanned here, using the scan cache); the job trains them with ``cv --resume``.
    """
    from glaucoma_core.training.cross_validation import choose_folds, create_cv_experiment

    store = RunStore(home)
    config_dict = validated_config(config)
    data_root = Path(data_root).expanduser().resolve()
    index = _scan(data_root, store)
    chosen = choose_folds(index, data_root, folds)
    validated_config(config_dict, n_train_images=_training_images(index, chosen))  # the smallest fold
    experiment_id = create_cv_experiment(store, data_root, config_dict, folds=chosen, name=name, index=index)
    command = _cli(store) + ["cv", "--resume", str(experiment_id), "--executor", executor]
    if address:
        command += ["--address", address]
    run_ids = [int(r) for r in store.runs(experiment_id)["id"]]
    try:
        process = _spawn(command, experiment_log_path(store, experiment_id))
    except OSError as exc:
        for run_id in run_ids:
            store.finish_run(run_id, "failed", f"could not start the cross-validation process: {exc}")
        raise
    for run_id in run_ids:
        store.claim_run(run_id, process.pid)
    return experiment_id


def cancel(store: RunStore, run_id: int) -> str:
    """Ask a run to stop: a queued run is cancelled at once, a running one at the end of its
    current epoch (keeping its best model). Returns the status after the request."""
    return store.request_cancel(run_id)


def cancel_experiment(store: RunStore, experiment_id: int) -> list[int]:
    """Ask every unfinished run of an experiment to stop (the running fold ends after its
    epoch, the others never start; finished folds are kept). Returns the runs asked."""
    from glaucoma_core.training.cross_validation import cancel_experiment as _cancel

    return _cancel(store, experiment_id)


def experiment_log_path(store: RunStore, experiment_id: int) -> Path:
    """``<home>/experiments/<id>/log.txt``: the output of a cross-validation job."""
    folder = store.home / "experiments" / str(int(experiment_id))
    folder.mkdir(parents=True, exist_ok=True)
    return folder / "log.txt"


def read_log_tail(path: str | os.PathLike, max_bytes: int = 20_000) -> str:
    """The end of a job's log ('' when there is none yet)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - max_bytes))
            return handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def validated_config(config, n_train_images: int | None = None) -> dict:
    """The config as a dict, after ``TrainConfig.validate(n_train_images)`` (raises ConfigError)."""
    from glaucoma_core.config import TrainConfig

    if not isinstance(config, TrainConfig):
        config = TrainConfig.from_dict(dict(config))
    config.validate(n_train_images=n_train_images)
    return config.to_dict()


def _scan(data_root: Path, store: RunStore):
    from glaucoma_core.data.index import scan_dataset

    return scan_dataset(data_root, home=store.home)  # the scan cache makes this cheap after the app's scan


def _training_images(index, folds) -> int | None:
    """Usable training images of the smallest of ``folds`` (None when there are none to judge)."""
    usable = index[(index["split"] == "train") & (index["problem"] == "")]
    counts = [int((usable["fold"] == fold).sum()) for fold in folds]
    return min(counts) if counts and min(counts) > 0 else None


# ---------------------------------------------------------------- process helpers


def _cli(store: RunStore) -> list[str]:
    return [sys.executable, "-m", "glaucoma_core", "--home", str(store.home)]


def _spawn(command: list[str], log_path: Path) -> subprocess.Popen:
    """Start ``command`` detached (own session), output appended to ``log_path``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            cwd=str(PROJECT_ROOT), env=env, start_new_session=True, close_fds=True,
        )
    # Wait for it in the background so that it never lingers as a zombie of this process.
    threading.Thread(target=process.wait, name=f"job-{process.pid}", daemon=True).start()
    return process
