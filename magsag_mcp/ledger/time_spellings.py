"""Other spellings of a time or a duration that a ledger read does not take, each told the one it does
(:func:`spelling_hint`): a duration in ISO 8601's form (``P7D``, ``PT24H``), in two units (``7d12h``, ``1h30m``), in
a unit under a second (``7ms``) or an exponent (``1e3s``), with quotes or a stop around it (``'7d'``, ``7d.``), with a
typographic minus (``−7d``); a date written with slashes or dots (``12/05/2026``, ``05.12.2026``), as a month
(``2026-12``), a year (``2026``) or with a month's name (``Dec 5 2026``); a time with a zone's abbreviation
(``13:00 CET``); a period's words (``this month``, ``this week``); a word for all time (``all``, ``inf``). Worked out
only where a time was refused, said before the forms a time takes (see times.py)."""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, timedelta

from .duration_amounts import LEDGER_LONGEST, Longest, out_of_range
from .duration_amounts import plain_amount as _plain
from .unit_words import unit_word_hint

__all__ = ["duration_hint", "duration_spelling", "spelling_hint"]

_UNIT_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}

#: ISO 8601's duration: P, then weeks or years, months, days; T, then hours, minutes, seconds
_ISO_DURATION = re.compile(
    r"^([-+]?)P(?:(\d+(?:[.,]\d+)?)W)?(?:(\d+(?:[.,]\d+)?)Y)?(?:(\d+(?:[.,]\d+)?)M)?(?:(\d+(?:[.,]\d+)?)D)?"
    r"(?:T(?:(\d+(?:[.,]\d+)?)H)?(?:(\d+(?:[.,]\d+)?)M)?(?:(\d+(?:[.,]\d+)?)S)?)?$",
    re.IGNORECASE,
)
#: a duration in two units or more, the largest first: 7d12h, 1h 30m, 1w2d
_COMPOUND = re.compile(r"^(?:\d+(?:\.\d+)?\s*[wdhms]\s*){2,}$", re.IGNORECASE)
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([wdhms])", re.IGNORECASE)
#: a unit under a second: milliseconds, microseconds, nanoseconds
_SUBSECOND = re.compile(r"^(\d+(?:\.\d+)?)\s*(ms|us|µs|μs|ns)$", re.IGNORECASE)
_SUBSECOND_SCALE = {"ms": 1e-3, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ns": 1e-9}
#: a number with an exponent before its unit: 1e3s
_EXPONENT = re.compile(r"^(\d+(?:\.\d+)?[eE][-+]?\d+)\s*([wdhms])$", re.IGNORECASE)
#: what a copy from a message, a shell or a sentence leaves around a value: quotes, a stop, a comma, a semicolon
_WRAPPED = re.compile(r"""^[\s'"`‘’“”]*(.*?)[\s'"`‘’“”.,;:!]*$""")
#: dashes that are no ASCII minus: a minus sign, an en dash, an em dash (a word processor's or a chat's)
_DASHES = str.maketrans({"\u2212": "-", "\u2013": "-", "\u2014": "-"})
_SLASHED = re.compile(r"^(\d{1,4})[/.](\d{1,2})[/.](\d{1,4})([Tt ].*)?$")
_YEAR_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
_YEAR = re.compile(r"^(\d{4})$")
#: a time followed by a zone's abbreviation or name, which ISO does not take: 13:00 CET, 13:00 Europe/Berlin
_ZONE_WORD = re.compile(r"^(\d{4}-\d{2}-\d{2}[Tt ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)\s*([A-Za-z][A-Za-z_/+-]*)$")
_ALL_TIME = {
    "all", "*", "inf", "+inf", "infinity", "∞", "ever", "forever", "always", "everything", "beginning", "start",
}  # fmt: skip
_MONTH_NAMES = ("%b %d %Y", "%B %d %Y", "%d %b %Y", "%d %B %Y", "%b %d, %Y", "%B %d, %Y")
_PERIOD_WORDS = re.compile(r"^(this|current)\s+(week|month|year)$", re.IGNORECASE)


def _letters(seconds: float, unit: str) -> str:
    """``seconds`` in ``unit``, the smallest its writer used (P7D: 7d; 7d12h: 180h; 1h30m: 90m)."""
    return _plain(seconds / _UNIT_SECONDS[unit]) + unit


def duration_spelling(text: str, longest: Longest = LEDGER_LONGEST) -> str:
    """What a duration written in another form is written as (``P7D``: 7d), said with ``; `` after it, or ``""``;
    one under a nanosecond or past ``longest`` (the reader's), told so, not a rewriting refused in its turn."""
    stripped = text.strip().translate(_DASHES)
    if (m := _ISO_DURATION.match(stripped)) is not None and stripped[1:].strip("+-pP"):
        sign, weeks, years, months, days, hours, minutes, seconds = m.groups()
        if years or months:
            # (P1M: a month, to ISO; PT1M, a minute, is read below)
            return (
                f"{stripped} is ISO 8601's duration in {'years' if years else 'months'}, a unit magsag has not: "
                "30d is about a month, 365d a year; "
            )
        parts = [(n, u) for n, u in ((weeks, "w"), (days, "d"), (hours, "h"), (minutes, "m"), (seconds, "s")) if n]
        if not parts:  # ('PT': no amount to write)
            return ""
        total = sum(float(n.replace(",", ".")) * _UNIT_SECONDS[u] for n, u in parts)
        if tiny := out_of_range(stripped, total, longest):
            return tiny
        signed = " (a duration counts back from now, without a sign)" if sign else ""
        return f"{stripped} is ISO 8601's form: write {_letters(total, parts[-1][1])}{signed}; "
    if _COMPOUND.match(stripped):
        found = _PART.findall(stripped)
        total = sum(float(n) * _UNIT_SECONDS[u.lower()] for n, u in found)
        smallest = max((u.lower() for _, u in found), key=list(_UNIT_SECONDS).index)
        # (0.0000000000001h0.0000000000001s was told 0.0000000003601s)
        if tiny := out_of_range(stripped, total, longest):
            return tiny
        return f"a duration takes one unit: {stripped} is written {_letters(total, smallest)}; "
    if (m := _SUBSECOND.match(stripped)) is not None:
        seconds = float(m.group(1)) * _SUBSECOND_SCALE[m.group(2).lower()]
        if tiny := out_of_range(stripped, seconds, longest):
            return tiny
        return f"there is no unit under a second: {stripped} is {_plain(seconds)}s; "
    if (m := _EXPONENT.match(stripped)) is not None and math.isfinite(amount := float(m.group(1))):
        if beyond := out_of_range(stripped, amount * _UNIT_SECONDS[m.group(2).lower()], longest):
            return f"a duration takes no exponent, and {beyond}"
        return f"a duration takes no exponent: {stripped} is written {_plain(amount)}{m.group(2).lower()}; "
    return ""


#: what a typographic minus before a duration is told by a ``since`` (a duration counts back from now)
_SINCE_SIGN = "a duration counts back from now, without a sign"


def duration_hint(
    text: str, reads: object, *, no_sign: str = "a duration takes no sign", longest: Longest = LEDGER_LONGEST
) -> str:
    """What ``text``, refused as a duration, is written as where it is one in another spelling: another form
    (:func:`duration_spelling`), quotes or a stop around it, a sign (typographic or not), a unit's word magsag has no
    letter for (:func:`~.unit_words.unit_word_hint`); ``""`` if none is known. The one path every option taking a
    duration or a time tells these by (``--older-than '90d'`` was told the forms alone, where ``--since '90d'`` was
    told to drop the quotes). ``reads``: a function reading a duration as the refusing read does; ``no_sign``: what a
    sign is told (a ``since``'s duration counts back from now; a ttl's does not); ``longest``: the longest ``reads``
    takes, which another form's duration past it is told."""
    stripped = text.strip()
    if (said := duration_spelling(stripped, longest)) or not stripped:
        return said
    unwrapped = _WRAPPED.match(stripped)
    if unwrapped is not None and unwrapped.group(1) and unwrapped.group(1) != stripped and _reads(reads, unwrapped[1]):
        return f"write {unwrapped.group(1)} without the quotes or stop around it; "
    dashed = stripped.translate(_DASHES)
    if dashed.startswith("-") and _reads(reads, dashed.lstrip("-")):
        return f"{no_sign}: write {dashed.lstrip('-')}; "
    return unit_word_hint(stripped, lambda written: _reads(reads, written), longest)


def spelling_hint(text: str, now: float, reads: object) -> str:
    """What ``text``, refused as a time, is written as where it is one in another spelling; ``""`` if none is known.
    ``reads``: a function reading a time as the refusing read does (to tell ``'7d'`` is 7d without its quotes)."""
    stripped = text.strip()
    if (said := duration_hint(stripped, reads, no_sign=_SINCE_SIGN)) or not stripped:
        return said
    dashed = stripped.translate(_DASHES)
    if dashed != stripped and _reads(reads, dashed):
        return f"write its dashes as ASCII hyphens: {dashed}; "
    if stripped.lower() in _ALL_TIME:
        return "to read the whole ledger, leave it out; "
    if (m := _PERIOD_WORDS.match(stripped)) is not None:
        today = datetime.fromtimestamp(now, UTC).date()
        first = {
            "week": today - timedelta(days=today.weekday()),
            "month": today.replace(day=1),
            "year": today.replace(month=1, day=1),
        }[m.group(2).lower()]
        return f"{stripped} is no time magsag reads: give its first day's date, {first.isoformat()} (UTC); "
    return _date_spelling(stripped)


def _reads(reads: object, text: str) -> bool:
    try:
        reads(text)  # type: ignore[operator]
    except Exception:
        return False
    return True


def _date_spelling(text: str) -> str:
    """A date written other than ISO's year-month-day, as ISO writes it."""
    if (m := _YEAR_MONTH.match(text)) is not None and 1 <= int(m.group(2)) <= 12:
        year, month = int(m.group(1)), int(m.group(2))
        try:
            after = date(year + month // 12, month % 12 + 1, 1)
        except ValueError:  # (9999-12: the next month's first day is no date)
            return ""
        if year < 1:  # (0000-05: its first day is none)
            return ""
        return (
            f"a month is read from its first day: since {year:04d}-{month:02d}-01, until {after.isoformat()} "
            "(exclusive); "
        )
    if (m := _YEAR.match(text)) is not None and 1 <= int(m.group(1)) < 9999:  # (0000, 9999: a date is years 1-9999)
        year = int(m.group(1))
        return f"a year is read from its first day: since {year:04d}-01-01, until {year + 1:04d}-01-01 (exclusive); "
    if (m := _SLASHED.match(text)) is not None:
        return _slashed(*m.groups())
    if (m := _ZONE_WORD.match(text)) is not None:
        return _zone_word(m.group(1), m.group(2))
    folded = " ".join(text.replace(",", ", ").split())
    for form in _MONTH_NAMES:
        try:
            day = datetime.strptime(folded, form).date()
        except ValueError:
            continue
        return f"a date is written year-month-day: {day.isoformat()}; "
    return ""


def _slashed(first: str, second: str, third: str, rest: str | None) -> str:
    """A date with slashes or dots: year first is one date; day and month first may be either, both said."""
    rest = rest or ""
    if len(first) == 4:
        candidates = [(first, second, third)]
    elif len(third) == 4:
        candidates = [(third, first, second), (third, second, first)]  # month first (US), day first (most others)
    else:
        return ""
    said = []
    for year, month, day in candidates:
        try:
            iso = date(int(year), int(month), int(day)).isoformat()
        except ValueError:
            continue
        if iso + rest not in said:
            said.append(iso + rest)
    if not said:
        return ""
    if len(said) == 1:
        return f"a date is written year-month-day: {said[0]}; "
    return f"a date is written year-month-day: {said[0]} (month first) or {said[1]} (day first); "


def _zone_word(when: str, word: str) -> str:
    """A time followed by a zone's name (``13:00 Europe/Berlin``, ``13:00 CET``): written with that zone's offset then
    where the word is an IANA zone (CET is one), else told to write the offset."""
    from zoneinfo import ZoneInfo

    try:
        local = datetime.fromisoformat(when).replace(tzinfo=ZoneInfo(word))
        offset = local.isoformat()[len(local.replace(tzinfo=None).isoformat()) :]
    except (ValueError, OSError, KeyError):  # (zoneinfo's not-found error is a KeyError)
        return (
            f"a zone's name or abbreviation ({word}) is not read after a time: write the time with its offset "
            f"(as {when}+01:00 for an hour ahead of UTC) or Z for UTC; "
        )
    return f"a zone's name ({word}) is not read after a time: write its offset there, {when}{offset}; "
