"""What an export of ``run:N`` or ``exp:N`` is made of: the reference, the experiment, the runs.

The runs of an experiment are those the workbench's own results use (the newest finished run of
each fold, :meth:`glaucoma_core.workbench.Workbench.finished_runs`), so an export shows the
same figures as ``evaluate`` and the app.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from glaucoma_core.errors import UserError


@dataclass
class ExportSource:
    """A resolved export target.

    Attributes:
        reference: ``run:N`` or ``exp:N`` as the commands print it.
        kind: ``"run"`` or ``"experiment"``.
        experiment: the experiment's row (None for a run outside any experiment).
        run_ids: the finished runs whose results and models are exported, by fold.
        all_run_ids: every run of the target (finished or not), for the exports of curves.
    """

    reference: str
    kind: str
    experiment: dict | None
    run_ids: list[int]
    all_run_ids: list[int] = field(default_factory=list)


def workbench_of(store):
    """The :class:`~glaucoma_core.workbench.Workbench` over ``store``'s home, sharing ``store``."""
    from glaucoma_core.workbench import Workbench

    workbench = Workbench(store.home)
    workbench._store = store  # one connection per thread, not two
    return workbench


def resolve_source(store, target: str, *, need_finished: bool = True) -> ExportSource:
    """Resolve ``target`` (``run:5``, ``5``, ``exp:3`` or an experiment's name) in ``store``.

    Raises UserError when nothing of that reference exists, or (with ``need_finished``) when it
    has no finished run.
    """
    from glaucoma_core.workbench.references import EXPERIMENT

    workbench = workbench_of(store)
    ref = workbench.resolve(target)
    if ref.kind == EXPERIMENT:
        experiment = store.experiment(int(ref.key))
        all_runs = sorted(int(r) for r in store.runs(int(ref.key))["id"])
    else:
        run = store.run(int(ref.key))
        experiment = store.experiment(int(run["experiment_id"])) if run.get("experiment_id") else None
        all_runs = [int(ref.key)]
    finished = workbench.finished_runs(ref)
    if ref.kind != EXPERIMENT:
        finished = [r for r in finished if store.run(r)["status"] == "finished"]
    if need_finished and not finished:
        states = ", ".join(f"run {int(r.id)} {r.status}" for r in store.runs().itertuples() if int(r.id) in all_runs)
        raise UserError(f"{ref} has no finished run yet ({states or 'no runs'})")
    return ExportSource(reference=str(ref), kind=ref.kind, experiment=experiment, run_ids=list(finished),
                        all_run_ids=all_runs)
