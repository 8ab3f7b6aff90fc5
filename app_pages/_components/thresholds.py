"""The decision threshold of a run or an experiment, chosen by the core on validation."""

from __future__ import annotations

from glaucoma_core.evaluation.thresholds import DEFAULT_THRESHOLD, ThresholdChoice, threshold_from_predictions


def model_threshold(store, run_ids: list[int], method: str, target: float | None) -> tuple[ThresholdChoice, str]:
    """(choice, note): the threshold chosen on the runs' pooled validation predictions.

    When that is impossible (no validation predictions, one class only) the default 0.5 is
    used and ``note`` says why; otherwise ``note`` is ''.
    """
    predictions = store.predictions(run_ids, split="valid")
    try:
        return threshold_from_predictions(predictions, method, target), ""
    except ValueError as exc:
        fallback = ThresholdChoice(DEFAULT_THRESHOLD, "fixed", DEFAULT_THRESHOLD)
        return fallback, f"{exc}; using {DEFAULT_THRESHOLD}"
