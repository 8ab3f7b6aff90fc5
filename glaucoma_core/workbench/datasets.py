"""A dataset as the workbench uses it: its folder, its index, and what a training needs of it.

The one place that turns a user's dataset argument into a scanned index, and the one rule for
"can this configuration train on these folds": the usable training images of the *smallest* of
the chosen folds bound the batch size, and a fold whose training images are all of one class is
refused before anything is recorded.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from glaucoma_core.errors import ConfigError, UserError


@dataclass(frozen=True)
class Dataset:
    """A scanned dataset.

    Attributes:
        root: the dataset folder, resolved.
        index: the DataFrame of :func:`glaucoma_core.data.index.scan_dataset`.
        is_demo: True for the generated demo dataset.
    """

    root: Path
    index: pd.DataFrame
    is_demo: bool = False

    @property
    def folds(self) -> list[int]:
        from glaucoma_core.data.index import fold_numbers

        return [int(f) for f in fold_numbers(self.index)]

    @property
    def usable(self) -> pd.DataFrame:
        from glaucoma_core.data.index import usable

        return usable(self.index)


def resolve_root(data: str | os.PathLike | None, home: Path) -> tuple[Path, bool]:
    """(folder, is_demo): ``data`` when given (an existing folder), else the demo dataset of
    ``home`` (generated on first use). Raises UserError."""
    from glaucoma_core.data.demo import resolve_data_root

    try:
        root = resolve_data_root(data, home=home)
    except UserError:
        raise
    except (OSError, ValueError) as exc:
        raise UserError(f"{data}: {exc}") from None
    if not Path(root).is_dir():
        raise UserError(f"{root}: dataset folder not found")
    return Path(root).resolve(), data is None or str(data).strip() == ""


def scan(data: str | os.PathLike | None, home: Path) -> Dataset:
    """Scan the dataset (the scan cache in ``home`` makes a rescan cheap). Raises UserError."""
    from glaucoma_core.data.index import scan_dataset

    root, is_demo = resolve_root(data, home)
    try:
        index = scan_dataset(root, home=home)
    except UserError:
        raise
    except (OSError, ValueError) as exc:
        raise UserError(f"{root}: cannot scan the dataset ({exc})") from None
    return Dataset(root=root, index=index, is_demo=is_demo)


def training_rows(index: pd.DataFrame, fold: int | None) -> pd.DataFrame:
    """The usable training images of ``fold`` (a flat dataset, fold None: every usable image)."""
    from glaucoma_core.data.index import usable

    rows = usable(index)
    if fold is None:
        return rows
    return rows[(rows["fold"] == fold) & (rows["split"] == "train")]


def check_folds(dataset: Dataset, folds: Iterable[int] | None) -> list[int]:
    """The folds to train, checked against the dataset: ``[None]`` for a flat dataset when
    ``folds`` is None; raises UserError for a fold the dataset does not have."""
    from glaucoma_core.data.index import missing_images

    available = dataset.folds
    missing = missing_images(dataset.index, folds)
    if missing:  # no image at all, or a chosen fold folder without images
        raise UserError(missing)
    if folds is None:
        return available or [None]
    chosen = sorted({int(f) for f in folds})
    if not chosen:
        raise UserError("no fold chosen")
    unknown = [f for f in chosen if f not in available]
    if unknown:
        have = ", ".join(map(str, available)) or "none (flat layout)"
        raise UserError(f"{dataset.root}: no fold {', '.join(map(str, unknown))} (folds: {have})")
    return chosen


def smallest_training_set(index: pd.DataFrame, folds: Iterable[int | None]) -> int | None:
    """Usable training images of the smallest of ``folds`` (None when no fold has any)."""
    counts = [len(training_rows(index, fold)) for fold in folds]
    return min(counts) if counts and min(counts) > 0 else None


def check_training_classes(index: pd.DataFrame, folds: Iterable[int | None]) -> None:
    """Refuse a fold whose usable training images are not of both classes (UserError)."""
    for fold in folds:
        labels = set(training_rows(index, fold)["label"].astype(int))
        where = "the dataset" if fold is None else f"fold {fold}"
        if not labels:
            raise UserError(f"{where} has no usable training images")
        if len(labels) < 2:
            from glaucoma_core.labels import CLASS_NAMES

            only = CLASS_NAMES[labels.pop()]
            raise UserError(f"the training images of {where} are all {only}: a classifier needs both "
                            "classes (glaucoma and normal) to learn from")


def checked_config(config, index: pd.DataFrame | None, folds: Iterable[int | None], *,
                   check_weights_file: bool = True) -> dict:
    """``config`` (a TrainConfig or its dict) validated against the folds it will train on.

    Raises ConfigError for a bad setting (the batch larger than the smallest fold's training
    set among them) and UserError for a fold that cannot train (one class only).
    ``check_weights_file``: also build the backbone to refuse a weights file of another network
    (imports TensorFlow; off for a first check before the dataset is scanned).
    """
    from glaucoma_core.config import TrainConfig

    folds = list(folds)
    if not isinstance(config, TrainConfig):
        if not isinstance(config, dict):
            raise ConfigError("config", "must be a mapping of settings")
        config = TrainConfig.from_dict(dict(config))
    n_train = smallest_training_set(index, folds) if index is not None else None
    config.validate(n_train_images=n_train, check_weights_file=check_weights_file)
    if index is not None:
        check_training_classes(index, folds)
    return config.to_dict()


def planned_epochs(config: dict) -> int:
    """Epochs a run of ``config`` plans: the main phase plus any fine-tuning phase."""
    def whole(value) -> int:
        try:
            return max(int(value or 0), 0)
        except (TypeError, ValueError):
            return 0

    return whole(config.get("epochs")) + whole(config.get("fine_tune_epochs"))
