"""Delegation: the tree a delegated run's calls spend, and the runs that cannot be joined into one.

A delegated run records the top run of its tree as its parent (at any depth), and a record keeps the
parent it was first written with: so a run is placed once, and a call that would place it elsewhere is
refused (:func:`top_run`).
"""

from __future__ import annotations

import sqlite3

from ..errors import InputError

__all__ = ["in_flight_budget_run", "known_parent", "parent_top", "placed_elsewhere", "recorded_parent", "top_run"]


def top_run(conn: sqlite3.Connection | sqlite3.Cursor, run_id: str, parent_run_id: str) -> str:
    """The top run of ``parent_run_id``'s tree (the parent it was recorded with, itself a top run, else
    itself), which a call of ``run_id`` delegated from it spends. A run already recorded elsewhere (as a
    top run, runs delegated from it included, or in another tree), or with a call in flight there, is
    refused: its record keeps the parent it was first recorded with, so its spend (or its delegated runs')
    would land outside the tree whose limit its reservations were checked against."""
    row = conn.execute("SELECT parent_run_id FROM runs WHERE run_id = ?", (run_id,)).fetchone()
    if row is None:  # not recorded itself, but runs delegated from it are: a top run
        row = conn.execute(
            "SELECT NULL FROM runs WHERE parent_run_id = ? AND run_id != ? LIMIT 1", (run_id, run_id)
        ).fetchone()
    row = row or conn.execute(IN_FLIGHT_BUDGET_RUN, (run_id,)).fetchone()
    top = parent_top(conn, parent_run_id)
    if row is not None and top != run_id:
        recorded = row[0] if row[0] and row[0] != run_id else None
        if recorded != top:
            was = "a top run" if recorded is None else f"delegated from run {recorded!r}"
            of = f" (the top run of {parent_run_id!r})" if top != parent_run_id else ""
            raise InputError(
                f"run {run_id!r} is recorded as {was}, not as delegated from run {top!r}{of}; a run stays where "
                f"it was first recorded, so its spend would escape run {top!r}'s limit. Give this call a new "
                f"run_id, or leave parent_run_id out to continue run {run_id!r} where it is",
                run_id=run_id,
                parent_run_id=parent_run_id,
            )
    return top


def parent_top(conn: sqlite3.Connection | sqlite3.Cursor, parent_run_id: str) -> str:
    """The top run of ``parent_run_id``'s tree as it stands: the parent it was recorded with, else the run its calls in
    flight (not recorded yet) reserve against, else itself. Read before a call (:func:`top_run`) and again in each of
    its reservations' transactions (``Reservation.apply_all``): the parent may have been placed under another run
    meanwhile, by its own first call."""
    parent = recorded_parent(conn, parent_run_id) or in_flight_budget_run(conn, parent_run_id)
    return parent if parent and parent != parent_run_id else parent_run_id


#: where a run is placed, as :func:`top_run` reads it, in one statement: its recorded parent (0: recorded as a top run),
#: whether runs delegated from it are recorded (it is then a top run), and its calls' in flight budget run
PLACEMENT = (
    "SELECT (SELECT ifnull(parent_run_id, 0) FROM runs WHERE run_id = :run),"
    " (SELECT 0 FROM runs WHERE parent_run_id = :run AND run_id != :run LIMIT 1),"
    " (SELECT run_id FROM budget_reservations WHERE attempt_run_id = :run ORDER BY run_id = attempt_run_id, id LIMIT 1)"
)


def placed_elsewhere(
    conn: sqlite3.Connection | sqlite3.Cursor, run_id: str | None, parent_run_id: str, top: str | None
) -> InputError | None:
    """:func:`top_run`'s refusal of a call of ``run_id`` naming ``parent_run_id`` (whose top run it found to be
    ``top``), read again in the call's reservation's transaction (``BEGIN IMMEDIATE``, under the write lock), else
    None. The service reads it before the call, outside any transaction, to find the top run: two calls placing one new
    run under two parents at once both read it unplaced, both passed, and one's spend landed in the other's tree,
    outside the limit its reservations were checked against. Here each sees the other's reservation (or record). One
    statement reads where the run is; only a run placed elsewhere is read as top_run reads it, for its refusal."""
    if run_id is None or top == run_id:
        return None
    recorded, delegated_from_it, in_flight = conn.execute(PLACEMENT, {"run": run_id}).fetchone()
    placed = recorded if recorded is not None else None if delegated_from_it is not None else in_flight
    if placed == top or (recorded is None and delegated_from_it is None and in_flight is None):
        return None  # where the call found it, or nowhere yet
    try:
        top_run(conn, run_id, parent_run_id)  # (refuses a run recorded as a top run, or delegated from another)
    except InputError as refused:
        refused.placed_elsewhere = True
        return refused
    return None


RECORDED_PARENT = "SELECT parent_run_id FROM runs WHERE run_id = ?"


def recorded_parent(conn: sqlite3.Connection | sqlite3.Cursor, run_id: str) -> str | None:
    """The parent a run was recorded with. A call that joins a delegated run by its id alone (MCP's
    ``run_id``, ``magsag invoke --run-id``) spends its parent's budget too, as ``check_budget`` shows."""
    row = conn.execute(RECORDED_PARENT, (run_id,)).fetchone()
    return row[0] if row else None


#: a run whose first call is still in flight is not recorded yet: its reservations name its budget run. One
#: naming another run first: a call that named the run's parent placed it, while one that left the parent out
#: (and reserved under the unrecorded run itself) only continues it, wherever it is
IN_FLIGHT_BUDGET_RUN = (
    "SELECT run_id FROM budget_reservations WHERE attempt_run_id = ? ORDER BY run_id = attempt_run_id, id LIMIT 1"
)


def in_flight_budget_run(conn: sqlite3.Connection | sqlite3.Cursor, run_id: str) -> str | None:
    """The run whose limit the calls in flight of ``run_id``, not recorded yet, reserve against (see
    :data:`IN_FLIGHT_BUDGET_RUN`), or None."""
    row = conn.execute(IN_FLIGHT_BUDGET_RUN, (run_id,)).fetchone()
    return row[0] if row else None


def known_parent(conn: sqlite3.Connection | sqlite3.Cursor, run_id: str) -> str | None:
    """The parent a run's calls spend under when a call names none, as a reservation finds it
    (:meth:`Reservation.apply_all`): the one it was recorded with, else, while its first call (delegated) is still in
    flight, the budget run that call reserved against. For status, one run at a time."""
    row = conn.execute(RECORDED_PARENT, (run_id,)).fetchone()
    if row is not None:  # recorded (a top run's parent is NULL: it has none, whatever is in flight)
        return row[0]
    return in_flight_budget_run(conn, run_id)
