"""Train one stored run (one fold) and record everything about it in the store.

The one place where a run goes from ``queued`` to its end: mark it running, train its fold with
a :class:`StoreReporter` (epochs, heartbeat, cancel), then save the best model (atomically), the
per-image predictions, the final metrics of the valid and test splits, and the final status.
Any exception marks the run ``failed`` with the reason. Used by the ``train`` command, by the
local executor and by Ray tasks alike.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable
from typing import Any

from glaucoma_core.errors import UserError
from glaucoma_core.store.run_store import RunStore
from glaucoma_core.training.fold_metrics import split_metrics
from glaucoma_core.training.store_reporter import StoreReporter

FINAL_SPLITS = ("valid", "test")


def execute_run(store: RunStore, run_id: int, *, index=None, train_fn: Callable | None = None,
                make_config: Callable[[dict], Any] | None = None,
                echo: Callable[[str], None] | None = print) -> dict:
    """Train run ``run_id`` (queued) and record its results.

    Args:
        store: the run store holding the run (its config, fold and data root).
        run_id: a queued run. A run that is no longer queued (cancelled meanwhile, or already
            started by someone else) is not trained; its current state is returned.
        index: the dataset index (``data.index.scan_dataset``); scanned from the run's data
            root when None. Pass it to share one scan between folds.
        train_fn: ``train_fold(config, index, fold, reporter=..., home=...) -> FoldResult``;
            defaults to :func:`glaucoma_core.training.trainer.train_fold`.
        make_config: turns the stored config dict into the trainer's config; defaults to
            ``TrainConfig.from_dict``.
        echo: where progress lines go (None for silence).

    Returns a picklable summary: {run_id, fold, status, error, best_epoch, metrics: {split:
    {metric: value}}}. Never raises for a training failure: the run is marked failed instead.
    """
    run = store.run(run_id)
    if not store.mark_running(run_id, os.getpid()):
        run = store.run(run_id)
        return _outcome(run, {})
    reporter = StoreReporter(store, run_id, echo=echo)
    try:
        with reporter:
            config = (make_config or _default_make_config)(run["config"])
            if index is None:
                index = _scan(run["data_root"], store)
            train = train_fn or _default_train_fn()
            result = train(config, index, run["fold"], reporter=reporter, home=store.home)
            metrics = _record_result(store, run_id, result, reporter)
    except BaseException as exc:
        reason = _reason(exc)
        if echo is not None:
            echo(f"run {run_id} failed: {reason}" + ("" if isinstance(exc, UserError) else f"\n{traceback.format_exc()}"))
        store.finish_run(run_id, "failed", reason)
        if not isinstance(exc, Exception):
            raise  # KeyboardInterrupt, SystemExit: recorded, then let it through
        return _outcome(store.run(run_id), {})
    return _outcome(store.run(run_id), metrics)


def _record_result(store: RunStore, run_id: int, result, reporter: StoreReporter) -> dict:
    """Save the model, predictions, final metrics and status of a finished training."""
    predictions = result.predictions
    not_numbers = int(predictions["probability"].isna().sum())
    if not_numbers:
        raise ValueError(
            f"the model gave no probability (NaN) for {not_numbers} of {len(predictions)} images: "
            "training diverged; try a lower learning_rate"
        )
    store.save_model(run_id, result.model)
    store.save_predictions(run_id, predictions)
    metrics = split_metrics(predictions[predictions["split"].isin(FINAL_SPLITS)])
    for split, values in metrics.items():
        store.save_final_metrics(run_id, split, values)
    status = "cancelled" if getattr(result, "cancelled", False) else "finished"
    store.finish_run(
        run_id, status,
        best_epoch=getattr(result, "best_epoch", None),
        seconds=getattr(result, "seconds", None),
        skipped_images=getattr(result, "skipped_images", None),
    )
    test = metrics.get("test", {})
    reporter.log(
        f"run {run_id} {status}: best epoch {getattr(result, 'best_epoch', '?')}, "
        f"test AUC {test.get('auc', float('nan')):.3f}, model {store.model_path(run_id)}"
    )
    return metrics


def _outcome(run: dict, metrics: dict) -> dict:
    return {
        "run_id": int(run["id"]), "fold": run["fold"], "status": run["status"], "error": run["error"],
        "best_epoch": run.get("best_epoch"), "metrics": metrics,
    }


def _reason(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    if isinstance(exc, SystemExit):
        return f"process exited (code {exc.code})"
    text = str(exc).strip() or type(exc).__name__
    reason = getattr(exc, "reason", None)
    if reason and str(reason) not in text:
        text = f"{text} ({reason})"
    return f"{type(exc).__name__}: {text}"


def _scan(data_root, store: RunStore):
    from glaucoma_core.data.index import scan_dataset

    if not data_root:
        raise ValueError("the run has no data root")
    return scan_dataset(data_root, home=store.home)


def _default_make_config(config: dict):
    from glaucoma_core.config import TrainConfig

    return TrainConfig.from_dict(config)


def _default_train_fn() -> Callable:
    from glaucoma_core.training.trainer import train_fold

    return train_fold
