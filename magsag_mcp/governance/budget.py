"""Budget reservations: reserve the worst case before an attempt, atomically, in the ledger.

One ledger operation (inside the group-commit ``BEGIN IMMEDIATE`` transaction, so atomic across
processes too) sums, for each limit that applies, the recorded spend plus the open reservations,
refuses when the new reservation would cross a limit, and otherwise inserts it. The reservation stays
until the attempt is recorded: the ledger deletes it in the same transaction that inserts the
attempt's real cost, so spend is never counted twice nor missed. A reservation whose process died
expires after :data:`RESERVATION_TTL_SECONDS`.
"""

from __future__ import annotations

import sqlite3
import time
from datetime import datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from zoneinfo import ZoneInfo

from ..errors import BudgetExceeded
from ..ledger.migrations import SPEND_BUCKET_SECONDS
from ..ledger.store import from_pusd, to_pusd
from .policy import Limit

RESERVATION_TTL_SECONDS = 15 * 60
SWEEP_EVERY_SECONDS = 30.0
_last_sweep = 0.0


@lru_cache(maxsize=256)
def _bounds(zone: str, quarter: int) -> tuple[float, float]:
    tz = ZoneInfo(zone)
    local = datetime.fromtimestamp(quarter * SPEND_BUCKET_SECONDS, tz)
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    end = (start + timedelta(days=1)).replace(tzinfo=None).replace(tzinfo=tz)  # next local midnight (DST-safe)
    return start.timestamp(), end.timestamp()


def day_bounds(now: float, zone: str) -> tuple[float, float]:
    """The local day containing ``now`` in ``zone``, as unix seconds [start, end)."""
    # Midnight in every zone falls on a 15-minute edge, so the quarter-hour decides the day.
    return _bounds(zone, int(now // SPEND_BUCKET_SECONDS))


def spent_and_reserved(
    conn: sqlite3.Connection, limit: Limit, *, run_id: str | None, agent: str | None, now: float
) -> tuple[int, int]:
    """(recorded spend, open reservations) in pico-USD for the scope of ``limit``: one indexed query."""
    if limit.kind == "run":
        row = conn.execute(
            "SELECT (SELECT COALESCE(SUM(cost_pusd), 0) FROM runs WHERE run_id = ?),"
            " (SELECT COALESCE(SUM(amount_pusd), 0) FROM budget_reservations WHERE run_id = ?"
            " AND (state = 'settled' OR expires_at >= ?))",
            (run_id, run_id, now),
        ).fetchone()
    else:
        start, end = day_bounds(now, limit.zone)
        row = conn.execute(
            "SELECT (SELECT COALESCE(SUM(cost_pusd), 0) FROM agent_spend WHERE agent = ? AND bucket >= ?"
            " AND bucket < ?), (SELECT COALESCE(SUM(amount_pusd), 0) FROM budget_reservations WHERE agent = ?"
            " AND created_at >= ? AND created_at < ? AND (state = 'settled' OR expires_at >= ?))",
            (agent, int(start // SPEND_BUCKET_SECONDS), int(end // SPEND_BUCKET_SECONDS), agent, start, end, now),
        ).fetchone()
    return int(row[0]), int(row[1])


def describe_scope(limit: Limit, run_id: str | None, agent: str | None) -> str:
    if limit.kind == "run":
        return f"run {run_id}"
    return f"agent {agent} today ({limit.zone})"


def reserve_op(limits: list[Limit], amount: Decimal, *, run_id: str | None, agent: str | None):
    """The ledger operation: check every limit, then insert the reservation; returns its id."""
    amount_pusd = to_pusd(amount) or 0

    def op(conn: sqlite3.Connection) -> int:
        now = time.time()
        global _last_sweep
        if now - _last_sweep > SWEEP_EVERY_SECONDS:
            # Stale reservations are already ignored by the sums; deleting them is housekeeping.
            conn.execute("DELETE FROM budget_reservations WHERE state = 'held' AND expires_at < ?", (now,))
            _last_sweep = now
        for limit in limits:
            spent, held = spent_and_reserved(conn, limit, run_id=run_id, agent=agent, now=now)
            if spent + held + amount_pusd > limit.amount_pusd:
                raise BudgetExceeded(
                    f"{limit.policy}: {limit.kind.replace('_', '-')} limit ${limit.amount} for "
                    f"{describe_scope(limit, run_id, agent)} would be exceeded: spent ${from_pusd(spent)}, "
                    f"reserved ${from_pusd(held)}, this attempt reserves up to ${from_pusd(amount_pusd)}",
                    policy=limit.policy,
                    limit=limit.kind,
                    limit_usd=str(limit.amount),
                    spent_usd=str(from_pusd(spent)),
                    reserved_usd=str(from_pusd(held)),
                    reservation_usd=str(from_pusd(amount_pusd)),
                )
        cur = conn.execute(
            "INSERT INTO budget_reservations (run_id, agent, created_at, expires_at, amount_pusd, state)"
            " VALUES (?, ?, ?, ?, ?, 'held')",
            (run_id, agent, now, now + RESERVATION_TTL_SECONDS, amount_pusd),
        )
        return int(cur.lastrowid)

    return op
