"""``scan`` and ``folds``: look at a dataset folder; make cross-validation folds from a flat one."""

from __future__ import annotations

import argparse
import json
import sys

from glaucoma_core.commands.common import positive_int
from glaucoma_core.errors import UserError


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {value}")
    return value


def register(subparsers) -> None:
    """Add the ``scan`` and ``folds`` commands."""
    scan = subparsers.add_parser(
        "scan",
        help="index a dataset folder: counts, image sizes, problems, duplicates, leaks",
        description=(
            "Index every image of a dataset folder (fold layout ROOT/<fold>/<split>/<class>/<image> or flat "
            "ROOT/<class>/<image>), decoding each one fully. Broken files are listed with their reason, "
            "never fatal. Results are cached by path, modification time and size."
        ),
    )
    scan.add_argument("data", metavar="DATA", nargs="?",
                      help="dataset folder (default: the demo dataset, generated on first use)")
    scan.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    scan.add_argument("--no-cache", action="store_true", help="check every file again, ignoring the scan cache")
    scan.add_argument("--workers", type=positive_int, default=None, help="reading threads (default: CPU count)")
    scan.add_argument("--prepare", metavar="CONFIG", default=None,
                      help="also prepare every image as preset or config file CONFIG does (field of view, optic "
                      "disc, crop) and report what was found, listing failed or unsure detections")
    scan.set_defaults(func=run_scan)

    folds = subparsers.add_parser(
        "folds",
        help="make stratified k-fold folders (fold_01/{train,valid,test}/{normal,abnormal}) from a flat dataset",
        description=(
            "Split a flat dataset SRC/<class>/<image> into k stratified folds written as "
            "OUT/fold_01/{train,valid,test}/{normal,abnormal}/ (hard links where possible, else copies). "
            "Every image is in exactly one test fold; identical images (same sha256) and images of one group "
            "stay together. Broken images are reported and left out."
        ),
        epilog=(
            "Groups CSV: a header row with an image column (relpath, path, file, filename, image or name; "
            "the path relative to SRC such as abnormal/im_001.jpg, or the bare file name when names are "
            "unique) and a group column (group, patient, patient_id, subject or source)."
        ),
    )
    folds.add_argument("src", metavar="SRC", help="flat dataset folder SRC/<class>/<image>")
    folds.add_argument("out", metavar="OUT", help="output folder (new or empty)")
    folds.add_argument("--k", type=positive_int, default=10, help="number of folds (default 10)")
    folds.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    folds.add_argument("--valid-fraction", type=_fraction, default=0.1,
                       help="share of each fold's training images moved to valid, per class (default 0.1)")
    folds.add_argument("--groups", metavar="CSV", default=None,
                       help="CSV assigning images to groups (patients) that must not cross splits")
    folds.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    folds.set_defaults(func=run_folds)


def _default_data_root(home) -> str:
    from glaucoma_core.data.demo import resolve_data_root

    return str(resolve_data_root(None, home=home))


def run_scan(args: argparse.Namespace) -> int:
    """Handler of ``scan``: index the folder and print the summary (text or JSON)."""
    from glaucoma_core.data.index import DatasetLayoutError, scan_dataset
    from glaucoma_core.data.summary import format_summary, scan_summary

    data = args.data if args.data is not None else _default_data_root(getattr(args, "home", None))
    try:
        index = scan_dataset(data, workers=args.workers, use_cache=not args.no_cache,
                             home=getattr(args, "home", None))
    except DatasetLayoutError as exc:
        raise UserError(str(exc)) from None
    summary = scan_summary(index)
    if getattr(args, "prepare", None):
        from glaucoma_core.preparation.report import dataset_report, format_report, resolve_config

        summary["preparation"] = dataset_report(index, resolve_config(args.prepare), workers=args.workers or 4)
    if args.json:
        print(json.dumps(summary, indent=1))
    else:
        sys.stdout.write(format_summary(summary))
        if "preparation" in summary:
            sys.stdout.write(format_report(summary["preparation"]))
    return 0


def run_folds(args: argparse.Namespace) -> int:
    """Handler of ``folds``: write the fold folders and print what went where."""
    from glaucoma_core.data.folds import FoldsError, make_folds
    from glaucoma_core.data.index import DatasetLayoutError
    from glaucoma_core.data.summary import printable

    try:
        result = make_folds(args.src, args.out, k=args.k, seed=args.seed, valid_fraction=args.valid_fraction,
                            groups_csv=args.groups, home=getattr(args, "home", None))
    except (FoldsError, DatasetLayoutError) as exc:
        raise UserError(str(exc)) from None
    except OSError as exc:
        raise UserError(f"{args.out}: cannot write the folds ({exc.strerror or exc})") from None
    written = result[result["problem"] == ""]
    skipped = result[result["problem"] != ""]
    per_fold = (written.groupby(["fold", "split", "label"]).size().rename("n").reset_index())
    summary = {
        "out": result.attrs["root"],
        "source": result.attrs["source"],
        "k": args.k,
        "seed": args.seed,
        "valid_fraction": args.valid_fraction,
        "images": int(written["source"].nunique()),
        "files_written": int(len(written)),
        "hard_links": int(result.attrs["hard_links"]),
        "copies": int(result.attrs["copies"]),
        "counts": [{"fold": int(r.fold), "split": r.split, "label": int(r.label), "n": int(r.n)}
                   for r in per_fold.itertuples(index=False)],
        "skipped": [{"path": p, "reason": why} for p, why in skipped[["source", "problem"]].itertuples(index=False)],
    }
    if args.json:
        print(json.dumps(summary, indent=1))
        return 0
    print(f"Wrote {args.k} folds of {summary['images']} images to {printable(summary['out'])} "
          f"({summary['hard_links']} hard links, {summary['copies']} copies)")
    table = per_fold.pivot_table(index=["fold", "split"], columns="label", values="n", aggfunc="sum",
                                 fill_value=0, sort=False).astype(int)
    table = table.rename(columns={0: "normal", 1: "glaucoma"})
    table["total"] = table.sum(axis=1)
    print(table.to_string())
    if summary["skipped"]:
        print(f"Skipped {len(summary['skipped'])} unusable images:")
        for item in summary["skipped"]:
            print(f"  {printable(item['path'])}: {item['reason']}")
    return 0
