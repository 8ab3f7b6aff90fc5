"""Scale curve: time and peak memory of scan, feature extraction and a frozen k-fold CV vs dataset size.

For each size N of ``--sizes`` (unique synthetic images at ``--size`` px, each in every one of
10 folds as the course project's layout has them: N x 10 files; generated once and cached in the
home, preset ``scale-<size>-<N>``), a fresh process runs, from a fresh workbench home:

1. **scan**: ``glaucoma_core.data.index.scan_dataset`` over the N x 10 files (hashing, headers);
2. **features**: the frozen backbone built once (``training.frozen_backbone``, the one the
   trainer keeps for the process) and the pooled MobileNetV2 features of every unique image
   computed into the feature cache through ``FeatureCache.features_of_rows`` with the trainer's
   decode: only images without features are decoded, a chunk at a time, so memory holds one
   chunk of decoded images (plus the process's decoded-image LRU, capped at
   ``GLAUCOMA_IMAGE_CACHE_MB``), not the dataset;
3. **cv**: ``training.trainer.train_fold`` on each of the 10 folds, frozen backbone, head only,
   features from the cache (as a cross-validation after the first fold).

Each stage reports wall seconds, CPU seconds and its peak RSS (sampled from /proc every 20 ms).
With two or more sizes, the growth exponent of each stage is the slope of log(time) against
log(N) (least squares), and time and memory are projected to ``--project`` images (time by
each stage's power law, the total as their sum; memory by a straight line through the measured
peaks less the decoded-image LRU, plus that LRU at the projected size, capped as it is). The
headline ratio compares
with linear growth: (smallest size's total time x largest N / smallest N) / the largest size's
total time (above 1 = better than linear); ``exponents`` holds the fitted slopes.

    python benchmarks/scale_curve.py                              # 400 and 1707 images
    python benchmarks/scale_curve.py --sizes 400 1707 10000 --json
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

try:
    from benchmarks import _common as common
    from benchmarks import _datasets, _memory
except ImportError:  # run as a script: benchmarks/ is on sys.path
    import _common as common
    import _datasets
    import _memory

STAGES = ("scan", "features", "cv")


def build_parser():
    p = common.parser(__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[400, 1707], help="numbers of unique images")
    p.add_argument("--size", type=int, default=224, help="image side in pixels (generated and model input)")
    p.add_argument("--alpha", type=float, default=0.35, help="MobileNetV2 width multiplier")
    p.add_argument("--weights", default=None,
                   help="MobileNetV2 no-top weights file (default: ../shared/imagenet's alpha-0.35 file, else "
                        "random weights)")
    p.add_argument("--epochs", type=int, default=20, help="head epochs per fold (early stopping, patience 10)")
    p.add_argument("--folds", type=int, default=10, help="folds of the CV stage (the first N)")
    p.add_argument("--batch", type=int, default=32, help="batch size")
    p.add_argument("--chunk", type=int, default=512, help=argparse_hidden())  # kept for old command lines
    p.add_argument("--memory-gib", type=float, default=24.0, help="say whether the projection fits this much memory")
    p.add_argument("--project", type=int, default=100_000, help="project time and memory to this many images")
    p.add_argument("--points", default=None,
                   help="summarise the points of an earlier run's --json output (FILE) instead of running")
    p.add_argument("--one", type=int, default=None, help=argparse_hidden())
    return p


def argparse_hidden():
    import argparse

    return argparse.SUPPRESS


# ---- one size, in its own process --------------------------------------------------------------


def _weights(args, workdir: Path) -> tuple[str, str]:
    if args.weights:
        return str(Path(args.weights).expanduser()), f"file {Path(args.weights).name}"
    if abs(args.alpha - 0.35) < 1e-9 and args.size == 224 and common.MOBILENETV2_035.is_file():
        return str(common.MOBILENETV2_035), f"ImageNet ({common.MOBILENETV2_035.name})"
    import keras

    keras.utils.set_random_seed(args.seed)
    model = keras.applications.MobileNetV2(include_top=False, weights=None, alpha=args.alpha,
                                           input_shape=(args.size, args.size, 3))
    path = workdir / "random.weights.h5"
    model.save_weights(str(path))
    keras.backend.clear_session()
    return str(path), "RANDOM (no ImageNet file): AUCs near chance are expected"


def _config(args, weights: str):
    from glaucoma_core.config import TrainConfig

    return TrainConfig(
        backbone="mobilenetv2", backbone_options={"alpha": args.alpha}, input_size=args.size, weights=weights,
        trainable="head", head_pooling="avg", head_dropout=0.2, head_dense_units=0, optimizer="adam",
        learning_rate=1e-3, batch_size=args.batch, epochs=args.epochs, early_stopping=True,
        early_stopping_patience=10, loss="categorical_crossentropy", feature_cache=True, seed=args.seed,
        mixed_precision="off", xla="off",
    )


def _stage(name: str, results: dict):
    """Context manager timing a stage and sampling its peak RSS into ``results[name]``."""
    import contextlib

    @contextlib.contextmanager
    def block():
        with _memory.PeakRSS() as peak, common.Timer() as timer:
            extra: dict = {}
            yield extra
        results[name] = {"seconds": round(timer.seconds, 2), "cpu_seconds": round(timer.cpu_seconds, 2),
                         "peak_rss_mb": round(peak.peak_mb, 1), "rss_before_mb": round(peak.start_mb, 1),
                         "load_average_1min": round(os.getloadavg()[0], 2), **extra}

    return block()


def run_one(args) -> dict:
    """All three stages for ``args.one`` unique images; returns the per-stage figures."""
    n = int(args.one)
    root = _datasets.ensure_preset(f"scale-{args.size}-{n}", home=args.home, seed=0,
                                   log=lambda m: common.log(args, m))
    import numpy as np
    from sklearn.metrics import roc_auc_score

    from glaucoma_core.data.index import scan_dataset, usable
    from glaucoma_core.data.pipeline import IMAGE_CACHE, load_images
    from glaucoma_core.training.feature_cache import COMPUTE_CHUNK, FeatureCache, feature_key
    from glaucoma_core.training.frozen_backbone import frozen_extractor
    from glaucoma_core.training.trainer import train_fold

    stages: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as work:
        home = Path(work) / "home"
        weights, note = _weights(args, Path(work))
        config = _config(args, weights)
        common.log(args, f"[{n}] scan ...")
        with _stage("scan", stages) as extra:
            index = scan_dataset(root, home=home)
            extra["files"] = int(len(index))
        rows = usable(index)
        unique = rows.drop_duplicates("sha256").reset_index(drop=True)
        common.log(args, f"[{n}] features of {len(unique)} unique images ...")
        with _stage("features", stages) as extra:
            extractor = frozen_extractor(config)  # kept for the process: the CV stage reuses it
            cache = FeatureCache(feature_key(config), home)
            _, features, problems = cache.features_of_rows(
                extractor, unique, lambda part: load_images(part, args.size, preparation=config))
            extra.update(unique_images=int(len(unique)), computed=cache.computed, problems=len(problems),
                         feature_mb=round(features.nbytes / 2**20, 1),
                         image_cache_mb=round(IMAGE_CACHE._bytes / 2**20, 1),
                         image_cache_cap_mb=round(IMAGE_CACHE.max_bytes / 2**20, 1),
                         chunk=COMPUTE_CHUNK)
        del features, extractor
        folds = sorted(int(f) for f in rows["fold"].dropna().unique())[: args.folds]
        common.log(args, f"[{n}] frozen CV over {len(folds)} folds ...")
        aucs, fold_seconds, epochs_run = [], [], []
        with _stage("cv", stages) as extra:
            for fold in folds:
                result = train_fold(config, index, fold, home=home)
                test = result.predictions[result.predictions["split"] == "test"]
                aucs.append(float(roc_auc_score(test["label"], test["probability"])))
                fold_seconds.append(round(result.seconds, 2))
                epochs_run.append(len(result.history))
            extra.update(folds=len(folds), fold_seconds=fold_seconds, epochs_run=epochs_run,
                         mean_test_auc=round(float(np.mean(aucs)), 4),
                         features_reused=result.info.get("feature_cache", {}).get("reused"))
    return {"images": n, "files": stages["scan"]["files"], "weights": note, "stages": stages}


# ---- the curve ---------------------------------------------------------------------------------


def fit_exponent(ns: list[int], values: list[float]) -> float | None:
    """Slope of log(value) on log(n), least squares (None with fewer than two usable points)."""
    points = [(math.log(n), math.log(v)) for n, v in zip(ns, values, strict=True) if v and v > 0]
    if len(points) < 2:
        return None
    mx = sum(x for x, _ in points) / len(points)
    my = sum(y for _, y in points) / len(points)
    sxx = sum((x - mx) ** 2 for x, _ in points)
    if sxx == 0:
        return None
    return round(sum((x - mx) * (y - my) for x, y in points) / sxx, 3)


def project_power(ns: list[int], values: list[float], exponent: float | None, target: int) -> float | None:
    """``values`` at the largest n, grown to ``target`` by n^exponent."""
    if exponent is None:
        return None
    return round(values[-1] * (target / ns[-1]) ** exponent, 1)


def project_line(ns: list[int], values: list[float], target: int) -> float | None:
    """A straight line through (n, value) (least squares) evaluated at ``target``."""
    if len(ns) < 2:
        return None
    mx, my = sum(ns) / len(ns), sum(values) / len(values)
    sxx = sum((x - mx) ** 2 for x in ns)
    slope = sum((x - mx) * (y - my) for x, y in zip(ns, values, strict=True)) / sxx if sxx else 0.0
    return round(my + slope * (target - mx), 1)


def project_lru(ns: list[int], held_mb: list[float], cap_mb: float, target: int) -> float:
    """The decoded-image LRU's size at ``target`` images: what it held per image at the largest
    size that did not reach its cap, times ``target``, capped at ``cap_mb``."""
    below = [(n, h) for n, h in zip(ns, held_mb, strict=True) if h and h < 0.98 * cap_mb]
    if not below:
        return round(float(cap_mb if any(held_mb) else 0.0), 1)
    n, h = below[-1]
    return round(min(float(cap_mb), h / n * target), 1)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.one is not None:
        print(json.dumps(run_one(args)))
        return 0
    sizes = sorted(set(args.sizes))
    if min(sizes) < 20 or args.epochs < 1:
        raise SystemExit("--sizes must be >= 20 images, --epochs >= 1")
    points = []
    if args.points:  # re-summarise an earlier run (its sizes and settings), e.g. with a new --project
        earlier = json.loads(Path(args.points).read_text())
        points = earlier["points"]
        args.size, args.alpha, args.epochs, args.folds = (earlier["settings"][k] for k in ("size", "alpha", "epochs",
                                                                                          "folds"))
        sizes = []
    for n in sizes:
        command = [sys.executable, str(Path(__file__).resolve()), "--one", str(n), "--size", str(args.size),
                   "--alpha", str(args.alpha), "--epochs", str(args.epochs), "--folds", str(args.folds),
                   "--batch", str(args.batch), "--seed", str(args.seed)]
        if args.home:
            command += ["--home", args.home]
        if args.weights:
            command += ["--weights", args.weights]
        common.log(args, f"size {n}: a fresh process ...")
        done = subprocess.run(command, stdout=subprocess.PIPE, text=True)
        if done.returncode != 0:
            raise SystemExit(f"the run at {n} images failed (exit {done.returncode})")
        points.append(json.loads(done.stdout.strip().splitlines()[-1]))
        common.log(args, f"size {n}: " + json.dumps(points[-1]))  # each point as soon as it is measured
    ns = [p["images"] for p in points]
    curve = {}
    lru = [p["stages"]["features"].get("image_cache_mb", 0.0) for p in points]
    cap = points[-1]["stages"]["features"].get("image_cache_cap_mb", 0.0)
    lru_at_target = project_lru(ns, lru, cap, args.project)
    for stage in STAGES:
        seconds = [p["stages"][stage]["seconds"] for p in points]
        rss = [p["stages"][stage]["peak_rss_mb"] for p in points]
        exponent = fit_exponent(ns, seconds)
        # the LRU is in RSS from the features stage on; it stops growing at its cap
        held = lru if stage != "scan" else [0.0] * len(ns)
        peak = project_line(ns, [r - h for r, h in zip(rss, held, strict=True)], args.project)
        if peak is not None and stage != "scan":
            peak = round(peak + lru_at_target, 1)
        cpu = [p["stages"][stage]["cpu_seconds"] for p in points]
        curve[stage] = {"seconds": seconds, "peak_rss_mb": rss, "exponent": exponent,
                        "cpu_seconds": cpu, "cpu_exponent": fit_exponent(ns, cpu),
                        f"projected_seconds_{args.project}": project_power(ns, seconds, exponent, args.project),
                        # fixed cost + marginal cost per image: the fitted exponent is pulled below 1 by
                        # the fixed costs of small sizes, so the power law under-projects far beyond them
                        f"projected_seconds_linear_{args.project}": project_line(ns, seconds, args.project),
                        f"projected_peak_rss_mb_{args.project}": peak}
    totals = [sum(p["stages"][s]["seconds"] for s in STAGES) for p in points]
    total_exponent = fit_exponent(ns, totals)
    stage_projections = [curve[s][f"projected_seconds_{args.project}"] for s in STAGES]
    projected_total = round(sum(stage_projections), 1) if None not in stage_projections else None
    linear = [curve[s][f"projected_seconds_linear_{args.project}"] for s in STAGES]
    projected_linear = round(sum(linear), 1) if None not in linear else None
    peaks = [curve[s][f"projected_peak_rss_mb_{args.project}"] for s in STAGES]
    projected_peak = max(peaks) if None not in peaks else None
    result = {
        "benchmark": "scale_curve",
        "baseline": "linear growth from the smallest size (total time x N / N_smallest)",
        "ratio": common.ratio(totals[0] * ns[-1] / ns[0], totals[-1]) if len(ns) > 1 else 1.0,
        "ratios": {f"{s}_vs_linear": common.ratio(curve[s]["seconds"][0] * ns[-1] / ns[0], curve[s]["seconds"][-1])
                   for s in STAGES},
        "exponents": {**{s: curve[s]["exponent"] for s in STAGES}, "total": total_exponent},
        "cpu_exponents": {s: curve[s]["cpu_exponent"] for s in STAGES},
        "sizes": ns,
        "points": points,
        "curve": curve,
        "total_seconds": [round(t, 1) for t in totals],
        f"projected_total_seconds_{args.project}": projected_total,
        f"projected_total_seconds_linear_{args.project}": projected_linear,
        f"projected_peak_rss_mb_{args.project}": projected_peak,
        f"projected_image_cache_mb_{args.project}": lru_at_target,
        "fits_memory": None if projected_peak is None else projected_peak < args.memory_gib * 1024,
        "memory_gib": args.memory_gib,
        "settings": {"size": args.size, "alpha": args.alpha, "epochs": args.epochs, "folds": args.folds,
                     "batch": args.batch, "seed": args.seed},
        "machine": common.machine(),
    }
    if args.points:  # the machine and load of the run that measured the points
        result.update(machine=earlier["machine"], summarised_from=str(args.points))
    lines = [f"Scale curve at {args.size} px, MobileNetV2 alpha {args.alpha}, {args.folds} folds, "
             f"<= {args.epochs} head epochs; weights: {points[0]['weights']}"]
    for p in points:
        s = p["stages"]
        lines.append(f"  {p['images']:>6} images ({p['files']} files): " + "; ".join(
            f"{k} {s[k]['seconds']} s, peak {s[k]['peak_rss_mb']:.0f} MB" for k in STAGES))
    for stage in STAGES:
        c = curve[stage]
        lines.append(f"  {stage}: exponent {c['exponent']}; at {args.project} images ~"
                     f"{c[f'projected_seconds_{args.project}']} s, peak ~{c[f'projected_peak_rss_mb_{args.project}']} MB")
    lines.append(f"  total exponent {total_exponent}; at {args.project} images ~{projected_total} s "
                 f"(sum of the stages' power laws; {projected_linear} s by fixed + marginal cost), "
                 f"peak RSS ~{projected_peak} MB: "
                 f"{'fits' if result['fits_memory'] else 'does NOT fit'} in {args.memory_gib:g} GiB")
    lines.append(f"  load average: {result['machine'].get('load_average')}")
    common.emit(result, args.json, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
