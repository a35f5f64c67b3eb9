"""Reservations whose calls were never recorded (their process died, or hung past the call's deadline): each is
recorded as the attempt it stood for, at an unknown cost bounded by what was reserved (no bound for a reservation
marked ``unbounded``, a model of unknown price's placeholder). Should the process record
the attempt after all, its record replaces the stand-in (:func:`unrecord_abandoned`)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from typing import Any

from ..records import AttemptRecord, RunRecord
from .migrations import ROLLUP_BUCKET_SECONDS, SPEND_BUCKET_SECONDS
from .money import from_pusd
from .reservation_owners import expire_gone_owners, gone_owners
from .rollup_reads import ATTEMPT_CALL_MAX

#: the error of an attempt whose reservation expired with no record (see :func:`record_abandoned`)
ABANDONED = (
    "the process making this call ended (or hung past the call's deadline) with the request in flight; "
    "the provider may bill it; its cost is unknown"
)

#: reservations whose calls should long have been recorded: their process died (or hung) mid-call; with them, the
#: other reservations of their calls (a retry's beside the cut attempt's), made later and so not expired yet, though
#: their call is past its deadline all the same (a reservation outlives its call's deadline from the call's start)
EXPIRED_RESERVATIONS = (
    "SELECT id, run_id, attempt_run_id, agent, created_at, amount_pusd, provider, model, skill, call_id, unbounded"
    " FROM budget_reservations WHERE state = 'held' AND (expires_at < ?1 OR call_id IN"
    " (SELECT call_id FROM budget_reservations WHERE expires_at < ?1 AND call_id IS NOT NULL)) ORDER BY id"
)
#: what a call (calls) of those reservations is, as a read that cannot record them says
DEAD_CALL = "of a process that ended with its request in flight (its reservation expired)"
DEAD_CALLS = "of processes that ended with their requests in flight (their reservations expired)"
#: what those calls are, where some are of a process seen gone before their expiry (see reservation_owners)
ENDED_CALL = "of a process that ended with its request in flight (its reservation expired, or its process is gone)"
ENDED_CALLS = (
    "of processes that ended with their requests in flight (their reservations expired, or their processes are gone)"
)

#: a reservation :func:`record_abandoned` records at ``?1``: expired, or one of the ids in the JSON array ``?2``,
#: those of processes of this place seen gone (see reservation_owners), which it expires first
_ENDED = "(expires_at < ?1 OR id IN (SELECT value FROM json_each(?2)))"
#: :data:`EXPIRED_RESERVATIONS` as a read that cannot write reads them (a read-only ledger's): a reservation of a
#: process seen gone counted as the sweep counts it, expired as of when it was made, not at its expiry (left to its
#: expiry, a read-only summary left such a call out for 15 minutes or more while check_budget counted it at once)
ENDED_RESERVATIONS = (
    "SELECT id, run_id, attempt_run_id, agent, created_at, amount_pusd, provider, model, skill, call_id, unbounded"
    f" FROM budget_reservations WHERE state = 'held' AND ({_ENDED} OR call_id IN"
    f" (SELECT call_id FROM budget_reservations WHERE {_ENDED} AND call_id IS NOT NULL)) ORDER BY id"
)
#: how many calls those are (a row naming no call, an older version's, is a call of its own), what they hold in all,
#: whether one holds no known bound, and how many of the reservations are of a process seen gone: what a read that
#: cannot record them says of them
ENDED_TOTALS = (
    "SELECT COUNT(DISTINCT coalesce(call_id, id)), coalesce(SUM(amount_pusd), 0), coalesce(MAX(unbounded), 0),"
    f" COUNT(*) FILTER (WHERE id IN (SELECT value FROM json_each(?2))) FROM ({ENDED_RESERVATIONS})"
)


def gone_ids(conn: sqlite3.Connection, now: float) -> str:
    """The ids of the reservations of processes of this place seen gone at ``now``, as the JSON array ``?2`` of
    :data:`ENDED_RESERVATIONS` and :data:`ENDED_TOTALS` (read from /proc: nothing is written)."""
    return json.dumps([rid for (rid,) in gone_owners(conn, now)])


def ended_totals(conn: sqlite3.Connection, now: float) -> tuple[int, int, bool, bool]:
    """(the calls :func:`record_abandoned` would record at ``now``, what their reservations hold in pico-USD, whether
    one holds no known bound, whether some are of a process seen gone before their reservation expired)."""
    calls, held, unbounded, of_gone = conn.execute(ENDED_TOTALS, (now, gone_ids(conn, now))).fetchone()
    return int(calls), int(held), bool(unbounded), bool(of_gone)


def calls_to_record(conn: sqlite3.Connection, now: float) -> tuple[int, bool]:
    """How many calls :func:`record_abandoned` would record at ``now`` (a row naming no call is a call of its own), and
    whether some are of a process seen gone before their reservation expired (what a read kept from recording them
    says of them)."""
    calls, _, _, of_gone = ended_totals(conn, now)
    return calls, of_gone


def to_record(conn: sqlite3.Connection, now: float) -> bool:
    """Whether :func:`record_abandoned` has a call to record at ``now``: a reservation expired, or held by a process of
    this place that no longer runs (a read's look, before it asks for the write lock)."""
    expired = conn.execute(EXPIRED_RESERVATIONS + " LIMIT 1", (now,)).fetchone()
    return expired is not None or bool(gone_owners(conn, now))


def record_abandoned(conn: sqlite3.Connection, now: float) -> int:
    """Record each expired reservation (and each whose process, of this place, is gone: see
    :func:`~.reservation_owners.expire_gone_owners`) as the attempt it stood for (outcome error, class
    ``abandoned``, cost unknown, bounded by the amount reserved, or by none where the reservation is marked
    ``unbounded``) in place of the reservation, in this transaction; the reservations of one call
    (:data:`EXPIRED_RESERVATIONS`) as that call's attempts, one call (a row that names no call, an older version's, is
    a call of its own). Returns how many attempts. Should its process record the call after all (it was suspended, not
    dead), its record replaces these stand-ins (:func:`unrecord_abandoned`).

    The stand-ins are written together, as the group commit writes a batch of records: a record reads the
    reservations in flight (the delegated runs among them) once for its batch, and written one by one, a
    sweep read them all once per expired call (a sweep after an outage: its N stand-ins read the N left in
    flight N times)."""
    from .writes import RecordWrite  # (writes.py imports this module: the record path takes a stand-in back)

    expire_gone_owners(conn, now)  # a reservation of a process seen gone is expired already (see reservation_owners)
    rows = conn.execute(EXPIRED_RESERVATIONS, (now,)).fetchall()
    calls: dict[Any, list[AttemptRecord]] = {}
    runs: dict[Any, RunRecord] = {}
    for rid, budget, run_id, agent, created, amount, provider, model, skill, call_id, unbounded in rows:
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
            # a placeholder of a model of unknown price (see 0020_reservation_unbounded) held 0 and bounds nothing
            cost_bound_usd=None if unbounded else from_pusd(amount),
            warnings=[ABANDONED],
            reservation_id=rid,
        )
        call = rid if call_id is None else call_id  # (an id is an int, a call's id text: they never meet)
        if call not in calls:
            parent = budget if budget and budget != run_id else None
            runs[call] = RunRecord(run_id, agent, skill, created, parent_run_id=parent, ended_at=now, status="error")
        calls.setdefault(call, []).append(attempt)
    if calls:
        RecordWrite.apply_all(conn, [RecordWrite.of(runs[call], attempts) for call, attempts in calls.items()])
    return len(rows)


def unrecord_abandoned(conn: sqlite3.Connection, run_id: str, reservation_id: int) -> None:
    """Take back the abandoned attempt the sweep recorded for a reservation (:func:`~.abandoned.record_abandoned`)
    from every count it added to: its row, its run's counters and the 'error' status it gave a run of calls that
    had succeeded, its usage rollup, agent and day spend. A run row left with no call was made for the stand-in
    alone and goes too."""
    row = conn.execute(
        "SELECT id, started_at, provider, model, coalesce(skill, ''), agent, cost_bound_pusd,"
        " call_cost_pusd IS NOT NULL FROM attempts"
        " WHERE run_id = ? AND reservation_id = ? AND error_class = 'abandoned' AND cost_pusd IS NULL",
        (run_id, reservation_id),
    ).fetchone()
    if row is None:
        return
    # a call's stand-ins count one call, under the last of them (the one carrying the call's cost: see RecordWrite)
    attempt_id, started, provider, model, skill, agent, bound, counted = row
    # the call's other stand-in just before it (its first try's, beside a retry's given back) carries the call on
    heir = _heir(conn, run_id, attempt_id) if counted else None
    if heir is not None:
        conn.execute(
            "UPDATE attempts SET call_cost_pusd = (SELECT call_cost_pusd - ? FROM attempts WHERE id = ?) WHERE id = ?",
            (bound or 0, attempt_id, heir[0]),
        )
    conn.execute("DELETE FROM attempts WHERE id = ?", (attempt_id,))
    conn.execute(
        "UPDATE runs SET calls = calls - ?, unpriced_calls = unpriced_calls - 1,"
        " cost_bound_pusd = cost_bound_pusd - ? WHERE run_id = ?",
        (0 if heir is not None else counted, bound or 0, run_id),
    )
    conn.execute("DELETE FROM runs WHERE run_id = ? AND calls = 0", (run_id,))
    # The stand-in failed a run of calls that had all succeeded (its record carries no error kind, where a call that
    # failed records its error's): the call it stood for is recorded next, and its status is the run's again, unless
    # another stand-in (a call swept with it, never recorded) still fails the run
    conn.execute(
        "UPDATE runs SET status = 'ok' WHERE run_id = ? AND status = 'error' AND error_class IS NULL AND NOT EXISTS"
        " (SELECT 1 FROM attempts WHERE run_id = ? AND error_class = 'abandoned' AND cost_pusd IS NULL)",
        (run_id, run_id),
    )
    key = (int(started // ROLLUP_BUCKET_SECONDS), model, provider, agent or "", skill)
    rollup_key = "bucket = ? AND model = ? AND provider = ? AND agent = ? AND skill = ? AND outcome = 'error'"
    conn.execute(
        "UPDATE usage_rollup SET attempts = attempts - 1, calls = calls - ?, unpriced = unpriced - 1,"
        f" cost_bound_pusd = cost_bound_pusd - ?, bounded = bounded - ? WHERE {rollup_key}",
        (counted, bound or 0, int(bound is not None), *key),
    )
    conn.execute(f"DELETE FROM usage_rollup WHERE {rollup_key} AND attempts = 0", key)  # the stand-in's alone
    if heir is not None:  # the call counted under its heir's row now (another day's, another model's on a fallback)
        conn.execute(f"UPDATE usage_rollup SET calls = calls + 1 WHERE {rollup_key}", heir[1])
        _costliest_call_again(conn, heir[1])
    # the stand-in was a call of its own: the row's costliest call is read again from the attempts left
    _costliest_call_again(conn, key)
    if bound:
        bucket = int(started // SPEND_BUCKET_SECONDS)
        if agent is not None:
            conn.execute(
                "UPDATE agent_spend SET cost_bound_pusd = cost_bound_pusd - ? WHERE agent = ? AND bucket = ?",
                (bound, agent, bucket),
            )
        conn.execute("UPDATE day_spend SET cost_bound_pusd = cost_bound_pusd - ? WHERE bucket = ?", (bound, bucket))


def _heir(conn: sqlite3.Connection, run_id: str, attempt_id: int) -> tuple[int, tuple[Any, ...]] | None:
    """The stand-in of the same call as the stand-in ``attempt_id``, which carries that call (its last), when it has
    one: the run's attempt written just before it, a stand-in carrying no call (a sweep writes a call's stand-ins
    together, in order, the call under the last of them; anything else before it ends a call of its own). Its id and
    its usage_rollup key."""
    row = conn.execute(
        "SELECT id, started_at, model, provider, agent, coalesce(skill, ''), error_class = 'abandoned'"
        " AND cost_pusd IS NULL AND call_cost_pusd IS NULL FROM attempts WHERE run_id = ? AND id < ?"
        " ORDER BY id DESC LIMIT 1",
        (run_id, attempt_id),
    ).fetchone()
    if row is None or not row[6]:
        return None
    return row[0], (int(row[1] // ROLLUP_BUCKET_SECONDS), row[2], row[3], row[4] or "", row[5])


def _costliest_call_again(conn: sqlite3.Connection, key: tuple[Any, ...]) -> None:
    """usage_rollup's costliest call of the row ``key`` (bucket, model, provider, agent, skill; outcome error) read
    again from its attempts."""
    bucket, model, provider, agent, skill = key
    day = bucket * ROLLUP_BUCKET_SECONDS
    conn.execute(
        "UPDATE usage_rollup SET (call_max_pusd, call_max_run_id, call_max_at) ="
        f" (SELECT {ATTEMPT_CALL_MAX} FROM attempts WHERE started_at >= ? AND started_at < ? AND model = ?"
        " AND provider = ? AND coalesce(agent, '') = ? AND coalesce(skill, '') = ? AND outcome = 'error')"
        " WHERE bucket = ? AND model = ? AND provider = ? AND agent = ? AND skill = ? AND outcome = 'error'",
        (day, day + ROLLUP_BUCKET_SECONDS, model, provider, agent, skill, *key),
    )


def give_back(conn: sqlite3.Connection | sqlite3.Cursor, held: Iterable[tuple[int, str | None]]) -> None:
    """Drop the reservations ``held`` ((id, the run its attempt is recorded under)) of attempts never sent. One gone
    already expired while its process was suspended (a laptop asleep, a stopped job), and a sweep recorded it as the
    attempt it stood for, "the provider may bill it", at its worst case: nothing was sent, so that stand-in goes too
    (left, it was a second call of the run, counted in every limit for good)."""
    for rid, run_id in held:
        if conn.execute("DELETE FROM budget_reservations WHERE id = ?", (rid,)).rowcount == 0 and run_id:
            unrecord_abandoned(conn, run_id, rid)  # type: ignore[arg-type]
