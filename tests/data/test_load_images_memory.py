"""load_images writes each decoded image into its output array: no second copy of the set."""

from __future__ import annotations

import tracemalloc

import numpy as np

from glaucoma_core.data.index import scan_dataset, usable
from glaucoma_core.data.pipeline import decode_image, load_images

from .synthetic import write_image

SIZE = 96
N = 48


def _index(tmp_path):
    for i in range(N):
        write_image(tmp_path / "data" / ("abnormal" if i % 2 else "normal") / f"img_{i:03d}.png", seed=i,
                    size=(SIZE, SIZE))
    return usable(scan_dataset(tmp_path / "data", home=tmp_path / "home")).reset_index(drop=True)


def test_same_images_in_order_duplicates_filled_broken_rows_dropped(tmp_path):
    index = _index(tmp_path)
    rows = index.iloc[[0, 1, 2, 1]].reset_index(drop=True)  # one content twice
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    rows.loc[len(rows)] = {**rows.iloc[0].to_dict(), "path": str(broken), "sha256": "f" * 64}
    loaded = load_images(rows, 64, cache=None)
    assert list(loaded.frame["path"]) == list(rows["path"][:4]) and list(loaded.problems) == [str(broken)]
    expected = np.stack([decode_image(p, s, 64, cache=None) for p, s in zip(rows["path"][:4], rows["sha256"][:4],
                                                                             strict=True)])
    assert loaded.images.dtype == np.uint8 and np.array_equal(loaded.images, expected)
    assert np.array_equal(loaded.images[1], loaded.images[3])


def test_peak_memory_is_about_the_output_not_twice_it(tmp_path):
    index = _index(tmp_path)
    load_images(index.iloc[:2], SIZE, cache=None)  # warm up imports and the thread pool's code
    tracemalloc.start()
    try:
        loaded = load_images(index, SIZE, cache=None, workers=2)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    output = loaded.images.nbytes
    assert len(loaded.images) == N
    # the old way (a list of decoded arrays, then np.stack) peaked at twice the output
    assert peak < 1.5 * output, (peak, output)
