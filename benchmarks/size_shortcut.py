"""Measure a planted size shortcut: the metadata baseline, and a model's dependence on size with
and without ``resolution_normalisation``.

The dataset: synthetic fundus images (glaucoma_core.data.fundus_synth) whose glaucoma images are
stored at twice the side of the normal ones (as ACRIMA stores them), split into folds. Every
image is also rendered at the *other* size ("swapped": the same eye, only the stored resolution
changed). A cross-validation is trained with and without the option; each fold model then scores
its test images as stored and swapped. Dependence on size = how much P(glaucoma) moves when only
the stored resolution changes (mean |dP|), and the AUC on the swapped images (where size now
points the wrong way). A model that learnt the eye gives the same figures both ways.

    python benchmarks/size_shortcut.py [--n 200] [--size 64] [--epochs 8] [--folds 2] [--json]

Takes a few minutes on two CPU cores. Prints figures; nothing is compared with a baseline time.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _render(params, root: Path, small: int, glaucoma_big: bool) -> None:
    from glaucoma_core.data.demo import render_demo_images

    for label in (0, 1):
        keep = [p for p in params if p.label == label]
        big = (label == 1) == glaucoma_big
        render_demo_images(keep, root, small * 2 if big else small, threads=2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200, help="images (default 200)")
    parser.add_argument("--size", type=int, default=64, help="normal images' side and the network input (default 64)")
    parser.add_argument("--resolution", type=int, default=48, help="resolution_normalisation tried (default 48)")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--folds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    import numpy as np
    import pandas as pd

    from glaucoma_core.config import get_preset
    from glaucoma_core.data.folds import make_folds
    from glaucoma_core.data.fundus_synth import sample_parameters
    from glaucoma_core.data.index import scan_dataset
    from glaucoma_core.evaluation.metrics import auc
    from glaucoma_core.external.predict import run_probabilities
    from glaucoma_core.workbench import Workbench

    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="size-shortcut-"))
    bench = Workbench(work / "home")
    params = sample_parameters(args.n, args.seed)
    _render(params, work / "planted_flat", args.size, glaucoma_big=True)
    _render(params, work / "swapped", args.size, glaucoma_big=False)
    folds_root = Path(make_folds(work / "planted_flat", work / "planted", k=args.folds, seed=0,
                                 home=bench.home).attrs["root"])
    swapped = scan_dataset(work / "swapped", home=bench.home).set_index("relpath")
    dataset = bench.dataset(folds_root)
    out = {"n_images": args.n, "normal_side": args.size, "glaucoma_side": 2 * args.size, "folds": args.folds,
           "epochs": args.epochs, "network_input": args.size}
    for name, resolution in (("without", None), ("with", args.resolution)):
        config = get_preset("cpu-small").with_overrides({
            "backbone": "small_cnn", "input_size": args.size, "weights": "none", "epochs": args.epochs,
            "batch_size": 16, "early_stopping": False, "mixed_precision": "off", "xla": "off",
            "resolution_normalisation": resolution, "seed": 0})
        experiment = bench.create_experiment(config, dataset, name=f"size shortcut {name}")
        bench.cross_validate(experiment, dataset=dataset, echo=None)
        if name == "without":
            baseline = bench.metadata_baseline(f"exp:{experiment}")
            out["metadata_baseline_auc"] = baseline["auc"]
            out["metadata_baseline_auc_ci95"] = baseline["auc_ci95"]
            out["baseline_warning"] = baseline["warning"]
        stored_p, swapped_p, labels = [], [], []
        for run_id in bench.finished_runs(f"exp:{experiment}"):
            run = bench.run(run_id)
            test = dataset.index[(dataset.index["fold"] == run["fold"]) & (dataset.index["split"] == "test")]
            twins = swapped.loc[[f"{'abnormal' if lab else 'normal'}/{Path(p).name}"
                                 for p, lab in zip(test["path"], test["label"], strict=True)]].reset_index()
            model = bench.load_model(run_id)
            stored_p.append(run_probabilities(model, run["config"], test))
            swapped_p.append(run_probabilities(model, run["config"], twins))
            labels.append(test["label"].to_numpy())
        y, ps, pw = np.concatenate(labels), np.concatenate(stored_p), np.concatenate(swapped_p)
        evaluated = bench.evaluate(f"exp:{experiment}", n_resamples=50)
        out[name] = {"resolution_normalisation": resolution, "cv_auc": evaluated["pooled"]["auc"],
                     "auc_as_stored": auc(y, ps), "auc_sizes_swapped": auc(y, pw),
                     "mean_abs_change": float(np.mean(np.abs(ps - pw))),
                     "mean_change_glaucoma_made_small": float(np.mean((pw - ps)[y == 1])),
                     "mean_change_normal_made_big": float(np.mean((pw - ps)[y == 0]))}
    out["seconds"] = round(time.perf_counter() - started, 1)
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(pd.DataFrame({k: out[k] for k in ("without", "with")}).to_string())
        print(f"metadata baseline AUC {out['metadata_baseline_auc']:.3f}; {out['seconds']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
