"""The scan cache: keyed by path + mtime + size, any file name, stale entries pruned."""

from __future__ import annotations

from glaucoma_core.data.scan_cache import CachedFile, ScanCache


def test_store_lookup_forget_and_prune(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    kept = data / "kept.png"
    kept.write_bytes(b"x")
    odd = str(data) + "/odd \n name \udcff.png"  # not valid UTF-8: stored as bytes
    entry = CachedFile(1, 5, "ab" * 32, 10, 20, "RGB", "")
    with ScanCache(tmp_path / "c.sqlite", checker="max_pixels=1") as cache:
        cache.store([(str(kept), entry), (odd, entry), (str(tmp_path / "elsewhere.png"), entry)])
        assert set(cache.entries_under(str(data))) == {str(kept), odd}
        assert cache.forget_except(str(data), {str(kept)}) == 1
        assert set(cache.entries_under(str(data))) == {str(kept)}
        assert cache.prune_missing(max_rows=10) == 0  # small: left alone
        assert cache.prune_missing(max_rows=1) == 1  # elsewhere.png does not exist
        assert cache.entries_under(str(data))[str(kept)] == entry
    with ScanCache(tmp_path / "c.sqlite", checker="max_pixels=2") as other_rules:
        assert other_rules.entries_under(str(data)) == {}


def test_prefix_does_not_match_sibling_folders(tmp_path):
    entry = CachedFile(1, 5, "", None, None, "", "empty file (0 bytes)")
    with ScanCache(tmp_path / "c.sqlite", checker="x") as cache:
        cache.store([(str(tmp_path / "data" / "a.png"), entry), (str(tmp_path / "data2" / "b.png"), entry)])
        assert list(cache.entries_under(str(tmp_path / "data"))) == [str(tmp_path / "data" / "a.png")]
