"""Sums over the attempts a filter selects, read from ``usage_rollup`` where whole UTC days allow.

``usage_rollup`` keeps per UTC day (and model, provider, agent, skill, outcome) the sums of the
attempts; a summary over months reads thousands of its rows, not millions of attempts. The partial
days at a time range's edges are read from ``attempts`` (indexed by time), and a run or status
filter, which the rollup cannot apply, reads ``attempts`` alone. One function serves every grouping
(by model etc. for summaries, by day for the per-day peaks), so the edge handling exists once.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Callable
from typing import Any

from .filters import UsageFilters, parse_since, rows_in_range, sql_where
from .migrations import ROLLUP_BUCKET_SECONDS
from .money import SumSQL, summed

BUCKET = ROLLUP_BUCKET_SECONDS
#: the UTC day of an attempt, as usage_rollup's bucket numbers it
ATTEMPT_DAY = f"CAST(a.started_at / {BUCKET} AS INTEGER)"


def attempt_money(s: SumSQL) -> str:
    """From attempts, the same sums usage_rollup keeps: known cost, unknown costs, their bounds, bounded
    ones (the money as ``s`` writes it: see :func:`~.money.summed`)."""
    return (
        f"{s('cost_pusd')}, SUM(cost_pusd IS NULL), {s('CASE WHEN cost_pusd IS NULL THEN cost_bound_pusd END')},"
        " SUM(cost_pusd IS NULL AND cost_bound_pusd IS NOT NULL)"
    )


#: :func:`attempt_money` in one column each, as usage_rollup stores them (prune rebuilds a day's rows)
ATTEMPT_MONEY = attempt_money(lambda expr: f"coalesce(SUM({expr}), 0)")
#: from attempts, the costliest call among them (their ``call_cost_pusd``; -1: none), its run and time, as
#: usage_rollup keeps them (call_max_pusd, call_max_run_id, call_max_at): SQLite reads the bare columns from
#: the row of a query's one MAX (see 0016_costliest_call)
ATTEMPT_CALL_MAX = (
    "MAX(coalesce(call_cost_pusd, -1)), CASE WHEN call_cost_pusd IS NOT NULL THEN run_id END,"
    " CASE WHEN call_cost_pusd IS NOT NULL THEN started_at END"
)
#: from attempts, the calls among them, as usage_rollup counts them (calls): a call counts under its last attempt that
#: reached a provider, the one that carries its cost (see 0018_usage_rollup_counts_calls)
ATTEMPT_CALLS = "SUM(call_cost_pusd IS NOT NULL)"
#: from attempts, their cache writes and the 1-hour part of them, as usage_rollup sums them (cache_write_tokens,
#: cache_write_1h_tokens: see 0021_usage_rollup_cache_writes)
ATTEMPT_CACHE_WRITES = "SUM(cache_write_tokens), SUM(cache_write_1h_tokens)"
#: the server tool kinds the rollup counts (0031), a column each, in the columns' order: the ledger's server_tool_uses
#: keys (Usage.server_tool_calls' kinds, every one a provider here reports). A kind outside them, which only a caller
#: of Ledger.record_call could give, is kept on its attempt and summed in no column: a summary reads it from the
#: attempts (:func:`other_tool_uses`)
ROLLUP_TOOL_KINDS = ("web_search", "file_search", "code_interpreter", "image_generation", "grounded_prompt")
#: usage_rollup's columns of the parts of a bill (0031), as a rollup row holding them ends: of the attempts that said
#: each part, its sum and how many said it
ROLLUP_PART_COLUMNS = (
    "output_image_tokens", "output_image_said", "us_inference", "geo_said", "tool_uses_said",
    *(f"{kind}_uses" for kind in ROLLUP_TOOL_KINDS),
    "cache_write_ttl_unsaid_tokens",
    "cache_write_split_past_tokens",
)  # fmt: skip
#: from attempts, the parts of their bill, as usage_rollup sums them (see 0031_usage_rollup_billing_parts and
#: ROLLUP_PART_COLUMNS): the image tokens said and the attempts that said them, those run US-only and those that
#: said where, those that said their server tool calls and the calls of each kind
ATTEMPT_BILLING_PARTS = (
    "coalesce(SUM(output_image_tokens), 0), SUM(output_image_tokens IS NOT NULL),"
    " SUM(coalesce(inference_geo = 'us', 0)), SUM(inference_geo IS NOT NULL), SUM(server_tool_uses IS NOT NULL), "
    + ", ".join(
        f"coalesce(SUM(json_extract(server_tool_uses, '$.{kind}')), 0)"
        for kind in ROLLUP_TOOL_KINDS
    )
    # (0033: NULL on the attempts recorded before it, which counted none)
    + ", coalesce(SUM(cache_write_ttl_unsaid_tokens), 0)"
    # (0036: likewise)
    + ", coalesce(SUM(cache_write_split_past_tokens), 0)"
)
_ROLLUP_FILTERS = ("model", "provider", "agent", "skill")


#: a status filter looks each attempt's run up when the time range holds fewer attempts than this
STATUS_PER_ROW_BELOW = 100_000


def attempts_where(conn: sqlite3.Connection, f: UsageFilters) -> tuple[str, str, list[Any]]:
    """(FROM source, WHERE clause, its arguments): :func:`~.filters.sql_where` over attempts (alias
    ``a``), with the status filter read the cheaper way.

    A status filter read as "the attempts of every run with this status" builds that list first, a
    scan of every run (no index on runs.status): 1.0-1.5 s on 836,000 runs for ``status=ok``, even
    for the last hour's 0 attempts. Within a time range of few attempts (counted by attempts_started,
    at most :data:`STATUS_PER_ROW_BELOW` index entries) it looks each one's run up by primary key
    instead; over a wide range the list stays cheaper (a rare status's runs are few). The source then
    names attempts_started: without ANALYZE statistics the planner preferred walking attempts_model
    in GROUP BY order, the whole table, to the time range.
    """
    since, until = parse_since(f.since), parse_since(f.until, field="until")
    per_row = False
    if f.status is not None and f.run_id is None and (since is not None or until is not None):
        per_row = rows_in_range(conn, "attempts", since, until, STATUS_PER_ROW_BELOW) < STATUS_PER_ROW_BELOW
    where, args = sql_where(f, table="a", status_per_row=per_row)
    return ("attempts a INDEXED BY attempts_started" if per_row else "attempts a"), where, args


def grouped_rows(
    conn: sqlite3.Connection,
    f: UsageFilters,
    *,
    rollup_select: Callable[[SumSQL], str],
    attempts_select: Callable[[SumSQL], str],
    group_by: str,
) -> list[tuple[Any, ...]]:
    """Rows of ``rollup_select`` over usage_rollup and of ``attempts_select`` over attempts (alias
    ``a``), both grouped by ``group_by``; a group may appear once per source, so callers add rows up.
    The selects write their pico-USD sums with the function they are given, two columns each (see
    :func:`~.money.summed`): a year's spend may pass what SQLite's SUM can add."""
    if f.run_id is not None or f.status is not None:
        source, where, args = attempts_where(conn, f)
        return summed(conn, lambda s: f"SELECT {attempts_select(s)} FROM {source}{where} GROUP BY {group_by}", args)
    eq: list[str] = []
    eq_args: list[Any] = []
    for name in _ROLLUP_FILTERS:
        value = getattr(f, name)
        if value is not None:
            eq.append(f"{name} = ?")
            eq_args.append(value)
    since, until = parse_since(f.since), parse_since(f.until, field="until")
    # ceil and floor of the exact times: a since a fraction of a second past midnight leaves that day
    # to the edge query (int() would count the whole day, attempts before the since included)
    first = None if since is None else math.ceil(since / BUCKET)  # first whole bucket
    last = None if until is None else math.floor(until / BUCKET)  # first bucket not wholly inside
    clauses, args = list(eq), list(eq_args)
    if first is not None:
        clauses.append("bucket >= ?")
        args.append(first)
    if last is not None:
        clauses.append("bucket < ?")
        args.append(last)
    where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
    rows = summed(conn, lambda s: f"SELECT {rollup_select(s)} FROM usage_rollup{where} GROUP BY {group_by}", args)
    edges: list[tuple[float, float]] = []
    if since is not None:
        edges.append((since, first * BUCKET if until is None else min(first * BUCKET, until)))  # type: ignore[operator]
    if until is not None:
        edges.append((max(last * BUCKET, since) if since is not None else last * BUCKET, until))  # type: ignore[operator]
    for lo, hi in edges:
        if hi <= lo:
            continue
        edge_where = " AND ".join([*(f"a.{c}" for c in eq), "a.started_at >= ?", "a.started_at < ?"])
        rows += summed(
            conn,
            lambda s: f"SELECT {attempts_select(s)} FROM attempts a WHERE {edge_where} GROUP BY {group_by}",  # noqa: B023
            [*eq_args, lo, hi],
        )
        if since is not None and until is not None and first is not None and last is not None and first > last:
            break  # the range lies inside one bucket: one edge query covered it
    return rows


def other_tool_uses(conn: sqlite3.Connection, f: UsageFilters) -> list[tuple[str, str, str, str, str, int]]:
    """Of the attempts that reached a provider (outcome ok or error) that ``f`` selects, their server tool calls of
    kinds the rollup has no column for (outside :data:`ROLLUP_TOOL_KINDS`), summed: (model, provider, agent, skill,
    kind, calls), an agent or skill of none as ``''``. Left out of the summaries, a user totalling by tool saw less
    than the ledger holds. Read from the attempts whatever the rollup covers: no migration adds a column for a kind
    not known when it was written. Empty for a ledger without the column (an older version's, read where it lies)."""
    source, where, args = attempts_where(conn, f)
    known = ", ".join(f"'{kind}'" for kind in ROLLUP_TOOL_KINDS)
    sql = (
        "SELECT a.model, a.provider, coalesce(a.agent, ''), coalesce(a.skill, ''), kinds.key, SUM(kinds.value)"
        f" FROM {source}, json_each(a.server_tool_uses) kinds{where}"
        f"{' AND ' if where else ' WHERE '}a.server_tool_uses IS NOT NULL AND a.server_tool_uses != '{{}}'"
        f" AND a.outcome IN ('ok', 'error') AND kinds.key NOT IN ({known})"
        # grouped by expressions (+), as local_off_machine's read: by the columns, SQLite walked attempts_model whole
        " GROUP BY +a.model, +a.provider, 3, 4, 5"
    )
    try:
        rows = conn.execute(sql, args).fetchall()
    except sqlite3.OperationalError as exc:
        if "no such column" in str(exc):
            return []
        raise
    return [(str(m), str(p), str(agent), str(skill), str(kind), int(n or 0)) for m, p, agent, skill, kind, n in rows]
