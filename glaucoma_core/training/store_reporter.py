"""A training Reporter that writes to the run store.

Implements the trainer's Reporter protocol (``on_train_begin``, ``on_epoch_end``,
``should_cancel``, ``log``): each epoch's metrics go to the store, a background thread keeps
the run's heartbeat fresh while an epoch runs, and the cancel flag set by
``RunStore.request_cancel`` (the app's Cancel button, ``jobs.cancel``) is read at every epoch
end.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable

from glaucoma_core.store.run_store import RunStore

DEFAULT_HEARTBEAT_INTERVAL = 5.0  # seconds between heartbeats while training


class StoreReporter:
    """Reports one run's training to the store.

    Args:
        store: the run store.
        run_id: the run being trained (already marked running).
        echo: where progress lines go (default ``print``; None for silence). In a job, stdout is
            the run's ``log.txt``.
        heartbeat_interval: seconds between heartbeats written by the background thread.

    Use as a context manager (or call ``start()``/``stop()``) to run the heartbeat thread.
    """

    def __init__(self, store: RunStore, run_id: int, *, echo: Callable[[str], None] | None = print,
                 heartbeat_interval: float = DEFAULT_HEARTBEAT_INTERVAL):
        self.store = store
        self.run_id = int(run_id)
        self.echo = echo
        self.heartbeat_interval = float(heartbeat_interval)
        self.info: dict = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ heartbeat thread

    def start(self) -> StoreReporter:
        """Start the heartbeat thread (idempotent)."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._beat, name=f"heartbeat-run-{self.run_id}", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the heartbeat thread and wait for it."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> StoreReporter:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def _beat(self) -> None:
        try:
            while not self._stop.wait(self.heartbeat_interval):
                try:
                    self.store.heartbeat(self.run_id)
                except Exception as exc:  # a locked/unavailable store must not kill training
                    self.log(f"heartbeat not written: {exc}")
        finally:
            self.store.close()  # this thread's connection

    # ------------------------------------------------------------ Reporter protocol

    def on_train_begin(self, info: dict) -> None:
        """Training starts: ``info`` has epochs, n_train, n_valid, n_test, steps_per_epoch."""
        self.info = dict(info)
        parts = ", ".join(f"{key} {value}" for key, value in self.info.items())
        self.log(f"run {self.run_id}: training starts ({parts})")
        self.store.heartbeat(self.run_id)

    def on_epoch_end(self, epoch: int, metrics: dict) -> None:
        """Record epoch ``epoch`` (1-based) and its metrics; refreshes the heartbeat."""
        self.store.add_epoch(self.run_id, epoch, metrics)
        self.log(format_epoch(epoch, metrics, self.info.get("epochs")))

    def should_cancel(self) -> bool:
        """True when a cancel was requested for this run."""
        return self.store.cancel_requested(self.run_id)

    def log(self, message: str) -> None:
        """A progress line (to ``echo``)."""
        if self.echo is not None:
            self.echo(message)


def format_epoch(epoch: int, metrics: dict, epochs: int | None = None) -> str:
    """One readable line for an epoch: 'epoch 3/10  loss 0.512  val_auc 0.873 ...'."""
    shown = ("loss", "auc", "val_loss", "val_auc", "val_accuracy", "val_sensitivity", "val_specificity",
             "epoch_seconds")
    parts = [f"epoch {epoch}/{epochs}" if epochs else f"epoch {epoch}"]
    for key in shown:
        value = metrics.get(key)
        if isinstance(value, (int, float)) and not (isinstance(value, float) and math.isnan(value)):
            parts.append(f"{key} {value:.3f}" if key != "epoch_seconds" else f"{value:.1f} s")
    return "  ".join(parts)
