"""Shared helpers of the app tests: a trained workbench home, AppTest runs, a live server."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "streamlit_app.py"
PAGES = ("dataset", "train", "cross_validation", "runs", "compare", "false_negatives", "classify")
URL_PATHS = {"dataset": "", "train": "train", "cross_validation": "cross_validation", "runs": "runs",
             "compare": "compare", "false_negatives": "false_negatives", "classify": "classify"}
# Tiny but real training: the small CNN at 32 px for one or two epochs.
TINY = ["--preset", "cpu-small", "--set", "input_size=32", "--set", "batch_size=32"]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def cli(home: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``python -m glaucoma_core --home HOME ARGS`` and fail loudly with its output."""
    env = {**os.environ, "GLAUCOMA_HOME": str(home), "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, "-m", "glaucoma_core", "--home", str(home), *args], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{args} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(home: Path, port: int, log: Path) -> subprocess.Popen:
    """``streamlit run streamlit_app.py`` on 127.0.0.1:PORT (own process group), ready when this returns."""
    env = {**os.environ, "GLAUCOMA_HOME": str(home), "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [sys.executable, "-m", "streamlit", "run", str(APP), "--server.port", str(port),
               "--server.address", "127.0.0.1", "--server.headless", "true"]
    handle = open(log, "ab")  # noqa: SIM115 - closed with the process by stop_server
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=handle, stderr=subprocess.STDOUT,
                               start_new_session=True)
    process._log_handle = handle  # type: ignore[attr-defined]
    deadline = time.time() + 90
    while time.time() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"streamlit exited early:\n{log.read_text()[-3000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return process
        except OSError:
            time.sleep(0.5)
    stop_server(process)
    raise AssertionError(f"streamlit did not listen on {port}:\n{log.read_text()[-3000:]}")


def stop_server(process: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    """Stop the server (only its own process group: training jobs run in their own sessions)."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    handle = getattr(process, "_log_handle", None)
    if handle:
        handle.close()


def settle(page, timeout: float = 120) -> None:
    """Wait until a Streamlit page has drawn its title and stopped running."""
    page.wait_for_selector("h1", timeout=timeout * 1000)
    deadline = time.time() + timeout
    quiet = 0
    busy = '[data-testid="stStatusWidget"], [data-testid="stSpinner"], [data-testid="stSkeleton"]'
    while time.time() < deadline:
        quiet = 0 if page.locator(busy).count() else quiet + 1
        if quiet >= 6:
            return
        time.sleep(0.5)


def wait_for(predicate, timeout: float, interval: float = 1.0, what: str = "condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
