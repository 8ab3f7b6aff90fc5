"""A fake fold trainer for study tests: learns nothing, but how well it separates the classes
depends on the configuration, so that a study has something to choose.

Separation grows with ``head_dropout`` towards 0.25 and with ``learning_rate`` towards 3e-3;
every image gets a fixed noise term from its hash, fold and config, so results repeat.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pandas as pd

from tests.training.fakes import FakeResult, tiny_keras_model

TRAINED: list[tuple] = []  # (experiment config signature, fold) of every fold trained in this process


def quality(config) -> float:
    return 2.0 - 4.0 * abs(config.head_dropout - 0.25) - 0.5 * abs(math.log10(config.learning_rate / 3e-3))


def fake_study_train_fold(config, index, fold, *, reporter=None, home=None):
    TRAINED.append((config.head_dropout, config.learning_rate, fold))
    rows = index[(index["fold"] == fold) & index["split"].isin(["valid", "test"])]
    if reporter:
        reporter.on_train_begin({"epochs": 1, "n_train": 1, "n_valid": 1, "n_test": 1, "steps_per_epoch": 1})
        reporter.on_epoch_end(1, {"loss": 0.5})
    labels = rows["label"].astype(int).to_numpy()
    noise = np.array([
        int(hashlib.sha256(f"{sha}|{fold}|{config.head_dropout}|{config.learning_rate}".encode()).hexdigest()[:8], 16)
        / 0xFFFFFFFF for sha in rows["sha256"]])
    logits = (2 * labels - 1) * quality(config) + 3.0 * (noise - 0.5) * 2
    predictions = pd.DataFrame({
        "split": rows["split"].values, "path": rows["path"].values, "sha256": rows["sha256"].values,
        "label": labels, "probability": 1 / (1 + np.exp(-logits)),
    })
    return FakeResult(tiny_keras_model(), [{"loss": 0.5}], predictions, best_epoch=1)


# ---------------------------------------------------------------- scripted validation AUCs

DEFAULT_AUC = 0.75
SCRIPT: dict[tuple[float, int], float] = {}  # (head_dropout, fold) -> the fold's exact AUC


def _scored(labels: np.ndarray, auc: float) -> np.ndarray:
    """Probabilities whose AUC is ``auc`` (to 1/n_positives): that share of the positives above
    every negative, the rest below every one."""
    probabilities = np.empty(len(labels), dtype=float)
    negatives, positives = np.flatnonzero(labels == 0), np.flatnonzero(labels == 1)
    probabilities[negatives] = np.linspace(0.4, 0.6, len(negatives)) if len(negatives) else []
    high = int(round(auc * len(positives)))
    probabilities[positives[:high]] = np.linspace(0.7, 0.9, high) if high else []
    probabilities[positives[high:]] = np.linspace(0.1, 0.3, len(positives) - high) if len(positives) > high else []
    return probabilities


def scripted_train_fold(config, index, fold, *, reporter=None, home=None):
    """A fold whose validation and test AUC are ``SCRIPT[(head_dropout, fold)]`` (default 0.75)."""
    TRAINED.append((config.head_dropout, config.learning_rate, fold))
    rows = index[(index["fold"] == fold) & index["split"].isin(["valid", "test"])]
    if reporter:
        reporter.on_train_begin({"epochs": 1, "n_train": 1, "n_valid": 1, "n_test": 1, "steps_per_epoch": 1})
        reporter.on_epoch_end(1, {"loss": 0.5})
    auc = SCRIPT.get((float(config.head_dropout), int(fold)), DEFAULT_AUC)
    probabilities = np.empty(len(rows), dtype=float)
    labels = rows["label"].astype(int).to_numpy()
    for split in ("valid", "test"):
        mask = (rows["split"] == split).to_numpy()
        probabilities[mask] = _scored(labels[mask], auc)
    predictions = pd.DataFrame({
        "split": rows["split"].values, "path": rows["path"].values, "sha256": rows["sha256"].values,
        "label": labels, "probability": probabilities,
    })
    return FakeResult(tiny_keras_model(), [{"loss": 0.5}], predictions, best_epoch=1)
