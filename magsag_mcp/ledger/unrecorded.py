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
from dataclasses import dataclass, field
from typing import Any

from .abandoned import ENDED_RESERVATIONS, gone_ids
from .filters import UsageFilters, parse_since
from .rollup_reads import ROLLUP_PART_COLUMNS

#: a stand-in's parts of a bill (see queries._rollup_rows): none said, as its attempt is recorded
_NO_PARTS = (0,) * len(ROLLUP_PART_COLUMNS)

#: the statuses a stand-in's record turns to 'error' (writes._UPSERT_RUN's CASE); a run keeps any other
TURNED_TO_ERROR = ("ok", "running")


@dataclass(frozen=True)
class DeadCalls:
    """The stand-ins a summary's filters select: ``rows`` as the summary's rollup rows (see
    :func:`~.queries._rollup_rows`), and ``at`` the time of each (its reservation's, the attempt's start).
    ``unbounded_of``: each dead call's stand-ins of no bound (model, provider, time), by the call as a summary's
    costliest call names it (its run, its last stand-in's time), selected or not (see
    :meth:`~.peaks.CostliestCalls.mark_unbounded`)."""

    rows: list[tuple[Any, ...]]
    at: list[float]
    unbounded_of: dict[tuple[str, float], list[tuple[str, str, float]]] = field(default_factory=dict)
    #: every dead call's stand-ins, selected or not (:func:`stand_in_calls`)
    calls: list[list[StandIn]] = field(default_factory=list)

    @property
    def first(self) -> float | None:
        return min(self.at, default=None)

    @property
    def last(self) -> float | None:
        return max(self.at, default=None)


@dataclass(frozen=True)
class StandIn:
    """An expired reservation as :func:`~.abandoned.record_abandoned` records it: the attempt (its reservation's
    id, time, model, provider, agent, skill, bound in pico-USD, or None for none) and the run it goes to."""

    rid: int
    run_id: str
    budget: str | None
    agent: str | None
    skill: str | None
    at: float
    model: str
    provider: str
    bound: int | None


def stand_in_calls(conn: sqlite3.Connection, now: float) -> list[list[StandIn]]:
    """The expired reservations at ``now`` as record_abandoned records them: each call's stand-ins, in order (a
    row that names no call, an older version's, is a call of its own); the call counted under its last. A
    reservation of a process of this place seen gone is one of them, as the sweep expires it first."""
    calls: dict[Any, list[StandIn]] = {}
    for rid, budget, run_id, agent, created, amount, provider, model, skill, call_id, unbounded in conn.execute(
        ENDED_RESERVATIONS, (now, gone_ids(conn, now))
    ):
        stand_in = StandIn(
            rid,
            run_id or budget or f"abandoned-{rid}",
            budget,
            agent,
            skill,
            created,
            model or "unknown",
            provider or "unknown",
            None if unbounded else int(amount or 0),
        )
        calls.setdefault(rid if call_id is None else call_id, []).append(stand_in)  # (an id int, a call's text)
    return list(calls.values())


def dead_calls(conn: sqlite3.Connection, f: UsageFilters, now: float) -> DeadCalls:
    """The abandoned attempts the expired reservations at ``now`` would be recorded as, those ``f`` (its times
    resolved) selects, each a row: (model, provider, agent, skill, 'error', 1 attempt, no tokens, no known cost, 1
    unpriced, its bound, whether bounded, and for its call's last stand-in the call (its stand-ins' bounds together,
    its run and time) counted once, no cache writes, no part of a bill said). Named as record_abandoned names them:
    the run the attempt was reserved for, its model and provider or 'unknown'."""
    since, until = parse_since(f.since), parse_since(f.until, field="until")
    rows: list[tuple[Any, ...]] = []
    times: list[float] = []
    unbounded_of: dict[tuple[str, float], list[tuple[str, str, float]]] = {}
    calls = stand_in_calls(conn, now)
    for call in calls:
        last = call[-1]
        held = [(s.model, s.provider, s.at) for s in call if s.bound is None]
        if held:
            unbounded_of[(last.run_id, last.at)] = held
        for s in call:
            if not stand_in_selected(conn, f, s, since, until):
                continue
            peak = (sum(c.bound or 0 for c in call), s.run_id, s.at, 1) if s is last else (-1, None, None, 0)
            rows.append(
                (s.model, s.provider, s.agent or "", s.skill or "", "error", 1, 0, 0, 0, 0, 0, 1, s.bound or 0)
                + (int(s.bound is not None), *peak, 0, 0, *_NO_PARTS)
            )
            times.append(s.at)
    return DeadCalls(rows, times, unbounded_of, calls)


def stand_in_selected(
    conn: sqlite3.Connection, f: UsageFilters, s: StandIn, since: float | None, until: float | None
) -> bool:
    """Whether ``f`` (``since`` and ``until`` its times, resolved) selects the stand-in ``s`` as it would select the
    attempt recorded for it."""
    return (
        all(getattr(f, name) in (None, value) for name, value in _named(s.agent, s.skill, s.model, s.provider))
        and (since is None or s.at >= since)
        and (until is None or s.at < until)
        and _run_selected(conn, f, s.run_id, s.budget)
    )


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
        parent, status = row[0], "error" if row[1] in TURNED_TO_ERROR else row[1]
    if f.run_id is not None and f.run_id not in (run_id, parent):
        return False
    return f.status is None or f.status == status
