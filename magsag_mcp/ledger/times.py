"""Times and durations as people write them, read for a ledger query: ``24h``, ``7d``, an ISO date or time, unix
seconds, and from Python a ``datetime``, ``date`` or ``timedelta``; each refusal says what a time looks like. And a
recorded time written back, as ISO (:func:`iso_time`). The filters that carry them (:class:`~.filters.UsageFilters`)
and their SQL are in filters.py, which re-exports these.

(Split from filters.py, unchanged: a test that moves the clock patches ``time`` here, where :func:`parse_since`
reads it.)"""

from __future__ import annotations

import re
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

from ..errors import InputError, excerpt
from ..text import TIME_TEXT_MAX as TIME_TEXT_MAX
from .duration_amounts import LEDGER_LONGEST, Longest, out_of_range, plain_amount, too_small
from .time_spellings import duration_hint, spelling_hint

#: unix seconds written as text: nine digits or more (an eight-digit 20251102 is an ISO date)
_UNIX_SECONDS = re.compile(r"^\d{9,}(?:\.\d+)?$")
#: a duration: its unit in either case (7D is 7d, as 24H is 24h: each means one thing), but for minutes, in lower case
#: alone: 1M would be a minute to this and a month to its writer (refused, and told so: see _unreadable)
_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdwSHDW])$")
_RELATIVE_ANY_CASE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$", re.IGNORECASE)
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
#: a ``since`` as the ledger's reads take it: text or unix seconds, or from Python a time (see :func:`python_time`)
Since = str | float | datetime | date | timedelta | None

#: longer than any ledger: a duration beyond it is a typo, and would not fit in SQLite's integers
MAX_DURATION_SECONDS = LEDGER_LONGEST.seconds


def _time_forms(zone: str = "UTC") -> str:
    """What a refusal says a time looks like, a date or time without an offset being ``zone``'s (a summary's or a
    query's ``timezone``: told UTC's under --timezone Europe/Berlin, a user wrote a UTC date, off Berlin's day)."""
    whose = "UTC" if zone == "UTC" else f"{zone}'s"
    return (
        "a duration back from now (30m, 24h, 7d, 2w: s, m for minutes, h, d or w), an ISO date or time (2025-11-02, "
        f"2025-11-02T13:00:00Z; {whose} unless it gives an offset) or unix seconds (1764460800)"
    )


#: what a refusal says a time looks like, where dates are UTC's
_TIME_FORMS = _time_forms()


def _quoted(value: Any) -> str:
    """``value`` as a refusal quotes it: its repr, or the start of a text longer than any time (with its length) and
    the size of a number too large to write (a 100,000-character ``since`` came back whole in the error, the
    server's log line and the MCP result; an int of 5,000 digits could not be written at all, and the refusal
    became Python's ValueError)."""
    if isinstance(value, str) and len(value) > TIME_TEXT_MAX:
        return f"{excerpt(value, 24)!r}... ({len(value):,} characters)"  # redacted before the cut
    if isinstance(value, int) and abs(value) >= 10**TIME_TEXT_MAX:
        return f"a number of more than {TIME_TEXT_MAX} digits"
    return repr(value)


def _seconds(m: re.Match[str], value: str, field: str | None = None, longest: Longest = LEDGER_LONGEST) -> float:
    """``field``: the filter the duration was given as, which the refusal names as every other refusal of a time does
    (``since='400000d'``: with since and until both durations, the value alone left the reader to find which);
    ``longest``: the longest the reader takes (a cache ttl's is a year), which a longer one is told."""
    seconds = float(m.group(1)) * _UNIT[m.group(2).lower()]
    if tiny := too_small(value.strip(), seconds):  # (the rule its hints tell by: 1e-20W was refused, 0.0...01s read)
        if field is None:
            raise InputError(f"{_quoted(value)} is not a duration: {tiny}use e.g. 90d, 12h, 2w")
        raise InputError(f"{field}={_quoted(value)} is not a time: {tiny}give {_TIME_FORMS}")
    if seconds > longest.seconds:
        named = _quoted(value) if field is None else f"{field}={_quoted(value)}"
        raise InputError(f"{named} is {longest.said}; use e.g. 90d, 12h, 2w")
    return seconds


def python_time(value: Any, field: str = "since") -> Any:
    """A time as Python code has one, written as :func:`parse_since` reads text: an aware ``datetime`` as its
    ISO time, a naive one as the local time Python's own ``timestamp()`` takes it for, a ``date`` as its ISO
    date (a UTC day, as the text is), a ``timedelta`` as that long before now. Anything else is returned as is."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            return value.isoformat()
        try:
            return value.astimezone().isoformat()
        except (ValueError, OverflowError):
            # the local offset moved it past year 1 or 9999 (datetime(1, 1, 1) east of UTC, the last day west of it):
            # Python's own error, on some machines' zones and not others, where it is a time no ledger holds
            raise InputError(_beyond_any_ledger(field, value)) from None
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, timedelta):
        if value < timedelta(0):
            raise InputError(
                f"{field}={value!r} counts back from now: give a positive timedelta (timedelta(days=7) is a week "
                "ago), or a datetime for a time ahead"
            )
        if value.total_seconds() > MAX_DURATION_SECONDS:
            raise InputError(f"{field}={value!r} is longer than any ledger (at most 1000 years)")
        # its exact microseconds, written as _RELATIVE reads them: a float's repr wrote 10 us as '1e-05s', refused
        whole, micro = divmod(value // timedelta(microseconds=1), 1_000_000)
        return f"{whole}.{micro:06d}s"
    return value


def parse_since(value: Any, *, field: str = "since", now: float | None = None) -> float | None:
    """``24h``, ``7d``, ``30m``, an ISO date/time (UTC unless it says otherwise), or unix seconds (a number,
    or nine digits or more as text); from Python also a ``datetime``, ``date`` or ``timedelta`` (see
    :func:`python_time`). A duration counts back from ``now`` (by default the time now)."""
    value = python_time(value, field)
    if value is None:
        return None
    if isinstance(value, str) and not value.strip():  # a blank field, an unset variable: not "all time" unsaid
        raise InputError(
            f"{field}={value!r} is empty: leave it out to read the whole ledger, or give 24h, 7d or a date"
        )
    if isinstance(value, bool):  # an int to Python, but no one means 1970-01-01T00:00:01 by True
        raise InputError(f"{field}={value!r} is not a time: give unix seconds (e.g. 1764460800), 24h, 7d or a date")
    if not isinstance(value, str | int | float):  # a list or an object (a summary's period edited): no text to read
        raise InputError(
            f"{field}={value!r} is not a time: give a datetime, a date, a timedelta, unix seconds, "
            "or text such as 24h, 7d or 2025-11-02"
        )
    if isinstance(value, str) and len(value) > TIME_TEXT_MAX:
        raise _too_long(field, value)
    written = value
    if isinstance(value, str) and _UNIX_SECONDS.match(value.strip()):
        # the one way a command line can give unix seconds; read stripped as matched: float() takes fewer spaces than
        # str.strip() does ("123456789\x1f" raised its ValueError out of here)
        value = float(value.strip())
    if isinstance(value, int | float):
        if not -MAX_DURATION_SECONDS <= value <= MAX_DURATION_SECONDS * 2:  # nan fails this too
            raise InputError(_not_unix_seconds(field, written, value))
        return float(value)
    text = value.strip()
    m = _RELATIVE.match(text)
    if m:
        return (time.time() if now is None else now) - _seconds(m, value, field)
    try:
        # RFC 3339 lets "T" and "Z" be written in lower case: fromisoformat takes a "t", and no "z"
        dt = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        hint = _unreadable(text, time.time() if now is None else now, field)
        raise InputError(f"{field}={value!r} is not a time: {hint}give {_TIME_FORMS}") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    seconds = dt.timestamp()
    if not -MAX_DURATION_SECONDS <= seconds <= MAX_DURATION_SECONDS * 2:
        # refused here as written: a caller re-reading the resolved number would quote a float instead
        raise InputError(_beyond_any_ledger(field, value))
    return seconds


def in_zone(value: Any, zone: str, field: str = "since") -> Any:
    """``value`` (a ``since`` or ``until``) as :func:`parse_since` reads it with its days counted in ``zone`` (an IANA
    name, checked by the caller): an ISO date or time that gives no offset is that wall time in ``zone``, written
    with the offset it has there on that day (``2026-12-01`` in Europe/Berlin is ``2026-12-01T00:00:00+01:00``), so
    that a summary's ``period.filters`` says the instant it read. A user who writes ``--since 2026-12-01 --timezone
    Europe/Berlin`` means Berlin's midnight; it was UTC's, an hour off, and the first Berlin day it summarized began
    inside the window. Text that is no time is refused as :func:`parse_since` refuses it, saying a date is ``zone``'s;
    anything else (a duration, unix seconds, a time with an offset) is returned as is."""
    from zoneinfo import ZoneInfo

    value = python_time(value, field)
    if not isinstance(value, str):
        return value
    if len(value) > TIME_TEXT_MAX:  # refused here, in the zone's words: parse_since's said a date was UTC's
        raise _too_long(field, value, zone)
    text = value.strip()
    if _UNIX_SECONDS.match(text) or _RELATIVE.match(text):
        return value
    if said := _day_word(text, time.time(), field, zone):  # ("yesterday": the zone's, which a date given is read in)
        raise InputError(f"{field}={value!r} is not a time: {said}give {_time_forms(zone)}")
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        if not text:
            return value  # (parse_since says it is empty)
        # refused here, as parse_since refuses it, with the forms said in the zone's words: a date is its
        hint = _unreadable(text, time.time(), field)
        raise InputError(f"{field}={value!r} is not a time: {hint}give {_time_forms(zone)}") from None
    if dt.tzinfo is not None:
        return value
    # (a wall time a clock change skips or repeats takes the offset before the change, zoneinfo's fold 0)
    return dt.replace(tzinfo=ZoneInfo(zone)).isoformat()


def _too_long(field: str, value: str, zone: str = "UTC") -> InputError:
    """The refusal of a ``since`` or ``until`` text longer than any time, saying what a time looks like in ``zone``."""
    return InputError(
        f"{field}={_quoted(value)} is not a time: a time is at most {TIME_TEXT_MAX} characters; give "
        f"{_time_forms(zone)}",
        max_length=TIME_TEXT_MAX,  # (as a name's and a model's refusals give theirs)
    )


def _beyond_any_ledger(field: str, value: Any) -> str:
    """Why a time before or after every ledger (outside about the years 971 to 3967) is refused, and the fix."""
    return (
        f"{field}={value!r} is beyond any ledger (give a date between the years 971 and 3967); "
        f"leave {field} out for no bound"
    )


#: a date with one of its two dashes (``2026-1205``, ``202612-05``: seven digits and a dash), and what follows it
_ONE_DASH_DATE = re.compile(r"^(\d{4})(-?)(\d{2})(-?)(\d{2})([Tt ].*)?$")


def _one_dash_date(text: str) -> str:
    """The date a text with one of a date's two dashes is (``2026-1205``: 2026-12-05), told before the forms a time
    takes, where it is a date so written; ``""`` for any other text. ISO reads a date with both dashes or neither."""
    m = _ONE_DASH_DATE.match(text)
    if m is None or bool(m.group(2)) == bool(m.group(4)):
        return ""
    year, month, day, rest = m.group(1), m.group(3), m.group(5), m.group(6) or ""
    meant = f"{year}-{month}-{day}{rest}"
    try:
        datetime.fromisoformat(meant.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return ""  # (not a date however its dashes are written: the forms alone)
    basic = "" if rest else f" (or {year}{month}{day})"  # (a time beside it takes its colons too: one form is enough)
    return f"a date writes both its dashes or neither: {meant}{basic}; "


#: what Python says of an ISO date or time whose day, month or hour no calendar has (and nothing of the offset's
#: words, which quote timedelta reprs)
_CALENDAR_SLIP = re.compile(r"day is out of range for month|(?:month|hour|minute|second) must be in \d+\.\.\d+")


def _calendar_slip(text: str) -> str:
    """Which part of a date or time written in ISO's shape no calendar has (``2026-02-30``: its day, ``T25:00``: its
    hour), said before the forms a time takes, which it was written in; ``""`` for any other text."""
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as e:
        if m := _CALENDAR_SLIP.search(str(e)):
            return f"no calendar has {text} ({m.group(0)}); "
    return ""


def _unreadable(text: str, now: float, field: str = "since") -> str:
    """What a text that is no time was nearly, said before the forms a time takes: a duration in months (``1M``: m
    is minutes), one counting forward (``-7d``: ``until`` takes a time ahead as a date), a date missing a dash
    (``2026-1205``), a word for a day (``yesterday``: its date, as of ``now``) or for now."""
    if one_dash := _one_dash_date(text):
        return one_dash
    if slip := _calendar_slip(text):
        return slip
    if said := _day_word(text, now, field):
        return said
    m = _RELATIVE_ANY_CASE.match(text.lstrip("-+"))
    if m is None and re.fullmatch(r"[-+]?\d{1,8}(?:\.\d+)?", text):  # "0", "86400": a span or an epoch meant
        return spelling_hint(text, now, None) * bool(re.fullmatch(r"\d{4}", text)) + (  # ("2026": a year's hint too)
            "digits as text are unix seconds from nine digits on (an eight-digit 20251102 is a date); a span back "
            "takes its unit (86400 seconds is 1d), and to read the whole ledger leave it out; "
        )
    if m is None:
        return _long_unit(text) or spelling_hint(text, now, lambda t: parse_since(t, field=field, now=now))
    if text.startswith(("-", "+")):
        # "-7M": both what M is (minutes, where months were likely meant) and that a duration takes no sign; it was
        # told of the sign alone, and wrote 7M next
        minutes = _MINUTES_NOT_MONTHS if m.group(2) == "M" else ""
        return minutes + _NO_SIGN
    if m.group(2) == "M":
        return _MINUTES_NOT_MONTHS
    return ""


#: what a duration written with a sign is told (-7d, +7d)
_NO_SIGN = "a duration counts back from now, without a sign (7d is a week ago); for a time ahead give a date; "
#: what 1M is told (m is minutes to magsag, and a month to whoever wrote it), however it is written around
_MINUTES_NOT_MONTHS = "m is minutes (there is no month: 30d is about one); "


def _day_word(text: str, now: float, field: str = "since", zone: str = "UTC") -> str:
    """What ``today``, ``yesterday`` or ``now`` is written as (in any case): a day's date (``zone``'s, as a date is
    read, as of ``now``) or a duration; ``""`` for any other text. ``until`` is exclusive: the day a date names is
    left out of it, so an ``until`` of a day is told the next day's date (``--until today``: told today's date, it
    read nothing of today), and not ``24h``, which as an ``until`` ends a day ago."""
    word = text.lower()
    if word in ("today", "yesterday"):
        from zoneinfo import ZoneInfo

        day = datetime.fromtimestamp(now, ZoneInfo(zone)).date() - timedelta(days=1 if word == "yesterday" else 0)
        where = "UTC" if zone == "UTC" else zone
        if field.lstrip("-").rsplit(".", 1)[-1] == "until":
            after = (day + timedelta(days=1)).isoformat()
            if word == "today":
                return (
                    f"{text} is no time magsag reads: leave {field} out to read up to now, or give the next day's "
                    f"date, {after} (until is exclusive: it reads up to its midnight, {where}); "
                )
            return (
                f"{text} is no time magsag reads: give the day after it, {after}, to read through {day.isoformat()} "
                f"(until is exclusive: it reads up to its midnight, {where}); "
            )
        return (
            f"{text} is no time magsag reads: give its date, {day.isoformat()} (from its midnight, {where}), or 24h "
            "for the last 24 hours; "
        )
    if word == "now":
        if field.endswith("until"):  # (--until, filters.until, until: the since beside it, written the same way)
            since = field[: -len("until")] + "since"
            return (
                f"{text} is no time magsag reads: leave {field} out to read up to now, or give {since} a duration "
                "back, such as 24h; "
            )
        return (
            f"{text} is no time magsag reads: a window from now on holds nothing yet; give {field} a duration back, "
            "such as 24h for the last 24 hours; "
        )
    return ""


def _not_unix_seconds(field: str, written: Any, value: float) -> str:
    """Why a number is no time, quoted as written (not as the float it was read as); a JavaScript client's
    ``Date.now()`` is milliseconds, which is said, with the seconds it means. A whole number arrives as a float
    from a JSON schema that takes numbers (the MCP tools'): it is quoted as the integer that was sent."""
    if isinstance(written, float) and written.is_integer() and abs(written) < 1e18:
        written = int(written)
    said = f"{field}={_quoted(written)} is not a time: give unix seconds (e.g. 1764460800), 24h, 7d or a date"
    if 1e11 <= abs(value) < 1e300 and -MAX_DURATION_SECONDS <= value / 1000 <= MAX_DURATION_SECONDS * 2:
        said += f"; {str(written).strip()} reads as milliseconds since 1970: in seconds it is {int(value / 1000)}"
    elif value == value:  # (not nan, which is no number of seconds at all)
        # it is unix seconds, as the forms ask: what is wrong is the time it names (99999999999 is the year 5138)
        said += f"; as seconds since 1970 it is {'after the year 3967' if value > 0 else 'before the year 971'}, "
        said += "beyond any ledger"
    return said


def cuts_a_day(value: str | float | int | None, zone: str = "UTC") -> bool:
    """Whether a ``since`` or ``until`` bound, as written, falls inside a day of ``zone`` (an IANA name) rather
    than at its start: a duration (``24h``, ``7d``) counts back from when it was read, so it does; an ISO time or
    unix seconds does unless it is a midnight there (a date alone is a UTC midnight). A value that is no time
    cuts nothing (a summary holding one was not written by magsag)."""
    if value is None or isinstance(value, bool):
        return False
    if isinstance(value, str) and _RELATIVE.match(value.strip()):
        return True
    try:
        seconds = parse_since(value, now=0.0)
    except InputError:
        return False
    if seconds is None or zone == "UTC":
        return seconds is not None and seconds % 86400 != 0
    from zoneinfo import ZoneInfo

    local = datetime.fromtimestamp(seconds, ZoneInfo(zone))
    return (local.hour, local.minute, local.second, local.microsecond) != (0, 0, 0, 0)


def read_window_start(
    since: Any, cursor: str | None, *, hits: bool = False
) -> tuple[float | None, tuple[str, float] | None]:
    """``since`` read as a time (the one the page before read, given its ``cursor``: see
    :func:`~.paging.pinned_since`), and, for a duration ("24h"), the text and that time for the next page's cursor."""
    from .paging import pinned_since

    start = parse_since(pinned_since(cursor, since, hits=hits))
    return start, ((since, start) if is_duration(since) and start is not None else None)


def is_duration(value: Any) -> bool:
    """Whether a ``since`` or ``until`` is a duration back from the time it is read ("24h"), as written."""
    return isinstance(value, str) and len(value) <= TIME_TEXT_MAX and _RELATIVE.match(value.strip()) is not None


#: a duration in a unit magsag does not take (``1y``, ``6mo``, ``2 months``): said in days
_LONG_UNIT = re.compile(r"^(\d+(?:\.\d+)?)\s*(y|yrs?|years?|mo|mos|months?)$", re.IGNORECASE)


#: a duration whose unit is written out (``7days``, ``2 weeks``, ``24hours``, ``30min``), or its letter alone: the
#: letter meant
_SPELT_UNIT = re.compile(
    r"^(\d+(?:\.\d+)?)\s*(?:(s)(?:ecs?|econds?)|(m)(?:ins?|inutes?)|(h)(?:rs?|ours?)|(d)(?:ays?)|(w)(?:ks?|eeks?)"
    r"|([smhdw]))$",
    re.IGNORECASE,
)

#: what may come around a duration that it does not take: a "now" before a sign (``now-7d``), a sign (``-7 days``,
#: ``+7d``), a "last" or "past" (``last 7 days``; ``last week``, a count of one), an "ago" (``7 days ago``)
_AROUND = re.compile(r"^(?:(now)\s*(?=[-+]))?([-+])?\s*(?:(last|past)\s+)?(.+?)(\s+ago)?$", re.IGNORECASE)


def _long_unit(text: str, longest: Longest = LEDGER_LONGEST) -> str:
    """What a duration in years or months is in days, said before the forms a duration takes (``1y``: 365d); one
    whose unit is written out (``7days``, ``2 weeks``), as the letter it takes: "7days is written 7d". Such a
    duration was told only the forms a time takes, which the reader had to match against what they wrote. What
    comes around it is said to be left out too: a minus or an "ago" ("-7 days is written 7d (a duration takes no
    sign or 'ago')"), a "now-" or a "last" ("last week is written 1w (a duration counts back from now)"); a plus (or
    "now+") is told that a duration counts back, and a time ahead is a date. ``M`` is told it is minutes whatever
    comes with it (``7M ago``: months were likely meant). One past ``longest`` (the reader's) is told that, not a
    rewriting refused in its turn (``1000000y`` was told it is about 365000000d)."""
    stripped = text.strip()
    around = _AROUND.match(stripped)
    if around is None:
        return ""
    now, sign, last, core, ago = around.groups()
    if last and not core[:1].isdigit():
        core = f"1 {core}"  # ("last week": one week)
    if core.endswith("M") and _RELATIVE_ANY_CASE.match(core):
        return _MINUTES_NOT_MONTHS
    back = " (a duration takes no sign or 'ago')" if (sign or ago) and not now else ""
    m = _LONG_UNIT.match(core)
    if m is not None:
        years = m.group(2).lower().startswith("y")
        days = float(m.group(1)) * (365 if years else 30)
        seconds = days * 86400
        letters = f"{plain_amount(days)}d"  # (in full: 0.00000001y was told 3.65e-06d, which no duration is)
        if beyond := out_of_range(stripped, seconds, longest):  # (the parser's rule: 1e-20y was told 3.65e-18d)
            return beyond
        if sign != "+":
            return f"there is no unit of {'years' if years else 'months'}: {stripped} is about {letters}{back}; "
    else:
        spelt = _SPELT_UNIT.match(core)
        if spelt is None:
            return ""
        letters = spelt.group(1) + next(letter for letter in spelt.groups()[1:] if letter).lower()
        # (0.0000000000001 seconds was told it is written 0.0000000000001s, which the parser refuses)
        if beyond := out_of_range(stripped, float(spelt.group(1)) * _UNIT[letters[-1]], longest):
            return beyond
    if sign == "+":  # (a year ahead, "+1y", was told it is about 365d: that long ago)
        return (
            f"{stripped} counts forward: a duration counts back from now, without a sign ({letters} is that long "
            "ago); for a time ahead give a date; "
        )
    if now or last:
        back = " (a duration counts back from now)"
    return f"{stripped} is written {letters}{back}; "


def parse_duration_seconds(value: str, longest: Longest = LEDGER_LONGEST) -> float:
    """``value`` (``90s``, ``30m``, ``12h``, ``7d``, ``2w``) in seconds, at most ``longest`` (a ledger's, unless the
    reader's is shorter: a cache ttl's); refused with what to write, and its hints tell nothing past ``longest``."""
    m = _RELATIVE.match(value.strip()) if len(value) <= TIME_TEXT_MAX else None
    if not m:
        hint = ""
        if len(value) <= TIME_TEXT_MAX:
            hint = _long_unit(value, longest) or duration_hint(
                value, lambda text: _one_duration(text, longest), longest=longest
            )
        raise InputError(f"{_quoted(value)} is not a duration: {hint}use e.g. 90d, 12h, 2w")
    return _seconds(m, value, longest=longest)


def _one_duration(text: str, longest: Longest = LEDGER_LONGEST) -> None:
    """Reads ``text`` as :func:`parse_duration_seconds` does, or raises (a hint's check of what it would tell)."""
    if len(text) > TIME_TEXT_MAX or (m := _RELATIVE.match(text.strip())) is None:
        raise InputError(f"{text!r} is not a duration")
    _seconds(m, text, longest=longest)


def iso_time(ts: float | None) -> str | None:
    """A recorded time (unix seconds) as the ledger's reads give it: ISO, UTC, to the second (None stays None)."""
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")
