"""A generated corpus of hostile image files next to good ones (issue 7, bad data).

``write_hostile_corpus(root)`` writes a flat dataset ``root/{normal,abnormal}/...`` and returns
what each file is expected to give: ``EXPECTED[relpath] = ''`` for a usable image, else a
word that must appear in the reported problem. Other suites (training, dataset page) can use
it too: every usable image decodes, every other one must be reported, nothing may crash or hang.
"""

from __future__ import annotations

import io
import os
import struct
from pathlib import Path

import numpy as np
from PIL import Image

from tests.data.synthetic import (
    HTML_PAGE,
    broken_crc_png,
    exif_rotated_jpeg,
    image_bytes,
    png_bomb_bytes,
    sixteen_bit_png,
    truncated_jpeg,
)

# relpath -> '' (usable) or a word of the expected problem reason
EXPECTED_GOOD = {
    "normal/plain_0.png": "",
    "normal/plain_1.jpg": "",
    "normal/plain_2.JPG": "",
    "normal/with spaces in name.png": "",
    "normal/glaukom_ß_視神経_é.png": "",
    "normal/line\nbreak.png": "",
    "normal/cmyk.jpg": "",
    "normal/sixteen_bit.png": "",
    "abnormal/plain_3.png": "",
    "abnormal/plain_4.jpeg": "",
    "abnormal/plain_5.bmp": "",
    "abnormal/rgba.png": "",
    "abnormal/palette.png": "",
    "abnormal/grayscale.tif": "",
    "abnormal/exif_rotated.jpg": "",
    "abnormal/sub folder/nested.png": "",
}
EXPECTED_BAD = {
    "normal/zero_bytes.jpg": "empty",
    "normal/truncated.jpg": "truncated",
    "normal/broken_crc.png": "corrupt PNG",
    "abnormal/error_page.jpg": "HTML",
    "abnormal/bomb_20000x20000.png": "too large",
    "abnormal/bomb_20000x20000.jpg": "too large",
    "abnormal/loop_a.jpg": "symlink loop",
    "abnormal/loop_b.jpg": "symlink loop",
    "abnormal/dangling.png": "broken symlink",
    "abnormal/cut off\nnaïve 眼.jpg": "truncated",
}
EXPECTED = {**EXPECTED_GOOD, **EXPECTED_BAD}
CLUTTER = ("normal/.DS_Store", "normal/Thumbs.db", "abnormal/._plain_3.png", "abnormal/.hidden/secret.png",
           "normal/readme.txt")


def _encode(img: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def jpeg_bomb_bytes(width: int = 20_000, height: int = 20_000) -> bytes:
    """A small JPEG whose frame header (SOF0) is patched to claim width x height."""
    data = bytearray(image_bytes(77, size=(16, 16), fmt="JPEG"))
    at = data.find(b"\xff\xc0")
    struct.pack_into(">HH", data, at + 5, height, width)
    return bytes(data)


def _rgb(seed: int, size=(28, 22)) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8), "RGB")


def write_hostile_corpus(root: str | os.PathLike) -> dict[str, str]:
    """Write the corpus under ``root`` (a flat dataset) and return EXPECTED."""
    root = Path(root)
    files: dict[str, bytes] = {}
    seed = 500
    for relpath in EXPECTED_GOOD:
        suffix = Path(relpath).suffix.lower()
        fmt = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP", ".tif": "TIFF"}[suffix]
        files[relpath] = image_bytes(seed, fmt=fmt)
        seed += 1
    files["normal/cmyk.jpg"] = _encode(_rgb(1).convert("CMYK"), "JPEG")
    files["normal/sixteen_bit.png"] = sixteen_bit_png(
        np.random.default_rng(2).integers(0, 65536, (22, 28), dtype=np.uint16))
    rgba = np.dstack([np.asarray(_rgb(3)), np.full((22, 28), 128, np.uint8)])
    files["abnormal/rgba.png"] = _encode(Image.fromarray(rgba, "RGBA"), "PNG")
    files["abnormal/palette.png"] = _encode(_rgb(4).convert("P"), "PNG")
    files["abnormal/grayscale.tif"] = _encode(_rgb(5).convert("L"), "TIFF")
    files["abnormal/exif_rotated.jpg"] = exif_rotated_jpeg(seed=6, size=(40, 20), orientation=6)

    files["normal/zero_bytes.jpg"] = b""
    files["normal/truncated.jpg"] = truncated_jpeg(seed=7, size=(64, 48))
    files["normal/broken_crc.png"] = broken_crc_png(seed=8)
    files["abnormal/cut off\nnaïve 眼.jpg"] = truncated_jpeg(seed=10, size=(64, 48))
    files["abnormal/error_page.jpg"] = HTML_PAGE
    files["abnormal/bomb_20000x20000.png"] = png_bomb_bytes(20_000, 20_000)
    files["abnormal/bomb_20000x20000.jpg"] = jpeg_bomb_bytes(20_000, 20_000)
    files["normal/.DS_Store"] = b"\x00\x00\x00\x01Bud1" + bytes(100)
    files["normal/Thumbs.db"] = b"\xd0\xcf\x11\xe0" + bytes(100)
    files["abnormal/._plain_3.png"] = b"\x00\x05\x16\x07AppleDouble junk"
    files["abnormal/.hidden/secret.png"] = image_bytes(9)
    files["normal/readme.txt"] = b"clinic export, see the spreadsheet\n"

    for relpath, data in files.items():
        path = root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (root / "abnormal" / "loop_a.jpg").symlink_to("loop_b.jpg")
    (root / "abnormal" / "loop_b.jpg").symlink_to("loop_a.jpg")
    (root / "abnormal" / "dangling.png").symlink_to(root / "nowhere" / "gone.png")
    (root / "abnormal" / "sub folder" / "back_to_root").symlink_to(root)  # a folder loop
    return dict(EXPECTED)
