"""GPU protocol: the paper's five networks fine-tuned over k folds, images per second per backbone.

Diaz-Pinto et al. 2019 fine-tuned VGG16, VGG19, InceptionV3, ResNet50 and Xception (ImageNet
start, every layer trainable, SGD 1e-4 momentum 0.9, batch 32, augmentation, up to 100 epochs
with early stopping) over 10 folds. This script runs exactly the workbench's ``paper-<net>``
presets (``glaucoma_core.config.PRESETS``) through ``training.trainer.train_fold`` on each fold,
with mixed precision and XLA (``--mixed-precision``/``--xla``; 'auto' = on when TensorFlow
sees a GPU, as the trainer decides), and reports per backbone: training images per second
(images x epochs / the epochs' seconds), seconds per fold, mean test AUC and, on a GPU, the
peak GPU memory TensorFlow allocated (``tf.config.experimental.get_memory_info``).

Weights: the Keras ImageNet no-top file of each network when ``--weights-dir`` holds it (Keras'
own file names, e.g. ``resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5``); else ``none``
(random start: the throughput is the same, the AUCs are not the paper's). Nothing is downloaded.

Reference: NVIDIA's published TensorFlow ResNet-50 v1.5 mixed-precision training throughput
on one A100 80 GB, about 2,375 images/s at batch 256 (NVIDIA Deep Learning Examples,
TensorFlow2/Classification/ConvNets/resnet50v1.5, "Training performance"). The headline
``ratio`` is our ResNet50 images/s over that figure (it needs ``resnet50`` among
``--backbones``; on a CPU it is tiny, which is expected).

    python benchmarks/gpu_protocol.py --json                           # GPU server: 10 folds, 5 nets
    python benchmarks/gpu_protocol.py --folds 1 --epochs 1 --size 32 --backbones vgg16 resnet50  # CPU check
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

try:
    from benchmarks import _common as common
except ImportError:  # run as a script: benchmarks/ is on sys.path
    import _common as common

PAPER_NETWORKS = ("vgg16", "vgg19", "inceptionv3", "resnet50", "xception")
#: Keras' file-name prefix of each network's ImageNet no-top weights.
KERAS_WEIGHT_FILES = {
    "vgg16": "vgg16_weights_tf_dim_ordering_tf_kernels_notop",
    "vgg19": "vgg19_weights_tf_dim_ordering_tf_kernels_notop",
    "inceptionv3": "inception_v3_weights_tf_dim_ordering_tf_kernels_notop",
    "resnet50": "resnet50_weights_tf_dim_ordering_tf_kernels_notop",
    "xception": "xception_weights_tf_dim_ordering_tf_kernels_notop",
}
REFERENCE_IMAGES_PER_SECOND = 2375.0
REFERENCE = ("NVIDIA Deep Learning Examples, TensorFlow2 ResNet-50 v1.5, mixed precision (AMP), 1x A100 80GB, "
             "batch 256: ~2,375 img/s training")


def build_parser():
    p = common.parser(__doc__.split("\n\n")[0])
    p.add_argument("--backbones", nargs="+", default=list(PAPER_NETWORKS), choices=PAPER_NETWORKS,
                   help="which of the paper's networks")
    p.add_argument("--folds", type=int, default=10, help="how many folds (the first N of the dataset)")
    p.add_argument("--epochs", type=int, default=None, help="epochs per fold (default: the preset's, 100)")
    p.add_argument("--size", type=int, default=None, help="input size (default: the preset's, 224 or 299)")
    p.add_argument("--batch", type=int, default=None, help="batch size (default: the preset's, 32)")
    p.add_argument("--mixed-precision", default="auto", choices=("auto", "on", "off"),
                   help="float16 compute (auto: on with a GPU)")
    p.add_argument("--xla", default="auto", choices=("auto", "on", "off"), help="XLA compilation (auto: on with a GPU)")
    p.add_argument("--weights-dir", default=str(Path("~/.keras/models").expanduser()),
                   help="folder holding Keras' ImageNet no-top files; a network without its file starts from 'none'")
    return p


def weights_for(name: str, folder: str) -> str:
    """The ImageNet file of network ``name`` in ``folder``, else 'none'."""
    root = Path(folder).expanduser()
    prefix = KERAS_WEIGHT_FILES[name]
    if root.is_dir():
        for candidate in sorted(root.glob(f"{prefix}*.h5")):
            if candidate.is_file():
                return str(candidate)
    return "none"


def gpu_memory_peak_mb() -> float | None:
    """Peak bytes TensorFlow allocated on GPU:0 since the last reset, in MiB (None without a GPU)."""
    import tensorflow as tf

    if not tf.config.list_physical_devices("GPU"):
        return None
    try:
        return round(tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20, 1)
    except (ValueError, RuntimeError):
        return None


def reset_gpu_memory() -> None:
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.reset_memory_stats("GPU:0")
        except (ValueError, RuntimeError):
            pass


def run_backbone(name: str, index, folds: list[int], args, home: str) -> dict:
    """The paper's preset for ``name`` over ``folds``; images/s, seconds per fold, AUC, GPU memory."""
    import dataclasses

    import numpy as np
    from sklearn.metrics import roc_auc_score

    from glaucoma_core.config import get_preset
    from glaucoma_core.training.trainer import train_fold

    base = get_preset(f"paper-{name}")
    changes = {"weights": weights_for(name, args.weights_dir), "mixed_precision": args.mixed_precision,
               "xla": args.xla, "seed": args.seed}
    for field, value in (("epochs", args.epochs), ("input_size", args.size), ("batch_size", args.batch)):
        if value is not None:
            changes[field] = value
    config = dataclasses.replace(base, **changes)
    reset_gpu_memory()
    per_fold = []
    for fold in folds:
        result = train_fold(config, index, fold, home=home)
        test = result.predictions[result.predictions["split"] == "test"]
        # a network that diverged (e.g. random start, tiny batches) gives NaN: say so, no AUC
        not_finite = int((~np.isfinite(test["probability"].to_numpy(dtype=float))).sum())
        auc = float(roc_auc_score(test["label"], test["probability"])) \
            if test["label"].nunique() == 2 and not not_finite else float("nan")
        epoch_seconds = [float(h.get("epoch_seconds") or 0.0) for h in result.history]
        n_train = int(result.info.get("n_train", 0))
        trained = n_train * len(epoch_seconds)
        per_fold.append({"fold": fold, "seconds": round(result.seconds, 2), "epochs": len(epoch_seconds),
                         "train_images": n_train, "test_auc": auc, "non_finite_test_probabilities": not_finite,
                         "images_per_second": round(trained / sum(epoch_seconds), 1) if sum(epoch_seconds) else None,
                         "device": result.info.get("device")})
        common.log(args, f"  {name} fold {fold}: {result.seconds:.1f} s, {len(epoch_seconds)} epochs, "
                         f"{per_fold[-1]['images_per_second']} img/s, test AUC {auc:.3f}")
    rates = [f["images_per_second"] for f in per_fold if f["images_per_second"]]
    aucs = [f["test_auc"] for f in per_fold if f["test_auc"] == f["test_auc"]]
    return {
        "backbone": name, "weights": "imagenet file" if config.weights != "none" else "none",
        "input_size": config.resolved_input_size(), "batch": config.batch_size, "epochs_max": config.epochs,
        "device": per_fold[0]["device"] if per_fold else None,
        "images_per_second": round(statistics.median(rates), 1) if rates else None,
        "seconds_per_fold": round(statistics.fmean(f["seconds"] for f in per_fold), 2),
        "mean_test_auc": round(statistics.fmean(aucs), 4) if aucs else None,
        "gpu_memory_peak_mb": gpu_memory_peak_mb(),
        "folds": per_fold,
    }


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.folds < 1 or (args.epochs is not None and args.epochs < 1):
        raise SystemExit("--folds and --epochs must be >= 1")
    root = common.data_root(args)
    from glaucoma_core.data.index import scan_dataset

    available = common.fold_numbers(root)
    folds = available[: args.folds]
    tf_info = common.tf_info()
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-gpu-home-") as home:
        index = scan_dataset(root, home=home)
        for name in args.backbones:
            common.log(args, f"{name}: paper-{name} over {len(folds)} fold(s) on {tf_info['device']} ...")
            results.append(run_backbone(name, index, folds, args, home))
    by_name = {r["backbone"]: r for r in results}
    resnet = by_name.get("resnet50", {}).get("images_per_second")
    result = {
        "benchmark": "gpu_protocol",
        "baseline": REFERENCE,
        "ratio": round(resnet / REFERENCE_IMAGES_PER_SECOND, 6) if resnet else None,
        "ratios": {f"{r['backbone']}_vs_reference": round(r["images_per_second"] / REFERENCE_IMAGES_PER_SECOND, 6)
                   for r in results if r["images_per_second"]},
        "reference_images_per_second": REFERENCE_IMAGES_PER_SECOND,
        "backbones": results,
        "folds": len(folds),
        "gpu": bool(tf_info["gpus"]),
        "settings": {"data": str(root), "size_preset": args.size_preset, "epochs": args.epochs, "size": args.size,
                     "batch": args.batch, "mixed_precision": args.mixed_precision, "xla": args.xla},
        "machine": {**common.machine(), **tf_info},
    }
    lines = [f"GPU protocol: the paper's networks over {len(folds)} fold(s) on {tf_info['device']} "
             f"({'GPU: ' + ', '.join(tf_info['gpus']) if tf_info['gpus'] else 'no GPU: CPU figures'})"]
    for r in results:
        memory = f", GPU peak {r['gpu_memory_peak_mb']} MB" if r["gpu_memory_peak_mb"] is not None else ""
        lines.append(f"  {r['backbone']:<12} {r['input_size']} px, batch {r['batch']}, weights {r['weights']}: "
                     f"{r['images_per_second']} img/s, {r['seconds_per_fold']} s per fold, "
                     f"test AUC {r['mean_test_auc']}{memory} [{r['device']}]")
    lines.append(f"  reference: {REFERENCE}; ResNet50 ratio {result['ratio']}")
    lines.append(f"  load average: {result['machine'].get('load_average')}")
    common.emit(result, args.json, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
