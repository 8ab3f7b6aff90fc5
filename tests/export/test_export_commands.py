"""The export and app commands: what they print, what they write, their errors."""

from __future__ import annotations

import json

import pytest

from glaucoma_core.cli import main


def _run(capsys, argv):
    code = main(argv)
    out = capsys.readouterr()
    return code, out


def _json(capsys, argv):
    code, out = _run(capsys, argv)
    assert code == 0, out.err
    return json.loads(out.out)


@pytest.mark.slow
def test_export_tensorboard_and_savedmodel_commands(filled, capsys, tmp_path):
    home = ["--home", str(filled.store.home)]
    target = f"exp:{filled.experiment_id}"
    result = _json(capsys, [*home, "export", "tensorboard", target, "--json"])
    assert sorted(result["files"]) == sorted(f"run:{r}" for r in filled.run_ids)
    assert all(len(files) == 2 for files in result["files"].values())

    out = tmp_path / "model"
    result = _json(capsys, [*home, "export", "savedmodel", target, "--out", str(out), "--bootstrap", "20", "--json"])
    assert (out / "saved_model.pb").is_file() and (out / "model_card.md").is_file()
    assert result["threshold_rule"] == {"method": "target_sensitivity", "target": 0.95}
    assert result["runs"] == filled.run_ids and result["model_card"] == str(out / "model_card.md")
    code, text = _run(capsys, [*home, "export", "savedmodel", target, "--out", str(out)])
    assert code == 2 and "--overwrite" in text.err and "Traceback" not in text.err
    code, text = _run(capsys, [*home, "export", "savedmodel", target, "--out", str(out), "--overwrite",
                               "--youden", "--bootstrap", "20"])
    assert code == 0 and "youden" in text.out


@pytest.mark.slow
def test_export_mlflow_command(filled, capsys, tmp_path):
    pytest.importorskip("mlflow", reason="the mlflow extra is not installed")
    home = ["--home", str(filled.store.home)]
    uri = f"sqlite:///{tmp_path / 'ml.db'}"
    argv = [*home, "export", "mlflow", f"exp:{filled.experiment_id}", "--tracking-uri", uri, "--bootstrap", "20",
            "--no-models"]
    first = _json(capsys, [*argv, "--json"])
    code, text = _run(capsys, argv)
    assert code == 0 and "updated" in text.out and first["parent_run_id"] in text.out


@pytest.mark.parametrize("argv, message", [
    (["export", "tensorboard", "exp:99"], "no experiment"),
    (["export", "savedmodel", "run:99", "--out", "x"], "no run 99"),
    (["export", "mlflow", "exp:99", "--tracking-uri", "sqlite:///x.db"], "no experiment"),
])
def test_bad_targets_are_clear_errors(filled, capsys, argv, message):
    code, out = _run(capsys, ["--home", str(filled.store.home), *argv])
    assert code == 2 and message in out.err and "Traceback" not in out.err


def test_unfinished_experiment_has_nothing_to_export(capsys, tmp_path):
    from glaucoma_core.store import RunStore

    store = RunStore(tmp_path)
    experiment = store.create_experiment("pending", {"backbone": "small_cnn"}, "/data", "fp", [1])
    store.create_run(experiment, 1, {"backbone": "small_cnn"}, "/data")
    code, out = _run(capsys, ["--home", str(tmp_path), "export", "savedmodel", "exp:1", "--out", str(tmp_path / "m")])
    assert code == 2 and "no finished run" in out.err and "queued" in out.err


def test_app_command_starts_the_packaged_app_on_localhost(capsys):
    from glaucoma_core.commands.app_commands import APP_SETTINGS, app_script

    code, out = _run(capsys, ["app", "--print-command"])
    assert code == 0
    words = out.out.split()
    assert words[1:4] == ["-m", "streamlit", "run"] and words[4] == str(app_script())
    assert app_script().name == "streamlit_app.py" and (app_script().parent / "app_pages" / "classify.py").is_file()
    assert "--server.address=127.0.0.1" in words
    assert len([w for w in words if w.startswith("--")]) == len(APP_SETTINGS)
    # options after -- go to streamlit and replace ours
    code, out = _run(capsys, ["app", "--print-command", "--", "--server.port", "8600", "--server.address=0.0.0.0"])
    words = out.out.split()
    assert words[-3:] == ["--server.port", "8600", "--server.address=0.0.0.0"]
    assert "--server.address=127.0.0.1" not in words


def test_app_settings_are_those_of_the_checkout_config():
    """`glaucoma app` passes the same settings as .streamlit/config.toml gives `streamlit run`."""
    import tomllib

    from glaucoma_core.commands.app_commands import APP_SETTINGS
    from glaucoma_core.paths import PROJECT_ROOT

    config = tomllib.loads((PROJECT_ROOT / ".streamlit" / "config.toml").read_text())
    flat = {f"{section}.{key}": value for section, values in config.items() for key, value in values.items()}
    as_text = {key: str(value).lower() if isinstance(value, bool) else str(value) for key, value in flat.items()}
    assert as_text == APP_SETTINGS
