"""The workbench as the pages use it: a read-only viewer for what they show, a writer for what
they start or cancel, and cached evaluation (the workbench computes; this only caches).

Polling a page never writes to the run store: every read goes through :func:`viewer`, whose
store is opened read-only. Only a user's action (start, cancel) opens a writable workbench.
"""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from glaucoma_core.workbench import DEFAULT_RESAMPLES, ThresholdRule, Workbench


def viewer(home: str | os.PathLike) -> Workbench:
    """A read-only workbench over ``home`` (the store is created and migrated once, the first
    time the app meets a new home; after that the pages only read)."""
    _ensure_store(str(Path(home)))
    return Workbench(home, read_only=True)


def actor(home: str | os.PathLike) -> Workbench:
    """A workbench that may write: for starting and cancelling jobs."""
    return Workbench(home)


@st.cache_resource(show_spinner=False, max_entries=8)
def _ensure_store(home: str) -> None:
    Workbench(home).store.close()


@st.cache_data(show_spinner="Evaluating…", max_entries=64)
def _evaluate(home: str, reference: str, signature: tuple, method: str, target: float | None) -> dict:
    return Workbench(home, read_only=True).evaluate(reference, ThresholdRule(method, target),
                                                    n_resamples=DEFAULT_RESAMPLES)


def evaluate(bench: Workbench, reference: str, rule: ThresholdRule) -> dict:
    """``Workbench.evaluate`` of a run or an experiment (cached until one of its runs changes):
    exactly the figures ``python -m glaucoma_core evaluate REF`` prints for the same rule."""
    return _evaluate(str(bench.home), str(reference), bench.results_signature(reference), rule.method, rule.target)


@st.cache_data(show_spinner="Comparing…", max_entries=32)
def _compare(home: str, a: str, b: str, signature: tuple, method: str, target: float | None) -> dict:
    return Workbench(home, read_only=True).compare(a, b, ThresholdRule(method, target))


def compare(bench: Workbench, a: str, b: str, rule: ThresholdRule) -> dict:
    """``Workbench.compare`` of two runs or two experiments (cached until one of their runs changes)."""
    signature = (bench.results_signature(a), bench.results_signature(b))
    return _compare(str(bench.home), str(a), str(b), signature, rule.method, rule.target)


@st.cache_resource(max_entries=8, show_spinner="Loading the model…")
def _model(home: str, run_id: int, mtime: float):
    return Workbench(home, read_only=True).load_model(int(run_id))


def load_model(bench: Workbench, run_id: int):
    """The trained model of ``run_id`` (cached; reloaded when its file changes). Raises
    UserError when the file is missing, corrupt or unsafe."""
    try:
        mtime = os.stat(bench.store.model_path(int(run_id))).st_mtime
    except OSError:
        mtime = -1.0
    return _model(str(bench.home), int(run_id), mtime)
