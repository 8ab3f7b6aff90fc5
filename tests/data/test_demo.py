"""The synthetic demo dataset: label model, pixels, nuisance properties, layout, atomic setup."""

from __future__ import annotations

import dataclasses
import io
import json
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.metrics import roc_auc_score

from glaucoma_core import paths
from glaucoma_core.cli import main
from glaucoma_core.data import demo, fundus_synth
from glaucoma_core.data.fundus_synth import CAMERAS, render_fundus, sample_parameters
from glaucoma_core.errors import UserError

SMALL = {"n_images": 30, "k": 3, "image_size": 64}


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory) -> Path:
    return demo.generate_demo_dataset(tmp_path_factory.mktemp("demo") / "out", seed=0, **SMALL)


# ---------------------------------------------------------------- label model (parameters only)


def test_true_cup_to_disc_ratio_separates_classes_well_but_not_perfectly():
    params = sample_parameters(demo.DEFAULT_N_IMAGES, seed=demo.DEFAULT_SEED)
    labels = [p.label for p in params]
    auc = roc_auc_score(labels, [p.cdr for p in params])
    assert 0.92 <= auc <= 0.98
    # and the glaucoma images are the ones with the larger cups (not the other way round)
    cdr = pd.Series([p.cdr for p in params])
    assert cdr[np.array(labels) == 1].mean() > cdr[np.array(labels) == 0].mean() + 0.15


def test_classes_are_balanced_and_nuisance_parameters_are_label_blind():
    params = sample_parameters(400, seed=0)
    table = demo.parameters_table(params)
    assert 0.45 <= table["label"].mean() <= 0.5
    for column in (
        "disc_radius",
        "camera",
        "exposure",
        "pigment",
        "disc_x",
        "disc_aspect",
        "cup_width_ratio",
    ):
        auc = roc_auc_score(table["label"], table[column])
        assert abs(auc - 0.5) <= 0.1, (column, auc)
    # every camera and both eyes appear about equally often in each class
    counts = pd.crosstab(table["camera"], table["label"])
    assert (counts.max() - counts.min() <= 1).all()
    assert (pd.crosstab(table["eye"], table["label"]).diff().iloc[-1].abs() <= 1).all()
    assert table["file"].is_unique
    # rim notches are a glaucoma sign only
    assert not table.loc[table["label"] == 0, "notch"].any()
    assert table.loc[table["label"] == 1, "notch"].any()


def test_parameters_are_deterministic_by_seed():
    assert sample_parameters(50, seed=3) == sample_parameters(50, seed=3)
    assert sample_parameters(50, seed=3) != sample_parameters(50, seed=4)


def test_cup_boundary_has_the_requested_vertical_cup_to_disc_ratio():
    base = sample_parameters(10, seed=1)[0]
    for cdr, notch in [(0.3, 0.0), (0.7, 0.0), (0.6, 0.5)]:
        p = dataclasses.replace(base, cdr=cdr, notch_depth=notch, notch_angle=95.0)
        phi, radius = fundus_synth.cup_boundary(p, 3600)
        y = radius * np.sin(phi)
        assert (y.max() - y.min()) / 2 == pytest.approx(cdr, abs=0.005)
        assert radius.max() < 1.0  # the rim never vanishes completely


# ---------------------------------------------------------------- pixels


def test_rendered_image_looks_like_a_fundus_photograph():
    p = sample_parameters(20, seed=0)[0]
    size = 128
    img = render_fundus(p, size).astype(float)
    assert img.shape == (size, size, 3)
    # dark surround, orange-red field (red > green > blue)
    assert img[:4, :4].max() < 20 and img[-4:, -4:].max() < 20
    field = img[size // 2 - 20 : size // 2 + 20, size // 2 - 20 : size // 2 + 20].reshape(-1, 3).mean(0)
    assert field[0] > field[1] > field[2] and field[0] > 90
    # a bright disc where the parameters put it (mirrored for right eyes)
    dx = p.disc_x if p.eye == "OS" else 1 - p.disc_x
    cx, cy = int(dx * size), int(p.disc_y * size)
    disc = img[cy - 3 : cy + 4, cx - 3 : cx + 4].reshape(-1, 3).mean(0)
    assert disc.sum() > field.sum() * 1.4


def _pale_fraction(p, size=128):
    img = render_fundus(p, size).astype(float)
    dx = p.disc_x if p.eye == "OS" else 1 - p.disc_x
    cx, cy, r = int(dx * size), int(p.disc_y * size), int(p.disc_radius * size * 1.2)
    patch = img[cy - r : cy + r, cx - r : cx + r]
    # the cup is pale: green nearly as high as red
    return float((patch[..., 1] > 0.8 * patch[..., 0]).mean())


def test_a_larger_cup_to_disc_ratio_shows_as_a_larger_pale_cup():
    base = sample_parameters(10, seed=2)[0]
    small = _pale_fraction(dataclasses.replace(base, cdr=0.3))
    large = _pale_fraction(dataclasses.replace(base, cdr=0.7))
    assert large > small * 3
    assert small > 0.01  # a normal cup is still visible


@pytest.mark.slow  # renders the default 400 images (small): about 5-15 s
def test_nuisance_image_properties_do_not_separate_classes(tmp_path):
    params = sample_parameters(400, seed=0)
    table = demo.render_demo_images(params, tmp_path, image_size=64)
    stats = []
    for relpath in table["relpath"]:
        img = np.asarray(Image.open(tmp_path / relpath)).astype(float)
        luma = img @ [0.299, 0.587, 0.114]
        stats.append((img.shape, luma.mean(), luma.std(), *img.reshape(-1, 3).mean(0)))
    assert {s[0] for s in stats} == {(64, 64, 3)}  # one image size for all
    labels = table["label"]
    checks = {
        "brightness": [s[1] for s in stats],
        "brightness sd": [s[2] for s in stats],
        "mean red": [s[3] for s in stats],
        "mean green": [s[4] for s in stats],
        "mean blue": [s[5] for s in stats],
        "file size": table["bytes"],
        "camera": table["camera"],
    }
    for name, values in checks.items():
        auc = roc_auc_score(labels, values)
        assert abs(auc - 0.5) <= 0.1, (name, auc)


def test_cameras_differ_in_colour_and_jpeg_quality():
    p = sample_parameters(10, seed=0)[0]
    means = []
    for camera in range(len(CAMERAS)):
        img = render_fundus(dataclasses.replace(p, camera=camera), 64)
        means.append(img.reshape(-1, 3).mean(0))
        assert Image.open(io.BytesIO(fundus_synth.encode_jpeg(img, camera))).format == "JPEG"
    ratios = [m[1] / m[0] for m in means]
    assert max(ratios) - min(ratios) > 0.03
    assert len({c.quality for c in CAMERAS}) > 1


# ---------------------------------------------------------------- dataset on disk


def test_generated_dataset_has_the_fold_layout_and_true_parameters(small_dataset):
    from glaucoma_core.data.index import find_leaks, scan_dataset

    table = pd.read_csv(small_dataset / demo.PARAMETERS_FILE)
    assert len(table) == SMALL["n_images"] and table["file"].is_unique
    assert {"file", "label", "cdr", "disc_radius_px", "camera", "sha256", "bytes"} <= set(table.columns)
    index = scan_dataset(small_dataset)
    assert index.attrs["layout"] == "folds"
    assert sorted(index["fold"].unique()) == [1, 2, 3]
    assert (index["problem"] == "").all()
    assert set(index["width"]) == {64} and set(index["height"]) == {64}
    assert len(index) == len(list(small_dataset.glob("fold_*/*/*/*.jpg")))
    # every image is in exactly one test fold, in each fold exactly once, label as generated
    tests = index[index["split"] == "test"]
    assert sorted(Path(p).name for p in tests["path"]) == sorted(table["file"])
    assert (index.groupby("fold").size() == SMALL["n_images"]).all()
    label_of = dict(zip(table["file"], table["label"], strict=True))
    assert all(label_of[Path(p).name] == lab for p, lab in zip(index["path"], index["label"], strict=True))
    assert set(index.loc[index["split"] == "valid", "fold"]) == {1, 2, 3}
    assert find_leaks(index).empty
    assert not list(small_dataset.parent.glob(".*flat*"))  # the flat temp folder is gone


def test_generation_is_deterministic_by_seed(small_dataset, tmp_path):
    again = demo.generate_demo_dataset(tmp_path / "again", seed=0, **SMALL)
    other = demo.generate_demo_dataset(tmp_path / "other", seed=1, **SMALL)
    first = _files(small_dataset)
    assert _files(again) == first
    other_files = _files(other)
    assert other_files[demo.PARAMETERS_FILE] != first[demo.PARAMETERS_FILE]
    assert set(other_files.values()).isdisjoint(v for k, v in first.items() if k.endswith(".jpg"))


def test_generate_refuses_a_non_empty_folder_and_bad_sizes(tmp_path):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x.txt").write_text("x")
    with pytest.raises(demo.DemoDataError, match="busy"):
        demo.generate_demo_dataset(tmp_path / "busy", **SMALL)
    with pytest.raises(demo.DemoDataError, match="at least"):
        demo.generate_demo_dataset(tmp_path / "few", n_images=5, k=3)
    with pytest.raises(demo.DemoDataError, match="2 folds"):
        demo.generate_demo_dataset(tmp_path / "one", n_images=30, k=1)
    assert not (tmp_path / "few").exists() and not (tmp_path / "one").exists()


# ---------------------------------------------------------------- ensure / resolve


@pytest.fixture
def small_generator(monkeypatch):
    """Make ensure_demo_dataset build a small dataset; count the generations."""
    calls = []
    real = demo.generate_demo_dataset

    def small(out, home=None, **kwargs):
        calls.append(out)
        return real(out, seed=0, home=home, **SMALL)

    monkeypatch.setattr(demo, "generate_demo_dataset", small)
    return calls


def test_ensure_demo_dataset_generates_once(tmp_path, small_generator):
    path = demo.ensure_demo_dataset(tmp_path)
    assert path == paths.demo_data_dir(tmp_path)
    assert (path / demo.PARAMETERS_FILE).is_file() and list(path.glob("fold_01/test/*/*.jpg"))
    assert demo.ensure_demo_dataset(tmp_path) == path
    assert len(small_generator) == 1
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no temp left


def test_ensure_demo_dataset_uses_glaucoma_home_by_default(isolated_home, small_generator):
    assert demo.ensure_demo_dataset() == isolated_home.resolve() / "demo-data"


def test_ensure_demo_dataset_survives_a_race(tmp_path, small_generator):
    results, errors = [], []

    def worker():
        try:
            results.append(demo.ensure_demo_dataset(tmp_path))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    target = paths.demo_data_dir(tmp_path)
    assert results == [target] * 3
    assert (target / demo.PARAMETERS_FILE).is_file()
    assert len(pd.read_csv(target / demo.PARAMETERS_FILE)) == SMALL["n_images"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_ensure_demo_dataset_refuses_a_foreign_folder(tmp_path, small_generator):
    target = paths.demo_data_dir(tmp_path)
    target.mkdir()
    (target / "something.txt").write_text("mine")
    with pytest.raises(demo.DemoDataError, match="not a complete demo dataset"):
        demo.ensure_demo_dataset(tmp_path)
    assert (target / "something.txt").read_text() == "mine"


def test_resolve_data_root(tmp_path, small_generator):
    assert demo.resolve_data_root(tmp_path) == tmp_path
    with pytest.raises(UserError, match="no such folder"):
        demo.resolve_data_root(tmp_path / "missing")
    (tmp_path / "file.jpg").write_bytes(b"x")
    with pytest.raises(demo.DemoDataError, match="not a folder"):
        demo.resolve_data_root(tmp_path / "file.jpg")
    home = tmp_path / "home"
    assert demo.resolve_data_root(None, home=home) == paths.demo_data_dir(home)


# ---------------------------------------------------------------- CLI


def test_demo_data_command_writes_the_dataset(tmp_path, capsys):
    out = tmp_path / "cli-demo"
    rc = main(["demo-data", str(out), "--images", "30", "--k", "3", "--size", "64", "--seed", "5", "--json"])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["images"] == 30 and summary["glaucoma"] + summary["normal"] == 30
    assert summary["folds"] == 3 and Path(summary["path"]) == out.resolve()
    assert len(list(out.glob("fold_*/test/*/*.jpg"))) == 30


def test_demo_data_command_reports_bad_output_folder_without_traceback(tmp_path, capsys):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("x")
    rc = main(["demo-data", str(tmp_path / "busy"), "--images", "30", "--k", "3", "--size", "64"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "busy" in err and "Traceback" not in err
    with pytest.raises(SystemExit):
        main(["demo-data", str(tmp_path / "x"), "--images", "zero"])


def test_command_defaults_match_the_generator():
    from glaucoma_core.commands import demo_commands

    assert demo_commands.DEFAULT_N_IMAGES == demo.DEFAULT_N_IMAGES
    assert demo_commands.DEFAULT_SEED == demo.DEFAULT_SEED
    assert demo_commands.DEFAULT_K == demo.DEFAULT_K
    assert demo_commands.DEFAULT_IMAGE_SIZE == demo.DEFAULT_IMAGE_SIZE


# ---------------------------------------------------------------- full-field and disc-crop styles


def test_full_field_parameters_keep_the_label_model_and_vary_the_geometry():
    base = sample_parameters(200, seed=4)
    full = fundus_synth.sample_full_field(200, seed=4)
    assert [p.label for p, _ in full] == [p.label for p in base]
    assert [p.cdr for p, _ in full] == [p.cdr for p in base]
    assert [p.notch_depth for p, _ in full] == [p.notch_depth for p in base]
    assert full == fundus_synth.sample_full_field(200, seed=4)
    discs = np.array([p.disc_radius for p, _ in full])
    xs = np.array([p.disc_x for p, _ in full])
    assert discs.min() < 0.045 and discs.max() > 0.06  # varied disc size, far below the demo's 0.118
    assert xs.min() < 0.2 and xs.max() > 0.33
    labels = [p.label for p, _ in full]
    for values in (discs, xs, [len(lay.spots) for _, lay in full], [lay.gradient for _, lay in full],
                   [lay.crop_multiple for _, lay in full], [lay.crop_scale for _, lay in full]):
        assert abs(roc_auc_score(labels, values) - 0.5) <= 0.12  # label-blind nuisances
    assert any(lay.spots for _, lay in full) and any(lay.reflections for _, lay in full)


def test_full_field_photograph_has_its_disc_where_the_truth_says_and_brighter_spots():
    items = fundus_synth.sample_full_field(12, seed=0, spot_probability=1.0, reflection_probability=0.0)
    p, layout = items[0]
    img, truth = fundus_synth.render_full_field(p, layout, 240)
    assert img.shape == (240, truth["width"], 3) and truth["width"] == round(240 * layout.aspect)
    # black surround beyond the field, at the corners and (padded photographs) the sides
    assert img[:3, :3].max() < 20 and img[-3:, -3:].max() < 20
    cx, cy, d = truth["disc_center_x_px"], truth["disc_center_y_px"], truth["disc_diameter_px"]
    disc = img[int(cy) - 2 : int(cy) + 3, int(cx) - 2 : int(cx) + 3].astype(float).mean()
    fx, fy = int(truth["field_center_x_px"]), int(truth["field_center_y_px"])
    field = img[fy - 15 : fy + 15, fx - 15 : fx + 15].astype(float).mean()
    assert disc > 1.3 * field
    assert 0.06 * 240 <= d <= 0.15 * 240
    # away from the disc, the spots are brighter than the disc on average
    yy, xx = np.mgrid[:240, : truth["width"]]
    dist = np.hypot(xx - cx, yy - cy)
    brightness = img.astype(float).sum(-1)
    assert brightness[dist > 1.5 * d].max() > brightness[dist < d / 2].mean()


def test_disc_crop_style_centres_the_disc_at_a_label_blind_size():
    items = fundus_synth.sample_full_field(6, seed=2)
    p, layout = items[1]
    img, truth = fundus_synth.render_disc_crop(p, layout, 96)
    side = img.shape[0]
    assert img.shape == (side, side, 3) and side == max(32, round(96 * layout.crop_scale))
    assert truth["disc_diameter_px"] == pytest.approx(side / layout.crop_multiple, abs=0.01)
    c = side // 2
    centre = img[c - 2 : c + 3, c - 2 : c + 3].astype(float).mean()
    assert centre > 1.25 * img[:, : side // 8].astype(float).mean()


def test_full_field_demo_dataset_records_disc_positions_and_exif(tmp_path):
    out = demo.generate_demo_dataset(tmp_path / "ff", n_images=12, k=2, image_size=96, style="full-field")
    table = pd.read_csv(out / demo.PARAMETERS_FILE)
    for column in ("disc_center_x_px", "disc_center_y_px", "disc_diameter_px", "field_radius_px", "width",
                   "height", "n_spots", "style"):
        assert column in table, column
    assert set(table["style"]) == {"full-field"}
    first = sorted(out.glob("fold_01/test/*/*.jpg"))[0]
    with Image.open(first) as img:
        exif = img.getexif()
        assert exif[0x0110] in {c.name for c in CAMERAS} and exif[0x0112] == 1
        row = table[table["file"] == first.name].iloc[0]
        assert img.size == (row["width"], row["height"])
    with pytest.raises(UserError):
        demo.generate_demo_dataset(tmp_path / "bad", n_images=12, k=2, image_size=96, style="wide")


def test_demo_data_command_has_a_style_option(tmp_path, capsys):
    out = tmp_path / "crops"
    assert main(["demo-data", str(out), "--images", "8", "--k", "2", "--size", "48", "--style", "disc-crop",
                 "--json"]) == 0
    table = pd.read_csv(out / demo.PARAMETERS_FILE)
    assert set(table["style"]) == {"disc-crop"} and table["width"].nunique() > 1


def test_fold_copies_are_hard_links_of_one_file(small_dataset):
    """Each image is written once: its k fold copies share one inode (N x k files, N files' bytes)."""
    table = pd.read_csv(small_dataset / demo.PARAMETERS_FILE)
    name = table["file"].iloc[0]
    copies = sorted(small_dataset.glob(f"fold_*/*/*/{name}"))
    assert len(copies) == SMALL["k"]
    inodes = {(p.stat().st_dev, p.stat().st_ino) for p in copies}
    assert len(inodes) == 1 and copies[0].stat().st_nlink == SMALL["k"]


@pytest.mark.slow  # spawns two worker processes: a few seconds
def test_worker_processes_write_the_same_files_as_threads(small_dataset, tmp_path):
    again = demo.generate_demo_dataset(tmp_path / "procs", seed=0, processes=2, **SMALL)
    assert _files(again) == _files(small_dataset)
    params, layouts = zip(*fundus_synth.sample_full_field(10, seed=4), strict=True)
    by_threads = demo.render_demo_images(list(params), tmp_path / "ff_t", 48, threads=2,
                                         layouts=list(layouts), style="disc-crop")
    by_procs = demo.render_demo_images(list(params), tmp_path / "ff_p", 48, processes=2,
                                       layouts=list(layouts), style="disc-crop")
    pd.testing.assert_frame_equal(by_threads, by_procs)


def test_disc_crops_reaching_beyond_the_photograph_are_cut_with_a_black_surround():
    # Crops near the field's edge reach beyond the rendered square; Pillow refuses such a box,
    # so the square is padded with black first (images 19 and 22 of this draw used to raise).
    import numpy as np

    from glaucoma_core.data.fundus_synth import render_disc_crop, sample_full_field

    drawn = list(sample_full_field(30, 11))
    for p, layout in (drawn[19], drawn[22]):
        image, truth = render_disc_crop(p, layout, 96)
        assert image.shape[0] == image.shape[1] and image.dtype == np.uint8
        corners = [image[:3, :3], image[:3, -3:], image[-3:, :3], image[-3:, -3:]]
        assert any(int(c.max()) == 0 for c in corners)  # beyond the photograph: black
        assert image.mean() > 10 and truth["disc_diameter_px"] > 0
