"""What a value YAML read is, in a catalog author's words. PyYAML's safe loader builds Python's types, and a message
naming them ("a NoneType", "a bytes", "a datetime") or giving a decimal number as "the number 1000.0" where a whole
one is wanted said neither what was written nor why it was refused. Every kind the safe loader makes is named here:
no value, true/false, whole and decimal numbers (infinity and not-a-number too), text, a date, a date and time,
binary data (``!!binary``), a set (``!!set``), a list (``!!omap`` and ``!!pairs`` make one of pairs) and a mapping."""

from __future__ import annotations

import datetime
import math
from typing import Any

from .redaction import excerpt

__all__ = ["yaml_kind", "yaml_kind_word"]


def yaml_kind_word(value: Any) -> str:
    """The kind of ``value`` alone, with an article: "a whole number", "a date", "binary data"."""
    if value is None:
        return "no value"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int):
        return "a whole number"
    if isinstance(value, float):
        return "a decimal number" if math.isfinite(value) else "a number that is not finite"
    if isinstance(value, str):
        return "a text"
    if isinstance(value, (bytes, bytearray)):
        return "binary data"
    if isinstance(value, datetime.datetime):  # (a datetime is a date too: asked first)
        return "a date and time"
    if isinstance(value, datetime.date):
        return "a date"
    if isinstance(value, (set, frozenset)):
        return "a set"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return "a value of no kind YAML writes"  # (the safe loader makes none other)


def yaml_kind(value: Any) -> str:
    """What ``value`` is, with the value where it is short: "the decimal number 1000.0", "the date 2025-01-01"."""
    if value is None:
        return "no value (YAML reads a value left empty, ~ and null as none)"
    if isinstance(value, bool):  # (YAML 1.1 reads yes, no, on and off so too)
        return f"the value {'true' if value else 'false'}"
    if isinstance(value, int):
        return f"the whole number {value}"
    if isinstance(value, float):
        if math.isnan(value):
            return "not-a-number (.nan)"
        if math.isinf(value):
            return f"{'minus ' if value < 0 else ''}infinity ({'-' if value < 0 else ''}.inf)"
        return f"the decimal number {value!r}"
    if isinstance(value, str):
        # redacted before the cut (a known key straddling it kept up to 11 characters, too few to be known)
        return f"the text {excerpt(value, 40)!r}" + ("..." if len(value) > 40 else "")
    if isinstance(value, (bytes, bytearray)):
        return f"binary data of {len(value)} bytes, tagged !!binary"
    if isinstance(value, datetime.datetime):
        return f"the date and time {value.isoformat(sep=' ')}"
    if isinstance(value, datetime.date):
        return f"the date {value.isoformat()}"
    if isinstance(value, (set, frozenset)):
        return f"a set of {len(value)} value{'' if len(value) == 1 else 's'}, tagged !!set"
    if isinstance(value, (list, tuple)):
        pairs = bool(value) and all(isinstance(item, tuple) for item in value)
        return "a list of pairs, tagged !!omap or !!pairs" if pairs else "a list"
    return yaml_kind_word(value)
