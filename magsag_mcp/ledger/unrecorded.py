"""The calls of dead processes (expired reservations) that a ledger opened for reading only cannot record, counted by
its summary as the abandoned attempts a writable read records them as first (:func:`~.abandoned.record_abandoned`):
outcome error, cost unknown, bounded by what was reserved (no bound where the reservation is marked ``unbounded``),
the call counted once, under its last stand-in. Left out, a read-only summary said ``cost_complete`` true with a
``cost_usd`` that left them out, which ``flow gate`` passed, where the same ledger read writable said
``cost_complete`` false. Nothing is written: they are rows of the summary's shape, read from the reservations (a
handful of rows: the calls in flight), and only a read-only ledger reads them (a writable one has just recorded them).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from .abandoned import EXPIRED_RESERVATIONS
from .filters import UsageFilters, parse_since

#: the statuses a run keeps when a stand-in is recorded in it (see writes._UPSERT_RUN); any other becomes 'error'
_STATUS_KEPT = ("policy_denied", "budget_exceeded", "cancelled", "error")


@dataclass(frozen=True)
class DeadCalls:
    """The stand-ins a summary's filters select: ``rows`` as the summary's rollup rows (see
    :func:`~.queries._rollup_rows`), and ``at`` the time of each (its reservation's, the attempt's start)."""

    rows: list[tuple[Any, ...]]
    at: list[float]

    @property
    def first(self) -> float | None:
        return min(self.at, default=None)

    @property
    def last(self) -> float | None:
        return max(self.at, default=None)


def dead_calls(conn: sqlite3.Connection, f: UsageFilters, now: float) -> DeadCalls:
    """The abandoned attempts the expired reservations at ``now`` would be recorded as, those ``f`` (its times
    resolved) selects, each a row: (model, provider, agent, skill, 'error', 1 attempt, no tokens, no known cost, 1
    unpriced, its bound, whether bounded, no costliest call, the call if it is its call's last stand-in, no cache
    writes). Named as record_abandoned names them: the run the attempt was reserved for, its model and provider or
    'unknown'."""
    reservations = conn.execute(EXPIRED_RESERVATIONS, (now,)).fetchall()
    last_of_call: dict[Any, int] = {}
    for i, r in enumerate(reservations):
        last_of_call[r[0] if r[9] is None else r[9]] = i  # (an id is an int, a call's id text: they never meet)
    since, until = parse_since(f.since), parse_since(f.until, field="until")
    rows: list[tuple[Any, ...]] = []
    times: list[float] = []
    for i, (rid, budget, run_id, agent, created, amount, provider, model, skill, call_id, unbounded) in enumerate(
        reservations
    ):
        run_id = run_id or budget or f"abandoned-{rid}"
        model, provider = model or "unknown", provider or "unknown"
        picked = (
            all(getattr(f, name) in (None, value) for name, value in _named(agent, skill, model, provider))
            and (since is None or created >= since)
            and (until is None or created < until)
            and _run_selected(conn, f, run_id, budget)
        )
        if not picked:
            continue
        bound = 0 if unbounded else int(amount or 0)
        carries = int(last_of_call[rid if call_id is None else call_id] == i)
        rows.append(
            (model, provider, agent or "", skill or "", "error", 1, 0, 0, 0, 0, 0, 1, bound, int(not unbounded))
            + (-1, None, None, carries, 0, 0)
        )
        times.append(created)
    return DeadCalls(rows, times)


def _named(agent: Any, skill: Any, model: str, provider: str) -> tuple[tuple[str, Any], ...]:
    return (("agent", agent), ("skill", skill), ("model", model), ("provider", provider))


def _run_selected(conn: sqlite3.Connection, f: UsageFilters, run_id: str, budget: str | None) -> bool:
    """Whether a run filter and a status filter select the stand-in recorded under ``run_id``: the run, or one
    delegated from it (its parent as recorded, or for a run not recorded yet the run the reservation was made for),
    and its status once the stand-in is recorded in it (an error, unless the run ended otherwise already)."""
    if f.run_id is None and f.status is None:
        return True
    row = conn.execute("SELECT parent_run_id, status FROM runs WHERE run_id = ?", (run_id,)).fetchone()
    if row is None:
        parent, status = (budget if budget and budget != run_id else None), "error"
    else:
        parent, status = row[0], row[1] if row[1] in _STATUS_KEPT else "error"
    if f.run_id is not None and f.run_id not in (run_id, parent):
        return False
    return f.status is None or f.status == status
