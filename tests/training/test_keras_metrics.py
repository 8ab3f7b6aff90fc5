"""Epoch metrics of the glaucoma class agree with scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score, recall_score, roc_auc_score

from glaucoma_core.data.pipeline import one_hot
from glaucoma_core.training.keras_metrics import GlaucomaAUC, GlaucomaRate


@pytest.fixture
def scores():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 60)
    p = np.clip(labels * 0.3 + rng.uniform(0, 0.7, 60), 0, 1)
    return labels, np.stack([1 - p, p], axis=1).astype(np.float32)


def _run(metric, labels, probabilities, chunks=3):
    for y, p in zip(np.array_split(one_hot(labels), chunks), np.array_split(probabilities, chunks), strict=True):
        metric.update_state(y, p)
    return float(metric.result())


def test_rates_accumulate_over_batches(scores):
    labels, probabilities = scores
    predicted = (probabilities[:, 1] >= 0.5).astype(int)
    assert _run(GlaucomaRate("sensitivity"), labels, probabilities) == pytest.approx(recall_score(labels, predicted))
    assert _run(GlaucomaRate("specificity"), labels, probabilities) == pytest.approx(
        recall_score(labels, predicted, pos_label=0))
    assert _run(GlaucomaRate("f1"), labels, probabilities) == pytest.approx(f1_score(labels, predicted))


def test_auc_is_that_of_the_glaucoma_column(scores):
    labels, probabilities = scores
    assert _run(GlaucomaAUC(), labels, probabilities) == pytest.approx(
        roc_auc_score(labels, probabilities[:, 1]), abs=0.01)


def test_reset_clears_counts(scores):
    labels, probabilities = scores
    metric = GlaucomaRate("sensitivity")
    _run(metric, labels, probabilities)
    metric.reset_state()
    assert float(metric.result()) == 0.0
