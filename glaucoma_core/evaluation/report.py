"""A classification report laid out like scikit-learn's, with the classes named correctly.

Row order is label order: 0 'normal', then 1 'glaucoma' (from :mod:`glaucoma_core.labels`),
so the glaucoma row is the positive class's precision/recall (= sensitivity)/F1.
"""

from __future__ import annotations

from sklearn.metrics import classification_report as _sk_report

from glaucoma_core.evaluation import metrics as m
from glaucoma_core.labels import CLASS_NAMES, NEGATIVE_LABEL, POSITIVE_LABEL

_LABELS = [NEGATIVE_LABEL, POSITIVE_LABEL]
_NAMES = [CLASS_NAMES[NEGATIVE_LABEL], CLASS_NAMES[POSITIVE_LABEL]]


def classification_report_dict(labels, probabilities, threshold=0.5) -> dict:
    """sklearn's ``classification_report(output_dict=True)`` at ``threshold`` with keys
    'normal', 'glaucoma', 'accuracy', 'macro avg', 'weighted avg'. Undefined ratios are 0
    (scikit-learn's ``zero_division=0``)."""
    y, p = m.check_inputs(labels, probabilities)
    predicted = m.predict_labels(p, threshold)
    return _sk_report(y, predicted, labels=_LABELS, target_names=_NAMES, output_dict=True, zero_division=0)


def classification_report_text(labels, probabilities, threshold=0.5, digits: int = 3) -> str:
    """The same report as text (precision, recall, f1-score, support per class), headed by the
    threshold used."""
    y, p = m.check_inputs(labels, probabilities)
    predicted = m.predict_labels(p, threshold)
    body = _sk_report(y, predicted, labels=_LABELS, target_names=_NAMES, digits=digits, zero_division=0)
    header = f"threshold: P(glaucoma) >= {float(threshold):.4g}\n" if _scalar(threshold) else ""
    return header + body


def _scalar(value) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True
