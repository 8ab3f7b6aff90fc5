"""What preparation did to a set of images: counts for a run's record and the pages' lists."""

from __future__ import annotations

from collections import Counter

from glaucoma_core.preparation.prepare import RECORDS, cache_key
from glaucoma_core.preparation.settings import PreparationSettings


def preparation_summary(shas: list[str], size: int, config) -> dict:
    """Settings and counts of what was applied to the images with these content hashes.

    Args:
        shas: sha256 of each image (as in the index); repeated contents count once.
        size: the output side they were prepared at.
        config: TrainConfig, config dict or PreparationSettings.

    Returns {'settings', 'images', 'applied': {step: n}, 'disc_crop': n, 'left_alone': n,
    'low_confidence': n, 'no_field': n} ({'settings', 'images'} only when nothing is on or
    the records are not in this process).
    """
    settings = PreparationSettings.from_config(config)
    unique = list(dict.fromkeys(s for s in shas if s))
    out: dict = {"settings": settings.as_dict(), "images": len(unique)}
    if not settings.prepares:
        return out
    records = [RECORDS.get(cache_key(sha, size, settings)) for sha in unique]
    records = [r for r in records if r is not None]
    applied = Counter(step for r in records for step in r.get("applied", []))
    out.update(
        recorded=len(records),
        applied=dict(applied),
        disc_crop=int(applied.get("disc_crop", 0)),
        left_alone=sum(1 for r in records if not r.get("applied")),
        low_confidence=sum(1 for r in records if (r.get("disc") or {}).get("low_confidence")),
        no_field=sum(1 for r in records if r.get("field") and not r["field"].get("found")),
    )
    return out
