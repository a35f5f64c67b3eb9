"""A duration's amount as magsag writes it and the one rule for a duration too small to read (under a nanosecond),
shared by the parser (times.py) and every hint that tells a duration how it is written (time_spellings.py,
unit_words.py): they disagreed below a nanosecond (1e-20W was told it was too small, 0.0000000000001s was read).
And the longest duration a reader takes (:class:`Longest`: a ledger's 1000 years, a cache ttl's 365 days), by which
the parser and its hints alike tell one too long (:func:`out_of_range`): a hint told ``1000000y`` it is about
365000000d, and a cache ttl of ``1000000d`` that it is longer than any ledger: a rewriting and a bound, each refused
in its turn."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

__all__ = ["LEDGER_LONGEST", "SHORTEST_DURATION_SECONDS", "Longest", "out_of_range", "plain_amount", "too_small"]


def plain_amount(number: float) -> str:
    """``number`` as a duration's amount is read: digits and a point, no exponent (10w1s was told 6.048e+06s), as many
    as it takes, to the 15 places a float holds (1e-11w is 0.00000000001w, which is read: nine places wrote it 0w,
    and PT0.0000000015S 0.000000002s)."""
    written = format(Decimal(f"{float(number):.15g}"), "f")  # (15 places: 1.1w's float, 1.1000000000000001, is 1.1)
    return written.rstrip("0").rstrip(".") if "." in written else written


#: the shortest duration more than nothing that magsag reads: a nanosecond. The one rule for a duration too small,
#: kept by the parser (:func:`~.times.parse_duration_seconds`, a ``since``, a cache ttl) and its hints alike: the
#: hints told 1e-20W and PT0.0000000000001S they were too small while 0.0000000000001s typed was read
SHORTEST_DURATION_SECONDS = 1e-9


def too_small(written: str, seconds: float) -> str:
    """What a duration of more than nothing but under a nanosecond is told (``0.0000000000001s``, ``1e-20W``, and
    ``1e-400s``, which a float reads as 0: it was told it is written ``0s``, a duration of nothing, which it was not
    meant as), said with ``; `` after it; ``""`` for any other. ``written``: the duration as given (its digits say
    whether it is more than nothing where ``seconds`` lost them); ``seconds``: what it comes to."""
    if not 0 <= seconds < SHORTEST_DURATION_SECONDS or not re.search(r"[1-9]", re.split(r"[eE]", written)[0]):
        return ""
    return (
        f"{written} is more than nothing but under 0.000000001s (a nanosecond), too small for a duration: the "
        "shortest is 0.000000001s, and 0s is none; "
    )


@dataclass(frozen=True)
class Longest:
    """The longest duration a reader takes (``seconds``), and what one past it is told it is (``said``, after "is")."""

    seconds: float
    said: str


#: a ledger's reads (a ``since``, ``--older-than``): longer than any ledger is a typo, and would not fit in SQLite's
#: integers
LEDGER_LONGEST = Longest(1000 * 365 * 86400, "longer than any ledger (at most 1000 years)")


def out_of_range(written: str, seconds: float, longest: Longest = LEDGER_LONGEST) -> str:
    """What a duration ``written`` that comes to ``seconds`` is told where the reader will not take it: under a
    nanosecond (:func:`too_small`) or past ``longest`` (infinity too: 400 nines of days), said with ``; `` after it;
    ``""`` for one it takes. The one check a hint makes before it tells a rewriting, so that none tells one the
    reader refuses in its turn."""
    if tiny := too_small(written, seconds):
        return tiny
    if seconds > longest.seconds:
        return f"{written} is {longest.said}; "
    return ""
