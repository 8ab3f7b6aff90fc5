"""A search space: which configuration fields a study varies, and over what values.

A space is plain data (JSON in the Optuna storage, in presets, on the command line), one entry
per configuration field (any :class:`~glaucoma_core.config.TrainConfig` field, or
``backbone_options.<name>``):

- a list: the values to choose from (``{"head_dense_units": [0, 64, 128]}``); with only lists
  the space is a grid (the ``grid`` sampler runs every combination);
- a range: ``{"low": 1e-4, "high": 1e-2, "log": true}`` (``"int": true`` for whole numbers,
  ``"step"`` for a stepped range); ``log`` draws evenly in the logarithm, as rates should be.

:meth:`SearchSpace.suggest` asks an Optuna trial for one value of each field, and
:meth:`SearchSpace.config` applies them to the base configuration, so a bad value is named by
the configuration's own checks before anything trains.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

from glaucoma_core.errors import UserError

MAX_GRID = 10_000


@dataclass(frozen=True)
class Dimension:
    """One field of the space.

    Attributes:
        name: the configuration field (``learning_rate``, ``backbone_options.alpha``).
        choices: the values of a list dimension (None for a range).
        low, high: the bounds of a range (inclusive).
        log: draw the range in the logarithm (positive bounds only).
        integer: whole numbers only.
        step: a stepped range (not with ``log``).
    """

    name: str
    choices: tuple | None = None
    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False
    step: float | None = None

    @property
    def is_grid(self) -> bool:
        return self.choices is not None

    def suggest(self, trial) -> Any:
        """One value from an Optuna trial (``suggest_categorical``/``_int``/``_float``)."""
        if self.choices is not None:
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.integer:
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log,
                                     step=int(self.step or 1))
        return trial.suggest_float(self.name, float(self.low), float(self.high), log=self.log, step=self.step)

    def to_dict(self) -> Any:
        if self.choices is not None:
            return list(self.choices)
        out: dict[str, Any] = {"low": self.low, "high": self.high}
        if self.log:
            out["log"] = True
        if self.integer:
            out["int"] = True
        if self.step is not None:
            out["step"] = self.step
        return out


def _dimension(name: str, spec: Any) -> Dimension:
    where = f"search space: {name}"
    if isinstance(spec, (list, tuple)):
        if not spec:
            raise UserError(f"{where}: give at least one value")
        for value in spec:
            if not (value is None or isinstance(value, (str, int, float, bool))):
                raise UserError(f"{where}: values must be numbers, text, true/false or null, not {value!r}")
        if len({repr(v) for v in spec}) != len(spec):
            raise UserError(f"{where}: a value is listed twice")
        return Dimension(name, choices=tuple(spec))
    if not isinstance(spec, dict):
        raise UserError(f"{where}: give a list of values or a range {{\"low\": .., \"high\": ..}}, not {spec!r}")
    unknown = set(spec) - {"low", "high", "log", "int", "step"}
    if unknown:
        raise UserError(f"{where}: unknown key(s) {', '.join(sorted(unknown))} (a range has low, high, log, int, step)")
    try:
        low, high = float(spec["low"]), float(spec["high"])
    except (KeyError, TypeError, ValueError):
        raise UserError(f"{where}: a range needs numbers low and high") from None
    if not (math.isfinite(low) and math.isfinite(high)) or low > high:
        raise UserError(f"{where}: needs finite low <= high, got {low} and {high}")
    log, integer = bool(spec.get("log", False)), bool(spec.get("int", False))
    step = spec.get("step")
    if log and low <= 0:
        raise UserError(f"{where}: a log range needs low > 0, got {low}")
    if step is not None:
        if log:
            raise UserError(f"{where}: a range is either log or stepped, not both")
        try:
            step = float(step)
        except (TypeError, ValueError):
            raise UserError(f"{where}: step must be a number") from None
        if not step > 0:
            raise UserError(f"{where}: step must be positive")
    if integer and (low != int(low) or high != int(high)):
        raise UserError(f"{where}: an int range needs whole bounds")
    return Dimension(name, low=low, high=high, log=log, integer=integer, step=step)


class SearchSpace:
    """The fields a study varies (see the module docstring for the forms).

    Args:
        spec: ``{field: list | range}``. Every field is checked against TrainConfig (an
            unknown one is a UserError naming the known fields).
    """

    def __init__(self, spec: dict[str, Any]):
        from glaucoma_core.config import FIELD_BY_NAME

        if not isinstance(spec, dict) or not spec:
            raise UserError("search space: give at least one field to vary")
        dims = []
        for raw, value in spec.items():
            name = str(raw).strip()
            flat = name if name.startswith("backbone_options.") else name.replace(".", "_").replace("-", "_")
            if not flat.startswith("backbone_options.") and flat not in FIELD_BY_NAME:
                raise UserError(f"search space: {name!r} is not a configuration field "
                                f"(known: {', '.join(FIELD_BY_NAME)})")
            dims.append(_dimension(flat, value))
        self.dimensions: tuple[Dimension, ...] = tuple(dims)

    @property
    def names(self) -> list[str]:
        return [d.name for d in self.dimensions]

    @property
    def is_grid(self) -> bool:
        """True when every field is a list (the grid sampler can enumerate it)."""
        return all(d.is_grid for d in self.dimensions)

    def grid(self) -> dict[str, list]:
        """``{field: values}`` for Optuna's GridSampler (UserError when a field is a range)."""
        ranges = [d.name for d in self.dimensions if not d.is_grid]
        if ranges:
            raise UserError(f"the grid sampler needs lists of values; {', '.join(ranges)} is a range "
                            "(use the random or tpe sampler, or list the values)")
        return {d.name: list(d.choices) for d in self.dimensions}

    def grid_size(self) -> int:
        return math.prod(len(v) for v in self.grid().values())

    def grid_points(self) -> list[dict]:
        """Every combination of the grid, in order."""
        grid = self.grid()
        if self.grid_size() > MAX_GRID:
            raise UserError(f"the grid has {self.grid_size()} combinations (at most {MAX_GRID})")
        return [dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())]

    def suggest(self, trial) -> dict[str, Any]:
        """One value of each field from an Optuna trial."""
        return {d.name: d.suggest(trial) for d in self.dimensions}

    def config(self, base, params: dict[str, Any]):
        """The base TrainConfig with ``params`` applied (the configuration's checks name a bad value)."""
        from glaucoma_core.errors import ConfigError

        try:
            config = base.with_overrides(params)
            config.validate()
        except ConfigError as exc:
            raise UserError(f"search space gives an invalid configuration {params}: {exc}") from None
        return config

    def to_dict(self) -> dict[str, Any]:
        return {d.name: d.to_dict() for d in self.dimensions}

    def __repr__(self) -> str:
        return f"SearchSpace({self.to_dict()!r})"
