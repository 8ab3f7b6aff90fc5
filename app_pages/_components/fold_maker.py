"""Make folds from the Dataset page: the ``folds`` command for a flat dataset, with progress.

The workbench writes the folds (``Workbench.make_folds``) in a worker thread; the page counts
the image files that have appeared in the new folder (each usable image is written once per
fold) to show how far it is.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import streamlit as st

from app_pages._components import bench as workbench
from glaucoma_core.errors import UserError


def _files_under(folder: Path) -> int:
    count = 0
    for _root, _dirs, files in os.walk(folder):
        count += len(files)
    return count


def default_out(root: Path) -> Path:
    return root.parent / f"{root.name}_folds"


def make_folds_form(ctx, good) -> None:
    """The form (k, seed, validation share, output folder) and the run with a progress bar."""
    root = Path(ctx.data_root)
    c1, c2, c3 = st.columns(3)
    k = c1.number_input("Folds (k)", min_value=2, max_value=20, value=10, step=1, key="folds_k")
    seed = c2.number_input("Seed", min_value=0, max_value=2**31 - 1, value=0, step=1, key="folds_seed")
    valid = c3.number_input("Validation share of training images", min_value=0.05, max_value=0.5, value=0.1,
                            step=0.05, key="folds_valid")
    out_text = st.text_input("New folder for the folds", value=str(default_out(root)), key="folds_out",
                             help="A new (or empty) folder outside this dataset; fold_01 … fold_k and "
                                  "fold_assignment.csv are written there. The source is left untouched.")
    st.caption(f"{len(good):,} usable images · stratified by class · each image in exactly one test fold.")
    if not st.button("Make the folds", key="folds_make", type="primary", icon=":material/play_arrow:"):
        done = st.session_state.get("folds_done")
        if done:
            st.success(done)
        return
    out = Path(out_text.strip()).expanduser()
    from glaucoma_core.data.access import data_root
    from glaucoma_core.data.safe_files import is_inside

    allowed = data_root()
    if allowed and not is_inside(str(out.parent), str(allowed)):
        st.error(f"{out}: outside the allowed data root {allowed} (GLAUCOMA_DATA_ROOT); choose a folder inside it.")
        return
    outcome: dict = {}

    def work():
        try:
            outcome["rows"] = workbench.actor(ctx.home).make_folds(root, out, k=int(k), seed=int(seed),
                                                                   valid_fraction=float(valid))
        except (UserError, OSError) as exc:
            outcome["error"] = str(exc)
        except Exception as exc:  # never leave the page hanging on an unexpected failure
            outcome["error"] = f"{type(exc).__name__}: {exc}"

    expected = max(int(k) * len(good), 1)
    worker = threading.Thread(target=work, daemon=True)
    bar = st.progress(0.0, text="Scanning and assigning the folds…")
    worker.start()
    while worker.is_alive():
        written = _files_under(out) if out.is_dir() else 0
        bar.progress(min(written / expected, 0.99), text=f"Writing the folds: {written:,} of {expected:,} files")
        time.sleep(0.3)
    worker.join()
    if "error" in outcome:
        bar.empty()
        st.error(f"Could not make the folds: {outcome['error']}")
        return
    rows = outcome["rows"]
    written = int((rows["problem"] == "").sum()) if "problem" in rows else len(rows)
    bar.progress(1.0, text=f"Done: {written:,} files")
    message = (f"{int(k)} folds written to `{out}` ({written:,} files). Choose that folder in the sidebar "
               "(A folder) to train and cross-validate on it.")
    st.session_state["folds_done"] = message
    st.success(message)
