"""CLI: evaluate, compare, gradcam.

Targets: a bare number or ``run:N`` is a run id; ``exp:N`` / ``experiment:N`` or an
experiment's name is an experiment. Thresholds are chosen on each run's (each fold's)
validation predictions and applied to the evaluated split (test by default); 0.5 when no
rule is given. ``--json`` prints one JSON document on stdout (NaN as null).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

from glaucoma_core.commands.common import open_store
from glaucoma_core.errors import UserError

DEFAULT_RESAMPLES = 1000


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "evaluate", help="metrics with 95%% intervals of a run, or of an experiment per fold and pooled",
        description="Metrics of stored predictions. TARGET: a run id (5 or run:5), or an experiment "
                    "(exp:3, experiment:3, or its name). The threshold is chosen on validation "
                    "predictions (per fold) and applied to --split.")
    p.add_argument("target", metavar="RUN|EXPERIMENT", help="run id (5, run:5) or experiment (exp:3 or name)")
    _add_threshold_options(p)
    p.add_argument("--split", choices=("test", "valid"), default="test", help="split to evaluate (default test)")
    p.add_argument("--bootstrap", type=int, default=DEFAULT_RESAMPLES, metavar="N",
                   help=f"bootstrap resamples for the intervals (default {DEFAULT_RESAMPLES})")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_evaluate)

    p = subparsers.add_parser(
        "compare", help="two runs or two experiments on the same images: metrics side by side, paired tests",
        description="Compare A and B (both runs or both experiments) on the images they share: DeLong "
                    "(AUC) and McNemar (at each side's threshold) p-values; for experiments also the "
                    "per-fold differences with the Nadeau-Bengio and Wilcoxon tests.")
    p.add_argument("a", metavar="A", help="run id or experiment (exp:N or name)")
    p.add_argument("b", metavar="B", help="run id or experiment (exp:N or name)")
    _add_threshold_options(p)
    p.add_argument("--split", choices=("test", "valid"), default="test", help="split compared (default test)")
    p.add_argument("--n-train", type=float, help="training images per fold for Nadeau-Bengio (default: estimated)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_compare)

    p = subparsers.add_parser("gradcam", help="Grad-CAM heat-map overlay of an image with a run's model")
    p.add_argument("--run", type=int, required=True, help="run id whose model to use")
    p.add_argument("image", metavar="IMAGE", help="fundus image file")
    p.add_argument("--out", required=True, help="output PNG file")
    p.add_argument("--alpha", type=float, default=0.4, help="weight of the heat map colours (default 0.4)")
    p.add_argument("--target", choices=("glaucoma_logit", "logit_difference"), default="glaucoma_logit",
                   help="what the map explains (default: the glaucoma logit)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_gradcam)


def _add_threshold_options(p) -> None:
    group = p.add_mutually_exclusive_group()
    group.add_argument("--threshold", type=float, help="fixed threshold on P(glaucoma) (default 0.5)")
    group.add_argument("--target-sensitivity", type=float, metavar="S",
                       help="highest threshold reaching sensitivity S on validation")
    group.add_argument("--target-specificity", type=float, metavar="S",
                       help="lowest threshold reaching specificity S on validation")
    group.add_argument("--youden", action="store_true", help="threshold maximising Youden's J on validation")
    group.add_argument("--max-f1", action="store_true", help="threshold maximising F1 on validation")


def threshold_rule(args) -> tuple[str, float | None]:
    """(method, target) from the threshold options."""
    if getattr(args, "target_sensitivity", None) is not None:
        return "target_sensitivity", _fraction(args.target_sensitivity, "--target-sensitivity")
    if getattr(args, "target_specificity", None) is not None:
        return "target_specificity", _fraction(args.target_specificity, "--target-specificity")
    if getattr(args, "youden", False):
        return "youden", None
    if getattr(args, "max_f1", False):
        return "max_f1", None
    if getattr(args, "threshold", None) is not None:
        return "fixed", _fraction(args.threshold, "--threshold", allow_zero=True)
    return "fixed", 0.5


def _fraction(value: float, option: str, allow_zero: bool = False) -> float:
    if not (0.0 <= value <= 1.0) or (value == 0.0 and not allow_zero) or math.isnan(value):
        raise UserError(f"{option} must be between 0 and 1, got {value}")
    return float(value)


# ---------------------------------------------------------------- targets


def parse_target(text: str) -> tuple[str, int | str]:
    """'5' / 'run:5' -> ('run', 5); 'exp:3' / 'experiment:3' -> ('experiment', 3); other text ->
    ('experiment', name)."""
    raw = str(text).strip()
    kind, sep, rest = raw.partition(":")
    if sep and kind.lower() in ("run", "r"):
        if not rest.strip().isdigit():
            raise UserError(f"{raw!r}: a run is given by its number, e.g. run:5")
        return "run", int(rest)
    if sep and kind.lower() in ("exp", "experiment", "e"):
        rest = rest.strip()
        if not rest:
            raise UserError(f"{raw!r}: give the experiment's number or name, e.g. exp:3")
        return "experiment", int(rest) if rest.isdigit() else rest
    if raw.isdigit():
        return "run", int(raw)
    if not raw:
        raise UserError("empty target: give a run id or an experiment (exp:N or name)")
    return "experiment", raw


def load_target_predictions(store, text: str) -> dict:
    """Resolve a target and fetch its predictions: dict kind, label (for printing), info,
    predictions (DataFrame), unfinished (runs of an experiment without predictions)."""
    from glaucoma_core.store import RunNotFound

    kind, ident = parse_target(text)
    try:
        if kind == "run":
            run = store.run(ident)
            preds = store.predictions(ident)
            if preds.empty:
                raise UserError(f"run {ident} ({run['status']}) has no stored predictions")
            if preds["fold"].isna().all():
                preds["fold"] = 0
            return {"kind": "run", "label": f"run {ident} (fold {_text(run['fold'])})", "info": run,
                    "predictions": preds, "unfinished": []}
        experiment = store.experiment(ident)
    except RunNotFound as exc:
        raise UserError(str(exc)) from None
    runs = store.runs(experiment["id"])
    if runs.empty:
        raise UserError(f"experiment {experiment['id']} ({experiment['name']}) has no runs")
    preds = store.predictions([int(r) for r in runs["id"]])
    with_preds = set(preds["run_id"].unique()) if not preds.empty else set()
    unfinished = [{"run_id": int(r.id), "fold": _plain(r.fold), "status": r.status}
                  for r in runs.itertuples() if int(r.id) not in with_preds]
    if preds.empty:
        states = ", ".join(f"run {u['run_id']} {u['status']}" for u in unfinished)
        raise UserError(f"experiment {experiment['id']} ({experiment['name']}) has no stored predictions yet ({states})")
    return {"kind": "experiment", "label": f"experiment {experiment['id']} ({experiment['name']})",
            "info": {k: experiment[k] for k in ("id", "name", "folds", "data_root")},
            "predictions": preds, "unfinished": unfinished}


# ---------------------------------------------------------------- evaluate


def cmd_evaluate(args) -> int:
    from glaucoma_core.evaluation.evaluate import evaluate_experiment_predictions, evaluate_run_predictions

    if args.bootstrap < 1:
        raise UserError(f"--bootstrap must be at least 1, got {args.bootstrap}")
    method, target = threshold_rule(args)
    if args.split == "valid" and method != "fixed":
        raise UserError("a threshold chosen on validation predictions cannot be evaluated on them; use --split test")
    store = open_store(args)
    loaded = load_target_predictions(store, args.target)
    options = {"method": method, "target": target, "split": args.split, "n_resamples": args.bootstrap,
               "seed": args.seed}
    try:
        if loaded["kind"] == "run":
            result = evaluate_run_predictions(loaded["predictions"], **options)
        else:
            result = evaluate_experiment_predictions(loaded["predictions"], **options)
    except ValueError as exc:
        raise UserError(f"{loaded['label']}: {exc}") from None
    result = {"kind": loaded["kind"], "target": loaded["info"] if loaded["kind"] == "experiment" else
              {"run": loaded["info"]["id"], "fold": loaded["info"]["fold"], "experiment_id": loaded["info"]["experiment_id"]},
              "threshold_rule": {"method": method, "target": target}, "runs_without_predictions": loaded["unfinished"],
              **result}
    if args.json:
        print(json.dumps(jsonable(result), indent=2))
    elif loaded["kind"] == "run":
        print(_run_text(loaded["label"], result))
    else:
        print(_experiment_text(loaded["label"], result))
    return 0


_ROWS = ("auc", "accuracy", "sensitivity", "specificity", "precision", "f1", "balanced_accuracy",
         "sens_at_spec85", "sens_at_spec95", "pauc_spec90", "average_precision", "brier")


def _run_text(label: str, result: dict) -> str:
    from glaucoma_core.evaluation.metrics import METRIC_LABELS

    metrics, intervals = result["metrics"], result["intervals"]
    lines = [f"{label}: {result['split']} split, {metrics['n']} images ({metrics['n_glaucoma']} glaucoma)",
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


def _experiment_text(label: str, result: dict) -> str:
    table = result["per_fold"]
    pooled, intervals = result["pooled"], result["pooled_intervals"]
    rule = result["threshold_rule"]
    rule_text = "fixed 0.5" if rule["method"] == "fixed" and rule["target"] == 0.5 else \
        f"{rule['method']} {'' if rule['target'] is None else rule['target']}".strip()
    lines = [f"{label}: {result['split']} split, threshold rule: {rule_text} (chosen per fold on its validation images)",
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


# ---------------------------------------------------------------- compare


def cmd_compare(args) -> int:
    from glaucoma_core.evaluation.comparison import compare_experiments, compare_runs

    method, target = threshold_rule(args)
    if args.split == "valid" and method != "fixed":
        raise UserError("a threshold chosen on validation predictions cannot be evaluated on them; use --split test")
    store = open_store(args)
    a, b = load_target_predictions(store, args.a), load_target_predictions(store, args.b)
    if a["kind"] != b["kind"]:
        raise UserError(f"compare two runs or two experiments, not {a['label']} with {b['label']}")
    try:
        if a["kind"] == "run":
            result = compare_runs(a["predictions"], b["predictions"], method=method, target=target, split=args.split)
        else:
            result = compare_experiments(a["predictions"], b["predictions"], method=method, target=target,
                                         split=args.split, n_train=args.n_train)
    except ValueError as exc:
        raise UserError(f"{a['label']} vs {b['label']}: {exc}") from None
    result = {"kind": a["kind"], "a": a["label"], "b": b["label"], "threshold_rule": {"method": method, "target": target},
              **result}
    if args.json:
        print(json.dumps(jsonable(result), indent=2))
    else:
        print(_compare_text(result))
    return 0


def _compare_text(result: dict) -> str:
    lines = [f"A = {result['a']}", f"B = {result['b']}",
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


# ---------------------------------------------------------------- gradcam


def cmd_gradcam(args) -> int:
    import numpy as np
    from PIL import Image

    from glaucoma_core.data.images import ImageProblem, load_rgb
    from glaucoma_core.evaluation import gradcam
    from glaucoma_core.store import ModelFileProblem, RunNotFound

    out = Path(args.out).expanduser()
    if out.suffix.lower() != ".png":
        raise UserError(f"{out}: the output must be a .png file")
    if not out.parent.is_dir():
        raise UserError(f"{out.parent}: folder does not exist")
    if not 0.0 <= args.alpha <= 1.0:
        raise UserError(f"--alpha must be between 0 and 1, got {args.alpha}")
    try:
        image = np.asarray(load_rgb(args.image), dtype=np.uint8)
    except ImageProblem as exc:
        raise UserError(f"{args.image}: {getattr(exc, 'reason', exc)}") from None
    store = open_store(args)
    try:
        store.run(args.run)
        model = store.load_model(args.run)
    except (RunNotFound, ModelFileProblem) as exc:
        raise UserError(f"run {args.run}: {exc}") from None
    try:
        overlay = gradcam.gradcam_overlay(model, image, alpha=args.alpha, target=args.target)
        batch = gradcam._as_batch(image, gradcam._input_size(model))
    except ValueError as exc:
        raise UserError(f"run {args.run}: {exc}") from None
    probability = float(np.asarray(model(batch, training=False))[0, 1])
    _write_png_atomic(overlay, out, Image)
    result = {"run": args.run, "image": str(args.image), "out": str(out), "probability": probability,
              "layer": gradcam.find_last_conv_layer(model), "target": args.target}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"wrote {out} (run {args.run}, P(glaucoma) = {probability:.3f}, layer {result['layer']})")
    return 0


def _write_png_atomic(array, out: Path, image_module) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".gradcam-", suffix=".png", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            image_module.fromarray(array).save(handle, format="PNG")
        os.replace(tmp, out)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise UserError(f"{out}: cannot write ({exc.strerror or exc})") from None


# ---------------------------------------------------------------- formatting


def _num(value, digits: int = 3) -> str:
    """A number for a table: integers as they are, other numbers with ``digits`` decimals."""
    if value is None:
        return "n/a"
    if isinstance(value, (bool, str)):
        return str(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(number):
        return "n/a"
    if isinstance(value, int) or (hasattr(value, "dtype") and getattr(value.dtype, "kind", "") in "iu"):
        return str(int(value))
    return f"{number:.{digits}f}"


def _p(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return "<0.0001" if value < 1e-4 else f"{value:.4f}"


def _text(value) -> str:
    return "-" if value is None or value != value else str(value)


def _plain(value):
    try:
        return None if value is None or value != value else int(value)
    except TypeError:
        return None


def jsonable(value):
    """JSON-ready copy: DataFrames -> list of records, NaN -> None, numpy scalars -> Python."""
    import numpy as np
    import pandas as pd

    if isinstance(value, pd.DataFrame):
        return [jsonable(r) for r in value.to_dict(orient="records")]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)
