"""Executors: where the folds of a cross-validation are trained.

- ``LocalExecutor``: in this process, one fold after the other (the default).
- ``RayExecutor``: each fold is a Ray task (one GPU each where the cluster has GPUs) on
  ``ray.init(address=...)``. The task trains the fold and writes to the run store itself, so
  the workers must see the same workbench home as the driver: the same machine, or a shared
  filesystem on which SQLite locking works (SQLite's WAL mode does not work across machines on
  a network filesystem; for a multi-machine cluster put the home on a filesystem they share
  with working POSIX locks, or run the driver and workers on one multi-GPU machine).
  Ray is optional: it is imported only here, with a clear message when missing.
  Ray 2.59+ clusters started with ``ray start`` use token authentication: the driver needs
  ``RAY_AUTH_MODE=token`` (token from ``RAY_AUTH_TOKEN`` or ``~/.ray/auth_token``). Tested:
  ``ray start --head --port=6390`` then ``RAY_AUTH_MODE=token python -m glaucoma_core cv ...
  --executor ray --address 127.0.0.1:6390``.

Both yield one outcome dict per run as runs end (see ``fold_run.execute_run``). ``session()``
keeps one executor open across several ``run`` calls (a study sends a round of folds at a
time: one Ray instance for the whole study, not one per round).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from glaucoma_core.store.run_store import RunStore
from glaucoma_core.training.fold_run import execute_run

EXECUTORS = ("local", "ray")


class ExecutorUnavailable(RuntimeError):
    """The executor cannot run here (Ray missing, cluster unreachable); the message says why."""


class LocalExecutor:
    """Trains runs one after the other in this process, sharing one dataset index."""

    name = "local"
    address = None

    @contextlib.contextmanager
    def session(self):
        """Nothing to open: runs are trained in this process."""
        yield self

    def run(self, store: RunStore, run_ids: Iterable[int], *, index=None, train_fn: Callable | None = None,
            echo: Callable[[str], None] | None = print) -> Iterator[dict]:
        """Train each run in turn; yields each run's outcome. Stop iterating to stop early.

        No Keras session is cleared between runs (about 0.5 s each): a fold on images clears
        it itself before building its model, and folds on cached features share the frozen
        backbone and compiled heads this process keeps (training/frozen_backbone.py).
        """
        for run_id in run_ids:
            yield execute_run(store, run_id, index=index, train_fn=train_fn, echo=echo)


class RayExecutor:
    """Sends each run to a Ray cluster as a task.

    Args:
        address: the cluster (``ray.init(address=...)``): 'auto', 'ray://host:10001',
            'host:6379'; None starts a local Ray instance for the duration of the run.
        num_gpus: GPUs per task; default 1 when the cluster has GPUs, else 0.
        num_cpus: CPUs of the local instance started when ``address`` is None (default: all).
    """

    name = "ray"

    def __init__(self, address: str | None = None, *, num_gpus: float | None = None,
                 num_cpus: int | None = None):
        self.address = address
        self.num_gpus = num_gpus
        self.num_cpus = num_cpus

    @contextlib.contextmanager
    def session(self):
        """Connect to the cluster (or start the local instance) once for several ``run`` calls;
        a local instance started here is shut down at the end."""
        ray = import_ray()
        started_here = not ray.is_initialized()
        if started_here:
            _init_ray(ray, self.address, self.num_cpus)
        try:
            yield self
        finally:
            if started_here:
                ray.shutdown()

    def run(self, store: RunStore, run_ids: Iterable[int], *, index=None, train_fn: Callable | None = None,
            echo: Callable[[str], None] | None = print) -> Iterator[dict]:
        """Submit every run at once; yields outcomes as tasks finish. ``index`` is not sent
        (each task scans the dataset, with the scan cache). ``train_fn``, when given, is sent
        to the tasks (Ray pickles it: its module must be importable on the workers, or
        registered with ``cloudpickle.register_pickle_by_value``); None: the real trainer."""
        ray = import_ray()
        started_here = not ray.is_initialized()
        if started_here:
            _init_ray(ray, self.address, self.num_cpus)
        try:
            gpus = float(ray.cluster_resources().get("GPU", 0))
            num_gpus = self.num_gpus if self.num_gpus is not None else (1 if gpus >= 1 else 0)
            task = ray.remote(num_gpus=num_gpus, max_retries=0)(ray_train_run)
            if echo:
                echo(f"ray: cluster {ray.cluster_resources()}, {num_gpus} GPU per fold")
            pending = {task.remote(str(store.home), int(run_id), train_fn): int(run_id) for run_id in run_ids}
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                run_id = pending.pop(done[0])
                try:
                    outcome = ray.get(done[0])
                except Exception as exc:  # the task or its worker died
                    outcome = _task_failed(store, run_id, exc)
                yield outcome
        finally:
            if started_here:
                ray.shutdown()


def make_executor(name: str = "local", address: str | None = None):
    """The executor called ``name`` ('local' or 'ray'); ``address`` is for Ray."""
    if name == "local":
        return LocalExecutor()
    if name == "ray":
        return RayExecutor(address)
    raise ValueError(f"unknown executor {name!r}; choose one of {', '.join(EXECUTORS)}")


def ray_train_run(home: str, run_id: int, train_fn: Callable | None = None) -> dict:
    """The Ray task: train run ``run_id`` of the store at ``home`` (on the worker), with
    ``train_fn`` (None: the real trainer)."""
    store = RunStore(home)
    try:  # progress to stderr: Ray forwards it to the driver, whose stdout may be JSON
        return execute_run(store, run_id, train_fn=train_fn,
                           echo=lambda message: print(message, file=sys.stderr, flush=True))
    finally:  # no Keras session cleared: as locally, a reused worker keeps the frozen backbone
        store.close()


def import_ray():
    """Import Ray, or raise ExecutorUnavailable saying how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise ExecutorUnavailable(
            "the Ray executor needs Ray, which is not installed: pip install -r requirements-ray.txt"
        ) from exc
    return ray


def _init_ray(ray, address: str | None, num_cpus: int | None = None) -> None:
    package = Path(__file__).resolve().parents[1]  # glaucoma_core/, sent to the workers
    runtime_env = {"py_modules": [str(package)], "env_vars": {"TF_CPP_MIN_LOG_LEVEL": "2"}}
    if address:
        _check_reachable(address)
    try:
        if address:
            ray.init(address=address, runtime_env=runtime_env, logging_level="WARNING")
        else:
            ray.init(runtime_env=runtime_env, include_dashboard=False, logging_level="WARNING", num_cpus=num_cpus)
    except Exception as exc:
        where = f"the Ray cluster at {address}" if address else "a local Ray instance"
        hint = ""
        if address:
            hint = ("; is it running (ray status)? A cluster with token authentication (the default of "
                    "ray start since Ray 2.59) also needs RAY_AUTH_MODE=token here, the token coming from "
                    "RAY_AUTH_TOKEN or ~/.ray/auth_token")
        raise ExecutorUnavailable(f"could not connect to {where}: {exc}{hint}") from exc


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail fast when nothing listens at a 'host:port' or 'ray://host:port' address (Ray itself
    retries for minutes). 'auto' and other forms are left to Ray."""
    import socket

    target = address.split("://", 1)[-1]
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit() or not host:
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise ExecutorUnavailable(
            f"could not connect to the Ray cluster at {address}: nothing answers there "
            f"({exc.strerror or exc}); start one with `ray start --head` or check the address"
        ) from exc


def _task_failed(store: RunStore, run_id: int, exc: Exception) -> dict:
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    run = store.run(run_id)
    if run["status"] in ("queued", "running"):
        store.finish_run(run_id, "failed", f"Ray task failed: {first[:300]}")
        run = store.run(run_id)
    return {"run_id": run_id, "fold": run["fold"], "status": run["status"], "error": run["error"],
            "best_epoch": run.get("best_epoch"), "metrics": {}}

