"""CLI: ``validate`` (external validation, stored), ``validate --list``, ``baseline`` and
``source-folds`` (leave-one-source-out folds of a combined dataset).

Every figure comes from the workbench (:meth:`Workbench.validate_external`,
:meth:`Workbench.metadata_baseline`), as on the External validation page.
"""

from __future__ import annotations

import json

from glaucoma_core.commands.common import add_threshold_options, positive_int, threshold_rule, workbench
from glaucoma_core.commands.formatting import jsonable
from glaucoma_core.commands.formatting import num as _num
from glaucoma_core.errors import UserError
from glaucoma_core.workbench import DEFAULT_RESAMPLES


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "validate", help="external validation of an experiment or run on another dataset (stored)",
        description="Each fold model and the fold ensemble (mean probability; the spread across folds as "
                    "doubt) on every usable image of OTHER (flat or fold layout, identical files once), at "
                    "the thresholds the experiment chose on its own validation images; internal vs external "
                    "with the drop and its 95%% interval; how far the two datasets are apart. The result is "
                    "stored (a second validate of the same experiment, dataset and rule replaces it). "
                    "--list shows the stored ones.")
    p.add_argument("target", metavar="EXPERIMENT|RUN", nargs="?", help="experiment (exp:3 or name) or run (run:5)")
    p.add_argument("--data", metavar="OTHER", help="the external dataset folder")
    add_threshold_options(p)
    p.add_argument("--bootstrap", type=positive_int, default=DEFAULT_RESAMPLES, metavar="N",
                   help=f"bootstrap resamples for the intervals (default {DEFAULT_RESAMPLES})")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--no-save", action="store_true", help="do not store the result")
    p.add_argument("--list", action="store_true", help="list the stored external evaluations (of TARGET)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_validate)

    p = subparsers.add_parser(
        "baseline", help="metadata baseline: the AUC image size, file size and colour alone reach on the same folds",
        description="A logistic regression on image width, height, file size, brightness and mean colour, "
                    "trained on each fold's training images and scored on its test images (pooled), beside "
                    "the experiment's own AUC; flagged when the experiment does not clearly beat it.")
    p.add_argument("target", metavar="EXPERIMENT|RUN", help="experiment (exp:3 or name) or run (run:5)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_baseline)

    p = subparsers.add_parser(
        "source-folds", help="leave-one-source-out folds of a combined dataset (fold k tests on source k)",
        description="Write the fold layout of a combined flat dataset SRC/<source>/<class>/<image> (or "
                    "SRC/<class>/<image> with a sources CSV): fold k trains (and validates) on every source "
                    "but the k-th and tests on the k-th. Cross-validate it as any fold layout (cv); the "
                    "per-fold table is the per-source table (fold_sources.csv names each fold's source).")
    p.add_argument("src", metavar="SRC", help="combined dataset folder")
    p.add_argument("out", metavar="OUT", help="output folder (new or empty)")
    p.add_argument("--sources", metavar="CSV", help="CSV file,source (default: the top-level folders of SRC)")
    p.add_argument("--valid-fraction", type=float, default=0.1, help="share of the training sources' images "
                                                                     "(per source and class) used for validation")
    p.add_argument("--k", type=positive_int, default=None,
                   help="instead of leave-one-source-out: K folds stratified by source x class")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_source_folds)

    p = subparsers.add_parser(
        "sources", help="per-source table of a leave-one-source-out experiment",
        description="The test figures of each fold of an experiment on a source-folds layout, named by "
                    "the source it held out (each fold trained on all the other sources).")
    p.add_argument("target", metavar="EXPERIMENT", help="experiment (exp:3 or name)")
    add_threshold_options(p)
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_sources)


# ---------------------------------------------------------------- validate


def cmd_validate(args) -> int:
    if args.list:
        return _list(args)
    if not args.target or not args.data:
        raise UserError("validate needs EXPERIMENT|RUN and --data OTHER (or --list)")
    result = workbench(args).validate_external(args.target, args.data, threshold_rule(args),
                                               n_resamples=args.bootstrap, seed=args.seed, save=not args.no_save)
    if args.json:
        print(json.dumps(jsonable({k: v for k, v in result.items() if k != "predictions"}), indent=2))
    else:
        print(validation_text(result))
    return 0


def _ci(pair) -> str:
    return f"[{_num(pair[0])}, {_num(pair[1])}]" if pair else ""


def validation_text(result: dict) -> str:
    """Readable text of :meth:`Workbench.validate_external`'s result."""
    images, ens, internal = result["images"], result["ensemble"], result["internal"]
    lines = [f"{result['label']} [{result['experiment']}] on {result['data']}",
             f"external images: {images['n']} ({images['n_glaucoma']} glaucoma, {images['n_normal']} normal); "
             f"{images['duplicates']} duplicate file(s) counted once, {images['label_conflicts']} filed under both "
             f"classes left out, {images['unusable']} unusable",
             f"threshold rule: {result['threshold_rule_text']}", ""]
    if result.get("warning"):
        lines += [f"warning: {result['warning']}", ""]
    header = f"{'':18s} {'AUC [95% CI]':>24s} {'sens':>6s} {'spec':>6s} {'sens@95':>8s} {'pAUC':>6s} {'ECE':>6s} {'thr':>6s} {'FN':>4s}"
    lines.append(header)

    def row(name, f):
        return (f"{name:18s} {_num(f['auc']) + ' ' + _ci(f['auc_ci95']):>24s} {_num(f['sensitivity']):>6s} "
                f"{_num(f['specificity']):>6s} {_num(f['sens_at_spec95']):>8s} {_num(f['pauc_spec90']):>6s} "
                f"{_num(f['ece']):>6s} {_num(f['threshold']):>6s} {f['fn']:>4d}")

    lines.append(row("fold ensemble", ens))
    for fold in result["folds"]:
        lines.append(row(f"fold {fold['fold']} (run {fold['run_id']})", fold))
    lines += ["", f"ensemble threshold: {_num(ens['threshold'], 4)} from {ens['threshold_source']}; "
                  f"mean doubt (sd over folds) {_num(ens['mean_doubt'])}"]
    opt = ens.get("optimistic") or {}
    if opt.get("threshold") is not None:
        lines.append(f"optimistic (threshold re-chosen on the external labels by {opt.get('method')}: "
                     f"{_num(opt.get('threshold'), 4)}, sensitivity {_num(opt.get('sensitivity'))}, specificity "
                     f"{_num(opt.get('specificity'))}) - tuned on the test set, not an estimate")
    lines += ["", f"internal ({internal['what']}): AUC {_num(internal['auc'])} {_ci(internal.get('auc_ci95'))}, "
                  f"sensitivity {_num(internal['sensitivity'])}, specificity {_num(internal['specificity'])}"]
    drop = result.get("drop")
    if drop:
        lines.append(f"drop internal - external AUC: {_num(drop['difference'])} {_ci(drop['ci95'])} "
                     f"(p {_num(drop['p_value'], 4)})")
    shift = result["shift"]
    lines += ["", f"dataset shift: domain distance {_num(shift.get('distance'))} {_ci(shift.get('distance_ci95'))}",
              f"  {shift['warning']}"]
    if result.get("missed"):
        lines.append(f"\nmissed glaucoma images ({len(result['missed'])}), lowest probability first:")
        lines += [f"  {path}" for path in result["missed"][:10]]
    if result.get("id"):
        lines.append(f"\nstored as external evaluation {result['id']}")
    return "\n".join(lines)


def _list(args) -> int:
    import pandas as pd

    from glaucoma_core.store.external_results import list_external

    bench = workbench(args)
    experiment_id = run_id = None
    if args.target:
        ref = bench.resolve(args.target)
        experiment_id, run_id = (None, int(ref.key)) if ref.is_run else (int(ref.key), None)
    table = list_external(bench.store, experiment_id, run_id)
    if args.json:
        print(json.dumps(jsonable(table), indent=2))
        return 0
    if table.empty:
        print("no external evaluations stored")
        return 0
    print(f"{'id':>4s}  {'target':>8s}  {'images':>6s}  {'AUC':>6s}  {'95% CI':>15s}  {'internal':>8s}  {'shift':>6s}  "
          "rule / data")
    for r in table.itertuples():
        target = f"exp:{r.experiment_id}" if pd.notna(r.experiment_id) else f"run:{r.run_id}"
        rule = json.loads(r.threshold_rule)
        print(f"{r.id:>4d}  {target:>8s}  {_num(r.images):>6s}  {_num(r.auc):>6s}  {_ci([r.auc_low, r.auc_high]):>15s}  "
              f"{_num(r.internal_auc):>8s}  {_num(r.distance):>6s}  {rule['method']} {_num(rule['target'])}  {r.data_root}")
    return 0


# ---------------------------------------------------------------- baseline


def cmd_baseline(args) -> int:
    result = workbench(args).metadata_baseline(args.target)
    if args.json:
        print(json.dumps(jsonable(result), indent=2))
        return 0
    print(f"{result['label']} [{result['experiment']}] on {result['data']}")
    print(f"metadata baseline ({', '.join(result['features'])}): AUC {_num(result['auc'])} {_ci(result['auc_ci95'])} "
          f"on {result['n_test']} pooled test images")
    print(f"experiment: AUC {_num(result['experiment_auc'])}; margin {_num(result['margin'])} "
          f"({'clearly beats it' if result['beats'] else 'does NOT clearly beat it'})")
    for row in result["single"].head(4).itertuples():
        print(f"  {row.name:40s} alone: AUC {_num(row.auc)}{'  (flagged)' if row.flagged else ''}")
    if result["warning"]:
        print(f"warning: {result['warning']}")
    return 0


# ---------------------------------------------------------------- source folds


def cmd_source_folds(args) -> int:
    from glaucoma_core.external.sources import make_source_folds

    if args.k is not None and args.k < 2:
        raise UserError(f"--k must be at least 2, got {args.k}")
    result = make_source_folds(args.src, args.out, sources_csv=args.sources, valid_fraction=args.valid_fraction,
                               seed=args.seed, home=args.home, leave_one_out=args.k is None, k=args.k or 10)
    if args.json:
        print(json.dumps(jsonable(result), indent=2))
        return 0
    kind = "leave-one-source-out" if args.k is None else "source x class stratified"
    print(f"wrote {len(result['folds'])} {kind} folds of {sum(result['sources'].values())} images "
          f"({', '.join(f'{s}: {n}' for s, n in result['sources'].items())}) to {result['out']}")
    for row in result["folds"]:
        held = f"test on {row['source']}" if row["source"] else "test"
        print(f"  fold {row['fold']}: {held} ({row['test']} images), train {row['train']}, valid {row['valid']}")
    return 0


def cmd_sources(args) -> int:
    from glaucoma_core.external.sources import per_source_table

    bench = workbench(args)
    experiment = bench.experiment(args.target)
    result = bench.evaluate(f"exp:{experiment['id']}", threshold_rule(args), n_resamples=200)
    table = per_source_table(result["per_fold"], experiment["data_root"])
    if args.json:
        print(json.dumps(jsonable({"experiment": f"exp:{experiment['id']}", "per_source": table,
                                   "pooled": result["pooled"]}), indent=2))
        return 0
    columns = [c for c in ("source", "fold", "run_id", "n", "auc", "sensitivity", "specificity", "fn", "threshold")
               if c in table.columns]
    print(f"{result['label']}: each source tested by a model trained on the others "
          f"(threshold: {result['threshold_rule_text']})")
    print("  ".join(f"{c:>12s}" for c in columns))
    for record in table.to_dict(orient="records"):
        print("  ".join(f"{_num(record[c]) if c != 'source' else str(record[c]):>12s}" for c in columns))
    return 0
