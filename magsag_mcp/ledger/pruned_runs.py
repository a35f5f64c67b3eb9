"""A run's row against its attempts left: whether a prune deleted some of them (``query_runs``' ``attempts_pruned``,
and the summary's ``largest_run``'s: :func:`tree_pruned`).

A run's row keeps what its attempts added up to when ``magsag data prune`` deletes them (the spend its run limit
counts: see prune.py), and how many calls it made, each of one attempt at least, so the row and the attempts left
tell whether, and what, was deleted, with no column more.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from .money import joined, summed


def run_unbounded(conn: sqlite3.Connection, run_id: str) -> int:
    """A run's own attempts of unknown cost with no bound on it (an unknown price)."""
    sql = "SELECT COUNT(*) FROM attempts WHERE run_id = ? AND cost_pusd IS NULL AND cost_bound_pusd IS NULL"
    return int(conn.execute(sql, (run_id,)).fetchone()[0])


#: a run's attempts left: their known cost, how many are of unknown cost and how many there are, read from
#: attempts_run_cost alone (an index on (run_id, cost_pusd) covers them), and the bound of those of unknown cost, read
#: only where there are some
_RUN_LEFT = "SELECT {cost}, COUNT(*), COALESCE(SUM(cost_pusd IS NULL), 0) FROM attempts WHERE run_id = :run"
_RUN_LEFT_BOUND = "SELECT {bound} FROM attempts WHERE run_id = ? AND cost_pusd IS NULL"


#: where the cost and the bound are in a row of ``query_runs``' attempts (run_pages._ATTEMPT_COLS)
_COST, _BOUND = 15, 21


def run_pruned(
    conn: sqlite3.Connection,
    run_id: str,
    cost: int,
    unpriced: int,
    bound: int | None,
    attempts: list[tuple[Any, ...]] | None = None,
    *,
    prunable: bool = True,
    calls: int = 0,
) -> tuple[bool, int]:
    """Whether a prune deleted some of a run's attempts, and its attempts of unknown cost with no bound.

    The run's row adds up every attempt it recorded (cost, attempts of unknown cost, their bound) and keeps them when a
    prune deletes attempts (its run limit counts them): where its attempts left add up to less, some were deleted, all
    or some of them (only a run with none left was flagged: one with some left showed a cost they did not add up to,
    with no word why). A pruned attempt of known cost that cost $0 leaves no cost to explain, but a call less: a run of
    more ``calls`` (its row's) than attempts left lost some; the caller passes them only for a run begun before
    :func:`calls_cutoff` (a call that failed before any attempt, on an invalid payload, records none). The row
    does not say which of its attempts of unknown cost had a bound: those pruned count as of no bound, but for one
    where the bound the row kept shows some had one, so the count is at most this many (it counted those left only).

    ``prunable`` False: the run began at or after the ledger's oldest attempt (:func:`oldest_attempt`), so no prune can
    have taken from it (a prune deletes every attempt before its cutoff) and its attempts are not added up again."""
    if attempts is not None:  # ``attempts``: every attempt left, as read (one pass: no frame per figure)
        cost_left = unknown_left = unbounded = bound_left = 0
        for a in attempts:
            if a[_COST] is not None:
                cost_left += a[_COST]
            else:
                unknown_left += 1
                if a[_BOUND] is None:
                    unbounded += 1
                else:
                    bound_left += a[_BOUND]
        left = (cost_left, unknown_left, bound_left, len(attempts))
        return _taken(conn, run_id, cost, unpriced, bound, left, unbounded, calls)
    unbounded = run_unbounded(conn, run_id) if unpriced else 0
    if not prunable:
        return False, unbounded
    return _taken(conn, run_id, cost, unpriced, bound, _left(conn, run_id), unbounded, calls)


def _left(conn: sqlite3.Connection, run_id: str) -> tuple[int, int, None, int]:
    """(known cost, attempts of unknown cost, None: their bound, read only if needed, how many) of a run's attempts
    left."""
    [(high, low, count, unknown_left)] = summed(conn, lambda s: _RUN_LEFT.format(cost=s("cost_pusd")), {"run": run_id})
    return joined(high, low), int(unknown_left), None, int(count)


def _taken(
    conn: sqlite3.Connection,
    run_id: str,
    cost: int,
    unpriced: int,
    bound: int | None,
    left: tuple[int, int, int | None, int],
    unbounded: int,
    calls: int = 0,
) -> tuple[bool, int]:
    """(whether a prune took some of the run's attempts, ``unbounded`` (those left of no bound) and those it took of
    unknown cost that the row's bound does not show had one): see :func:`run_pruned`."""
    cost_left, unknown_left, bound_left, count_left = left
    pruned_unknown = unpriced - unknown_left
    if cost_left == cost and pruned_unknown <= 0:
        # (a call's attempts at $0 taken leave the cost as it was, and fewer attempts than the row's calls)
        return count_left < calls, unbounded
    if pruned_unknown > 0:
        if bound_left is None:
            [(high, low)] = summed(conn, lambda s: _RUN_LEFT_BOUND.format(bound=s("cost_bound_pusd")), (run_id,))
            bound_left = joined(high, low)
        unbounded += pruned_unknown - (1 if (bound or 0) > bound_left else 0)
    return True, unbounded


#: see :func:`calls_cutoff`: two subqueries, each read from its index's end (one SELECT of both aggregates scans)
_CALLS_CUTOFF = "CASE WHEN (SELECT MIN(id) FROM attempts) > 1 THEN (SELECT MIN(started_at) FROM attempts) END"


def calls_cutoff(conn: sqlite3.Connection) -> float | None:
    """The time before which a run of more calls than attempts left lost a call's attempts to a prune: the ledger's
    oldest attempt where the ledger lost its first ones (its attempt 1 gone: a prune deletes the oldest; an id is never
    given twice while a later one stands), else None. A call that failed before any attempt (an invalid payload)
    records a call and no attempt: a run that began so before the first attempt of a ledger never pruned lost none."""
    return conn.execute(f"SELECT {_CALLS_CUTOFF}").fetchone()[0]


def oldest_attempt(conn: sqlite3.Connection) -> float | None:
    """When the ledger's oldest attempt began (None: it holds none; attempts_started's first entry): a run begun at or
    after it lost none to a prune."""
    return conn.execute("SELECT MIN(started_at) FROM attempts").fetchone()[0]


#: the runs of a run's tree (it and the runs delegated from it) that hold an attempt of unknown cost and began before
#: the ledger's oldest attempt: the only ones a prune can have taken such an attempt from (it deletes every attempt
#: before its cutoff). Read by runs_started: only the runs that outlived a prune begin there (none in a ledger never
#: pruned), where the tree's own index reads all of its runs (3,000 delegated runs)
TREE_PRUNABLE = (
    "SELECT run_id, cost_pusd, unpriced_calls, cost_bound_pusd FROM runs INDEXED BY runs_started"
    " WHERE started_at < coalesce((SELECT MIN(started_at) FROM attempts), 9e999) AND unpriced_calls > 0"
    " AND (run_id = :run OR parent_run_id = :run)"
)


def tree_pruned_unbounded(conn: sqlite3.Connection, run_id: str | None) -> int:
    """The attempts of unknown cost with no bound (as :func:`run_pruned` counts them) that a prune took from the tree
    of ``run_id``, which its runs' rows still count and its attempts left do not."""
    taken = 0
    for run, cost, unpriced, bound in conn.execute(TREE_PRUNABLE, {"run": run_id}).fetchall():
        taken += _taken(conn, run, cost, unpriced, bound, _left(conn, run), 0)[1]
    return taken


#: the runs of a run's tree, among those a summary's filters select (``{cond}``, on ``r``), that a prune can have
#: taken attempts from: those begun before the ledger's oldest attempt (a prune deletes every attempt before its
#: cutoff), and those with none left. Read by runs_started and the tree's own index: none in a ledger never pruned
_TREE_PRUNABLE_RUNS = (
    "SELECT r.run_id, r.cost_pusd, r.unpriced_calls, r.cost_bound_pusd,"
    f" CASE WHEN r.started_at < ({_CALLS_CUTOFF}) THEN r.calls ELSE 0 END FROM runs r"
    " WHERE (r.run_id = ? OR r.parent_run_id = ?) AND {cond}"
    " AND (r.started_at < coalesce((SELECT MIN(started_at) FROM attempts), 9e999)"
    " OR NOT EXISTS (SELECT 1 FROM attempts a WHERE a.run_id = r.run_id))"
)


def tree_pruned(conn: sqlite3.Connection, root: str, cond: str = "1", args: list[Any] | tuple[Any, ...] = ()) -> bool:
    """Whether a prune took attempts from a run of the tree of ``root`` that the filters ``cond`` (SQL on ``r``, with
    ``args``) select, as :func:`run_pruned` decides it for ``query_runs``: a cost, an attempt of unknown cost or (a run
    begun before :func:`calls_cutoff`) a call its row keeps and its attempts left do not hold (the summary's
    ``largest_run`` decided it apart, in SQL that missed the calls at $0 taken, a free model's, and added up the costs
    in an integer that could overflow)."""
    rows = conn.execute(_TREE_PRUNABLE_RUNS.format(cond=cond), [root, root, *args]).fetchall()
    for run, cost, unpriced, bound, calls in rows:
        if _taken(conn, run, cost, unpriced, bound, _left(conn, run), 0, calls)[0]:
            return True
    return False
