"""A study's report: the leaderboard, the chosen trial, its estimate and how sure we are.

Everything here is computed from the run store (the trials' experiments) and the Optuna study,
so the CLI (``study show``) and the Studies page show the same figures:

- per trial: parameters, status, mean ± sd and 95 % t-interval over folds of each
  :data:`REPORT_METRICS` on the validation and on the test images, and its experiment;
- ``selected``: the trial with the best mean **validation** score among those that ran every
  fold (test predictions are not read for this: the selection loads validation rows only);
- each other trial compared with the leader on the folds both ran, on the validation images
  the choice was made on: corrected resampled t-test (Nadeau-Bengio) and Wilcoxon over the
  per-fold differences, DeLong on the pooled images; each test's p-values Holm-corrected over
  the trials, and the count of trials that cannot be told from the leader at 0.05;
- ``estimate``: the chosen trial's test figures (the configuration chosen on validation, its
  test images untouched by the choice) or, with ``nested``, the nested cross-validation
  estimate of the whole procedure: in each outer fold the choice is made again on that fold's
  validation images alone and scored on its test images;
- parameter importance (Optuna's fANOVA) when enough trials finished.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from glaucoma_core.studies.holm import holm_adjust
from glaucoma_core.studies.selection import choose, per_fold
from glaucoma_core.studies.storage import study_ref

REPORT_METRICS = ("auc", "sens_at_spec95")
ALPHA = 0.05
TESTS = ("nadeau_bengio", "wilcoxon", "delong")


def summary(fold_values: dict[int, float]) -> dict:
    """{mean, std, ci95: [low, high], n_folds, folds} of per-fold values (t-interval; NaN dropped)."""
    from glaucoma_core.evaluation.intervals import t_interval

    values = np.array([v for v in fold_values.values() if math.isfinite(v)], dtype=float)
    interval = t_interval(values)
    return {"mean": float(values.mean()) if values.size else None,
            "std": float(values.std(ddof=1)) if values.size > 1 else None,
            "ci95": [_clip01(interval.low), _clip01(interval.high)], "n_folds": int(values.size),
            "folds": {int(k): _num(v) for k, v in sorted(fold_values.items())}}


def study_report(bench, reference) -> dict:
    """The report of a study (see the module docstring); JSON-able."""
    import optuna

    from glaucoma_core.studies.runner import load_study, runner_alive

    study, definition, study_id = load_study(bench, reference)
    rule = definition.rule
    trials = [t for t in study.get_trials(deepcopy=False) if t.state != optuna.trial.TrialState.WAITING]
    store = bench.store
    n_train = _train_images_per_fold(bench, definition)
    rows, valid_predictions = [], {}
    for t in trials:
        experiment_id = t.user_attrs.get("experiment_id")
        runs = _finished_runs(store, experiment_id)
        valid = store.predictions(runs, split="valid") if runs else pd.DataFrame()
        test = store.predictions(runs, split="test") if runs else pd.DataFrame()
        valid_predictions[t.number] = valid
        status = _status(t, definition, _finished_folds(store, experiment_id))
        rows.append({
            "id": t.number, "params": dict(t.params), "status": status,
            "value": _num(t.value) if t.state == optuna.trial.TrialState.COMPLETE else None,
            "valid": {m: summary(per_fold(valid, m, "valid")) for m in REPORT_METRICS},
            "test": {m: summary(per_fold(test, m, "test")) for m in REPORT_METRICS},
            "experiment": f"exp:{int(experiment_id)}" if experiment_id is not None else None,
            "folds_trained": sorted(int(r) for r in _finished_folds(store, experiment_id)),
            "error": t.user_attrs.get("error"),
            "p_vs_leader": None, "p_vs_leader_raw": None, "indistinguishable": None,
        })
    # -- selection: validation only, among trials that ran every fold
    eligible = {r["id"]: rule.score(rule.fold_scores(valid_predictions[r["id"]])) for r in rows
                if r["status"] == "complete" and set(definition.folds or []) <= set(r["folds_trained"])}
    selected = choose(eligible)
    comparisons = _compare_with_leader(rows, valid_predictions, selected, rule, n_train)
    by_id = {r["id"]: r for r in rows}
    n_indistinguishable = 0
    for trial_id, result in comparisons.items():
        row = by_id[trial_id]
        row["p_vs_leader_raw"] = result["raw"]
        row["p_vs_leader"] = {**result["adjusted"], "split": "valid", "metric": rule.metric, "correction": "holm",
                              "k_folds": result["k"]}
        decisive = result["adjusted"]["nadeau_bengio"]
        if decisive is None:
            decisive = result["adjusted"]["delong"]
        row["indistinguishable"] = bool(decisive is None or decisive >= ALPHA)
        n_indistinguishable += int(row["indistinguishable"])
    running = runner_alive(study)
    return {
        "study": study_ref(study_id), "study_id": study_id, "name": study.study_name,
        "preset": definition.preset, "status": _study_status(study, definition, running),
        "rule": rule.to_dict(), "selected": selected,
        "leader": by_id[selected]["params"] if selected is not None else None,
        "n_indistinguishable": n_indistinguishable if selected is not None else None,
        "indistinguishable_text": _indistinguishable_text(selected, n_indistinguishable, len(comparisons)),
        "estimate": _estimate(rows, selected, definition, rule),
        "nested": nested_estimate(rows, definition.folds or [], rule.metric),
        "importance": _importance(study),
        "definition": {k: v for k, v in definition.to_dict().items() if k != "base"},
        "base": definition.base, "folds": definition.folds, "data_root": definition.data_root,
        "n_trials": definition.n_trials,
        "trials": sorted(rows, key=lambda r: board_order(r, selected, rule.metric)),
    }


# ---------------------------------------------------------------- paired tests vs the leader


def _compare_with_leader(rows, valid_predictions, selected, rule, n_train) -> dict:
    from glaucoma_core.evaluation.paired_tests import delong_test, nadeau_bengio_ttest, wilcoxon_signed_rank

    if selected is None:
        return {}
    leader = valid_predictions[selected]
    leader_folds = rule.fold_scores(leader)
    raw = {}
    for row in rows:
        if row["id"] == selected or valid_predictions[row["id"]].empty:
            continue
        mine = rule.fold_scores(valid_predictions[row["id"]])
        common = sorted(set(mine) & set(leader_folds))
        if not common:
            continue
        diffs = np.array([mine[f] - leader_folds[f] for f in common], dtype=float)
        matched = _matched(valid_predictions[row["id"]], leader, common)
        n_test = float(matched.groupby("fold").size().mean()) if len(matched) else 1.0
        nb = nadeau_bengio_ttest(diffs, n_train=max(n_train or 8 * n_test, 1.0), n_test=max(n_test, 1.0))
        wx = wilcoxon_signed_rank(diffs)
        try:
            dl = delong_test(matched["label"].to_numpy(int), matched["p_a"].to_numpy(float),
                             matched["p_b"].to_numpy(float))["p_value"]
        except ValueError:
            dl = math.nan
        raw[row["id"]] = {"k": len(common), "raw": {"nadeau_bengio": _num(nb["p_value"]),
                                                    "wilcoxon": _num(wx["p_value"]), "delong": _num(dl),
                                                    "mean_difference": _num(float(np.nanmean(diffs)))}}
    ids = list(raw)
    for test in TESTS:
        adjusted = holm_adjust([raw[i]["raw"][test] if raw[i]["raw"][test] is not None else math.nan for i in ids])
        for i, value in zip(ids, adjusted, strict=True):
            raw[i].setdefault("adjusted", {})[test] = _num(value)
    for i in ids:
        raw[i]["adjusted"]["mean_difference"] = raw[i]["raw"]["mean_difference"]
    return raw


def _matched(a: pd.DataFrame, b: pd.DataFrame, folds) -> pd.DataFrame:
    """Validation images of both sides in the common folds, matched by (fold, image)."""
    from glaucoma_core.evaluation.cv_summary import dedupe_per_fold
    from glaucoma_core.evaluation.evaluate import latest_run_per_fold

    key = "sha256" if a["sha256"].notna().all() and b["sha256"].notna().all() else "path"
    sides = []
    for frame in (a, b):
        rows = dedupe_per_fold(latest_run_per_fold(frame))
        sides.append(rows[rows["fold"].isin(folds)][["fold", key, "label", "probability"]])
    merged = sides[0].merge(sides[1], on=["fold", key], suffixes=("_a", "_b"))
    merged = merged[merged["label_a"] == merged["label_b"]]
    return merged.rename(columns={"label_a": "label", "probability_a": "p_a", "probability_b": "p_b"})


# ---------------------------------------------------------------- estimates


def _estimate(rows, selected, definition, rule) -> dict:
    if selected is None:
        return {"kind": None, "text": "no trial has finished every fold yet", "metric": rule.metric}
    chosen = next(r for r in rows if r["id"] == selected)
    if definition.nested:
        nested = nested_estimate(rows, definition.folds or [], rule.metric)
        return {"kind": "nested_cv", "metric": rule.metric, **nested["test"],
                "text": "nested cross-validation: in each outer fold the configuration is chosen again on that "
                        "fold's validation images only and scored on its test images; an estimate of the whole "
                        "procedure (search + selection), not of one configuration"}
    return {"kind": "selected_trial_test", "metric": rule.metric, "trial": selected, **chosen["test"][rule.metric],
            "text": f"test figures of trial {selected}, the configuration chosen on validation among "
                    f"{len(rows)} trial(s); the test images played no part in the choice"}


def nested_estimate(rows, folds, metric: str) -> dict:
    """Per outer fold: the trial with the best validation score on that fold alone, and its test
    score on that fold; the mean over folds estimates the whole select-then-test procedure."""
    per_outer, values = [], {}
    for fold in folds:
        scores = {r["id"]: r["valid"][metric]["folds"].get(fold) for r in rows if r["status"] != "failed"}
        scores = {k: v for k, v in scores.items() if v is not None}
        chosen = choose(scores)
        if chosen is None:
            continue
        test = next(r for r in rows if r["id"] == chosen)["test"][metric]["folds"].get(fold)
        per_outer.append({"fold": int(fold), "chosen_trial": chosen, "valid": scores[chosen], "test": test})
        if test is not None:
            values[int(fold)] = test
    return {"kind": "nested_cv", "metric": metric, "per_fold": per_outer, "test": summary(values)}


# ---------------------------------------------------------------- helpers


def _importance(study) -> dict:
    import optuna

    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    varied = {k for t in complete for k in t.params if len({repr(u.params.get(k)) for u in complete}) > 1}
    if len(complete) < 3 or not varied:
        return {"values": {}, "note": "needs at least 3 finished trials that differ"}
    try:
        values = optuna.importance.get_param_importances(
            study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0))
    except Exception as exc:  # noqa: BLE001 - importance is a nicety; its failure must not hide the board
        return {"values": {}, "note": f"not computed: {type(exc).__name__}: {exc}"}
    return {"values": {k: float(v) for k, v in values.items()}, "note": "fANOVA over the finished trials"}


def _finished_runs(store, experiment_id) -> list[int]:
    if experiment_id is None:
        return []
    runs = store.runs(int(experiment_id))
    finished = runs[runs["status"] == "finished"]
    return sorted(int(r) for r in finished.groupby("fold")["id"].max()) if len(finished) else []


def _finished_folds(store, experiment_id) -> set[int]:
    if experiment_id is None:
        return set()
    runs = store.runs(int(experiment_id))
    return {int(f) for f in runs.loc[runs["status"] == "finished", "fold"]}


def _status(trial, definition, finished_folds: set[int]) -> str:
    import optuna

    state = trial.state
    if state == optuna.trial.TrialState.COMPLETE:
        if definition.screen_folds and not set(definition.folds or []) <= finished_folds:
            return "screened"  # ran the screening folds only
        return "complete"
    return {optuna.trial.TrialState.PRUNED: "pruned", optuna.trial.TrialState.RUNNING: "running",
            optuna.trial.TrialState.FAIL: "failed", optuna.trial.TrialState.WAITING: "waiting"}.get(state, "unknown")


def _study_status(study, definition, running: bool) -> str:
    import optuna

    if running:
        return "running"
    from glaucoma_core.studies.storage import started_trials

    trials = study.get_trials(deepcopy=False)
    budget = definition.n_trials
    if definition.sampler == "grid":
        budget = min(budget, definition.search_space.grid_size())
    unfinished = any(t.state == optuna.trial.TrialState.RUNNING for t in trials)
    if started_trials(study) < budget or unfinished:
        return "incomplete" if trials else "created"
    return "finished"


def _indistinguishable_text(selected, n: int, compared: int) -> str:
    if selected is None:
        return ""
    return (f"{n} of {compared} other trial(s) cannot be told from trial {selected} at {ALPHA} "
            "(Holm-corrected corrected-resampled t-test over folds, DeLong when one fold)")


def _train_images_per_fold(bench, definition) -> float | None:
    try:
        index = bench.dataset(definition.data_root).index
    except Exception:  # noqa: BLE001 - the dataset may have moved; the tests fall back to a ratio
        return None
    rows = index[(index["split"] == "train") & index["fold"].isin(definition.folds or [])]
    counts = rows.groupby("fold").size()
    return float(counts.mean()) if len(counts) else None


def _clip01(value):
    """An interval end of a metric in [0, 1] (every REPORT_METRICS one), clipped to it."""
    number = _num(value)
    return None if number is None else min(1.0, max(0.0, number))


def board_order(trial: dict, selected, metric: str) -> tuple:
    """Sort key of the leaderboard: the selected trial, then the trials that ran every fold, then
    the pruned/screened/failed ones (a mean over fewer folds is not comparable), each best first."""
    mean = trial["valid"][metric]["mean"]
    rank = 0 if trial["id"] == selected else 1 if trial["status"] == "complete" else 2
    return rank, -(mean if mean is not None else -1.0), trial["id"]


def _num(value):
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def report_signature(bench, reference) -> tuple:
    """What identifies a study report's inputs: each trial's state and folds reported, and the
    finished runs of the store; changes whenever the report could change (a page's cache key)."""
    from glaucoma_core.studies.runner import load_study, runner_alive

    study, _, study_id = load_study(bench, reference)
    trials = tuple((t.number, t.state.name, len(t.intermediate_values)) for t in study.get_trials(deepcopy=False))
    runs = bench.store.runs()
    finished = tuple(sorted(int(r) for r in runs.loc[runs["status"] == "finished", "id"])) if len(runs) else ()
    return study_id, trials, finished, runner_alive(study)
