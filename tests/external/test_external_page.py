"""The External validation page shows a stored evaluation, its shift, the missed images and the baseline."""

from __future__ import annotations

import pytest

from glaucoma_core.paths import demo_data_dir
from glaucoma_core.workbench import ThresholdRule, Workbench
from tests.app.helpers import REPO
from tests.external.helpers import stored_experiment, tiny_flat
from tests.training.fakes import make_tiny_dataset

pytestmark = pytest.mark.slow


@pytest.fixture
def home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    # a tiny stand-in for the demo dataset (the sidebar's default), so no 400 images are rendered
    internal = make_tiny_dataset(demo_data_dir(home), folds=2, n_train=6, n_valid=5, n_test=5)
    (internal / "demo_parameters.csv").write_text("file,label\n")
    bench = Workbench(home)
    exp, _ = stored_experiment(bench, internal, folds=2)
    bench.validate_external(f"exp:{exp}", tiny_flat(tmp_path / "other", n=8), ThresholdRule("youden", None),
                            n_resamples=20)
    monkeypatch.setenv("GLAUCOMA_HOME", str(home))
    monkeypatch.delenv("GLAUCOMA_DATA_ROOT", raising=False)
    return home


def test_external_page_shows_the_stored_result(home):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=240)
    at.run()
    at.switch_page("app_pages/external.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "External validation"
    labels = [m.label for m in at.metric]
    assert "External AUC (ensemble)" in labels and "Internal AUC" in labels and "Drop" in labels
    assert any("Dataset shift" in s.value for s in at.subheader)
    assert len(at.dataframe) >= 2  # the stored list and the ensemble / per-fold table
    at.button(key="ext_baseline").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert "Metadata baseline AUC" in [m.label for m in at.metric]
