"""External evaluations in the run store: save one, list them, read one back.

An external evaluation belongs to an experiment (or a lone run), the external dataset's
fingerprint (:func:`glaucoma_core.data.index.dataset_fingerprint`: the same images, labels and
layout wherever the folder is) and the threshold rule. Saving another of the same three
replaces it. The result is the JSON document ``validate --json`` prints; the per-image
predictions (ensemble probability, doubt, call, each fold's probability) are kept beside it.
"""

from __future__ import annotations

import json
import sqlite3
import time

import pandas as pd

from glaucoma_core.store.ids import as_id, storable
from glaucoma_core.store.schema import store_error

COLUMNS = ["id", "experiment_id", "run_id", "data_root", "fingerprint", "threshold_rule", "created_at"]


class ExternalNotFound(LookupError):
    """No stored external evaluation with that id."""


def _rule_text(rule: dict) -> str:
    return json.dumps({"method": rule.get("method"), "target": rule.get("target")}, sort_keys=True)


def save_external(store, *, experiment_id: int | None, run_id: int | None, data_root: str, fingerprint: str,
                  threshold_rule: dict, result: dict, predictions: pd.DataFrame | None = None) -> int:
    """Store an external evaluation (replacing one of the same target, fingerprint and rule).

    Args:
        store: the RunStore.
        experiment_id, run_id: what was evaluated (one of them).
        data_root: the external dataset folder; fingerprint: its dataset fingerprint.
        threshold_rule: ThresholdRule.to_dict().
        result: the result document (DataFrames are stored as records, NaN as NaN).
        predictions: per-image rows (stored as JSON records) or None.

    Returns the new row's id.
    """
    if (experiment_id is None) == (run_id is None):
        raise ValueError("an external evaluation belongs to an experiment or to a run (exactly one)")
    rows = None if predictions is None else predictions.to_json(orient="records")
    target = (None if experiment_id is None else store._experiment_id(experiment_id),
              None if run_id is None else store._run_id(run_id))
    try:
        with store._tx() as conn:
            conn.execute(
                "DELETE FROM external_evaluations WHERE COALESCE(experiment_id, -1) = COALESCE(?, -1) "
                "AND COALESCE(run_id, -1) = COALESCE(?, -1) AND fingerprint = ? AND threshold_rule = ?",
                (*target, fingerprint, _rule_text(threshold_rule)))
            cursor = conn.execute(
                "INSERT INTO external_evaluations (experiment_id, run_id, data_root, fingerprint, threshold_rule, "
                "created_at, result, predictions) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (*target, str(data_root), fingerprint, _rule_text(threshold_rule), time.time(),
                 json.dumps(result, default=_plain), rows))
            return int(cursor.lastrowid)
    except sqlite3.Error as exc:
        raise store_error(exc, store.path, "saving an external evaluation") from exc


def _plain(value):
    """JSON for what ``json`` does not know: tables as records, numpy numbers and arrays, NA."""
    import numpy as np

    if isinstance(value, pd.DataFrame):
        return json.loads(value.to_json(orient="records"))
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if value is pd.NA:
        return None
    return str(value)


def list_external(store, experiment_id: int | None = None, run_id: int | None = None) -> pd.DataFrame:
    """Stored external evaluations, newest first: id, experiment_id, run_id, data_root,
    fingerprint, threshold_rule, created_at, images, auc, auc_low, auc_high, internal_auc, distance
    (from each result). ``experiment_id``/``run_id`` narrow the list."""
    sql = f"SELECT {', '.join(COLUMNS)}, result FROM external_evaluations"
    where, params = [], []
    if experiment_id is not None:
        where.append("experiment_id = ?")
        params.append(_matchable(experiment_id, "experiment"))
    if run_id is not None:
        where.append("run_id = ?")
        params.append(_matchable(run_id, "run"))
    if where:
        sql += " WHERE " + " AND ".join(where)
    try:
        frame = pd.read_sql_query(sql + " ORDER BY created_at DESC, id DESC", store._conn(), params=params)
    except (sqlite3.Error, pd.errors.DatabaseError) as exc:
        raise store_error(exc, store.path, "reading external evaluations") from exc
    summaries = [_summary(json.loads(text)) for text in frame.pop("result")]
    extra = pd.DataFrame(summaries, columns=["images", "auc", "auc_low", "auc_high", "internal_auc", "distance"])
    frame = pd.concat([frame.reset_index(drop=True), extra], axis=1)
    for column in ("experiment_id", "run_id"):
        frame[column] = frame[column].astype("Int64")
    return frame


def _matchable(value, what: str) -> int:
    """An id for a query: InvalidId when not a number; 0 (matches no row) when no row can have it
    (2**70 would raise OverflowError in SQLite)."""
    number = as_id(value, what)
    return number if storable(number) else 0


def _summary(result: dict) -> dict:
    ensemble = result.get("ensemble") or {}
    ci = ensemble.get("auc_ci95") or [None, None]
    return {"images": (result.get("images") or {}).get("n"), "auc": ensemble.get("auc"), "auc_low": ci[0],
            "auc_high": ci[1], "internal_auc": (result.get("internal") or {}).get("auc"),
            "distance": (result.get("shift") or {}).get("distance")}


def read_external(store, evaluation_id: int) -> dict:
    """One stored evaluation: its row fields, ``result`` (dict) and ``predictions`` (DataFrame,
    empty when none were stored). Raises ExternalNotFound."""
    try:
        row = store._conn().execute(
            f"SELECT {', '.join(COLUMNS)}, result, predictions FROM external_evaluations WHERE id = ?",
            (_matchable(evaluation_id, "external evaluation"),)).fetchone()
    except sqlite3.Error as exc:
        raise store_error(exc, store.path, "reading an external evaluation") from exc
    if row is None:
        raise ExternalNotFound(f"no external evaluation {evaluation_id} in {store.path}")
    record = dict(zip([*COLUMNS, "result", "predictions"], tuple(row), strict=True))
    record["result"] = json.loads(record["result"])
    text = record.pop("predictions")
    import io

    record["predictions"] = pd.read_json(io.StringIO(text), orient="records") if text else pd.DataFrame()
    record["threshold_rule"] = json.loads(record["threshold_rule"])
    return record
