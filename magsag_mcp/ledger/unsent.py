"""Calls that sent no request: every target of each was refused or skipped before one was sent (no API key set, a
policy or a budget refused it, a wait no call waits out). Such a call spends nothing and has no attempt that reached
a provider, so a summary counts it in no ``calls``: a ledger of them alone summarized as zeros, which read as
"nothing happened". ``totals.unsent_calls`` counts them and a note says why (:func:`unsent_reason`).

The ledger keeps no call id on attempts: a run's calls are its record's ``calls``, and those that sent a request
are its attempts that carry a call's cost (``call_cost_pusd``, its last attempt that reached a provider). A run's
unsent calls are the difference, at most the refused attempts at its first target (each such call has one) among
those the filters select. Read only where a summary holds refused attempts and no call that sent a request: it reads
the attempts the filters select, where the summary reads the daily rollup."""

from __future__ import annotations

import sqlite3

from .filters import UsageFilters
from .rollup_reads import attempts_where

_REFUSED = "a.outcome NOT IN ('ok', 'error')"


def _refused(conn: sqlite3.Connection, f: UsageFilters) -> tuple[str, list[object]]:
    source, where, args = attempts_where(conn, f)
    return f"FROM {source}{where}{' AND ' if where else ' WHERE '}{_REFUSED}", args


def _unsent_runs(conn: sqlite3.Connection, f: UsageFilters) -> str:
    """SQL of (run_id, its unsent calls) for each run the filters select a refused attempt of."""
    refused, _ = _refused(conn, f)
    return (
        "SELECT g.run_id, MAX(0, MIN(r.calls - (SELECT COUNT(*) FROM attempts s WHERE s.run_id = g.run_id"
        " AND s.call_cost_pusd IS NOT NULL), g.firsts)) AS unsent"
        f" FROM (SELECT a.run_id AS run_id, SUM(a.fallback_position = 0) AS firsts {refused} GROUP BY a.run_id) g"
        " JOIN runs r ON r.run_id = g.run_id"
    )


def unsent_calls(conn: sqlite3.Connection, f: UsageFilters) -> int:
    """The calls the filters select that sent no request."""
    _, args = _refused(conn, f)
    row = conn.execute(f"SELECT coalesce(SUM(unsent), 0) FROM ({_unsent_runs(conn, f)})", args).fetchone()
    return int(row[0])


def unsent_reason(conn: sqlite3.Connection, f: UsageFilters) -> tuple[str, int] | None:
    """The commonest reason the first target of a call that sent nothing was refused (its attempt's message, as
    ``not configured: openai: no API key; set OPENAI_API_KEY in the environment``), and how many such attempts
    give it; None if none."""
    refused, args = _refused(conn, f)
    sql = (
        f"SELECT coalesce(a.error_message, a.outcome), COUNT(*) {refused} AND a.fallback_position = 0"
        f" AND a.run_id IN (SELECT run_id FROM ({_unsent_runs(conn, f)}) WHERE unsent > 0)"
        " GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1"
    )
    row = conn.execute(sql, [*args, *args]).fetchone()
    return None if row is None else (str(row[0]), int(row[1]))
