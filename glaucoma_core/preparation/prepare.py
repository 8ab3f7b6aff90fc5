"""The one entry of fundus preparation: a file and settings in, the prepared pixels and a record out.

Steps, in this fixed order (each only when the settings ask for it):

1. decode (through :mod:`glaucoma_core.data.images`, like every other path), a small copy
   for the detectors;
2. field of view (:mod:`.field_of_view`): found whenever a later step needs it;
3. optic disc (:mod:`.optic_disc`), when a disc crop is on or ``auto``;
4. geometry: the disc-centred square of ``disc_crop_scale`` disc diameters (disc crop), else
   the field's square (field of view), else the whole image as today; cut from a decode at
   just enough resolution (reduced-scale JPEG decoding when the crop allows), black beyond
   the photograph, resized to the output side (bilinear, as :func:`load_rgb_array`);
5. outside the field blacked out (field of view);
6. resolution normalisation (the config's ``resolution_normalisation``);
7. illumination (:mod:`.illumination`).

When no geometric step applies, the pixels are exactly those of
:func:`glaucoma_core.data.images.load_rgb_array` (or of
:func:`glaucoma_core.data.resolution.normalise_resolution`), so turning preparation on changes
nothing for images it leaves alone (``auto`` on disc-centred images).

:func:`load_prepared_array` is what every path that feeds a model calls: the training
pipeline, evaluation, predict, Grad-CAM, the Classify page, external validation.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from glaucoma_core.data.images import ImageSource, load_rgb, load_rgb_array, read_image_bytes
from glaucoma_core.preparation.field_of_view import FieldOfView, find_field
from glaucoma_core.preparation.illumination import normalise_illumination
from glaucoma_core.preparation.optic_disc import DiscEstimate, locate_disc
from glaucoma_core.preparation.settings import PREPARATION_VERSION, PreparationSettings

#: The detectors work on a copy whose larger side is at most this (the disc search resamples
#: the field to optic_disc.WORK_SIDE anyway).
DETECT_SIDE = 384

_EXIF_ORIENTATION = 0x0112


@dataclass
class PreparedImage:
    """The result of :func:`prepare_image`.

    Attributes:
        pixels: uint8 (size, size, 3), what the model sees.
        record: what was found and applied (JSON-able): ``width``/``height`` of the photograph,
            ``field`` and ``disc`` in its pixels (None when not searched), ``crop_box``
            (left, top, right, bottom) or None, ``applied`` (step names), ``decision`` (a
            sentence), ``warnings`` (failed or low-confidence detections) and ``seconds`` per step.
    """

    pixels: np.ndarray
    record: dict = field(default_factory=dict)


def _oriented_size(data: bytes) -> tuple[int, int]:
    """Width and height of the photograph as viewers show it (EXIF rotation applied)."""
    with Image.open(io.BytesIO(data)) as img:
        width, height = img.size
        try:
            orientation = int(img.getexif().get(_EXIF_ORIENTATION, 1))
        except Exception:  # noqa: BLE001 - a damaged EXIF block: decoding decides, not this
            orientation = 1
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def _detector_copy(img: Image.Image) -> tuple[np.ndarray, float]:
    """A copy no larger than DETECT_SIDE and its scale (copy pixels per image pixel)."""
    factor = min(1.0, DETECT_SIDE / max(img.size))
    if factor < 1.0:
        small = img.resize((max(1, round(img.width * factor)), max(1, round(img.height * factor))),
                           Image.Resampling.BILINEAR)
    else:
        small = img
    return np.asarray(small, dtype=np.uint8), small.width / img.width


def _cut(img: Image.Image, box: tuple[float, float, float, float], size: int) -> np.ndarray:
    """The square ``box`` (pixels of ``img``, may reach beyond it: black there) at size x size."""
    left, top, right, bottom = box
    il, it = math.floor(left) - 1, math.floor(top) - 1
    ir, ib = math.ceil(right) + 1, math.ceil(bottom) + 1
    padded = img.crop((il, it, ir, ib))  # zeros beyond the image
    inner = (left - il, top - it, right - il, bottom - it)
    out = padded.resize((size, size), Image.Resampling.BILINEAR, box=inner)
    return np.asarray(out, dtype=np.uint8)


def _field_mask(size: int, box: tuple[float, float, float, float], fov: FieldOfView) -> np.ndarray:
    """Output pixels (size x size over ``box``) whose centres fall inside the field's circle."""
    left, top, right, bottom = box
    u = left + (np.arange(size) + 0.5) * (right - left) / size
    v = top + (np.arange(size) + 0.5) * (bottom - top) / size
    return (u[None, :] - fov.center_x) ** 2 + (v[:, None] - fov.center_y) ** 2 <= fov.radius ** 2


def _decide_crop(settings: PreparationSettings, fov: FieldOfView, disc: DiscEstimate) -> tuple[bool, str]:
    if settings.disc_crop == "on":
        return True, f"disc crop (on): disc at confidence {disc.confidence:.2f}"
    if not fov.found:
        return False, f"left uncropped: no camera field ({fov.reason}), taken as disc-centred"
    if disc.disc_centred:
        return False, f"left uncropped: disc-centred already (disc {disc.ratio:.0%} of the field's diameter)"
    if disc.low_confidence:
        return False, f"left uncropped: disc found with low confidence ({disc.confidence:.2f})"
    return True, f"disc crop (auto): full-field photograph, disc {disc.ratio:.0%} of the field, confidence {disc.confidence:.2f}"


def _detection_file(sha256: str) -> Path | None:
    try:
        from glaucoma_core import paths

        return paths.cache_dir() / "preparation" / f"{PREPARATION_VERSION}-{DETECT_SIDE}" / sha256[:2] / f"{sha256}.json"
    except Exception:  # noqa: BLE001 - no usable home: detections are simply not kept
        return None


def _load_detections(sha256: str | None) -> dict:
    """Field and disc found earlier for this content (any process), as exact floats; {} if none."""
    path = _detection_file(sha256) if sha256 else None
    if path is None or not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}  # a damaged file only costs a new detection


def _save_detections(sha256: str | None, detections: dict) -> None:
    path = _detection_file(sha256) if sha256 else None
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
        tmp.write_text(json.dumps(detections))
        os.replace(tmp, path)
    except OSError:
        pass  # read-only or full disk: detections still serve this call


def prepare_image(source: ImageSource, size: int, settings: PreparationSettings | None = None, *,
                  sha256: str | None = None) -> PreparedImage:
    """Prepare one image for a model of input side ``size``.

    Args:
        source: path, bytes or binary file (read through :mod:`glaucoma_core.data.images`).
        size: output side in pixels.
        settings: the steps (None = none: a plain decode and resize).
        sha256: the content hash, when known: the field and disc found for this content are
            kept under the home's cache folder (``cache/preparation/``, keyed by the hash,
            PREPARATION_VERSION and DETECT_SIDE) and reused by later calls and processes.

    Raises :class:`glaucoma_core.data.images.ImageProblem` for files that cannot be used.
    """
    settings = settings or PreparationSettings()
    size = int(size)
    seconds: dict[str, float] = {}
    record: dict = {"version": PREPARATION_VERSION, "settings": settings.as_dict(), "field": None, "disc": None,
                    "crop_box": None, "applied": [], "warnings": [], "decision": "plain decode and resize"}
    started = time.perf_counter()
    data = read_image_bytes(source)
    if not settings.prepares:
        pixels = _plain(data, size, settings)
        record.update(seconds={"decode": round(time.perf_counter() - started, 4)})
        if settings.resolution:
            record["applied"].append(f"resolution:{settings.resolution}")
        return PreparedImage(pixels, record)

    img = load_rgb(data, draft_size=DETECT_SIDE)  # the safe decode first: it names a bad file's problem
    width, height = _oriented_size(data)
    record.update(width=width, height=height)
    small, small_scale = _detector_copy(img)
    detect_scale = small_scale * img.width / width  # detector pixels per photograph pixel
    seconds["decode"] = time.perf_counter() - started

    known = _load_detections(sha256)
    fresh = not known.get("field")
    t = time.perf_counter()
    if fresh:
        fov = find_field(small).scaled(1 / detect_scale)
        known = {"field": asdict(fov)}
    else:
        fov = FieldOfView(**known["field"])
    seconds["field_of_view"] = time.perf_counter() - t
    record["field"] = fov.as_dict()
    if not fov.found:
        record["warnings"].append(f"no field of view: {fov.reason}")

    box = None
    if settings.disc_crop != "off":
        t = time.perf_counter()
        if known.get("disc"):
            disc = DiscEstimate(**known["disc"])
        else:
            found = locate_disc(small, fov.scaled(detect_scale))
            disc = DiscEstimate(found.center_x / detect_scale, found.center_y / detect_scale,
                                found.diameter / detect_scale, found.confidence, found.ratio, found.disc_centred)
            known["disc"] = asdict(disc)
            fresh = True
        seconds["optic_disc"] = time.perf_counter() - t
        record["disc"] = disc.as_dict()
        if disc.low_confidence:
            record["warnings"].append(f"optic disc found with low confidence ({disc.confidence:.2f})")
        crop, record["decision"] = _decide_crop(settings, fov, disc)
        if crop:
            half = settings.disc_crop_scale * disc.diameter / 2
            box = (disc.center_x - half, disc.center_y - half, disc.center_x + half, disc.center_y + half)
            record["applied"].append("disc_crop")
    if fresh:
        _save_detections(sha256, known)
    record["detections_reused"] = not fresh
    if box is None and settings.field_of_view and fov.found:
        r = fov.radius
        box = (fov.center_x - r, fov.center_y - r, fov.center_x + r, fov.center_y + r)
        record["decision"] = "cropped to the field of view" if settings.disc_crop == "off" else record["decision"] + "; cropped to the field of view"

    t = time.perf_counter()
    if box is None:
        pixels = _plain(data, size, PreparationSettings(resolution=settings.resolution))
        view = (0.0, 0.0, float(width), float(height))
    else:
        side = box[2] - box[0]
        need = min(1.0, size / max(side, 1e-6))  # decoded pixels per photograph pixel needed
        if img.width / width < need * 0.999:
            img = load_rgb(data, draft_size=min(min(width, height), math.ceil(need * min(width, height))))
        f = img.width / width
        pixels = _cut(img, tuple(c * f for c in box), size)
        view = box
        record["crop_box"] = [round(c, 2) for c in box]
        if settings.resolution:
            pixels = _resolution(pixels, size, settings.resolution)
    mask = _field_mask(size, view, fov) if fov.found else None
    if settings.field_of_view and mask is not None:
        pixels = pixels.copy()
        pixels[~mask] = 0
        record["applied"].insert(0, "field_of_view")
    seconds["crop"] = time.perf_counter() - t
    if settings.resolution:
        record["applied"].append(f"resolution:{settings.resolution}")
    if settings.illumination != "none":
        t = time.perf_counter()
        pixels = normalise_illumination(pixels, settings.illumination, mask)
        seconds["illumination"] = time.perf_counter() - t
        record["applied"].append(f"illumination:{settings.illumination}")
    record["seconds"] = {k: round(v, 4) for k, v in seconds.items()}
    return PreparedImage(np.ascontiguousarray(pixels), record)


def _resolution(pixels: np.ndarray, size: int, resolution: int) -> np.ndarray:
    img = Image.fromarray(pixels).resize((int(resolution), int(resolution)), Image.Resampling.BILINEAR)
    if int(resolution) != size:
        img = img.resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(img, dtype=np.uint8)


def _plain(data: bytes, size: int, settings: PreparationSettings) -> np.ndarray:
    """Today's pixels: decode and resize (or the resolution normalisation of the config)."""
    if settings.resolution:
        from glaucoma_core.data.resolution import normalise_resolution

        return normalise_resolution(data, size, int(settings.resolution))
    return load_rgb_array(data, size)


# ---- cache -------------------------------------------------------------------------------------


class _Records:
    """Records of prepared images by (sha256, size, settings key), bounded (LRU)."""

    def __init__(self, max_items: int = 20000):
        self.max_items = max_items
        self._items: OrderedDict[tuple, dict] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key, value: dict) -> None:
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)


RECORDS = _Records()
"""What preparation found and applied per image in this process (the pages list these)."""


def cache_key(sha256: str, size: int, settings: PreparationSettings) -> tuple:
    """The key of an image's prepared pixels: content hash, output side and the settings' key
    (which names PREPARATION_VERSION whenever a preparation step is on)."""
    return (str(sha256), int(size), settings.key()) if settings.active else (str(sha256), int(size))


def load_prepared_array(source: ImageSource, size: int, config=None, *, sha256: str | None = None,
                        cache=None, with_record: bool = False):
    """The image ``source`` as the model of ``config`` sees it: uint8 (size, size, 3).

    The one function every path that feeds a model calls (training pipeline, evaluation,
    predict, Grad-CAM, Classify, external validation), so that all prepare alike.

    Args:
        source: path, bytes or binary file.
        size: the model's input side (e.g. ``training.predict.model_input_size(model)``).
        config: a TrainConfig, a stored config dict, PreparationSettings or None (none).
        sha256: the content hash when known (from the index); computed from the bytes if not.
        cache: a :class:`glaucoma_core.data.pipeline.DecodedImageCache` (or anything with
            ``get(key)`` / ``put(key, array)``) for the pixels; None = no pixel cache.
        with_record: return (pixels, record) instead of the pixels alone.

    Raises ImageProblem for files that cannot be used.
    """
    settings = PreparationSettings.from_config(config)
    data = None
    if sha256 is None and (cache is not None or with_record):
        data = read_image_bytes(source)
        sha256 = hashlib.sha256(data).hexdigest()
    key = cache_key(sha256, size, settings) if sha256 else None
    if cache is not None and key is not None:
        hit = cache.get(key)
        if hit is not None and not with_record:
            return hit
        if hit is not None and RECORDS.get(key) is not None:
            return hit, RECORDS.get(key)
    prepared = prepare_image(data if data is not None else source, size, settings, sha256=sha256)
    if key is not None:
        if cache is not None:
            cache.put(key, prepared.pixels)
        RECORDS.put(key, prepared.record)
    return (prepared.pixels, prepared.record) if with_record else prepared.pixels
