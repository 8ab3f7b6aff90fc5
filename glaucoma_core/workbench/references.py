"""References to what the store holds: ``run:5``, ``exp:3`` (or an experiment's name).

Every command that prints a run or an experiment prints its reference, and every command that
takes one accepts it as printed, so the output of one command can be fed to the next.

The rule for text without a prefix: a bare number is a **run** (``5`` = ``run:5``), as the
commands have always read it; any other text is an experiment's name. Experiments are printed
with their prefix (``exp:3``), so a bare number is never needed for one.
"""

from __future__ import annotations

from dataclasses import dataclass

from glaucoma_core.errors import UserError

RUN, EXPERIMENT = "run", "experiment"
_PREFIXES = {"run": RUN, "r": RUN, "exp": EXPERIMENT, "experiment": EXPERIMENT, "e": EXPERIMENT}
MAX_ID = 2**63 - 1  # SQLite's largest integer: a larger id cannot name anything in the store


@dataclass(frozen=True)
class Reference:
    """A run or an experiment of the store.

    Attributes:
        kind: ``"run"`` or ``"experiment"``.
        key: the id (int), or for an experiment its name (str) until resolved.
    """

    kind: str
    key: int | str

    def __str__(self) -> str:
        prefix = "run" if self.kind == RUN else "exp"
        return f"{prefix}:{self.key}"

    @property
    def is_run(self) -> bool:
        return self.kind == RUN


def run_ref(run_id: int) -> str:
    """The printed reference of a run: ``run:5``."""
    return str(Reference(RUN, int(run_id)))


def experiment_ref(experiment_id: int) -> str:
    """The printed reference of an experiment: ``exp:3``."""
    return str(Reference(EXPERIMENT, int(experiment_id)))


def parse_reference(text: str | int) -> Reference:
    """``'5'``/``'run:5'`` -> run 5; ``'exp:3'``/``'experiment:3'`` -> experiment 3; other text ->
    the experiment of that name. Raises UserError for an empty text, a prefix without a valid
    number or name, or an id that cannot exist (negative, beyond SQLite's range)."""
    raw = str(text).strip()
    if not raw:
        raise UserError("empty reference: give a run (run:5 or 5) or an experiment (exp:3 or its name)")
    prefix, sep, rest = raw.partition(":")
    kind = _PREFIXES.get(prefix.strip().lower()) if sep else None
    if kind == RUN:
        return Reference(RUN, _id(rest, raw, "a run is given by its number, e.g. run:5"))
    if kind == EXPERIMENT:
        rest = rest.strip()
        if not rest:
            raise UserError(f"{raw!r}: give the experiment's number or name, e.g. exp:3")
        return Reference(EXPERIMENT, _id(rest, raw, "") if rest.isdigit() else rest)
    if raw.lstrip("+-").isdigit():
        return Reference(RUN, _id(raw, raw, "a run is given by its number, e.g. run:5"))
    return Reference(EXPERIMENT, raw)


def _id(text: str, raw: str, hint: str) -> int:
    text = text.strip()
    if not text.isdigit():
        raise UserError(f"{raw!r}: {hint or 'not a number'}")
    value = int(text)
    if value < 1 or value > MAX_ID:
        raise UserError(f"{raw!r}: no such id (ids are whole numbers from 1 to {MAX_ID})")
    return value
