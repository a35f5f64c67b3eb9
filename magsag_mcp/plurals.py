"""A count in a message with its noun in agreement: "1 attempt", "2 attempts", never "1 attempts" or "1 call(s)".

The messages a person reads (the gate's lines, ``magsag budget``, ``catalog validate``, a refused call's error) print
counts that are often 1: the one call of an unknown cost, the one problem of a catalog being fixed.
"""

from __future__ import annotations


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` and ``noun``, its ``plural`` (default: ``noun`` + "s") unless ``n`` is 1."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def has(n: int) -> str:
    """The verb "to have" that agrees with a count of ``n``."""
    return "has" if n == 1 else "have"
