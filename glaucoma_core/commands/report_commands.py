"""``report EXPERIMENT --out report.html``: a self-contained HTML report of an experiment."""

from __future__ import annotations

import argparse
from pathlib import Path

from glaucoma_core.commands.common import add_threshold_options, positive_int, threshold_rule, workbench
from glaucoma_core.errors import UserError


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "report", help="write a self-contained HTML report of an experiment",
        description="One HTML file (figures embedded, opens offline): dataset and folds, configuration, "
                    "per-fold table, mean ± sd and intervals, ROC, confusion matrix, threshold rule, "
                    "missed-glaucoma gallery and a methods paragraph.")
    p.add_argument("experiment", help="the experiment: exp:N, its id or its name")
    p.add_argument("--out", required=True, help="the HTML file to write (its folder must exist)")
    p.add_argument("--resamples", type=positive_int, default=None,
                   help="bootstrap resamples of the pooled intervals (default 1000)")
    add_threshold_options(p)
    p.set_defaults(func=run_report)


def run_report(args: argparse.Namespace) -> int:
    from glaucoma_core.workbench import DEFAULT_RESAMPLES

    out = Path(args.out).expanduser()
    if out.is_dir():
        raise UserError(f"{out} is a folder; give the report's file name, e.g. {out / 'report.html'}")
    if not out.parent.is_dir():
        raise UserError(f"{out.parent}: no such folder")
    bench = workbench(args, read_only=True)
    text = bench.report(bench.experiment(args.experiment)["id"], threshold_rule(args),
                        n_resamples=args.resamples or DEFAULT_RESAMPLES)
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UserError(f"{out}: cannot write the report ({exc.strerror or exc})") from None
    print(f"Wrote {out} ({len(text) / 1024:.0f} KiB)")
    return 0
