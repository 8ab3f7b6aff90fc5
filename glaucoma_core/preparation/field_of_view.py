"""The circular camera field of a fundus photograph: find it, crop to it, mask outside it.

A fundus camera records a bright disc-shaped field inside a black surround; the circle may be
cut by the top and bottom of the frame, and padded with black at the sides. :func:`find_field`
thresholds the brightest channel just above the black level, keeps the largest connected
region, and fits a circle (least squares) to the part of its outline that is not on the image
border, so a field cut by the frame still gets its true centre and radius. An image with no
black surround (a disc-centred crop, a photograph of a screen) has no field: it is reported
(``found=False`` with the reason), and the whole image stands in for the field.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import cv2
import numpy as np
from scipy import ndimage

#: Pixels darker than this share of the bright end (99th percentile of the brightest channel)
#: are surround; never below BLACK_FLOOR (JPEG noise in the black).
BLACK_FRACTION = 0.1
BLACK_FLOOR = 10
#: A field must cover this share of the image at least; a bright region covering more than
#: FULL_COVERAGE of the image with no dark corner is no field but the whole picture.
MIN_COVERAGE = 0.15
FULL_COVERAGE = 0.97
#: Share of the fitted circle's outline that must be visible (not cut by the frame).
MIN_OUTLINE = 0.3


@dataclass(frozen=True)
class FieldOfView:
    """A circular field in pixel coordinates of the image it was found in.

    Attributes:
        center_x, center_y, radius: the circle (pixels; may reach beyond the image).
        found: False when the image has no black surround (then the circle is the one
            circumscribing the image, so masking keeps every pixel).
        reason: why no field was found ('' when found).
        coverage: share of the image inside the bright region.
        fit: share of the bright region inside the fitted circle (1 = a clean circle).
    """

    center_x: float
    center_y: float
    radius: float
    found: bool
    reason: str = ""
    coverage: float = 0.0
    fit: float = 0.0

    def scaled(self, factor: float) -> FieldOfView:
        """The same field in an image ``factor`` times as large."""
        return FieldOfView(self.center_x * factor, self.center_y * factor, self.radius * factor,
                           self.found, self.reason, self.coverage, self.fit)

    def as_dict(self) -> dict:
        return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def whole_image_field(height: int, width: int, reason: str, coverage: float = 1.0) -> FieldOfView:
    """The stand-in field of an image without a black surround: the circumscribed circle."""
    return FieldOfView(width / 2, height / 2, math.hypot(width, height) / 2, False, reason, coverage, 0.0)


def bright_mask(rgb: np.ndarray) -> np.ndarray:
    """Boolean mask of pixels brighter than the black surround (largest region, holes filled)."""
    value = rgb.max(axis=2)
    top = float(np.percentile(value, 99))
    mask = value > max(BLACK_FLOOR, BLACK_FRACTION * top)
    mask = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if n <= 1:
        return np.zeros(value.shape, bool)
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return ndimage.binary_fill_holes(labels == largest)


def _fit_circle(xs: np.ndarray, ys: np.ndarray) -> tuple[float, float, float]:
    """Least-squares (Kasa) circle through points: (centre x, centre y, radius)."""
    a = np.c_[2 * xs, 2 * ys, np.ones_like(xs)]
    b = xs * xs + ys * ys
    (cx, cy, c), *_ = np.linalg.lstsq(a, b, rcond=None)
    return float(cx), float(cy), float(math.sqrt(max(c + cx * cx + cy * cy, 0.0)))


def find_field(rgb: np.ndarray) -> FieldOfView:
    """Find the circular camera field of ``rgb`` (uint8 (H, W, 3); any size, ~256-512 px is plenty).

    Returns a :class:`FieldOfView` in the pixel coordinates of ``rgb``; ``found=False`` with a
    reason when there is no black surround or the bright region is no circle.
    """
    height, width = rgb.shape[:2]
    mask = bright_mask(rgb)
    coverage = float(mask.mean())
    if coverage < MIN_COVERAGE:
        return whole_image_field(height, width, f"no bright field (only {coverage:.0%} of the image is above the black level)", coverage)
    corners = [mask[0, 0], mask[0, -1], mask[-1, 0], mask[-1, -1]]
    if coverage > FULL_COVERAGE or all(corners):
        return whole_image_field(height, width, "no black surround: the whole image is picture", coverage)
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    outline = max(contours, key=len)[:, 0, :].astype(np.float64)
    inner = ((outline[:, 0] > 1) & (outline[:, 0] < width - 2) & (outline[:, 1] > 1) & (outline[:, 1] < height - 2))
    points = outline[inner]
    if len(points) < 20:
        return whole_image_field(height, width, "the bright region has no visible edge", coverage)
    cx, cy, radius = _fit_circle(points[:, 0], points[:, 1])
    # how much of the circle's outline the points cover (a field cut by the frame shows less)
    angles = np.arctan2(points[:, 1] - cy, points[:, 0] - cx)
    seen = np.unique(np.floor((angles + math.pi) / (2 * math.pi) * 90).astype(int)).size / 90
    yy, xx = np.ogrid[:height, :width]
    inside = (xx - cx) ** 2 + (yy - cy) ** 2 <= radius * radius
    fit = float((mask & inside).sum() / max(mask.sum(), 1))
    covered = float((mask & inside).sum() / max(inside.sum(), 1))
    if seen < MIN_OUTLINE or fit < 0.9 or covered < 0.85:
        return whole_image_field(height, width, f"the bright region is not a circular field "
                                 f"(outline {seen:.0%} visible, {fit:.0%} inside the fitted circle)", coverage)
    return FieldOfView(cx, cy, radius, True, "", coverage, fit)


def crop_box(field: FieldOfView) -> tuple[float, float, float, float]:
    """The square (left, top, right, bottom) around the field's circle."""
    r = field.radius
    return field.center_x - r, field.center_y - r, field.center_x + r, field.center_y + r


def circle_mask(size: int, center_x: float, center_y: float, radius: float) -> np.ndarray:
    """Boolean (size, size) mask of pixel centres inside a circle."""
    yy, xx = np.ogrid[:size, :size]
    return (xx + 0.5 - center_x) ** 2 + (yy + 0.5 - center_y) ** 2 <= radius * radius


def mask_outside(rgb: np.ndarray, mask: np.ndarray, fill: int = 0) -> np.ndarray:
    """A copy of ``rgb`` with the pixels outside ``mask`` set to ``fill``."""
    out = rgb.copy()
    out[~mask] = fill
    return out
