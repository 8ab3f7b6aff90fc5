"""CLI: evaluate, compare, gradcam.

References: a bare number or ``run:N`` is a run; ``exp:N`` / ``experiment:N`` or an
experiment's name is an experiment (the commands print them in that form). Thresholds are
chosen on each run's (each fold's) validation predictions and applied to the evaluated split
(test by default); 0.5 when no rule is given. ``--json`` prints one JSON document on stdout
(NaN as null). Every figure comes from the workbench, as on the pages.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from glaucoma_core.commands.common import add_threshold_options, positive_int, threshold_rule, workbench
from glaucoma_core.commands.formatting import jsonable
from glaucoma_core.commands.reports import compare_text, experiment_text, run_text
from glaucoma_core.errors import UserError
from glaucoma_core.workbench import DEFAULT_RESAMPLES


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "evaluate", help="metrics with 95%% intervals of a run, or of an experiment per fold and pooled",
        description="Metrics of stored predictions. TARGET: a run (5 or run:5), or an experiment "
                    "(exp:3, experiment:3, or its name). The threshold is chosen on validation "
                    "predictions (per fold) and applied to --split.")
    p.add_argument("target", metavar="RUN|EXPERIMENT", help="run (5, run:5) or experiment (exp:3 or name)")
    add_threshold_options(p)
    p.add_argument("--split", choices=("test", "valid"), default="test", help="split to evaluate (default test)")
    p.add_argument("--bootstrap", type=positive_int, default=DEFAULT_RESAMPLES, metavar="N",
                   help=f"bootstrap resamples for the intervals (default {DEFAULT_RESAMPLES}, at most 100000)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_evaluate)

    p = subparsers.add_parser(
        "compare", help="two runs or two experiments on the same images: metrics side by side, paired tests",
        description="Compare A and B (both runs or both experiments) on the images they share: DeLong "
                    "(AUC) and McNemar (at each side's threshold) p-values; for experiments also the "
                    "per-fold differences with the Nadeau-Bengio and Wilcoxon tests.")
    p.add_argument("a", metavar="A", help="run (5, run:5) or experiment (exp:N or name)")
    p.add_argument("b", metavar="B", help="run (5, run:5) or experiment (exp:N or name)")
    add_threshold_options(p)
    p.add_argument("--split", choices=("test", "valid"), default="test", help="split compared (default test)")
    p.add_argument("--n-train", type=float, help="training images per fold for Nadeau-Bengio (default: estimated)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_compare)

    p = subparsers.add_parser("gradcam", help="Grad-CAM heat-map overlay of an image with a run's model")
    p.add_argument("--run", required=True, metavar="RUN", help="run whose model to use (5 or run:5)")
    p.add_argument("image", metavar="IMAGE", help="fundus image file")
    p.add_argument("--out", required=True, help="output PNG file")
    p.add_argument("--alpha", type=float, default=0.4, help="weight of the heat map colours (default 0.4)")
    p.add_argument("--target", choices=("glaucoma_logit", "logit_difference"), default="glaucoma_logit",
                   help="what the map explains (default: the glaucoma logit)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_gradcam)


# ---------------------------------------------------------------- evaluate


def cmd_evaluate(args) -> int:
    bench = workbench(args)
    result = bench.evaluate(args.target, threshold_rule(args), split=args.split, n_resamples=args.bootstrap,
                            seed=args.seed)
    if args.json:
        print(json.dumps(jsonable(result), indent=2))
    elif result["kind"] == "run":
        print(run_text(result["label"], result))
    else:
        print(experiment_text(result["label"], result))
    return 0


# ---------------------------------------------------------------- compare


def cmd_compare(args) -> int:
    result = workbench(args).compare(args.a, args.b, threshold_rule(args), split=args.split, n_train=args.n_train)
    if args.json:
        print(json.dumps(jsonable({k: v for k, v in result.items() if k != "images"}), indent=2))
    else:
        print(compare_text(result))
    return 0


# ---------------------------------------------------------------- gradcam


def cmd_gradcam(args) -> int:
    from PIL import Image

    from glaucoma_core.data.images import ImageProblem, load_rgb
    from glaucoma_core.workbench import parse_reference

    ref = parse_reference(args.run)
    if not ref.is_run:
        raise UserError(f"--run takes a run (5 or run:5), not {args.run!r}")
    out = Path(args.out).expanduser()
    if out.suffix.lower() != ".png":
        raise UserError(f"{out}: the output must be a .png file")
    if not out.parent.is_dir():
        raise UserError(f"{out.parent}: folder does not exist")
    if not 0.0 <= args.alpha <= 1.0:
        raise UserError(f"--alpha must be between 0 and 1, got {args.alpha}")
    try:  # the file is named before the store is opened: the user's first mistake is reported first
        inspect = load_rgb(args.image)
        inspect.close()
    except ImageProblem as exc:
        raise UserError(f"{args.image}: {getattr(exc, 'reason', exc)}") from None
    result = workbench(args).gradcam(int(ref.key), args.image, alpha=args.alpha, target=args.target)
    _write_png_atomic(result["overlay"], out, Image)
    summary = {"run": str(ref), "image": str(args.image), "out": str(out), "probability": result["probability"],
               "layer": result["layer"], "target": args.target}
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"wrote {out} ({ref}, P(glaucoma) = {result['probability']:.3f}, layer {result['layer']})")
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
