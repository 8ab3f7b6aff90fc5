"""CLI: train, cv, runs, presets, predict (``evaluate`` lives in eval_commands).

Each command parses, calls the core and prints a readable summary (or JSON with ``--json``,
progress then going to stderr so that stdout stays valid JSON). Exit codes: 0 done, 1 the run
(or a fold, or an image) failed, 2 bad input, 3 cancelled.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from glaucoma_core.commands.common import open_store
from glaucoma_core.errors import UserError

EXIT_FAILED, EXIT_CANCELLED = 1, 3


def register(subparsers) -> None:
    """Add train, cv, runs, presets and predict to the CLI."""
    p = subparsers.add_parser("train", help="train one fold and record it in the run store")
    _add_data_and_config(p)
    p.add_argument("--fold", type=int, help="fold number to train (required for a fold layout, unless --run-id)")
    p.add_argument("--run-id", type=int, help="train this queued run of the store (its config, fold, data)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_train)

    p = subparsers.add_parser("cv", help="cross-validate a config over the folds of a dataset")
    _add_data_and_config(p)
    p.add_argument("--folds", help="comma-separated fold numbers (default: all)")
    p.add_argument("--name", help="experiment name")
    p.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="local: folds in turn here; ray: folds as Ray tasks")
    p.add_argument("--address", help="Ray cluster address (ray.init(address=...)); default: a local Ray")
    p.add_argument("--resume", metavar="EXPERIMENT",
                   help="continue experiment EXPERIMENT (id or name): train only the folds not finished")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_cv)

    p = subparsers.add_parser("runs", help="list the runs of the store")
    p.add_argument("--experiment", type=int, help="only this experiment's runs")
    p.add_argument("--json", action="store_true", help="print the runs as JSON")
    p.set_defaults(func=cmd_runs)

    p = subparsers.add_parser("presets", help="list the training presets")
    p.add_argument("--json", action="store_true", help="print the presets (full configs) as JSON")
    p.set_defaults(func=cmd_presets)

    p = subparsers.add_parser("predict", help="P(glaucoma) of images with a stored run's model")
    p.add_argument("--run", type=int, required=True, help="run id whose model to use")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files")
    p.add_argument("--threshold", type=float, default=0.5, help="glaucoma when P >= threshold (default 0.5)")
    p.add_argument("--json", action="store_true", help="print the predictions as JSON")
    p.set_defaults(func=cmd_predict)

    # `evaluate` is registered by eval_commands (runs and experiments, thresholds on validation).


def _add_data_and_config(p) -> None:
    p.add_argument("--data", help="dataset folder (default: the demo dataset, generated on first use)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--preset", help="a preset name (see the presets command)")
    group.add_argument("--config", help="a JSON config file")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config setting (repeatable), e.g. --set epochs=3")


# ---------------------------------------------------------------- train


def cmd_train(args) -> int:
    from glaucoma_core.training.fold_run import execute_run

    store = open_store(args)
    echo = _echo(args)
    if args.run_id is not None:
        run_id = args.run_id
        run = _get_run(store, run_id)
        if run["status"] != "queued":
            raise UserError(f"run {run_id} is {run['status']}, not queued; only a queued run can be trained")
        index = None
    else:
        config = _config_from_args(args)
        data_root, index = _scan(args, store)
        _check_fold(index, data_root, args.fold)
        _validate(config, index, args.fold)
        run_id = store.create_run(None, args.fold, config.to_dict(), str(data_root))
        echo(f"run {run_id}: training fold {args.fold} of {data_root} ({config.backbone})")
    outcome = execute_run(store, run_id, index=index, echo=echo)
    if args.json:
        print(json.dumps(_jsonable(outcome), indent=2))
    else:
        print(_outcome_text(outcome))
    return _exit_code([outcome["status"]])


def _outcome_text(outcome: dict) -> str:
    lines = [f"run {outcome['run_id']} (fold {outcome['fold']}): {outcome['status']}"
             + (f": {outcome['error']}" if outcome.get("error") else "")]
    for split, values in outcome.get("metrics", {}).items():
        lines.append(f"  {split:>5}: " + _metrics_line(values))
    return "\n".join(lines)


# ---------------------------------------------------------------- cv


def cmd_cv(args) -> int:
    from glaucoma_core.store import RunNotFound
    from glaucoma_core.training.cross_validation import (
        CrossValidationError,
        choose_folds,
        create_cv_experiment,
        format_report,
        run_cv,
    )
    from glaucoma_core.training.executors import ExecutorUnavailable, make_executor

    store = open_store(args)
    echo = _echo(args)
    index = None
    if args.resume:
        if args.preset or args.config or args.set or args.folds:
            raise UserError("--resume continues an experiment with its own config and folds; "
                            "drop --preset/--config/--set/--folds")
        try:
            experiment_id = store.experiment(args.resume)["id"]
        except RunNotFound as exc:
            raise UserError(str(exc)) from None
    else:
        config = _config_from_args(args)
        data_root, index = _scan(args, store)
        try:
            folds = choose_folds(index, data_root, _parse_folds(args.folds))
            _validate(config, index, folds[0])  # before anything is recorded
            experiment_id = create_cv_experiment(store, data_root, config, folds=folds, name=args.name, index=index)
        except CrossValidationError as exc:
            raise UserError(str(exc)) from None
        echo(f"experiment {experiment_id}: {config.backbone} over folds "
             f"{', '.join(map(str, store.experiment(experiment_id)['folds']))} of {data_root}")
    try:
        executor = make_executor(args.executor, args.address)
        report = run_cv(store, experiment_id, executor=executor, index=index, echo=echo)
    except ExecutorUnavailable as exc:
        raise UserError(str(exc)) from None
    if args.json:
        print(json.dumps(_jsonable(report), indent=2))
    else:
        print(format_report(report))
    statuses = [fold["status"] for fold in report["folds"]] + [m["status"] for m in report["missing_folds"]]
    return _exit_code(statuses)


def _parse_folds(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        return [int(part) for part in text.replace(" ", "").split(",") if part]
    except ValueError:
        raise UserError(f"--folds must be comma-separated numbers like 1,2,3, not {text!r}") from None


# ---------------------------------------------------------------- runs, presets


def cmd_runs(args) -> int:
    store = open_store(args)
    store.reap_dead_runs()
    frame = store.runs(args.experiment)
    if args.json:
        print(json.dumps(_jsonable(frame.to_dict(orient="records")), indent=2))
        return 0
    if frame.empty:
        print(f"no runs in {store.path}")
        return 0
    print(f"{'run':>5} {'exp':>4} {'fold':>4} {'status':<9} {'backbone':<14} {'epochs':>6} "
          f"{'valid AUC':>9} {'test AUC':>8}  error")
    for row in frame.itertuples():
        print(f"{row.id:>5} {_cell(row.experiment_id):>4} {_cell(row.fold):>4} {row.status:<9} "
              f"{str(row.backbone or '-'):<14} {_cell(row.epochs_done):>6} {_fmt(row.valid_auc):>9} "
              f"{_fmt(row.test_auc):>8}  {row.error or ''}")
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
    import numpy as np

    from glaucoma_core.data.images import ImageProblem, load_rgb_array
    from glaucoma_core.labels import CLASS_NAMES
    from glaucoma_core.training.predict import model_input_size, predict_probabilities

    model = _load_model(open_store(args), args.run)
    size = model_input_size(model)
    results, arrays, where = [], [], []
    for image in args.images:
        entry = {"path": image, "probability": None, "prediction": None, "error": None}
        try:
            arrays.append(load_rgb_array(image, size=size))
            where.append(len(results))
        except ImageProblem as exc:
            entry["error"] = exc.reason
        except OSError as exc:
            entry["error"] = exc.strerror or str(exc)
        results.append(entry)
    if arrays:
        probabilities = predict_probabilities(model, np.stack(arrays))
        for position, probability in zip(where, probabilities, strict=True):
            results[position]["probability"] = float(probability)
            results[position]["prediction"] = CLASS_NAMES[int(probability >= args.threshold)]
    if args.json:
        print(json.dumps({"run": args.run, "threshold": args.threshold, "images": results}, indent=2))
    else:
        for entry in results:
            if entry["error"]:
                print(f"{entry['path']}: cannot read ({entry['error']})")
            else:
                print(f"{entry['path']}: P(glaucoma) = {entry['probability']:.3f} -> {entry['prediction']}")
    return EXIT_FAILED if any(entry["error"] for entry in results) else 0


# ---------------------------------------------------------------- helpers


def _get_run(store, run_id: int) -> dict:
    from glaucoma_core.store import RunNotFound

    try:
        return store.run(run_id)
    except RunNotFound as exc:
        raise UserError(str(exc)) from None


def _load_model(store, run_id: int):
    from glaucoma_core.store import ModelFileProblem

    _get_run(store, run_id)
    try:
        return store.load_model(run_id)
    except ModelFileProblem as exc:
        raise UserError(f"run {run_id}: {exc}") from None


def _config_from_args(args):
    from glaucoma_core.config import ConfigError, TrainConfig, get_preset

    if not args.preset and not args.config:
        raise UserError("give --preset NAME or --config FILE (see the presets command)")
    overrides = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--set needs KEY=VALUE, not {item!r}")
        overrides[key.strip()] = value
    try:
        if args.config:
            if not Path(args.config).is_file():
                raise UserError(f"{args.config}: config file not found")
            config = TrainConfig.from_json(Path(args.config))
        else:
            config = get_preset(args.preset)
        return config.with_overrides(overrides) if overrides else config
    except ConfigError as exc:
        raise UserError(f"config: {exc}") from None


def _validate(config, index, fold) -> None:
    """Check the config against the fold's training set size before any training starts."""
    from glaucoma_core.config import ConfigError

    train = index[(index["fold"] == fold) & (index["split"] == "train") & (index["problem"] == "")]
    try:
        config.validate(n_train_images=len(train) or None)
    except ConfigError as exc:
        raise UserError(f"config: {exc}") from None


def _scan(args, store):
    from glaucoma_core.data.demo import resolve_data_root
    from glaucoma_core.data.index import scan_dataset

    try:
        data_root = resolve_data_root(args.data, home=store.home)
    except (OSError, ValueError) as exc:
        raise UserError(f"{args.data}: {exc}") from None
    if not Path(data_root).is_dir():
        raise UserError(f"{data_root}: dataset folder not found")
    try:
        index = scan_dataset(data_root, home=store.home)
    except (OSError, ValueError) as exc:
        raise UserError(f"{data_root}: cannot scan the dataset ({exc})") from None
    return Path(data_root).resolve(), index


def _check_fold(index, data_root, fold: int) -> None:
    from glaucoma_core.data.index import fold_numbers

    folds = fold_numbers(index)
    if fold is None and folds:
        raise UserError(f"{data_root}: give --fold (folds: {', '.join(map(str, folds))})")
    if fold is None:
        return  # flat layout: the trainer holds out a validation part itself
    if fold not in folds:
        have = ", ".join(map(str, folds)) or "none (flat layout)"
        raise UserError(f"{data_root}: no fold {fold} (folds: {have})")


def _echo(args):
    stream = sys.stderr if getattr(args, "json", False) else sys.stdout

    def echo(message: str) -> None:
        print(message, file=stream, flush=True)

    return echo


def _exit_code(statuses) -> int:
    statuses = list(statuses)
    if any(s == "failed" for s in statuses):
        return EXIT_FAILED
    if any(s in ("cancelled", "queued", "none") for s in statuses):
        return EXIT_CANCELLED
    return 0


def _metrics_line(values: dict) -> str:
    names = ("auc", "accuracy", "sensitivity", "specificity", "f1")
    text = "  ".join(f"{name} {_fmt(values.get(name))}" for name in names)
    counts = " ".join(f"{name} {values[name]}" for name in ("tp", "fp", "tn", "fn") if name in values)
    return f"{text}  ({counts})" if counts else text


def _fmt(value) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "-"
    return "-" if math.isnan(number) else f"{number:.3f}"


def _cell(value) -> str:
    try:
        return "-" if value is None or value != value else str(int(value))
    except TypeError:  # pandas NA
        return "-"


def _jsonable(value):
    """Replace NaN by None and numpy/pandas scalars by Python ones, recursively."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if hasattr(value, "item"):
        return _jsonable(value.item())
    try:
        import pandas as pd

        if value is pd.NA or pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)
