"""A run's attempts read in pieces, for an export (``magsag data query --format csv|json``).

An export reads its runs a page at a time, each run with its attempts. A run may hold hundreds of thousands
of them (every call of a long-lived ``Magsag`` is one run): read whole, with its page, 300,000 attempts took
820 MB, a few million more than some machines have. Such a run is listed without its attempts
(:func:`~.queries.query_runs_page`'s ``inline``), and the export reads them after: their ids in order, at most
the last one recorded when its page was read (``attempt_bound``), then the attempts by id, some hundreds at a
time.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .store import Ledger


def attempts_beyond(conn: sqlite3.Connection, run_id: str, most: int) -> int | None:
    """How many attempts the run has, if more than ``most``; else None (its index, up to ``most`` + 1 rows)."""
    some = conn.execute("SELECT COUNT(*) FROM (SELECT 1 FROM attempts WHERE run_id = ? LIMIT ?)", (run_id, most + 1))
    if some.fetchone()[0] <= most:
        return None
    return int(conn.execute("SELECT COUNT(*) FROM attempts WHERE run_id = ?", (run_id,)).fetchone()[0])


async def run_attempt_ids(ledger: Ledger, run_id: str, bound: int) -> list[int]:
    """The ids of the run's attempts, in the order a run lists them, up to ``bound`` (recorded since: left out)."""
    sql = "SELECT id FROM attempts WHERE run_id = ? AND id <= ? ORDER BY started_at, id"
    return await ledger.read(lambda conn: [row[0] for row in conn.execute(sql, (run_id, bound))])


async def attempts_by_id(ledger: Ledger, ids: list[int]) -> list[dict[str, Any]]:
    """The attempts of these ids (fewer than 999, SQLite's most variables a statement before 3.32), in their
    order, as a run lists them; an attempt pruned meanwhile is left out."""
    from .queries import _ATTEMPT_COLS, _attempt_dict

    sql = f"SELECT id, {_ATTEMPT_COLS} FROM attempts WHERE id IN ({', '.join('?' * len(ids))})"

    def q(conn: sqlite3.Connection) -> list[dict[str, Any]]:
        found = {row[0]: row[1:] for row in conn.execute(sql, ids)}
        return [_attempt_dict(found[i]) for i in ids if i in found]

    return await ledger.read(q)
