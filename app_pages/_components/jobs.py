"""Starting and cancelling background training jobs from the pages (the core does the work)."""

from __future__ import annotations

from pathlib import Path


def start_training(store, config, data_root: Path, fold: int) -> int:
    """Start one fold's training as a detached process; returns its run id."""
    from glaucoma_core.training import jobs

    return int(jobs.start_training_job(data_root, int(fold), config, home=store.home))


def start_cross_validation(store, config, data_root: Path, folds: list[int], name: str) -> int:
    """Start a cross-validation over ``folds`` as a detached process; returns the experiment id."""
    from glaucoma_core.training import jobs

    return int(jobs.start_cv_job(data_root, config, home=store.home, folds=folds, name=name or None))


def cancel_run(store, run_id: int) -> None:
    """Ask a run to stop after its current epoch (keeps its best model)."""
    from glaucoma_core.training import jobs

    jobs.cancel(store, int(run_id))


def cancel_experiment(store, experiment_id: int) -> list[int]:
    """Ask every unfinished fold of an experiment to stop (finished folds are kept)."""
    from glaucoma_core.training import jobs

    return jobs.cancel_experiment(store, int(experiment_id))
