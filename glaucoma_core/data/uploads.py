"""Checking images that a user uploads (the classify page) before any model sees them.

An upload is only bytes and a display name: the name is never used to build a path, and
nothing is written to disk. :func:`check_upload` decodes the bytes safely (through
:mod:`glaucoma_core.data.images`) and says, in words, what is wrong with the file or what
was done to it (grayscale or transparent images converted, unusual sizes resized).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from glaucoma_core.data.images import ImageProblem, inspect_image, load_rgb

ACCEPTED_TYPES = ("jpg", "jpeg", "png", "tif", "tiff")
DEFAULT_MAX_BYTES = 25 * 1024 * 1024
MIN_SIDE = 64  # smaller than this is not a fundus photograph anyone can grade
MAX_ASPECT = 2.0  # fundus photographs are roughly square to 4:3 (up to about 1.5)

_MODE_NOTES = {
    "L": "grayscale image: converted to RGB (the models expect colour fundus photographs)",
    "LA": "grayscale image with transparency: converted to RGB",
    "1": "black-and-white image: converted to RGB",
    "P": "palette image: converted to RGB",
    "PA": "palette image with transparency: converted to RGB",
    "RGBA": "transparent (RGBA) image: transparency dropped",
    "CMYK": "CMYK image: converted to RGB",
    "I;16": "16-bit image: scaled to 8 bits",
    "I;16B": "16-bit image: scaled to 8 bits",
    "I": "32-bit integer image: scaled to 8 bits",
    "F": "floating-point image: scaled to 8 bits",
}


@dataclass
class UploadCheck:
    """The outcome of checking one upload.

    name: the display name as given (never used as a path).
    image: the decoded 8-bit RGB image as a uint8 array (H, W, 3), None when refused.
    error: why the file was refused ('' when accepted).
    notes: what was converted or looks unusual (the file is still used).
    width, height, mode: the file's own size and PIL mode ('' / None when unreadable).
    """

    name: str
    image: np.ndarray | None = None
    error: str = ""
    notes: list[str] = field(default_factory=list)
    width: int | None = None
    height: int | None = None
    mode: str = ""

    @property
    def ok(self) -> bool:
        return self.image is not None and not self.error


def safe_display_name(name: str, limit: int = 80) -> str:
    """The last component of ``name`` with control characters removed, at most ``limit`` chars."""
    base = str(name).replace("\\", "/").split("/")[-1]
    cleaned = "".join(ch if ch.isprintable() else "?" for ch in base).strip() or "(unnamed)"
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


def check_upload(data: bytes, name: str = "", *, max_bytes: int = DEFAULT_MAX_BYTES) -> UploadCheck:
    """Decode an uploaded file and describe any problem.

    data: the file's bytes.
    name: its name as the browser sent it (display only).
    max_bytes: larger files are refused (the server refuses them too; this is the second line).
    Returns an :class:`UploadCheck`; never raises for bad content.
    """
    shown = safe_display_name(name)
    result = UploadCheck(name=shown)
    size = len(data)
    if size == 0:
        result.error = "empty file (0 bytes)"
        return result
    if size > max_bytes:
        result.error = (
            f"file too large: {size / 1e6:.1f} MB, the limit is {max_bytes / 1e6:.0f} MB"
        )
        return result
    info = inspect_image(bytes(data))
    result.width, result.height, result.mode = info.width, info.height, info.mode
    if info.problem:
        result.error = f"not a usable image: {info.problem}"
        return result
    try:
        image = load_rgb(bytes(data))
    except ImageProblem as exc:
        result.error = f"not a usable image: {exc.reason}"
        return result
    result.image = np.asarray(image, dtype=np.uint8)
    if info.mode in _MODE_NOTES:
        result.notes.append(_MODE_NOTES[info.mode])
    elif info.mode not in ("RGB", ""):
        result.notes.append(f"{info.mode} image: converted to RGB")
    w, h = result.image.shape[1], result.image.shape[0]
    if min(w, h) < MIN_SIDE:
        result.notes.append(f"very small image ({w} x {h} px): the result is unreliable")
    aspect = max(w, h) / max(min(w, h), 1)
    if aspect > MAX_ASPECT:
        result.notes.append(
            f"unusual shape ({w} x {h} px, aspect {aspect:.1f}): it is squeezed to a square, "
            "which distorts the optic disc"
        )
    return result
