"""Where studies live: Optuna's RDB storage as one SQLite file in the workbench home.

``<home>/studies.sqlite`` holds every study's definition (user attributes), its trials, their
parameters, the validation score of each fold (intermediate values) and the link to the
cross-validation experiment in the run store that trained the trial (user attribute
``experiment_id``; the experiment is named ``study-<id>-trial-<n>``). The run store itself
is not changed: a study is a set of ordinary experiments that every page already shows.

References: ``study:3`` (or ``3``, or the study's name) names a study in every study command.
"""

from __future__ import annotations

import logging
from pathlib import Path

from glaucoma_core.errors import UserError

FILE_NAME = "studies.sqlite"
PREFIX = "study"


def storage_path(home) -> Path:
    return Path(home) / FILE_NAME


def open_storage(home):
    """The Optuna storage of ``home`` (created on first use)."""
    import optuna

    optuna.logging.set_verbosity(logging.WARNING)
    path = storage_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return optuna.storages.RDBStorage(f"sqlite:///{path}", engine_kwargs={"connect_args": {"timeout": 60}})
    except Exception as exc:  # a damaged or foreign file: name it instead of a traceback
        raise UserError(f"{path}: cannot open the studies database ({type(exc).__name__}: {exc})") from None


def study_ref(study_id: int) -> str:
    return f"{PREFIX}:{int(study_id)}"


def resolve_study(storage, reference) -> tuple[int, str]:
    """(study id, name) of ``study:3``, ``3`` or a study's name; UserError when there is none."""
    text = str(reference).strip()
    if not text:
        raise UserError("give a study (study:N or its name)")
    prefix, sep, rest = text.partition(":")
    key = rest.strip() if sep and prefix.strip().lower() == PREFIX else text
    studies = {s._study_id: s.study_name for s in storage.get_all_studies()}
    if key.isdigit() and int(key) in studies:
        return int(key), studies[int(key)]
    for study_id, name in studies.items():
        if name == key:
            return study_id, name
    known = ", ".join(study_ref(i) for i in sorted(studies)) or "none yet"
    raise UserError(f"no study {text!r} in this home (studies: {known})")


def started_trials(study) -> int:
    """Trials of the Optuna ``study`` that have started (enqueued grid points waiting their
    turn are not counted)."""
    import optuna

    return sum(t.state != optuna.trial.TrialState.WAITING for t in study.get_trials(deepcopy=False))
