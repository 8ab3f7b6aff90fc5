"""Synthetic fundus photographs: per-image parameters, then a renderer that draws them.

Two steps, kept apart on purpose:

* :func:`sample_parameters` draws everything that defines one image (label, true vertical
  cup-to-disc ratio, disc size, camera, eye, brightness, a seed for the fine detail). It is
  cheap, so properties of the label distribution (e.g. how well the true cup-to-disc ratio
  separates the classes) can be measured without rendering a single pixel.
* :func:`render_fundus` turns one :class:`FundusParameters` into an RGB array: dark
  surround, orange-red circular field with vignetting and a brighter region, a yellowish
  optic disc with a pale cup, a branching tree of arteries and veins with arcades around a
  darker macula, texture, noise, and the colour, gamma, field size and blur of one of a few
  simulated cameras. :func:`encode_jpeg` saves it the way that camera would.

Glaucoma (label 1) differs from normal (label 0) only in the optic nerve head: a larger
vertical cup-to-disc ratio (so a thinner neuroretinal rim), sometimes with a rim notch.
Disc size, camera, eye, brightness and every other nuisance property are drawn
independently of the label.

Geometry is described in fractions of the image side, so one set of parameters renders at any
size. Images are drawn for a left eye (disc on the viewer's left) and mirrored for right eyes.
"""

from __future__ import annotations

import dataclasses
import io
import math
from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from glaucoma_core.labels import NEGATIVE_LABEL, POSITIVE_LABEL

# ---------------------------------------------------------------- label model

#: Share of glaucoma images (the paper's dataset has about 46 %).
GLAUCOMA_FRACTION = 0.46
#: Vertical cup-to-disc ratio by class: (mean, standard deviation), clipped to CDR_RANGE.
#: Means 2.4 standard deviations apart give an AUC of about 0.95 for the true ratio.
CDR_NORMAL = (0.40, 0.095)
CDR_GLAUCOMA = (0.625, 0.095)
CDR_RANGE = (0.15, 0.88)
#: Share of glaucoma images whose rim has a focal notch (cup reaching toward the disc edge).
NOTCH_PROBABILITY = 0.3


# ---------------------------------------------------------------- cameras


@dataclass(frozen=True)
class Camera:
    """How one simulated fundus camera renders and saves its images.

    tint: RGB gains applied after exposure; gamma: tone curve exponent (>1 darker mid-tones);
    field_radius: radius of the circular field as a fraction of the image side (above 0.5
    the circle is cut by the image edges); vignette: how much darker the field edge is than
    the centre (0..1); blur: Gaussian blur radius in pixels at 256 px; noise: sensor noise
    standard deviation (0..1 scale); quality: JPEG quality; brightness: mean field
    brightness (0..1) the exposure aims at; marker: draws the small square notch some
    cameras leave on the field edge.
    """

    name: str
    tint: tuple[float, float, float]
    gamma: float
    field_radius: float
    vignette: float
    blur: float
    noise: float
    quality: int
    brightness: float
    marker: bool = False


CAMERAS: tuple[Camera, ...] = (
    Camera("tabletop-a", (1.00, 0.96, 0.92), 1.00, 0.470, 0.45, 0.35, 0.012, 92, 0.46),
    Camera("tabletop-b", (1.04, 0.86, 0.80), 0.92, 0.530, 0.40, 0.55, 0.010, 90, 0.50, marker=False),
    Camera("wide-c", (0.95, 1.04, 0.90), 1.08, 0.455, 0.55, 0.30, 0.014, 95, 0.42, marker=True),
    Camera("handheld-d", (1.00, 0.90, 1.02), 1.15, 0.430, 0.60, 0.95, 0.022, 86, 0.38),
)


# ---------------------------------------------------------------- parameters


@dataclass(frozen=True)
class FundusParameters:
    """Everything that defines one synthetic image (lengths are fractions of the image side).

    label: 1 glaucoma, 0 normal. cdr: true vertical cup-to-disc ratio (cup height over disc
    height, notch included). cup_width_ratio: horizontal over vertical cup extent.
    notch_angle / notch_depth: focal rim notch (degrees, 90 = inferior pole; depth 0 = none).
    disc_radius: horizontal disc radius; disc_aspect: vertical over horizontal disc radius.
    disc_x, disc_y: disc centre, fovea_x, fovea_y: fovea, both for a left eye. eye: 'OS'
    (left, disc on the viewer's left) or 'OD' (mirrored). camera: index into CAMERAS.
    exposure: multiplies the camera's target brightness. pigment: 0 light orange .. 1 dark
    red-brown fundus. render_seed: seeds vessels, texture and noise.
    """

    index: int
    label: int
    cdr: float
    cup_width_ratio: float
    notch_angle: float
    notch_depth: float
    disc_radius: float
    disc_aspect: float
    disc_x: float
    disc_y: float
    fovea_x: float
    fovea_y: float
    eye: str
    camera: int
    exposure: float
    pigment: float
    render_seed: int

    @property
    def rim_to_disc(self) -> float:
        """Thinnest vertical neuroretinal rim as a share of the disc radius (1 - CDR)."""
        return 1.0 - self.cdr

    def as_row(self, image_size: int) -> dict:
        """A flat dict for the parameters table (adds pixel sizes at ``image_size``)."""
        row = asdict(self)
        row["camera_name"] = CAMERAS[self.camera].name
        row["notch"] = self.notch_depth > 0
        row["disc_radius_px"] = round(self.disc_radius * image_size, 2)
        row["cup_radius_px"] = round(self.cdr * self.disc_radius * self.disc_aspect * image_size, 2)
        return row


def _balanced_assignment(rng: np.random.Generator, labels: np.ndarray, n_values: int) -> np.ndarray:
    """Values 0..n_values-1 spread evenly within each class (so they carry no label signal)."""
    out = np.empty(len(labels), dtype=int)
    for label in (NEGATIVE_LABEL, POSITIVE_LABEL):
        where = np.flatnonzero(labels == label)
        values = np.resize(rng.permutation(n_values), len(where))
        out[where] = rng.permutation(values)
    return out


def sample_parameters(n_images: int, seed: int = 0) -> list[FundusParameters]:
    """Draw the parameters of ``n_images`` images, deterministically for ``seed``.

    About GLAUCOMA_FRACTION of them are glaucoma, in shuffled order (an image's index says
    nothing about its label); cameras and eyes are balanced within each class.
    """
    if n_images < 2:
        raise ValueError(f"n_images must be at least 2, got {n_images}")
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 20261125]))
    n_pos = min(max(1, round(n_images * GLAUCOMA_FRACTION)), n_images - 1)
    labels = rng.permutation(np.r_[np.ones(n_pos, int), np.zeros(n_images - n_pos, int)])
    cameras = _balanced_assignment(rng, labels, len(CAMERAS))
    eyes = _balanced_assignment(rng, labels, 2)
    render_seeds = rng.integers(0, 2**31 - 1, size=n_images)

    params = []
    for i, label in enumerate(labels):
        mean, sd = CDR_GLAUCOMA if label == POSITIVE_LABEL else CDR_NORMAL
        cdr = float(np.clip(rng.normal(mean, sd), *CDR_RANGE))
        notch_angle, notch_depth = 0.0, 0.0
        notch_draw = rng.random()
        angle_draw = rng.choice([80.0, 100.0, -80.0, -100.0]) + rng.normal(0, 8)
        depth_draw = rng.uniform(0.3, 0.55)
        if label == POSITIVE_LABEL and notch_draw < NOTCH_PROBABILITY:
            notch_angle, notch_depth = float(angle_draw), float(depth_draw)
        disc_radius = float(np.clip(rng.normal(0.118, 0.009), 0.095, 0.14))
        disc_x = 0.26 + rng.normal(0, 0.015)
        disc_y = 0.5 + rng.normal(0, 0.02)
        fovea_dist = rng.uniform(0.44, 0.5)
        params.append(
            FundusParameters(
                index=i,
                label=int(label),
                cdr=round(cdr, 4),
                cup_width_ratio=round(float(rng.uniform(0.88, 1.0)), 4),
                notch_angle=round(notch_angle, 2),
                notch_depth=round(notch_depth, 4),
                disc_radius=round(disc_radius, 5),
                disc_aspect=round(float(rng.uniform(1.02, 1.12)), 4),
                disc_x=round(float(disc_x), 5),
                disc_y=round(float(disc_y), 5),
                fovea_x=round(float(disc_x + fovea_dist), 5),
                fovea_y=round(float(disc_y + rng.normal(0.02, 0.012)), 5),
                eye="OD" if eyes[i] else "OS",
                camera=int(cameras[i]),
                exposure=round(float(np.exp(rng.normal(0, 0.08))), 4),
                pigment=round(float(rng.beta(2, 2)), 4),
                render_seed=int(render_seeds[i]),
            )
        )
    return params


# ---------------------------------------------------------------- small helpers


@lru_cache(maxsize=4)
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates (y, x) as float32 fractions of the image side."""
    c = (np.arange(size, dtype=np.float32) + 0.5) / size
    return c[:, None], c[None, :]


def _smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Zero-mean, unit-ish smooth noise: a ``cells`` x ``cells`` grid upsampled bicubically."""
    coarse = rng.standard_normal((cells, cells)).astype(np.float32)
    return np.asarray(Image.fromarray(coarse, mode="F").resize((size, size), Image.BICUBIC))


def _highlight_rolloff(x: np.ndarray, knee: float = 0.72) -> np.ndarray:
    """Compress values above ``knee`` smoothly toward 1 (a film-like shoulder, no hard clip)."""
    over = np.maximum(x - knee, 0.0)
    return np.clip(np.minimum(x, knee) + (1 - knee) * np.tanh(over / (1 - knee)), 0.0, 1.0)


def cup_boundary(p: FundusParameters, n_angles: int = 360) -> tuple[np.ndarray, np.ndarray]:
    """Cup edge radius (in disc radii, per axis) at angles 0..360 degrees (90 = inferior).

    An ellipse (vertical semi-axis b, horizontal b * cup_width_ratio) plus a Gaussian notch;
    b is solved so that the vertical extent of the cup over the disc equals ``p.cdr``.
    """
    phi = np.linspace(0, 2 * np.pi, n_angles, endpoint=False)
    ellipse = 1.0 / np.sqrt((np.cos(phi) / p.cup_width_ratio) ** 2 + np.sin(phi) ** 2)
    bump = np.ones_like(phi)
    if p.notch_depth > 0:
        delta = np.angle(np.exp(1j * (phi - np.radians(p.notch_angle))))
        bump = 1.0 + p.notch_depth * np.exp(-0.5 * (delta / np.radians(16)) ** 2)
    shape = ellipse * bump
    height = (shape * np.sin(phi)).max() - (shape * np.sin(phi)).min()
    radius = shape * (2.0 * p.cdr / height)
    return phi, np.minimum(radius, 0.96)


# ---------------------------------------------------------------- vessels


_KINDS = ("artery", "vein")  # drawn as rng.choice(_KINDS) would, faster


def _vessel_tree(rng: np.random.Generator, p: FundusParameters, size: int) -> list[tuple]:
    """Vessel segments [(kind, width_px, points [[x, y], ...]), ...] in pixels (left eye).

    Four main artery/vein pairs leave the cup: two temporal arcades that arch above and
    below the macula, two shorter nasal ones; each branches recursively into thinner
    vessels. Vessels stop short of the fovea (the avascular zone).
    """
    s = float(size)
    disc = np.array([p.disc_x, p.disc_y]) * s
    fovea = np.array([p.fovea_x, p.fovea_y]) * s
    r_disc = p.disc_radius * s
    faz = 0.04 * s
    step = max(1.5, s / 170)
    segments: list[tuple] = []

    def grow(kind, start, angle0, width, length, total_turn, depth):
        """One vessel: smooth bend of ``total_turn`` radians, mild tortuosity, branches."""
        n_steps = max(2, int(length / step))
        t = np.arange(1, n_steps + 1) / n_steps
        travelled = np.arange(1, n_steps + 1) * step
        amp = rng.uniform(0.05, 0.14, size=(2, 1))
        wavelength = rng.uniform(0.04, 0.12, size=(2, 1)) * s
        phase = rng.uniform(0, 2 * np.pi, size=(2, 1))
        angle = angle0 + total_turn * (1 - (1 - t) ** 2) + np.cumsum(rng.normal(0, 0.012, size=n_steps))
        angle += (amp * np.sin(2 * np.pi * travelled / wavelength + phase)).sum(axis=0)
        pts = np.vstack([start, start + np.cumsum(step * np.stack((np.cos(angle), np.sin(angle)), axis=1), axis=0)])
        # stop at the foveal avascular zone or once well outside the image
        ahead = pts[1:]
        stop = (np.hypot(*(ahead - fovea).T) < faz * rng.uniform(1.0, 1.5)) | (
            (ahead < -0.05 * s) | (ahead > 1.05 * s)
        ).any(1)
        n = int(np.argmax(stop)) + 1 if stop.any() else n_steps
        # branch points, alternating sides; the parent narrows a little after each
        branch_at, d = [], rng.uniform(0.06, 0.14) * s
        while d < travelled[n - 1]:
            branch_at.append(int(d / step))
            d += rng.uniform(0.07, 0.16) * s
        taper = width * (1 - 0.4 * t[:n]) * 0.92 ** np.searchsorted(branch_at, np.arange(n), side="right")
        # one short polyline per 4 steps, as Python lists (drawn point by point by Pillow)
        starts = range(0, n, 4)
        widths = taper[np.minimum(np.arange(0, n, 4) + 3, n - 1)].tolist()
        points = pts[: n + 4].tolist()  # a segment starting at j ends at j + 4
        segments.extend((kind, w, points[j : j + 5]) for j, w in zip(starts, widths, strict=True))
        side = (-1, 1)[rng.integers(0, 2)]  # rng.choice([-1, 1]), same draw, 6x faster
        for b in branch_at:
            w = taper[b - 1] if b >= 1 else width
            if w > 0.9 and depth < 3 and travelled[b] > 1.2 * r_disc:
                child_len = (length - travelled[b]) * rng.uniform(0.3, 0.65) + 0.06 * s
                child_angle = angle[b] + side * rng.uniform(0.5, 1.1)
                grow(
                    kind,
                    pts[b],
                    child_angle,
                    w * rng.uniform(0.5, 0.72),
                    child_len,
                    side * rng.uniform(-0.6, 0.3),
                    depth + 1,
                )
            side = -side

    vein_w = 0.17 * r_disc
    artery_w = 0.125 * r_disc
    for vert in (-1, 1):  # -1 superior, +1 inferior (image y grows downward)
        for kind, w, offset in (
            ("vein", vein_w, rng.uniform(0.05, 0.2)),
            ("artery", artery_w, rng.uniform(-0.2, 0)),
        ):
            start = disc + np.array([-0.5 * p.cdr * r_disc, vert * 0.15 * p.cdr * r_disc])
            # temporal arcade: leaves upward/downward, arches over the macula toward the raphe
            a0 = vert * (math.pi / 2 - 0.1 + offset)
            turn = -vert * rng.uniform(1.55, 1.85)
            grow(kind, start, a0, w, rng.uniform(0.85, 1.0) * s, turn, 0)
            # nasal vessel: leaves up/down and nasally, bends outward
            a1 = vert * (math.pi / 2 + 0.55 + 0.5 * offset + rng.normal(0, 0.1))
            grow(kind, start, a1, w * 0.8, 0.38 * s, vert * rng.uniform(0.1, 0.5), 1)
    # small vessels from the disc straight toward the macula and nasally
    for _ in range(rng.integers(2, 4)):
        a = rng.normal(0, 0.3)
        grow(_KINDS[rng.integers(0, 2)], disc, a, artery_w * 0.5, 0.35 * s, rng.normal(0, 0.3), 3)
    for _ in range(rng.integers(1, 3)):
        a = math.pi + rng.normal(0, 0.35)
        grow(_KINDS[rng.integers(0, 2)], disc, a, artery_w * 0.6, 0.25 * s, rng.normal(0, 0.3), 2)
    return segments


def _vessel_masks(segments: list[tuple], size: int, supersample: int = 2) -> dict[str, np.ndarray]:
    """Coverage masks (0..1) of arteries and veins, antialiased by supersampling."""
    big = size * supersample
    canvases = {kind: Image.new("L", (big, big), 0) for kind in ("artery", "vein")}
    draws = {kind: ImageDraw.Draw(img) for kind, img in canvases.items()}
    for kind, width, pts in sorted(segments, key=lambda seg: seg[1]):
        w = max(1, round(width * supersample))
        # thin vessels are fainter as well as narrower
        value = int(255 * min(1.0, 0.45 + 0.45 * width))
        xy = [(x * supersample, y * supersample) for x, y in pts]
        draws[kind].line(xy, fill=value, width=w, joint="curve")
    return {
        kind: np.asarray(img.resize((size, size), Image.BOX), dtype=np.float32) / 255.0
        for kind, img in canvases.items()
    }


# ---------------------------------------------------------------- rendering


def render_fundus(p: FundusParameters, image_size: int = 256, layout: FullFieldLayout | None = None) -> np.ndarray:
    """Draw one synthetic fundus photograph: uint8 RGB array of shape (size, size, 3).

    layout: the extras of a full-field photograph (bright spots, an illumination gradient,
    edge reflections; see :func:`render_full_field`); None draws exactly the demo image.
    """
    return _render(p, image_size, layout)[0]


def _render(p: FundusParameters, image_size: int, layout: FullFieldLayout | None) -> tuple[np.ndarray, tuple]:
    """The image of :func:`render_fundus` and its field (centre x, centre y, radius) as fractions
    of the side, before mirroring. The full-field extras draw from their own random stream, so
    ``layout=None`` gives the demo dataset's pixels unchanged."""
    size = int(image_size)
    cam = CAMERAS[p.camera]
    rng = np.random.default_rng(p.render_seed)
    y, x = _grid(size)

    # background albedo: orange-red, darker and browner with pigment, choroidal texture
    light = np.array([0.94, 0.41, 0.28], np.float32)
    dark = np.array([0.80, 0.27, 0.17], np.float32)
    base = light + (dark - light) * p.pigment
    texture = (
        0.018 * _smooth_noise(rng, size, max(6, size // 24))
        + 0.014 * _smooth_noise(rng, size, max(16, size // 5))
        + 0.012 * _smooth_noise(rng, size, max(32, size // 2))
    )
    albedo = base[None, None, :] * (1.0 + texture[..., None] * np.array([0.6, 1.0, 1.0], np.float32))

    # macula: darker, browner towards the fovea, a small central dip
    d_fovea2 = (x - p.fovea_x) ** 2 + (y - p.fovea_y) ** 2
    macula = 0.30 * np.exp(-d_fovea2 / (2 * (0.09 + 0.01 * p.pigment) ** 2)) + 0.22 * np.exp(
        -d_fovea2 / (2 * 0.018**2)
    )
    albedo = albedo * (1.0 - macula[..., None] * np.array([0.55, 1.0, 0.9], np.float32))

    # optic disc (ellipse), pale cup with a soft but clear edge, peripapillary halo
    rx = p.disc_radius
    ry = p.disc_radius * p.disc_aspect
    half = ry * 1.5
    r0, r1 = max(0, int((p.disc_y - half) * size)), min(size, int((p.disc_y + half) * size) + 1)
    c0, c1 = max(0, int((p.disc_x - half) * size)), min(size, int((p.disc_x + half) * size) + 1)
    u = (x[:, c0:c1] - p.disc_x) / rx
    v = (y[r0:r1, :] - p.disc_y) / ry
    rho = np.sqrt(u * u + v * v)
    phi = np.mod(np.arctan2(v, u), 2 * np.pi)
    angles, cup_r = cup_boundary(p)
    cup_edge = np.interp(phi, angles, cup_r, period=2 * np.pi)
    edge_soft = 0.05
    disc_a = _smoothstep(1.0 + edge_soft, 1.0 - edge_soft, rho)
    cup_a = _smoothstep(cup_edge + 0.035, cup_edge - 0.035, rho)
    halo = 0.12 * rng.uniform(0.2, 1.0) * _smoothstep(1.3, 1.0, rho) * (1 - disc_a)
    rim_col = np.array([0.98, 0.52, 0.32], np.float32) * (1 + 0.06 * _smoothstep(-0.2, 0.6, u)[..., None])
    cup_col = np.array([1.0, 0.97, 0.88], np.float32)
    patch = albedo[r0:r1, c0:c1]
    patch = patch * (1 + halo[..., None] * np.array([0.35, 0.9, 0.9], np.float32))
    patch = patch * (1 - disc_a[..., None]) + rim_col * disc_a[..., None]
    # the cup is palest in its depth, a little more yellow toward its edge
    depth = np.clip(rho / np.maximum(cup_edge, 1e-3), 0, 1)[..., None] ** 2
    cup_shaded = cup_col * (1 - depth * np.array([0.0, 0.05, 0.1], np.float32))
    patch = patch * (1 - cup_a[..., None]) + cup_shaded * cup_a[..., None]
    albedo = albedo.copy()
    albedo[r0:r1, c0:c1] = patch

    # vessels: veins darker and wider, arteries lighter and thinner
    masks = _vessel_masks(_vessel_tree(rng, p, size), size)
    for mask in masks.values():  # vessels dip into the cup: fainter there, the cup stays visible
        mask[r0:r1, c0:c1] *= 1.0 - 0.9 * cup_a
    vein = masks["vein"][..., None]
    artery = masks["artery"][..., None]
    albedo = albedo * (1 - vein * np.array([0.24, 0.55, 0.45], np.float32))
    albedo = albedo * (1 - artery * np.array([0.09, 0.40, 0.30], np.float32))
    if layout is not None:
        albedo = _add_spots(albedo, layout, x, y)

    # illumination: vignetting towards the field edge, one brighter region, slow unevenness
    cx = 0.5 + rng.normal(0, 0.008)
    cy = 0.5 + rng.normal(0, 0.008)
    radius = cam.field_radius
    r_field = np.sqrt((x - cx) ** 2 + (y - cy) ** 2) / radius
    bx, by = cx + rng.normal(0, 0.12), cy + rng.normal(-0.05, 0.1)
    bright = rng.uniform(0.12, 0.3) * np.exp(
        -((x - bx) ** 2 + (y - by) ** 2) / (2 * rng.uniform(0.15, 0.25) ** 2)
    )
    vignette = 1.0 - cam.vignette * np.clip(r_field, 0, 1) ** 2.4
    uneven = 1.0 + 0.06 * _smooth_noise(rng, size, 4)
    light_map = vignette * (1 + bright) * uneven
    if layout is not None and layout.gradient:
        gx, gy = math.cos(layout.gradient_angle), math.sin(layout.gradient_angle)
        slope = ((x - cx) * gx + (y - cy) * gy) / radius
        light_map = light_map * np.clip(1.0 + layout.gradient * slope, 0.25, None)
    image = albedo * light_map[..., None]

    field = _smoothstep(1.0 + 0.8 / (radius * size), 1.0 - 0.8 / (radius * size), r_field)
    if cam.marker:  # a small square tab on the field edge, upper right, as some cameras leave
        # at the upper right of the saved image whichever the eye (right eyes are mirrored below)
        mx = cx + (0.8 if p.eye == "OS" else -0.8) * radius * 0.995
        my = cy - radius * 0.6 * 0.995
        tab = (np.abs(x - mx) < 0.022) & (np.abs(y - my) < 0.022) & (r_field < 1.07)
        field = np.maximum(field, tab.astype(np.float32))
    # exposure: scale so the mean field brightness hits the camera target (label-blind)
    luma = image @ np.array([0.299, 0.587, 0.114], np.float32)
    mean = float((luma * field).sum() / max(field.sum(), 1.0))
    image = image * (cam.brightness * p.exposure / max(mean, 1e-6))
    if layout is not None:
        image = _add_reflections(image, layout, r_field, np.arctan2(y - cy, x - cx))

    # camera: tint, gamma, sensor noise, black surround
    image = _highlight_rolloff(image * np.array(cam.tint, np.float32)) ** cam.gamma
    image = image + rng.normal(0, cam.noise, size=image.shape).astype(np.float32)
    image = image * field[..., None]
    out = np.clip(image * 255 + 0.5, 0, 255).astype(np.uint8)
    if p.eye == "OD":
        out = out[:, ::-1]
    img = Image.fromarray(np.ascontiguousarray(out))
    if cam.blur > 0:
        img = img.filter(ImageFilter.GaussianBlur(cam.blur * size / 256))
    return np.asarray(img), (float(cx), float(cy), float(radius))


def encode_jpeg(image: np.ndarray, camera: int) -> bytes:
    """JPEG bytes of ``image`` at the quality of camera ``camera`` (baseline, 4:2:0)."""
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=CAMERAS[camera].quality, optimize=False)
    return buf.getvalue()


# ---------------------------------------------------------------- full-field photographs
#
# Public glaucoma databases come as full-field photographs (the disc a small bright region
# left or right of centre inside a black-bordered circle, often with brighter things than the
# disc: exudates, the nerve-fibre sheen, reflections at the field edge) or as disc-centred
# crops of varying size. These styles draw both from the same label model (same labels, cup-to-
# disc ratios and notches as the demo images of the same seed), with the disc's position and
# diameter known per image, so a disc locator can be measured.

#: Image styles of the generator: the demo images, full-field photographs, disc-centred crops.
STYLES = ("disc", "full-field", "disc-crop")


@dataclass(frozen=True)
class FullFieldLayout:
    """What a full-field photograph adds to :class:`FundusParameters`.

    spots: exudate-like bright spots ``(x, y, radius, gain)`` in fractions of the square side
        (left-eye coordinates), gain > 1 makes them brighter than the pale cup.
    reflections: crescent-shaped reflections at the field edge ``(angle, half_width, strength)``
        (radians, radians, added brightness 0..1).
    gradient, gradient_angle: illumination falls linearly across the field by ``gradient``
        per field radius along ``gradient_angle`` (radians).
    aspect: width over height of the saved photograph (the square field is padded with black).
    crop_multiple: disc-crop style only: crop side in disc diameters.
    crop_scale: disc-crop style only: output side as a multiple of the requested image size.
    """

    spots: tuple[tuple[float, float, float, float], ...] = ()
    reflections: tuple[tuple[float, float, float], ...] = ()
    gradient: float = 0.0
    gradient_angle: float = 0.0
    aspect: float = 1.0
    crop_multiple: float = 0.0
    crop_scale: float = 1.0


def sample_full_field(n_images: int, seed: int = 0, *, spot_probability: float = 0.5,
                      reflection_probability: float = 0.4) -> list[tuple[FundusParameters, FullFieldLayout]]:
    """Parameters of ``n_images`` full-field photographs, deterministic for ``seed``.

    Labels, cup-to-disc ratios, notches, cameras, eyes and exposures are those of
    :func:`sample_parameters` with the same seed (same class rules); the geometry is that of a
    45-degree photograph: disc diameter 7-14 % of the square side, disc centre 17-36 % from the
    nasal side and up to 12 % above or below the middle, fovea 2.3-3 disc diameters temporal.
    spot_probability / reflection_probability: share of images with exudate-like spots / edge
    reflections (drawn independently of the label, as is everything but the optic nerve head).
    """
    base = sample_parameters(n_images, seed)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 20261202]))
    out = []
    for p in base:
        disc_radius = float(rng.uniform(0.035, 0.07))
        disc_x = float(rng.uniform(0.17, 0.36))
        disc_y = float(0.5 + rng.uniform(-0.12, 0.12))
        fovea_dist = float(rng.uniform(2.3, 3.0) * 2 * disc_radius)
        geometry = dataclasses.replace(
            p,
            disc_radius=round(disc_radius, 5),
            disc_x=round(disc_x, 5),
            disc_y=round(disc_y, 5),
            fovea_x=round(disc_x + fovea_dist, 5),
            fovea_y=round(disc_y + float(rng.normal(0.02, 0.012)), 5),
        )
        spots = []
        if rng.random() < spot_probability:
            # a cluster of small exudate-like spots around a point of the posterior pole
            sx = float(rng.uniform(0.35, 0.8))
            sy = float(rng.uniform(0.3, 0.7))
            for _ in range(int(rng.integers(2, 9))):
                spots.append((
                    round(sx + float(rng.normal(0, 0.04)), 5),
                    round(sy + float(rng.normal(0, 0.04)), 5),
                    round(float(rng.uniform(0.003, 0.012)), 5),
                    round(float(rng.uniform(1.1, 1.5)), 4),
                ))
        reflections = []
        if rng.random() < reflection_probability:
            for _ in range(int(rng.integers(1, 3))):
                reflections.append((round(float(rng.uniform(-math.pi, math.pi)), 4),
                                    round(float(rng.uniform(0.3, 0.8)), 4),
                                    round(float(rng.uniform(0.25, 0.6)), 4)))
        layout = FullFieldLayout(
            spots=tuple(spots),
            reflections=tuple(reflections),
            gradient=round(float(rng.uniform(0.0, 0.45)), 4),
            gradient_angle=round(float(rng.uniform(-math.pi, math.pi)), 4),
            aspect=float(rng.choice([1.0, 1.25, 1.5])),
            crop_multiple=round(float(rng.uniform(2.0, 3.5)), 4),
            crop_scale=round(float(rng.uniform(0.8, 1.25)), 4),
        )
        out.append((geometry, layout))
    return out


def _add_spots(albedo: np.ndarray, layout: FullFieldLayout, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Paint the layout's exudate-like spots (yellow-white, sharp-edged) onto the albedo."""
    colour = np.array([1.0, 0.93, 0.62], np.float32)
    for sx, sy, radius, gain in layout.spots:
        d = np.sqrt((x - sx) ** 2 + (y - sy) ** 2) / radius
        a = _smoothstep(1.15, 0.7, d)[..., None]
        albedo = albedo * (1 - a) + colour * gain * a
    return albedo


def _add_reflections(image: np.ndarray, layout: FullFieldLayout, r_field: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """Add whitish crescent reflections just inside the field edge (brighter than the disc)."""
    colour = np.array([0.95, 1.0, 1.05], np.float32)
    for angle, half_width, strength in layout.reflections:
        delta = np.angle(np.exp(1j * (theta - angle)))
        band = np.exp(-(((r_field - 0.9) / 0.06) ** 2)) * np.exp(-0.5 * (delta / half_width) ** 2)
        image = image + (strength * band)[..., None] * colour
    return image


def _truth(p: FundusParameters, field: tuple, side: int, pad: int) -> dict:
    """Where the disc and the field are in the saved photograph, in pixels."""
    disc_x = p.disc_x if p.eye == "OS" else 1.0 - p.disc_x
    cx, cy, radius = field
    field_x = cx if p.eye == "OS" else 1.0 - cx
    return {
        "disc_center_x_px": round(disc_x * side + pad, 2),
        "disc_center_y_px": round(p.disc_y * side, 2),
        "disc_diameter_px": round(2 * p.disc_radius * side, 2),
        "field_center_x_px": round(field_x * side + pad, 2),
        "field_center_y_px": round(cy * side, 2),
        "field_radius_px": round(radius * side, 2),
    }


def render_full_field(p: FundusParameters, layout: FullFieldLayout, height: int) -> tuple[np.ndarray, dict]:
    """A full-field photograph ``height`` pixels high and ``aspect`` times as wide.

    Returns (uint8 RGB array (height, width, 3), truth) where truth gives the disc centre and
    (horizontal) diameter and the field centre and radius in pixels of the returned array.
    """
    side = int(height)
    square, field = _render(p, side, layout)
    width = max(side, int(round(side * layout.aspect)))
    pad = (width - side) // 2
    out = np.zeros((side, width, 3), np.uint8)
    out[:, pad : pad + side] = square
    truth = _truth(p, field, side, pad)
    truth.update(width=width, height=side)
    return out, truth


#: Largest square a disc crop is cut from (memory: about 0.3 GB of float32 work arrays).
MAX_RENDER_SIDE = 4096


def render_disc_crop(p: FundusParameters, layout: FullFieldLayout, image_size: int) -> tuple[np.ndarray, dict]:
    """A disc-centred crop: side ``crop_multiple`` disc diameters, ``crop_scale * image_size`` px.

    The full field is rendered large enough for the crop to need no upsampling (up to
    MAX_RENDER_SIDE), cut around the disc (black beyond the photograph) and resized.
    Returns (uint8 RGB array (s, s, 3), truth) as :func:`render_full_field`.
    """
    out_side = max(32, int(round(image_size * layout.crop_scale)))
    crop_frac = layout.crop_multiple * 2 * p.disc_radius
    side = int(min(MAX_RENDER_SIDE, max(out_side, math.ceil(out_side / crop_frac))))
    square, field = _render(p, side, layout)
    truth = _truth(p, field, side, 0)
    half = crop_frac * side / 2
    box = (truth["disc_center_x_px"] - half, truth["disc_center_y_px"] - half,
           truth["disc_center_x_px"] + half, truth["disc_center_y_px"] + half)
    # Pillow refuses a box beyond the image: pad the square with black (the camera's surround)
    pad = int(math.ceil(max(0.0, -min(box[:2]), max(box[2:]) - side)))
    padded = np.pad(square, ((pad, pad), (pad, pad), (0, 0))) if pad else square
    crop = Image.fromarray(padded).resize((out_side, out_side), Image.BILINEAR,
                                          box=tuple(v + pad for v in box), reducing_gap=None)
    # pixels beyond the rendered square: black, like the camera's surround
    arr = np.asarray(crop).copy()
    scale = out_side / (2 * half)
    lo = [int(math.ceil(max(0.0, -b) * scale)) for b in box[:2]]
    hi = [out_side - int(math.ceil(max(0.0, b - side) * scale)) for b in box[2:]]
    mask = np.zeros((out_side, out_side), bool)
    mask[lo[1] : hi[1], lo[0] : hi[0]] = True
    arr[~mask] = 0
    c = out_side / 2
    return arr, {
        "disc_center_x_px": round(c, 2),
        "disc_center_y_px": round(c, 2),
        "disc_diameter_px": round(out_side / layout.crop_multiple, 2),
        "field_center_x_px": round((truth["field_center_x_px"] - box[0]) * scale, 2),
        "field_center_y_px": round((truth["field_center_y_px"] - box[1]) * scale, 2),
        "field_radius_px": round(truth["field_radius_px"] * scale, 2),
        "width": out_side,
        "height": out_side,
    }


def encode_camera_jpeg(image: np.ndarray, camera: int, index: int = 0) -> bytes:
    """JPEG bytes the way camera ``camera`` saves a photograph: its quality, 4:2:0, and EXIF
    (make, model, software, a capture time derived from ``index``, orientation 1)."""
    cam = CAMERAS[camera]
    exif = Image.Exif()
    exif[0x010F] = "Synthetic Fundus Co."  # Make
    exif[0x0110] = cam.name  # Model
    exif[0x0131] = "glaucoma_core fundus_synth"  # Software
    seconds = 9 * 3600 + 97 * int(index)
    exif[0x0132] = f"2026:01:{1 + (seconds // 86400) % 28:02d} {(seconds // 3600) % 24:02d}:{(seconds // 60) % 60:02d}:{seconds % 60:02d}"
    exif[0x0112] = 1  # Orientation: as stored
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=cam.quality, optimize=False,
                                subsampling="4:2:0", exif=exif.tobytes())
    return buf.getvalue()
