"""``demo-data``: write the synthetic demo fundus dataset (paper's fold layout) to a folder."""

from __future__ import annotations

import argparse
import json
import time

from glaucoma_core.commands.common import positive_int
from glaucoma_core.errors import UserError

# Same values as glaucoma_core.data.demo.DEFAULT_* (kept here so building the parser stays cheap;
# a test checks they agree).
DEFAULT_N_IMAGES = 400
DEFAULT_SEED = 0
DEFAULT_K = 10
DEFAULT_IMAGE_SIZE = 256


def register(subparsers) -> None:
    """Add the ``demo-data`` command."""
    parser = subparsers.add_parser(
        "demo-data",
        help="generate the synthetic demo dataset (fundus images in the 10-fold layout)",
        description=(
            "Render synthetic fundus photographs (normal and glaucoma, the latter with a larger "
            "cup-to-disc ratio) and write them in the paper's fold layout "
            "OUT/fold_01/{train,valid,test}/{normal,abnormal}/, plus OUT/demo_parameters.csv "
            "with each image's true cup-to-disc ratio. Same seed, same bytes."
        ),
    )
    parser.add_argument("out", metavar="OUT", help="folder to create (must not exist, or be empty)")
    parser.add_argument(
        "--images",
        type=positive_int,
        default=DEFAULT_N_IMAGES,
        help=f"number of unique images (default {DEFAULT_N_IMAGES})",
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed (default 0)")
    parser.add_argument(
        "--k", type=positive_int, default=DEFAULT_K, help=f"number of folds (default {DEFAULT_K})"
    )
    parser.add_argument(
        "--size",
        type=positive_int,
        default=DEFAULT_IMAGE_SIZE,
        help=f"image side in pixels (default {DEFAULT_IMAGE_SIZE})",
    )
    parser.add_argument(
        "--style",
        choices=("disc", "full-field", "disc-crop"),
        default="disc",
        help="disc (default): the demo images; full-field: camera-like black-bordered photographs "
        "(SIZE is their height, e.g. 2000), disc small and off-centre, bright spots; disc-crop: "
        "disc-centred crops of varying size. Disc positions are in the parameters file",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.set_defaults(func=run_demo_data)


def run_demo_data(args: argparse.Namespace) -> int:
    """Handler of ``demo-data``: generate, then print where and what was written."""
    import pandas as pd

    from glaucoma_core.data import demo

    start = time.perf_counter()
    try:
        out = demo.generate_demo_dataset(
            args.out, n_images=args.images, seed=args.seed, k=args.k, image_size=args.size,
            style=args.style,
        )
    except demo.DemoDataError:
        raise
    except OSError as exc:
        raise UserError(f"{args.out}: cannot write the demo dataset ({exc.strerror or exc})") from None
    seconds = time.perf_counter() - start
    table = pd.read_csv(out / demo.PARAMETERS_FILE)
    summary = {
        "path": str(out.resolve()),
        "images": int(len(table)),
        "glaucoma": int((table["label"] == 1).sum()),
        "normal": int((table["label"] == 0).sum()),
        "folds": args.k,
        "image_size": args.size,
        "seed": args.seed,
        "parameters": str((out / demo.PARAMETERS_FILE).resolve()),
        "seconds": round(seconds, 2),
    }
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"demo dataset written to {summary['path']}")
        print(
            f"  {summary['images']} unique images ({summary['glaucoma']} glaucoma, {summary['normal']} normal), "
            f"{args.size}x{args.size} px, {args.k} folds, seed {args.seed}, {seconds:.1f} s"
        )
        print(f"  true cup-to-disc ratios: {summary['parameters']}")
    return 0
