"""Configuration fields that say what they allow: one declaration, one validator, one error.

A field of a configuration dataclass (:class:`gmgan_lib.models.GMGANConfig`,
:class:`gmgan_lib.training.TrainConfig`, ...) is declared with :func:`option`: its default, a
help string (the documentation of its command-line flag) and the values it allows (an
:class:`Allowed`). :func:`check` reads those declarations and refuses a bad value with one
format, which names the field, what is allowed and the value::

    kernel_size must be 3 odd integers in [1, 15] (kOr, kH, kW), got [4, 5, 5]

The command line reads the same declarations (:mod:`gmgan_lib.training.cli`), so a flag's type,
choices and help cannot drift from what the configuration accepts. Rules that tie two fields
together (the number of widths an architecture has) stay with their configuration, in the same
error format (:func:`refuse`).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

_KINDS = (bool, int, float, str)
#: ``Allowed(length=ANY)``: a list of one value or more (an int ``length``: exactly that many).
ANY = 0


@dataclass(frozen=True)
class Allowed:
    """The values a field accepts.

    ``kind``: ``bool``, ``int``, ``float`` (an int is accepted too; never NaN or infinity) or
    ``str``; ``choices`` for a string; ``low``/``high`` the closed bounds of a number
    (``low_open``, ``high_open``: that bound itself excluded); ``odd``, ``even`` or
    ``multiple_of`` for an int; ``length``: a list of that many values (``0``: a list of at
    least one); ``optional``: None is allowed too; ``note`` is printed after the description
    (what the entries mean)."""

    kind: type
    choices: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    odd: bool = False
    even: bool = False
    multiple_of: int = 1
    length: int | None = None
    optional: bool = False
    note: str = ""

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise TypeError(f"kind must be one of {_KINDS}, got {self.kind!r}")

    # -- what it accepts --------------------------------------------------------------------
    def admits(self, value: Any) -> bool:
        if value is None:
            return self.optional
        if self.length is None:
            return self._admits_one(value)
        return (isinstance(value, (list, tuple)) and len(value) >= 1
                and (self.length == ANY or len(value) == self.length)
                and all(self._admits_one(v) for v in value))

    def _admits_one(self, value: Any) -> bool:
        if self.kind is bool:
            return isinstance(value, bool)
        if self.kind is str:
            return isinstance(value, str) and (not self.choices or value in self.choices)
        numeric = (int,) if self.kind is int else (int, float)
        if isinstance(value, bool) or not isinstance(value, numeric):
            return False
        if isinstance(value, float) and not math.isfinite(value):   # NaN passes no bound test
            return False
        if (self.odd and value % 2 != 1 or self.even and value % 2 != 0
                or self.multiple_of > 1 and value % self.multiple_of != 0):
            return False
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or (value < self.high if self.high_open else value <= self.high)

    # -- how it is said -----------------------------------------------------------------------
    def describe(self, value: Any = None) -> str:
        """What is allowed, in words (the middle of the error message); ``value`` is the
        refused one (see :meth:`_numbers`)."""
        if self.kind is bool:
            words = "True or False"
        elif self.kind is str:
            words = f"one of {', '.join(self.choices)}" if self.choices else "a string"
        else:
            words = self._numbers(value)
        if self.optional:
            words += " or None"
        return f"{words} {self.note}" if self.note else words

    def _numbers(self, value: Any) -> str:
        """"a positive integer", "3 odd integers in [1, 15]", "in [0.55, 1.0]", ... A count's
        upper bound is named only to a ``value`` above it: "a positive integer" says more to
        whoever typed 0 than "an integer in [1, 1,000,000,000]"."""
        many = self.length is not None
        count = "a list of " if self.length == ANY else f"{self.length} " if many else ""
        if (self.kind is int and self.low == 1 and not self.low_open and not self.odd
                and not self.even and self.multiple_of == 1):
            if (not many and isinstance(value, int) and not isinstance(value, bool)
                    and self.high is not None and value > self.high):
                return f"at most {_number(self.high)}"
            if not many:
                return "a positive integer"
            return count + "positive integers" + (
                "" if self.high is None else f" (at most {_number(self.high)})")
        if self.kind is float and not many and self.low is not None and self.high is not None:
            return self._range().strip()             # "in [0.55, 1.0]": a range is a number
        noun = "finite number" if self.kind is float else "integer"
        if self.multiple_of > 1:
            noun = f"multiple of {self.multiple_of}"
        noun = ("odd " if self.odd else "even " if self.even else "") + noun
        if many:
            return count + noun + "s" + self._range()
        return ("an " if noun[0] in "aeiou" else "a ") + noun + self._range()

    def _range(self) -> str:
        if self.low is None and self.high is None:
            return ""
        if self.high is None:
            return f" {'>' if self.low_open else '>='} {_number(self.low)}"
        if self.low is None:
            return f" <= {_number(self.high)}"
        left = "(" if self.low_open else "["
        right = ")" if self.high_open else "]"
        return f" in {left}{_number(self.low)}, {_number(self.high)}{right}"


def _number(x: float) -> str:
    return f"{x:,}" if isinstance(x, int) and x >= 10**4 else str(x)


def option(default: Any, help: str, allowed: Allowed | None = None, **metadata: Any) -> Any:
    """A dataclass field with its help string and what it allows (``allowed``; by default the
    kind of ``default``, any value of it). ``metadata``: more that a configuration or the
    command line reads of the field (``cli=False``: no flag sets it)."""
    if allowed is None:
        allowed = Allowed(type(default))
    return dataclasses.field(default=default,
                             metadata={"help": help, "allowed": allowed, **metadata})


def declared(config_type: type) -> list[dataclasses.Field]:
    """The fields of ``config_type`` declared with :func:`option`, in order."""
    return [f for f in dataclasses.fields(config_type) if "allowed" in f.metadata]


def defaults(config_type: type) -> dict[str, Any]:
    """The declared default of every field of ``config_type``."""
    return {f.name: f.default for f in declared(config_type)}


def refuse(name: str, what: str, value: Any) -> ValueError:
    """The one error format: ``NAME must be WHAT, got VALUE`` (``; got`` after a list of
    choices, which has commas of its own)."""
    glue = ";" if what.startswith("one of ") else ","
    return ValueError(f"{name} must be {what}{glue} got {_shown(value)}")


def _shown(value: Any, most: int = 80) -> str:
    """``repr(value)`` (a tuple as the list JSON would give), cut to ``most`` characters."""
    try:
        text = repr(list(value) if isinstance(value, tuple) else value)
    except ValueError:             # an int of more digits than Python will print
        return "an integer of thousands of digits"
    return text if len(text) <= most else text[:most - 3] + "..."


def normalise(config: Any) -> None:
    """Lists become tuples in the list-valued fields of a frozen dataclass (a JSON round trip
    turns tuples into lists); called by ``__post_init__`` before :func:`check`."""
    for f in declared(type(config)):
        value = getattr(config, f.name)
        if f.metadata["allowed"].length is not None and isinstance(value, list):
            object.__setattr__(config, f.name, tuple(value))


def check(config: Any) -> None:
    """Refuse the first field of ``config`` whose value its declaration does not allow, with
    :func:`refuse`'s message."""
    for f in declared(type(config)):
        rule: Allowed = f.metadata["allowed"]
        value = getattr(config, f.name)
        if not rule.admits(value):
            raise refuse(f.name, rule.describe(value), value)


def unknown_fields(config_type: type, given: Any, what: str) -> None:
    """Refuse keys of the dict ``given`` that are not fields of ``config_type`` (``what`` names
    it), before they are passed on as keyword arguments."""
    if not isinstance(given, dict):
        raise ValueError(f"a {what} must be a dict of fields, got {type(given).__name__}")
    names = [f.name for f in dataclasses.fields(config_type)]
    unknown = sorted((k for k in given if k not in names), key=repr)
    if unknown:
        raise ValueError(f"unknown {what} field(s) {unknown}; valid fields: {names}")
