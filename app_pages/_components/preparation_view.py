"""Fundus preparation on the pages: the detected field and disc drawn on the photograph, the
prepared crop beside it, the images whose detection failed or was unsure listed.

Page logic lives here (testable without a browser); the Dataset and Classify pages call
:func:`dataset_section` and :func:`classify_section`. Pixels come from
:func:`glaucoma_core.preparation.load_prepared_array`, the function training uses.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from glaucoma_core.data.images import ImageProblem, load_rgb_array
from glaucoma_core.preparation import PreparationSettings, load_prepared_array
from glaucoma_core.preparation.report import status

FIELD_COLOUR = (0, 230, 255)
DISC_COLOUR = (60, 255, 60)
CROP_COLOUR = (255, 230, 0)
SHOWN_SIDE = 320


def status_of(record: dict) -> str:
    """One word for the pages (the same as ``scan --prepare``): cropped, field only, left alone,
    low confidence, no field."""
    return status(record)


def draw_detection(image: np.ndarray, record: dict) -> np.ndarray:
    """``image`` (the photograph at any size) with the record's field (cyan), disc (green) and
    crop box (yellow) drawn; the record's coordinates are pixels of the photograph."""
    img = Image.fromarray(np.asarray(image, dtype=np.uint8)).convert("RGB")
    sx = img.width / max(1, record.get("width") or img.width)
    sy = img.height / max(1, record.get("height") or img.height)
    line = max(2, round(img.width / 160))
    draw = ImageDraw.Draw(img)
    field = record.get("field")
    if field and field.get("found"):
        cx, cy, r = field["center_x"], field["center_y"], field["radius"]
        draw.ellipse([(cx - r) * sx, (cy - r) * sy, (cx + r) * sx, (cy + r) * sy], outline=FIELD_COLOUR, width=line)
    disc = record.get("disc")
    if disc:
        cx, cy, r = disc["center_x"], disc["center_y"], disc["diameter"] / 2
        draw.ellipse([(cx - r) * sx, (cy - r) * sy, (cx + r) * sx, (cy + r) * sy], outline=DISC_COLOUR, width=line)
        draw.line([(cx * sx - line * 2, cy * sy), (cx * sx + line * 2, cy * sy)], fill=DISC_COLOUR, width=line)
        draw.line([(cx * sx, cy * sy - line * 2), (cx * sx, cy * sy + line * 2)], fill=DISC_COLOUR, width=line)
    box = record.get("crop_box")
    if box:
        draw.rectangle([box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy], outline=CROP_COLOUR, width=line)
    return np.asarray(img)


def inspect_images(paths: list[str], size: int, config) -> list[dict]:
    """Prepare each image as ``config`` would and describe it for the pages.

    Returns one dict per path: path, status, decision, confidence, warnings, original (the
    photograph at SHOWN_SIDE with the detection drawn), prepared (what the model sees), or
    status 'failed' with the reason when the file cannot be read.
    """
    settings = PreparationSettings.from_config(config)
    out = []
    for path in paths:
        try:
            prepared, record = load_prepared_array(path, size, settings, with_record=True)
            shown = load_rgb_array(path, size=None)
            scale = SHOWN_SIDE / max(shown.shape[:2])
            if scale < 1:
                shown = np.asarray(Image.fromarray(shown).resize(
                    (max(1, round(shown.shape[1] * scale)), max(1, round(shown.shape[0] * scale))), Image.BILINEAR))
            disc = record.get("disc") or {}
            out.append({"path": str(path), "status": status_of(record), "decision": record.get("decision", ""),
                        "confidence": disc.get("confidence"), "warnings": record.get("warnings", []),
                        "original": draw_detection(shown, record), "prepared": prepared, "record": record})
        except (ImageProblem, OSError) as exc:
            reason = getattr(exc, "reason", None) or str(exc)
            out.append({"path": str(path), "status": "failed", "decision": reason, "confidence": None,
                        "warnings": [reason], "original": None, "prepared": None, "record": {}})
    return out


def problem_table(items: list[dict]) -> pd.DataFrame:
    """The images whose detection failed, found no field or was unsure."""
    rows = [{"image": item["path"], "status": item["status"], "confidence": item["confidence"],
             "why": "; ".join(item["warnings"]) or item["decision"]}
            for item in items if item["status"] in ("failed", "low confidence", "no field")]
    return pd.DataFrame(rows, columns=["image", "status", "confidence", "why"])


def _settings_form(st, key: str) -> tuple[PreparationSettings, int]:
    c1, c2, c3, c4 = st.columns(4)
    crop = c1.selectbox("Disc crop", ["auto", "on", "off"], key=f"{key}_crop",
                        help="auto = full-field photographs only (the presets' default)")
    scale = c2.number_input("Crop side (disc diameters)", 1.0, 10.0, 2.5, 0.5, key=f"{key}_scale")
    light = c3.selectbox("Illumination", ["none", "graham", "clahe"], key=f"{key}_light")
    size = int(c4.number_input("Model input (px)", 32, 512, 224, 16, key=f"{key}_size"))
    fov = st.checkbox("Crop to the field of view and black out the rest", key=f"{key}_fov")
    return PreparationSettings(field_of_view=fov, disc_crop=crop, disc_crop_scale=float(scale), illumination=light), size


def dataset_section(index: pd.DataFrame, *, key: str = "prep") -> None:
    """Dataset page: a sample of images with the detection drawn and the prepared crop."""
    import streamlit as st

    st.subheader("Fundus preparation")
    st.caption("The camera field (cyan), optic disc (green) and crop (yellow) found on a sample of images, "
               "and the prepared input a model with these settings sees. Training, evaluation and "
               "Classify prepare every image the same way.")
    if index.empty:
        st.info("No usable images.")
        return
    settings, size = _settings_form(st, key)
    n = int(st.slider("Sample size", 4, 48, 8, 4, key=f"{key}_n"))
    sample = index.drop_duplicates("sha256").sample(min(n, index["sha256"].nunique()), random_state=0)
    with st.spinner(f"Preparing {len(sample)} images…"):
        items = inspect_images(sample["path"].astype(str).tolist(), size, settings)
    counts = pd.Series([item["status"] for item in items]).value_counts()
    st.caption(" · ".join(f"{status}: {count}" for status, count in counts.items()))
    problems = problem_table(items)
    if len(problems):
        st.warning(f"{len(problems)} of {len(items)} images: detection failed, found no field or is unsure.")
        st.dataframe(problems, hide_index=True, width="stretch")
    columns = st.columns(4)
    for i, item in enumerate(items):
        with columns[(2 * i) % 4]:
            if item["original"] is not None:
                st.image(item["original"], caption=f"{item['status']}", width="stretch")
        with columns[(2 * i + 1) % 4]:
            if item["prepared"] is not None:
                st.image(item["prepared"], caption=item["decision"][:80], width="stretch")


def classify_section(sources: list, names: list[str], size: int, config) -> None:
    """Classify page: each image with the detection drawn and the prepared input the model saw."""
    import streamlit as st

    settings = PreparationSettings.from_config(config)
    st.subheader("Fundus preparation: what the model saw")
    if not settings.prepares:
        st.caption("This model was trained without fundus preparation: it sees the whole image resized.")
        return
    st.caption(f"Settings of the model's training: disc crop {settings.disc_crop} "
               f"({settings.disc_crop_scale:g} disc diameters), field of view "
               f"{'on' if settings.field_of_view else 'off'}, illumination {settings.illumination}.")
    for name, source in zip(names, sources, strict=True):
        item = inspect_images([source], size, settings)[0]
        c1, c2 = st.columns(2)
        if item["original"] is not None:
            c1.image(item["original"], caption=f"{name}: {item['status']}", width="stretch")
            c2.image(item["prepared"], caption=f"model input ({size} × {size}): {item['decision']}", width="stretch")
        for warning in item["warnings"]:
            st.warning(warning)
