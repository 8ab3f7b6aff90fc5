"""What a study is: a base configuration, a search space, a selection rule and a budget.

:class:`StudyDefinition` is plain data, kept as JSON in the Optuna study's user attributes (so
``study resume`` needs nothing but the study's reference) and built from a ready-made study
(:mod:`glaucoma_core.studies.presets`) or the command line.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from glaucoma_core.errors import UserError
from glaucoma_core.studies.selection import SelectionRule
from glaucoma_core.studies.space import SearchSpace

SAMPLERS = ("tpe", "random", "grid")
PRUNERS = ("median", "none")
MAX_TRIALS = 1000


@dataclass
class StudyDefinition:
    """A study's definition.

    Attributes:
        base: the base configuration (a TrainConfig dict); the space's values replace fields.
        space: the search space (see :mod:`glaucoma_core.studies.space`).
        metric: the selection metric (see :mod:`glaucoma_core.studies.selection`).
        n_trials: how many configurations to try (the grid's size at most for ``grid``).
        sampler: ``tpe`` (Optuna's Bayesian sampler), ``random`` or ``grid``.
        pruner: ``median`` (stop a trial after a fold when its running mean validation score is
            below the median of the completed trials' running means over the same folds; see
            :mod:`glaucoma_core.studies.pruning`) or ``none``.
        prune_warmup_folds: no trial is pruned before it has this many folds (None: half of
            the folds a trial is first run on, rounded up: 2 of 3, 5 of 10).
        prune_min_trials: nothing is pruned while fewer than this many trials have completed
            (default 3).
        seed: the sampler's seed.
        folds: the folds every trial is cross-validated on (None: all folds of the dataset).
        screen_folds: when set, trials are first run on this many folds only, then the ``top``
            best are run on all the folds.
        top: how many screened trials go on to all the folds.
        nested: report the nested cross-validation estimate (selection repeated inside each
            outer fold) as the estimate, instead of the chosen trial's test figures.
        data_root: the dataset (None: the demo dataset).
        preset: the ready-made study it came from, if any.
        description: one line for listings.
    """

    base: dict
    space: dict
    metric: str = "auc"
    n_trials: int = 10
    sampler: str = "tpe"
    pruner: str = "median"
    prune_warmup_folds: int | None = None
    prune_min_trials: int = 3
    seed: int = 0
    folds: list[int] | None = None
    screen_folds: int | None = None
    top: int = 3
    nested: bool = False
    data_root: str | None = None
    preset: str | None = None
    description: str = ""
    extra: dict = field(default_factory=dict)

    def check(self) -> StudyDefinition:
        """Raise UserError for anything that cannot run; returns self."""
        from glaucoma_core.config import TrainConfig
        from glaucoma_core.errors import ConfigError

        try:
            TrainConfig.from_dict(self.base)
        except ConfigError as exc:
            raise UserError(f"study base configuration: {exc}") from None
        space = SearchSpace(self.space)
        SelectionRule(self.metric)
        if self.sampler not in SAMPLERS:
            raise UserError(f"unknown sampler {self.sampler!r}; choose one of {', '.join(SAMPLERS)}")
        if self.pruner not in PRUNERS:
            raise UserError(f"unknown pruner {self.pruner!r}; choose one of {', '.join(PRUNERS)}")
        if self.prune_warmup_folds is not None and (
                not isinstance(self.prune_warmup_folds, int) or self.prune_warmup_folds < 1):
            raise UserError(f"prune warm-up folds must be a whole number of at least 1, got {self.prune_warmup_folds}")
        if not isinstance(self.prune_min_trials, int) or self.prune_min_trials < 1:
            raise UserError(f"prune min trials must be a whole number of at least 1, got {self.prune_min_trials}")
        if self.sampler == "grid":
            space.grid()  # names a range
        if not isinstance(self.n_trials, int) or not 1 <= self.n_trials <= MAX_TRIALS:
            raise UserError(f"trials must be a whole number from 1 to {MAX_TRIALS}, got {self.n_trials}")
        if self.screen_folds is not None:
            if not isinstance(self.screen_folds, int) or self.screen_folds < 1:
                raise UserError(f"screen folds must be at least 1, got {self.screen_folds}")
            if self.folds is not None and self.screen_folds >= len(self.folds):
                raise UserError(f"screening on {self.screen_folds} folds of {len(self.folds)} screens nothing: "
                                "give fewer screen folds or more folds")
            if not isinstance(self.top, int) or self.top < 1:
                raise UserError(f"top must be at least 1, got {self.top}")
        return self

    @property
    def search_space(self) -> SearchSpace:
        return SearchSpace(self.space)

    def first_folds(self) -> list[int]:
        """The folds every trial runs first (the screening folds, else all of them)."""
        folds = list(self.folds or [])
        return folds[: self.screen_folds] if self.screen_folds else folds

    def warmup_folds(self) -> int:
        """Folds a trial runs before it may be pruned (the setting, else half of its first folds)."""
        from glaucoma_core.studies.pruning import default_warmup_folds

        if self.prune_warmup_folds is not None:
            return int(self.prune_warmup_folds)
        return default_warmup_folds(len(self.first_folds()) or 1)

    @property
    def rule(self) -> SelectionRule:
        return SelectionRule(self.metric)

    def base_config(self):
        from glaucoma_core.config import TrainConfig

        return TrainConfig.from_dict(self.base)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> StudyDefinition:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})
