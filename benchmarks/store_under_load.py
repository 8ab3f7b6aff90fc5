"""Run store under load: one training writer against 20 readers polling as the live page does.

The writer is a separate process that behaves like a cross-validation job, accelerated: for
each of ``--runs`` runs (folds) it marks the run running, then for each of ``--epochs`` epochs
"trains" (sleeps ``--epoch-seconds``) and records the epoch's metrics (``add_epoch``), while a
heartbeat thread writes every ``--heartbeat-seconds`` (the real job: every 5 s); at the end of
a run it saves ``--predictions`` per-image predictions and final metrics and finishes the run.

Readers poll like the live-curve view (``app_pages/_components/live.py``): ``runs()`` then
``epochs(run_ids)`` of the experiment's runs, every ``--poll-seconds`` (the app: every 2 s).
By default they are threads of one process, as Streamlit serves each browser session from a
thread of one server process; ``--reader-processes`` makes each reader its own process.

The writer runs twice on fresh stores, alone (the baseline) and with the readers. Reported:
the writer's wall time both ways and their ratio (the slowdown; aim <= 1.10), the median and
p95 latency of its write calls both ways, reads per second, and every read or write error,
counting 'database is locked' separately (aim: 0).

    python benchmarks/store_under_load.py            # 20 reader threads, ~30 s
    python benchmarks/store_under_load.py --readers 50 --reader-processes --poll-seconds 0.2
"""

from __future__ import annotations

import multiprocessing as mp
import sqlite3
import sys
import tempfile
import threading
import time

try:
    from benchmarks import _common as common
except ImportError:  # run as a script: benchmarks/ is on sys.path
    import _common as common

METRICS = ("loss", "accuracy", "auc", "sensitivity", "specificity", "f1", "val_loss", "val_accuracy",
           "val_auc", "val_sensitivity", "val_specificity", "val_f1", "lr", "epoch_seconds",
           "images_per_second")


def build_parser():
    p = common.parser(__doc__.split("\n\n")[0])
    p.add_argument("--readers", type=int, default=20, help="concurrent readers")
    p.add_argument("--reader-processes", action="store_true", help="one process per reader (default: threads)")
    p.add_argument("--poll-seconds", type=float, default=0.5,
                   help="each reader's polling interval (the live page polls every 2 s)")
    p.add_argument("--runs", type=int, default=10, help="runs (folds) the writer trains in turn")
    p.add_argument("--epochs", type=int, default=20, help="epochs per run")
    p.add_argument("--epoch-seconds", type=float, default=0.1, help="simulated training time per epoch")
    p.add_argument("--heartbeat-seconds", type=float, default=0.2, help="heartbeat interval while training")
    p.add_argument("--predictions", type=int, default=400, help="per-image predictions saved per run")
    return p


# ---- the writer ------------------------------------------------------------------------------


def _error_kind(exc: BaseException) -> str:
    return "locked" if "locked" in str(exc).lower() else type(exc).__name__


def writer_process(home: str, experiment_id: int, run_ids: list, settings: dict, ready, go, out) -> None:
    """Body of the writer process; puts its statistics on ``out``."""
    import numpy as np
    import pandas as pd

    from glaucoma_core.store.run_store import RunStore

    store = RunStore(home)
    latencies: list[float] = []
    errors: dict[str, int] = {}
    lock = threading.Lock()

    def timed(call, *a, **k):
        started = time.perf_counter()
        try:
            call(*a, **k)
        except (sqlite3.Error, OSError) as exc:
            with lock:
                errors[_error_kind(exc)] = errors.get(_error_kind(exc), 0) + 1
        finally:
            with lock:
                latencies.append(time.perf_counter() - started)

    rng = np.random.default_rng(0)
    ready.set()
    go.wait()
    started = time.perf_counter()
    for fold, run_id in enumerate(run_ids, start=1):
        timed(store.mark_running, run_id)
        stop = threading.Event()

        def beat(run_id=run_id, stop=stop):
            while not stop.wait(settings["heartbeat_seconds"]):
                timed(store.heartbeat, run_id)
            store.close()

        beater = threading.Thread(target=beat, daemon=True)
        beater.start()
        for epoch in range(1, settings["epochs"] + 1):
            time.sleep(settings["epoch_seconds"])  # the "training"
            metrics = {name: float(rng.random()) for name in METRICS}
            timed(store.add_epoch, run_id, epoch, metrics)
        stop.set()
        beater.join()
        n = settings["predictions"]
        predictions = pd.DataFrame({
            "split": ["valid"] * (n // 2) + ["test"] * (n - n // 2),
            "path": [f"/data/fold_{fold:02d}/img_{i:05d}.jpg" for i in range(n)],
            "sha256": [f"{i:064x}" for i in range(n)],
            "label": rng.integers(0, 2, n),
            "probability": rng.random(n),
        })
        timed(store.save_predictions, run_id, predictions)
        timed(store.save_final_metrics, run_id, "test", {"auc": 0.9, "sensitivity": 0.8, "specificity": 0.85})
        timed(store.finish_run, run_id, "finished", best_epoch=settings["epochs"], seconds=1.0)
    seconds = time.perf_counter() - started
    out.put({"seconds": seconds, "latencies": latencies, "errors": errors})


# ---- the readers -----------------------------------------------------------------------------


def read_loop(home: str, experiment_id: int, poll_seconds: float, stop, counts, index: int) -> None:
    """Poll like the live page until ``stop`` is set; counts[index] = [reads, locked, other errors]."""
    from glaucoma_core.store.run_store import RunStore

    store = RunStore(home)
    reads = locked = other = 0
    # stagger the readers over one interval, as browser sessions are
    time.sleep(poll_seconds * (index % 20) / 20.0)
    while not stop.is_set():
        began = time.perf_counter()
        try:
            runs = store.runs(experiment_id=experiment_id)
            store.epochs([int(r) for r in runs["id"]])
            reads += 1
        except (sqlite3.Error, OSError) as exc:
            if "locked" in str(exc).lower():
                locked += 1
            else:
                other += 1
        counts[index] = [reads, locked, other]
        stop.wait(max(0.0, poll_seconds - (time.perf_counter() - began)))
    store.close()
    counts[index] = [reads, locked, other]


# ---- one phase -------------------------------------------------------------------------------


def phase(args, n_readers: int) -> dict:
    """One writer on a fresh store with ``n_readers`` polling readers; the writer's statistics."""
    from glaucoma_core.store.run_store import RunStore

    ctx = mp.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="bench-store-") as home:
        store = RunStore(home)
        experiment_id = store.create_experiment("bench", {"epochs": args.epochs}, "/data", "x",
                                                range(1, args.runs + 1))
        run_ids = [store.create_run(experiment_id, fold, {"epochs": args.epochs}, "/data")
                   for fold in range(1, args.runs + 1)]
        store.close()
        settings = {"epochs": args.epochs, "epoch_seconds": args.epoch_seconds,
                    "heartbeat_seconds": args.heartbeat_seconds, "predictions": args.predictions}
        ready, go, out = ctx.Event(), ctx.Event(), ctx.Queue()
        writer = ctx.Process(target=writer_process, args=(home, experiment_id, run_ids, settings, ready, go, out))
        writer.start()

        readers = []
        if args.reader_processes:
            stop = ctx.Event()
            manager = ctx.Manager()  # kept referenced: its list lives in the manager's process
            counts = manager.list([[0, 0, 0]] * n_readers)
            for i in range(n_readers):
                proc = ctx.Process(target=read_loop,
                                   args=(home, experiment_id, args.poll_seconds, stop, counts, i))
                proc.start()
                readers.append(proc)
        else:
            stop = threading.Event()
            counts = [[0, 0, 0] for _ in range(n_readers)]
            for i in range(n_readers):
                thread = threading.Thread(target=read_loop,
                                          args=(home, experiment_id, args.poll_seconds, stop, counts, i),
                                          daemon=True)
                thread.start()
                readers.append(thread)
        # let every reader connect and poll once before the writer starts
        deadline = time.time() + 60
        while n_readers and time.time() < deadline and min(c[0] for c in list(counts)) < 1:
            time.sleep(0.05)
        ready.wait(120)  # the writer has imported everything and opened the store
        reads_before = sum(c[0] for c in list(counts))
        go.set()
        read_started = time.perf_counter()
        stats = out.get()
        read_seconds = time.perf_counter() - read_started
        reads = sum(c[0] for c in list(counts)) - reads_before
        writer.join()
        stop.set()
        for reader in readers:
            reader.join(timeout=30)
        final = [list(c) for c in counts]
        lat = common.summary_ms(stats["latencies"])
        return {
            "readers": n_readers,
            "writer_seconds": round(stats["seconds"], 3),
            "writer_calls": lat["n"],
            "write_latency": lat,
            "writer_errors": stats["errors"],
            "reads": reads,
            "reads_per_second": round(reads / read_seconds, 1) if n_readers else 0.0,
            "reader_locked_errors": sum(c[1] for c in final),
            "reader_other_errors": sum(c[2] for c in final),
        }


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.readers < 0 or args.runs < 1 or args.epochs < 1:
        raise SystemExit("--readers must be >= 0, --runs and --epochs >= 1")
    common.log(args, f"writer alone: {args.runs} runs x {args.epochs} epochs ...")
    alone = phase(args, 0)
    common.log(args, f"writer with {args.readers} {'process' if args.reader_processes else 'thread'} readers ...")
    loaded = phase(args, args.readers)
    slowdown = round(loaded["writer_seconds"] / alone["writer_seconds"], 3)
    latency_ratio = common.ratio(loaded["write_latency"]["median_ms"], alone["write_latency"]["median_ms"])
    locked = (loaded["reader_locked_errors"] + loaded["writer_errors"].get("locked", 0)
              + alone["writer_errors"].get("locked", 0))
    ideal = args.runs * args.epochs * args.epoch_seconds
    result = {
        "benchmark": "store_under_load",
        "baseline": "the same writer with no readers",
        "ratio": slowdown,
        "ratios": {"writer_slowdown": slowdown, "write_latency_median": latency_ratio},
        "database_locked_errors": locked,
        "reads_per_second": loaded["reads_per_second"],
        "alone": alone,
        "with_readers": loaded,
        "simulated_training_seconds": round(ideal, 3),
        "settings": {k: getattr(args, k) for k in ("readers", "reader_processes", "poll_seconds", "runs", "epochs",
                                                    "epoch_seconds", "heartbeat_seconds", "predictions")},
        "aims": {"writer_slowdown_max": 1.10, "database_locked_errors": 0},
        "aims_met": slowdown <= 1.10 and locked == 0,
        "machine": common.machine(),
    }
    kind = "processes" if args.reader_processes else "threads"
    lines = [
        f"Run store under load ({args.readers} reader {kind} polling every {args.poll_seconds} s; "
        f"writer: {args.runs} runs x {args.epochs} epochs, {args.epoch_seconds} s simulated training each)",
        f"  writer alone:        {alone['writer_seconds']:.2f} s, write median {alone['write_latency']['median_ms']} ms, "
        f"p95 {alone['write_latency']['p95_ms']} ms ({alone['writer_calls']} calls)",
        f"  writer with readers: {loaded['writer_seconds']:.2f} s, write median {loaded['write_latency']['median_ms']} ms, "
        f"p95 {loaded['write_latency']['p95_ms']} ms",
        f"  writer slowdown:     {slowdown:.3f}x (aim <= 1.10)",
        f"  reads:               {loaded['reads']} polls, {loaded['reads_per_second']} polls/s (runs() + epochs())",
        f"  'database is locked': {locked} (aim 0); other errors: readers {loaded['reader_other_errors']}, "
        f"writer {sum(v for k, v in loaded['writer_errors'].items() if k != 'locked')}",
        f"  load average: {result['machine'].get('load_average')}",
    ]
    common.emit(result, args.json, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
