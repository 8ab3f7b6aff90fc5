"""Setting: the declaration of one configurable value (type, default, range or choices, help).

One :class:`Setting` says everything the workbench needs to know about a value a user may set:
how to turn JSON or a ``--set key=value`` string into it (:meth:`Setting.coerce`), whether a
value is acceptable (:meth:`Setting.problem`), and how to describe it in a listing or a form
(:meth:`Setting.describe`). The training configuration declares its fields with it
(:mod:`glaucoma_core.config`) and every backbone declares its options with it
(:mod:`glaucoma_core.networks.backbone_spec`). This module imports nothing of the workbench.

Kinds (``kind``):

- ``"bool"``: true or false ("true"/"yes"/"on"/1 and "false"/"no"/"off"/0 are read as such);
- ``"int"``: a whole number in ``[low, high]`` (an integral float such as ``3.0`` is read as 3);
- ``"float"``: a finite number in the range ``low``..``high`` (each end open or closed);
- ``"str"``: non-empty text (kept as given, stripped);
- ``"choice"``: one of ``choices`` (text, lower-cased; ``aliases`` map other values onto one);
- ``"mapping"``: a JSON object (``None`` reads as ``{}``);
- ``"int_list"``: a non-empty list of whole numbers, each in ``[low, high]``;
- ``"any"``: anything ``convert`` and ``check`` accept.

Every number is checked for type, finiteness and range, so NaN, infinities and absurd values
(a seed of 2**70, 10**9 epochs) are refused with the setting's name before anything uses them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["KINDS", "SETTING_KEY", "Setting", "parse_text", "setting_field", "settings_of"]

KINDS = ("bool", "int", "float", "str", "choice", "mapping", "int_list", "any")

_TRUE = ("true", "yes", "on")
_FALSE = ("false", "no", "off")
_NONE = ("none", "null")


def parse_text(value: Any) -> Any:
    """Read a ``--set`` string the way a user means it; other values are returned unchanged.

    'true'/'yes'/'on' -> True, 'false'/'no'/'off' -> False, 'none'/'null' -> None, JSON
    (numbers, lists, objects) -> its value, a number Python reads ('1e-3', 'nan', 'inf') -> a
    float, anything else -> the stripped text. Never raises: JSON too deep or a number with
    too many digits stays text (the setting's check then names the problem).
    """
    if not isinstance(value, str):
        return value
    text = value.strip()
    low = text.lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    if low in _NONE:
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # JSONDecodeError, too many digits, too deep
        pass
    try:
        return float(text)
    except ValueError:
        return text


def is_number(value: Any) -> bool:
    """True for an int or a float (not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_whole(value: Any) -> bool:
    """True for an int (not a bool)."""
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class Setting:
    """The declaration of one setting.

    Attributes:
        name: the setting's name (a config field or a backbone option).
        kind: one of :data:`KINDS` (see the module docstring).
        default: its default value.
        group: the section it belongs to in listings and forms (e.g. ``"Optimiser"``).
        help: one or two sentences a user can act on.
        low, high: the range of a number (or of each entry of an ``int_list``); None = unbounded
            on that side. Every ``int`` and ``float`` setting should have both.
        low_open, high_open: True when that end is excluded (``(0, 1)`` rather than ``[0, 1]``).
        choices: the allowed values of a ``choice``: a sequence, or a function returning one
            (asked when needed, e.g. the registered backbones).
        aliases: other values read as one of the choices, e.g. ``{True: "on", False: "off"}``.
        nullable: None is allowed (and means what ``help`` says, e.g. "the backbone's default").
        max_items: the longest ``int_list`` allowed.
        convert: for ``any``: turns a JSON/CLI value (after :func:`parse_text`) into the setting's
            value (may return it unchanged; never raises for a bad value).
        check: extra rule: ``check(value) -> None`` when fine, else the problem in words.
        fmt: printf-style format for forms (``"%.2e"`` for learning rates).
    """

    name: str = ""
    kind: str = "any"
    default: Any = None
    group: str = ""
    help: str = ""
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: Sequence[Any] | Callable[[], Sequence[Any]] | None = None
    aliases: dict = field(default_factory=dict)
    nullable: bool = False
    max_items: int = 16
    convert: Callable[[Any], Any] | None = None
    check: Callable[[Any], str | None] | None = None
    fmt: str | None = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"setting {self.name!r}: unknown kind {self.kind!r} (kinds: {', '.join(KINDS)})")
        if self.kind == "choice" and self.choices is None:
            raise ValueError(f"setting {self.name!r}: a choice needs choices")

    # ---- what it accepts -----------------------------------------------------------------

    def allowed_choices(self) -> tuple:
        """The choices of a ``choice`` setting, as a tuple (empty for other kinds)."""
        choices = self.choices() if callable(self.choices) else self.choices
        return tuple(choices or ())

    def range_text(self) -> str:
        """The range in words: ``"(0, 10]"``, ``"1..100000"`` (whole numbers), ``""`` when unbounded."""
        if self.low is None and self.high is None:
            return ""
        if self.kind in ("int", "int_list") and not (self.low_open or self.high_open):
            low = "" if self.low is None else _number_text(self.low)
            high = "" if self.high is None else _number_text(self.high)
            return f"{low}..{high}"
        low = "-inf" if self.low is None else _number_text(self.low)
        high = "inf" if self.high is None else _number_text(self.high)
        return f"{'(' if self.low_open or self.low is None else '['}{low}, {high}{')' if self.high_open or self.high is None else ']'}"

    def in_range(self, value: float) -> bool:
        """True when the number ``value`` lies in this setting's range."""
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return not (self.high is not None and (value >= self.high if self.high_open else value > self.high))

    # ---- JSON / CLI value -> setting value -------------------------------------------------

    def coerce(self, value: Any) -> Any:
        """Turn a JSON or ``--set`` value into this setting's type when it can be read as one.

        A value that cannot be read is returned as it is: :meth:`problem` names what is wrong
        with it, so every problem is reported the same way, with the setting's name.
        """
        kind = self.kind
        if self.nullable and isinstance(value, str) and not value.strip():
            return None  # an emptied form field or `--set input_size=`: the documented "unset"
        if kind in ("str", "choice"):
            return self._coerce_text(value)
        parsed = parse_text(value)
        if parsed is None and self.nullable:
            return None
        if kind == "bool":
            if isinstance(parsed, bool):
                return parsed
            if is_number(parsed) and parsed in (0, 1):
                return bool(parsed)
            return parsed
        if kind == "int":
            return _whole_or_same(parsed)
        if kind == "float":
            if is_number(parsed):
                try:
                    return float(parsed)
                except OverflowError:  # an int too large for a float: the range check names it
                    return parsed
            return parsed
        if kind == "mapping":
            if parsed is None:
                return {}
            return dict(parsed) if isinstance(parsed, dict) else parsed
        if kind == "int_list":
            if isinstance(parsed, tuple):
                parsed = list(parsed)
            return [_whole_or_same(v) for v in parsed] if isinstance(parsed, list) else parsed
        return self.convert(parsed) if self.convert else parsed

    def _coerce_text(self, value: Any) -> Any:
        if value is None:
            value = "none"
        if self.kind == "choice" and not isinstance(value, str):
            return self.aliases.get(value, value) if _hashable(value) else value
        if not isinstance(value, str):
            return value
        text = value.strip()
        if self.kind == "str":
            return text
        low = text.lower()
        if low in self.allowed_choices() or not self.aliases:
            return low
        parsed = parse_text(low)
        return self.aliases.get(parsed, low) if _hashable(parsed) else low

    # ---- is the value acceptable? -----------------------------------------------------------

    def problem(self, value: Any) -> str | None:
        """Why ``value`` cannot be used for this setting, in words; None when it can."""
        if value is None and self.nullable:
            return None
        kind = self.kind
        if kind == "bool":
            if not isinstance(value, bool):
                return f"must be true or false, got {_short(value)}"
        elif kind == "int":
            if not is_whole(value):
                return f"must be a whole number{self._range_suffix()}, got {_short(value)}"
            if not self.in_range(value):
                return f"must be a whole number{self._range_suffix()}, got {_short(value)}"
        elif kind == "float":
            if not is_number(value):
                return f"must be a number{self._range_suffix()}, got {_short(value)}"
            if isinstance(value, float) and not math.isfinite(value):
                return f"must be a finite number{self._range_suffix()}, got {value!r}"
            if not self.in_range(value):
                return f"must be a number{self._range_suffix()}, got {_short(value)}"
        elif kind == "str":
            if not isinstance(value, str) or not value.strip():
                return f"must be text, got {_short(value)}"
        elif kind == "choice":
            choices = self.allowed_choices()
            if not _hashable(value) or value not in choices:
                return f"{_short(value)} is not one of {', '.join(map(str, choices))}"
        elif kind == "mapping":
            if not isinstance(value, dict):
                return f"must be a mapping of name -> value, got {_short(value)}"
        elif kind == "int_list":
            problem = self._list_problem(value)
            if problem:
                return problem
        return self.check(value) if self.check else None

    def _list_problem(self, value: Any) -> str | None:
        what = f"a list of 1 to {self.max_items} whole numbers{self._range_suffix(each=True)}"
        if not isinstance(value, (list, tuple)) or not 1 <= len(value) <= self.max_items:
            return f"must be {what}, got {_short(value)}"
        if not all(is_whole(v) and self.in_range(v) for v in value):
            return f"must be {what}, got {_short(value)}"
        return None

    def _range_suffix(self, *, each: bool = False) -> str:
        text = self.range_text()
        if not text:
            return ""
        return f"{' each' if each else ''} in {text}"

    # ---- listing ------------------------------------------------------------------------------

    def describe(self) -> dict:
        """This setting as plain JSON-able data: name, type, default, group, help, range, choices."""
        out: dict[str, Any] = {
            "name": self.name,
            "type": self.kind,
            "default": _plain(self.default),
            "group": self.group,
            "help": self.help,
            "nullable": self.nullable,
        }
        if self.low is not None or self.high is not None:
            out["range"] = {"low": self.low, "high": self.high, "low_open": self.low_open,
                            "high_open": self.high_open, "text": self.range_text()}
        if self.kind == "choice":
            out["choices"] = list(self.allowed_choices())
        return out


def _whole_or_same(value: Any) -> Any:
    if is_whole(value):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _number_text(value: float) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if is_whole(value) and value >= 2**20 and (value & (value - 1)) == 0:
        return f"2**{value.bit_length() - 1}"
    if is_whole(value) and value + 1 >= 2**20 and ((value + 1) & value) == 0:
        return f"2**{(value + 1).bit_length() - 1} - 1"
    return repr(value) if isinstance(value, float) else str(value)


def _short(value: Any, limit: int = 60) -> str:
    """repr of ``value``, shortened (an int of 5000 digits must not fill the screen)."""
    if is_whole(value) and abs(value) >= 10**18:
        return f"about 2**{abs(value).bit_length() - 1}" if value > 0 else f"about -2**{abs(value).bit_length() - 1}"
    try:
        text = repr(value)
    except ValueError:  # holds an int too long to print
        return f"a {type(value).__name__} holding a number of thousands of digits"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _plain(value: Any) -> Any:
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError):
        return str(value)


# ---- settings as dataclass fields ----------------------------------------------------------

SETTING_KEY = "setting"
"""Key of a dataclass field's ``metadata`` holding its :class:`Setting`."""


def setting_field(default: Any, kind: str | None = None, **declaration: Any) -> Any:
    """A dataclass field declared as a setting: ``epochs: int = setting_field(20, low=1, ...)``.

    Args:
        default: the field's default (a dict or list default is copied for each instance).
        kind: one of :data:`KINDS`; by default from the default's type (bool, int, float,
            str -> "str" or "choice" when ``choices`` are given, dict -> "mapping",
            list -> "int_list").
        declaration: the other :class:`Setting` attributes (group, help, low, high, choices...).

    The field's name is filled in by :func:`settings_of`.
    """
    from dataclasses import field as dataclass_field

    kind = kind or _kind_of(default, declaration)
    declared = Setting("", kind, default, **declaration)
    metadata = {SETTING_KEY: declared}
    if isinstance(default, (dict, list)):
        return dataclass_field(default_factory=lambda: json.loads(json.dumps(default)), metadata=metadata)
    return dataclass_field(default=default, metadata=metadata)


def settings_of(cls: type) -> tuple[Setting, ...]:
    """The :class:`Setting` of every field of dataclass ``cls``, named, in field order.

    Raises TypeError when a field was not declared with :func:`setting_field` (every field is
    declared once, with its type, range, group and help), lacks a group or help, or has a
    default that breaks its own declaration.
    """
    import dataclasses

    out = []
    for f in dataclasses.fields(cls):
        declared = f.metadata.get(SETTING_KEY)
        if not isinstance(declared, Setting):
            raise TypeError(f"{cls.__name__}.{f.name} is not declared with setting_field(...)")
        named = dataclasses.replace(declared, name=f.name)
        if not named.group or not named.help:
            raise TypeError(f"{cls.__name__}.{f.name}: declare its group and help")
        problem = named.problem(named.default)
        if problem:
            raise TypeError(f"{cls.__name__}.{f.name}: the default {problem}")
        out.append(named)
    return tuple(out)


def _kind_of(default: Any, declaration: dict) -> str:
    if isinstance(default, bool):
        return "bool"
    if isinstance(default, int):
        return "int"
    if isinstance(default, float):
        return "float"
    if isinstance(default, str):
        return "choice" if declaration.get("choices") is not None else "str"
    if isinstance(default, dict):
        return "mapping"
    if isinstance(default, list):
        return "int_list"
    raise TypeError(f"give the kind of a setting whose default is {default!r}")
