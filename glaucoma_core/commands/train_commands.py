"""CLI: train, cv, runs, presets, predict (``evaluate`` and ``compare`` live in eval_commands).

Each command parses, calls the workbench and prints a readable summary (or JSON with
``--json``, progress then going to stderr so that stdout stays valid JSON). Runs and
experiments are printed as references (``run:5``, ``exp:3``) that every other command accepts.
Exit codes: 0 done, 1 the run (or a fold, or an image) failed, 2 bad input, 3 cancelled.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from glaucoma_core.commands.common import (
    add_threshold_options,
    echo_for,
    positive_int,
    threshold_rule,
    workbench,
)
from glaucoma_core.commands.formatting import cell, jsonable, text
from glaucoma_core.commands.reports import cv_text
from glaucoma_core.errors import UserError

EXIT_FAILED, EXIT_CANCELLED = 1, 3


def register(subparsers) -> None:
    """Add train, cv, runs, presets and predict to the CLI."""
    p = subparsers.add_parser("train", help="train one fold and record it in the run store")
    _add_data_and_config(p)
    p.add_argument("--fold", type=positive_int, help="fold number to train (required for a fold layout, unless --run-id)")
    p.add_argument("--run-id", type=positive_int, help="train this queued run of the store (its config, fold, data)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_train)

    p = subparsers.add_parser(
        "cv", help="cross-validate a config over the folds of a dataset",
        description="Train a configuration on every fold (or --folds), then print the experiment's test "
                    "figures exactly as `evaluate exp:N` and the Cross-validation page show them, under "
                    "the threshold rule given (default: fixed 0.5).")
    _add_data_and_config(p)
    p.add_argument("--folds", help="comma-separated fold numbers (default: all)")
    p.add_argument("--name", help="experiment name")
    p.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="local: folds in turn here; ray: folds as Ray tasks")
    p.add_argument("--address", help="Ray cluster address (ray.init(address=...)); default: a local Ray")
    p.add_argument("--resume", metavar="EXPERIMENT",
                   help="continue EXPERIMENT (exp:N or its name): train only the folds not finished")
    add_threshold_options(p)
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_cv)

    p = subparsers.add_parser("runs", help="list the runs of the store")
    p.add_argument("--experiment", metavar="EXPERIMENT", help="only this experiment's runs (exp:N, N or its name)")
    p.add_argument("--json", action="store_true", help="print the runs as JSON")
    p.set_defaults(func=cmd_runs)

    p = subparsers.add_parser("presets", help="list the training presets")
    p.add_argument("--json", action="store_true", help="print the presets (full configs) as JSON")
    p.set_defaults(func=cmd_presets)

    p = subparsers.add_parser("predict", help="P(glaucoma) of images with a stored run's model")
    p.add_argument("--run", required=True, metavar="RUN", help="run whose model to use (5 or run:5)")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files")
    p.add_argument("--threshold", type=float, default=0.5, help="glaucoma when P >= threshold (default 0.5)")
    p.add_argument("--json", action="store_true", help="print the predictions as JSON")
    p.set_defaults(func=cmd_predict)


def _add_data_and_config(p) -> None:
    p.add_argument("--data", help="dataset folder (default: the demo dataset, generated on first use)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--preset", help="a preset name (see the presets command)")
    group.add_argument("--config", help="a JSON config file")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config setting (repeatable), e.g. --set epochs=3")


# ---------------------------------------------------------------- train


def cmd_train(args) -> int:
    bench = workbench(args)
    echo = echo_for(args)
    if args.run_id is not None:
        if args.preset or args.config or args.set or args.fold is not None:
            raise UserError("--run-id trains a queued run with its own config and fold; "
                            "drop --preset/--config/--set/--fold")
        run_id, dataset = args.run_id, None
    else:
        config = _config_from_args(args)
        dataset = bench.dataset(args.data)
        if args.fold is None and dataset.folds:
            raise UserError(f"{dataset.root}: give --fold (folds: {', '.join(map(str, dataset.folds))})")
        run_id = bench.record_run(config, dataset, args.fold)
        echo(f"run {run_id}: training fold {args.fold} of {dataset.root} ({config.backbone})")
    outcome = bench.train(run_id, dataset=dataset, echo=echo)
    outcome = {"run": f"run:{outcome['run_id']}", **outcome}
    if args.json:
        print(json.dumps(jsonable(outcome), indent=2))
    else:
        print(_outcome_text(outcome))
    return _exit_code([outcome["status"]])


def _outcome_text(outcome: dict) -> str:
    lines = [f"run {outcome['run_id']} [{outcome['run']}] (fold {cell(outcome['fold'])}): {outcome['status']}"
             + (f": {outcome['error']}" if outcome.get("error") else "")]
    for split, values in outcome.get("metrics", {}).items():
        lines.append(f"  {split:>5}: " + _metrics_line(values))
    if outcome["status"] == "finished":
        lines.append(f"  (threshold 0.5; `evaluate {outcome['run']} --target-sensitivity 0.9` chooses one on validation)")
    return "\n".join(lines)


# ---------------------------------------------------------------- cv


def cmd_cv(args) -> int:
    bench = workbench(args)
    echo = echo_for(args)
    rule = threshold_rule(args)  # checked before anything trains
    dataset = None
    if args.resume:
        if args.preset or args.config or args.set or args.folds:
            raise UserError("--resume continues an experiment with its own config and folds; "
                            "drop --preset/--config/--set/--folds")
        experiment_id = int(bench.experiment(args.resume)["id"])
    else:
        config = _config_from_args(args)
        dataset = bench.dataset(args.data)
        experiment_id = bench.create_experiment(config, dataset, _parse_folds(args.folds), args.name)
        folds = bench.store.experiment(experiment_id)["folds"]
        echo(f"experiment {experiment_id} [exp:{experiment_id}]: {config.backbone} over folds "
             f"{', '.join(map(str, folds))} of {dataset.root}")
    bench.cross_validate(experiment_id, executor=args.executor, address=args.address, dataset=dataset, echo=echo)
    report = bench.cv_report(f"exp:{experiment_id}", rule)
    if args.json:
        print(json.dumps(jsonable(report), indent=2))
    else:
        print(cv_text(report))
    return _exit_code(fold["status"] for fold in report["folds"])


def _parse_folds(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        folds = [int(part) for part in text.replace(" ", "").split(",") if part]
    except ValueError:
        raise UserError(f"--folds must be comma-separated numbers like 1,2,3, not {text!r}") from None
    if not folds:
        raise UserError(f"--folds must name at least one fold, not {text!r}")
    return folds


# ---------------------------------------------------------------- runs, presets


def cmd_runs(args) -> int:
    bench = workbench(args)
    for message in bench.store.warnings:  # e.g. run folders the store has no row for
        print(f"warning: {message}", file=sys.stderr)
    bench.store.reap_dead_runs()  # a listing is where a dead job's run is noticed and recorded
    experiment_id = int(bench.experiment(args.experiment)["id"]) if args.experiment else None
    frame = bench.store.runs(experiment_id)
    if args.json:
        records = frame.to_dict(orient="records")
        for record in records:
            record["run"] = f"run:{record['id']}"
            record["experiment"] = None if text(record.get("experiment_id")) == "" else f"exp:{int(record['experiment_id'])}"
        print(json.dumps(jsonable(records), indent=2))
        return 0
    if frame.empty:
        print(f"no runs in {bench.store.path}")
        return 0
    print(f"{'run':>5} {'exp':>4} {'fold':>4} {'status':<9} {'backbone':<14} {'epochs':>6} "
          f"{'valid AUC':>9} {'test AUC':>8}  error")
    for row in frame.itertuples():
        print(f"{row.id:>5} {cell(row.experiment_id):>4} {cell(row.fold):>4} {row.status:<9} "
              f"{str(row.backbone or '-'):<14} {cell(row.epochs_done):>6} {_fmt(row.valid_auc):>9} "
              f"{_fmt(row.test_auc):>8}  {text(row.error)}")
    return 0


def cmd_presets(args) -> int:
    from glaucoma_core.config import PRESETS, preset_descriptions

    if args.json:
        print(json.dumps({name: config.to_dict() for name, config in PRESETS.items()}, indent=2))
        return 0
    for name, description in preset_descriptions().items():
        print(f"{name:<18} {description}")
    return 0


# ---------------------------------------------------------------- predict


def cmd_predict(args) -> int:
    from glaucoma_core.workbench import parse_reference

    bench = workbench(args)
    ref = parse_reference(args.run)
    if not ref.is_run:
        raise UserError(f"--run takes a run (5 or run:5), not {args.run!r}")
    if math.isnan(args.threshold) or not 0.0 <= args.threshold <= 1.0:
        raise UserError(f"--threshold must be between 0 and 1, got {args.threshold}")
    results = bench.predict(int(ref.key), args.images, threshold=args.threshold)
    if args.json:
        print(json.dumps({"run": str(ref), "threshold": args.threshold, "images": results}, indent=2))
    else:
        for entry in results:
            if entry["error"]:
                print(f"{entry['path']}: cannot read ({entry['error']})")
            else:
                print(f"{entry['path']}: P(glaucoma) = {entry['probability']:.3f} -> {entry['prediction']}")
    return EXIT_FAILED if any(entry["error"] for entry in results) else 0


# ---------------------------------------------------------------- helpers


def _config_from_args(args):
    from glaucoma_core.config import TrainConfig, get_preset

    if not args.preset and not args.config:
        raise UserError("give --preset NAME or --config FILE (see the presets command)")
    overrides = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--set needs KEY=VALUE, not {item!r}")
        overrides[key.strip()] = value
    if args.config:
        if not Path(args.config).is_file():
            raise UserError(f"{args.config}: config file not found")
        config = TrainConfig.from_json(Path(args.config))
    else:
        config = get_preset(args.preset)
    return config.with_overrides(overrides) if overrides else config


def _exit_code(statuses) -> int:
    statuses = list(statuses)
    if any(s == "failed" for s in statuses):
        return EXIT_FAILED
    if any(s in ("cancelled", "queued", "none") for s in statuses):
        return EXIT_CANCELLED
    return 0


def _metrics_line(values: dict) -> str:
    names = ("auc", "accuracy", "sensitivity", "specificity", "f1")
    line = "  ".join(f"{name} {_fmt(values.get(name))}" for name in names)
    counts = " ".join(f"{name} {values[name]}" for name in ("tp", "fp", "tn", "fn") if name in values)
    return f"{line}  ({counts})" if counts else line


def _fmt(value) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "-"
    return "-" if math.isnan(number) else f"{number:.3f}"
