"""The workbench: one implementation of each user action, under the CLI, the jobs and the pages.

Every entry point (a ``python -m glaucoma_core`` command, the background job launcher, a
Streamlit page) calls a :class:`Workbench` for these steps and arranges what it returns, so two
places that show the same thing compute it here and cannot disagree:

- datasets: :meth:`Workbench.dataset` (resolve, scan through the cache);
- configurations: :meth:`Workbench.check_config` (against the folds it will train on);
- training: :meth:`start_training` / :meth:`start_cross_validation` (background jobs),
  :meth:`train` / :meth:`cross_validate` (in this process), :meth:`cancel`;
- results: :meth:`evaluate` (a run or an experiment under a threshold rule),
  :meth:`cv_report` (an experiment's progress and figures), :meth:`compare`,
  :meth:`decision_threshold`;
- models: :meth:`load_model`, :meth:`predict`, :meth:`gradcam`.

Results name what they are about with references (``run:5``, ``exp:3``) that every command
accepts as they are printed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pandas as pd

from glaucoma_core.errors import UserError
from glaucoma_core.workbench import datasets
from glaucoma_core.workbench.datasets import Dataset
from glaucoma_core.workbench.references import (
    EXPERIMENT,
    RUN,
    Reference,
    experiment_ref,
    parse_reference,
    run_ref,
)
from glaucoma_core.workbench.threshold_rule import ThresholdRule

DEFAULT_RESAMPLES = 1000  # bootstrap resamples of the intervals, the same for the CLI and the app
MAX_RESAMPLES = 100_000
ACTIVE_STATUSES = ("queued", "running")


class Workbench:
    """The workbench over one home (run store, caches, demo dataset).

    Args:
        home: the workbench home (default ``$GLAUCOMA_HOME`` or ``models/``).
        read_only: open the run store read-only (a viewer: nothing it does writes).
    """

    def __init__(self, home: str | os.PathLike | None = None, *, read_only: bool = False):
        from glaucoma_core.paths import home_dir

        self.home = home_dir(home)
        self.read_only = read_only
        self._store = None

    def __repr__(self) -> str:
        return f"Workbench({str(self.home)!r}{', read_only=True' if self.read_only else ''})"

    @property
    def store(self):
        """The run store (opened on first use; a broken store is a UserError)."""
        if self._store is None:
            from glaucoma_core.store import RunStore

            self._store = RunStore(self.home, read_only=True) if self.read_only else RunStore(self.home)
        return self._store

    # ------------------------------------------------------------ datasets and configurations

    def dataset(self, data: str | os.PathLike | None = None) -> Dataset:
        """The dataset at ``data`` (default: the demo dataset), scanned. Raises UserError."""
        return datasets.scan(data, self.home)

    def check_config(self, config, dataset: Dataset | None, folds: Iterable[int | None]) -> dict:
        """``config`` validated for training ``folds`` of ``dataset`` (see
        :func:`datasets.checked_config`). Returns the config dict; raises ConfigError/UserError."""
        return datasets.checked_config(config, dataset.index if dataset is not None else None, folds)

    # ------------------------------------------------------------ training

    def start_training(self, config, data: str | os.PathLike | None, fold: int | None) -> int:
        """Record a run of ``config`` on ``fold`` and train it in a detached process; returns the
        run id at once (the config is checked before anything is recorded)."""
        from glaucoma_core.training import jobs

        # a bad setting is named before any scan; the weights file is opened once, in the full check
        config = datasets.checked_config(config, None, [], check_weights_file=False)
        dataset = self.dataset(data)
        run_id = self.record_run(config, dataset, fold)
        jobs.launch(self.store, ["train", "--data", str(dataset.root), "--run-id", str(run_id)], [run_id],
                    self.store.log_path(run_id))
        return run_id

    def record_run(self, config, dataset: Dataset, fold: int | None) -> int:
        """Record a queued lone run of ``config`` on ``fold`` of ``dataset`` (None for a flat
        dataset), after checking both; returns its id."""
        if fold is None and dataset.folds:
            raise UserError(f"{dataset.root}: give a fold (folds: {', '.join(map(str, dataset.folds))})")
        if fold is not None:
            datasets.check_folds(dataset, [fold])
        config_dict = self.check_config(config, dataset, [fold])
        return self.store.create_run(None, fold, config_dict, str(dataset.root))

    def create_experiment(self, config, dataset: Dataset, folds: Iterable[int] | None = None,
                          name: str | None = None) -> int:
        """Record a cross-validation experiment of ``config`` over ``folds`` (default all) with
        one queued run per fold, after checking the config on every chosen fold."""
        from glaucoma_core.training.cross_validation import CrossValidationError, create_cv_experiment

        if not dataset.folds:
            raise UserError(f"{dataset.root}: no fold folders (fold_1, fold_2, ...) found; cross-validation "
                            "needs the fold layout (make one with the folds command)")
        chosen = datasets.check_folds(dataset, folds)
        config_dict = self.check_config(config, dataset, chosen)
        try:
            return create_cv_experiment(self.store, dataset.root, config_dict, folds=chosen, name=name,
                                        index=dataset.index)
        except CrossValidationError as exc:
            raise UserError(str(exc)) from None

    def start_cross_validation(self, config, data: str | os.PathLike | None, folds: Iterable[int] | None = None,
                               name: str | None = None, executor: str = "local",
                               address: str | None = None) -> int:
        """Record an experiment and train its folds in a detached process; returns its id at once."""
        from glaucoma_core.training import jobs

        # a bad setting is named before any scan; the weights file is opened once, in the full check
        config = datasets.checked_config(config, None, [], check_weights_file=False)
        experiment_id = self.create_experiment(config, self.dataset(data), folds, name)
        command = ["cv", "--resume", experiment_ref(experiment_id), "--executor", executor]
        if address:
            command += ["--address", address]
        run_ids = [int(r) for r in self.store.runs(experiment_id)["id"]]
        jobs.launch(self.store, command, run_ids, jobs.experiment_log_path(self.store, experiment_id))
        return experiment_id

    def train(self, run_id: int, *, dataset: Dataset | None = None,
              echo: Callable[[str], None] | None = print) -> dict:
        """Train the queued run ``run_id`` in this process (see ``fold_run.execute_run``)."""
        from glaucoma_core.training.fold_run import execute_run

        run = self.run(run_id)
        if run["status"] != "queued":
            raise UserError(f"run {run_id} is {run['status']}, not queued; only a queued run can be trained")
        return execute_run(self.store, run_id, index=dataset.index if dataset is not None else None, echo=echo)

    def cross_validate(self, experiment_id: int, *, executor: str = "local", address: str | None = None,
                       dataset: Dataset | None = None, echo: Callable[[str], None] | None = print) -> dict:
        """Train the experiment's unfinished folds in this process (or on Ray) and return the
        training outcome (see ``cross_validation.run_cv``)."""
        from glaucoma_core.training.cross_validation import run_cv
        from glaucoma_core.training.executors import ExecutorUnavailable, make_executor

        self.store.reap_dead_runs()
        try:
            runner = make_executor(executor, address)
            return run_cv(self.store, experiment_id, executor=runner,
                          index=dataset.index if dataset is not None else None, echo=echo)
        except ExecutorUnavailable as exc:
            raise UserError(str(exc)) from None

    def cancel(self, reference: str | Reference) -> list[int]:
        """Ask a run, or every unfinished run of an experiment, to stop (a queued run is
        cancelled at once, a running one after its epoch, keeping its best model). Returns the
        runs asked."""
        ref = self.resolve(reference)
        runs = self.store.runs(ref.key) if ref.kind == EXPERIMENT else pd.DataFrame([self.run(ref.key)])
        active = [int(r) for r in runs.loc[runs["status"].isin(ACTIVE_STATUSES), "id"]]
        for run_id in active:
            self.store.request_cancel(run_id)
        return active

    # ------------------------------------------------------------ the store

    def resolve(self, reference: str | int | Reference) -> Reference:
        """The reference with an experiment's name replaced by its id; raises UserError when
        nothing of that reference is in the store."""
        from glaucoma_core.store import RunNotFound

        ref = reference if isinstance(reference, Reference) else parse_reference(reference)
        try:
            if ref.kind == RUN:
                self.store.run(int(ref.key))
                return ref
            return Reference(EXPERIMENT, int(self.store.experiment(ref.key)["id"]))
        except RunNotFound as exc:
            hint = ""
            if ref.kind == RUN and isinstance(ref.key, int) and self._experiment_exists(ref.key):
                hint = f" (experiment {ref.key} exists: write exp:{ref.key})"
            raise UserError(f"{exc}{hint}") from None

    def _experiment_exists(self, experiment_id: int) -> bool:
        from glaucoma_core.store import RunNotFound

        try:
            self.store.experiment(int(experiment_id))
            return True
        except RunNotFound:
            return False

    def run(self, run_id: int) -> dict:
        """One run's row (UserError when there is none)."""
        from glaucoma_core.store import RunNotFound

        try:
            return self.store.run(int(run_id))
        except RunNotFound as exc:
            raise UserError(str(exc)) from None

    def experiment(self, reference: str | int | Reference) -> dict:
        """One experiment's row, by reference (``exp:3``), id (3 or ``"3"``: where only an
        experiment can be meant, a bare number is one) or name. UserError when there is none."""
        if isinstance(reference, Reference):
            ref = reference
        elif isinstance(reference, int) or str(reference).strip().isdigit():
            ref = parse_reference(f"exp:{str(reference).strip()}")
        else:
            ref = parse_reference(reference)
        if ref.kind != EXPERIMENT:
            raise UserError(f"{ref} is a run; an experiment is written exp:N (or its name)")
        return self.store.experiment(self.resolve(ref).key)

    def finished_runs(self, reference: str | Reference) -> list[int]:
        """The finished runs a result of ``reference`` is computed from: the run itself, or for
        an experiment the newest finished run of each fold."""
        ref = self.resolve(reference)
        if ref.kind == RUN:
            return [int(ref.key)]
        runs = self.store.runs(ref.key)
        finished = runs[runs["status"] == "finished"].sort_values("id")
        return sorted(int(r) for r in finished.groupby("fold")["id"].max())

    def results_signature(self, reference: str | Reference) -> tuple:
        """What identifies the stored results of ``reference``: (run id, status, finished_at) of
        each of its runs. Changes whenever a result could change (a cache key for the pages)."""
        ref = self.resolve(reference)
        runs = self.store.runs(ref.key) if ref.kind == EXPERIMENT else pd.DataFrame([self.run(ref.key)])
        return tuple((int(r.id), str(r.status), float(r.finished_at or 0)) for r in runs.sort_values("id").itertuples())

    def predictions(self, reference: str | Reference) -> pd.DataFrame:
        """The stored per-image predictions a result of ``reference`` is computed from."""
        ids = self.finished_runs(reference)
        predictions = self.store.predictions(ids) if ids else pd.DataFrame()
        if not predictions.empty and predictions["fold"].isna().all():
            predictions["fold"] = 0  # a lone run of a flat dataset: one "fold"
        return predictions

    # ------------------------------------------------------------ results

    def evaluate(self, reference: str | Reference, rule: ThresholdRule | None = None, *, split: str = "test",
                 n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> dict:
        """Metrics of a run, or of an experiment per fold, over folds and pooled.

        Args:
            reference: ``run:N``, ``exp:N`` or an experiment's name.
            rule: how the threshold is chosen (default fixed 0.5); a rule on validation is
                applied per fold on that fold's validation images.
            split: the images evaluated (``test``; ``valid`` only with a fixed threshold).
            n_resamples, seed: bootstrap settings of the intervals (AUC uses DeLong).

        Returns the dict of ``evaluation.evaluate`` plus ``reference``, ``kind``,
        ``threshold_rule`` and ``runs_without_predictions`` (an experiment's runs not counted).
        """
        from glaucoma_core.evaluation.evaluate import (
            evaluate_experiment_predictions,
            evaluate_run_predictions,
        )

        rule = rule or ThresholdRule()
        _check_split(split, rule)
        _check_resamples(n_resamples)
        ref = self.resolve(reference)
        label = self.label(ref)
        predictions = self.predictions(ref)
        if predictions.empty:
            raise UserError(f"{label} has no stored predictions yet ({self._states(ref)})")
        options = {"method": rule.method, "target": rule.target, "split": split, "n_resamples": n_resamples,
                   "seed": seed}
        try:
            if ref.kind == RUN:
                result = evaluate_run_predictions(predictions, **options)
            else:
                result = evaluate_experiment_predictions(predictions, **options)
        except ValueError as exc:
            raise UserError(f"{label}: {exc}") from None
        head = {"reference": str(ref), "kind": ref.kind, "label": label, "threshold_rule": rule.to_dict(),
                "threshold_rule_text": rule.describe()}
        if ref.kind == RUN:
            run = self.run(ref.key)
            head["target"] = {"run": int(ref.key), "fold": _plain(run["fold"]),
                              "experiment_id": _plain(run["experiment_id"])}
            head["runs_without_predictions"] = []
        else:
            experiment = self.store.experiment(ref.key)
            head["target"] = {k: experiment[k] for k in ("id", "name", "folds", "data_root")}
            head["runs_without_predictions"] = self._unfinished(ref)
        return {**head, **result}

    def cv_report(self, reference: str | Reference, rule: ThresholdRule | None = None, *,
                  n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> dict:
        """An experiment's progress and test figures: what the ``cv`` command prints and the
        Cross-validation page shows.

        Returns {experiment (reference), experiment_id, name, data_root, status ('finished' when
        every fold has a finished run, 'running', else 'incomplete'), folds: [{fold, run_id,
        status, epochs_done, epochs_planned, error}], missing_folds: folds without a finished
        run, threshold_rule, results: :meth:`evaluate` of the experiment (None before any fold
        finished)}.
        """
        ref = self.resolve(reference)
        if ref.kind != EXPERIMENT:
            raise UserError(f"{ref} is a run; a cross-validation report is of an experiment (exp:N)")
        experiment = self.store.experiment(ref.key)
        runs = self.store.runs(ref.key)
        folds = []
        for fold in experiment["folds"]:
            fold_runs = runs[runs["fold"] == fold].sort_values("id")
            finished = fold_runs[fold_runs["status"] == "finished"]
            row = (finished if len(finished) else fold_runs).tail(1)
            if row.empty:
                folds.append({"fold": int(fold), "run_id": None, "status": "none", "epochs_done": 0,
                              "epochs_planned": datasets.planned_epochs(experiment["config"]), "error": None})
                continue
            r = row.iloc[0]
            folds.append({"fold": int(fold), "run_id": int(r["id"]), "status": str(r["status"]),
                          "epochs_done": _plain(r["epochs_done"]) or 0,
                          "epochs_planned": datasets.planned_epochs(r["config"]),
                          "error": None if pd.isna(r["error"]) else str(r["error"])})
        missing = [f for f in folds if f["status"] != "finished"]
        status = "finished" if not missing else (
            "running" if any(f["status"] in ACTIVE_STATUSES for f in missing) else "incomplete")
        rule = rule or ThresholdRule()
        results, problem = None, None
        if len(missing) < len(folds):
            try:
                results = self.evaluate(ref, rule, n_resamples=n_resamples, seed=seed)
            except UserError as exc:  # e.g. the finished folds' test images are of one class
                problem = str(exc)
        return {"experiment": str(ref), "experiment_id": int(ref.key), "name": experiment["name"],
                "data_root": experiment["data_root"], "status": status, "folds": folds, "missing_folds": missing,
                "threshold_rule": rule.to_dict(), "threshold_rule_text": rule.describe(), "results": results,
                "results_problem": problem}

    def compare(self, a: str | Reference, b: str | Reference, rule: ThresholdRule | None = None, *,
                split: str = "test", n_train: float | None = None) -> dict:
        """Two runs, or two experiments, on the images they share: metrics side by side, paired
        tests (DeLong, McNemar; per fold with Nadeau-Bengio and Wilcoxon for experiments) and
        ``images``: the matched images with each side's call at its own threshold."""
        from glaucoma_core.evaluation.comparison import compare_experiments, compare_runs

        rule = rule or ThresholdRule()
        _check_split(split, rule)
        ra, rb = self.resolve(a), self.resolve(b)
        if ra.kind != rb.kind:
            raise UserError(f"compare two runs or two experiments, not {ra} with {rb}")
        pa, pb = self.predictions(ra), self.predictions(rb)
        for ref, rows in ((ra, pa), (rb, pb)):
            if rows.empty:
                raise UserError(f"{self.label(ref)} has no stored predictions yet ({self._states(ref)})")
        try:
            if ra.kind == RUN:
                result = compare_runs(pa, pb, method=rule.method, target=rule.target, split=split)
            else:
                result = compare_experiments(pa, pb, method=rule.method, target=rule.target, split=split,
                                             n_train=n_train)
        except ValueError as exc:
            raise UserError(f"{ra} vs {rb}: {exc}") from None
        return {"kind": ra.kind, "a": self.label(ra), "b": self.label(rb), "a_reference": str(ra),
                "b_reference": str(rb), "threshold_rule": rule.to_dict(), "threshold_rule_text": rule.describe(),
                **result}

    def decision_threshold(self, run_ids: list[int], rule: ThresholdRule | None = None):
        """(ThresholdChoice, note): one threshold for classifying new images with these runs'
        models, chosen on their validation predictions pooled. When that is impossible (no
        validation predictions, one class only) 0.5 is used and ``note`` says why."""
        from glaucoma_core.evaluation.thresholds import ThresholdChoice, threshold_from_predictions
        from glaucoma_core.workbench.threshold_rule import DEFAULT_THRESHOLD

        rule = rule or ThresholdRule()
        predictions = self.store.predictions(run_ids, split="valid")
        try:
            return threshold_from_predictions(predictions, rule.method, rule.target), ""
        except ValueError as exc:
            return ThresholdChoice(DEFAULT_THRESHOLD, "fixed", DEFAULT_THRESHOLD), f"{exc}; using {DEFAULT_THRESHOLD}"

    # ------------------------------------------------------------ models

    def load_model(self, run_id: int):
        """The trained model of a finished run (UserError when missing, corrupt or unsafe)."""
        from glaucoma_core.store import ModelFileProblem

        self.run(run_id)
        try:
            return self.store.load_model(int(run_id))
        except ModelFileProblem as exc:
            raise UserError(f"run {run_id}: {exc}") from None

    def model_inputs(self, model, sources, config=None) -> tuple[np.ndarray, list[str | None]]:
        """The pixels ``model`` sees for each image ``source`` (a file path or the file's bytes),
        prepared as its training images were (``config``: the run's config; its fundus
        preparation and resolution normalisation, see ``preparation.load_prepared_array``): the
        one place where a new image becomes a model input, for predict, Classify and Grad-CAM.
        Returns (batch of the readable ones, uint8 (N, S, S, 3); for each source the reason it
        could not be read, else None)."""
        from glaucoma_core.data.images import ImageProblem
        from glaucoma_core.preparation import load_prepared_array
        from glaucoma_core.training.predict import model_input_size

        size = model_input_size(model)
        arrays, problems = [], []
        for source in sources:
            try:
                arrays.append(load_prepared_array(source, size, config))
                problems.append(None)
            except ImageProblem as exc:
                problems.append(exc.reason)
            except OSError as exc:
                problems.append(exc.strerror or str(exc))
        batch = np.stack(arrays) if arrays else np.zeros((0, size, size, 3), dtype=np.uint8)
        return batch, problems

    def predict(self, run_id: int, images: Iterable[str | os.PathLike], threshold: float = 0.5,
                model=None) -> list[dict]:
        """P(glaucoma) and the call of each image file with a run's model.

        Returns one dict per image: path, probability, prediction (class name), error (why the
        file could not be read, else None). ``model`` skips loading when already at hand.
        """
        from glaucoma_core.labels import CLASS_NAMES
        from glaucoma_core.training.predict import predict_probabilities

        ThresholdRule("fixed", threshold)  # checks the value
        config = self.run(run_id)["config"]
        model = model if model is not None else self.load_model(run_id)
        images = [str(image) for image in images]
        batch, problems = self.model_inputs(model, images, config)
        probabilities = iter(predict_probabilities(model, batch) if len(batch) else [])
        results = []
        for path, problem in zip(images, problems, strict=True):
            entry = {"path": path, "probability": None, "prediction": None, "error": problem}
            if problem is None:
                probability = float(next(probabilities))
                entry["probability"], entry["prediction"] = probability, CLASS_NAMES[int(probability >= threshold)]
            results.append(entry)
        return results

    def classify(self, models: list[tuple[int, object]], sources: list, threshold: float) -> dict:
        """New images through one run's model or an experiment's fold models (mean probability).

        Args:
            models: (run id, loaded model) pairs; their mean probability is the answer and the
                spread across them the doubt.
            sources: each image's file path or bytes (all readable: check uploads first).
            threshold: glaucoma when the mean P(glaucoma) >= threshold (see
                :meth:`decision_threshold`).

        Returns {inputs: the first model's input pixels, probabilities: (models, images) array,
        summary: DataFrame probability, sd, low, high, decision}.
        """
        from glaucoma_core.evaluation.ensemble import decide, summarize_probabilities
        from glaucoma_core.labels import CLASS_NAMES
        from glaucoma_core.training.predict import predict_probabilities

        rows, inputs = [], None
        for run_id, model in models:
            batch, problems = self.model_inputs(model, sources, self.run(run_id)["config"])
            unreadable = [p for p in problems if p]
            if unreadable:
                raise UserError(f"an image could not be read: {unreadable[0]}")
            inputs = batch if inputs is None else inputs
            rows.append(np.asarray(predict_probabilities(model, batch), dtype=np.float64))
        matrix = np.stack(rows)
        summary = summarize_probabilities(matrix)
        summary["decision"] = [CLASS_NAMES[d] for d in decide(summary["probability"], threshold)]
        return {"inputs": inputs, "probabilities": matrix, "summary": summary}

    def gradcam(self, run_id: int, image, *, alpha: float = 0.4, target: str = "glaucoma_logit",
                model=None) -> dict:
        """Grad-CAM of one image with a run's model.

        Args:
            image: a file path or the file's bytes (prepared as the run's training images were,
                see :meth:`model_inputs`), or a uint8 RGB array already prepared (e.g. the
                ``inputs`` of :meth:`classify`).
            alpha: weight of the heat-map colours; target: what the map explains.

        Returns {overlay (uint8 RGB over the input: the whole photograph when the run prepares
        nothing, else the prepared crop the model saw), input, probability, layer, target}.
        """
        from glaucoma_core.evaluation import gradcam
        from glaucoma_core.training.predict import predict_probabilities

        if not 0.0 <= alpha <= 1.0:
            raise UserError(f"alpha must be between 0 and 1, got {alpha}")
        from glaucoma_core.data.images import ImageProblem, load_rgb
        from glaucoma_core.preparation.settings import PreparationSettings

        model = model if model is not None else self.load_model(run_id)
        config = self.run(run_id)["config"]
        if isinstance(image, np.ndarray):
            prepared = np.asarray(image, dtype=np.uint8)
        elif not PreparationSettings.from_config(config).active:
            try:  # nothing crops or changes the pixels: the map is drawn over the whole photograph
                prepared = np.asarray(load_rgb(image), dtype=np.uint8)
            except ImageProblem as exc:
                raise UserError(f"{image}: {exc.reason}") from None
        else:
            batch, problems = self.model_inputs(model, [image], config)
            if problems[0]:
                raise UserError(f"{image}: {problems[0]}")
            prepared = batch[0]
        try:
            overlay = gradcam.gradcam_overlay(model, prepared, alpha=alpha, target=target)
        except ValueError as exc:
            raise UserError(f"run {run_id}: {exc}") from None
        batch = gradcam._as_batch(prepared, gradcam._input_size(model))  # the pixels the map explains
        probability = float(predict_probabilities(model, batch)[0])
        return {"overlay": overlay, "input": prepared, "probability": probability,
                "layer": gradcam.find_last_conv_layer(model), "target": target}

    # ------------------------------------------------------------ words

    def label(self, reference: Reference) -> str:
        """How to name a run or an experiment to the user: 'run 5 (fold 2)', 'experiment 3 (name)'."""
        if reference.kind == RUN:
            run = self.run(reference.key)
            fold = _plain(run["fold"])
            return f"run {reference.key} (fold {'-' if fold is None else fold})"
        experiment = self.store.experiment(reference.key)
        return f"experiment {experiment['id']} ({experiment['name']})"

    def _unfinished(self, ref: Reference) -> list[dict]:
        runs = self.store.runs(ref.key)
        counted = set(self.finished_runs(ref))
        return [{"run_id": int(r.id), "fold": _plain(r.fold), "status": r.status}
                for r in runs.sort_values("id").itertuples() if int(r.id) not in counted]

    def _states(self, ref: Reference) -> str:
        if ref.kind == RUN:
            return self.run(ref.key)["status"]
        states = ", ".join(f"run {u['run_id']} {u['status']}" for u in self._unfinished(ref))
        return states or "no runs"


    # ------------------------------------------------------------ external validation, shortcuts

    def validate_external(self, reference: str | Reference, data: str | os.PathLike,
                          rule: ThresholdRule | None = None, *, n_resamples: int = DEFAULT_RESAMPLES,
                          seed: int = 0, save: bool = True) -> dict:
        """Each fold model and the fold ensemble of ``reference`` on every usable image of the
        dataset ``data`` (identical files once), at the thresholds the experiment chose on its
        own validation images (the ensemble: ``rule`` on its pooled validation predictions);
        internal vs external with the drop and its interval; the two datasets' shift. Stored in
        the run store (replacing one of the same target, dataset fingerprint and rule) unless
        ``save`` is False or the workbench is read-only. See :mod:`glaucoma_core.external`.

        Returns {experiment, label, kind, data, fingerprint, threshold_rule, images, ensemble,
        folds, internal, drop, shift, missed (paths of the glaucoma images the ensemble missed),
        id (stored row), predictions (DataFrame)}.
        """
        from glaucoma_core.external.runner import validate_external

        rule = rule or ThresholdRule()
        _check_resamples(n_resamples)
        return validate_external(self, reference, data, rule, n_resamples=n_resamples, seed=seed,
                                 save=save)

    def metadata_baseline(self, reference: str | Reference) -> dict:
        """The AUC that image size, file size and global colour alone reach on the folds of
        ``reference`` (a logistic regression per fold, pooled test scores), beside the
        experiment's own AUC, flagged when the experiment does not clearly beat it. See
        :func:`glaucoma_core.external.baseline.compare_with_baseline` for the fields."""
        from glaucoma_core.external.runner import baseline_of

        return baseline_of(self, reference)

    # ------------------------------------------------------------ studies (glaucoma_core/studies)

    def create_study(self, definition, name: str | None = None) -> int:
        """Record a study (a ``studies.definition.StudyDefinition``) after checking it against its
        dataset; returns its id (printed ``study:N``). See :func:`studies.runner.create_study`."""
        from glaucoma_core.studies.runner import create_study

        return create_study(self, definition, name)

    def run_study(self, reference, *, executor=None, address: str | None = None,
                  parallel_trials: int | None = None, train_fn: Callable | None = None,
                  echo: Callable[[str], None] | None = print) -> dict:
        """Run (or resume) a study until its budget is spent; returns its report. ``executor``:
        'local' (folds in this process), 'ray' (folds as Ray tasks on ``address``, a local Ray
        instance when None; ``parallel_trials`` trials at once) or None: the one the study was
        last run with. See :class:`studies.runner.StudyRunner`."""
        from glaucoma_core.studies.runner import StudyRunner, StudyStopped

        try:
            StudyRunner(self, reference, executor=executor, address=address, parallel_trials=parallel_trials,
                        train_fn=train_fn, echo=echo).run()
        except StudyStopped as exc:
            if echo:
                echo(str(exc))
        return self.study_report(reference)

    def start_study(self, reference, *, executor: str | None = None, address: str | None = None) -> int:
        """Run (or resume) a study in a detached process (``study resume``, with ``--executor``
        and ``--address`` when given; None: the study's last); returns its pid."""
        from glaucoma_core.studies.runner import load_study
        from glaucoma_core.studies.storage import study_ref
        from glaucoma_core.training import jobs

        _, _, study_id = load_study(self, reference)
        log = self.home / "studies" / str(study_id) / "log.txt"
        options = (["--executor", executor] if executor else []) + (["--address", address] if address else [])
        return jobs.launch(self.store, ["study", "resume", study_ref(study_id), *options], [], log)

    def study_report(self, reference) -> dict:
        """A study's leaderboard, selection and estimate (see :mod:`studies.leaderboard`)."""
        from glaucoma_core.studies.leaderboard import study_report

        return study_report(self, reference)

    def studies(self) -> list[dict]:
        """Every study of this home: reference, name, preset, trials, status (newest last)."""
        from glaucoma_core.studies.listing import list_studies

        return list_studies(self)

    # ------------------------------------------------------------ run management (issue 13, the Runs page)

    def catalog(self, data_root: str | os.PathLike | None = None, *, archived: bool = False) -> dict:
        """The runs and experiments as tables (see :mod:`workbench.catalog`): {runs, experiments},
        only those of the dataset folder ``data_root`` when given, archived ones when asked."""
        from glaucoma_core.workbench import catalog

        runs = self.store.runs()
        return {"runs": catalog.run_table(runs, self.store.annotations("run"), data_root=data_root,
                                          archived=archived),
                "experiments": catalog.experiment_table(self.store.experiments(), runs,
                                                        self.store.annotations("experiment"),
                                                        data_root=data_root, archived=archived)}

    def annotate(self, reference: str | Reference, *, name: str | None = None, tags: Iterable[str] | None = None,
                 notes: str | None = None) -> None:
        """Rename a run or an experiment, set its tags (comma-separated text or a list) or its
        notes; what is None is left as it is. An experiment's name must stay non-empty."""
        ref = self.resolve(reference)
        fields: dict[str, Any] = {}
        if name is not None:
            name = str(name).strip()
            if ref.kind == EXPERIMENT and not name:
                raise UserError("an experiment needs a name")
            if len(name) > 200:
                raise UserError("a name is at most 200 characters")
            fields["name"] = name or None
        if tags is not None:
            fields["tags"] = _tag_list(tags)
        if notes is not None:
            if len(str(notes)) > 20_000:
                raise UserError("notes are at most 20,000 characters")
            fields["notes"] = str(notes)
        self.store.annotate(ref.kind, ref.key, **fields)

    def archive(self, reference: str | Reference, archived: bool = True) -> None:
        """Hide a run or an experiment from the lists (``archived=False`` shows it again);
        nothing is deleted."""
        ref = self.resolve(reference)
        self.store.annotate(ref.kind, ref.key, archived=bool(archived))

    def delete(self, reference: str | Reference) -> dict:
        """Delete a run, or an experiment with all its runs: their rows, epochs, predictions
        and model folders (``runs/<id>/``). Refused while one of them is queued or running.
        Returns {runs: ids deleted, files: folders removed}."""
        import shutil

        ref = self.resolve(reference)
        runs = self.store.runs(ref.key) if ref.kind == EXPERIMENT else pd.DataFrame([self.run(ref.key)])
        active = [int(r) for r in runs.loc[runs["status"].isin(ACTIVE_STATUSES), "id"]] if len(runs) else []
        if active:
            raise UserError(f"{self.label(ref)}: run(s) {', '.join(map(str, active))} still queued or running; "
                            "cancel them first")
        ids = [int(r) for r in runs["id"]] if len(runs) else []
        removed = []
        for run_id in ids:
            folder = self.store.run_dir(run_id)
            if folder.exists():
                try:
                    shutil.rmtree(folder)
                except OSError as exc:
                    raise UserError(f"run {run_id}: its folder {folder} could not be removed ({exc.strerror or exc}); "
                                    "nothing of it was deleted from the store") from None
                removed.append(str(folder))
        self.store.delete_runs(ids, experiment_id=ref.key if ref.kind == EXPERIMENT else None)
        return {"runs": ids, "files": removed}

    def make_folds(self, source: str | os.PathLike, out: str | os.PathLike, *, k: int = 10, seed: int = 0,
                   valid_fraction: float = 0.1, groups_csv: str | os.PathLike | None = None) -> pd.DataFrame:
        """Write k stratified folds of the flat dataset ``source`` into the new folder ``out``
        (what the ``folds`` command does; see :func:`data.folds.make_folds`). Raises UserError."""
        from glaucoma_core.data.folds import make_folds

        return make_folds(source, out, k=k, seed=seed, valid_fraction=valid_fraction, groups_csv=groups_csv,
                          home=self.home)

    def report(self, reference: str | Reference, rule: ThresholdRule | None = None, *,
               n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> str:
        """A self-contained HTML report of an experiment (figures embedded; opens offline):
        dataset and folds, configuration, per-fold table, mean ± sd and intervals, ROC,
        confusion matrix, threshold rule, false-negative gallery and a methods paragraph.
        See :mod:`glaucoma_core.reports.experiment_report`."""
        from glaucoma_core.reports.experiment_report import experiment_report

        return experiment_report(self, reference, rule or ThresholdRule(), n_resamples=n_resamples, seed=seed)


def _tag_list(tags: Iterable[str] | str) -> list[str]:
    """Tags from 'a, b' or ['a', 'b']: trimmed, without empties or repeats, at most 40 of 60 characters."""
    items = str(tags).split(",") if isinstance(tags, str) else [str(t) for t in tags]
    seen: list[str] = []
    for item in (t.strip() for t in items):
        if item and item not in seen:
            if len(item) > 60:
                raise UserError(f"a tag is at most 60 characters: {item[:60]}…")
            seen.append(item)
    if len(seen) > 40:
        raise UserError("at most 40 tags")
    return seen


def _check_split(split: str, rule: ThresholdRule) -> None:
    if split not in ("test", "valid"):
        raise UserError(f"split must be test or valid, not {split!r}")
    if split == "valid" and rule.uses_validation:
        raise UserError("a threshold chosen on validation predictions cannot be evaluated on them; use the test split")


def _check_resamples(n: int) -> None:
    if not isinstance(n, int) or not 1 <= n <= MAX_RESAMPLES:
        raise UserError(f"bootstrap resamples must be a whole number from 1 to {MAX_RESAMPLES}, got {n}")


def _plain(value: Any):
    try:
        return None if value is None or pd.isna(value) else int(value)
    except (TypeError, ValueError):
        return None


__all__ = ["DEFAULT_RESAMPLES", "Workbench", "experiment_ref", "run_ref"]

