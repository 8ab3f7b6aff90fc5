"""Pruning across folds: stop a trial whose running mean cannot catch the others, gently.

A trial reports, after its fold at position ``s`` (0-based, in the study's fold order), the
mean validation score of its first ``s + 1`` folds (``StudyRunner`` reports only when every
one of those folds has a finite score, so the mean is always over the same folds as the
other trials' value at ``s``). :class:`FoldMeanPruner` prunes it when that running mean is
below the median of the running means of the completed trials **at the same step**.

Why not Optuna's ``MedianPruner`` as it is: it compares the trial's *best* intermediate value
over all its steps (right for learning curves, where a later epoch can only be judged against
the best so far) with the others' median at the current step; with running means over folds
that mixes a mean over one fold with means over more. And after one fold a noisy split decides
too much. Two settings of the study definition make it gentler:

- ``warmup_folds``: no trial is pruned before it has this many folds (the definition's
  ``prune_warmup_folds``, default ``ceil(k / 2)`` of the k folds a trial is first run on);
- ``min_trials``: nothing is pruned while fewer than this many trials have completed (and
  reported at that step) (``prune_min_trials``, default 3: a median of fewer is one trial's
  noise).
"""

from __future__ import annotations

import math
import statistics

import optuna

DEFAULT_MIN_TRIALS = 3


def default_warmup_folds(n_folds: int) -> int:
    """Folds a trial runs before it may be pruned when the definition does not say: half of
    them, rounded up (1 of 1 or 2, 2 of 3 or 4, 5 of 10)."""
    return max(1, math.ceil(int(n_folds) / 2))


class FoldMeanPruner(optuna.pruners.BasePruner):
    """Prune when the trial's running mean at its last step is below the completed trials'
    median running mean at that step.

    Args:
        warmup_folds: a trial is never pruned before it has reported this many folds (steps
            ``0 .. warmup_folds - 1`` never prune).
        min_trials: nothing is pruned until this many completed trials reported that step.
    """

    def __init__(self, warmup_folds: int = 1, min_trials: int = DEFAULT_MIN_TRIALS):
        if int(warmup_folds) < 1 or int(min_trials) < 1:
            raise ValueError("warmup_folds and min_trials must be at least 1")
        self.warmup_folds = int(warmup_folds)
        self.min_trials = int(min_trials)

    def prune(self, study, trial) -> bool:
        step = trial.last_step
        if step is None or step + 1 < self.warmup_folds:
            return False
        value = trial.intermediate_values[step]
        if not math.isfinite(value):
            return False
        others = [t.intermediate_values[step]
                  for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
                  if step in t.intermediate_values and math.isfinite(t.intermediate_values[step])]
        if len(others) < self.min_trials:
            return False
        median = statistics.median(others)
        if study.direction == optuna.study.StudyDirection.MAXIMIZE:
            return value < median
        return value > median
