"""Safe image reading: conversions, orientation and every kind of broken file."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageFile

from glaucoma_core.data import images
from glaucoma_core.data.images import ImageProblem, inspect_image, load_rgb, load_rgb_array
from tests.data import synthetic


def _encode(img: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


# --- good images in every source form ----------------------------------------------------


def test_rgb_png_from_path_bytes_and_file_object(tmp_path):
    data = synthetic.image_bytes(5, size=(30, 10))
    path = tmp_path / "x.png"
    path.write_bytes(data)
    expected = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    for source in (path, str(path), data, io.BytesIO(data)):
        img = load_rgb(source)
        assert img.mode == "RGB" and img.size == (30, 10)
        np.testing.assert_array_equal(np.asarray(img), expected)


def test_load_rgb_array_resizes_to_square_uint8():
    array = load_rgb_array(synthetic.image_bytes(1, size=(40, 30), fmt="JPEG"), size=16)
    assert array.shape == (16, 16, 3) and array.dtype == np.uint8
    assert load_rgb_array(synthetic.image_bytes(1, size=(40, 30))).shape == (30, 40, 3)


# --- odd modes are converted ---------------------------------------------------------------


@pytest.mark.parametrize("mode, fmt", [("L", "PNG"), ("CMYK", "JPEG"), ("P", "PNG"), ("1", "PNG"),
                                       ("L", "TIFF"), ("RGB", "BMP"), ("LA", "PNG")])
def test_odd_modes_become_rgb(mode, fmt):
    data = synthetic.image_bytes(2, size=(12, 9), fmt=fmt, mode=mode)
    assert Image.open(io.BytesIO(data)).mode == mode
    img = load_rgb(data)
    assert img.mode == "RGB" and img.size == (12, 9)
    info = inspect_image(data)
    assert info.problem == "" and info.mode == mode


def test_sixteen_bit_is_scaled_not_clipped():
    values = np.array([[0, 256, 32768, 65535]], dtype=np.uint16)
    data = synthetic.sixteen_bit_png(values)
    assert Image.open(io.BytesIO(data)).mode.startswith("I")
    out = load_rgb_array(data)
    assert out[0, :, 0].tolist() == [0, 1, 128, 255]  # clipping would give [0, 255, 255, 255]
    assert (out[..., 0] == out[..., 2]).all()


def test_transparent_pixels_composited_over_black():
    rgba = np.zeros((2, 2, 4), dtype=np.uint8)
    rgba[..., :3] = 200  # colour hidden under full transparency
    rgba[0, 0, 3] = 255  # one opaque pixel
    out = load_rgb_array(_encode(Image.fromarray(rgba, "RGBA"), "PNG"))
    assert out[0, 0].tolist() == [200, 200, 200]
    assert out[1, 1].tolist() == [0, 0, 0]


def test_exif_orientation_is_applied():
    data = synthetic.exif_rotated_jpeg(size=(40, 20), orientation=6)
    assert Image.open(io.BytesIO(data)).size == (40, 20)
    assert load_rgb(data).size == (20, 40)
    info = inspect_image(data)
    assert (info.width, info.height) == (20, 40) and info.problem == ""


# --- broken files raise ImageProblem with a reason -----------------------------------------


@pytest.mark.parametrize(
    "data, words",
    [
        (b"", "empty"),
        (synthetic.HTML_PAGE, "not an image: HTML"),
        (b"just some notes\n", "not an image"),
        (bytes(range(256)) * 4, "not an image"),
        (synthetic.truncated_jpeg(), "truncated"),
        (synthetic.broken_crc_png(), "corrupt PNG"),
    ],
    ids=["empty", "html", "text", "binary-junk", "truncated-jpeg", "png-bad-crc"],
)
def test_broken_files_raise_with_reason(data, words):
    with pytest.raises(ImageProblem) as caught:
        load_rgb(data)
    assert words.lower() in caught.value.reason.lower()
    assert words.lower() in inspect_image(data).problem.lower()


def test_truncated_png_is_found_only_by_decoding():
    data = synthetic.image_bytes(9, size=(64, 64))
    cut = data[: len(data) - 200]
    Image.open(io.BytesIO(cut))  # the header alone looks fine
    assert inspect_image(cut).problem != ""


def test_decompression_bomb_refused_from_header_without_decoding(monkeypatch):
    def no_decoding(self):
        raise AssertionError("a bomb must be refused before decoding")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    for width, height in ((20_000, 20_000), (8_000, 8_000)):  # beyond Pillow's own limit, and ours only
        data = synthetic.png_bomb_bytes(width, height)
        with pytest.raises(ImageProblem, match="too large"):
            load_rgb(data)
        info = inspect_image(data)
        assert "too large" in info.problem


def test_own_pixel_limit_is_used():
    data = synthetic.image_bytes(3, size=(100, 100))
    assert images.MAX_PIXELS < Image.MAX_IMAGE_PIXELS
    with pytest.raises(ImageProblem, match="too large"):
        load_rgb(data, max_pixels=5_000)
    assert load_rgb(data, max_pixels=10_000).size == (100, 100)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ImageProblem, match="missing"):
        load_rgb(tmp_path / "nope.jpg")
    with pytest.raises(ImageProblem):
        load_rgb(tmp_path)


def test_symlink_loop_is_a_problem_not_a_hang(tmp_path):
    (tmp_path / "a.jpg").symlink_to(tmp_path / "b.jpg")
    (tmp_path / "b.jpg").symlink_to(tmp_path / "a.jpg")
    with pytest.raises(ImageProblem, match="symlink loop"):
        load_rgb(tmp_path / "a.jpg")


def test_other_decoders_are_not_used():
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n"
    with pytest.raises(ImageProblem, match="not an image"):
        load_rgb(eps)


# --- reduced-scale JPEG decoding (draft) -----------------------------------------------------


def _smooth_jpeg(width: int, height: int, **kwargs) -> bytes:
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([x * 255 // width, y * 255 // height, (x + y) * 255 // (width + height)], -1)
    return _encode(Image.fromarray(rgb.astype(np.uint8), "RGB"), "JPEG", quality=95, **kwargs)


def test_large_jpeg_is_decoded_at_reduced_scale_to_the_right_size(monkeypatch):
    data = _smooth_jpeg(1024, 768)
    drafted = []
    from PIL import JpegImagePlugin

    original = JpegImagePlugin.JpegImageFile.draft

    def spy(self, mode, size):
        result = original(self, mode, size)
        drafted.append(self.size)
        return result

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    array = load_rgb_array(data, 128)
    assert array.shape == (128, 128, 3) and array.dtype == np.uint8
    assert drafted == [(256, 192)]  # 1/4 scale: the smallest that keeps both sides >= 128
    # Same picture as a full decode and resize, up to the decoder's rounding.
    full = np.asarray(Image.open(io.BytesIO(data)).convert("RGB").resize((128, 128), Image.Resampling.BILINEAR))
    assert np.abs(array.astype(int) - full.astype(int)).mean() < 3
    # Small images and no target size: full decode, no draft.
    drafted.clear()
    load_rgb_array(_smooth_jpeg(200, 200), 128)
    load_rgb_array(data)
    assert drafted == []


def test_reduced_scale_keeps_exif_orientation_and_refuses_truncation():
    y, x = np.mgrid[0:256, 0:512]
    rgb = np.stack([x % 256, np.zeros_like(x), np.zeros_like(x)], -1).astype(np.uint8)  # red grows with x
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    data = _encode(Image.fromarray(rgb, "RGB"), "JPEG", quality=95, exif=exif.tobytes())
    plain = load_rgb(data)
    assert plain.size == (256, 512)
    small = load_rgb_array(data, (32, 64))
    assert small.shape == (64, 32, 3)
    full = np.asarray(plain.resize((32, 64), Image.Resampling.BILINEAR))
    assert np.abs(small.astype(int) - full.astype(int)).mean() < 6
    big = _smooth_jpeg(1024, 768)
    with pytest.raises(ImageProblem) as caught:
        load_rgb_array(big[: len(big) // 2], 128)
    assert "truncated" in caught.value.reason.lower()
