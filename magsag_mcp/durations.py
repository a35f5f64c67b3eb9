"""A duration as every message says it: a server's wait and the rest of it left, a retry's backoff, a timeout, the
call's deadline, progress's waits.

Each message formatted its own (``:g``, ``.3g``, the event's ``round(wait, 3)``), and one line could read "left
alone for 12.345s (rate_limited), 11.8s of that left", or write 1234.5 s as "1.23e+03s". One rule for all: at most
three significant digits (whole seconds from 100 s, tenths from 10 s, hundredths from 1 s), nothing finer than a
millisecond, no trailing zeros, never an exponent.

Past 31 days (a setting of ``1e30``, a backoff under it) a duration is said "more than 31 days": written out, 1e30 s
was 31 digits, which no reader counts, and no wait a server asks is read as longer (see
:data:`~.providers.rate_limit_waits.LONGEST_WAIT`, this bound).

Two exceptions, where the rounded figure would say something false: a setting the user gave (MAGSAG_CALL_DEADLINE,
MAGSAG_RETRY_MAX_DELAY, a timeout) is said as given (:func:`setting`: 1234.5 s was "1235s (MAGSAG_CALL_DEADLINE)", a
figure found nowhere in their settings), and a duration compared with another in the same sentence gets the digits
it takes to read on the side of it that it is (:func:`against`, :func:`compared`): a server's 20.04 s read "asked to
wait 20s, longer than the retry cap of 20s".

Also :data:`IN_DIGITS`, how a duration (or a count) written in digits begins, for the two modules that read one.
"""

from __future__ import annotations

import math
import re
from decimal import ROUND_HALF_UP, Decimal, localcontext

#: how a number written in digits begins (after any spaces and sign): ``1e400``, ``.5e999``, not ``inf`` or ``nan``.
#: A setting (settings.env_float) or a server's wait (providers/rate_limit_waits.py) that float() made infinite is
#: too large when written so, and no number otherwise; here, as the one module both import (settings may not import
#: the providers)
IN_DIGITS = re.compile(r"\s*[+-]?\.?\d")

#: the longest duration written in seconds; past it, :data:`OVER_THE_LONGEST` is said (the longest wait a server's
#: answer is read as, :data:`~.providers.rate_limit_waits.LONGEST_WAIT`, is this bound)
LONGEST_SAID = 31 * 86400.0
OVER_THE_LONGEST = "more than 31 days"
#: the most decimals a compared duration is given: a float's repr has no more than 17 significant digits
_MOST_PLACES = 17
#: digits enough for any duration rounded (at most LONGEST_SAID, 7 before the point; a longer one is said
#: OVER_THE_LONGEST first) to the most places: quantize raises InvalidOperation past them. (309 + 17 + 1 when any
#: float was rounded: the default context's 28 raised it from 1e28 s, a backoff under MAGSAG_RETRY_MAX_DELAY=1e30)
_DIGITS = len(f"{LONGEST_SAID:.0f}") + _MOST_PLACES + 1


def seconds(value: float) -> str:
    """``value`` seconds as a message says them: ``0.5s``, ``12.3s``, ``1235s``; past 31 days, ``more than 31 days``."""
    value = float(value)
    if value > LONGEST_SAID:  # (infinity too)
        return OVER_THE_LONGEST
    if not math.isfinite(value):
        return f"{value}s"
    value = max(value, 0.0)
    return _fixed(value, _places(value))


def setting(value: float) -> str:
    """A duration the user set (an environment variable's, an option's) as they set it: ``1234.5s``, ``0.25s``,
    ``20s``; never rounded, never an exponent; past 31 days, ``more than 31 days`` (``1e30`` was 31 digits)."""
    value = float(value)
    if value > LONGEST_SAID:
        return OVER_THE_LONGEST
    if not math.isfinite(value):
        return f"{value}s"
    return _trimmed(format(Decimal(repr(value)), "f"))


def against(value: float, other: float) -> str:
    """``value`` said by the rule (:func:`seconds`), with the digits more it takes to read, beside ``other`` said as a
    :func:`setting`, on the side of it that it is: 20.04 against 20 is ``20.04s``, not the ``20s`` that made "longer
    than the retry cap of 20s" false."""
    value, other = float(value), float(other)
    if not (math.isfinite(value) and math.isfinite(other)) or value > LONGEST_SAID:
        return seconds(value)
    value = max(value, 0.0)
    return _reading_as(value, _exact(other), _order(value, other))


def compared(a: float, b: float) -> tuple[str, str]:
    """``a`` and ``b`` said by the rule, to as many digits, and more where it takes them to read in the order they
    are (``a`` above, at, or below ``b``): a wait of 5.004 s against a deadline 5.001 s away is ``5.004s`` and
    ``5.001s``, not "5s would pass the call's deadline, 5s away"."""
    a, b = max(float(a), 0.0), max(float(b), 0.0)
    if not (math.isfinite(a) and math.isfinite(b)) or max(a, b) > LONGEST_SAID:
        return seconds(a), seconds(b)
    places = max(_places(a), _places(b))
    want = _order(a, b)
    while True:
        ta, tb = _fixed(a, places), _fixed(b, places)
        if _order(Decimal(ta[:-1]), Decimal(tb[:-1])) == want or places >= _MOST_PLACES:
            return ta, tb
        places += 1


def _reading_as(value: float, other: Decimal, want: int) -> str:
    places = _places(value)
    while True:
        text = _fixed(value, places)
        if _order(Decimal(text[:-1]), other) == want or places >= _MOST_PLACES:
            return text
        places += 1


def _places(value: float) -> int:
    return 0 if value >= 100 else 1 if value >= 10 else 2 if value >= 1 else 3


def _fixed(value: float, places: int) -> str:
    # rounded as written (repr), half up: 1234.5 is 1235, as a reader rounds it, not 1234 (half to even); written
    # with "f", since a Decimal's str has an exponent from the seventh place (compared to 1e-9: '1E-9', '0E-9')
    with localcontext(prec=_DIGITS):
        return _trimmed(format(Decimal(repr(value)).quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP), "f"))


def _trimmed(text: str) -> str:
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text}s"


def _exact(value: float) -> Decimal:
    return Decimal(repr(value))


def _order(a: float | Decimal, b: float | Decimal) -> int:
    return (a > b) - (a < b)
