"""Cross-validation: one configuration over the folds of a dataset, recorded as an experiment.

``create_cv_experiment`` records the experiment and one queued run per fold;
``run_cv`` trains the runs not finished yet (so it also resumes an interrupted experiment)
with an executor and stops after a cancelled fold (finished folds are kept). The figures of an
experiment are computed in one place only, ``Workbench.cv_report`` (what the ``cv`` command
prints and the Cross-validation page shows).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

import numpy as np

from glaucoma_core.store.liveness import pid_alive, this_host
from glaucoma_core.store.run_store import RunStore


class CrossValidationError(ValueError):
    """The cross-validation cannot be set up as asked (no folds, unknown fold...)."""


def create_cv_experiment(store: RunStore, data_root, config, *, folds: Iterable[int] | None = None,
                         name: str | None = None, index=None) -> int:
    """Record an experiment of ``config`` over ``folds`` (default: every fold of the dataset)
    and one queued run per fold. Returns the experiment id.

    Args:
        store: the run store.
        data_root: the dataset folder (fold layout: fold_1/{train,valid,test}/...).
        config: a TrainConfig (or its dict).
        folds: fold numbers; all folds of the dataset when None.
        name: experiment name; default '<backbone> cv'.
        index: the dataset index when already scanned.
    """
    from glaucoma_core.data.index import dataset_fingerprint, scan_dataset

    if index is None:
        index = scan_dataset(data_root, home=store.home)
    chosen = choose_folds(index, data_root, folds)
    config_dict = config.to_dict() if hasattr(config, "to_dict") else dict(config)
    name = name or f"{config_dict.get('backbone', 'model')} cv"
    experiment_id = store.create_experiment(name, config_dict, str(data_root), dataset_fingerprint(index), chosen)
    for fold in chosen:
        store.create_run(experiment_id, fold, config_dict, str(data_root))
    return experiment_id


def choose_folds(index, data_root, folds: Iterable[int] | None = None) -> list[int]:
    """The folds to cross-validate: ``folds`` (checked against the dataset) or all of them.

    Raises CrossValidationError for a dataset without folds or a fold it does not have.
    """
    from glaucoma_core.data.index import fold_numbers

    available = [int(f) for f in fold_numbers(index)]
    if not available:
        raise CrossValidationError(
            f"{data_root}: no fold folders (fold_1, fold_2, ...) found; cross-validation needs the "
            "fold layout (make one with the make-folds command)"
        )
    chosen = sorted({int(f) for f in folds}) if folds else available
    unknown = sorted(set(chosen) - set(available))
    if unknown:
        raise CrossValidationError(
            f"{data_root}: fold(s) {', '.join(map(str, unknown))} not in the dataset "
            f"(it has {', '.join(map(str, available))})"
        )
    return chosen


def pending_runs(store: RunStore, experiment_id: int) -> list[int]:
    """The runs to train so that every fold of the experiment has a finished run.

    Per fold: nothing when a run finished (or one is being trained by a live process); else its
    queued run, or a new run (a failed or cancelled one stays as history).
    """
    experiment = store.experiment(experiment_id)
    store.reap_dead_runs()
    runs = store.runs(experiment["id"])  # reaps dead runs first
    host, me, result = this_host(), os.getpid(), []
    for fold in experiment["folds"]:
        fold_runs = runs[runs["fold"] == fold]
        if (fold_runs["status"] == "finished").any() or (fold_runs["status"] == "running").any():
            continue
        queued = fold_runs[fold_runs["status"] == "queued"].sort_values("id")
        taken = [
            int(row.id) for row in queued.itertuples()
            if row.pid is not None and not _isna(row.pid) and int(row.pid) != me
            and (row.host in (None, host)) and pid_alive(int(row.pid))
        ]
        free = [int(r) for r in queued["id"] if int(r) not in taken]
        if taken and not free:
            continue  # another live job will train it
        if free:
            result.append(free[0])
        else:
            result.append(store.create_run(experiment["id"], fold, experiment["config"], experiment["data_root"]))
    return result


def run_cv(store: RunStore, experiment_id: int, *, executor=None, index=None, train_fn: Callable | None = None,
           echo: Callable[[str], None] | None = print) -> dict:
    """Train the experiment's folds that are not finished.

    Args:
        store: the run store.
        experiment_id: the experiment (from :func:`create_cv_experiment`).
        executor: a LocalExecutor (default) or RayExecutor.
        index: the dataset index, shared by the folds of a local executor (scanned once if None).
        train_fn: the fold trainer (tests inject a fake one); default the real trainer.
        echo: where progress goes (None for silence).

    A cancelled fold stops the cross-validation: the folds not started are cancelled, the
    finished ones are kept (``cv --resume`` trains the rest later).

    Returns {experiment_id, trained: the outcome of each fold trained now (see
    ``fold_run.execute_run``), stopped: True when a cancelled fold stopped it}.
    """
    from glaucoma_core.training.executors import LocalExecutor

    executor = executor or LocalExecutor()
    experiment = store.experiment(experiment_id)
    todo = pending_runs(store, experiment["id"])
    for run_id in todo:
        store.claim_run(run_id)
    if echo:
        echo(f"experiment {experiment['id']} ({experiment['name']}): {len(todo)} fold(s) to train "
             f"with the {executor.name} executor")
    done: set[int] = set()
    trained: list[dict] = []
    stopped = False
    outcomes = None
    try:
        if todo and index is None and executor.name == "local":
            from glaucoma_core.data.index import scan_dataset

            index = scan_dataset(experiment["data_root"], home=store.home)
        outcomes = executor.run(store, todo, index=index, train_fn=train_fn, echo=echo)
        for outcome in outcomes:
            done.add(outcome["run_id"])
            trained.append(outcome)
            if echo:
                echo(_fold_line(outcome))
            if outcome["status"] == "cancelled":
                stopped = True
                break
    except BaseException as exc:
        reason = f"cross-validation stopped: {type(exc).__name__}: {exc}"
        for run_id in todo:
            if run_id not in done and store.run(run_id)["status"] == "queued":
                store.finish_run(run_id, "failed", reason)
        raise
    finally:
        if outcomes is not None:
            outcomes.close()
    if stopped:
        for run_id in todo:
            if run_id not in done:
                store.request_cancel(run_id)  # queued: cancelled; running (Ray): asked to stop
    return {"experiment_id": int(experiment["id"]), "trained": trained, "stopped": stopped}


# ---------------------------------------------------------------- helpers


def _fold_line(outcome: dict) -> str:
    test = outcome.get("metrics", {}).get("test", {})
    text = f"fold {outcome['fold']} (run {outcome['run_id']}): {outcome['status']}"
    if test:
        text += f", test AUC {_fmt(test.get('auc'))}"
    if outcome.get("error"):
        text += f" ({outcome['error']})"
    return text


def _isna(value) -> bool:
    try:
        return value is None or bool(np.isnan(float(value)))
    except (TypeError, ValueError):
        return value is None or str(value) in ("<NA>", "nan")


def _fmt(value) -> str:
    return "-" if value is None or _isna(value) else f"{float(value):.3f}"

