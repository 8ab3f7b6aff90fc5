import io

import numpy as np
import pytest
from PIL import Image

from glaucoma_core.data.uploads import check_upload, safe_display_name


def _png(mode="RGB", size=(100, 100)) -> bytes:
    buffer = io.BytesIO()
    color = {"RGB": (200, 30, 30), "RGBA": (200, 30, 30, 128), "L": 128}[mode]
    Image.new(mode, size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def test_good_image():
    check = check_upload(_png(), "eye.png")
    assert check.ok and check.error == "" and check.notes == []
    assert check.image.shape == (100, 100, 3) and check.image.dtype == np.uint8


def test_empty_file():
    check = check_upload(b"", "empty.jpg")
    assert not check.ok and "empty" in check.error


def test_not_an_image():
    check = check_upload(b"<html><body>hello</body></html>", "page.jpg")
    assert not check.ok and "not a usable image" in check.error and "HTML" in check.error


def test_too_large():
    check = check_upload(b"x" * 2000, "big.png", max_bytes=1000)
    assert not check.ok and "too large" in check.error


def test_grayscale_and_rgba_are_converted_with_a_note():
    gray = check_upload(_png("L"), "gray.png")
    assert gray.ok and gray.image.shape[2] == 3 and "grayscale" in gray.notes[0]
    rgba = check_upload(_png("RGBA"), "alpha.png")
    assert rgba.ok and "RGBA" in rgba.notes[0]


def test_unusual_size_is_noted():
    check = check_upload(_png(size=(900, 100)), "strip.png")
    assert check.ok and any("unusual shape" in n for n in check.notes)
    small = check_upload(_png(size=(20, 20)), "tiny.png")
    assert small.ok and any("very small" in n for n in small.notes)


@pytest.mark.parametrize(
    "name, shown",
    [("../../etc/passwd", "passwd"), ("C:\\x\\y.png", "y.png"), ("a\nb.png", "a?b.png"), ("", "(unnamed)")],
)
def test_display_name_is_never_a_path(name, shown):
    assert safe_display_name(name) == shown
