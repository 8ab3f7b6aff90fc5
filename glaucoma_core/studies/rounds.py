"""Run a study's trials in rounds on an executor (Ray): several trials at once, pruning between rounds.

Locally a study trains one fold after another (``StudyRunner._run_trial``). On Ray the unit is
a round of folds: Optuna's ask/tell lets the runner ask for ``parallel_trials`` trials at once;
each round sends the next folds of every trial still in play to the executor together (each
Ray task calls ``fold_run.execute_run``, which writes the fold to the run store itself), and
when they are back the runner takes in each fold as the local path does
(``StudyRunner.after_fold``: score, running mean, pruner), then tells each trial its value.

Rounds of a batch of trials over k folds:

- pruner ``none``: one round, all k folds of every trial (the most parallel);
- pruner ``median``: first the warm-up folds (``prune_warmup_folds``, default ``ceil(k/2)``)
  together, since no trial can be pruned before them, then one fold per round, the pruner asked
  after each. A trial is compared with the trials completed before its batch (Optuna's pruners
  count completed trials only), so a batch's trials do not prune one another.

Feature sharing: the Ray workers compute the frozen backbone's features once and share them
through the disk feature cache in the workbench home (``<home>/features``), which they see
because they run on the same machine or on a shared filesystem (see ``training/executors.py``);
a worker reused for a later task also keeps them in memory.

Resuming works as locally: a fold with a finished run is never sent again; a fold whose run
was left queued is sent as it is; a fold whose run died with the driver gets a new run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_PARALLEL_TRIALS = 4


@dataclass
class _InPlay:
    number: int
    experiment_id: int
    trial: object | None  # an optuna Trial; None for the second phase (no reporting, no tell)
    values: dict[int, float] = field(default_factory=dict)


def fold_rounds(n_folds: int, definition) -> list[list[int]]:
    """The positions (0-based, into a trial's folds) trained together in each round."""
    if definition.pruner == "none":
        return [list(range(n_folds))]
    warm = min(definition.warmup_folds(), n_folds)
    return [list(range(warm))] + [[p] for p in range(warm, n_folds)]


def run_trials(runner, folds: list[int], budget: int, parallel_trials: int | None = None) -> None:
    """Run trials (RUNNING ones left by a killed run first) in batches of ``parallel_trials``
    until ``budget`` trials have started."""
    import optuna

    from glaucoma_core.studies.storage import started_trials

    study, d = runner.study, runner.definition
    size = int(parallel_trials or DEFAULT_PARALLEL_TRIALS)
    waiting = [optuna.trial.Trial(study, frozen._trial_id)
               for frozen in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))]
    for trial in waiting:
        runner.echo(f"trial {trial.number}: resuming")
    while waiting or started_trials(study) < budget:
        batch, waiting = waiting[:size], waiting[size:]
        while len(batch) < size and started_trials(study) < budget:
            trial = study.ask()
            d.search_space.suggest(trial)
            batch.append(trial)
        in_play = []
        for trial in batch:
            experiment_id = runner.start_trial(trial)
            if experiment_id is not None:
                in_play.append(_InPlay(trial.number, experiment_id, trial))
        for item in run_rounds(runner, in_play, folds):
            runner.finish_trial(item.trial, item.values)


def run_second_phase(runner) -> None:
    """The screening's second phase on the executor: the ``top`` trials' remaining folds in one
    round, the others' queued runs cancelled."""
    top, rest = runner.screened_top()
    for frozen in rest:
        runner.cancel_queued(frozen.user_attrs.get("experiment_id"))
    for frozen in top:
        runner.echo(f"trial {frozen.number}: screened in the top {runner.definition.top}, all folds")
    in_play = [_InPlay(frozen.number, int(frozen.user_attrs["experiment_id"]), None) for frozen in top]
    # the trial's status in the report comes from its finished folds in the run store
    run_rounds(runner, in_play, runner.definition.folds, one_round=True)


def run_rounds(runner, in_play: list[_InPlay], folds: list[int], *, one_round: bool = False) -> list[_InPlay]:
    """Train ``folds`` of every trial in play, round by round; returns those still in play at
    the end (not failed, not pruned)."""
    rounds = [list(range(len(folds)))] if one_round else fold_rounds(len(folds), runner.definition)
    for positions in rounds:
        if not in_play:
            break
        results = train_on_executor(runner, [(item.experiment_id, folds[p]) for item in in_play for p in positions])
        trained_first = any(results[(item.experiment_id, folds[0])][1] == "finished"
                            for item in in_play) if positions[0] == 0 else False
        still = []
        for item in in_play:
            if all(runner.after_fold(item.number, item.experiment_id, folds, p,
                                     *results[(item.experiment_id, folds[p])], item.values, item.trial,
                                     others_trained=trained_first)
                   for p in positions):
                still.append(item)
        in_play = still
    return in_play


def train_on_executor(runner, folds_of: list[tuple[int, int]]) -> dict[tuple[int, int], tuple[int, str]]:
    """Train the (experiment id, fold) pairs together on the runner's executor; returns
    {(experiment id, fold): (run id, status)}. Finished folds are not sent again."""
    store = runner.store
    store.reap_dead_runs()
    run_of, status, todo = {}, {}, []
    for key in folds_of:
        run_id, finished = runner.run_of(*key)
        run_of[key] = run_id
        if finished:
            status[run_id] = "finished"
        else:
            todo.append(run_id)
    for run_id in todo:
        store.claim_run(run_id)
    if todo:
        outcomes = runner.executor.run(store, todo, index=runner.index, train_fn=runner.train_fn,
                                       echo=runner.fold_echo)
        try:
            for outcome in outcomes:
                status[int(outcome["run_id"])] = str(outcome["status"])
        finally:
            outcomes.close()
    return {key: (run_id, status.get(run_id) or str(store.run(run_id)["status"])) for key, run_id in run_of.items()}
