"""The studies of a home, one line each (for ``study list`` and the Studies page)."""

from __future__ import annotations

from glaucoma_core.studies.storage import open_storage, storage_path, study_ref


def list_studies(bench) -> list[dict]:
    """[{study, study_id, name, preset, metric, trials, complete, pruned, best_value, status}]."""
    import optuna

    from glaucoma_core.studies.definition import StudyDefinition
    from glaucoma_core.studies.leaderboard import _study_status
    from glaucoma_core.studies.runner import runner_alive

    if not storage_path(bench.home).exists():
        return []
    storage = open_storage(bench.home)
    out = []
    for summary in sorted(storage.get_all_studies(), key=lambda s: s._study_id):
        study = optuna.load_study(study_name=summary.study_name, storage=storage)
        definition = StudyDefinition.from_dict(study.user_attrs.get("definition", {"base": {}, "space": {}}))
        trials = study.get_trials(deepcopy=False)
        states = [t.state for t in trials]
        complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
        out.append({
            "study": study_ref(summary._study_id), "study_id": summary._study_id, "name": summary.study_name,
            "preset": definition.preset, "metric": definition.metric, "trials": len(trials),
            "n_trials": definition.n_trials,
            "complete": states.count(optuna.trial.TrialState.COMPLETE),
            "pruned": states.count(optuna.trial.TrialState.PRUNED),
            "failed": states.count(optuna.trial.TrialState.FAIL),
            "best_value": max((t.value for t in complete), default=None),
            "status": _study_status(study, definition, runner_alive(study)),
        })
    return out
