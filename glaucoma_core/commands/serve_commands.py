"""CLI: ``serve-export DIR IMAGE...``: P(glaucoma) of image files from an exported SavedModel.

Each file is prepared as the exported model's training images were (the settings in
DIR/preparation.json, through glaucoma_core.preparation), then the SavedModel runs on it
(:mod:`glaucoma_core.export.serving`). Needs no run store: only the export folder.
"""

from __future__ import annotations

import json

from glaucoma_core.commands.formatting import jsonable


def _probability(text: str) -> float:
    import argparse

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"a threshold is a probability in [0, 1], got {value}")
    return value


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "serve-export", help="P(glaucoma) of image files from an exported SavedModel (prepared as in training)",
        description="Run an exported SavedModel (export savedmodel --out DIR) on image files: each file is "
                    "prepared exactly as the model's training images were (field of view, disc crop, illumination "
                    "as recorded in DIR/preparation.json), then classified. The decision uses the threshold "
                    "recorded at export (chosen on validation predictions) unless --threshold is given.")
    p.add_argument("export_dir", metavar="DIR", help="the export folder (saved_model.pb, export.json, preparation.json)")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files")
    p.add_argument("--threshold", type=_probability, default=None, metavar="P",
                   help="decision threshold on P(glaucoma) (default: the one recorded at export)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.set_defaults(func=cmd_serve_export)


def cmd_serve_export(args) -> int:
    from glaucoma_core.export.serving import predict_files

    results = predict_files(args.export_dir, list(args.images), threshold=args.threshold)
    if args.json:
        print(json.dumps(jsonable(results), indent=2))
    else:
        for row in results:
            if row["error"]:
                print(f"{row['path']}: cannot be read: {row['error']}")
            else:
                call = f"  {row['prediction']}" if row["prediction"] else ""
                print(f"{row['path']}: P(glaucoma) {row['probability']:.4f} (sd {row['probability_sd']:.4f}){call}")
    return 1 if any(row["error"] for row in results) else 0
