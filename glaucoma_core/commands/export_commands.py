"""CLI: ``export mlflow | tensorboard | savedmodel``: the store's results for the tools around it.

TARGET is a run (``5``, ``run:5``) or an experiment (``exp:3`` or its name), as every command
prints them. ``--json`` prints one JSON document on stdout.
"""

from __future__ import annotations

import json

from glaucoma_core.commands.common import add_threshold_options, open_store, positive_int, threshold_rule
from glaucoma_core.commands.formatting import jsonable

DEFAULT_CARD_RULE = ("target_sensitivity", 0.95)
CARD_RESAMPLES = 1000


def register(subparsers) -> None:
    p = subparsers.add_parser("export", help="export runs to MLflow or TensorBoard, or a model as a SavedModel",
                              description="Export what the run store holds: an experiment to an MLflow tracking "
                                          "store, epoch curves as TensorBoard event files, a model (or an "
                                          "experiment's fold ensemble) as a TensorFlow SavedModel with a model card.")
    sub = p.add_subparsers(dest="export_command", metavar="FORMAT", required=True)

    m = sub.add_parser("mlflow", help="an experiment as an MLflow parent run with one nested run per fold",
                       description="Export an experiment (or one run) to MLflow: a parent run (configuration as "
                                   "params, CV summary as metrics) and a nested run per fold (epoch curves, final "
                                   "metrics, ROC, confusion matrix, predictions, model). Exporting again updates the "
                                   "same runs. Needs the mlflow extra: pip install 'glaucoma-workbench[mlflow]'.")
    m.add_argument("target", metavar="EXPERIMENT|STUDY|RUN",
                   help="exp:3, the experiment's name, a study (study:2: every trial), or a run (run:5)")
    m.add_argument("--tracking-uri", required=True, metavar="URI",
                   help="MLflow tracking URI, e.g. sqlite:///mlflow.db (a local file) or http://host:5000")
    m.add_argument("--mlflow-experiment", default=None, metavar="NAME",
                   help="MLflow experiment to put the runs in (default glaucoma-workbench)")
    m.add_argument("--no-models", action="store_true", help="do not upload the model files")
    add_threshold_options(m)
    m.add_argument("--bootstrap", type=positive_int, default=CARD_RESAMPLES, metavar="N",
                   help=f"bootstrap resamples of the pooled intervals (default {CARD_RESAMPLES})")
    m.add_argument("--json", action="store_true", help="print the result as JSON")
    m.set_defaults(func=cmd_mlflow)

    t = sub.add_parser("tensorboard", help="each run's epoch curves as TensorBoard event files in its folder",
                       description="Write each run's per-epoch scalars as TensorBoard event files in "
                                   "<home>/runs/<id>/tensorboard/ (train/ and validation/), replacing an earlier "
                                   "export; then `tensorboard --logdir <home>` shows them.")
    t.add_argument("target", metavar="RUN|EXPERIMENT", help="run (5, run:5) or experiment (exp:3 or its name)")
    t.add_argument("--json", action="store_true", help="print the files written as JSON")
    t.set_defaults(func=cmd_tensorboard)

    s = sub.add_parser("savedmodel", help="a run's model or an experiment's fold ensemble as a TensorFlow SavedModel",
                       description="Write a TensorFlow SavedModel (resize and preprocessing inside; signatures "
                                   "serving_default: uint8 images (N,H,W,3) and, for a model without fundus "
                                   "preparation, serve_bytes: encoded files; output P(glaucoma)), preparation.json "
                                   "(serve prepared models with serve-export) and a model card (model_card.md) "
                                   "into DIR. For an experiment, the "
                                   "mean of its fold models. The decision threshold in the card is chosen on "
                                   "validation predictions (default: target sensitivity 0.95).")
    s.add_argument("target", metavar="RUN|EXPERIMENT", help="run (5, run:5) or experiment (exp:3 or its name)")
    s.add_argument("--out", required=True, metavar="DIR", help="folder to create for the SavedModel")
    s.add_argument("--overwrite", action="store_true", help="replace DIR if it exists")
    s.add_argument("--prepared-inputs", action="store_true",
                   help="record that the caller prepares inputs itself (a model trained on fundus-prepared images "
                        "is exported either way; serve-export prepares files as training did)")
    add_threshold_options(s)
    s.add_argument("--bootstrap", type=positive_int, default=CARD_RESAMPLES, metavar="N",
                   help=f"bootstrap resamples of the intervals in the model card (default {CARD_RESAMPLES})")
    s.add_argument("--json", action="store_true", help="print the result as JSON")
    s.set_defaults(func=cmd_savedmodel)


def _rule_or_default(args, default):
    """The threshold options' rule, or ``default`` (method, target) when none was given."""
    from glaucoma_core.workbench import ThresholdRule

    given = any(getattr(args, name, None) not in (None, False)
                for name in ("threshold", "target_sensitivity", "target_specificity", "youden", "max_f1"))
    return threshold_rule(args) if given or default is None else ThresholdRule(*default)


def _print(args, result: dict, text: str) -> int:
    print(json.dumps(jsonable(result), indent=2) if args.json else text)
    return 0


def cmd_mlflow(args) -> int:
    from glaucoma_core.export.mlflow_export import DEFAULT_EXPERIMENT, export_to_mlflow
    from glaucoma_core.export.source import resolve_source

    store = open_store(args)
    if args.target.strip().lower().startswith("study:"):
        return _export_study(args, store)
    source = resolve_source(store, args.target)
    result = export_to_mlflow(store, source, args.tracking_uri,
                              experiment_name=args.mlflow_experiment or DEFAULT_EXPERIMENT,
                              rule=threshold_rule(args), n_resamples=args.bootstrap, log_models=not args.no_models)
    verb = "created" if result["created"] else "updated"
    lines = [f"{source.reference} -> MLflow experiment {result['experiment_name']!r} ({result['tracking_uri']}): "
             f"parent run {result['parent_run_id']} {verb}"]
    for fold in result["fold_runs"]:
        lines.append(f"  fold {fold['fold']} ({fold['workbench_run']}): run {fold['mlflow_run_id']} "
                     f"{'created' if fold['created'] else 'updated'}")
    if result["deleted"]:
        lines.append(f"  deleted {len(result['deleted'])} fold run(s) of superseded workbench runs")
    return _print(args, {"reference": source.reference, **result}, "\n".join(lines))


def _export_study(args, store) -> int:
    from glaucoma_core.export.mlflow_export import export_study_to_mlflow

    result = export_study_to_mlflow(store, args.target, args.tracking_uri, experiment_name=args.mlflow_experiment,
                                    rule=threshold_rule(args), n_resamples=args.bootstrap,
                                    log_models=not args.no_models)
    lines = [f"{result['study']} -> MLflow experiment {result['experiment_name']!r}: {len(result['trials'])} "
             f"trial(s) exported (selected on validation: trial {result['selected']})"]
    for trial in result["trials"]:
        lines.append(f"  trial {trial['trial']} ({trial['experiment']}): parent run {trial['parent_run_id']} "
                     f"{'created' if trial['created'] else 'updated'}")
    for trial in result["skipped"]:
        lines.append(f"  trial {trial['trial']}: skipped ({trial['reason']})")
    return _print(args, result, "\n".join(lines))


def cmd_tensorboard(args) -> int:
    from glaucoma_core.export.source import resolve_source
    from glaucoma_core.export.tensorboard_export import export_tensorboard

    store = open_store(args)
    source = resolve_source(store, args.target, need_finished=False)
    written = export_tensorboard(store, source.all_run_ids)
    files = {f"run:{r}": [str(p) for p in paths] for r, paths in written.items()}
    empty = [r for r, paths in files.items() if not paths]
    lines = [f"{r}: {len(paths)} event file(s) in {store.run_dir(int(r[4:])) / 'tensorboard'}"
             for r, paths in files.items() if paths]
    if empty:
        lines.append(f"no epochs recorded yet: {', '.join(empty)}")
    lines.append(f"view them with: tensorboard --logdir {store.home}")
    return _print(args, {"reference": source.reference, "home": str(store.home), "files": files}, "\n".join(lines))


def cmd_savedmodel(args) -> int:
    from glaucoma_core.export.model_card import model_card, rule_words, write_model_card
    from glaucoma_core.export.saved_model import export_saved_model
    from glaucoma_core.export.source import resolve_source, workbench_of

    store = open_store(args)
    source = resolve_source(store, args.target)
    rule = _rule_or_default(args, DEFAULT_CARD_RULE)
    choice, note = workbench_of(store).decision_threshold(source.run_ids, rule)
    description = {"reference": source.reference, "threshold": choice.to_dict(), "threshold_rule": rule.to_dict(),
                   "threshold_note": note or None}
    metadata = export_saved_model(store, source.run_ids, args.out, description=description, overwrite=args.overwrite,
                                  prepared_inputs=args.prepared_inputs)
    card = write_model_card(model_card(store, source, rule, n_resamples=args.bootstrap, export_metadata=metadata),
                            args.out)
    text = (f"{source.reference}: SavedModel of {metadata['n_models']} model(s) ({', '.join(f'run:{r}' for r in source.run_ids)}) "
            f"in {args.out}\n  signatures: {', '.join(metadata['signatures'])}; input {metadata['input_size']} px\n"
            + (f"  inputs must be prepared ({metadata['input_preparation']}): serve files with "
               f"`python -m glaucoma_core serve-export {args.out} IMAGE...`\n" if metadata.get("input_preparation") else "")
            + f"  threshold {choice.threshold:.4f} ({rule_words(rule)}, chosen on "
            f"{choice.n_valid} validation images)\n  model card: {card}")
    return _print(args, {**metadata, "out": str(args.out), "model_card": str(card)}, text)
