"""The Studies page's leaderboard table: readable figures, '—' (never 'None') where a figure is
not defined, rates in scientific notation, a verdict against the selected trial."""

from __future__ import annotations

from app_pages._components.study_table import DASH, fmt_param, leaderboard_table


def summary(mean, std=None, ci=(None, None)):
    return {"mean": mean, "std": std, "ci95": list(ci)}


def report():
    def trial(i, status, folds, valid, test, p=None, indistinguishable=None):
        return {"id": i, "status": status, "folds_trained": folds, "params": {"learning_rate": 6.1e-4 * (i + 1),
                "head_dropout": 0.2188, "head_dense_units": 64}, "valid": {"auc": valid}, "test": {"auc": test},
                "p_vs_leader": p, "indistinguishable": indistinguishable, "experiment": f"exp:{i + 10}"}

    return {"rule": {"metric": "auc"}, "selected": 3, "trials": [
        trial(3, "complete", [1, 2, 3], summary(0.9479, 0.018, (0.9031, 0.9927)), summary(0.93, 0.06, (0.77, 1.0))),
        trial(0, "complete", [1, 2, 3], summary(0.92, 0.05, (0.78, 1.0)), summary(0.95, 0.04, (0.85, 1.0)),
              {"nadeau_bengio": 0.7418, "wilcoxon": 0.0004, "delong": None}, True),
        trial(4, "pruned", [1], summary(0.78), summary(0.79), {"nadeau_bengio": None, "wilcoxon": None,
                                                              "delong": 1.0}, True),
        trial(5, "failed", [], summary(None), summary(None)),
    ]}


def test_cells_are_text_with_dashes_where_undefined():
    table = leaderboard_table(report())
    assert list(table["trial"]) == [3, 0, 4, 5]
    assert "None" not in table.astype(str).to_numpy() and not table.isna().any().any()
    first, second, pruned, failed = (table.iloc[i] for i in range(4))
    assert first["valid AUC"] == "0.948 ± 0.018 (0.90–0.99)" and first["test AUC"] == "0.930 ± 0.060 (0.77–1.00)"
    assert first["p t-test (NB)"] == "selected" and first["vs selected"] == "selected"
    assert second["p t-test (NB)"] == "0.742" and second["p Wilcoxon"] == "< 0.001" and second["p DeLong"] == DASH
    assert second["vs selected"] == "cannot tell apart"
    assert pruned["valid AUC"] == "0.780" and pruned["folds"] == 1  # one fold: no sd, no interval
    assert failed["valid AUC"] == DASH and failed["vs selected"] == DASH
    assert first["learning_rate"] == "2.44e-03" and first["head_dropout"] == "0.219"
    assert first["head_dense_units"] == "64"


def test_parameters_read_as_written():
    assert fmt_param("learning_rate", 0.003) == "3.00e-03"
    assert fmt_param("head_dropout", 0.0) == "0"
    assert fmt_param("batch_size", 16) == "16"
    assert fmt_param("augment", True) == "True"


def test_nested_table_names_its_columns_and_dashes_missing_scores():
    from app_pages._components.study_table import nested_table

    r = {"rule": {"metric": "auc"}, "nested": {"per_fold": [{"fold": 1, "chosen_trial": 3, "valid": 0.91,
                                                                "test": None}]}}
    table = nested_table(r)
    assert list(table.columns) == ["outer fold", "trial chosen (validation)", "valid AUC", "test AUC"]
    assert table.iloc[0]["test AUC"] == DASH and table.iloc[0]["valid AUC"] == "0.910"
