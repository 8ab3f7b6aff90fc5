"""Checking the ids given to the run store: whole numbers SQLite can hold, or a clear error.

SQLite integers are signed 64-bit; binding a larger Python int raises ``OverflowError``. An id
the user typed (``--run 1180591620717411303424``, ``-3``, ``abc``) must instead end in "no run
N" (a number that cannot be an id of any run) or "not a valid run id" (not a number at all).
"""

from __future__ import annotations

import math
from typing import Any

from glaucoma_core.errors import UserError

SQLITE_MAX_INT = 2**63 - 1


class InvalidId(UserError, ValueError):
    """An id that is not a whole number ('abc', 1.5, True); the message says which and what."""


def as_id(value: Any, what: str = "run") -> int:
    """``value`` as an int (an int, a numpy integer, an integral float or a digit string).

    Raises InvalidId when it is not a whole number. The result may be out of SQLite's range or
    negative: use :func:`storable` to know whether a row can have it.
    """
    if isinstance(value, bool) or value is None:
        raise InvalidId(f"{value!r} is not a valid {what} id (a whole number like 3)")
    if isinstance(value, int):
        return value
    if hasattr(value, "__index__"):
        return int(value.__index__())
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer():
            return int(value)
        raise InvalidId(f"{value!r} is not a valid {what} id (a whole number like 3)")
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("+-").isdigit() and text.isascii():
            return int(text)
    raise InvalidId(f"{value!r} is not a valid {what} id (a whole number like 3)")


def storable(number: int) -> bool:
    """True when a row of the store can have this id (1 .. 2**63 - 1)."""
    return 1 <= number <= SQLITE_MAX_INT
