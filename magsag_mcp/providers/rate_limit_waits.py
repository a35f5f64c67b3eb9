"""How long a refused request says to wait: ``retry-after-ms`` (Azure's ``x-ms-retry-after-ms`` too), ``Retry-After``
(seconds, or an HTTP date read on the server's clock), the ``x-ratelimit-*`` and ``anthropic-ratelimit-*`` reset of the
bucket that ran out, and the wait a 429's message names. Read by :mod:`.http_errors` and each wire format's errors.
"""

from __future__ import annotations

import datetime
import email.utils
import math
import re
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, TypeVar

from multidict import CIMultiDict, CIMultiDictProxy

from ..durations import IN_DIGITS, LONGEST_SAID

if TYPE_CHECKING:
    from ..errors import ProviderError

#: a 429 whose wait is longer than this is treated as quota exhaustion: move on, don't wait (unless the retry cap,
#: MAGSAG_RETRY_MAX_DELAY, was raised to cover it: see :func:`long_wait`)
LONG_WAIT_SECONDS = 60.0

#: the longest wait a server's answer is read as: a Retry-After of 1e30 seconds, a reset in the year 9999 or a duration
#: of 400 digits is nonsense, and said as sent, no message could write it (a Decimal too short for it, an infinite
#: one ceil'd for the fix); no vendor's own is near it (Azure's day-long quota asks 86400s, a month's resets within it)
LONGEST_WAIT = LONGEST_SAID  # (31 days: a message says a duration past it "more than 31 days")

_Error = TypeVar("_Error", bound="ProviderError")


def long_wait(error: _Error) -> _Error:
    """``error``, a 429's :class:`~magsag_mcp.errors.QuotaExhaustedError` for its wait alone (longer than
    ``LONG_WAIT_SECONDS``, no quota named), marked so (``quota_by_wait``): the cascade waits it out as a rate limit
    where ``MAGSAG_RETRY_MAX_DELAY`` was raised to cover it, as a user who raised it past 60s asked."""
    error.quota_by_wait = True
    return error


def named_quota(error: _Error) -> _Error:
    """``error``, a 429's :class:`~magsag_mcp.errors.QuotaExhaustedError` for a quota its server named spent (its code
    or message), marked so (``quota_named``): the call's error says the quota's fix, whatever the wait. (Its target
    rests for its wait alone, as before: a longer rest refused, unsent, the caller's own retry of a RateLimitError,
    the users' guide's best practice 4 and examples/retry_backoff.py.)"""
    error.quota_named = True
    return error


#: the headers that give the wait in milliseconds: OpenAI's (and Azure's), and Azure's own
_MILLISECONDS = ("retry-after-ms", "x-ms-retry-after-ms")

_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s)?(?:(\d+(?:\.\d+)?)ms)?$")


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait, from ``retry-after-ms``, ``x-ms-retry-after-ms`` or ``Retry-After`` (seconds or HTTP date).

    The milliseconds come first: the more exact of the same wait (OpenAI's SDK reads them first too). Azure names
    them ``x-ms-retry-after-ms`` where it sends no ``retry-after-ms`` (azure-core reads both), and a 429 with only
    that header said no wait to a reader of the other two: the backoff's guess retried it too early."""
    get = header_getter(headers)  # (asked on every failed attempt, and most answers have none of the three)
    for name in _MILLISECONDS:
        value = get(name)
        seconds = _seconds(value, per_second=1000.0) if value else None
        if seconds is not None:
            return seconds
    value = get("retry-after")
    if value:
        value = value.strip()
        seconds = _seconds(value)
        if seconds is not None:
            return seconds
        # An HTTP date. A value that is neither ("soon", a mangled date) says nothing usable: it is
        # treated as absent, so the error is still classified and the usual backoff applies.
        try:
            parsed = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            parsed = None
        if parsed is not None:
            if parsed.tzinfo is None:  # "-0000": UTC, as HTTP dates are
                parsed = parsed.replace(tzinfo=datetime.UTC)
            current = server_now(headers) if now is None else now
            return _bounded(parsed.timestamp() - current)
    return None


def server_now(headers: Mapping[str, str]) -> float:
    """The time now on the clock of the server that answered: its ``Date`` header (RFC 9110 reads a Retry-After date
    against it), else this machine's. A time of day the server names (a Retry-After date, Anthropic's reset) is of
    its clock: read on a machine's clock minutes behind (a laptop after sleep, a VM), a 30s wait was minutes long,
    and the 429 an exhausted quota."""
    said = _get(headers, "date")
    try:
        parsed = email.utils.parsedate_to_datetime(said.strip()) if said else None
    except (TypeError, ValueError, IndexError, OverflowError):
        parsed = None
    if parsed is None:
        return time.time()
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.UTC)
    return parsed.timestamp()


def rate_limit_reset(headers: Mapping[str, str]) -> float | None:
    """Seconds until the rate-limit bucket that ran out refills, from OpenAI's ``x-ratelimit-*`` headers (and
    Anthropic's ``anthropic-ratelimit-*``, where a 429 came without its ``retry-after``).

    OpenAI sends them on every response, for both buckets (requests and tokens), each with its
    ``remaining`` count and its time to a full ``reset`` (Azure too, its reset in whole seconds, and -1 where it
    reports no count). Only a bucket at 0 is why a request was
    refused: the reset of one that still has room says nothing about when to come back (and on a
    5xx, none of them does).
    """
    waits = [
        wait
        for bucket in ("requests", "tokens")
        if _is_zero(_get(headers, f"x-ratelimit-remaining-{bucket}"))
        and (wait := parse_duration(_get(headers, f"x-ratelimit-reset-{bucket}"))) is not None
    ]
    # Anthropic's: anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{remaining,reset}, the reset an
    # RFC 3339 time ("2026-01-01T00:00:30Z") on the server's clock
    now = server_now(headers)
    waits += [
        wait
        for bucket in ("requests", "tokens", "input-tokens", "output-tokens")
        if _is_zero(_get(headers, f"anthropic-ratelimit-{bucket}-remaining"))
        and (wait := _until(_get(headers, f"anthropic-ratelimit-{bucket}-reset"), now)) is not None
    ]
    return max(waits) if waits else None


def _until(value: str | None, now: float | None = None) -> float | None:
    """Seconds from now until an RFC 3339 time (never below 0); None when it is no such time."""
    try:
        when = datetime.datetime.fromisoformat(value.strip().replace("Z", "+00:00")) if value else None
    except ValueError:
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    return _bounded(when.timestamp() - (time.time() if now is None else now))


def wait_in_message(message: str) -> float | None:
    """The wait a 429's message names, when no header did: OpenAI's "... on tokens per min (TPM): Limit
    30000, Used 29937, Requested 385. Please try again in 644ms." (also ``18.642s``, ``1m26.4s``), Azure's
    "Please retry after 6 seconds." It is the wait for *this* request, sooner than a bucket's full reset:
    a token bucket with some room left (too little for this request) says nothing in its headers."""
    # Both ways of asking hold "try": an ASCII message without it is not searched, and one with it is searched from
    # two characters before its first (the "re" of "retry"), where the leftmost match can begin at the earliest. The
    # pattern begins with \b, so re entered its matcher at every character of every 429's message; \b still reads
    # the character before where the search starts. Past ASCII the message is searched whole: lower() may move the
    # indices, and (?i) takes letters it leaves alone (the long s for s).
    if message.isascii():
        first = message.lower().find("try")
        if first < 0:
            return None
        m = _TRY_AGAIN.search(message, max(0, first - 2))
    else:
        m = _TRY_AGAIN.search(message)
    if m is None:
        return None
    if m["seconds"] is not None:
        return _seconds(m["seconds"])
    return parse_duration(m["duration"])


_TRY_AGAIN = re.compile(
    r"\b(?:try again|retry)\s+(?:in|after)\s+"
    r"(?:(?P<duration>(?:\d+(?:\.\d+)?(?:ms|h|m|s))+)\b|(?P<seconds>\d+(?:\.\d+)?)\s*(?:seconds?|secs?)\b)",
    re.IGNORECASE,
)


def _is_zero(value: str | None) -> bool:
    """A bucket's ``remaining`` count is 0: not a negative one, which is no count (Azure sends -1 for a limit it does
    not report, with a reset of 0: read as an empty bucket, that was a wait of 0s and a retry at once)."""
    try:
        return float(value) == 0.0 if value else False
    except ValueError:
        return False


def parse_duration(value: str | None) -> float | None:
    """OpenAI's reset durations: ``6m0s``, ``1s``, ``250ms``, ``0.5s``, or a bare number of seconds."""
    if not value:
        return None
    value = value.strip()
    try:
        float(value)
    except ValueError:
        pass
    else:
        return _seconds(value)  # a bare number: never below 0 nor past the bound, and "inf" or "nan" is no wait
    m = _DURATION.match(value)
    if not m or not any(m.groups()):
        return None
    h, mi, s, ms = (float(g) if g else 0.0 for g in m.groups())
    total = h * 3600 + mi * 60 + s + ms / 1000.0
    return _bounded(total)  # (digits alone: an infinite total is 400 of them, a huge wait, not "inf")


def _seconds(value: str, per_second: float = 1.0) -> float | None:
    """A header's number of seconds (of ``1/per_second`` seconds: 1000 for milliseconds), never below 0 nor past
    :data:`LONGEST_WAIT`, or None when it is no number.

    A number written in digits too large for a float (``1e400``, 400 nines) is a wait past the bound, read as the
    bound, as a duration of as many digits with a unit is (:func:`parse_duration`): float() made it infinite, which
    was read as no wait, and the 429 was retried after the backoff's guess, where ``Retry-After: 1e30`` and Gemini's
    ``retryDelay`` of 400 digits are each a wait of 31 days (taken for a spent quota). ``inf`` and ``nan`` are no
    number a server writes: no wait, as any other word is."""
    try:
        seconds = float(value)
    except ValueError:
        return None
    if math.isfinite(seconds):
        return _bounded(seconds / per_second)
    return _bounded(seconds) if IN_DIGITS.match(value) is not None else None


def _bounded(seconds: float) -> float:
    """``seconds`` of a wait, between 0 (a time already past) and :data:`LONGEST_WAIT` (nonsense)."""
    return min(max(0.0, seconds), LONGEST_WAIT)


def until_unix_time(value: object, *, per_second: float = 1.0, now: float | None = None) -> float | None:
    """Seconds from now until a unix time given in ``1/per_second`` seconds (1000: OpenRouter's ``X-RateLimit-Reset``
    in milliseconds), as a string or a JSON number; between 0 and :data:`LONGEST_WAIT`, or None when it is no number.

    A time written in digits too large for a float (``1e400``, 400 nines, an int of 400 digits) is past the bound,
    read as the bound, as a ``Retry-After`` of as many is (:func:`_seconds`): float() made it infinite (or raised
    OverflowError), which was read as no wait. ``inf`` and ``nan`` are no time a server writes: no wait."""
    try:
        at = float(value) / per_second  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    except OverflowError:  # an int (a JSON number of 400 digits) past a float
        at = math.inf if value > 0 else -math.inf  # type: ignore[operator]
    if math.isfinite(at):
        return _bounded(at - (time.time() if now is None else now))
    # (a JSON number past a float is read as inf: no string says "inf" there)
    in_digits = IN_DIGITS.match(value) is not None if isinstance(value, str) else not isinstance(value, bool)
    return _bounded(at) if in_digits and not math.isnan(at) else None


_CASE_FREE = (CIMultiDict, CIMultiDictProxy)


def header_getter(headers: Mapping[str, str]) -> Callable[[str], str | None]:
    """What looks a header up in ``headers`` by its lower-case name: aiohttp's own ``get`` for its case-free maps (an
    answer's headers), where :func:`_get` around each look-up cost some 1,000 instructions of its 1,300."""
    if isinstance(headers, _CASE_FREE):
        return headers.get
    return lambda name: _get(headers, name)


def _get(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None and not isinstance(headers, _CASE_FREE):
        # plain dicts (tests', a body's) are case-sensitive; aiohttp's CIMultiDict is not, and its miss is final
        for k, v in headers.items():
            if k.lower() == name:
                return v
    return value
