"""The runs and experiments of a home as tables a researcher works with (the Runs page).

One row per run or experiment with what tells them apart: the dataset, the nearest preset and
the backbone, the configuration fields that differ across the rows listed, the duration, the
metrics, and what the user wrote (name, tags, notes, archived). Pure reads of the store.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

RUN_COLUMNS = ["id", "name", "experiment_id", "experiment_name", "fold", "status", "dataset", "preset", "backbone",
               "epochs", "duration_s", "valid_auc", "test_auc", "tags", "notes", "archived", "created_at"]
EXPERIMENT_COLUMNS = ["id", "name", "dataset", "preset", "backbone", "folds", "runs", "finished", "running",
                      "failed", "duration_s", "mean_valid_auc", "mean_test_auc", "tags", "notes", "archived",
                      "created_at"]


def same_dataset(a: str | os.PathLike | None, b: str | os.PathLike | None) -> bool:
    """Whether two dataset folders are the same folder (symlinks and ``..`` resolved)."""
    if a is None or b is None or pd.isna(a) or pd.isna(b):
        return False
    try:
        return os.path.realpath(str(a)) == os.path.realpath(str(b))
    except (OSError, ValueError):
        return str(a) == str(b)


def nearest_preset(config: dict) -> str:
    """The preset ``config`` differs least from ('cpu-small', or 'cpu-small +3' with three
    fields changed)."""
    from glaucoma_core.config import PRESETS

    if not isinstance(config, dict):
        return ""
    best, fewest = "", None
    for name, preset in PRESETS.items():
        reference = preset.to_dict()
        changed = sum(1 for k, v in config.items() if k in reference and reference[k] != v)
        if fewest is None or changed < fewest:
            best, fewest = name, changed
    return best if not fewest else f"{best} +{fewest}"


def differing_fields(configs: list[dict]) -> list[str]:
    """The configuration fields whose value is not the same in every config."""
    keys = sorted({k for c in configs if isinstance(c, dict) for k in c})
    return [k for k in keys if len({repr(c.get(k)) if isinstance(c, dict) else "" for c in configs}) > 1]


def _dataset_name(root) -> str:
    if root is None or pd.isna(root):
        return ""
    path = Path(str(root))
    return path.name if path.name not in ("", "demo-data") else "demo dataset"


def run_table(runs: pd.DataFrame, notes: pd.DataFrame, *, data_root=None, archived: bool = False) -> pd.DataFrame:
    """The runs (``RunStore.runs``) with their annotations (``RunStore.annotations('run')``).

    Args:
        data_root: keep only the runs of this dataset folder (None: all).
        archived: keep archived runs too.

    Returns RUN_COLUMNS plus ``data_root`` and one ``config.<field>`` column per field that
    differs among the rows kept.
    """
    frame = _annotated(runs, notes, data_root, archived, name=None)
    frame["dataset"] = frame["data_root"].map(_dataset_name)
    frame["preset"] = frame["config"].map(nearest_preset)
    frame["epochs"] = frame["epochs_done"]
    ended = frame["finished_at"].where(frame["finished_at"].notna(), pd.Timestamp.now().timestamp())
    frame["duration_s"] = (ended - frame["started_at"]).where(frame["started_at"].notna())
    table = frame.reindex(columns=[*RUN_COLUMNS, "data_root", "config"])
    for field in differing_fields(list(frame["config"])):
        table[f"config.{field}"] = frame["config"].map(lambda c, f=field: _cell(c.get(f) if isinstance(c, dict) else None))
    return table.drop(columns=["config"]).reset_index(drop=True)


def experiment_table(experiments: pd.DataFrame, runs: pd.DataFrame, notes: pd.DataFrame, *, data_root=None,
                     archived: bool = False) -> pd.DataFrame:
    """The experiments (``RunStore.experiments``) with their runs' duration and mean AUCs and
    their annotations; filtered as :func:`run_table`."""
    notes = notes.drop(columns=["name"], errors="ignore")
    frame = _annotated(experiments, notes, data_root, archived)
    by_experiment = runs[runs["experiment_id"].notna()].groupby("experiment_id")
    started = by_experiment["started_at"].min()
    ended = by_experiment["finished_at"].max()
    frame["duration_s"] = frame["id"].map(lambda i: ended.get(i, float("nan")) - started.get(i, float("nan")))
    finished = runs[runs["status"] == "finished"].groupby("experiment_id")
    frame["mean_valid_auc"] = frame["id"].map(finished["valid_auc"].mean())
    frame["mean_test_auc"] = frame["id"].map(finished["test_auc"].mean())
    frame["dataset"] = frame["data_root"].map(_dataset_name)
    frame["preset"] = frame["config"].map(nearest_preset)
    frame["backbone"] = frame["config"].map(lambda c: c.get("backbone") if isinstance(c, dict) else None)
    frame["folds"] = frame["folds"].map(lambda f: len(f) if isinstance(f, list) else f)
    table = frame.reindex(columns=[*EXPERIMENT_COLUMNS, "data_root"])
    for field in differing_fields(list(frame["config"])):
        table[f"config.{field}"] = frame["config"].map(lambda c, f=field: _cell(c.get(f) if isinstance(c, dict) else None))
    return table.reset_index(drop=True)


def _cell(value) -> str:
    if value is None:
        return "none"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _annotated(rows: pd.DataFrame, notes: pd.DataFrame, data_root, archived: bool, **empty) -> pd.DataFrame:
    """``rows`` (runs or experiments) joined with their annotations (tags as lists, notes as
    text), kept to ``data_root``'s dataset and, unless ``archived``, to the unarchived ones.
    ``empty``: extra annotation columns to add when there are no rows (e.g. ``name=None``)."""
    frame = rows.merge(notes, on="id", how="left") if len(rows) else rows.assign(**empty, tags=None, notes="",
                                                                                   archived=False)
    frame["archived"] = frame["archived"].fillna(False).astype(bool)
    frame["tags"] = frame["tags"].map(lambda t: t if isinstance(t, list) else [])
    frame["notes"] = frame["notes"].fillna("")
    if data_root is not None:
        frame = frame[[same_dataset(r, data_root) for r in frame["data_root"]]]
    if not archived:
        frame = frame[~frame["archived"]]
    return frame.copy()
