import numpy as np
import pytest

from glaucoma_core.evaluation.ensemble import decide, summarize_probabilities


def test_mean_and_spread_over_models():
    summary = summarize_probabilities([[0.2, 0.9], [0.4, 0.7]])
    np.testing.assert_allclose(summary["probability"], [0.3, 0.8])
    np.testing.assert_allclose(summary["sd"], [np.std([0.2, 0.4], ddof=1), np.std([0.9, 0.7], ddof=1)])
    assert list(summary["low"]) == [0.2, 0.7] and list(summary["n_models"]) == [2, 2]


def test_one_model_has_no_spread():
    summary = summarize_probabilities([0.1, 0.6])
    assert list(summary["sd"]) == [0, 0]


def test_out_of_range_refused():
    with pytest.raises(ValueError):
        summarize_probabilities([[1.2]])


def test_decide_at_threshold():
    assert list(decide([0.49, 0.5, 0.9], 0.5)) == [0, 1, 1]
