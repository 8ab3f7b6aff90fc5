"""The steps of the workbench's external-validation and metadata-baseline actions.

:meth:`Workbench.validate_external` and :meth:`Workbench.metadata_baseline` delegate here; these
functions take the workbench (for the store, datasets and models) and call the pure functions
of this package. Nothing here is imported by the data, training or evaluation layers.
"""

from __future__ import annotations

import math

import pandas as pd

from glaucoma_core.errors import UserError
from glaucoma_core.external.baseline import compare_with_baseline, metadata_baseline
from glaucoma_core.external.predict import run_probabilities
from glaucoma_core.external.properties import image_properties
from glaucoma_core.external.shift import shift_report
from glaucoma_core.external.validation import external_images, external_report

#: Images per class read for the dataset-shift report (a sample: the distance needs no more).
SHIFT_SAMPLE = 200
#: Side at which images are read for the metadata baseline (colour and brightness only).
BASELINE_SIDE = 64


def _internal_dataset(bench, data_root):
    """The experiment's own dataset, or None when its folder is gone."""
    try:
        return bench.dataset(data_root)
    except UserError:
        return None


def _properties_of(index: pd.DataFrame, images: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Image properties of (a sample of) ``images``, rows of ``index``."""
    rows = index[(index["problem"] == "") & index["sha256"].isin(set(images["sha256"]))].drop_duplicates("sha256")
    return image_properties(rows, per_class=SHIFT_SAMPLE, seed=seed)


def _pooled_test(bench, ref) -> pd.DataFrame:
    """The experiment's (or run's) test predictions, one row per fold and image."""
    from glaucoma_core.evaluation.cv_summary import dedupe_per_fold
    from glaucoma_core.evaluation.evaluate import latest_run_per_fold

    rows = latest_run_per_fold(bench.predictions(ref))
    return dedupe_per_fold(rows[rows["split"] == "test"])


def _internal_figures(result: dict, is_run: bool) -> dict:
    metrics = result["metrics"] if is_run else result["pooled"]
    intervals = result["intervals"] if is_run else result["pooled_intervals"]
    out = {"what": "the run's test images" if is_run else "pooled out-of-fold test images of every fold"}
    for name in ("auc", "sensitivity", "specificity", "sens_at_spec85", "sens_at_spec95", "pauc_spec90"):
        out[name] = metrics.get(name)
        if name in intervals:
            out[f"{name}_ci95"] = [intervals[name]["low"], intervals[name]["high"]]
    out["n"], out["fn"] = metrics.get("n"), metrics.get("fn")
    return out


def _fold_thresholds(result: dict, is_run: bool, fold) -> dict[int, float]:
    if is_run:
        return {int(fold): float(result["threshold"]["threshold"])}
    return {int(f): float(choice["threshold"]) for f, choice in result["thresholds"].items()}


def validate_external(bench, reference, data, rule, *, n_resamples: int, seed: int, save: bool = True) -> dict:
    """See :meth:`glaucoma_core.workbench.Workbench.validate_external`."""
    from glaucoma_core.data.index import dataset_fingerprint

    ref = bench.resolve(reference)
    label = bench.label(ref)
    run_ids = bench.finished_runs(ref)
    if not run_ids:
        raise UserError(f"{label} has no finished run to validate")
    internal = bench.evaluate(ref, rule, n_resamples=n_resamples, seed=seed)
    if ref.is_run:
        run = bench.run(ref.key)
        fold = 0 if run["fold"] is None or pd.isna(run["fold"]) else int(run["fold"])
        folds_of = {int(ref.key): fold}
        own_root = run["data_root"]
    else:
        runs = bench.store.runs(ref.key).set_index("id")
        folds_of = {r: int(runs.loc[r, "fold"]) for r in run_ids}
        own_root = bench.store.experiment(ref.key)["data_root"]
        fold = None
    thresholds = _fold_thresholds(internal, ref.is_run, fold)
    ensemble_choice, threshold_note = bench.decision_threshold(run_ids, rule)

    other = bench.dataset(data)
    images, counts = external_images(other.index)
    if images.empty:
        raise UserError(f"{other.root}: no usable image to validate on")
    probabilities = {}
    for run_id in run_ids:
        model = bench.load_model(run_id)
        probabilities[folds_of[run_id]] = (run_id, run_probabilities(model, bench.run(run_id)["config"], images))
    pooled = _pooled_test(bench, ref)
    try:
        report = external_report(images, probabilities, thresholds, ensemble_choice.threshold,
                                 method=rule.method, target=rule.target,
                                 internal_labels=pooled["label"].to_numpy(int),
                                 internal_probabilities=pooled["probability"].to_numpy(float),
                                 n_resamples=n_resamples, seed=seed)
    except ValueError as exc:
        raise UserError(f"{label} on {other.root}: {exc}") from None

    own = _internal_dataset(bench, own_root)
    shift = {"distance": None, "warning": f"{own_root}: the experiment's own dataset is not readable here; "
                                         "no shift report", "flagged": None}
    overlap = None
    if own is not None:
        own_images, _ = external_images(own.index)
        overlap = int(images["sha256"].isin(set(own_images["sha256"])).sum())
        report_shift = shift_report(_properties_of(own.index, own_images, seed), _properties_of(other.index, images, seed),
                                    seed=seed)
        shift = {"distance": report_shift["distance"], "distance_ci95": report_shift["distance_ci95"],
                 "flagged": report_shift["flagged"], "warning": report_shift["warning"],
                 "top": report_shift["top"], "n": report_shift["n"], "table": report_shift["table"]}
    ensemble = report["ensemble"]
    ensemble["threshold_source"] = ("the experiment's pooled validation predictions, "
                                    f"{rule.describe().split(' (')[0]}") + (f" ({threshold_note})" if threshold_note else "")
    result = {
        "experiment": str(ref), "label": label, "kind": ref.kind, "data": str(other.root),
        "fingerprint": dataset_fingerprint(other.index), "threshold_rule": rule.to_dict(),
        "threshold_rule_text": rule.describe(),
        "images": {**report["images"], **counts, "also_in_training_dataset": overlap},
        "ensemble": ensemble, "folds": report["folds"], "internal": _internal_figures(internal, ref.is_run),
        "drop": report["drop"], "shift": shift,
        "missed": report["predictions"].query("label == 1 and called == 0")
                                       .sort_values("probability")["path"].tolist(),
    }
    if overlap:
        result["warning"] = (f"{overlap} external image(s) are also in the experiment's own dataset "
                             "(same file content): the external figures are not fully external")
    if save and not bench.read_only:
        from glaucoma_core.store.external_results import save_external

        result["id"] = save_external(
            bench.store, experiment_id=None if ref.is_run else int(ref.key), run_id=int(ref.key) if ref.is_run else None,
            data_root=str(other.root), fingerprint=result["fingerprint"], threshold_rule=rule.to_dict(),
            result=result, predictions=report["predictions"])
    result["predictions"] = report["predictions"]
    return result


def baseline_of(bench, reference) -> dict:
    """See :meth:`glaucoma_core.workbench.Workbench.metadata_baseline`."""
    ref = bench.resolve(reference)
    label = bench.label(ref)
    if ref.is_run:
        run = bench.run(ref.key)
        if run["fold"] is None or pd.isna(run["fold"]):
            raise UserError(f"{label} trained on a flat dataset: a metadata baseline needs its folds' test images")
        folds, root, config = [int(run["fold"])], run["data_root"], run["config"]
    else:
        experiment = bench.store.experiment(ref.key)
        folds, root, config = [int(f) for f in experiment["folds"]], experiment["data_root"], experiment["config"]
    dataset = bench.dataset(root)
    properties = image_properties(dataset.index.drop_duplicates("sha256"), side=BASELINE_SIDE)
    try:
        baseline = metadata_baseline(dataset.index, properties, folds)
    except ValueError as exc:
        raise UserError(f"{label}: {exc}") from None
    experiment_auc = math.nan
    try:
        evaluated = bench.evaluate(ref, n_resamples=1)
        experiment_auc = float((evaluated["metrics"] if ref.is_run else evaluated["pooled"])["auc"])
    except UserError:
        pass  # not trained yet: the baseline alone
    verdict = compare_with_baseline(experiment_auc, baseline,
                                    normalised=bool((config or {}).get("resolution_normalisation")))
    return {"experiment": str(ref), "label": label, "data": str(dataset.root), "folds": folds,
            **{k: baseline[k] for k in ("auc", "auc_ci95", "n_test", "per_fold", "features", "single")},
            **verdict}


__all__ = ["baseline_of", "validate_external"]
