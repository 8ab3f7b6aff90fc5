"""Single-image classification latency, as the Classify page does it, with and without Grad-CAM.

A MobileNetV2 classifier (224 px by default) built by ``networks.classifier.build_classifier``
is saved into a temporary run store and loaded back with ``RunStore.load_model`` (safe mode),
as the app loads a trained run; that load is timed on its own. Then, after ``--warmup`` calls,
``--calls`` times over the bytes of one uploaded JPEG:

- ours: the Classify page's path: ``data.uploads.check_upload`` (decode, checks, RGB) ->
  Pillow bilinear resize to the model's size -> ``training.predict.predict_probabilities``
  (Keras' compiled, cached predict function: ``model.predict_on_batch``);
- for reference, the same with an eager ``model(x, training=False)`` call instead;
- ours + Grad-CAM: the same, then ``evaluation.gradcam.gradcam_overlay`` of the image;
- baseline: the same decode and resize, then ``model.predict(x)`` on the one image, the
  call Keras tutorials use (it builds a data adapter and a one-step prediction loop each time).

Median and p95 of each; the ratio is baseline median / ours median. Batch throughput: images
per second of ``predict_probabilities`` on ``--batch`` images at once, against the baseline's
one-``model.predict``-per-image rate.

Weights do not change the arithmetic, so the default model is MobileNetV2 with random weights
(seeded); ``--weights`` takes a weights file.

    python benchmarks/predict_latency.py                    # alpha 1.0, 224 px, CPU
    python benchmarks/predict_latency.py --alpha 0.35 --calls 500 --batch 256
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

try:
    from benchmarks import _common as common
except ImportError:  # run as a script: benchmarks/ is on sys.path
    import _common as common


def build_parser():
    p = common.parser(__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=224, help="model input size in pixels")
    p.add_argument("--alpha", type=float, default=1.0, help="MobileNetV2 width multiplier")
    p.add_argument("--weights", default="none", help="'none' (random, seeded) or a MobileNetV2 weights file")
    p.add_argument("--image", default=None,
                   help="the uploaded image file (default: the first test image of fold 1 of the dataset)")
    p.add_argument("--warmup", type=int, default=5, help="untimed calls before timing")
    p.add_argument("--calls", type=int, default=50, help="timed calls of each path")
    p.add_argument("--gradcam-calls", type=int, default=20, help="timed calls with Grad-CAM")
    p.add_argument("--batch", type=int, default=64, help="images in the batch-throughput test")
    return p


def default_image(args) -> Path:
    root = common.data_root(args)
    folder = common.split_folder(root, 1, "test")
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    if not files:
        raise SystemExit(f"{folder}: no images")
    return files[0]


def time_calls(fn, warmup: int, calls: int, cpu: list | None = None) -> list[float]:
    """Wall seconds of ``calls`` calls of ``fn`` after ``warmup`` untimed ones (CPU seconds into ``cpu``)."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(calls):
        started, cpu_started = time.perf_counter(), time.process_time()
        fn()
        out.append(time.perf_counter() - started)
        if cpu is not None:
            cpu.append(time.process_time() - cpu_started)
    return out


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.calls < 1 or args.batch < 1 or args.warmup < 0:
        raise SystemExit("--calls and --batch must be >= 1, --warmup >= 0")
    image_path = Path(args.image) if args.image else default_image(args)
    upload = image_path.read_bytes()

    import keras
    from PIL import Image

    from glaucoma_core.config import TrainConfig
    from glaucoma_core.data.uploads import check_upload
    from glaucoma_core.evaluation.gradcam import gradcam_overlay
    from glaucoma_core.networks.classifier import build_classifier
    from glaucoma_core.store.run_store import RunStore
    from glaucoma_core.training.predict import model_input_size, predict_probabilities

    tf = common.tf_info()
    config = TrainConfig(backbone="mobilenetv2", backbone_options={"alpha": args.alpha}, input_size=args.size,
                         weights=args.weights, trainable="head", seed=args.seed)
    keras.utils.set_random_seed(args.seed)
    with tempfile.TemporaryDirectory(prefix="bench-predict-") as home:
        store = RunStore(home)
        run_id = store.create_run(None, 1, config.to_dict(), None)
        with common.Timer() as built:
            store.save_model(run_id, build_classifier(config))
        keras.backend.clear_session()
        with common.Timer() as loading:
            model = store.load_model(run_id)
        model_bytes = store.model_path(run_id).stat().st_size
        size = model_input_size(model)

        def prepare():
            check = check_upload(upload, image_path.name)
            if not check.ok:
                raise SystemExit(f"{image_path}: {check.error}")
            resized = Image.fromarray(check.image).resize((size, size), Image.Resampling.BILINEAR)
            return np.asarray(resized)[None]

        def ours():
            return predict_probabilities(model, prepare())

        def ours_gradcam():
            batch = prepare()
            probability = predict_probabilities(model, batch)
            gradcam_overlay(model, batch[0])
            return probability

        def eager():
            return np.asarray(model(prepare().astype(np.float32), training=False))[:, 1]

        def baseline():
            return model.predict(prepare().astype(np.float32), verbose=0)[:, 1]

        with common.Timer() as first:
            ours()
        ours_cpu, baseline_cpu = [], []
        prepare_times = time_calls(prepare, args.warmup, args.calls)
        ours_times = time_calls(ours, args.warmup, args.calls, ours_cpu)
        baseline_times = time_calls(baseline, args.warmup, args.calls, baseline_cpu)
        eager_times = time_calls(eager, args.warmup, args.calls)
        gradcam_times = time_calls(ours_gradcam, min(args.warmup, 2),
                                   args.gradcam_calls)
        if not np.allclose(ours(), baseline(), atol=1e-4):
            raise SystemExit("ours and the baseline disagree on P(glaucoma): the benchmark is broken")

        images = np.repeat(prepare(), args.batch, axis=0)
        predict_probabilities(model, images)  # warm-up of the batched path
        with common.Timer() as batched:
            predict_probabilities(model, images)
        store.close()

    o, b, g, p, e = (common.summary_ms(t) for t in (ours_times, baseline_times, gradcam_times, prepare_times,
                                                    eager_times))
    oc, bc = common.summary_ms(ours_cpu), common.summary_ms(baseline_cpu)
    batch_rate = args.batch / batched.seconds
    baseline_rate = 1000.0 / b["median_ms"]
    result = {
        "benchmark": "predict_latency",
        "baseline": "same decode + resize, then model.predict(x) on one image per call",
        "ratio": common.ratio(b["median_ms"], o["median_ms"]),
        "ratios": {
            "single_image_median": common.ratio(b["median_ms"], o["median_ms"]),
            "batch_throughput": round(batch_rate / baseline_rate, 2),
        },
        "ours_ms": o,
        "ours_with_gradcam_ms": g,
        "baseline_ms": b,
        "eager_call_ms": e,
        "cpu_ms": {"ours": oc, "baseline": bc},
        "decode_and_resize_ms": p,
        "first_call_ms": round(first.seconds * 1000, 1),
        "model_load_seconds": round(loading.seconds, 3),
        "model_build_and_save_seconds": round(built.seconds, 3),
        "model_file_mb": round(model_bytes / 1e6, 2),
        "batch": {"images": args.batch, "seconds": round(batched.seconds, 3),
                  "images_per_second": round(batch_rate, 1),
                  "baseline_images_per_second": round(baseline_rate, 1)},
        "image": {"path": str(image_path), "bytes": len(upload)},
        "model": {"backbone": "mobilenetv2", "alpha": args.alpha, "size": size, "weights": args.weights,
                  "parameters": int(model.count_params())},
        "aims": {"single_image_median_ms_max": 150},
        "aims_met": o["median_ms"] < 150,
        "machine": {**common.machine(), **tf},
    }
    lines = [
        f"Single-image classification: MobileNetV2 alpha {args.alpha} at {size} px on {tf['device']} "
        f"({args.calls} timed calls after {args.warmup} warm-up; image {image_path.name}, {len(upload)} bytes)",
        f"  model load (RunStore.load_model, safe mode): {loading.seconds:.2f} s ({result['model_file_mb']} MB); "
        f"first call {result['first_call_ms']} ms",
        f"  decode + resize alone:            median {p['median_ms']} ms, p95 {p['p95_ms']} ms",
        f"  ours (predict_probabilities):     median {o['median_ms']} ms, p95 {o['p95_ms']} ms  (aim < 150 ms; "
        f"CPU {oc['median_ms']} ms)",
        f"  eager model(x, training=False):   median {e['median_ms']} ms, p95 {e['p95_ms']} ms",
        f"  ours + Grad-CAM overlay:          median {g['median_ms']} ms, p95 {g['p95_ms']} ms",
        f"  baseline (model.predict per image): median {b['median_ms']} ms, p95 {b['p95_ms']} ms "
        f"(CPU {bc['median_ms']} ms)",
        f"  ratio (baseline / ours, median):  {result['ratio']}x",
        f"  batch of {args.batch}: {batch_rate:.1f} images/s vs baseline {baseline_rate:.1f} images/s "
        f"({result['ratios']['batch_throughput']}x)",
        f"  load average: {result['machine'].get('load_average')}",
    ]
    common.emit(result, args.json, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
