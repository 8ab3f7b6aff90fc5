"""Run a study: each trial is one cross-validation experiment, trained fold by fold in this
process (the default) or as Ray tasks (``executor='ray'``, see :mod:`glaucoma_core.studies.rounds`).

Why one process by default: trials that share a frozen backbone share its features. The feature cache
(``training/feature_cache.py``) keeps them on disk under the home and in memory for the
process, so the first fold of the first trial computes them and every later fold of every
trial only fits a small head; the dataset is scanned and its index shared once per study.

A trial's life:

1. Optuna's sampler proposes the parameters (``study.ask``); the space applies them to the
   base configuration; :meth:`Workbench.create_experiment` records the experiment
   ``study-<id>-trial-<n>`` with one queued run per fold (its id goes in the trial's user
   attributes).
2. Folds are trained one after another (``fold_run.execute_run``, as the ``cv`` command does).
   After each, the running mean of the folds' **validation** scores is reported to Optuna as
   the intermediate value of that step; when the pruner says the trial cannot catch up
   (``median``: after the warm-up folds, below the median of the completed trials' running
   means over the same folds; see :mod:`glaucoma_core.studies.pruning`), the trial's remaining
   queued runs are cancelled and the trial is marked pruned.
3. The trial's value (``study.tell``) is the mean validation score over its folds.

With ``screen_folds = k``, every trial first runs on the first k folds only; then the ``top``
best go on to all the folds and the others' remaining runs are cancelled.

With an executor other than local (``--executor ray``), several trials are asked at once and
their folds sent in rounds, pruning between rounds: :mod:`glaucoma_core.studies.rounds`.

Resuming: a killed study leaves its current trial RUNNING in Optuna and its finished folds
finished in the run store. ``resume`` takes those trials up first, training only the folds
that have no finished run (a fold is never trained twice), then continues with new trials.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable

from glaucoma_core.errors import UserError
from glaucoma_core.studies.definition import StudyDefinition
from glaucoma_core.studies.storage import open_storage, resolve_study, started_trials, study_ref


class StudyStopped(Exception):
    """A fold was cancelled by the user: the study stops (resume continues it)."""


# ---------------------------------------------------------------- creating and opening


def create_study(bench, definition: StudyDefinition, name: str | None = None) -> int:
    """Check ``definition`` against its dataset and record it as a new Optuna study.

    Args:
        bench: the Workbench (its home holds the studies file and the run store).
        definition: what to run; its folds and data root are filled in from the dataset.
        name: the study's name (default: '<preset> <date time>').

    Returns the study id (printed as ``study:N``). Raises UserError before anything is
    recorded when the dataset, a fold, the base configuration or an edge of the space is wrong.
    """
    import optuna

    from glaucoma_core.workbench import datasets

    definition.check()
    dataset = bench.dataset(definition.data_root)
    if not dataset.folds:
        raise UserError(f"{dataset.root}: a study cross-validates each trial and needs the fold layout "
                        "(make one with the folds command)")
    folds = datasets.check_folds(dataset, definition.folds)
    definition.folds = [int(f) for f in folds]
    definition.data_root = str(dataset.root)
    definition.check()
    base, space = definition.base_config(), definition.search_space
    bench.check_config(base, dataset, folds)
    for params in _edge_points(space):
        bench.check_config(space.config(base, params), dataset, folds)
    storage = open_storage(bench.home)
    name = (name or "").strip() or _default_name(storage, definition)
    try:
        study = optuna.create_study(storage=storage, study_name=name, direction="maximize")
    except optuna.exceptions.DuplicatedStudyError:
        raise UserError(f"a study named {name!r} exists already; choose another name") from None
    study.set_user_attr("definition", definition.to_dict())
    study.set_user_attr("created_at", time.time())
    return int(study._study_id)


def load_study(bench, reference):
    """(optuna Study, StudyDefinition, study id) of a reference (``study:3``, 3 or a name)."""
    import optuna

    storage = open_storage(bench.home)
    study_id, name = resolve_study(storage, reference)
    study = optuna.load_study(study_name=name, storage=storage)
    definition = StudyDefinition.from_dict(study.user_attrs["definition"])
    return study, definition, study_id


def experiment_name(study_id: int, trial_number: int) -> str:
    return f"study-{int(study_id)}-trial-{int(trial_number)}"


def _edge_points(space) -> list[dict]:
    """The points that check every dimension's extremes (each list value, each range's ends)."""
    points = []
    for dim in space.dimensions:
        values = list(dim.choices) if dim.is_grid else [dim.low, dim.high]
        if dim.integer:
            values = [int(v) for v in values]
        for value in values:
            points.append({dim.name: value})
    return points


def _default_name(storage, definition: StudyDefinition) -> str:
    taken = {s.study_name for s in storage.get_all_studies()}
    stem = f"{definition.preset or 'study'} {time.strftime('%Y-%m-%d %H:%M:%S')}"
    name, n = stem, 1
    while name in taken:
        n += 1
        name = f"{stem} ({n})"
    return name


# ---------------------------------------------------------------- samplers and pruners


def make_sampler(definition: StudyDefinition, n_existing: int):
    """The Optuna sampler of the definition, seeded so that a resumed study does not repeat the
    draws of the first session (the seed moves on by the trials already made)."""
    import optuna

    seed = int(definition.seed) + int(n_existing)
    if definition.sampler in ("grid", "random"):
        # grid: the points are enqueued trials (see StudyRunner.run); the sampler draws nothing
        return optuna.samplers.RandomSampler(seed=seed)
    startup = min(5, max(2, definition.n_trials // 3))
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup)


def make_pruner(definition: StudyDefinition):
    """The pruner of the definition: running means over the same folds against the completed
    trials' median, after the warm-up folds and once enough trials completed (see
    :mod:`glaucoma_core.studies.pruning`); Optuna's NopPruner for ``none``."""
    import optuna

    from glaucoma_core.studies.pruning import FoldMeanPruner

    if definition.pruner == "median":
        return FoldMeanPruner(warmup_folds=definition.warmup_folds(), min_trials=definition.prune_min_trials)
    return optuna.pruners.NopPruner()


# ---------------------------------------------------------------- running


class StudyRunner:
    """Runs (or resumes) one study in this process.

    Args:
        bench: the Workbench.
        reference: the study (``study:3``, 3 or its name).
        executor: where folds are trained: ``'local'`` (in this process, one after the other),
            ``'ray'`` (trials' folds as Ray tasks, see :mod:`glaucoma_core.studies.rounds`), an
            executor object (``training.executors``), or None: the one this study was last run
            with (remembered in the study), else local.
        address: the Ray cluster (``ray.init(address=...)``); None with ``'ray'``: the address
            remembered with it, else a local Ray instance.
        parallel_trials: on Ray, how many trials are in flight at once (default
            :data:`rounds.DEFAULT_PARALLEL_TRIALS`); ignored locally.
        train_fn: the fold trainer (tests inject a fake one; default the real trainer).
        echo: where progress lines go (None for silence).
    """

    def __init__(self, bench, reference, *, executor=None, address: str | None = None,
                 parallel_trials: int | None = None, train_fn: Callable | None = None,
                 echo: Callable[[str], None] | None = print):
        self.bench = bench
        self.train_fn = train_fn
        self.echo = echo or (lambda _message: None)
        self.study, self.definition, self.study_id = load_study(bench, reference)
        self.store = bench.store
        self.executor = resolve_executor(self.study, executor, address)
        if parallel_trials is not None and (not isinstance(parallel_trials, int) or parallel_trials < 1):
            raise UserError(f"parallel trials must be a whole number of at least 1, got {parallel_trials}")
        self.parallel_trials = parallel_trials

    # -------------------------------------------------------- the whole study

    def run(self) -> None:
        """Train trials until the budget is spent (RUNNING trials left by a killed run first),
        then the screening's second phase. Returns when the study is finished or stopped."""
        import optuna

        d = self.definition
        self._claim()
        try:
            self.dataset = self.bench.dataset(d.data_root)
            self.index = self.dataset.index
            n_existing = len(self.study.get_trials(deepcopy=False))
            self.study.sampler = make_sampler(d, n_existing)
            self.study.pruner = make_pruner(d)
            first = d.first_folds()
            budget = min(d.n_trials, d.search_space.grid_size()) if d.sampler == "grid" else d.n_trials
            self.echo(f"{study_ref(self.study_id)} ({self.study.study_name}): {budget} trial(s) over folds "
                      f"{', '.join(map(str, first))}; selection: {d.rule.describe()}"
                      + ("" if self.executor.name == "local" else f"; folds on {self.executor.name}"
                         + (f" at {self.executor.address}" if self.executor.address else " (local instance)")))
            if d.sampler == "grid" and n_existing == 0:
                # Every combination once, in order, as enqueued trials (Optuna's GridSampler stops
                # the study from inside tell, which only works under study.optimize).
                for params in d.search_space.grid_points()[:budget]:
                    self.study.enqueue_trial(params)
            if self.executor.name == "local":
                remember_executor(self.study, self.executor)
                for frozen in self.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
                    self.echo(f"trial {frozen.number}: resuming")
                    self._run_trial(optuna.trial.Trial(self.study, frozen._trial_id), first)
                while started_trials(self.study) < budget:
                    trial = self.study.ask()
                    d.search_space.suggest(trial)
                    self._run_trial(trial, first)
                if d.screen_folds:
                    self._second_phase()
            else:
                from glaucoma_core.studies import rounds
                from glaucoma_core.training.executors import ExecutorUnavailable

                with contextlib.ExitStack() as stack:
                    try:  # one Ray connection (or local instance) for the whole study
                        stack.enter_context(self.executor.session())
                    except ExecutorUnavailable as exc:
                        raise UserError(str(exc)) from None
                    remember_executor(self.study, self.executor)
                    rounds.run_trials(self, first, budget, self.parallel_trials)
                    if d.screen_folds:
                        rounds.run_second_phase(self)
        finally:
            self._release()

    def screened_top(self):
        """(the ``top`` best complete screened trials, the others), best first."""
        import optuna

        done = self.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        ranked = sorted(done, key=lambda t: (-t.value, t.number))
        return ranked[: self.definition.top], ranked[self.definition.top:]

    def _second_phase(self) -> None:
        """Run the ``top`` best screened trials over all the folds; cancel the others' runs."""
        top, rest = self.screened_top()
        for frozen in rest:
            self.cancel_queued(frozen.user_attrs.get("experiment_id"))
        for frozen in top:
            self.echo(f"trial {frozen.number}: screened in the top {self.definition.top}, all folds")
            # the trial's status in the report comes from its finished folds in the run store
            self._train_folds(frozen.number, frozen.user_attrs["experiment_id"], self.definition.folds, trial=None)

    # -------------------------------------------------------- one trial

    def _run_trial(self, trial, folds: list[int]) -> None:
        experiment_id = self.start_trial(trial)
        if experiment_id is None:
            return
        values = self._train_folds(trial.number, experiment_id, folds, trial=trial)
        if values is not None:  # else failed or pruned: told already
            self.finish_trial(trial, values)

    def start_trial(self, trial) -> int | None:
        """The trial's experiment (recorded now, or found again when resumed); None when its
        configuration is invalid (then the trial is told it failed)."""
        import optuna

        d = self.definition
        params = dict(trial.params)
        try:
            config = d.search_space.config(d.base_config(), params)
            experiment_id = self._experiment_of(trial.number, config)
        except UserError as exc:
            self.echo(f"trial {trial.number}: failed: {exc}")
            trial.set_user_attr("error", str(exc))
            self.study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
            return None
        trial.set_user_attr("experiment_id", experiment_id)
        self.echo(f"trial {trial.number} [exp:{experiment_id}]: {_params_text(params)}")
        return experiment_id

    def finish_trial(self, trial, values: dict[int, float]) -> None:
        """Tell Optuna the trial's value: the rule's mean over its folds' validation scores."""
        import optuna

        d = self.definition
        score = d.rule.score(values)
        if not math.isfinite(score):
            trial.set_user_attr("error", "validation score undefined on every fold (one class only?)")
            self.study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
            return
        self.study.tell(trial.number, score)
        self.echo(f"trial {trial.number}: {d.metric} {score:.4f} (validation, {len(values)} fold(s))")

    def _experiment_of(self, number: int, config) -> int:
        """The trial's experiment: the one of that name (a resumed trial), else a new one."""
        from glaucoma_core.store import RunNotFound

        name = experiment_name(self.study_id, number)
        try:
            return int(self.store.experiment(name)["id"])
        except RunNotFound:
            return self.bench.create_experiment(config, self.dataset, self.definition.folds, name=name)

    def _train_folds(self, number: int, experiment_id: int, folds: list[int], trial) -> dict[int, float] | None:
        """Train ``folds`` of the experiment in order (finished ones are kept); report each fold's
        running mean to ``trial`` (None: no pruning). Returns {fold: validation score}, or None
        when the trial failed or was pruned (then it is told so)."""
        values: dict[int, float] = {}
        for position, fold in enumerate(folds):
            run_id, outcome = self._train_fold(experiment_id, fold)
            if not self.after_fold(number, experiment_id, folds, position, run_id, outcome, values, trial):
                return None
        return values

    def after_fold(self, number: int, experiment_id: int, folds: list[int], position: int, run_id: int,
                   outcome: str, values: dict[int, float], trial, others_trained: bool = False) -> bool:
        """Take in the fold at ``position`` of ``folds`` (run ``run_id`` ended ``outcome``): its
        validation score goes into ``values``; the running mean is reported to ``trial`` (None: no
        pruning) and the pruner asked. Returns False when the trial is over (failed or pruned,
        and told so); raises StudyStopped when the fold was cancelled. ``others_trained``: some
        other trial of the same round trained this position (then a first-fold failure is that
        trial's own, not a reason to stop the study)."""
        import optuna

        rule, fold = self.definition.rule, folds[position]
        if outcome == "cancelled":
            raise StudyStopped(f"run {run_id} (trial {number}, fold {fold}) was cancelled; the study stops "
                               f"(resume {study_ref(self.study_id)} continues it)")
        if outcome != "finished":
            error = self.store.run(run_id)["error"]
            self.echo(f"trial {number}: fold {fold} {outcome}: {error}")
            self.cancel_queued(experiment_id)
            if trial is not None:
                trial.set_user_attr("error", f"fold {fold} (run {run_id}) {outcome}: {error}")
                self.study.tell(number, state=optuna.trial.TrialState.FAIL)
                if position == 0 and not others_trained and not self.study.get_trials(
                        deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
                    # Nothing has ever trained: the same cause (missing weights, unreadable data)
                    # would fail every trial; stop and say why instead of spending the budget.
                    raise UserError(f"{study_ref(self.study_id)}: trial {number} failed on its first fold "
                                    f"before any trial finished, so the study stops: {error}")
            return False
        valid = self.store.predictions([run_id], split="valid")  # validation rows only
        values[fold] = rule.fold_scores(valid).get(fold, math.nan)
        if trial is None:
            return True
        # The value at step s is the mean over the first s + 1 folds, reported only when each
        # of them has a score, so that every trial's value at s is a mean over the same folds.
        if not all(math.isfinite(values.get(f, math.nan)) for f in folds[: position + 1]):
            return True
        running = rule.score({f: values[f] for f in folds[: position + 1]})
        trial.report(running, position)
        if position + 1 < len(folds) and trial.should_prune():
            self.cancel_queued(experiment_id)
            trial.set_user_attr("pruned_after_folds", position + 1)
            self.study.tell(number, state=optuna.trial.TrialState.PRUNED)
            self.echo(f"trial {number}: pruned after {position + 1} fold(s) ({rule.metric} {running:.4f}, "
                      "below the median of the completed trials over the same folds)")
            return False
        return True

    def _train_fold(self, experiment_id: int, fold: int) -> tuple[int, str]:
        """(run id, status) of the fold: its finished run, else a queued (or new) run trained now."""
        from glaucoma_core.training.fold_run import execute_run

        self.store.reap_dead_runs()
        run_id, finished = self.run_of(experiment_id, fold)
        if finished:
            return run_id, "finished"
        outcome = execute_run(self.store, run_id, index=self.index, train_fn=self.train_fn, echo=self.fold_echo)
        return run_id, str(outcome["status"])

    def run_of(self, experiment_id: int, fold: int) -> tuple[int, bool]:
        """(run id, finished) of the fold: its finished run, else its queued run, else a new one."""
        runs = self.store.runs(experiment_id)
        rows = runs[runs["fold"] == fold].sort_values("id")
        finished = rows[rows["status"] == "finished"]
        if len(finished):
            return int(finished["id"].iloc[-1]), True
        queued = rows[rows["status"] == "queued"]
        if len(queued):
            return int(queued["id"].iloc[0]), False
        experiment = self.store.experiment(experiment_id)
        return self.store.create_run(experiment_id, fold, experiment["config"], experiment["data_root"]), False

    def fold_echo(self, message: str) -> None:
        if message.startswith("run ") or message.startswith("features"):
            self.echo("  " + message.splitlines()[0])

    def cancel_queued(self, experiment_id) -> None:
        if experiment_id is None:
            return
        runs = self.store.runs(int(experiment_id))
        for run_id in runs.loc[runs["status"] == "queued", "id"]:
            self.store.request_cancel(int(run_id))

    # -------------------------------------------------------- who runs it

    def _claim(self) -> None:
        from glaucoma_core.store.liveness import pid_alive, this_host

        runner = self.study.user_attrs.get("runner")
        if runner and runner.get("pid") != os.getpid() and runner.get("host") == this_host() \
                and pid_alive(int(runner["pid"])):
            raise UserError(f"{study_ref(self.study_id)} is being run by process {runner['pid']}; "
                            "wait for it, or stop it first")
        self.study.set_user_attr("runner", {"pid": os.getpid(), "host": this_host(), "since": time.time()})

    def _release(self) -> None:
        self.study.set_user_attr("runner", None)


def resolve_executor(study, executor=None, address: str | None = None):
    """The executor object to run ``study`` with (see :class:`StudyRunner`): the one given, else
    the one :func:`remember_executor` wrote in the study, else local."""
    from glaucoma_core.training.executors import make_executor

    remembered = study.user_attrs.get("executor") or {}
    if executor is None:
        executor = remembered.get("name", "local")
        address = address or remembered.get("address")
    if isinstance(executor, str):
        if executor == "ray" and address is None and remembered.get("name") == "ray":
            address = remembered.get("address")
        try:
            executor = make_executor(executor, address)
        except ValueError as exc:
            raise UserError(str(exc)) from None
    return executor


def remember_executor(study, executor) -> None:
    """Write the executor in the study (user attribute ``executor``: name and address) so that
    ``study resume`` and the app's relaunch keep it; called once it is known to work (Ray
    connected), so that a wrong address is not remembered."""
    study.set_user_attr("executor", {"name": executor.name, "address": getattr(executor, "address", None)})


def runner_alive(study) -> bool:
    """True when a live process on this host is running the study now."""
    from glaucoma_core.store.liveness import pid_alive, this_host

    runner = study.user_attrs.get("runner")
    return bool(runner) and runner.get("host") == this_host() and pid_alive(int(runner["pid"]))


def _params_text(params: dict) -> str:
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())
