"""``folds`` never writes inside its source (issue 17 item 3).

Before, with SRC given through a symlink, ``folds`` accepted an OUT inside ``SRC/normal``; the
next scan of the source counted the glaucoma copies as normal images. Paths are now compared
as real paths (every symlink resolved) before anything is read or written, both ways (OUT in
SRC, SRC in OUT), whichever side the symlink or the ``..`` is on.
"""

from __future__ import annotations

import os

import pytest

from glaucoma_core.cli import main
from glaucoma_core.data.folds import FoldsError, make_folds
from glaucoma_core.data.index import scan_dataset
from tests.data import synthetic


@pytest.fixture
def source(tmp_path):
    src = tmp_path / "real_src"
    for label, offset in (("normal", 0), ("abnormal", 100)):
        (src / label).mkdir(parents=True)
        for i in range(4):
            (src / label / f"{label}_{i}.png").write_bytes(synthetic.image_bytes(offset + i))
    (tmp_path / "src_link").symlink_to(src)
    return src


def _tree(root) -> list[str]:
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, files in os.walk(root) for f in files)


def _outs(tmp_path, src):
    (tmp_path / "normal_link").symlink_to(src / "normal")
    (tmp_path / "link_to_parent").symlink_to(tmp_path)
    return {
        "SRC via symlink, OUT in SRC/normal": (tmp_path / "src_link", src / "normal" / "folds"),
        "SRC real, OUT via a symlink into SRC": (src, tmp_path / "normal_link" / "folds"),
        "OUT with .. back into SRC": (src, tmp_path / "elsewhere" / ".." / "real_src" / "abnormal" / "f"),
        "OUT through a symlinked parent": (tmp_path / "src_link", tmp_path / "link_to_parent" / "real_src" / "f"),
        "OUT is SRC itself": (tmp_path / "src_link", src),
    }


CASES = ["SRC via symlink, OUT in SRC/normal", "SRC real, OUT via a symlink into SRC", "OUT with .. back into SRC",
         "OUT through a symlinked parent", "OUT is SRC itself"]


@pytest.mark.parametrize("case", CASES)
def test_out_inside_the_source_is_refused_and_nothing_is_written(tmp_path, source, case):
    src_arg, out = _outs(tmp_path, source)[case]
    (tmp_path / "elsewhere").mkdir(exist_ok=True)
    before = _tree(source)
    with pytest.raises(FoldsError, match="inside the source folder"):
        make_folds(src_arg, out, k=2, home=tmp_path / "home")
    assert _tree(source) == before
    index = scan_dataset(source, use_cache=False)
    assert sorted(index["relpath"]) == sorted(before)  # no copy counted as a source image


def test_source_inside_out_is_refused(tmp_path, source):
    with pytest.raises(FoldsError, match="inside the source folder|must not contain the source"):
        make_folds(tmp_path / "src_link", tmp_path, k=2, home=tmp_path / "home")


def test_the_command_says_so_without_a_traceback(tmp_path, source, capsys):
    out = source / "normal" / "folds"
    code = main(["--home", str(tmp_path / "home"), "folds", str(tmp_path / "src_link"), str(out), "--k", "2"])
    captured = capsys.readouterr()
    assert code == 2 and "inside the source folder" in captured.err and "Traceback" not in captured.err
    assert not out.exists()


def test_a_sibling_with_a_common_prefix_is_fine(tmp_path, source):
    """real_src_folds starts with 'real_src' but is not inside it."""
    result = make_folds(tmp_path / "src_link", tmp_path / "real_src_folds", k=2, home=tmp_path / "home")
    assert (result["problem"] == "").all() and (tmp_path / "real_src_folds" / "fold_01").is_dir()
