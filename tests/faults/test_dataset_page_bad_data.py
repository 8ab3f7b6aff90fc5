"""Bad data on the Dataset page (issue 7): the hostile corpus opened from the sidebar.

The page is driven with ``streamlit.testing.v1.AppTest`` through the real entry point: the
folder is chosen in the sidebar, every tab runs, no exception reaches the page, the counts
are right and every unusable file is listed with its reason. The browser's "with a problem"
filter shows each bad file's reason instead of a thumbnail.
"""

from __future__ import annotations

import pytest

from glaucoma_core.paths import PROJECT_ROOT as REPO
from tests.faults.hostile_corpus import EXPECTED, EXPECTED_BAD, EXPECTED_GOOD, write_hostile_corpus

pytestmark = pytest.mark.slow

TIMEOUT_S = 120  # AppTest raises when one script run takes longer: a hang fails, it does not block CI


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile_page") / "dataset"
    write_hostile_corpus(root)
    return root


def _texts(elements) -> list[str]:
    return [str(e.value) for e in elements]


@pytest.fixture
def page(corpus, monkeypatch):
    """The app on the Dataset page with the corpus chosen in the sidebar (the demo is never built)."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.delenv("GLAUCOMA_DATA_ROOT", raising=False)
    at = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=TIMEOUT_S)
    at.session_state["sidebar_dataset_choice"] = "A folder"
    at.session_state["sidebar_dataset_folder"] = str(corpus)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_dataset_page_lists_every_problem_with_its_reason(page, corpus):
    at = page
    assert at.title[0].value == "Dataset"
    assert not at.error, _texts(at.error)  # the folder itself is fine: no page-level error
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Images (rows)"] == str(len(EXPECTED))
    assert metrics["Usable"] == str(len(EXPECTED_GOOD))
    assert any(str(corpus) in c for c in _texts(at.sidebar.caption))  # not the demo dataset

    assert any(f"Unusable files ({len(EXPECTED_BAD)})" in str(h.value) for h in at.subheader)
    problems = next(d.value for d in at.dataframe if {"relpath", "problem"} <= set(d.value.columns))
    reasons = dict(zip(problems["relpath"], problems["problem"], strict=True))
    assert set(reasons) == set(EXPECTED_BAD)
    for relpath, word in EXPECTED_BAD.items():
        assert word.lower() in reasons[relpath].lower(), (relpath, reasons[relpath])


def test_browser_shows_reasons_of_bad_files_instead_of_images(page):
    at = page
    at.selectbox(key="browse_which").set_value("with a problem").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(f"{len(EXPECTED_BAD)} images match" in c for c in _texts(at.caption))
    shown = _texts(at.error)
    for word in set(EXPECTED_BAD.values()):
        assert any(word.lower() in e.lower() for e in shown), (word, shown)
    # the full-size panel of a bad file says why instead of crashing
    next(b for b in at.button if b.label == "View").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(e.startswith("Cannot show") for e in _texts(at.error))
