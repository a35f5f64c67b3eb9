"""Which runs a time window selects: the runs that began within it, and those begun before it that made a
call within it.

A run's row holds when it began (``started_at``, its first call) and its last call's end; a run lives as long
as its caller keeps it (a long-lived ``Magsag``'s run holds every call it makes, a ``--run-id`` given to each
night's job one call a night). Selected by when they began alone, ``data query --since 24h`` (and the MCP tool
``query_runs``) left out such a run's calls of the last day, which ``flow summarize --since 24h`` counts: the
day's export and table lacked them with no word.

Newest first, the runs begun before the window come after every run begun within it, so a page is read from
the first, by their index on ``started_at`` as before (a page it fills costs nothing more), then from the
second: the runs with an attempt in the window (``attempts_started``), begun before it, which costs a read of
the window's attempts, made only for a page the first part leaves short (a window's last page). A cursor past
the runs begun within the window (its time is before the window's start) leaves none of them, and ``offset``
counts through both in that order.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from .filters import UsageFilters, parse_since, sql_where
from .paging import after_cursor

#: the index SQLite made for ``runs``' primary key (``run_id TEXT PRIMARY KEY``, migration 0001)
RUNS_PRIMARY_KEY = "sqlite_autoindex_runs_1"


def begun_before(
    f: UsageFilters, *, table: str = "r", attempt_per_run: bool = False
) -> tuple[str, str, list[Any]] | None:
    """(FROM source, WHERE clause, its arguments) of the runs (alias ``table``) that ``f``'s other filters select,
    begun before its window (``f.since``) that made a call within it (under an agent filter, a call of that agent,
    as a summary counts the agent's calls); None for a window with no start.

    Read by the list of runs that called in the window (an agent's calls by attempts_agent: a quiet agent's page
    of a month's runs took 30 ms reading every call of that month, where it took 1), each by its primary key:
    the planner otherwise walked an agent's runs (runs_agent) begun before the window, all of them. A run
    filter's runs (the run and those delegated from it, by its two indexes) are few: each one's own calls are
    read (attempts_run_cost), not the list of the window's (a run begun before a 100-day window of a year's
    ledger: 270,000 calls read to find its own, 7 ms became 103)."""
    since, until = parse_since(f.since), parse_since(f.until, field="until")
    if since is None:
        return None
    # the window's other bounds and filters, and its start as the end of when these runs began; under a run
    # filter, its agent's not by runs_agent ("+"), which walked every run of the agent begun before the window
    tree_agent = f.agent if f.run_id is not None else None
    update = {"since": None, "until": until, **({"agent": None} if tree_agent is not None else {})}
    where, args = sql_where(f.model_copy(update=update), table=table, attempt_per_run=attempt_per_run)
    if tree_agent is not None:
        where = f"{where} AND +{table}.agent = ?" if where else f" WHERE +{table}.agent = ?"
        args.append(tree_agent)
    agent = "" if f.agent is None else "attempts.agent = ? AND "
    within = "attempts.started_at >= ?" + ("" if until is None else " AND attempts.started_at < ?")
    if f.run_id is not None:  # the run's own calls, by run id
        called = (
            f"EXISTS (SELECT 1 FROM attempts INDEXED BY attempts_run_cost WHERE attempts.run_id = {table}.run_id"
            f" AND {agent}{within})"
        )
    else:  # the window's calls, as a list
        called = f"{table}.run_id IN (SELECT run_id FROM attempts WHERE {agent}{within})"
    called_args: list[Any] = []
    if f._called_runs:  # a read-only ledger's runs whose dead calls, recorded, would be calls within the window
        called = f"({called} OR {table}.run_id IN (SELECT value FROM json_each(?)))"
        called_args.append(json.dumps(f._called_runs))
    clause = f"{table}.started_at < ? AND {called}"
    source = f"runs {table}" if f.run_id is not None else f"runs {table} INDEXED BY {RUNS_PRIMARY_KEY}"
    args = [*args, since, *(() if f.agent is None else (f.agent,)), since, *(() if until is None else (until,))]
    args += called_args
    return source, (f"{where} AND {clause}" if where else f" WHERE {clause}"), args


def called_within(conn: sqlite3.Connection, f: UsageFilters) -> str | None:
    """The runs of :func:`begun_before`, read once, as a JSON array of their ids for :func:`among` (the
    statements that name them read them from it; each statement that read the window's attempts itself read
    them again: a summary of a 7-day window of 220,000 attempts took 5 s where it had taken 0.3); None when
    there are none (or the window has no start)."""
    before = begun_before(f, attempt_per_run=True)  # a model's attempts looked up for each run that called
    if before is None or not _begun_any_before(conn, parse_since(f.since)):
        return None
    source, where, args = before
    ids = [row[0] for row in conn.execute(f"SELECT r.run_id FROM {source}{where}", args)]
    return json.dumps(ids) if ids else None


def _begun_any_before(conn: sqlite3.Connection, since: Any) -> bool:
    """Whether any run began before ``since`` (one step down runs_started): a window opening before the ledger's
    first run (``--since 30d`` on a ledger a week old, a year's summary) has none to look for, and looking read
    every call in it (a year's ledger: its 1,000,000 attempts, 0.7 s, a summary's time doubled)."""
    return conn.execute("SELECT 1 FROM runs WHERE started_at < ? LIMIT 1", [since]).fetchone() is not None


def among(table: str) -> str:
    """The condition that ``table``'s (an alias of runs) run is one of a JSON array of ids (one argument)."""
    return f"{table}.run_id IN (SELECT value FROM json_each(?))"


def page_rows(
    conn: sqlite3.Connection, f: UsageFilters, columns: str, *, attempt_per_run: bool, rows: int
) -> list[tuple[Any, ...]]:
    """Up to ``rows`` rows of ``columns`` (over ``runs r``), newest first (``started_at DESC, run_id``), of the
    runs ``f`` selects after its cursor and offset, a run begun before ``f.since`` that called within the window
    included."""
    # "24h" read once, for both parts
    f = f.model_copy(update={"since": parse_since(f.since), "until": parse_since(f.until, field="until")})
    order = " ORDER BY started_at DESC, run_id LIMIT ? OFFSET ?"
    where, args = sql_where(f, table="r", attempt_per_run=attempt_per_run)
    where, args = after_cursor(where, args, f.cursor)
    found = conn.execute(f"SELECT {columns} FROM runs r{where}{order}", [*args, rows, f.offset]).fetchall()
    before = begun_before(f, attempt_per_run=attempt_per_run)
    if before is None or len(found) >= rows or not _begun_any_before(conn, f.since):
        return found
    skip = 0
    if not found and f.offset:  # the offset may reach past the runs begun within the window: by how many
        begun = conn.execute(f"SELECT COUNT(*) FROM runs r{where}", args).fetchone()[0]
        skip = max(f.offset - begun, 0)
    source, where, args = before
    where, args = after_cursor(where, args, f.cursor)
    more = conn.execute(f"SELECT {columns} FROM {source}{where}{order}", [*args, rows - len(found), skip])
    return found + more.fetchall()
