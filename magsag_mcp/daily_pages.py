"""Pages of the daily report (the ``daily_usage`` tool, ``Magsag.daily``; ``magsag flow daily`` prints it whole): its
rows, ordered by day then agent, after a cursor that names the last row shown (its day and agent), as query_runs'
names its last run: a row recorded meanwhile on a day already shown moves no later row onto a page seen twice.

The ledger sums a report whole (its rows are one per agent and day: a month of 200 agents is 6,000), so a page is cut
from them here, not in SQL."""

from __future__ import annotations

import re
from typing import Any

from .errors import InputError
from .ledger.paging import _shown, _values, encode_cursor
from .plurals import agreeing, counted

#: the most rows a page holds (as a ledger filter's limit)
MAX_LIMIT = 10_000

_TAG = "day"  # a daily cursor's first value: a query_runs or search_usage cursor's is a time
#: said alike by the MCP tool and Magsag.daily, whose argument and keyword are both ``cursor``: it names the report,
#: not one of them (it named the tool daily_usage to a Python caller of mg.daily)
_BAD = (
    "cursor {cursor!r} is not a next_cursor of the daily report's pages: pass the previous page's next_cursor "
    "unchanged, or leave cursor out to start from the first day"
)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def unbounded_note(days: int) -> str:
    """What the report says of its rows whose ``at_most_usd`` is null (``flow daily`` prints it on stderr)."""
    return (
        f"{counted(days, 'agent-day')} {agreeing(days, 'holds', 'hold')} an attempt of no known price (at_most_usd "
        "null), which known_cost_usd leaves out; price its model in prices.yaml to count the calls made after that"
    )


def _after(cursor: str) -> tuple[str, str]:
    values = _values(cursor, _BAD, (3, 3))
    tag, day, agent = values
    if tag != _TAG or not isinstance(day, str) or not _DATE.fullmatch(day) or not isinstance(agent, str):
        raise InputError(_BAD.format(cursor=_shown(cursor)))
    return day, agent


def _checked_limit(limit: Any) -> int | None:
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InputError(
            f"limit must be a whole number of rows from 1 to {MAX_LIMIT} (e.g. 100), or left out for all of them, "
            f"not {limit!r}"
        )
    return limit


def daily_page(rows: list[dict[str, Any]], limit: Any, cursor: str | None, timezone: str | None) -> dict[str, Any]:
    """The ``limit`` rows of ``rows`` (the ledger's ``agent_days``, in order) after ``cursor``, as a page: ``days``,
    ``has_more``, ``next_cursor``, ``timezone`` (the zone the days are, "UTC" for none) and ``notes`` (of the
    page's rows of unbounded cost)."""
    size = _checked_limit(limit)
    if cursor:  # ("" is none, as an MCP client sends an optional argument left out)
        place = _after(cursor)
        rows = [row for row in rows if (row["date"], row["agent"]) > place]
    shown = rows if size is None else rows[:size]
    has_more = len(shown) < len(rows)
    last = shown[-1] if shown else None
    unbounded = sum(1 for row in shown if row["at_most_usd"] is None)
    return {
        "days": shown,
        "has_more": has_more,
        "next_cursor": encode_cursor(_TAG, last["date"], last["agent"]) if has_more and last else None,
        "timezone": timezone or "UTC",
        "notes": [unbounded_note(unbounded)] if unbounded else [],
    }
