"""How the commands print numbers and JSON (one set of rules for every command)."""

from __future__ import annotations

import math


def num(value, digits: int = 3) -> str:
    """A number for a table: integers as they are, other numbers with ``digits`` decimals,
    'n/a' for a missing or undefined value."""
    if value is None:
        return "n/a"
    if isinstance(value, (bool, str)):
        return str(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(number):
        return "n/a"
    if isinstance(value, int) or (hasattr(value, "dtype") and getattr(value.dtype, "kind", "") in "iu"):
        return str(int(value))
    return f"{number:.{digits}f}"


def p_value(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return "<0.0001" if value < 1e-4 else f"{value:.4f}"


def cell(value) -> str:
    """A whole number or '-' (None, NaN, pandas NA)."""
    try:
        return "-" if value is None or value != value else str(int(value))
    except TypeError:  # pandas NA
        return "-"


def text(value) -> str:
    """A string or '' for None/NaN/NA (never the word 'nan')."""
    try:
        import pandas as pd

        if value is None or pd.isna(value):
            return ""
    except (TypeError, ValueError):
        pass
    return str(value)


def jsonable(value):
    """JSON-ready copy: DataFrames -> list of records, NaN/inf -> None, numpy scalars -> Python."""
    import numpy as np
    import pandas as pd

    if isinstance(value, pd.DataFrame):
        return [jsonable(r) for r in value.to_dict(orient="records")]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)
