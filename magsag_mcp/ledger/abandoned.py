"""Reservations whose calls were never recorded (their process died, or hung past the call's deadline): each is
recorded as the attempt it stood for, at an unknown cost bounded by what was reserved. Should the process record
the attempt after all, its record replaces the stand-in (:func:`~.writes.unrecord_abandoned`)."""

from __future__ import annotations

import sqlite3

from ..records import AttemptRecord, RunRecord
from .money import from_pusd
from .writes import RecordWrite

#: the error of an attempt whose reservation expired with no record (see :func:`record_abandoned`)
ABANDONED = (
    "the process making this call ended (or hung past the call's deadline) with the request in flight; "
    "the provider may bill it; its cost is unknown"
)

#: reservations whose calls should long have been recorded: their process died (or hung) mid-call
EXPIRED_RESERVATIONS = (
    "SELECT id, run_id, attempt_run_id, agent, created_at, amount_pusd, provider, model, skill"
    " FROM budget_reservations WHERE state = 'held' AND expires_at < ?"
)


def record_abandoned(conn: sqlite3.Connection, now: float) -> int:
    """Record each expired reservation as the attempt it stood for (outcome error, class
    ``abandoned``, cost unknown, bounded by the amount reserved) in place of the reservation, in this
    transaction. Returns how many. Should its process record the attempt after all (it was suspended,
    not dead), that record replaces this stand-in (:func:`~.writes.unrecord_abandoned`)."""
    rows = conn.execute(EXPIRED_RESERVATIONS, (now,)).fetchall()
    for rid, budget, run_id, agent, created, amount, provider, model, skill in rows:
        run_id = run_id or budget or f"abandoned-{rid}"
        attempt = AttemptRecord(
            run_id=run_id,
            started_at=created,
            provider=provider or "unknown",
            model=model or "unknown",
            skill=skill,
            agent=agent,
            outcome="error",
            fallback_position=0,
            attempt_number=0,
            error_class="abandoned",
            error_message=ABANDONED,
            cost_usd=None,
            cost_bound_usd=from_pusd(amount),
            warnings=[ABANDONED],
            reservation_id=rid,
        )
        parent = budget if budget and budget != run_id else None
        run = RunRecord(run_id, agent, skill, created, parent_run_id=parent, ended_at=now, status="error")
        RecordWrite.of(run, [attempt])(conn)
    return len(rows)
