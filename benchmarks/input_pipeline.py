"""Input pipeline: images per second delivered to the model, ours (tf.data) vs ImageDataGenerator.

Both contenders read the same fold folder (default ``fold_01/train`` of the demo dataset) and
deliver the same work to the model: each image decoded, resized to ``--size`` (Pillow,
bilinear, in both), preprocessed for the backbone and batched as float32 arrays with one-hot
labels. The backbone's preprocessing is applied by both with the same function,
``keras.applications.mobilenet_v2.preprocess_input`` (scale to -1..1): the baseline as its
``preprocessing_function``, ours as a ``map`` on the batches (our saved models do it inside the
graph instead, which is the same arithmetic).

- baseline: ``tf.keras.preprocessing.image.ImageDataGenerator(preprocessing_function=...)
  .flow_from_directory(folder, target_size, interpolation='bilinear', shuffle=True)``, one
  ``next()`` per batch, as ``model.fit`` pulls them;
- ours: as the trainer feeds a model: ``glaucoma_core.data.pipeline.load_images`` decodes the
  index rows of the same images once (parallel threads, reduced-scale JPEG decoding, fresh
  cache), then ``make_dataset(..., images=...)`` serves shuffled batches gathered from the
  decoded array (tf.data, prefetch). The decoding is part of the first (cold) epoch.

Epoch 1 is the cold epoch (including building the iterator / dataset); the warm figure is the
median of epochs 2..``--epochs``. The index scan our pipeline starts from (done once per
dataset and cached in the workbench home) is timed separately, and a cold ratio including it
is reported too. Every file is read once beforehand so the OS file cache is warm for both.

The machine's **decode limit** is measured on the same files first: the fastest way found to
turn them into ``--size`` px RGB arrays with all cores, and nothing else (no checks, no
batching): Pillow with ``draft`` (reduced-scale JPEG decoding, 1/2..1/8 in the decoder) and a
bilinear resize in a pool of one process per core, and ``tf.io.decode_jpeg(ratio=...)`` +
``tf.image.resize`` in a parallel ``tf.data`` map. The report says how close our cold epoch
gets to the faster of the two (``cold_vs_decode_limit``: our cold img/s / the limit's).

``--size-preset full-field-2000`` runs on generated full-field photographs (4-6 MP, camera
JPEG quality and EXIF; generated once into the home's cache); ``demo-256`` is the demo set.

    python benchmarks/input_pipeline.py
    python benchmarks/input_pipeline.py --size-preset full-field-2000 --json
    python benchmarks/input_pipeline.py --data /datasets/glaucoma --fold 3 --epochs 5 --batch 64
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
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
    p.add_argument("--fold", type=int, default=1, help="fold number (folder fold_NN)")
    p.add_argument("--split", default="train", choices=("train", "valid", "test"), help="split folder of the fold")
    p.add_argument("--size", type=int, default=224, help="image side delivered to the model, pixels")
    p.add_argument("--batch", type=int, default=32, help="batch size")
    p.add_argument("--epochs", type=int, default=3, help="epochs of each contender (epoch 1 = cold; >= 2)")
    p.add_argument("--decode-repeats", type=int, default=2,
                   help="passes over the files for each decode-limit method (the fastest pass counts)")
    return p


# ---- the decode limit ---------------------------------------------------------------------------


def _pillow_draft_decode(job: tuple[str, int]) -> int:
    """Decode one file to size x size RGB as fast as Pillow can: draft (reduced-scale DCT), resize."""
    import numpy as np
    from PIL import Image

    path, size = job
    with Image.open(path) as image:
        image.draft("RGB", (size, size))  # JPEG only: the decoder scales by 1/2..1/8, >= size
        array = np.asarray(image.convert("RGB").resize((size, size), Image.BILINEAR))
    return int(array.shape[0])


def _pillow_full_decode(job: tuple[str, int]) -> int:
    """Decode one file at full size, then resize (what ImageDataGenerator's load_img does)."""
    import numpy as np
    from PIL import Image

    path, size = job
    with Image.open(path) as image:
        array = np.asarray(image.convert("RGB").resize((size, size), Image.BILINEAR))
    return int(array.shape[0])


def pillow_pool_seconds(files: list[str], size: int, processes: int, repeats: int, draft: bool = True) -> float:
    """Fastest of ``repeats`` passes decoding ``files`` in a pool of ``processes`` forked processes."""
    worker = _pillow_draft_decode if draft else _pillow_full_decode
    jobs = [(f, size) for f in files]
    context = multiprocessing.get_context("fork")  # before TensorFlow is imported (see main)
    best = float("inf")
    with context.Pool(processes) as pool:
        pool.map(worker, jobs[: processes])  # start-up out of the timing
        for _ in range(repeats):
            started = time.perf_counter()
            pool.map(worker, jobs, chunksize=max(1, len(jobs) // (4 * processes)))
            best = min(best, time.perf_counter() - started)
    return best


def tf_decode_seconds(files: list[str], size: int, repeats: int) -> float:
    """Fastest of ``repeats`` passes of tf.io.decode_jpeg(ratio=...) + resize in a parallel tf.data map."""
    import tensorflow as tf
    from PIL import Image

    # the largest DCT scale ratio (1, 2, 4, 8) leaving both sides >= size, per file
    ratios = []
    for f in files:
        with Image.open(f) as image:
            short = min(image.size)
        ratio = 1
        while ratio < 8 and short // (ratio * 2) >= size:
            ratio *= 2
        ratios.append(ratio)

    def load(path, ratio):
        data = tf.io.read_file(path)
        image = tf.case([(tf.equal(ratio, r), lambda r=r: tf.io.decode_jpeg(data, channels=3, ratio=r,
                                                                            dct_method="INTEGER_FAST"))
                         for r in (1, 2, 4, 8)], exclusive=True)
        return tf.image.resize(image, (size, size), method="bilinear")

    dataset = tf.data.Dataset.from_tensor_slices((files, ratios)).map(load, num_parallel_calls=tf.data.AUTOTUNE)
    dataset = dataset.batch(64).prefetch(tf.data.AUTOTUNE)
    best = float("inf")
    for _ in range(max(1, repeats)):
        started = time.perf_counter()
        for _batch in dataset:
            pass
        best = min(best, time.perf_counter() - started)
    return best


def decode_limit(files: list[str], size: int, repeats: int) -> dict:
    """Images per second of the fastest decodes to ``size`` px (Pillow pools; TensorFlow below)."""
    processes = os.cpu_count() or 1
    n = len(files)
    draft = pillow_pool_seconds(files, size, processes, repeats, draft=True)
    full = pillow_pool_seconds(files, size, processes, repeats, draft=False)
    one = pillow_pool_seconds(files, size, 1, 1, draft=True)
    sizes = []
    from PIL import Image

    for f in files[:50]:
        with Image.open(f) as image:
            sizes.append(image.size[0] * image.size[1])
    return {
        "files": n, "processes": processes,
        "mean_megapixels": round(statistics.fmean(sizes) / 1e6, 2) if sizes else None,
        "mean_file_kb": round(statistics.fmean(Path(f).stat().st_size for f in files) / 1024, 1),
        "images_per_second": {
            f"pillow_draft_{processes}_processes": round(n / draft, 1),
            "pillow_draft_1_process": round(n / one, 1),
            f"pillow_full_decode_{processes}_processes": round(n / full, 1),
        },
    }


def baseline_epochs(folder, args, preprocess) -> tuple[list[float], list[float], int]:
    """Wall and CPU seconds of each epoch of flow_from_directory, images per epoch (the first
    epoch includes building the iterator)."""
    import tensorflow as tf

    times, cpu = [], []
    with common.Timer() as build:
        generator = tf.keras.preprocessing.image.ImageDataGenerator(preprocessing_function=preprocess)
        with contextlib.redirect_stdout(sys.stderr):  # it prints "Found N images"; stdout is for --json
            iterator = generator.flow_from_directory(
                str(folder), target_size=(args.size, args.size), batch_size=args.batch, class_mode="categorical",
                classes=common.class_folders(folder), shuffle=True, seed=args.seed, interpolation="bilinear",
            )
    n = 0
    for epoch in range(args.epochs):
        with common.Timer() as t:
            for _ in range(len(iterator)):
                x, y = next(iterator)
                if epoch == 0:
                    n += len(x)
        times.append(t.seconds + (build.seconds if epoch == 0 else 0.0))
        cpu.append(t.cpu_seconds + (build.cpu_seconds if epoch == 0 else 0.0))
    return times, cpu, n


def ours_epochs(frame, args, preprocess) -> tuple[list[float], list[float], int]:
    """Wall and CPU seconds of each epoch of our tf.data pipeline, images per epoch (the first
    epoch includes building the dataset)."""
    from glaucoma_core.data.pipeline import DecodedImageCache, load_images, make_dataset

    times, cpu = [], []
    n = 0
    with common.Timer() as build:
        # As the trainer does: decode every image once (parallel threads, fresh cache), then
        # serve batches from the decoded array.
        loaded = load_images(frame, args.size, cache=DecodedImageCache())
        dataset = make_dataset(loaded.frame, args.size, args.batch, shuffle=True, seed=args.seed,
                               images=loaded.images)
        dataset = dataset.map(lambda x, y: (preprocess(x), y))
    for epoch in range(args.epochs):
        with common.Timer() as t:
            for x, _ in dataset:
                if epoch == 0:
                    n += int(x.shape[0])
        times.append(t.seconds + (build.seconds if epoch == 0 else 0.0))
        cpu.append(t.cpu_seconds + (build.cpu_seconds if epoch == 0 else 0.0))
    return times, cpu, n


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.epochs < 2 or args.batch < 1 or args.size < 8:
        raise SystemExit("--epochs must be >= 2, --batch >= 1, --size >= 8")
    root = common.data_root(args)
    fold_dir = common.fold_folder(root, args.fold)
    folder = common.split_folder(root, args.fold, args.split)
    common.warm_os_cache(folder)
    files = sorted(str(f) for f in Path(folder).rglob("*") if f.suffix.lower() in (".jpg", ".jpeg", ".png"))
    common.log(args, f"decode limit: {len(files)} files of {folder}, {os.cpu_count()} processes ...")
    limit = decode_limit(files, args.size, args.decode_repeats)  # forks: before TensorFlow is imported

    import keras

    from glaucoma_core.data.index import scan_dataset, usable

    tf_info = common.tf_info()
    preprocess = keras.applications.mobilenet_v2.preprocess_input

    with tempfile.TemporaryDirectory(prefix="bench-input-") as home, common.Timer() as scan:
        index = scan_dataset(fold_dir, home=home)
    frame = usable(index)
    frame = frame[frame["split"] == args.split].reset_index(drop=True)
    jpeg_files = [f for f in files if f.lower().endswith((".jpg", ".jpeg"))]
    if jpeg_files:
        limit["images_per_second"]["tf_decode_jpeg_ratio"] = round(
            len(jpeg_files) / tf_decode_seconds(jpeg_files, args.size, args.decode_repeats), 1)
    limit_rate = max(limit["images_per_second"].values())
    limit["fastest"] = max(limit["images_per_second"], key=limit["images_per_second"].get)

    common.log(args, f"baseline: ImageDataGenerator over {folder} ...")
    base_times, base_cpu, base_n = baseline_epochs(folder, args, preprocess)
    common.log(args, f"ours: tf.data over {len(frame)} index rows ...")
    our_times, our_cpu, our_n = ours_epochs(frame, args, preprocess)
    if base_n != our_n:
        raise SystemExit(f"the contenders delivered {base_n} and {our_n} images: not the same work")

    base_cold, base_warm = base_times[0], statistics.median(base_times[1:])
    our_cold, our_warm = our_times[0], statistics.median(our_times[1:])
    rate = lambda seconds: round(our_n / seconds, 1)  # noqa: E731
    result = {
        "benchmark": "input_pipeline",
        "baseline": "tf.keras.preprocessing.image.ImageDataGenerator(preprocessing_function=preprocess_input)"
                    ".flow_from_directory(...)",
        "ratio": common.ratio(base_warm, our_warm),
        "ratios": {
            "cold": common.ratio(base_cold, our_cold),
            "warm": common.ratio(base_warm, our_warm),
            "cold_including_index_scan": common.ratio(base_cold, our_cold + scan.seconds),
            "cold_cpu": common.ratio(base_cpu[0], our_cpu[0]),
            "warm_cpu": common.ratio(statistics.median(base_cpu[1:]), statistics.median(our_cpu[1:])),
        },
        "images": our_n,
        "images_per_second": {
            "baseline_cold": rate(base_cold), "baseline_warm": rate(base_warm),
            "ours_cold": rate(our_cold), "ours_warm": rate(our_warm),
        },
        "epoch_seconds": {"baseline": [round(t, 3) for t in base_times], "ours": [round(t, 3) for t in our_times]},
        "epoch_cpu_seconds": {"baseline": [round(t, 3) for t in base_cpu], "ours": [round(t, 3) for t in our_cpu]},
        "index_scan_seconds": round(scan.seconds, 3),
        "decode_limit": limit,
        "settings": {"folder": str(folder), "size_preset": args.size_preset, "size": args.size, "batch": args.batch, "epochs": args.epochs,
                     "preprocessing": "keras.applications.mobilenet_v2.preprocess_input (both)"},
        "aims": {"cold_min": 3.0, "warm_min": 10.0},
        "machine": {**common.machine(), **tf_info},
    }
    result["aims_met"] = result["ratios"]["cold"] >= 3.0 and result["ratios"]["warm"] >= 10.0
    result["ratios"]["cold_vs_decode_limit"] = round(rate(our_cold) / limit_rate, 3)
    result["ratios"]["baseline_cold_vs_decode_limit"] = round(rate(base_cold) / limit_rate, 3)
    ips = result["images_per_second"]
    lines = [
        f"Input pipeline: {our_n} images of {folder} at {args.size} px, batch {args.batch}, on {tf_info['device']}",
        f"  baseline (ImageDataGenerator.flow_from_directory): cold {ips['baseline_cold']} img/s, "
        f"warm {ips['baseline_warm']} img/s",
        f"  ours (tf.data, decoded-image cache):               cold {ips['ours_cold']} img/s, "
        f"warm {ips['ours_warm']} img/s",
        f"  ratio cold {result['ratios']['cold']}x (aim >= 3), warm {result['ratios']['warm']}x (aim >= 10)",
        f"  CPU time ratios (work done, whatever the machine's load): cold {result['ratios']['cold_cpu']}x, "
        f"warm {result['ratios']['warm_cpu']}x",
        f"  index scan (once per dataset, cached): {scan.seconds:.2f} s; cold ratio including it "
        f"{result['ratios']['cold_including_index_scan']}x",
        f"  decode limit ({limit['files']} files, {limit['mean_megapixels']} MP, {limit['mean_file_kb']} kB): "
        + ", ".join(f"{k} {v} img/s" for k, v in limit["images_per_second"].items()),
        f"  our cold epoch reaches {result['ratios']['cold_vs_decode_limit']:.0%} of the fastest decode "
        f"({limit['fastest']}); the baseline {result['ratios']['baseline_cold_vs_decode_limit']:.0%}",
        f"  load average: {result['machine'].get('load_average')}",
    ]
    common.emit(result, args.json, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
