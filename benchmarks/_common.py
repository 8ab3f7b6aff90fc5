"""Shared helpers of the benchmark scripts: arguments, timing, machine description, output.

Every script runs from the repository root as ``python benchmarks/<name>.py`` (this module puts
the repository root on ``sys.path``), prints a readable report, or with ``--json`` exactly one
JSON object whose ``ratio`` (or ``ratios``) field holds the headline comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SHARED_IMAGENET = REPO_ROOT.parent / "shared" / "imagenet"
MOBILENETV2_035 = SHARED_IMAGENET / "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5"


def parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the options every benchmark has: --data, --home, --json, --seed."""
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data", default=None,
                   help="dataset folder in the fold layout (fold_01/{train,valid,test}/{normal,abnormal}); "
                        "default: the demo dataset of --home (generated on first use)")
    p.add_argument("--home", default=None,
                   help="workbench home holding the demo dataset (default $GLAUCOMA_HOME, else models/)")
    p.add_argument("--size-preset", default=None,
                   help="use a generated dataset of photographs of this size instead of --data: demo-256 (the "
                        "demo dataset), full-field-2000, full-field-1600, disc-crop-800, scale-<size>-<N>; "
                        "generated once into the home's cache (see benchmarks/_datasets.py)")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the report")
    return p


def data_root(args) -> Path:
    """The dataset folder of ``args`` (--data, else --size-preset, else the demo dataset), as a Path."""
    from glaucoma_core.data.demo import resolve_data_root

    preset = getattr(args, "size_preset", None)
    if args.data and preset:
        raise SystemExit("give --data or --size-preset, not both")
    if preset and preset != "demo-256":
        try:
            from benchmarks import _datasets
        except ImportError:  # run as a script: benchmarks/ is on sys.path
            import _datasets
        return _datasets.ensure_preset(preset, home=args.home, seed=0, log=lambda m: log(args, m))
    return Path(resolve_data_root(args.data, home=args.home))


def fold_numbers(root: Path) -> list[int]:
    """The fold numbers of the fold folders under ``root``, ascending; SystemExit when none."""
    from glaucoma_core.labels import fold_number

    numbers = sorted(n for p in Path(root).iterdir() if p.is_dir() and (n := fold_number(p.name)) is not None)
    if not numbers:
        raise SystemExit(f"{root}: no fold_NN folders (the benchmark needs the fold layout)")
    return numbers


def fold_folder(root: Path, fold: int) -> Path:
    """The folder of fold ``fold`` under ``root`` (``fold_01``, ``Fold1``, ``1``... as the index reads them)."""
    from glaucoma_core.labels import fold_number

    for child in sorted(Path(root).iterdir()):
        if child.is_dir() and fold_number(child.name) == int(fold):
            return child
    raise SystemExit(f"{root}: no folder for fold {fold} (is it in the fold layout?)")


def split_folder(root: Path, fold: int, split: str) -> Path:
    """The ``split`` ('train', 'valid', 'test') folder of fold ``fold`` (any spelling the index accepts)."""
    from glaucoma_core.labels import split_from_name

    folder = fold_folder(root, fold)
    for child in sorted(folder.iterdir()):
        if child.is_dir() and split_from_name(child.name) == split:
            return child
    raise SystemExit(f"{folder}: no {split} folder")


def class_folders(folder: Path) -> list[str]:
    """Names of the [normal, glaucoma] class folders in ``folder``, for ``flow_from_directory(classes=...)``
    (so that index 1 is glaucoma whatever the alphabet says)."""
    from glaucoma_core.labels import label_from_class_name

    names = {0: None, 1: None}
    for child in sorted(Path(folder).iterdir()):
        label = label_from_class_name(child.name) if child.is_dir() else None
        if label in names and names[label] is None:
            names[label] = child.name
    if None in names.values():
        raise SystemExit(f"{folder}: needs a normal and a glaucoma class folder")
    return [names[0], names[1]]


def warm_os_cache(folder: Path) -> int:
    """Read every file under ``folder`` once, so neither contender pays for the disk; returns bytes read."""
    total = 0
    for path in sorted(Path(folder).rglob("*")):
        if path.is_file():
            total += len(path.read_bytes())
    return total


def machine() -> dict:
    """What the figures were measured on: CPU count, platform, load average, TF device."""
    info = {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }
    try:
        info["load_average"] = [round(v, 2) for v in os.getloadavg()]
    except OSError:
        pass
    return info


def tf_info() -> dict:
    """TensorFlow/Keras versions and the GPUs TensorFlow sees (imports TensorFlow)."""
    import keras
    import tensorflow as tf

    gpus = [d.name for d in tf.config.list_physical_devices("GPU")]
    return {"tensorflow": tf.__version__, "keras": keras.__version__, "gpus": gpus,
            "device": "GPU" if gpus else "CPU"}


def summary_ms(seconds: list[float]) -> dict:
    """Median, p95, mean, min and max of call durations, in milliseconds."""
    ms = sorted(s * 1000.0 for s in seconds)
    if not ms:
        return {"n": 0}
    p95 = ms[min(len(ms) - 1, int(round(0.95 * (len(ms) - 1))))]
    return {"n": len(ms), "median_ms": round(statistics.median(ms), 2), "p95_ms": round(p95, 2),
            "mean_ms": round(statistics.fmean(ms), 2), "min_ms": round(ms[0], 2), "max_ms": round(ms[-1], 2)}


class Timer:
    """``with Timer() as t: ...`` then ``t.seconds`` (wall) and ``t.cpu_seconds`` (this process's
    CPU time, all threads: on a shared machine it shows the work done, whatever the waiting)."""

    def __enter__(self) -> Timer:
        self.started = time.perf_counter()
        self.cpu_started = time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self.started
        self.cpu_seconds = time.process_time() - self.cpu_started


def ratio(baseline: float, ours: float) -> float | None:
    """baseline / ours rounded (how many times ours is better when both are durations)."""
    if not ours:
        return None
    return round(float(baseline) / float(ours), 2)


def emit(result: dict, as_json: bool, lines: list[str]) -> None:
    """Print ``result`` as one JSON object (``--json``), else the human-readable ``lines``."""
    if as_json:
        print(json.dumps(result, indent=2, sort_keys=False, default=_plain))
    else:
        print("\n".join(lines))


def _plain(value):
    try:
        return value.item()
    except AttributeError:
        return str(value)


def log(args, message: str) -> None:
    """Progress to stderr (keeps stdout clean for --json)."""
    print(message, file=sys.stderr, flush=True)
