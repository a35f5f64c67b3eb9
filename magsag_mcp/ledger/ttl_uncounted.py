"""The attempts a summary's ``cache_write_ttl_unsaid_tokens`` cannot count: recorded before 0033, which began counting
an attempt's cache writes whose time to live its answer did not say, they hold NULL there (not counted then, not none)
and add nothing to that sum. Those that wrote to the cache may have had such writes; a user reading the figure could
not tell it left them out. Counted here by the summary's breakdowns, beside it: ``cache_write_ttl_uncounted_attempts``
(0 where none, as every ledger this version made holds), as ``*_unsaid_attempts`` stand beside the parts of a bill."""

from __future__ import annotations

import sqlite3

from .filters import UsageFilters
from .rollup_reads import attempts_where

#: the condition of 0034_attempts_cache_write_ttl_uncounted's index: an attempt recorded before 0033 that wrote to the
#: cache. (Written as the index's own, unqualified, so that SQLite sees the query's WHERE imply it and uses the index.)
_UNCOUNTED = "cache_write_ttl_unsaid_tokens IS NULL AND cache_write_tokens > 0"

#: 0034's index, named by the count's query where a filter would lead SQLite down another
_INDEX = "attempts_cache_write_ttl_uncounted"

#: (breakdown, its key) -> the attempts; the totals' under ("totals", "")
Uncounted = dict[tuple[str, str], int]


def ttl_uncounted(conn: sqlite3.Connection, f: UsageFilters) -> Uncounted:
    """Of the attempts that reached a provider (outcome ok or error) that ``f`` selects, those recorded before 0033
    that wrote to the cache, by model, provider, agent and skill (``(none)`` for none, as the breakdowns key them) and
    in all. Empty, after one step down the index, for a ledger that holds none (any this version made); empty for a
    ledger without the column (an older version's, read where it lies: it counted none of them)."""
    try:
        if conn.execute(f"SELECT 1 FROM attempts WHERE {_UNCOUNTED} LIMIT 1").fetchone() is None:
            return {}
    except sqlite3.OperationalError as exc:
        if "no such column" in str(exc):
            return {}
        raise
    source, where, args = attempts_where(conn, f)
    if f.run_id is None:
        # a model or agent filter read down attempts_model or attempts_agent (every attempt of that model or agent,
        # each row sought to test the condition: most of a ledger of one model) where no index was named; 0034's
        # index holds the uncounted attempts alone and every column a filter reads, so a filter walks no more of it
        # than the summary of no filter does. (A run's few attempts are found by attempts_run_cost, as before.)
        source = f"attempts a INDEXED BY {_INDEX}" if _has_index(conn) else "attempts a"
    sql = (
        "SELECT a.model, a.provider, coalesce(a.agent, ''), coalesce(a.skill, ''), COUNT(*)"
        f" FROM {source}{where}{' AND ' if where else ' WHERE '}a.{_UNCOUNTED.replace(' AND ', ' AND a.')}"
        " AND a.outcome IN ('ok', 'error')"
        # grouped by expressions (+), as other_tool_uses' read: by the columns, SQLite walked attempts_model whole
        # (every attempt, to save a sort of the few it counts) where a summary named no filter, not 0034's index
        " GROUP BY +a.model, +a.provider, 3, 4"
    )
    out: Uncounted = {}
    for model, provider, agent, skill, n in conn.execute(sql, args):
        for where_ in (
            ("model", model), ("provider", provider), ("agent", agent or "(none)"), ("skill", skill or "(none)"),
            ("totals", ""),
        ):  # fmt: skip
            out[where_] = out.get(where_, 0) + int(n)
    return out


def _has_index(conn: sqlite3.Connection) -> bool:
    """Whether the ledger holds 0034's index: the version before's, read where it lies, holds the column alone."""
    found = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?", (_INDEX,)).fetchone()
    return found is not None
