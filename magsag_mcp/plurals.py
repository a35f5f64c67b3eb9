"""A count in a message with its noun in agreement: "1 attempt", "2 attempts", never "1 attempts" or "1 call(s)".

The messages a person reads (the gate's lines, ``magsag budget``, ``catalog validate``, a refused call's error) print
counts that are often 1: the one call of an unknown cost, the one problem of a catalog being fixed.
"""

from __future__ import annotations

from collections.abc import Sequence


def agreeing(n: int, noun: str, plural: str | None = None) -> str:
    """``noun`` as a count of ``n`` of it says it: its ``plural`` (default: ``noun`` + "s") unless ``n`` is 1."""
    return noun if n == 1 else plural or noun + "s"


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` and ``noun``, its ``plural`` (default: ``noun`` + "s") unless ``n`` is 1."""
    return f"{n} {agreeing(n, noun, plural)}"


def listed(noun: str, items: Sequence[str], plural: str | None = None) -> str:
    """``noun`` (its ``plural`` unless there is one item) and the ``items``, comma-separated: "schema migration 0015",
    "schema migrations 0015, 0016", never "schema migration(s) 0015"."""
    return f"{agreeing(len(items), noun, plural)} {', '.join(items)}"


def has(n: int) -> str:
    """The verb "to have" that agrees with a count of ``n``."""
    return "has" if n == 1 else "have"


def be(n: int) -> str:
    """The verb "to be" that agrees with a count of ``n``."""
    return "is" if n == 1 else "are"
