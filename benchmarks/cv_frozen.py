"""Frozen-backbone 10-fold cross-validation: our feature-cache path vs model.fit per fold.

The course project's protocol: an ImageNet-style backbone, frozen, a new head (global average
pooling, dropout 0.2, Dense(2) softmax), Adam 1e-3, batch 32, categorical cross-entropy,
``--epochs`` epochs, every fold of the dataset; the test AUC of each fold.

- baseline: as the course project did it, per fold: three
  ``ImageDataGenerator(preprocessing_function=mobilenet_v2.preprocess_input)
  .flow_from_directory`` iterators (train shuffled, valid, test), a ``keras.applications``
  MobileNetV2 with ``trainable = False`` under the new head, ``model.fit(train,
  validation_data=valid, epochs=N)``, ``model.predict(test)``. Every epoch decodes every image
  and runs it through the backbone again.
- ours: ``glaucoma_core.training.trainer.train_fold`` with the same network, head, optimiser,
  epochs, seed and stopping rule (``--patience``: early stopping on val_loss, best weights
  restored, on both sides; without it, final weights after ``--epochs``), from a fresh workbench
  home (cold scan cache, cold feature cache): the index is scanned once, the frozen backbone is
  built once per process, each image is decoded and run through it once (its features cached),
  and each fold only fits a head. The scan is included in our time.

Same images (the fold folders), same resizing (Pillow bilinear), same preprocessing, same seed.
The test AUCs of the two differ only by training noise (batch order, dropout masks); the
mean over folds must agree within 0.02.

Weights: ``--weights`` (default: the MobileNetV2 alpha 0.35 ImageNet file in
``../shared/imagenet/`` when it exists). Without it the backbone has random weights from
``--seed``, saved to a temporary file that both contenders load (the output says so).

    python benchmarks/cv_frozen.py                      # 2 CPU cores: 128 px, 5 epochs, 10 folds
    python benchmarks/cv_frozen.py --epochs 80 --patience 10 --baseline-folds 2 --json   # the protocol
    python benchmarks/cv_frozen.py --size 224 --epochs 80 --alpha 1.0 --weights /path/mnv2_1.0.h5
"""

from __future__ import annotations

import contextlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

try:
    from benchmarks import _common as common
except ImportError:  # run as a script: benchmarks/ is on sys.path
    import _common as common

def build_parser():
    p = common.parser(__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=128, help="input size in pixels")
    p.add_argument("--epochs", type=int, default=5, help="epochs per fold (the course project: 80)")
    p.add_argument("--folds", type=int, default=10, help="how many folds (the first N of the dataset)")
    p.add_argument("--batch", type=int, default=32, help="batch size")
    p.add_argument("--alpha", type=float, default=0.35, help="MobileNetV2 width multiplier")
    p.add_argument("--weights", default=None,
                   help="MobileNetV2 no-top weights file (default: ../shared/imagenet's alpha-0.35 file when "
                        "it exists and --alpha is 0.35; else random weights from --seed)")
    p.add_argument("--project-epochs", type=int, default=80,
                   help="also project both wall times to this many epochs from the measured per-epoch costs")
    p.add_argument("--skip-baseline", action="store_true", help="run ours only (no ratio)")
    p.add_argument("--patience", type=int, default=None,
                   help="early stopping on val_loss with this patience, best weights restored, on both sides "
                        "(the course project's protocol: 80 epochs with early stopping); default off")
    p.add_argument("--baseline-folds", type=int, default=None,
                   help="run the baseline on the first N folds only and count its time as N folds' mean x all "
                        "folds (its folds cost the same: same image counts); AUCs compared on those N folds")
    return p


# ---- weights --------------------------------------------------------------------------------


def resolve_weights(args, workdir: Path) -> tuple[str, str]:
    """(weights file path, description). Random weights are written to ``workdir``."""
    if args.weights:
        path = Path(args.weights).expanduser()
        if not path.is_file():
            raise SystemExit(f"{path}: weights file not found")
        return str(path), f"file {path.name}"
    if abs(args.alpha - 0.35) < 1e-9 and common.MOBILENETV2_035.is_file():
        return str(common.MOBILENETV2_035), f"ImageNet (local file {common.MOBILENETV2_035.name})"
    import keras

    keras.utils.set_random_seed(args.seed)
    model = keras.applications.MobileNetV2(include_top=False, weights=None, alpha=args.alpha,
                                           input_shape=(args.size, args.size, 3))
    path = workdir / f"mobilenetv2_random_seed{args.seed}.weights.h5"
    model.save_weights(str(path))
    keras.backend.clear_session()
    return str(path), f"RANDOM (no ImageNet file found; seeded with {args.seed}): AUCs near chance are expected"


# ---- the baseline ---------------------------------------------------------------------------


def baseline_fold(root: Path, fold: int, args, weights: str) -> dict:
    """One fold the course project's way; returns seconds, epoch seconds and the test AUC."""
    import keras
    import numpy as np
    import tensorflow as tf
    from sklearn.metrics import roc_auc_score

    started = time.perf_counter()
    keras.backend.clear_session()
    keras.utils.set_random_seed(args.seed)
    preprocess = keras.applications.mobilenet_v2.preprocess_input
    generator = tf.keras.preprocessing.image.ImageDataGenerator(preprocessing_function=preprocess)

    def flow(split, shuffle):
        folder = common.split_folder(root, fold, split)
        with contextlib.redirect_stdout(sys.stderr):  # it prints "Found N images"; stdout is for --json
            return generator.flow_from_directory(
                str(folder), target_size=(args.size, args.size), batch_size=args.batch,
                class_mode="categorical", classes=common.class_folders(folder), shuffle=shuffle, seed=args.seed,
                interpolation="bilinear",
            )

    train, valid, test = flow("train", True), flow("valid", False), flow("test", False)
    base = keras.applications.MobileNetV2(include_top=False, weights=weights, alpha=args.alpha,
                                          input_shape=(args.size, args.size, 3))
    base.trainable = False
    inputs = keras.Input((args.size, args.size, 3))
    x = base(inputs, training=False)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(0.2, seed=args.seed)(x)
    outputs = keras.layers.Dense(2, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy", metrics=["accuracy"])

    epoch_seconds: list[float] = []

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            epoch_seconds.append(time.perf_counter() - self.t)

    callbacks = [EpochTimer()]
    if args.patience is not None:
        callbacks.append(keras.callbacks.EarlyStopping(monitor="val_loss", patience=args.patience,
                                                       restore_best_weights=True))
    model.fit(train, validation_data=valid, epochs=args.epochs, callbacks=callbacks, verbose=0)
    probabilities = model.predict(test, verbose=0)[:, 1]
    labels = np.asarray(test.classes)
    auc = float(roc_auc_score(labels, probabilities)) if len(set(labels)) == 2 else float("nan")
    return {"seconds": time.perf_counter() - started, "epoch_seconds": epoch_seconds, "test_auc": auc}


# ---- where our time goes -----------------------------------------------------------------------

PROFILED = (  # (stage, module, class or None, function)
    ("decode", "glaucoma_core.training.trainer", None, "load_images"),
    ("build backbone (once per process)", "glaucoma_core.networks.classifier", None, "build_feature_extractor"),
    ("features (cache or compute)", "glaucoma_core.training.feature_cache", "FeatureCache", "features_of_rows"),
    ("head: compile/reset + fit", "glaucoma_core.training.trainer", None, "_train_head_on_features"),
    ("classifier = backbone + trained head", "glaucoma_core.training.frozen_backbone", None,
     "classifier_with_head"),
    ("export model", "glaucoma_core.training.trainer", None, "export_model"),
    ("predictions", "glaucoma_core.training.trainer", None, "_predictions"),
    ("clear_session", "keras.backend", None, "clear_session"),
)


class StageProfile:
    """Exclusive wall seconds per stage of train_fold: wraps the functions of PROFILED (a stage
    called inside another is subtracted from it); ``take()`` returns and resets the totals."""

    def __init__(self):
        import importlib

        self.totals: dict[str, float] = {}
        self._stack: list[float] = []
        self._undo = []
        for stage, module, cls, attr in PROFILED:
            owner = importlib.import_module(module)
            if cls:
                owner = getattr(owner, cls)
            original = getattr(owner, attr)
            setattr(owner, attr, self._wrap(stage, original))
            self._undo.append((owner, attr, original))

    def _wrap(self, stage, function):
        def timed(*args, **kwargs):
            self._stack.append(0.0)
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - started
                children = self._stack.pop()
                self.totals[stage] = self.totals.get(stage, 0.0) + elapsed - children
                if self._stack:
                    self._stack[-1] += elapsed
        return timed

    def take(self) -> dict[str, float]:
        out, self.totals = {k: round(v, 3) for k, v in self.totals.items()}, {}
        return out

    def close(self) -> None:
        for owner, attr, original in reversed(self._undo):
            setattr(owner, attr, original)


# ---- ours -----------------------------------------------------------------------------------


def our_config(args, weights: str):
    from glaucoma_core.config import TrainConfig

    return TrainConfig(
        backbone="mobilenetv2", backbone_options={"alpha": args.alpha}, input_size=args.size, weights=weights,
        trainable="head", head_pooling="avg", head_dropout=0.2, head_dense_units=0, optimizer="adam",
        learning_rate=1e-3, batch_size=args.batch, epochs=args.epochs, early_stopping=args.patience is not None,
        early_stopping_patience=args.patience or 10, early_stopping_monitor="val_loss",
        early_stopping_restore_best=args.patience is not None, loss="categorical_crossentropy", feature_cache=True,
        seed=args.seed,
        mixed_precision="off", xla="off",
    )


def run_ours(root: Path, folds: list[int], args, weights: str) -> dict:
    """All folds through train_fold from a fresh home; total seconds, per-fold details."""
    from sklearn.metrics import roc_auc_score

    from glaucoma_core.data import pipeline
    from glaucoma_core.data.index import scan_dataset
    from glaucoma_core.training import feature_cache
    from glaucoma_core.training.trainer import train_fold

    pipeline.IMAGE_CACHE.clear()
    feature_cache.clear_memory()
    config = our_config(args, weights)
    per_fold = []
    profile = StageProfile()
    with tempfile.TemporaryDirectory(prefix="bench-cv-home-") as home, common.Timer() as total:
        with common.Timer() as scan:
            index = scan_dataset(root, home=home)
        for fold in folds:
            result = train_fold(config, index, fold, home=home)
            stages = profile.take()
            stages["other (splits, checks, extractor, callbacks)"] = round(result.seconds - sum(stages.values()), 3)
            test = result.predictions[result.predictions["split"] == "test"]
            auc = float(roc_auc_score(test["label"], test["probability"])) if test["label"].nunique() == 2 \
                else float("nan")
            per_fold.append({
                "stages": stages,
                "fold": fold, "seconds": result.seconds, "test_auc": auc,
                "epoch_seconds": [float(h.get("epoch_seconds") or 0.0) for h in result.history],
                "features": result.info.get("feature_cache", {}),
            })
            common.log(args, f"  ours fold {fold}: {result.seconds:.1f} s, test AUC {auc:.3f}, "
                             f"features {per_fold[-1]['features'].get('computed')} computed")
    profile.close()
    return {"seconds": total.seconds, "cpu_seconds": total.cpu_seconds, "scan_seconds": scan.seconds,
            "folds": per_fold}


def stage_table(folds: list[dict]) -> dict:
    """{stage: {'fold_1': s, 'later_folds_median': s}} from the per-fold stage seconds."""
    names = list(dict.fromkeys(k for f in folds for k in f["stages"]))
    table = {}
    for name in names:
        later = [f["stages"].get(name, 0.0) for f in folds[1:]]
        table[name] = {"fold_1": folds[0]["stages"].get(name, 0.0),
                       "later_folds_median": round(statistics.median(later), 3) if later else None}
    return table


# ---- main -----------------------------------------------------------------------------------


def _mean(values):
    values = [v for v in values if v == v]
    return round(statistics.fmean(values), 4) if values else float("nan")


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.epochs < 1 or args.folds < 1 or args.batch < 1:
        raise SystemExit("--epochs, --folds and --batch must be >= 1")
    root = common.data_root(args)
    available = common.fold_numbers(root)
    folds = available[: args.folds]
    tf_info = common.tf_info()

    with tempfile.TemporaryDirectory(prefix="bench-cv-") as work:
        weights, weights_note = resolve_weights(args, Path(work))
        common.log(args, f"weights: {weights_note}")
        common.log(args, f"ours: train_fold x {len(folds)} folds ({args.epochs} epochs, {args.size} px) ...")
        ours = run_ours(root, folds, args, weights)
        base = None
        if not args.skip_baseline:
            base_run = folds[: args.baseline_folds] if args.baseline_folds else folds
            common.log(args, f"baseline: ImageDataGenerator + model.fit x {len(base_run)} folds ...")
            base_folds = []
            with common.Timer() as base_total:
                for fold in base_run:
                    fold_result = baseline_fold(root, fold, args, weights)
                    fold_result["fold"] = fold
                    base_folds.append(fold_result)
                    common.log(args, f"  baseline fold {fold}: {fold_result['seconds']:.1f} s, "
                                     f"test AUC {fold_result['test_auc']:.3f}")
            base = {"seconds": base_total.seconds, "cpu_seconds": base_total.cpu_seconds, "folds": base_folds}

    our_auc = _mean([f["test_auc"] for f in ours["folds"]])
    n_folds = len(folds)
    # per-epoch costs: the baseline's epochs repeat the backbone; ours repeat only the head
    our_epoch = statistics.median([s for f in ours["folds"] for s in f["epoch_seconds"]] or [0.0])
    our_fixed = ours["seconds"] - our_epoch * sum(len(f["epoch_seconds"]) for f in ours["folds"])
    result = {
        "benchmark": "cv_frozen",
        "baseline": "per fold: ImageDataGenerator.flow_from_directory + keras.applications.MobileNetV2 "
                    "(trainable=False) + new head, model.fit(epochs=N), model.predict(test)",
        "weights": weights_note,
        "folds": n_folds,
        "ours": {"seconds": round(ours["seconds"], 2), "cpu_seconds": round(ours["cpu_seconds"], 2),
                 "index_scan_seconds": round(ours["scan_seconds"], 2), "mean_test_auc": our_auc,
                 "stage_seconds_per_fold": stage_table(ours["folds"]), "per_fold": ours["folds"]},
        "settings": {"size": args.size, "epochs": args.epochs, "batch": args.batch, "alpha": args.alpha,
                     "seed": args.seed, "data": str(root)},
        "machine": {**common.machine(), **tf_info},
    }
    lines = [f"Frozen-backbone cross-validation: MobileNetV2 alpha {args.alpha} at {args.size} px, "
             f"{args.epochs} epochs, {n_folds} folds, on {tf_info['device']}; weights: {weights_note}",
             f"  ours (train_fold, feature cache):   {ours['seconds']:.1f} s, mean test AUC {our_auc:.4f}",
             "  where our time goes per fold (exclusive seconds: fold 1 | median of later folds):"]
    for stage, row in result["ours"]["stage_seconds_per_fold"].items():
        lines.append(f"    {stage:<46} {row['fold_1']:>7.3f} | {row['later_folds_median']}")
    if base is not None:
        # a baseline run on fewer folds counts as its mean fold x all folds (same image counts)
        base_share = n_folds / len(base["folds"])
        base_seconds, base_cpu = base["seconds"] * base_share, base["cpu_seconds"] * base_share
        compared = {f["fold"] for f in base["folds"]}
        base_auc = _mean([f["test_auc"] for f in base["folds"]])
        our_auc_compared = _mean([f["test_auc"] for f in ours["folds"] if f["fold"] in compared])
        base_epoch = statistics.median([s for f in base["folds"] for s in f["epoch_seconds"]])
        base_fixed = base_seconds - base_epoch * sum(len(f["epoch_seconds"]) for f in base["folds"]) * base_share
        projected = args.project_epochs
        base_projected = base_fixed + base_epoch * projected * n_folds
        our_projected = our_fixed + our_epoch * projected * n_folds
        ratio = common.ratio(base_seconds, ours["seconds"])
        result.update({
            "ratio": ratio,
            "baseline_folds_run": sorted(compared),
            "ratios": {"wall_time": ratio, "cpu_time": common.ratio(base_cpu, ours["cpu_seconds"]),
                       f"projected_{projected}_epochs": common.ratio(base_projected, our_projected)},
            "baseline_result": {"seconds": round(base_seconds, 2), "cpu_seconds": round(base_cpu, 2),
                                "measured_seconds": round(base["seconds"], 2),
                                "mean_test_auc": base_auc, "per_fold": base["folds"]},
            "auc_difference": round(abs(our_auc_compared - base_auc), 4),
            "auc_compared_on_folds": sorted(compared),
            "per_epoch_seconds": {"baseline": round(base_epoch, 4), "ours": round(our_epoch, 4)},
            "projection": {"epochs": projected, "baseline_seconds": round(base_projected, 1),
                           "ours_seconds": round(our_projected, 1),
                           "how": "measured fixed cost + median epoch time x epochs x folds, for each"},
            "aims": {"ratio_min": 30.0, "auc_difference_max": 0.02},
        })
        result["aims_met"] = ratio >= 30.0 and result["auc_difference"] <= 0.02
        lines += [
            f"  baseline (flow_from_directory + fit): {base_seconds:.1f} s"
            + (f" ({len(compared)} of {n_folds} folds run: {base['seconds']:.1f} s, x {base_share:.1f})"
               if base_share != 1 else "")
            + f", mean test AUC {base_auc:.4f} (ours on the same folds {our_auc_compared:.4f})",
            f"  ratio {ratio}x (aim >= 30); CPU-time ratio {result['ratios']['cpu_time']}x; "
            f"AUC difference {result['auc_difference']} (aim <= 0.02)",
            f"  per epoch: baseline {base_epoch:.2f} s, ours {our_epoch * 1000:.0f} ms; fixed per run: baseline "
            f"{base_fixed:.1f} s, ours {our_fixed:.1f} s",
            f"  projected to {projected} epochs: baseline {base_projected:.0f} s, ours {our_projected:.0f} s "
            f"-> {result['ratios'][f'projected_{projected}_epochs']}x",
        ]
    lines.append(f"  load average: {result['machine'].get('load_average')}")
    common.emit(result, args.json, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
