"""Combined databases: sources from a merged tree or a CSV, leave-one-source-out cross-validation."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from glaucoma_core.cli import main
from glaucoma_core.data.index import scan_dataset
from glaucoma_core.external.sources import (
    FOLD_SOURCES_FILE,
    SourcesError,
    make_source_folds,
    per_source_table,
    scan_combined,
)
from glaucoma_core.workbench import Workbench
from tests.external.helpers import tiny_flat
from tests.training.fakes import tiny_config

SOURCES = ("acrima", "drishti", "rimone")


@pytest.fixture(scope="module")
def combined(tmp_path_factory):
    root = tmp_path_factory.mktemp("sources") / "combined"
    for seed, name in enumerate(SOURCES):
        tiny_flat(root / name, n=8, seed=seed + 20, duplicate=False)
    # the same file in two databases (public databases do share images)
    (root / "drishti" / "normal" / "shared.png").write_bytes((root / "acrima" / "normal" / "ext_normal_0.png").read_bytes())
    return root


def test_scan_combined_reads_sources(combined, tmp_path):
    index = scan_combined(combined, home=tmp_path)
    assert sorted(index["source"].unique()) == list(SOURCES)
    assert index.groupby("source").size().to_dict() == {"acrima": 16, "drishti": 17, "rimone": 16}
    assert index["relpath"].str.startswith(tuple(f"{s}/" for s in SOURCES)).all()
    # a flat dataset with a CSV file,source
    flat = tiny_flat(tmp_path / "flat", n=3, duplicate=False)
    csv = tmp_path / "sources.csv"
    names = sorted(p.name for p in flat.rglob("*.png"))
    pd.DataFrame({"file": names, "source": ["x" if i % 2 else "y" for i in range(len(names))]}).to_csv(csv, index=False)
    assert set(scan_combined(flat, sources_csv=csv, home=tmp_path)["source"]) == {"x", "y"}
    with pytest.raises(SourcesError, match="sources CSV"):
        scan_combined(flat, home=tmp_path)
    pd.DataFrame({"file": names[:2], "source": ["x", "y"]}).to_csv(csv, index=False)
    with pytest.raises(SourcesError, match="have no source"):
        scan_combined(flat, sources_csv=csv, home=tmp_path)


def test_stratified_by_source_and_class(combined, tmp_path):
    result = make_source_folds(combined, tmp_path / "k3", leave_one_out=False, k=3, seed=1, home=tmp_path)
    index = scan_dataset(tmp_path / "k3", home=tmp_path)
    test = index[index["split"] == "test"]
    counts = test.groupby(["fold", "source", "label"]).size().unstack(["source", "label"])
    # every stratum in every fold, spread evenly (the shared file travels with its twin: one more)
    assert counts.notna().all().all() and (counts.max() - counts.min()).max() <= 2
    assert len(result["folds"]) == 3 and not (tmp_path / "k3" / FOLD_SOURCES_FILE).exists()


@pytest.mark.slow
def test_leave_one_source_out_cross_validation(combined, tmp_path, capsys):
    bench = Workbench(tmp_path / "home")
    out = tmp_path / "loso"
    assert main(["--home", str(bench.home), "source-folds", str(combined), str(out), "--json"]) == 0
    written = json.loads(capsys.readouterr().out)
    assert [f["source"] for f in written["folds"]] == list(SOURCES)
    # the shared file is never trained on while its twin is tested (folds acrima and drishti)
    assert written["left_out_duplicates"] == 2
    index = scan_dataset(out, home=bench.home)
    for fold, source in enumerate(SOURCES, start=1):
        rows = index[index["fold"] == fold]
        assert set(rows.loc[rows["split"] == "test", "source"]) == {source}
        assert source not in set(rows.loc[rows["split"] != "test", "source"])
        test_shas = set(rows.loc[rows["split"] == "test", "sha256"])
        assert not test_shas & set(rows.loc[rows["split"] != "test", "sha256"])

    dataset = bench.dataset(out)
    experiment = bench.create_experiment(tiny_config(), dataset, name="loso")
    bench.cross_validate(experiment, dataset=dataset, echo=None)
    report = bench.cv_report(f"exp:{experiment}", n_resamples=20)
    assert report["status"] == "finished" and len(report["folds"]) == 3
    table = per_source_table(report["results"]["per_fold"], out)
    assert list(table["source"]) == list(SOURCES) and table["n"].tolist() == [16, 17, 16]
    assert main(["--home", str(bench.home), "sources", f"exp:{experiment}"]) == 0
    text = capsys.readouterr().out
    assert all(s in text for s in SOURCES)


def test_source_folds_refuses_bad_input(combined, tmp_path):
    with pytest.raises(SourcesError, match="not empty"):
        (tmp_path / "busy").mkdir()
        (tmp_path / "busy" / "x").write_text("x")
        make_source_folds(combined, tmp_path / "busy", home=tmp_path)
    with pytest.raises(SourcesError, match="inside"):
        make_source_folds(combined, combined / "out", home=tmp_path)
    with pytest.raises(SourcesError, match="not a leave-one-source-out"):
        per_source_table(pd.DataFrame({"fold": [1]}), tmp_path)


def test_source_folds_command_k(combined, tmp_path, capsys):
    out = tmp_path / "k2"
    assert main(["--home", str(tmp_path / "home"), "source-folds", str(combined), str(out), "--k", "2"]) == 0
    text = capsys.readouterr().out
    assert "2 source x class stratified folds of 49 images" in text and "acrima: 16" in text
    assert (out / "sources.csv").is_file() and not (out / FOLD_SOURCES_FILE).exists()
    assert main(["--home", str(tmp_path / "home"), "source-folds", str(combined), str(tmp_path / "k1"), "--k", "1"]) == 2


def test_index_reads_sources_csv(tmp_path):
    flat = tiny_flat(tmp_path / "flat", n=2, duplicate=False)
    assert set(scan_dataset(flat, home=tmp_path)["source"]) == {""}  # no sources.csv: none
    (flat / "sources.csv").write_text("relpath,source\nnormal/ext_normal_0.png,clinic-a\n")
    index = scan_dataset(flat, home=tmp_path).set_index("relpath")
    assert index.loc["normal/ext_normal_0.png", "source"] == "clinic-a"
    assert index.loc["abnormal/ext_abnormal_0.png", "source"] == ""
