"""Special files given where a file is expected never hang or fill memory (issue 17 item 2).

Before, ``predict`` and ``gradcam`` on a FIFO blocked forever, and ``folds --groups`` on a
FIFO blocked and on ``/dev/zero`` grew memory until a MemoryError. Every user-given file now
goes through ``data/safe_files.py`` (``O_NONBLOCK`` open, ``fstat`` S_ISREG on the descriptor,
a bounded read, optional real-path confinement). The whole class: a FIFO with and without a
writer, a symlink to a FIFO, a character device, a socket, a folder, a file larger than the
limit, a file that claims size 0 but has content, a path escaping the allowed folder.
Each case runs under a deadline, so a regression fails instead of hanging the suite.
"""

from __future__ import annotations

import os
import socket

import pytest

from glaucoma_core.cli import main
from glaucoma_core.data.folds import FoldsError, make_folds
from glaucoma_core.data.images import ImageProblem, load_rgb, load_rgb_array
from glaucoma_core.data.safe_files import (
    UnsafeFileError,
    open_user_file,
    read_user_bytes,
    read_user_text,
)
from glaucoma_core.errors import UserError
from tests.faults.deadline import deadline


@pytest.fixture
def specials(tmp_path):
    """name -> path of each special file (a FIFO without writer, a symlink to it, /dev/zero, a
    listening Unix socket, a folder)."""
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    link = tmp_path / "link_to_pipe.png"
    link.symlink_to(fifo)
    sock_path = tmp_path / "sock.png"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(sock_path))
    server.listen(1)
    folder = tmp_path / "folder.jpg"
    folder.mkdir()
    yield {"fifo": fifo, "symlink to fifo": link, "/dev/zero": "/dev/zero", "socket": sock_path,
           "folder": folder}
    server.close()


KINDS = ["fifo", "symlink to fifo", "/dev/zero", "socket", "folder"]


@pytest.mark.parametrize("kind", KINDS)
def test_the_safe_opener_refuses_every_special_file_at_once(specials, kind):
    with deadline(10, f"opening a {kind}"):
        with pytest.raises(UnsafeFileError) as caught:
            read_user_bytes(specials[kind])
    assert "not a regular file" in caught.value.reason or "socket" in caught.value.reason
    assert isinstance(caught.value, UserError) and isinstance(caught.value, OSError)


def test_a_fifo_that_has_a_writer_is_refused_too(tmp_path):
    fifo = tmp_path / "fed.jpg"
    os.mkfifo(fifo)
    writer = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)  # someone keeps it open and writes forever
    try:
        os.write(writer, b"\xff\xd8" * 1000)
        with deadline(10, "opening a fed FIFO"), pytest.raises(UnsafeFileError, match="named pipe"):
            read_user_bytes(fifo)
    finally:
        os.close(writer)


@pytest.mark.parametrize("kind", KINDS)
def test_image_reading_refuses_special_files(specials, kind):
    """What predict, gradcam and the pages' thumbnails call with a path."""
    with deadline(10, f"reading an image from a {kind}"):
        with pytest.raises(ImageProblem, match="not a regular file|socket"):
            load_rgb(specials[kind])
        with pytest.raises(ImageProblem, match="not a regular file|socket"):
            load_rgb_array(specials[kind], size=32)


def test_sizes_are_bounded(tmp_path):
    sparse = tmp_path / "huge.csv"
    with open(sparse, "wb") as handle:
        handle.truncate(2 * 1024**3)  # 2 GiB that takes no disk space
    with deadline(10, "refusing a huge file"):
        with pytest.raises(UnsafeFileError, match="file too large"):
            read_user_bytes(sparse, max_bytes=1024)
        with pytest.raises(ImageProblem, match="file too large"):
            load_rgb(sparse)
    # a regular file whose size says 0 but which has content (/proc) is still read only up to the limit
    proc = "/proc/self/status"
    if os.path.exists(proc):
        assert os.stat(proc).st_size == 0
        with pytest.raises(UnsafeFileError, match="more than 16 bytes"):
            read_user_bytes(proc, max_bytes=16)


def test_confinement_uses_real_paths(tmp_path):
    inside, outside = tmp_path / "root", tmp_path / "elsewhere"
    inside.mkdir()
    outside.mkdir()
    (outside / "secret.csv").write_text("a,b\n")
    (inside / "escape.csv").symlink_to(outside / "secret.csv")
    (inside / "ok.csv").write_text("x\n")
    assert read_user_text(inside / "ok.csv", confine_to=inside) == "x\n"
    for path in (inside / "escape.csv", inside / ".." / "elsewhere" / "secret.csv"):
        with pytest.raises(UnsafeFileError, match="outside the allowed folder"):
            open_user_file(path, confine_to=inside)


def test_text_in_utf16_with_a_bom_is_read_and_other_bytes_are_a_clear_error(tmp_path):
    powershell = tmp_path / "config.json"
    powershell.write_bytes("\ufeff{\"epochs\": 2}".encode("utf-16-le"))
    assert read_user_text(powershell) == "{\"epochs\": 2}"
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("caf\xe9".encode("latin-1"))
    with pytest.raises(UnsafeFileError, match="not UTF-8 text"):
        read_user_text(latin1)


@pytest.mark.parametrize("kind", ["fifo", "/dev/zero", "folder"])
def test_folds_groups_csv_on_a_special_file_is_refused_before_anything_is_written(tmp_path, specials, kind):
    from tests.data import synthetic

    src = tmp_path / "src"
    for label in ("normal", "abnormal"):
        for i in range(3):
            (src / label).mkdir(parents=True, exist_ok=True)
            (src / label / f"{label}_{i}.png").write_bytes(synthetic.image_bytes(i + (10 if label == "normal" else 0)))
    out = tmp_path / "out"
    with deadline(60, f"folds --groups on a {kind}"):
        with pytest.raises(FoldsError, match="not a regular file"):
            make_folds(src, out, k=2, groups_csv=specials[kind], home=tmp_path / "home")
    assert not out.exists()


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["fifo", "/dev/zero"])
def test_predict_and_gradcam_on_a_special_file_answer_at_once(upload_home, specials, kind, tmp_path, capsys):
    """The real commands (a stored small_cnn model), in this process, under a deadline."""
    with deadline(120, f"predict on a {kind}"):
        code = main(["--home", str(upload_home), "predict", "--run", "1", str(specials[kind])])
    captured = capsys.readouterr()
    assert code != 0 and "not a regular file" in captured.out + captured.err
    assert "Traceback" not in captured.err
    with deadline(120, f"gradcam on a {kind}"):
        code = main(["--home", str(upload_home), "gradcam", "--run", "1", str(specials[kind]),
                     "--out", str(tmp_path / "cam.png")])
    captured = capsys.readouterr()
    assert code == 2 and "not a regular file" in captured.err
    assert "Traceback" not in captured.err and not (tmp_path / "cam.png").exists()
