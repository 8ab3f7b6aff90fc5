"""The exported SavedModel, reloaded with plain TensorFlow, gives the workbench's probabilities."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from glaucoma_core.data.images import load_rgb_array
from glaucoma_core.errors import UserError
from glaucoma_core.evaluation.ensemble import summarize_probabilities
from glaucoma_core.export.saved_model import METADATA_FILE, export_saved_model
from glaucoma_core.training.predict import predict_probabilities

TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def exported(filled, tmp_path_factory):
    out = tmp_path_factory.mktemp("savedmodel") / "ensemble"
    metadata = export_saved_model(filled.store, filled.run_ids, out, description={"reference": "exp:1"})
    return out, metadata


def _load(path):
    import tensorflow as tf

    return tf.saved_model.load(str(path))


def _workbench(filled, pixels):
    """What the workbench computes: each fold model on the pixels, then mean and sd over models."""
    matrix = np.stack([predict_probabilities(filled.models[r], pixels) for r in filled.run_ids])
    return summarize_probabilities(matrix), matrix


def _encode(image: np.ndarray, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format=fmt, **options)
    return buffer.getvalue()


def test_pixels_at_model_size_match_the_workbench(filled, exported):
    import tensorflow as tf

    out, metadata = exported
    assert metadata["n_models"] == 2 and metadata["input_size"] == 32 and metadata["runs"] == filled.run_ids
    assert json.loads((out / METADATA_FILE).read_text())["reference"] == "exp:1"
    model = _load(out)
    assert set(model.signatures) == {"serving_default", "serve_bytes"}
    paths = sorted((filled.data / "fold_1" / "test").rglob("*.png"))
    pixels = np.stack([load_rgb_array(p, 32) for p in paths])
    got = model.signatures["serving_default"](images=tf.constant(pixels))
    summary, matrix = _workbench(filled, pixels)
    np.testing.assert_allclose(got["probability"].numpy(), summary["probability"], atol=TOLERANCE, rtol=0)
    np.testing.assert_allclose(got["probability_sd"].numpy(), summary["sd"], atol=TOLERANCE, rtol=0)
    np.testing.assert_allclose(got["fold_probabilities"].numpy(), matrix.T, atol=TOLERANCE, rtol=0)
    assert summary["sd"].max() > 1e-4  # the two fold models really differ


def test_any_size_and_encoded_files_match_the_workbench_reading_them(filled, exported, tmp_path):
    """Images of other sizes are resized inside as the workbench reads a file (Pillow bilinear);
    PNG bytes decode exactly; JPEG bytes too with the pinned TensorFlow and Pillow (the same
    libjpeg-turbo arithmetic; another pair of decoder builds may differ slightly)."""
    import tensorflow as tf

    out, _ = exported
    model = _load(out)
    rng = np.random.default_rng(3)
    landscape = rng.integers(0, 256, (4, 75, 90, 3), dtype=np.uint8)
    reference = np.stack([load_rgb_array(_encode(image, "PNG"), 32) for image in landscape])
    summary, _ = _workbench(filled, reference)
    got = model.serving_default(tf.constant(landscape))["probability"].numpy()
    np.testing.assert_allclose(got, summary["probability"], atol=TOLERANCE, rtol=0)

    png = [_encode(image, "PNG") for image in landscape]
    got = model.serve_bytes(tf.constant(png))["probability"].numpy()
    np.testing.assert_allclose(got, summary["probability"], atol=TOLERANCE, rtol=0)

    # JPEGs, one at least twice the model side (decoded at reduced scale, as Pillow's draft does)
    smooth = np.clip(np.stack([np.add.outer(np.arange(160), np.arange(200)) % 256] * 3, -1), 0, 255).astype(np.uint8)
    jpegs = [_encode(smooth, "JPEG", quality=90), _encode(landscape[0], "JPEG", quality=80)]
    reference = np.stack([load_rgb_array(data, 32) for data in jpegs])
    summary, _ = _workbench(filled, reference)
    got = model.serve_bytes(tf.constant(jpegs))["probability"].numpy()
    np.testing.assert_allclose(got, summary["probability"], atol=TOLERANCE, rtol=0)


def test_real_fundus_photograph_bytes(filled, exported):
    """The shared full-field fundus JPEG (1411 px): decoded at 1/8 scale and resized like the workbench."""
    import tensorflow as tf

    from glaucoma_core.paths import PROJECT_ROOT

    sample = PROJECT_ROOT.parent / "shared" / "samples" / "fullfield_fundus_cc0.jpg"
    if not sample.is_file():
        pytest.skip(f"{sample} is not here")
    out, _ = exported
    data = sample.read_bytes()
    summary, _ = _workbench(filled, load_rgb_array(data, 32)[None])
    model = _load(out)  # keep the loaded object: its functions use its variables
    got = model.serve_bytes(tf.constant([data]))["probability"].numpy()
    np.testing.assert_allclose(got, summary["probability"], atol=TOLERANCE, rtol=0)


@pytest.mark.slow
def test_one_run_and_output_folder_rules(filled, tmp_path):
    import tensorflow as tf

    run = filled.run_ids[0]
    out = tmp_path / "one"
    export_saved_model(filled.store, [run], out)
    pixels = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    model = _load(out)
    got = model.serving_default(tf.constant(pixels))
    expected = predict_probabilities(filled.models[run], pixels)
    np.testing.assert_allclose(got["probability"].numpy(), expected, atol=TOLERANCE, rtol=0)
    assert got["fold_probabilities"].shape == (3, 1) and not got["probability_sd"].numpy().any()
    with pytest.raises(UserError, match="not empty"):
        export_saved_model(filled.store, [run], out)
    export_saved_model(filled.store, filled.run_ids, out, overwrite=True)  # replaced whole
    assert json.loads((out / METADATA_FILE).read_text())["n_models"] == 2
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left behind
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="is a file"):
        export_saved_model(filled.store, [run], tmp_path / "file")
    with pytest.raises(UserError, match="nothing to export"):
        export_saved_model(filled.store, [], tmp_path / "none")
    with pytest.raises(UserError, match="run 999"):
        export_saved_model(filled.store, [999], tmp_path / "missing")


@pytest.mark.slow
def test_models_trained_on_prepared_images_are_exported_with_their_preparation(filled, tmp_path):
    """Fundus preparation (glaucoma_core.preparation) happens outside the network: the export
    writes its settings to preparation.json, and the SavedModel takes prepared pixels only (no
    serve_bytes, whose plain decode would feed the model other pixels than in training)."""
    from glaucoma_core.export.saved_model import PREPARATION_FILE
    from glaucoma_core.preparation import PREPARATION_VERSION
    from glaucoma_core.store import RunStore

    store = RunStore(tmp_path / "home")
    config = {**filled.store.run(filled.run_ids[0])["config"], "prepare_illumination": "clahe"}
    run = store.create_run(None, 1, config, str(filled.data))
    store.save_model(run, filled.models[filled.run_ids[0]])
    store.finish_run(run, "finished")
    metadata = export_saved_model(store, [run], tmp_path / "prepared")
    assert "light=clahe" in metadata["input_preparation"] and set(metadata["signatures"]) == {"serving_default"}
    spec = json.loads((tmp_path / "prepared" / PREPARATION_FILE).read_text())
    assert spec["settings"]["illumination"] == "clahe" and spec["preparation_version"] == PREPARATION_VERSION
    assert set(_load(tmp_path / "prepared").signatures) == {"serving_default"}
    flagged = export_saved_model(store, [run], tmp_path / "flagged", prepared_inputs=True)
    assert "caller" in flagged["inputs_prepared_by"]
    # fold models trained with different preparations cannot be averaged
    other = store.create_run(None, 2, {**config, "prepare_illumination": "graham"}, str(filled.data))
    store.save_model(other, filled.models[filled.run_ids[1]])
    store.finish_run(other, "finished")
    with pytest.raises(UserError, match="different image preparations"):
        export_saved_model(store, [run, other], tmp_path / "mixed")


def test_plain_exports_record_no_preparation(exported):
    from glaucoma_core.export.saved_model import PREPARATION_FILE

    out, metadata = exported
    spec = json.loads((out / PREPARATION_FILE).read_text())
    assert spec["prepares"] is False and spec["key"] == "" and metadata["input_preparation"] is None
    assert set(metadata["signatures"]) == {"serving_default", "serve_bytes"}
