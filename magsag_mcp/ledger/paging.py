"""Paging runs by a cursor: the place after the last run of a page, not a count of runs to skip.

Runs are read newest first (``started_at DESC, run_id``). An offset counts from the newest run, so
every run recorded between two pages pushed the older ones down, and the next page began with runs
already seen. A cursor names the last run shown (its start and id); the next page is the runs after
it in that order, whatever has been recorded since. (A call that was in flight when a page was read
and started before that page's last run is recorded below the cursor, and no later page shows it:
read again from the newest run to see it. Such a call of a run a page listed moves the run's start back
to its own, and a later page may list the run again, with that call.)

A window's start given as a duration ("24h") is read by the first page, and its cursor carries the start it read
(:func:`pinned_since`): read again by each page, it moved on between them, and the runs that aged past it
meanwhile were on no page.

A run's cursor carries a digest of the filters its page was read with (:func:`filters_digest`): it names a place in
those runs' order alone, and given with other filters (none, in particular) it listed every run after that place, of
every agent, with nothing said. A cursor given with other filters (but for the window: a cursor is a place in time)
is refused (:func:`check_same_filters`); one made before the digest was carried (two or four items) is taken as it
always was.

A search hit's cursor carries a digest of its pattern so (:func:`pattern_digest`): given with another pattern, it paged
on from the place among the first pattern's hits, the second's newer hits left out, with nothing said. Refused now
(:func:`check_same_pattern`); one made before (three or five items) is taken as it always was.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
from typing import Any

from ..errors import InputError, excerpt
from ..text import check_text, surrogate_at

_BAD = (
    "cursor {cursor!r} is not one query_runs gave: pass the previous page's next_cursor unchanged, "
    "or leave cursor out to start from the newest run"
)


def _shown(cursor: str) -> str:
    """The start of a cursor that is none, for its refusal: redacted before it is cut (:func:`~..errors.excerpt`), as a
    key given in its place (the wrong variable) longer than the cut was no longer the whole key redact() removes."""
    return excerpt(cursor, 80)


def encode_cursor(
    *place: float | int | str, since: tuple[str, float] | None = None, filters: str | None = None
) -> str:
    """An opaque token for the place just after a run (its start and id) or a search hit (its time, kind and
    row key): URL-safe, unpadded. ``since``: a window's start given as a duration ("24h") and the time it was
    read as, which a page after this one keeps (see :func:`pinned_since`). ``filters``: a run page's
    :func:`filters_digest`, or a hit page's :func:`pattern_digest`, last."""
    items = [*place, *(since or ()), *((filters,) if filters is not None else ())]
    raw = json.dumps(items, separators=(",", ":"), ensure_ascii=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _values(cursor: str, bad: str, sizes: tuple[int, ...]) -> list[Any]:
    """The JSON list a cursor holds, of one of ``sizes`` items (a place, or a place and a window's start)."""
    check_text(cursor, "cursor")
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, TypeError, RecursionError):  # nested past what json takes
        raise InputError(bad.format(cursor=_shown(cursor))) from None
    if not isinstance(values, list) or len(values) not in sizes:
        raise InputError(bad.format(cursor=_shown(cursor)))
    return values


def pinned_since(cursor: str | None, since: Any, *, hits: bool = False) -> Any:
    """``since`` as the page before read it, when it is a duration ("24h") and ``cursor`` (that page's next_cursor,
    of runs or, with ``hits``, of search hits) says so: read again, each page's window began later, and the
    runs (hits) that had aged past its start by the time the next page was read (a query_runs page, a second
    ``data query --cursor``) were on no page. Otherwise ``since`` as given (another window than the cursor's)."""
    if not cursor or not isinstance(since, str):
        return since
    values = _values(cursor, _BAD_HIT if hits else _BAD, _HIT_SIZES if hits else _RUN_SIZES)
    # after the place (a hit's 3 items, a run's 2): the window's text and time, if any (then a digest, if any)
    window = values[3:5] if hits else values[2:4]
    if len(window) == 2 and window[0] == since:
        seconds = window[1]
        # a time magsag could have read (a crafted 1e300 would be refused as the since it never was)
        if type(seconds) not in (int, float) or not abs(seconds) < 1e11:
            raise InputError((_BAD_HIT if hits else _BAD).format(cursor=_shown(cursor)))
        return float(seconds)
    return since


#: a run cursor's items: its place, the window's start read (see pinned_since), the filters' digest, each one if any
_RUN_SIZES = (2, 3, 4, 5)
#: the filters a run cursor's digest is of: those that choose runs by what they are. The window (since, until) may
#: change between pages, as limit and offset may: the cursor is a place in time, and a window bounds it in time
RUN_FILTERS = ("agent", "run_id", "skill", "model", "provider", "status")
_DIGEST = "f:"
#: (``{flag}``: as :data:`_OTHER_PATTERN`'s: "--" where `magsag data query` says it, whose user gave --cursor)
_OTHER_FILTERS = (
    "{flag}cursor {cursor!r} was given by a page read with other filters than these ({names}): it names where that "
    "page ended among the runs its filters chose, and with these it would list every run after that place that these "
    "choose; give it with the same filters as that page (a window, {flag}limit and {flag}offset may differ), or leave "
    "{flag}cursor out to start from the newest run"
)


def filters_digest(filters: Any) -> str:
    """A short digest of the :data:`RUN_FILTERS` of ``filters`` (a ``UsageFilters`` as built: a provider's alias and
    a status's case read as the ledger records them, so that either way of writing one is the same filter)."""
    chosen = [getattr(filters, key, None) for key in RUN_FILTERS]
    raw = json.dumps(chosen, separators=(",", ":"), ensure_ascii=True, default=str).encode()
    return _DIGEST + hashlib.sha256(raw).hexdigest()[:16]


def check_same_filters(cursor: str | None, digest: str, *, flag: str = "") -> None:
    """Refuse a run ``cursor`` made by a page read with filters whose digest is not ``digest``; one carrying no
    digest (made before it was carried) is taken. ``flag``: as :func:`check_same_pattern`'s ("--": the filters named
    as the command line's options, ``--run-id``)."""
    if not cursor:
        return
    decode_cursor(cursor)  # (one query_runs never gave is refused as that first)
    values = _values(cursor, _BAD, _RUN_SIZES)
    if len(values) in (3, 5) and values[-1] != digest:
        names = ", ".join(flag + (name.replace("_", "-") if flag else name) for name in RUN_FILTERS)
        raise InputError(_OTHER_FILTERS.format(cursor=_shown(cursor), names=names, flag=flag))


def decode_cursor(cursor: str) -> tuple[float, str]:
    values = _values(cursor, _BAD, _RUN_SIZES)
    if len(values) in (3, 5) and not (isinstance(values[-1], str) and values[-1].startswith(_DIGEST)):
        raise InputError(_BAD.format(cursor=_shown(cursor)))
    try:
        started_at, run_id = values[:2]
        # a number too large for a float (an int of 400 digits) overflows here, not in the query
        started_at = float(started_at) if type(started_at) in (int, float) else None
    except OverflowError:
        raise InputError(_BAD.format(cursor=_shown(cursor))) from None
    # a run id that is no text SQLite can bind ("\ud800": an unpaired surrogate) names no run either
    if (
        started_at is None
        or not math.isfinite(started_at)
        or not isinstance(run_id, str)
        or surrogate_at(run_id, "cursor") is not None
    ):
        raise InputError(_BAD.format(cursor=_shown(cursor)))
    return started_at, run_id


def after_cursor(where: str, args: list[Any], cursor: str | None, table: str = "r") -> tuple[str, list[Any]]:
    """``where`` narrowed to the runs after ``cursor`` in newest-first order (no cursor: unchanged)."""
    if not cursor:
        return where, args
    started_at, run_id = decode_cursor(cursor)
    clause = f"({table}.started_at < ? OR ({table}.started_at = ? AND {table}.run_id > ?))"
    return (f"{where} AND {clause}" if where else f" WHERE {clause}"), [*args, started_at, started_at, run_id]


#: (said alike by the MCP tool search_usage and Magsag.search: it names the search, not one of them)
_BAD_HIT = (
    "cursor {cursor!r} is not a next_cursor of a search's pages: pass the previous page's next_cursor unchanged "
    "(with the same pattern), or leave cursor out to start from the newest hit"
)
#: a search hit's kind, in the order hits of one instant are shown; its row key is an int id, or a run id
HIT_KINDS = ("attempt", "event", "run")


#: a hit cursor's items: its place (3), the window's start read (2, see pinned_since), the pattern's digest, each if any
_HIT_SIZES = (3, 4, 5, 6)
_PATTERN = "p:"
#: (``{flag}``: what names an option where the refusal is read: "" for the MCP tool's arguments and Python's keywords,
#: "--" for the command line's, whose user gave --cursor and was told to "leave cursor out")
_OTHER_PATTERN = (
    "{flag}cursor {cursor!r} was given by a page of a search for another pattern: it names where that search's hits "
    "ended, and with this pattern it would page on from there, this pattern's newer hits left out; give it with the "
    "same pattern as that page ({flag}since and {flag}limit may differ), or leave {flag}cursor out to start from the "
    "newest hit"
)


def pattern_digest(pattern: str) -> str:
    """A short digest of a search's ``pattern`` as given, which its hits' cursors carry, last."""
    return _PATTERN + hashlib.sha256(pattern.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def check_same_pattern(cursor: str | None, digest: str, *, flag: str = "") -> None:
    """Refuse a hit ``cursor`` made by a page of a search whose pattern's digest is not ``digest``; one carrying no
    digest (made before it was carried) is taken. ``flag``: what the surface that reads the refusal writes before an
    option's name ("--" on the command line, which checks this before the ledger's read does)."""
    if not cursor:
        return
    values = _values(cursor, _BAD_HIT, _HIT_SIZES)
    if len(values) in (4, 6) and values[-1] != digest:
        raise InputError(_OTHER_PATTERN.format(cursor=_shown(cursor), flag=flag))


def decode_hit_cursor(cursor: str) -> tuple[float, int, int | str]:
    """The place ``encode_cursor(time, kind, key)`` named (``kind`` an index into :data:`HIT_KINDS`)."""
    values = _values(cursor, _BAD_HIT, _HIT_SIZES)
    if len(values) in (4, 6) and not (isinstance(values[-1], str) and values[-1].startswith(_PATTERN)):
        raise InputError(_BAD_HIT.format(cursor=_shown(cursor)))
    try:
        at, kind, key = values[:3]
        at = float(at) if type(at) in (int, float) else None
    except OverflowError:
        raise InputError(_BAD_HIT.format(cursor=_shown(cursor))) from None
    keyed = type(kind) is int and 0 <= kind < len(HIT_KINDS) and type(key) is (str if kind == 2 else int)
    if at is None or not math.isfinite(at) or not keyed or (isinstance(key, int) and abs(key) >= 2**63):
        raise InputError(_BAD_HIT.format(cursor=_shown(cursor)))
    if isinstance(key, str) and surrogate_at(key, "cursor") is not None:
        raise InputError(_BAD_HIT.format(cursor=_shown(cursor)))
    return at, kind, key


def after_hit(place: tuple[float, int, int | str] | None, kind: int, at: str, key: str) -> tuple[str, list[Any]]:
    """`` AND ...``: the rows of one kind (time column ``at``, row key ``key``) after ``place``, in the order
    hits are shown (time descending; at one instant by kind, then by key descending)."""
    if place is None:
        return "", []
    t, k, row = place
    if kind != k:  # a kind shown before the cursor's at its instant is past it there; one after, not yet
        return (f" AND {at} < ?", [t]) if kind < k else (f" AND {at} <= ?", [t])
    return f" AND {at} <= ? AND ({at} < ? OR {key} < ?)", [t, t, row]
