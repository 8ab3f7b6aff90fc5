"""One file, prepared through every path that feeds a model, gives the same pixels (issue 16):

(a) the trainer's decode (``data.pipeline.load_images`` with the config, as train_fold calls it),
(b) ``Workbench.model_inputs`` (Classify, predict, Grad-CAM), and
(c) the exported SavedModel's serving path (``export.serving``: preparation.json + the same
    ``load_prepared_array``);

and the exported model's P(glaucoma) on the file equals the stored run's model's.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from glaucoma_core.data.fundus_synth import encode_camera_jpeg, render_full_field, sample_full_field
from tests.training.fakes import tiny_config

SAMPLE = Path(__file__).resolve().parents[2].parent / "shared" / "samples" / "fullfield_fundus_cc0.jpg"
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def prepared_export(tmp_path_factory):
    """A finished run trained (recorded) with fundus preparation, its export, and two files:
    a synthetic full-field camera JPEG and the real sample when it is there."""
    import keras

    from glaucoma_core.export.saved_model import export_saved_model
    from glaucoma_core.networks.classifier import build_classifier
    from glaucoma_core.store import RunStore

    root = tmp_path_factory.mktemp("same-pixels")
    files = []
    p, layout = sample_full_field(2, seed=5)[1]
    image, _ = render_full_field(p, layout, 384)
    files.append(root / "full_field.jpg")
    files[0].write_bytes(encode_camera_jpeg(image, p.camera, p.index))
    if SAMPLE.is_file():
        files.append(SAMPLE)
    config = tiny_config(feature_cache=False, input_size=48, prepare_field_of_view=True, prepare_disc_crop="auto",
                         prepare_illumination="clahe")
    store = RunStore(root / "home")
    keras.utils.set_random_seed(4)
    model = build_classifier(config)
    run = store.create_run(None, 1, config.to_dict(), str(root))
    store.save_model(run, model)
    store.finish_run(run, "finished")
    out = root / "export"
    metadata = export_saved_model(store, [run], out)
    return store, run, config, out, metadata, files


def test_export_writes_the_preparation_and_needs_no_flag(prepared_export):
    from glaucoma_core.export.saved_model import PREPARATION_FILE
    from glaucoma_core.preparation import PREPARATION_VERSION

    store, run, config, out, metadata, _ = prepared_export
    spec = json.loads((out / PREPARATION_FILE).read_text())
    assert spec["preparation_version"] == PREPARATION_VERSION and spec["input_size"] == 48 and spec["prepares"]
    assert spec["settings"] == {"field_of_view": True, "disc_crop": "auto", "disc_crop_scale": config.prepare_disc_crop_scale,
                                "illumination": "clahe", "resolution": None}
    assert "crop=auto" in metadata["input_preparation"] and "serving" in metadata["inputs_prepared_by"]
    # a prepared model has no bytes signature: a plain decode would feed it other pixels
    assert set(metadata["signatures"]) == {"serving_default"}


def test_the_same_file_gets_the_same_pixels_on_every_path_and_the_same_probability(prepared_export):
    from glaucoma_core.data.pipeline import load_images
    from glaucoma_core.export.serving import predict_files, prepare_files
    from glaucoma_core.preparation import load_prepared_array
    from glaucoma_core.training.predict import predict_probabilities
    from glaucoma_core.workbench import Workbench

    store, run, config, out, _, files = prepared_export
    stored_config = store.run(run)["config"]
    model = store.load_model(run)
    rows = pd.DataFrame({"path": [str(f) for f in files],
                         "sha256": [hashlib.sha256(f.read_bytes()).hexdigest() for f in files]})
    trainer = load_images(rows, 48, preparation=config).images  # (a) as train_fold decodes
    bench, problems = Workbench(store.home).model_inputs(model, [str(f) for f in files], stored_config)  # (b)
    served, served_problems = prepare_files(out, [str(f) for f in files])  # (c)
    assert problems == served_problems == [None] * len(files)
    assert trainer.shape == (len(files), 48, 48, 3)
    assert np.array_equal(trainer, bench) and np.array_equal(trainer, served)
    # the preparation really cropped around the disc (these are not plain resizes)
    for path in files:
        _, record = load_prepared_array(path, 48, config, with_record=True)
        assert "disc_crop" in record["applied"], (path, record["decision"])

    expected = predict_probabilities(model, trainer)
    got = predict_files(out, [str(f) for f in files], threshold=0.5)
    np.testing.assert_allclose([row["probability"] for row in got], expected, atol=TOLERANCE, rtol=0)
    assert all(row["prediction"] in ("glaucoma", "normal") and row["error"] is None for row in got)


def test_serving_refuses_another_preparation_version_and_names_unreadable_files(prepared_export, tmp_path):
    import shutil

    from glaucoma_core.errors import UserError
    from glaucoma_core.export.saved_model import PREPARATION_FILE
    from glaucoma_core.export.serving import predict_files, prepare_files

    _, _, _, out, _, _ = prepared_export
    broken = tmp_path / "not-an-image.jpg"
    broken.write_bytes(b"no jpeg here")
    batch, problems = prepare_files(out, [str(broken)])
    assert len(batch) == 0 and problems[0]
    copy = tmp_path / "old-export"
    shutil.copytree(out, copy)
    spec = json.loads((copy / PREPARATION_FILE).read_text())
    (copy / PREPARATION_FILE).write_text(json.dumps({**spec, "preparation_version": "prep-0"}))
    with pytest.raises(UserError, match="prep-0"):
        predict_files(copy, [str(broken)])
    with pytest.raises(UserError, match="no SavedModel"):
        prepare_files(tmp_path, [str(broken)])


def test_serve_export_command_prints_each_file(prepared_export, capsys, tmp_path):
    from glaucoma_core.cli import main

    _, _, _, out, _, files = prepared_export
    missing = tmp_path / "missing.jpg"
    assert main(["serve-export", str(out), str(files[0]), str(missing), "--json"]) == 1  # one file unreadable
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["error"] is None and 0.0 <= rows[0]["probability"] <= 1.0
    assert rows[1]["error"] and rows[1]["probability"] is None
    assert main(["serve-export", str(tmp_path), str(files[0])]) == 2
    assert "no SavedModel" in capsys.readouterr().err
