import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from glaucoma_core.data.shortcuts import property_auc, shortcut_report


def test_property_auc_matches_sklearn_with_ties():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 200)
    values = rng.integers(0, 5, 200)  # many ties
    assert property_auc(values, labels) == pytest.approx(roc_auc_score(labels, values))


def test_property_auc_one_class_is_nan():
    assert np.isnan(property_auc([1, 2, 3], [1, 1, 1]))


def test_property_auc_length_mismatch():
    with pytest.raises(ValueError, match="differ in length"):
        property_auc([1, 2], [0, 1, 1])


def _index(widths_normal, widths_glaucoma):
    rows = [{"label": 0, "width": w, "height": 500, "bytes": 1000} for w in widths_normal]
    rows += [{"label": 1, "width": w, "height": 500, "bytes": 1000} for w in widths_glaucoma]
    return pd.DataFrame(rows)


def test_width_shortcut_is_flagged():
    report = shortcut_report(_index([500] * 20, [800] * 20))
    top = report.iloc[0]
    assert top["property"] in {"width", "aspect", "pixels"}
    width = report.set_index("property").loc["width"]
    assert width["auc"] == pytest.approx(1.0)
    assert bool(width["flagged"])
    assert "separates" in width["message"]
    assert not bool(report.set_index("property").loc["bytes"]["flagged"])


def test_no_shortcut_when_sizes_are_mixed():
    report = shortcut_report(_index([500, 800] * 10, [500, 800] * 10))
    assert not report["flagged"].any()
    assert report.set_index("property").loc["width", "auc"] == pytest.approx(0.5)


def test_smaller_is_also_a_shortcut():
    report = shortcut_report(_index([800] * 10, [500] * 10)).set_index("property")
    assert report.loc["width", "auc"] == pytest.approx(0.0)
    assert bool(report.loc["width", "flagged"])
    assert "smaller" in report.loc["width", "message"]


def test_bad_margin():
    with pytest.raises(ValueError):
        shortcut_report(_index([1], [2]), margin=0.9)
