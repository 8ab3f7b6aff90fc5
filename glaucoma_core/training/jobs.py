"""Background jobs: the workbench's training and cross-validation in detached processes.

The service layer (:class:`glaucoma_core.workbench.Workbench`) records the runs (status
'queued'), then calls :func:`launch`, which runs the CLI (``python -m glaucoma_core ...``) in a
new session (``start_new_session=True``), so that a rerun, a reload, a closed tab or a restarted
Streamlit server loses nothing: the job writes its progress to the run store, which the app
polls. A job's stdout and stderr go to its ``log.txt``. The runs record the job's pid at once,
so a job that dies before it starts training is noticed too (``RunStore.reap_dead_runs``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterable
from pathlib import Path

from glaucoma_core.paths import PROJECT_ROOT
from glaucoma_core.store.run_store import RunStore


def launch(store: RunStore, arguments: list[str], run_ids: Iterable[int], log_path: Path) -> int:
    """Run ``python -m glaucoma_core --home HOME ARGUMENTS`` detached, output appended to
    ``log_path``, and claim ``run_ids`` for it. Returns the process id.

    When the process cannot start, the runs are marked failed with the reason and the
    OSError is raised.
    """
    run_ids = [int(r) for r in run_ids]
    command = [sys.executable, "-m", "glaucoma_core", "--home", str(store.home), *arguments]
    try:
        process = _spawn(command, log_path)
    except OSError as exc:
        what = "cross-validation" if "cv" in arguments else "training"
        for run_id in run_ids:
            store.finish_run(run_id, "failed", f"could not start the {what} process: {exc}")
        raise
    for run_id in run_ids:
        store.claim_run(run_id, process.pid)
    return process.pid


def experiment_log_path(store: RunStore, experiment_id: int) -> Path:
    """``<home>/experiments/<id>/log.txt``: the output of a cross-validation job (the folder is
    made when the job starts writing, not here)."""
    return store.home / "experiments" / str(int(experiment_id)) / "log.txt"


def read_log_tail(path: str | os.PathLike, max_bytes: int = 20_000) -> str:
    """The end of a job's log ('' when there is none yet)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - max_bytes))
            return handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def _spawn(command: list[str], log_path: Path) -> subprocess.Popen:
    """Start ``command`` detached (own session), output appended to ``log_path``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            cwd=str(PROJECT_ROOT), env=env, start_new_session=True, close_fds=True,
        )
    # Wait for it in the background so that it never lingers as a zombie of this process.
    threading.Thread(target=process.wait, name=f"job-{process.pid}", daemon=True).start()
    return process
