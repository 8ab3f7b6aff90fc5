"""Where the optic disc is in a fundus photograph, how large it is, and how sure we are.

The disc is the brightest large round region of the fundus, and the place the retinal
vessels converge. Either cue alone is misled: brightness by exudates, reflections at the
field edge and uneven illumination; vessels by the arcades. :func:`locate_disc` combines them,
on the field resampled to WORK_SIDE pixels across:

1. brightness after illumination flattening (the image divided by its large-scale mean inside
   the field, so a brighter half of the field does not win);
2. a centre-surround response on several scales: the mean flattened brightness in a disc of
   radius r minus that in the ring r..2r around it (small bright spots, far smaller than a
   disc, barely move a disc-sized mean; a uniform region gives nothing);
3. vessel density: a black top-hat of the green channel (dark thin lines), averaged over 1.5 r;
4. score = standardised brightness response + VESSEL_WEIGHT x standardised vessel density, the
   best scale per pixel; the best pixel away from the field edge is the search's answer;
5. the outline: the disc's edge on radial profiles of flattened brightness in SECTORS
   directions (the outermost fall with a real drop, so the rim beyond a brighter cup counts
   and vessels, peripapillary atrophy and uneven background beyond it do not) and a circle
   fitted to those edge points (outliers left out), twice: its centre is the disc's centre
   (the brightest part, a pale cup, often lies to one side), its diameter the disc's.

The confidence compares the best score with the best one more than two disc diameters away
(1 = nothing else comes close, 0 = a tie). An image whose disc diameter is a large share of
the field (``disc_centred``) is already a disc-centred crop.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import cv2
import numpy as np

from glaucoma_core.preparation.field_of_view import FieldOfView

#: Side in pixels of the square the field is resampled to for the search.
WORK_SIDE = 256
#: Disc radii searched, as fractions of the field diameter (diameters 5 % .. 40 %).
RADII = (0.025, 0.032, 0.04, 0.05, 0.062, 0.078, 0.1, 0.13, 0.165, 0.2)
#: Weight of vessel density against brightness in the score.
VESSEL_WEIGHT = 0.6
#: Disc diameter over field diameter above which an image counts as already disc-centred
#: (45-degree full-field photographs: about 0.07-0.16; the demo images, ACRIMA, RIM-ONE: more;
#: estimates: synthetic full-field at most 0.170 (seed 7, 60 images), the real full-field
#: sample 0.158, demo images at least 0.214 (seed 0, 40 images); midway between).
DISC_CENTRED_RATIO = 0.19
#: A fall of a radial profile counts as the disc's edge when its drop is at least EDGE_SHARE of
#: the profile's largest drop and at least EDGE_MIN_DROP (share of the local mean brightness),
#: the drop measured EDGE_WINDOW rings (1.5 px each) either side of the fall.
EDGE_SHARE = 0.1
EDGE_MIN_DROP = 0.05
EDGE_WINDOW = 2
#: Edge points further than this share of the radius from the fitted circle are left out.
FIT_TOLERANCE = 0.3
#: The outline is refitted from its own centre at most this many times.
OUTLINE_PASSES = 4
#: Directions in which the disc's edge is looked for (the median is taken).
SECTORS = 16
#: Below this confidence a detection is reported as low-confidence.
LOW_CONFIDENCE = 0.15


@dataclass(frozen=True)
class DiscEstimate:
    """The optic disc found in one image (pixel coordinates of the image searched).

    Attributes:
        center_x, center_y: disc centre (pixels).
        diameter: estimated disc diameter (pixels).
        confidence: 0..1 (see the module docstring); below LOW_CONFIDENCE: unreliable.
        ratio: diameter over the field's diameter (or the image's larger side without field).
        disc_centred: the image looks like a disc-centred crop already (ratio above
            DISC_CENTRED_RATIO).
    """

    center_x: float
    center_y: float
    diameter: float
    confidence: float
    ratio: float
    disc_centred: bool

    @property
    def low_confidence(self) -> bool:
        return self.confidence < LOW_CONFIDENCE

    def as_dict(self) -> dict:
        out = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in asdict(self).items()}
        out["low_confidence"] = self.low_confidence
        return out


def _box_sum(values: np.ndarray, radius: float) -> np.ndarray:
    """Sum of ``values`` over the square of half-side ``radius`` around each pixel (zeros beyond)."""
    k = 2 * max(1, int(round(radius))) + 1
    return cv2.boxFilter(values, -1, (k, k), normalize=False, borderType=cv2.BORDER_CONSTANT)


def _masked_mean(values: np.ndarray, weight: np.ndarray, radius: float) -> np.ndarray:
    """Mean of ``values`` over the square of half-side ``radius``, counting only weighted pixels."""
    return _box_sum(values * weight, radius) / np.maximum(_box_sum(weight, radius), 1e-3)


def _standardise(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    inside = values[mask]
    sd = float(inside.std()) or 1.0
    return (values - float(inside.mean())) / sd


def _work_image(rgb: np.ndarray, field: FieldOfView) -> tuple[np.ndarray, np.ndarray, float, float, float]:
    """The field's square resampled to WORK_SIDE (black outside the image), its mask, and the
    transform back: (work rgb float32, mask, scale, left, top) with image = work * scale + offset."""
    left, top = field.center_x - field.radius, field.center_y - field.radius
    scale = 2 * field.radius / WORK_SIDE
    matrix = np.array([[1 / scale, 0, -left / scale], [0, 1 / scale, -top / scale]], np.float64)
    interpolation = cv2.INTER_AREA if scale > 1 else cv2.INTER_LINEAR
    work = cv2.warpAffine(rgb, matrix, (WORK_SIDE, WORK_SIDE), flags=interpolation,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    yy, xx = np.ogrid[:WORK_SIDE, :WORK_SIDE]
    c = WORK_SIDE / 2
    in_circle = (xx + 0.5 - c) ** 2 + (yy + 0.5 - c) ** 2 <= (0.985 * c) ** 2
    # pixels of the circle beyond the photograph (a field cut by the frame) are not field
    inside = cv2.warpAffine(np.ones(rgb.shape[:2], np.uint8), matrix, (WORK_SIDE, WORK_SIDE),
                            flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0) > 0
    mask = in_circle & inside & (work.max(axis=2) > 8)
    return work.astype(np.float32), mask, scale, left, top


def _edge_radius(profile: np.ndarray, radii: np.ndarray) -> float | None:
    """The disc's edge on one radial profile: the outermost fall whose drop is large enough.

    Candidates are the local maxima of the fall (minus the derivative of the smoothed
    profile); a candidate's drop is the profile's decrease across it (EDGE_WINDOW bins either
    side). The edge is the outermost candidate whose drop is at least EDGE_MIN_DROP (a share
    of the local mean brightness) and EDGE_SHARE of the profile's largest drop: the rim's edge
    beyond a much brighter cup counts, the small ups and downs of vessels crossing a sector,
    peripapillary atrophy and uneven background further out do not. None when nothing falls.
    """
    profile = np.convolve(np.pad(profile, 1, mode="edge"), np.ones(3) / 3, mode="valid")
    fall = -np.gradient(profile, radii)
    n = len(radii)
    peaks = [i for i in range(1, n - 1) if fall[i] >= fall[i - 1] and fall[i] >= fall[i + 1] and fall[i] > 0]
    if not peaks:
        return None
    drops = {i: float(profile[max(0, i - EDGE_WINDOW)] - profile[min(n - 1, i + EDGE_WINDOW)]) for i in peaks}
    needed = max(EDGE_MIN_DROP, EDGE_SHARE * max(drops.values()))
    edges = [i for i in peaks if drops[i] >= needed]
    return float(radii[max(edges)]) if edges else None


def _sector_edges(flat: np.ndarray, mask: np.ndarray, cx: float, cy: float,
                  r_max: float) -> tuple[np.ndarray, np.ndarray]:
    """The disc's edge seen from (cx, cy) in SECTORS directions: (angles, radii) of the
    sectors whose median radial profile (rings of 1.5 px out to ``r_max``) has an edge."""
    yy, xx = np.mgrid[: flat.shape[0], : flat.shape[1]]
    dist = np.hypot(xx + 0.5 - cx, yy + 0.5 - cy)
    near = mask & (dist < r_max)
    n_bins = max(8, int(math.ceil(r_max / 1.5)))
    if near.sum() < 20:
        return np.zeros(0), np.zeros(0)
    ring = np.minimum((dist[near] / r_max * n_bins).astype(int), n_bins - 1)
    angle = np.arctan2(yy[near] + 0.5 - cy, xx[near] + 0.5 - cx)
    sector = ((angle + math.pi) / (2 * math.pi) * SECTORS).astype(int) % SECTORS
    values = flat[near]
    radii = (np.arange(n_bins) + 0.5) * r_max / n_bins
    # the median of every (sector, ring) group from one sort
    group = sector * n_bins + ring
    order = np.lexsort((values, group))
    groups, first, counts = np.unique(group[order], return_index=True, return_counts=True)
    medians = np.full(SECTORS * n_bins, np.nan)
    medians[groups] = values[order][first + counts // 2]
    angles, edges = [], []
    for s, profile in enumerate(medians.reshape(SECTORS, n_bins)):
        ok = ~np.isnan(profile)
        if ok.sum() < 6:
            continue
        edge = _edge_radius(np.interp(radii, radii[ok], profile[ok]), radii)
        if edge is not None:
            angles.append(-math.pi + (s + 0.5) * 2 * math.pi / SECTORS)
            edges.append(edge)
    return np.array(angles), np.array(edges)


def _fit_circle(xs: np.ndarray, ys: np.ndarray) -> tuple[float, float, float]:
    """Least-squares (Kasa) circle through points: (centre x, centre y, radius)."""
    a = np.c_[2 * xs, 2 * ys, np.ones_like(xs)]
    (fx, fy, c), *_ = np.linalg.lstsq(a, xs * xs + ys * ys, rcond=None)
    return float(fx), float(fy), float(math.sqrt(max(c + fx * fx + fy * fy, 0.0)))


def _robust_circle(cx: float, cy: float, angles: np.ndarray,
                   edges: np.ndarray) -> tuple[float, float, float, int]:
    """A circle through the edge points seen from (cx, cy), refitted without the points more
    than FIT_TOLERANCE of its radius off it (at least half the points are kept).

    Returns (centre x, centre y, radius, number of points within FIT_TOLERANCE of it)."""
    xs, ys = cx + edges * np.cos(angles), cy + edges * np.sin(angles)
    fx, fy, radius = cx, cy, float(np.median(edges))
    keep_at_least = max(5, len(edges) // 2)
    for _ in range(4):
        residual = np.abs(np.hypot(xs - fx, ys - fy) - radius)
        keep = residual <= FIT_TOLERANCE * radius
        if keep.sum() < keep_at_least:
            keep = np.zeros(len(edges), bool)
            keep[np.argsort(residual)[:keep_at_least]] = True
        fx, fy, radius = _fit_circle(xs[keep], ys[keep])
    inliers = int((np.abs(np.hypot(xs - fx, ys - fy) - radius) <= FIT_TOLERANCE * radius).sum())
    return fx, fy, radius, inliers


def _disc_outline(flat: np.ndarray, mask: np.ndarray, cx: float, cy: float,
                  r_guess: float) -> tuple[float, float, float]:
    """The disc's centre and diameter from its edge: (centre x, centre y, diameter).

    The edge is found on radial profiles of flattened brightness in SECTORS directions
    (:func:`_edge_radius`) and a circle fitted to the edge points, which also moves the centre
    from the brightest part (a pale cup often lies to the temporal side) to the middle of the
    disc. Repeated from the fitted centre (at most OUTLINE_PASSES times, until it stops moving)
    and the circle most directions agree with kept. When fewer than half the directions agree
    with any circle, the search's centre stays and the diameter is twice the median edge
    radius seen from it (2 x ``r_guess``, the search's scale, when too few directions show an
    edge at all)."""
    r_max = max(3.5 * r_guess, 0.2 * WORK_SIDE)
    angles, edges = _sector_edges(flat, mask, cx, cy, r_max)
    if len(edges) < SECTORS // 3:
        return cx, cy, 2 * r_guess
    fallback = (cx, cy, 2 * float(np.median(edges)))
    best, best_inliers = None, -1
    x, y = cx, cy
    for _ in range(OUTLINE_PASSES):
        if len(edges) < SECTORS // 3:
            break
        fx, fy, radius, inliers = _robust_circle(x, y, angles, edges)
        if not (np.isfinite(radius) and 0 < radius < r_max) or math.hypot(fx - cx, fy - cy) > r_max / 2:
            break
        if inliers >= best_inliers:
            best, best_inliers = (fx, fy, 2 * radius), inliers
        if math.hypot(fx - x, fy - y) < 1.0:
            break
        x, y = fx, fy
        angles, edges = _sector_edges(flat, mask, x, y, r_max)
    return best if best is not None and best_inliers >= SECTORS // 2 else fallback


def locate_disc(rgb: np.ndarray, field: FieldOfView) -> DiscEstimate:
    """Locate the optic disc in ``rgb`` (uint8 (H, W, 3)) inside ``field`` (from find_field on
    the same image; a not-found field stands for the whole image).

    Returns a :class:`DiscEstimate` in the pixel coordinates of ``rgb``.
    """
    work, mask, scale, left, top = _work_image(rgb, field)
    if mask.sum() < 0.05 * WORK_SIDE * WORK_SIDE:
        c = WORK_SIDE / 2
        return DiscEstimate(c * scale + left, c * scale + top, 0.2 * WORK_SIDE * scale, 0.0, 0.2, True)
    weight = mask.astype(np.float32)
    # brightness (green and blue carry the disc where red saturates), flattened
    value = work @ np.array([0.3, 0.55, 0.15], np.float32)
    background = _masked_mean(value, weight, WORK_SIDE / 8)
    flat = value / np.maximum(background, 1.0)
    # dark thin lines: black top-hat of the green channel, relative to the local background
    green = work[..., 1]
    closed = cv2.morphologyEx(green, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9)))
    vessels = (closed - green) / np.maximum(_masked_mean(green, weight, WORK_SIDE / 8), 1.0)
    vessels = np.where(mask, vessels, 0).astype(np.float32)

    # keep candidate centres away from the field's rim (reflections and the dark edge live there)
    centre_mask = cv2.erode(mask.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    flat_w, vessels_w = flat * weight, vessels * weight
    best_score = np.full(flat.shape, -np.inf, np.float32)
    best_radius = np.zeros(flat.shape, np.float32)
    for fraction in RADII:
        r = fraction * WORK_SIDE
        # squares of the same area as the disc of radius r (box sums cost the same on every scale)
        half = r * math.sqrt(math.pi) / 2
        inner_sum, outer_sum = _box_sum(flat_w, half), _box_sum(flat_w, 2 * half)
        inner_n, outer_n = _box_sum(weight, half), _box_sum(weight, 2 * half)
        contrast = inner_sum / np.maximum(inner_n, 1e-3) - (outer_sum - inner_sum) / np.maximum(outer_n - inner_n, 1e-3)
        density = _box_sum(vessels_w, 1.5 * half) / np.maximum(_box_sum(weight, 1.5 * half), 1e-3)
        score = _standardise(contrast, centre_mask) + VESSEL_WEIGHT * _standardise(density, centre_mask)
        better = score > best_score
        best_score[better] = score[better]
        best_radius[better] = r
    best_score[~centre_mask] = -np.inf
    flat_index = int(np.argmax(best_score))
    py, px = divmod(flat_index, WORK_SIDE)
    top_score = float(best_score[py, px])
    r_guess = float(best_radius[py, px])
    cx, cy, diameter = _disc_outline(flat, mask, px + 0.5, py + 0.5, r_guess)

    yy, xx = np.mgrid[:WORK_SIDE, :WORK_SIDE]
    far = np.hypot(xx + 0.5 - cx, yy + 0.5 - cy) > 2 * diameter
    rival = float(best_score[far & centre_mask].max()) if np.any(far & centre_mask) else -np.inf
    confidence = 1.0 if not np.isfinite(rival) else float(np.clip((top_score - rival) / max(abs(top_score), 1e-6), 0, 1))
    field_diameter = WORK_SIDE if field.found else WORK_SIDE * max(rgb.shape[:2]) / (2 * field.radius)
    ratio = diameter / field_diameter
    return DiscEstimate(
        center_x=cx * scale + left,
        center_y=cy * scale + top,
        diameter=diameter * scale,
        confidence=confidence,
        ratio=float(ratio),
        disc_centred=bool(ratio > DISC_CENTRED_RATIO),
    )
