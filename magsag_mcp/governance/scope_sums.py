"""What a limit's scope has spent and holds: the sums a reservation reads before it is made.

A scope is a run with its delegated runs (one level deep: ``run_scope_rows``), a day, or an agent's day, its days
in the limit's time zone (:func:`day_bounds`). Each read returns (recorded spend, bound on unknown costs, open
reservations) in pico-USD, with SQLite's own SUM first and the exact sum only where that overflowed (past about
$9.2M): :mod:`.budget` makes the reservations, this module only reads.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from ..ledger.migrations import SPEND_BUCKET_SECONDS
from ..ledger.money import SumSQL, exact_sum, joined, scalar_sum
from ..ledger.run_scope import run_scope_rows
from ..ledger.sealed_spend import sealed_sums
from .policy import BY_AGENT, MONTHLY, Limit

__all__ = [
    "day_bounds", "month_bounds", "parent_and_run_sums", "run_spend", "scope_sums", "spent_and_reserved",
    "window_bounds",
]  # fmt: skip


@lru_cache(maxsize=256)
def _bounds(zone: str, quarter: int) -> tuple[float, float]:
    tz = ZoneInfo(zone)
    local = datetime.fromtimestamp(quarter * SPEND_BUCKET_SECONDS, tz)
    # fold=0: where midnight comes twice (Havana leaves DST at 01:00 for 00:00) the day begins at the first;
    # in the repeated hour the clock reads fold=1, which would start the day an hour late, without that hour.
    start = local.replace(hour=0, minute=0, second=0, microsecond=0, fold=0)
    end = (start + timedelta(days=1)).replace(tzinfo=None).replace(tzinfo=tz)  # next local midnight (DST-safe)
    return start.timestamp(), end.timestamp()


def day_bounds(now: float, zone: str) -> tuple[float, float]:
    """The local day containing ``now`` in ``zone``, as unix seconds [start, end)."""
    # Midnight in every zone falls on a 15-minute edge, so the quarter-hour decides the day.
    return _bounds(zone, int(now // SPEND_BUCKET_SECONDS))


@lru_cache(maxsize=256)
def _month_bounds(zone: str, day_start: float) -> tuple[float, float]:
    tz = ZoneInfo(zone)
    local = datetime.fromtimestamp(day_start, tz)
    # the month's first midnight and the next month's, each as its day's start (fold=0: see _bounds)
    first = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0, fold=0)
    year, month = (first.year + 1, 1) if first.month == 12 else (first.year, first.month + 1)
    following = first.replace(year=year, month=month)
    return _day_start(first), _day_start(following)


def _day_start(local: datetime) -> float:
    """The start of the local day ``local`` (a midnight, fold=0) is in, as unix seconds: a zone whose clocks skip
    midnight (America/Havana's spring) starts that day at the first time it has, as :func:`day_bounds` does."""
    return day_bounds(local.timestamp(), str(local.tzinfo))[0]


def month_bounds(now: float, zone: str) -> tuple[float, float]:
    """The calendar month containing ``now`` in ``zone``, as unix seconds [start, end): from the first local day's
    start (:func:`day_bounds`) to the next month's, so a month is its days, each as a day limit counts it."""
    return _month_bounds(zone, day_bounds(now, zone)[0])


def window_bounds(limit: Limit, now: float) -> tuple[float, float]:
    """The window a day or month limit counts at ``now``, in its zone: [start, end) in unix seconds."""
    return month_bounds(now, limit.zone) if limit.kind in MONTHLY else day_bounds(now, limit.zone)


def _plain_sum(expr: str) -> str:
    """SQLite's own SUM, one column: what every reservation reads first (see :func:`_scope_sums`)."""
    return f"COALESCE(SUM({expr}), 0)"


def _spent(s: SumSQL) -> str:
    """A scope's spend and bound (two columns each with :func:`~..ledger.money.exact_sum`): a year of an
    organisation's spend passes what SQLite's integer SUM can add."""
    return f"{s('cost_pusd')}, {s('cost_bound_pusd')}"


def _held(s: SumSQL, where: str = "") -> str:
    """The open reservations in a scope (scalar subqueries: a subquery in FROM cost more), and the id of one of them
    that holds no known bound, or NULL (see :func:`scope_sums`)."""
    loose = f"(SELECT id FROM budget_reservations WHERE unbounded{where.replace(' WHERE ', ' AND ')} LIMIT 1)"
    if s is _plain_sum:
        return f"(SELECT {_plain_sum('amount_pusd')} FROM budget_reservations{where}), {loose}"
    return scalar_sum(s, "amount_pusd", "FROM budget_reservations" + where) + f", {loose}"


# The statements below take their parameters by number (``?1``), bound from a tuple: a dict binds each name through a
# string made from it and looked up, with the GIL released and taken again around SQLite's lookup of the name, some
# 1,500 instructions a parameter more than a tuple's (every reservation binds the run, or the agent and its day's
# first and last bucket). A number may stand in several places, as a name does.
_SCOPE_ROWS = run_scope_rows("?1")


def _both(statement: Callable[[SumSQL], str]) -> tuple[str, str]:
    """``statement`` with SQLite's SUM, and with the exact sum, written once: every reservation reads
    its scope, and building the SQL text per call would cost more than the read."""
    return statement(_plain_sum), statement(exact_sum)


_RUN_SPENT = _both(lambda s: f"SELECT {_spent(s)}, {_held(s, ' WHERE run_id = ?1')} FROM ({_SCOPE_ROWS})")
# A run's parent and the run's own scope, in one statement: a lone reservation (most are) of a run with no parent,
# whose budget run is itself, would otherwise read the run's row twice, and one of a run not recorded yet (a new
# run's first call: most are) would read the reservations in flight on its own for the parent its first call, still
# in flight, may have been delegated from (see known_parent). The parent column is the recorded parent, 0 for a
# recorded run without one (a run id is text), else that delegated run's first reservation's budget run, else NULL:
# COALESCE reads the reservations only for a run not recorded.
_PARENT_AND_RUN_SPENT = _both(
    lambda s: (
        "SELECT coalesce((SELECT ifnull(parent_run_id, 0) FROM runs WHERE run_id = ?1), (SELECT run_id FROM"
        " budget_reservations WHERE attempt_run_id = ?1 AND run_id != attempt_run_id ORDER BY id LIMIT 1)),"
        f" {_spent(s)}, {_held(s, ' WHERE run_id = ?1')} FROM ({_SCOPE_ROWS})"
    )
)
# A batch's run scopes, without their holds (the batch reads those for every run at once: held_in_flight): a run's
# recorded parent (as above, 0 for none, NULL for a run not recorded) with its spend, and a budget run's spend.
_PARENT_AND_RUN_SPEND = _both(
    lambda s: f"SELECT (SELECT ifnull(parent_run_id, 0) FROM runs WHERE run_id = ?1), {_spent(s)} FROM ({_SCOPE_ROWS})"
)
_RUN_SPEND = _both(lambda s: f"SELECT {_spent(s)} FROM ({_SCOPE_ROWS})")
# (the day's first bucket and the next day's first)
_DAY_SPENT = _both(lambda s: f"SELECT {_spent(s)}, {_held(s)} FROM day_spend WHERE bucket >= ?1 AND bucket < ?2")
# Every open reservation of the agent counts, whenever it was made: one made just before midnight may be
# sent after it, and its spend then lands in the new day. (The agent, then the day's buckets as _DAY_SPENT's.)
# a month's buckets before its last hours, without the holds (see sealed_spend): all calls', an agent's
_DAY_SPEND = _both(lambda s: f"SELECT {_spent(s)} FROM day_spend WHERE bucket >= ?1 AND bucket < ?2")
_AGENT_SPEND = _both(lambda s: f"SELECT {_spent(s)} FROM agent_spend WHERE agent = ?1 AND bucket >= ?2 AND bucket < ?3")
_AGENT_DAY_SPENT = _both(
    lambda s: (
        f"SELECT {_spent(s)}, {_held(s, ' WHERE agent = ?1')} FROM agent_spend"
        " WHERE agent = ?1 AND bucket >= ?2 AND bucket < ?3"
    )
)


def _sums_read(
    conn: sqlite3.Connection | sqlite3.Cursor, statements: tuple[str, str], args: tuple[Any, ...], lead: int, sums: int
) -> tuple[Any, ...]:
    """The row of ``statements`` (:func:`_both`'s pair): its ``lead`` columns first as they are, then its ``sums``
    pico-USD sums, then the rest as they are. Read with SQLite's SUM (one column a sum, as cheap as a read can be, on
    every reservation), and again with the exact sum (two columns a sum: see :func:`~..ledger.money.joined`) only
    where that overflowed (past about $9.2M). The one fallback of every read here, each of which wrote it out for
    its own columns."""
    plain, exact = statements
    try:
        row = conn.execute(plain, args).fetchone()
    except sqlite3.OperationalError as exc:
        if str(exc) != "integer overflow":
            raise
        row = conn.execute(exact, args).fetchone()
        end = lead + 2 * sums
        return (*row[:lead], *(joined(row[i], row[i + 1]) for i in range(lead, end, 2)), *row[end:])
    end = lead + sums
    return (*row[:lead], *map(int, row[lead:end]), *row[end:])


def _scope_sums(
    conn: sqlite3.Connection | sqlite3.Cursor, statements: tuple[str, str], args: tuple[Any, ...]
) -> tuple[int, int, int, int | None]:
    """The three sums of a scope and its hold of no known bound (see :func:`scope_sums`), exact past SQLite's integer
    (:func:`_sums_read`)."""
    return _sums_read(conn, statements, args, 0, 3)  # type: ignore[return-value]


def parent_and_run_sums(
    conn: sqlite3.Connection | sqlite3.Cursor, run_id: str
) -> tuple[str | None, tuple[int, int, int, int | None]]:
    """The run's parent (:func:`~.delegation.known_parent`: recorded, else its first call's, delegated and still in
    flight) and what :func:`scope_sums` reads for a run limit with ``run_id`` as the budget run (its spend,
    its delegated runs', its holds), in one statement."""
    parent, *sums = _sums_read(conn, _PARENT_AND_RUN_SPENT, (run_id,), 1, 3)
    return parent if isinstance(parent, str) else None, tuple(sums)  # type: ignore[return-value]


def run_spend(cur: sqlite3.Cursor, run_id: str | None, with_parent: bool) -> tuple[Any, int, int]:
    """(the parent :data:`_PARENT_AND_RUN_SPEND` reads, or None without ``with_parent``; spend; bound) of the scope of
    ``run_id`` as a budget run, exact past SQLite's integer as :func:`_scope_sums` is."""
    if with_parent:
        return _sums_read(cur, _PARENT_AND_RUN_SPEND, (run_id,), 1, 2)  # type: ignore[return-value]
    return (None, *_sums_read(cur, _RUN_SPEND, (run_id,), 0, 2))


def spent_and_reserved(
    conn: sqlite3.Connection | sqlite3.Cursor, limit: Limit, *, run_id: str | None, agent: str | None, now: float
) -> tuple[int, int, int]:
    """(recorded spend, bound on unknown costs, open reservations) in pico-USD for the scope of ``limit``: the first
    three of :func:`scope_sums`."""
    return scope_sums(conn, limit, run_id=run_id, agent=agent, now=now)[:3]  # type: ignore[return-value]


def scope_sums(
    conn: sqlite3.Connection | sqlite3.Cursor, limit: Limit, *, run_id: str | None, agent: str | None, now: float
) -> tuple[int, int, int, int | None]:
    """(recorded spend, bound on unknown costs, open reservations) in pico-USD for the scope of
    ``limit``: indexed reads. A limit counts all three.

    The bound is the worst case, as estimated before sending, of the attempts of unknown cost (cut
    after they reached the vendor): counting them at $0 would let repeated timeouts pass a limit
    unseen. Every open reservation is 'held': nothing writes the 'settled' state migration 0002
    allowed (an attempt's record deletes its reservation instead), so the sums test only expiry.

    For a run limit, ``run_id`` is the budget run (see :func:`budget_run`): its spend and its
    delegated runs' spend, and every reservation held against it.

    Fourth, the id of a reservation in the scope that holds no known bound (a delegated call's placeholder of a model
    of unknown price, 0020_reservation_unbounded), else None: its $0 in the holds is no bound, which a limit that does
    not allow unpriced models must not take for one. Read in the same statement: most reservations find none.
    """
    if limit.kind == "run":
        return _scope_sums(conn, _RUN_SPENT, (run_id,))
    # a month is read from the same 15-minute spend buckets as its days (at most 31 x 96 rows of a primary key's
    # range; an agent's, of its own key's): the open reservations are counted as a day limit counts them, whenever made
    start, end = window_bounds(limit, now)
    first, last = int(start // SPEND_BUCKET_SECONDS), int(end // SPEND_BUCKET_SECONDS)
    if limit.kind in MONTHLY:
        # its buckets before the last hours' from the sums kept on the connection while they stand (see sealed_spend),
        # the rest (and the holds) read as a day's
        cut = max(first, int(now // SPEND_BUCKET_SECONDS) - _LIVE_BUCKETS)
        if cut > first:
            c = conn.connection if isinstance(conn, sqlite3.Cursor) else conn
            if limit.kind in BY_AGENT:
                scope: tuple[Any, ...] = ("agent", agent)
                args: tuple[Any, ...] = (agent, first, cut)
                statements = _AGENT_SPEND
            else:
                scope, args, statements = ("all",), (first, cut), _DAY_SPEND
            spent, bound = sealed_sums(c, scope, first, cut, lambda: _spend_sums(conn, statements, args))
            live = _month_rest(conn, limit, agent, cut, last)
            return spent + live[0], bound + live[1], live[2], live[3]
    if limit.kind not in BY_AGENT:
        return _scope_sums(conn, _DAY_SPENT, (first, last))
    return _scope_sums(conn, _AGENT_DAY_SPENT, (agent, first, last))


#: the quarter-hours up to now a month limit's read sums each time (a call recorded in them, started since, leaves the
#: kept sums of the month's earlier buckets standing): two hours
_LIVE_BUCKETS = 8


def _month_rest(
    conn: sqlite3.Connection | sqlite3.Cursor, limit: Limit, agent: str | None, cut: int, last: int
) -> tuple[int, int, int, int | None]:
    """A month's buckets from ``cut`` on and its holds, as a day's are read."""
    if limit.kind in BY_AGENT:
        return _scope_sums(conn, _AGENT_DAY_SPENT, (agent, cut, last))
    return _scope_sums(conn, _DAY_SPENT, (cut, last))


def _spend_sums(
    conn: sqlite3.Connection | sqlite3.Cursor, statements: tuple[str, str], args: tuple[Any, ...]
) -> tuple[int, int]:
    """(spend, bound) of a range of buckets, exact past SQLite's integer (:func:`_sums_read`)."""
    return _sums_read(conn, statements, args, 0, 2)  # type: ignore[return-value]
