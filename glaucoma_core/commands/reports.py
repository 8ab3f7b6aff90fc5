"""Readable text of the workbench's results, as the commands print them."""

from __future__ import annotations

import math

from glaucoma_core.commands.formatting import num as _num
from glaucoma_core.commands.formatting import p_value as _p

_ROWS = ("auc", "accuracy", "sensitivity", "specificity", "precision", "f1", "balanced_accuracy",
         "sens_at_spec85", "sens_at_spec95", "pauc_spec90", "average_precision", "brier")


def run_text(label: str, result: dict) -> str:
    from glaucoma_core.evaluation.metrics import METRIC_LABELS

    metrics, intervals = result["metrics"], result["intervals"]
    lines = [f"{label} [{result['reference']}]: {result['split']} split, {metrics['n']} images ({metrics['n_glaucoma']} glaucoma)",
             _threshold_line(result["threshold"]), "",
             f"{'metric':44s} {'value':>7s}   95% interval"]
    for name in _ROWS:
        iv = intervals.get(name, {})
        how = f"  ({iv.get('method')})" if iv and not math.isnan(iv.get("low", math.nan)) else ""
        note = f"  [{metrics['undefined'].get(name) or iv.get('note')}]" if name in metrics["undefined"] else ""
        lines.append(f"{METRIC_LABELS[name]:44s} {_num(metrics[name]):>7s}   "
                     f"{_num(iv.get('low'))}-{_num(iv.get('high'))}{how}{note}")
    lines += ["", f"confusion: TP {metrics['tp']}  FP {metrics['fp']}  TN {metrics['tn']}  FN {metrics['fn']}"
              f"  (FN rate {_num(metrics['fn_rate'])})",
              f"calibration: expected calibration error {_num(result['calibration']['ece'])} (10 bins)",
              "", result["report"]]
    return "\n".join(lines)



def _threshold_line(choice: dict) -> str:
    if choice["method"] == "fixed":
        return f"threshold: P(glaucoma) >= {choice['threshold']:.4g} (fixed)"
    target = "" if choice["target"] is None or math.isnan(choice["target"]) else f" {choice['target']:g}"
    return (f"threshold: P(glaucoma) >= {choice['threshold']:.4g} ({choice['method']}{target}, chosen on "
            f"{choice['n_valid']} validation images: sensitivity {_num(choice['valid_sensitivity'])}, "
            f"specificity {_num(choice['valid_specificity'])})")



def experiment_text(label: str, result: dict) -> str:
    table = result["per_fold"]
    pooled, intervals = result["pooled"], result["pooled_intervals"]
    lines = [f"{label} [{result['reference']}]: {result['split']} split, threshold: {result['threshold_rule_text']}",
             ""]
    columns = ["fold", "run_id", "n", "threshold", "auc", "accuracy", "sensitivity", "specificity", "f1",
               "tp", "fp", "tn", "fn", "fn_rate"]
    columns = [c for c in columns if c in table.columns]
    lines.append("  ".join(f"{c:>11s}" for c in columns))
    counts = {"fold", "run_id", "n", "tp", "fp", "tn", "fn"}
    for record in table.to_dict(orient="records"):
        lines.append("  ".join(f"{_num(int(record[c]) if c in counts else record[c]):>11s}" for c in columns))
    lines += ["", "over folds: mean +- sd  [95% t-interval]"]
    for _, row in result["summary"].iterrows():
        lines.append(f"  {row['metric']:18s} {_num(row['mean'])} +- {_num(row['sd'])}  "
                     f"[{_num(row['ci_low'])}, {_num(row['ci_high'])}]  ({row['n_folds']} folds)")
    lines += ["", f"pooled out-of-fold: {pooled['n']} images ({pooled['n_glaucoma']} glaucoma), "
                  f"TP {pooled['tp']}  FP {pooled['fp']}  TN {pooled['tn']}  FN {pooled['fn']}"]
    for name in _ROWS:
        iv = intervals.get(name, {})
        lines.append(f"  {name:18s} {_num(pooled[name])}  [{_num(iv.get('low'))}, {_num(iv.get('high'))}]"
                     f"{'  ' + pooled['undefined'][name] if name in pooled['undefined'] else ''}")
    lines.append(f"  {'ECE (10 bins)':18s} {_num(result['pooled_calibration']['ece'])}")
    if result.get("images_in_several_folds"):
        lines.append(f"warning: {result['images_in_several_folds']} images are in more than one fold's test set")
    if result.get("runs_without_predictions"):
        lines.append("not included (no predictions yet): " + ", ".join(
            f"run {u['run_id']} fold {u['fold']} ({u['status']})" for u in result["runs_without_predictions"]))
    return "\n".join(lines)



def compare_text(result: dict) -> str:
    lines = [f"A = {result['a']} [{result['a_reference']}]", f"B = {result['b']} [{result['b_reference']}]",
             f"threshold: {result['threshold_rule_text']}",
             f"{result['split']} split: {result['n_images']} shared images"
             f" ({result['n_only_a']} only in A, {result['n_only_b']} only in B)", "",
             f"{'metric':18s} {'A':>8s} {'B':>8s} {'A - B':>8s}"]
    for row in result["metrics"].to_dict(orient="records"):
        cells = [int(row[c]) if row["metric"] == "fn" else row[c] for c in ("a", "b", "difference")]
        lines.append(f"{row['metric']:18s} " + " ".join(f"{_num(c):>8s}" for c in cells))
    d, mc = result["delong"], result["mcnemar"]
    lines += ["", f"DeLong (AUC A - B = {_num(d['difference'])}, 95% CI {_num(d['ci_low'])} to {_num(d['ci_high'])}): "
                  f"z = {_num(d['z'], 3)}, p = {_p(d['p_value'])}{'  ' + d['note'] if d['note'] else ''}",
              f"McNemar exact (A right/B wrong {mc['a_right_b_wrong']}, A wrong/B right {mc['a_wrong_b_right']}): "
              f"p = {_p(mc['p_value'])}"]
    if result["kind"] == "experiment":
        table = result["per_fold"]
        lines += ["", "per fold (A - B):",
                  "  fold     n   auc_diff   acc_diff  sens_diff  spec_diff     fn_a  fn_b   DeLong p  McNemar p"]
        for r in table.to_dict(orient="records"):
            lines.append(f"  {int(r['fold']):4d} {int(r['n']):5d} {_num(r['auc_diff']):>10s} {_num(r['accuracy_diff']):>10s}"
                         f" {_num(r['sensitivity_diff']):>10s} {_num(r['specificity_diff']):>10s} {int(r['fn_a']):8d}"
                         f" {int(r['fn_b']):5d} {_p(r['delong_p']):>10s} {_p(r['mcnemar_p']):>10s}")
        lines += ["", f"over {len(table)} folds (Nadeau-Bengio: n_train {result['n_train']:.0f}, "
                      f"n_test {result['n_test']:.0f}):"]
        for name, tests in result["fold_tests"].items():
            nb, w = tests["nadeau_bengio"], tests["wilcoxon"]
            lines.append(f"  {name:12s} mean diff {_num(tests['mean_difference'])}  "
                         f"Nadeau-Bengio p = {_p(nb['p_value'])}  Wilcoxon p = {_p(w['p_value'])}")
    return "\n".join(lines)


def cv_text(report: dict) -> str:
    """An experiment's progress, then its figures as ``evaluate`` prints them."""
    lines = [f"experiment {report['experiment_id']} ({report['name']}) [{report['experiment']}]: {report['status']}"]
    for fold in report["folds"]:
        why = f": {fold['error']}" if fold.get("error") else ""
        run = f"run {fold['run_id']}" if fold["run_id"] is not None else "no run"
        lines.append(f"  fold {fold['fold']}: {run}, {fold['status']}, epochs {fold['epochs_done']} of "
                     f"{fold['epochs_planned']}{why}")
    if report["results"] is None:
        lines.append(f"no figures: {report['results_problem'] or 'no fold has finished yet'}")
    else:
        lines += ["", experiment_text(report["results"]["label"], report["results"])]
    return "\n".join(lines)
