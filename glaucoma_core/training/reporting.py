"""How the trainer tells the outside world what it is doing (and hears about cancels).

The trainer calls, in order: ``on_train_begin(info)``, then for each epoch
``on_epoch_end(epoch, metrics)`` and ``should_cancel()``, and ``log(message)`` whenever it has
something to say. ``info`` holds epochs, n_train, n_valid, n_test, steps_per_epoch (and a
few extras: path 'features' or 'images', device). ``metrics`` keys are :data:`EPOCH_KEYS`.
The run store, the CLI and the tests each implement this protocol; the trainer never
imports any of them.
"""

from __future__ import annotations

import sys
import time
from typing import Protocol

EPOCH_KEYS = (
    "loss", "accuracy", "auc", "sensitivity", "specificity", "f1",
    "val_loss", "val_accuracy", "val_auc", "val_sensitivity", "val_specificity", "val_f1",
    "lr", "epoch_seconds", "images_per_second",
)


class ReporterProtocol(Protocol):
    def on_train_begin(self, info: dict) -> None: ...
    def on_epoch_end(self, epoch: int, metrics: dict) -> None: ...
    def should_cancel(self) -> bool: ...
    def log(self, message: str) -> None: ...


class Reporter:
    """A reporter that does nothing; subclass and override what you need."""

    def on_train_begin(self, info: dict) -> None:
        """Training starts; ``info`` describes the fold (see module docstring)."""

    def on_epoch_end(self, epoch: int, metrics: dict) -> None:
        """Epoch ``epoch`` (1-based) ended with these metrics."""

    def should_cancel(self) -> bool:
        """True to stop after the current epoch (the best weights so far are kept)."""
        return False

    def log(self, message: str) -> None:
        """A line of progress text."""


class PrintReporter(Reporter):
    """Prints one line per epoch (and log messages) to a stream (default stderr)."""

    def __init__(self, stream=None, prefix: str = ""):
        self.stream = stream or sys.stderr
        self.prefix = prefix

    def on_train_begin(self, info: dict) -> None:
        self.log(
            f"training: {info.get('n_train')} train / {info.get('n_valid')} valid / {info.get('n_test')} test "
            f"images, up to {info.get('epochs')} epochs ({info.get('path', 'images')} path)"
        )

    def on_epoch_end(self, epoch: int, metrics: dict) -> None:
        def f(key, fmt=".3f"):
            value = metrics.get(key)
            return "—" if value is None else format(value, fmt)

        self.log(
            f"epoch {epoch:3d}  loss {f('loss')}  auc {f('auc')}  | val_loss {f('val_loss')}  "
            f"val_auc {f('val_auc')}  val_sens {f('val_sensitivity')}  val_spec {f('val_specificity')}  "
            f"| {f('epoch_seconds', '.1f')} s  {f('images_per_second', '.0f')} img/s"
        )

    def log(self, message: str) -> None:
        print(f"{self.prefix}{message}", file=self.stream, flush=True)


class RecordingReporter(Reporter):
    """Keeps everything it is told (for tests); cancels after ``cancel_after_epoch`` epochs."""

    def __init__(self, cancel_after_epoch: int | None = None):
        self.info: dict | None = None
        self.epochs: list[tuple[int, dict]] = []
        self.messages: list[str] = []
        self.cancel_after_epoch = cancel_after_epoch
        self.cancel_checks = 0

    def on_train_begin(self, info: dict) -> None:
        self.info = dict(info)

    def on_epoch_end(self, epoch: int, metrics: dict) -> None:
        self.epochs.append((epoch, dict(metrics)))

    def should_cancel(self) -> bool:
        self.cancel_checks += 1
        return self.cancel_after_epoch is not None and len(self.epochs) >= self.cancel_after_epoch

    def log(self, message: str) -> None:
        self.messages.append(f"{time.strftime('%H:%M:%S')} {message}")
