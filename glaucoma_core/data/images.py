"""Safe image reading: any file, bytes or upload in, an 8-bit RGB picture or a clear reason out.

Everything that turns bytes into pixels goes through this module, so that every caller (scan,
folds, training pipeline, classify page) treats broken files the same way:

- empty files, truncated or corrupt JPEG/PNG (a PNG chunk with a bad checksum included), files
  that are not images (an HTML page named ``.jpg``) raise :class:`ImageProblem` with a short
  human ``reason``;
- decompression bombs are refused from the header alone, before a single pixel is decoded
  (:data:`MAX_PIXELS`, our own limit, independent of Pillow's global one);
- EXIF orientation is applied, so width and height are those a viewer shows;
- odd modes are converted, not rejected: grayscale, palette, CMYK, 16-bit (scaled, not
  clipped), and transparent images (composited over black, the fundus surround).
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
from PIL import (  # noqa: F401 - importing the plugins registers the decoders we allow
    BmpImagePlugin,
    GifImagePlugin,
    Image,
    ImageOps,
    JpegImagePlugin,
    PngImagePlugin,
    TiffImagePlugin,
    WebPImagePlugin,
)

from glaucoma_core.data.safe_files import UnsafeFileError, read_user_bytes

# Largest image we agree to decode, in pixels (width x height). A 20000 x 20000 image is
# refused; the largest fundus cameras produce about 24 Mpixels.
MAX_PIXELS = 50_000_000
DECODE_VERSION = "draft-1"
"""Names how :func:`load_rgb_array` turns a file into pixels at a given size (part of cache keys:
reduced-scale JPEG decoding gives slightly different pixels from a full decode)."""
# Largest file we read into memory.
MAX_FILE_BYTES = 256 * 1024 * 1024
# File name extensions that the scanner treats as images (compared in lower case).
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp"})
# Decoders we let Pillow use: no EPS/PDF/... (some call external programs). The JPEG decoder
# also opens multi-picture (MPO) JPEGs from phones.
ALLOWED_FORMATS = tuple(f for f in ("JPEG", "PNG", "TIFF", "BMP", "DIB", "GIF", "WEBP") if f in Image.OPEN)

# We enforce MAX_PIXELS ourselves; Pillow's warning for large images is noise here. (A global
# filter rather than catch_warnings(), which is not thread safe and scans run in threads.)
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)

_EXIF_ORIENTATION = 0x0112
_SWAPPING_ORIENTATIONS = {5, 6, 7, 8}  # rotations by 90 / 270 degrees

ImageSource = str | os.PathLike | bytes | bytearray | memoryview | BinaryIO


class ImageProblem(Exception):
    """An image that cannot be used; ``reason`` is short human text ('truncated image ...')."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ImageInfo:
    """What a full check of one image found.

    width, height: pixel size after EXIF orientation (None when the header was unreadable).
    mode: the file's own PIL mode ('RGB', 'L', 'CMYK', 'I;16', ...), '' when unreadable.
    format: PIL format name ('JPEG', 'PNG', ...), '' when unreadable.
    problem: '' when the image decodes completely, else the reason it cannot be used.
    """

    width: int | None
    height: int | None
    mode: str
    format: str
    problem: str


# --- reading bytes -------------------------------------------------------------------------


def is_image_name(name: str) -> bool:
    """True when a file name has one of :data:`IMAGE_EXTENSIONS` (any case)."""
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def read_image_bytes(source: ImageSource, *, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """All bytes of ``source`` (a path, bytes, or a binary file object such as an upload).

    Raises ImageProblem for an empty, unreadable or over-large (> max_bytes) source.
    """
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
    elif isinstance(source, str | os.PathLike):
        # The one safe opener: a FIFO, a device (/dev/zero) or a socket is refused at once,
        # never read (no hang, no memory growth); at most max_bytes are read.
        try:
            data = read_user_bytes(source, max_bytes=max_bytes)
        except UnsafeFileError as exc:
            raise ImageProblem(exc.reason) from None
    elif hasattr(source, "read"):
        if hasattr(source, "seek"):
            try:
                source.seek(0)
            except (OSError, ValueError):
                pass
        data = source.read(max_bytes + 1)
        if isinstance(data, str):
            raise ImageProblem("not an image: text stream given instead of bytes")
    else:
        raise TypeError(f"cannot read an image from {type(source).__name__}")
    if len(data) == 0:
        raise ImageProblem("empty file (0 bytes)")
    if len(data) > max_bytes:
        raise ImageProblem(f"file too large: more than {max_bytes:,} bytes")
    return data


# --- opening and checking ------------------------------------------------------------------


def _open_checked(data: bytes, max_pixels: int) -> Image.Image:
    """Open ``data`` lazily (header only) and refuse non-images and bombs. Nothing decoded yet."""
    try:
        img = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    except Image.DecompressionBombError as exc:
        raise ImageProblem(f"too large to decode safely ({exc})") from None
    except Exception as exc:  # noqa: BLE001 - UnidentifiedImageError, OSError, SyntaxError, ...
        raise ImageProblem(_not_an_image_reason(data, exc)) from None
    width, height = img.size
    if width <= 0 or height <= 0:
        raise ImageProblem(f"invalid image size {width}x{height}")
    if width * height > max_pixels:
        raise ImageProblem(
            f"too large: {width}x{height} = {width * height / 1e6:.1f} Mpixels exceeds the limit of "
            f"{max_pixels / 1e6:.1f} Mpixels (possible decompression bomb)"
        )
    return img


def _not_an_image_reason(data: bytes, exc: Exception) -> str:
    head = data[:512].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html", b"<head", b"<body")) or b"<html" in head:
        return "not an image: HTML page"
    if head.startswith((b"<?xml", b"<svg")):
        return "not an image: XML/SVG text"
    if head.startswith(b"%pdf"):
        return "not an image: PDF document"
    if data.startswith(b"\x89PNG") or data.startswith(b"\xff\xd8"):
        return f"corrupt image header: {exc}"
    try:
        data[:512].decode("utf-8")
        return "not an image: text file"
    except UnicodeDecodeError:
        return "not an image: unrecognised format"


def _decode(data: bytes, max_pixels: int, draft_size: int | None = None) -> Image.Image:
    """Open, refuse bombs, check PNG checksums, then decode every pixel (img.load()).

    draft_size: when given and the image is a JPEG at least twice that side in both
    dimensions, decode at reduced scale (Pillow's ``draft``: 1/2, 1/4 or 1/8 in the JPEG
    decoder itself), never below ``draft_size`` pixels a side. The bomb check above is on the
    full size; every pixel of the reduced image is still decoded.
    """
    img = _open_checked(data, max_pixels)
    if draft_size and img.format == "JPEG" and min(img.size) >= 2 * int(draft_size):
        try:
            img.draft(img.mode, (int(draft_size), int(draft_size)))
        except Exception:  # noqa: BLE001 - draft is an optimisation: a full decode still works
            pass
    if img.format == "PNG":
        # Pillow's load() does not check chunk CRCs; verify() does (on its own file object).
        try:
            Image.open(io.BytesIO(data), formats=("PNG",)).verify()
        except Exception as exc:  # noqa: BLE001 - any failure means a broken file
            raise ImageProblem(f"corrupt PNG: {exc}") from None
    try:
        img.load()
    except Image.DecompressionBombError as exc:
        raise ImageProblem(f"too large to decode safely ({exc})") from None
    except MemoryError:
        raise ImageProblem("too large: out of memory while decoding") from None
    except Exception as exc:  # noqa: BLE001 - decoders raise OSError, SyntaxError, ValueError...
        message = str(exc)
        if "truncated" in message.lower():
            raise ImageProblem(f"truncated image ({message})") from None
        raise ImageProblem(f"corrupt image data ({message or type(exc).__name__})") from None
    return img


def _exif_orientation(img: Image.Image) -> int:
    try:
        return int(img.getexif().get(_EXIF_ORIENTATION, 1) or 1)
    except Exception:  # noqa: BLE001 - broken EXIF is ignored, not fatal
        return 1


def _apply_orientation(img: Image.Image) -> Image.Image:
    if _exif_orientation(img) == 1:
        return img
    try:
        return ImageOps.exif_transpose(img)
    except Exception:  # noqa: BLE001 - a broken EXIF block must not lose the image
        return img


# --- conversion to RGB ---------------------------------------------------------------------


def to_rgb(img: Image.Image) -> Image.Image:
    """Convert any PIL image to 8-bit RGB.

    16-bit and 32-bit grayscale are scaled to 0..255 by their bit depth (not clipped);
    transparent images (RGBA, LA, palette with transparency) are composited over black.
    """
    mode = img.mode
    if mode == "RGB":
        return img
    if mode.startswith("I;16") or mode in ("I", "F"):
        return Image.fromarray(_high_depth_to_uint8(np.asarray(img), mode), "L").convert("RGB")
    has_alpha = mode in ("RGBA", "RGBa", "LA", "La", "PA") or (
        mode == "P" and "transparency" in img.info
    )
    if has_alpha:
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def _high_depth_to_uint8(array: np.ndarray, mode: str) -> np.ndarray:
    values = array.astype(np.float64)
    if mode.startswith("I;16"):
        scale = 65535.0
    else:
        top = float(np.nanmax(values)) if values.size else 0.0
        scale = 1.0 if (mode == "F" and top <= 1.0) else 255.0 if top <= 255 else 65535.0 if top <= 65535 else top
    scaled = np.nan_to_num(values / scale * 255.0)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


# --- public entry points -------------------------------------------------------------------


def load_rgb(source: ImageSource, *, max_pixels: int = MAX_PIXELS, draft_size: int | None = None) -> Image.Image:
    """Decode ``source`` (path, bytes or binary file object) to an 8-bit RGB PIL image.

    EXIF orientation is applied. Raises :class:`ImageProblem` (with ``.reason``) when the
    source is empty, truncated, corrupt, not an image or larger than ``max_pixels`` pixels.
    draft_size: the caller will shrink the image to about this side: a large JPEG may be
    decoded at 1/2, 1/4 or 1/8 scale (never below this side), much faster.
    """
    img = _decode(read_image_bytes(source), max_pixels, draft_size)
    return to_rgb(_apply_orientation(img))


def load_rgb_array(
    source: ImageSource, size: int | tuple[int, int] | None = None, *, max_pixels: int = MAX_PIXELS
) -> np.ndarray:
    """Like :func:`load_rgb`, as a uint8 array of shape (H, W, 3).

    size: None keeps the image size; an int resizes to size x size; a (width, height) tuple
    resizes to that (bilinear, antialiased). A JPEG at least twice the target side is
    decoded at reduced scale first (see :func:`load_rgb`), then resized to the exact size.
    """
    draft = None
    if size is not None:
        # Square target, so EXIF rotation does not matter; a tuple asks for its larger side.
        draft = int(size) if isinstance(size, int) else int(max(size))
    img = load_rgb(source, max_pixels=max_pixels, draft_size=draft)
    if size is not None:
        width, height = (size, size) if isinstance(size, int) else size
        if img.size != (width, height):
            img = img.resize((int(width), int(height)), Image.Resampling.BILINEAR)
    return np.asarray(img, dtype=np.uint8)


def inspect_image(data: bytes, *, max_pixels: int = MAX_PIXELS) -> ImageInfo:
    """Fully check one image's bytes (every pixel decoded) without converting it.

    Never raises for a bad image: the reason is in ``ImageInfo.problem``.
    """
    if len(data) == 0:
        return ImageInfo(None, None, "", "", "empty file (0 bytes)")
    width = height = None
    mode = fmt = ""
    try:
        header = _open_checked(data, max_pixels)
        width, height = header.size
        mode, fmt = header.mode, header.format or ""
        if _exif_orientation(header) in _SWAPPING_ORIENTATIONS:
            width, height = height, width
        _decode(data, max_pixels)
    except ImageProblem as exc:
        return ImageInfo(width, height, mode, fmt, exc.reason)
    except Exception as exc:  # noqa: BLE001 - a scanner must never crash on one file
        return ImageInfo(width, height, mode, fmt, f"unreadable image ({type(exc).__name__}: {exc})")
    return ImageInfo(width, height, mode, fmt, "")
