"""Holm's step-down correction of a family of p-values (Holm 1979).

Comparing every trial with the leader is one test per trial: with 20 trials, one of them
looks "significantly worse" by chance about two times in three at 0.05. Holm's procedure keeps
the chance of any false claim in the family at most ``alpha`` and is never less powerful than
Bonferroni. ``statsmodels.stats.multitest.multipletests(method="holm")`` gives the same
numbers; it is not a dependency of the workbench, and the procedure is five lines.
"""

from __future__ import annotations

import math

import numpy as np


def holm_adjust(p_values) -> list[float]:
    """Holm-adjusted p-values, in the order given.

    Args:
        p_values: raw p-values; NaN (a test that could not be computed) stays NaN and is not
            counted in the family.

    Returns the adjusted values: the i-th smallest of m is ``max_{j<=i} min(1, (m-j+1) p_(j))``.
    """
    p = np.asarray(list(p_values), dtype=float)
    adjusted = np.full(p.shape, math.nan)
    finite = np.flatnonzero(np.isfinite(p))
    m = finite.size
    running = 0.0
    for rank, index in enumerate(finite[np.argsort(p[finite], kind="mergesort")]):
        running = max(running, min(1.0, (m - rank) * p[index]))
        adjusted[index] = running
    return [float(v) for v in adjusted]
