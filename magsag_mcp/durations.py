"""A duration as every message says it: a server's wait and the rest of it left, a retry's backoff, a timeout, the
call's deadline, progress's waits.

Each message formatted its own (``:g``, ``.3g``, the event's ``round(wait, 3)``), and one line could read "left
alone for 12.345s (rate_limited), 11.8s of that left", or write 1234.5 s as "1.23e+03s". One rule for all: at most
three significant digits (whole seconds from 100 s, tenths from 10 s, hundredths from 1 s), nothing finer than a
millisecond, no trailing zeros, never an exponent.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal


def seconds(value: float) -> str:
    """``value`` seconds as a message says them: ``0.5s``, ``12.3s``, ``1235s``."""
    value = float(value)
    if not math.isfinite(value):
        return f"{value}s"
    value = max(value, 0.0)
    places = 0 if value >= 100 else 1 if value >= 10 else 2 if value >= 1 else 3
    # rounded as written (repr), half up: 1234.5 is 1235, as a reader rounds it, not 1234 (half to even)
    text = str(Decimal(repr(value)).quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP))
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text}s"
