"""Bad uploads on the Classify page: clear messages, no traceback, names never become paths."""

from __future__ import annotations

import io
import struct
import tomllib
import uuid
import zlib
from pathlib import Path

import pytest
from PIL import Image

from tests.app.helpers import REPO

pytestmark = pytest.mark.slow


def _png(mode: str = "RGB", size=(128, 128)) -> bytes:
    buffer = io.BytesIO()
    colour = {"RGB": (180, 60, 40), "L": 90, "RGBA": (180, 60, 40, 100)}[mode]
    Image.new(mode, size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def _bomb_png(width: int = 20_000, height: int = 20_000) -> bytes:
    """A tiny PNG whose header claims width x height pixels (a decompression bomb)."""
    data = bytearray(_png(size=(8, 8)))
    ihdr = struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr) & 0xFFFFFFFF)
    return bytes(data)


def _classify(app, files):
    at = app.switch_page("app_pages/classify.py").run()
    assert not at.exception
    at.file_uploader(key="classify_upload").set_value(files).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _errors(at) -> list[str]:
    return [str(e.value) for e in at.error]


def _probabilities(at) -> list[float]:
    return [float(m.value) for m in at.metric if m.label == "P(glaucoma)"]


def test_server_limits_upload_size_and_binds_locally():
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] <= 25
    assert config["server"]["address"] == "127.0.0.1"


@pytest.mark.parametrize(
    "name, content, expected",
    [
        ("page.jpg", b"<!DOCTYPE html><html><body>login</body></html>", "not an image: HTML page"),
        ("empty.png", b"", "empty file"),
        ("truncated.jpg", b"\xff\xd8\xff\xe0" + b"\x00" * 40, "not a usable image"),
        ("bomb.png", _bomb_png(), "too large"),
    ],
)
def test_unusable_files_get_a_clear_message(app, name, content, expected):
    at = _classify(app, [(name, content, "image/png"), ("good.png", _png(), "image/png")])
    errors = _errors(at)
    assert any(name in e and expected in e for e in errors), errors
    assert len(_probabilities(at)) == 1  # the good file next to it is still classified


def test_file_over_the_upload_limit_is_refused(app):
    too_big = b"\x89PNG" + b"\x00" * (26 * 1024 * 1024)
    at = _classify(app, ("huge.png", too_big, "image/png"))
    assert any("huge.png" in e and "too large" in e for e in _errors(at)), _errors(at)
    assert not _probabilities(at)


@pytest.mark.parametrize(
    "mode, size, note",
    [("L", (128, 128), "grayscale"), ("RGBA", (128, 128), "transparent"), ("RGB", (1200, 300), "unusual shape"),
     ("RGB", (40, 40), "very small")],
)
def test_odd_but_readable_images_are_classified_with_a_note(app, mode, size, note):
    at = _classify(app, ("odd.png", _png(mode, size), "image/png"))
    assert not _errors(at)
    assert len(_probabilities(at)) == 1 and 0.0 <= _probabilities(at)[0] <= 1.0
    assert any(note in str(w.value) for w in at.warning), [w.value for w in at.warning]


def test_uploaded_names_never_become_paths(app, upload_home, tmp_path):
    token = uuid.uuid4().hex
    target = tmp_path / f"evil_{token}.png"
    hostile = [
        (f"../../../../..{target}", _png(), "image/png"),
        (f"/tmp/evil_{token}_abs.png", _png(), "image/png"),
        (f"line\nbreak_{token}.png", _png(), "image/png"),
        (f"[click](javascript:alert(1))_{token}.png", _png(), "image/png"),
    ]
    at = _classify(app, hostile)
    assert not _errors(at)
    table = at.dataframe[0].value
    assert list(table["image"]) == [f"evil_{token}.png", f"evil_{token}_abs.png", f"line?break_{token}.png",
                                    f"[click](javascript:alert(1))_{token}.png"]
    # Shown as text, never as a Markdown link.
    headings = [str(md.value) for md in at.markdown if token in str(md.value)]
    assert headings and not any("](javascript" in h for h in headings), headings
    found = [*tmp_path.rglob(f"*{token}*"), *Path("/tmp").glob(f"*{token}*"), *Path(upload_home).rglob(f"*{token}*"),
             *REPO.glob(f"*{token}*"), *(REPO / "app_pages").rglob(f"*{token}*")]
    assert not found, found
