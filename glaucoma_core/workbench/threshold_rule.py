"""How the decision threshold is chosen: a fixed value, or a rule applied to validation images.

One value object carried from every entry point (CLI flags, page widgets) to the evaluation, so
that the same rule gives the same figures wherever it is asked for, and every result says which
rule produced it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from glaucoma_core.errors import UserError

METHODS = ("fixed", "target_sensitivity", "target_specificity", "youden", "max_f1")
NEEDS_TARGET = ("fixed", "target_sensitivity", "target_specificity")
DEFAULT_THRESHOLD = 0.5


@dataclass(frozen=True)
class ThresholdRule:
    """A threshold rule.

    Attributes:
        method: ``fixed`` (``target`` is the threshold itself), ``target_sensitivity`` /
            ``target_specificity`` (the threshold reaching ``target`` on validation), ``youden``
            or ``max_f1`` (maximised on validation; no target).
        target: the fixed threshold or the sensitivity/specificity aimed at, in [0, 1].
    """

    method: str = "fixed"
    target: float | None = DEFAULT_THRESHOLD

    def __post_init__(self):
        if self.method not in METHODS:
            raise UserError(f"unknown threshold rule {self.method!r}; choose one of {', '.join(METHODS)}")
        if self.method in NEEDS_TARGET:
            value = self.target
            if not isinstance(value, (int, float)) or isinstance(value, bool) or math.isnan(float(value)) \
                    or not 0.0 <= float(value) <= 1.0 or (self.method != "fixed" and float(value) == 0.0):
                raise UserError(f"the {self.method.replace('_', ' ')} must be a number between 0 and 1, got {value!r}")
            object.__setattr__(self, "target", float(value))
        else:
            object.__setattr__(self, "target", None)

    @property
    def uses_validation(self) -> bool:
        """True when the threshold is chosen on validation images (per fold for an experiment)."""
        return self.method != "fixed"

    def describe(self) -> str:
        """Words for a caption: 'fixed threshold 0.50' or 'target sensitivity 0.95 (chosen on
        each fold's validation images)'."""
        if self.method == "fixed":
            return f"fixed threshold {self.target:.2f}"
        name = self.method.replace("_", " ")
        target = f" {self.target:g}" if self.target is not None else ""
        return f"{name}{target} (chosen on each fold's validation images)"

    def to_dict(self) -> dict:
        return {"method": self.method, "target": self.target}
