"""Searching the ledger: attempts, events and runs whose text matches a pattern (RE2, linear), newest first, paged,
bounded in time so a rare pattern over a large ledger does not hold the shared reader."""

from __future__ import annotations

import json
import re
import sqlite3
import time
from typing import TYPE_CHECKING, Any

from ..durations import seconds
from ..errors import InputError
from .filters import python_time, read_window_start
from .paging import after_hit, check_same_pattern, decode_hit_cursor, encode_cursor, pattern_digest
from .patterns import compile_pattern
from .run_pages import _ATTEMPT_COLS, _attempt_dict
from .times import iso_time as _iso

if TYPE_CHECKING:
    from .reports import LedgerReports
    from .times import Since


#: how long one search may scan: RE2 keeps each match linear, this keeps a rare pattern over a large
#: ledger from holding the (shared) reader connection
SEARCH_SECONDS = 10.0


async def search(
    ledger: LedgerReports, pattern: str, limit: int = 50, since: Since = None
) -> list[dict[str, Any]]:
    """Attempts and events whose error, warnings, names, run id or payload match ``pattern`` (case-insensitive), and
    runs whose own error does (a call that failed before any attempt), newest first; ``since`` (``7d``, an
    ISO date, ...) bounds how far back it looks.

    The text matched is the row's fields joined by spaces: an attempt's provider, model, outcome, error
    class and message, skill, agent and run id (so '^openai gpt-4o error' and 'claude.*error' match across
    them), then its warnings where it has any (their JSON list, each string as written: 'answered as' finds an Azure
    deployment's answer from another model); an event's name, data (its JSON, each string as written: see
    :func:`json_as_written`), agent and run id; a run's error class and message, skill, agent and run id."""
    return (await search_page(ledger, pattern, limit, since))["hits"]


async def search_page(
    ledger: LedgerReports, pattern: str, limit: int = 50, since: Since = None, cursor: str | None = None
) -> dict[str, Any]:
    """``{"hits", "has_more", "next_cursor"}``: :func:`search`'s hits after ``cursor`` (a page's
    ``next_cursor``: see paging.py), whether more matched, and where the next page starts."""
    if type(limit) is not int or not 1 <= limit <= 10_000:  # True is an int to Python, and no count of hits
        raise InputError(f"limit must be between 1 and 10000, got {limit!r}")
    rx = compile_pattern(pattern)
    digest = pattern_digest(pattern)
    place = decode_hit_cursor(cursor) if cursor else None
    check_same_pattern(cursor, digest)  # (a place among another pattern's hits: this one's newer hits left out)
    since = python_time(since)
    start, window = read_window_start(since, cursor, hits=True)  # "24h" read once for the pages after this one
    after = start if start is not None else float("-inf")

    def q(conn: sqlite3.Connection) -> dict[str, Any]:
        conn.create_function("re_match", 1, lambda s: s is not None and rx.search(s) is not None, deterministic=True)
        conn.create_function("json_as_written", 1, json_as_written, deterministic=True)
        deadline = time.monotonic() + SEARCH_SECONDS
        conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
        try:
            hits = _search_rows(conn, limit + 1, after, place)  # one more than asked: whether more matched
        except sqlite3.OperationalError as exc:
            if "interrupt" not in str(exc):
                raise
            raise InputError(
                f"search for {pattern!r} was still scanning after {seconds(SEARCH_SECONDS)} (it matches rarely in a "
                "large ledger); narrow it with since, e.g. --since 7d"
            ) from None
        finally:
            conn.set_progress_handler(None, 0)
        more = len(hits) > limit
        return {
            "hits": [hit for _, hit in hits[:limit]],
            "has_more": more,
            "next_cursor": encode_cursor(*hits[limit - 1][0], since=window, filters=digest) if more else None,
        }

    return await ledger.read(q)


def _search_rows(
    conn: sqlite3.Connection, limit: int, after: float, place: tuple[float, int, int | str] | None
) -> list[tuple[tuple[float, int, int | str], dict[str, Any]]]:
    """The first ``limit`` hits after ``place``, each with its own place (time, kind, row key)."""
    hits: list[tuple[tuple[float, int, int | str], dict[str, Any]]] = []
    past, args = after_hit(place, 0, "started_at", "id")
    rows = conn.execute(
        f"SELECT id, {_ATTEMPT_COLS} FROM attempts WHERE started_at >= ?{past} AND re_match(provider || ' ' || model"
        " || ' ' || outcome || ' ' || coalesce(error_class, '') || ' ' || coalesce(error_message, '') || ' '"
        " || coalesce(skill, '') || ' ' || coalesce(agent, '') || ' ' || run_id"
        # its warnings (an Azure deployment's 'answered as' another model, a setting left out, a cost unknown): what an
        # audit looks for, which the answer said beside its text (NULL for most attempts: no call into Python)
        " || CASE WHEN warnings IS NULL THEN '' ELSE ' ' || json_as_written(warnings) END)"
        " ORDER BY started_at DESC, id DESC"
        " LIMIT ?",
        (after, *args, limit),
    ).fetchall()
    for row in rows:
        hits.append(((row[2], 0, row[0]), {"kind": "attempt", **_attempt_dict(row[1:]), "run_id": row[1]}))
    past, args = after_hit(place, 1, "at", "id")
    rows = conn.execute(
        f"SELECT id, run_id, agent, at, event, data FROM events WHERE at >= ?{past} AND re_match(event || ' '"
        " || coalesce(json_as_written(data), '') || ' ' || coalesce(agent, '') || ' ' || coalesce(run_id, ''))"
        " ORDER BY at DESC, id DESC"
        " LIMIT ?",
        (after, *args, limit),
    ).fetchall()
    for key, run_id, agent, at, event, data in rows:
        hits.append(
            (
                (at, 1, key),
                {
                    "kind": "event",
                    "time": _iso(at),
                    "run_id": run_id,
                    "agent": agent,
                    "event": event,
                    "data": stored_event_data(data),
                },
            )
        )
    # A run's own error where no attempt carries it (an invalid payload, an unknown skill: the call failed
    # before any model was asked); the errors made of attempts' failures are found in those attempts.
    # The time bound is on started_at, which runs_started indexes (such a run ends as it starts): on
    # ended_at every search read all of runs, 836,000 rows in a year's ledger, whatever its since.
    past, args = after_hit(place, 2, "coalesce(ended_at, started_at)", "run_id")
    rows = conn.execute(
        "SELECT run_id, agent, skill, status, coalesce(ended_at, started_at) AS at, error_class, error_message"
        f" FROM runs WHERE error_class IS NOT NULL AND error_class NOT IN ({', '.join('?' * len(_ATTEMPT_ERRORS))})"
        f" AND started_at >= ?{past} AND re_match(error_class || ' ' || coalesce(error_message, '')"
        " || ' ' || coalesce(skill, '') || ' ' || coalesce(agent, '') || ' ' || run_id) ORDER BY at DESC, run_id DESC"
        " LIMIT ?",
        (*_ATTEMPT_ERRORS, after, *args, limit),
    ).fetchall()
    for run_id, agent, skill, status, at, error_class, error_message in rows:
        hits.append(
            (
                (at, 2, run_id),
                {
                    "kind": "run",
                    "time": _iso(at),
                    "run_id": run_id,
                    "agent": agent,
                    "skill": skill,
                    "status": status,
                    "error": {"type": error_class, "message": error_message},
                },
            )
        )
    # the order pages are cut in: newest first; at one instant by kind, then (a stable sort keeps each
    # query's order) by row key descending
    hits.sort(key=lambda h: (-h[0][0], h[0][1]))
    return hits[:limit]


def stored_event_data(data: str | None) -> Any:
    """An event's stored data, read back. NaN and the infinities as an event logged now stores them (see
    :func:`~.events.event_json`), the strings "NaN", "Infinity" and "-Infinity": an older version stored them as
    bare words, no JSON, which read back as floats a search hit printed bare again (jq refused the whole output)."""
    return json.loads(data, parse_constant=str) if data else None


#: an escape in a JSON string: a quote, a backslash, a slash or a control character (events are written with
#: ensure_ascii=False: no other character is written as a \u escape)
_JSON_ESCAPE = re.compile(r'\\(["\\/bfnrt]|u[0-9a-fA-F]{4})')
_ESCAPED = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def json_as_written(data: str | None) -> str | None:
    r"""An event's data as its JSON with each string's escapes undone. Matched as stored, ``he said "hi"`` was
    ``he said \"hi\"``, a line break the two characters ``\n`` and ``C:\temp`` ``C:\\temp``: a search for the text
    a value holds found nothing, and '.' crossed no line break in it as it does in an error body."""
    if data is None or "\\" not in data:
        return data
    return _JSON_ESCAPE.sub(lambda m: _unescaped(m.group(1)), data)


def _unescaped(escape: str) -> str:
    if escape[0] == "u":
        code = int(escape[1:], 16)
        # half of a pair (an older ledger's ensure_ascii JSON): kept escaped, as no text RE2 can take alone
        return "\\" + escape if 0xD800 <= code <= 0xDFFF else chr(code)
    return _ESCAPED.get(escape, escape)


#: the run errors that its attempts' failures make up, and that those attempts carry
_ATTEMPT_ERRORS = ("all_targets_failed", "policy_denied", "budget_exceeded")
