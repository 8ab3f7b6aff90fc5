"""A head-only study on one frozen backbone: one study process vs the same trials as `cv` commands.

The same N configurations of the ``cpu-transfer-head`` study (MobileNetV2 alpha 0.35 frozen,
only the head differs: learning rate, dropout, dense units, batch size), over the same folds:

- ours: one ``python -m glaucoma_core study run --preset cpu-transfer-head --sampler random
  --pruner none`` process in a fresh home: the dataset is scanned once, the backbone features
  are computed once (first fold of the first trial) and every later fold of every trial only
  fits a head on them (no pruning, so ours does every fold the baseline does);
- baseline: what a user does without studies: one ``python -m glaucoma_core cv --preset
  cpu-transfer --set <the trial's values>`` command per trial, each in its own fresh home
  (``independent``: nothing shared, as on separate machines or with separate homes); with
  ``--shared-home`` a second baseline runs the same commands one after another in one home,
  where later commands reuse the first one's features from the disk cache but still pay a
  process start, a TensorFlow import, a scan and the image decoding each.

Both sides train the same configurations with the same seed, so their mean validation AUCs per
trial must agree (``max_valid_auc_difference``, training noise only). Both wall times include
process start-up.

    python benchmarks/study_feature_sharing.py --json              # 6 trials, 3 folds, 10 epochs
    python benchmarks/study_feature_sharing.py --trials 20 --folds 10 --epochs 20 --shared-home
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
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
    p.add_argument("--trials", type=int, default=6, help="configurations (trials)")
    p.add_argument("--folds", type=int, default=3, help="how many folds (the first N of the dataset)")
    p.add_argument("--epochs", type=int, default=10, help="epochs per fold (early stopping as the preset)")
    p.add_argument("--weights", default=None,
                   help="MobileNetV2 alpha 0.35 no-top weights file (default: ../shared/imagenet's when it "
                        "exists; else weights=none with a trainable backbone is refused, so give one)")
    p.add_argument("--shared-home", action="store_true",
                   help="also time the cv commands run one after another in one home (disk feature cache shared)")
    p.add_argument("--skip-baseline", action="store_true", help="run ours only (no ratio)")
    return p


CPU_SECONDS: list[float] = []  # CPU time (user + system) of each command, in call order


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _cli(home: Path, *arguments: str) -> tuple[float, dict]:
    """(wall seconds, JSON output) of one CLI command; its CPU time is appended to CPU_SECONDS
    (on a shared machine the CPU time shows the work done, whatever the waiting)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [sys.executable, "-m", "glaucoma_core", "--home", str(home), *arguments, "--json"]
    cpu, started = _children_cpu(), time.perf_counter()
    done = subprocess.run(command, cwd=common.REPO_ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    CPU_SECONDS.append(_children_cpu() - cpu)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(arguments[:2])} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return seconds, json.loads(done.stdout)


def _mean_valid_auc(store_home: Path, experiment_ref: str) -> float | None:
    from glaucoma_core.studies.selection import per_fold
    from glaucoma_core.workbench import Workbench

    bench = Workbench(store_home, read_only=True)
    values = list(per_fold(bench.predictions(experiment_ref), "auc", "valid").values())
    return sum(values) / len(values) if values else None


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.trials < 1 or args.folds < 1 or args.epochs < 1:
        raise SystemExit("--trials, --folds and --epochs must be >= 1")
    root = common.data_root(args)
    available = common.fold_numbers(root)
    folds = ",".join(map(str, available[: args.folds]))
    weights = args.weights or (str(common.MOBILENETV2_035) if common.MOBILENETV2_035.is_file() else None)
    if weights is None:
        raise SystemExit("give --weights (the MobileNetV2 alpha 0.35 no-top file): a frozen backbone needs weights")
    settings = ["--set", f"weights={weights}", "--set", f"epochs={args.epochs}"]
    with tempfile.TemporaryDirectory(prefix="bench-study-") as work:
        work = Path(work)
        common.log(args, f"ours: one study process, {args.trials} trials x folds {folds} ...")
        our_seconds, report = _cli(work / "ours", "study", "run", "--preset", "cpu-transfer-head", "--data",
                                   str(root), *settings, "--folds", folds, "--trials", str(args.trials),
                                   "--sampler", "random", "--pruner", "none", "--seed", str(args.seed))
        trials = report["trials"]
        result = {
            "benchmark": "study_feature_sharing",
            "baseline": "one `python -m glaucoma_core cv --preset cpu-transfer --set <trial values>` per trial, "
                        "each in a fresh home (independent)",
            "trials": len(trials), "folds": folds, "epochs": args.epochs, "weights": Path(weights).name,
            "ours": {"seconds": round(our_seconds, 2), "cpu_seconds": round(CPU_SECONDS[-1], 2),
                     "selected": report["selected"],
                     "per_trial_valid_auc": [t["valid"]["auc"]["mean"] for t in trials]},
            "machine": {**common.machine(), **common.tf_info()},
        }
        lines = [f"Head-only study, {len(trials)} trials x folds {folds}, {args.epochs} epochs, MobileNetV2 0.35 "
                 f"frozen at 224 px",
                 f"  ours (one study process):            {our_seconds:8.1f} s ({CPU_SECONDS[-1]:.1f} s CPU)"]
        if not args.skip_baseline:
            modes = ["independent"] + (["shared_home"] if args.shared_home else [])
            ratios, baselines = {}, {}
            our_cpu = CPU_SECONDS[-1]
            for mode in modes:
                total, cpu_total, diffs = 0.0, 0.0, []
                for trial in trials:
                    home = work / mode / (str(trial["id"]) if mode == "independent" else "home")
                    params = [x for k, v in trial["params"].items() for x in ("--set", f"{k}={v}")]
                    seconds, cv = _cli(home, "cv", "--preset", "cpu-transfer", "--data", str(root), *settings,
                                       "--set", "early_stopping_patience=5", *params, "--folds", folds)
                    total += seconds
                    cpu_total += CPU_SECONDS[-1]
                    theirs = _mean_valid_auc(home, cv["experiment"])
                    if theirs is not None and trial["valid"]["auc"]["mean"] is not None:
                        diffs.append(abs(theirs - trial["valid"]["auc"]["mean"]))
                    common.log(args, f"  baseline {mode} trial {trial['id']}: {seconds:.1f} s")
                ratios[mode] = common.ratio(total, our_seconds)
                ratios[f"{mode}_cpu_time"] = common.ratio(cpu_total, our_cpu)
                baselines[mode] = {"seconds": round(total, 2), "cpu_seconds": round(cpu_total, 2),
                                   "max_valid_auc_difference": round(max(diffs), 4) if diffs else None}
                lines.append(f"  baseline {mode + ' cv commands:':<26} {total:8.1f} s  -> {ratios[mode]}x wall, "
                             f"{ratios[f'{mode}_cpu_time']}x CPU time "
                             f"(max valid AUC difference {baselines[mode]['max_valid_auc_difference']})")
            result.update({"ratio": ratios["independent"], "ratios": ratios, "baseline_result": baselines})
    common.emit(result, args.json, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
