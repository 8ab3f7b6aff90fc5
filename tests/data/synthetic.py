"""Small synthetic images and dataset folders for the data-layer tests (unique content each)."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def image_bytes(seed: int, size: tuple[int, int] = (24, 20), fmt: str = "PNG", mode: str = "RGB") -> bytes:
    """Encoded random image (width, height = size) whose content is unique for each seed."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    pixels[0, 0] = [seed % 256, (seed // 256) % 256, 7]  # distinct even if the RNG repeated
    img = Image.fromarray(pixels, "RGB")
    if mode != "RGB":
        img = img.convert(mode)
    buffer = io.BytesIO()
    img.save(buffer, fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return buffer.getvalue()


def write_image(path: Path, seed: int, **kwargs) -> Path:
    """Write a unique image to ``path`` (format from the suffix unless fmt is given)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = kwargs.pop("fmt", None) or {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".bmp": "BMP",
                                      ".tif": "TIFF", ".tiff": "TIFF"}[path.suffix.lower()]
    path.write_bytes(image_bytes(seed, fmt=fmt, **kwargs))
    return path


def make_flat_dataset(root: Path, n_normal: int, n_abnormal: int, *, first_seed: int = 0,
                      normal_dir: str = "normal", abnormal_dir: str = "abnormal") -> Path:
    """ROOT/normal/n_XXX.png and ROOT/abnormal/a_XXX.png, every image unique."""
    seed = first_seed
    for i in range(n_normal):
        write_image(root / normal_dir / f"n_{i:03d}.png", seed)
        seed += 1
    for i in range(n_abnormal):
        write_image(root / abnormal_dir / f"a_{i:03d}.png", seed)
        seed += 1
    return root


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_bomb_bytes(width: int = 20_000, height: int = 20_000, rows: int = 2) -> bytes:
    """A grayscale PNG whose header claims width x height; only ``rows`` rows of data follow.

    Decoding it would need width*height bytes of memory; a safe reader refuses it from the
    header. (Only a few rows are stored so the file stays tiny.)
    """
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    data = zlib.compress((b"\x00" + b"\x00" * width) * rows)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", data) + _png_chunk(b"IEND", b"")


def broken_crc_png(seed: int = 1) -> bytes:
    """A PNG whose IDAT chunk has a wrong checksum (the pixel data itself is intact)."""
    data = bytearray(image_bytes(seed, fmt="PNG"))
    at = data.find(b"IDAT")
    length = struct.unpack(">I", data[at - 4:at])[0]
    data[at + 4 + length] ^= 0xFF
    return bytes(data)


def truncated_jpeg(seed: int = 2, size: tuple[int, int] = (64, 48)) -> bytes:
    """The first half of a JPEG file."""
    data = image_bytes(seed, size=size, fmt="JPEG")
    return data[: len(data) // 2]


def exif_rotated_jpeg(seed: int = 3, size: tuple[int, int] = (40, 20), orientation: int = 6) -> bytes:
    """A JPEG stored width x height with an EXIF orientation tag (6 = rotate 90 degrees)."""
    rng = np.random.default_rng(seed)
    img = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8), "RGB")
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    img.save(buffer, "JPEG", exif=exif.tobytes())
    return buffer.getvalue()


def sixteen_bit_png(values: np.ndarray) -> bytes:
    """A 16-bit grayscale PNG with the given uint16 values."""
    buffer = io.BytesIO()
    Image.fromarray(values.astype(np.uint16)).save(buffer, "PNG")
    return buffer.getvalue()


HTML_PAGE = b"<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head><body>nope</body></html>\n"
