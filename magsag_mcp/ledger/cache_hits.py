"""The ledger's rows of the calls answered from the answer cache (``cache_hits``, 0023_answer_cache; see
:mod:`~magsag_mcp.answer_cache`): written with the call's record, read by a summary's ``cache`` figures."""

from __future__ import annotations

import sqlite3
from typing import Any

from ..records import AttemptRecord
from .money import from_pusd, to_pusd

INSERT_CACHE_HIT = (
    "INSERT INTO cache_hits (run_id, started_at, provider, model, skill, agent, saved_pusd, cached_from)"
    " VALUES (?,?,?,?,?,?,?,?)"
)


def cache_hit_row(a: AttemptRecord) -> tuple[Any, ...]:
    """The cache_hits row of ``a``, an attempt answered from the cache (its price_source "cache")."""
    return (a.run_id, a.started_at, a.provider, a.model, a.skill, a.agent, to_pusd(a.saved_usd), a.cached_from)


def cache_summary(conn: sqlite3.Connection, filters: Any) -> dict[str, Any]:
    """A summary's ``cache``: the calls of its window and filters answered from the answer cache (``hits``), what
    their answers had cost when they were paid for (``saved_usd``, exact; null with ``saved_complete`` false where
    one of them had cost an unknown amount: ``saved_known_usd`` is then the known part)."""
    from .filters import sql_where

    where, args = sql_where(filters, table="a")  # (its columns are the attempts' of the same names)
    hits, unknown, saved = conn.execute(
        "SELECT COUNT(*), COUNT(*) - COUNT(a.saved_pusd), COALESCE(SUM(a.saved_pusd), 0) FROM cache_hits a" + where,
        args,
    ).fetchone()
    known = from_pusd(int(saved))
    return {
        "hits": int(hits),
        "saved_usd": None if unknown else format(known, "f"),
        "saved_known_usd": format(known, "f"),
        "saved_complete": not unknown,
    }
