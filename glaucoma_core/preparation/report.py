"""What a configuration's fundus preparation finds on a whole dataset (``scan --prepare``)."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pandas as pd

from glaucoma_core.data.images import ImageProblem
from glaucoma_core.preparation.prepare import load_prepared_array
from glaucoma_core.preparation.settings import PreparationSettings


def resolve_config(name_or_path: str):
    """A TrainConfig from a preset name or a JSON config file (ConfigError otherwise)."""
    from pathlib import Path

    from glaucoma_core.config import PRESETS, TrainConfig, get_preset

    if name_or_path in PRESETS or not Path(name_or_path).suffix:
        return get_preset(name_or_path)
    return TrainConfig.from_json(name_or_path)


def status(record: dict) -> str:
    """cropped, field only, left alone, low confidence or no field."""
    disc, field = record.get("disc") or {}, record.get("field") or {}
    if disc.get("low_confidence"):
        return "low confidence"
    if field and not field.get("found"):
        return "no field"
    if "disc_crop" in record.get("applied", []):
        return "cropped"
    if "field_of_view" in record.get("applied", []):
        return "field only"
    return "left alone"


def dataset_report(index: pd.DataFrame, config, size: int | None = None, workers: int = 4) -> dict:
    """Prepare every usable unique image of ``index`` as ``config`` does and count the outcomes.

    Returns {'settings', 'size', 'images', 'counts': {status: n}, 'problems': [{relpath,
    status, confidence, why}]} with the failed, unsure and field-less images.
    """
    settings = PreparationSettings.from_config(config)
    size = int(size or config.resolved_input_size())
    rows = index[index["problem"].fillna("") == ""].drop_duplicates("sha256")

    def one(row):
        try:
            _, record = load_prepared_array(row.path, size, settings, sha256=row.sha256, with_record=True)
            return status(record), record
        except (ImageProblem, OSError) as exc:
            return "failed", {"warnings": [getattr(exc, "reason", None) or str(exc)]}

    with ThreadPoolExecutor(max(1, workers)) as pool:
        results = list(pool.map(one, rows.itertuples()))
    problems = []
    for row, (state, record) in zip(rows.itertuples(), results, strict=True):
        if state in ("failed", "low confidence", "no field"):
            problems.append({"relpath": getattr(row, "relpath", row.path), "status": state,
                             "confidence": (record.get("disc") or {}).get("confidence"),
                             "why": "; ".join(record.get("warnings", [])) or record.get("decision", "")})
    return {"settings": settings.as_dict(), "size": size, "images": len(rows),
            "counts": dict(Counter(state for state, _ in results)), "problems": problems}


def format_report(report: dict) -> str:
    """The report as text for the terminal."""
    s = report["settings"]
    lines = [f"fundus preparation (disc crop {s['disc_crop']}, {s['disc_crop_scale']:g} disc diameters, field of view "
             f"{'on' if s['field_of_view'] else 'off'}, illumination {s['illumination']}) at {report['size']} px "
             f"on {report['images']} images:"]
    lines += [f"  {state}: {n}" for state, n in sorted(report["counts"].items())]
    if report["problems"]:
        lines.append(f"  failed, unsure or without a field ({len(report['problems'])}):")
        lines += [f"    {p['relpath']}: {p['status']} ({p['why']})" for p in report["problems"][:50]]
        if len(report["problems"]) > 50:
            lines.append(f"    … {len(report['problems']) - 50} more (--json lists all)")
    return "\n".join(lines) + "\n"
