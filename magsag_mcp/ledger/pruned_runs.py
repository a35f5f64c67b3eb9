"""A run's row against its attempts left: whether a prune deleted some of them (``query_runs``' ``attempts_pruned``).

A run's row keeps what its attempts added up to when ``magsag data prune`` deletes them (the spend its run limit
counts: see prune.py), so the row and the attempts left tell whether, and what, was deleted, with no column more.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from .money import joined, summed


def run_unbounded(conn: sqlite3.Connection, run_id: str) -> int:
    """A run's own attempts of unknown cost with no bound on it (an unknown price)."""
    sql = "SELECT COUNT(*) FROM attempts WHERE run_id = ? AND cost_pusd IS NULL AND cost_bound_pusd IS NULL"
    return int(conn.execute(sql, (run_id,)).fetchone()[0])


#: a run's attempts left: their known cost and how many are of unknown cost, read from attempts_run_cost alone (an
#: index on (run_id, cost_pusd) covers both), and the bound of those of unknown cost, read only where there are some
_RUN_LEFT = "SELECT {cost}, COALESCE(SUM(cost_pusd IS NULL), 0) FROM attempts WHERE run_id = :run"
_RUN_LEFT_BOUND = "SELECT {bound} FROM attempts WHERE run_id = ? AND cost_pusd IS NULL"


#: where the cost and the bound are in a row of ``query_runs``' attempts (queries._ATTEMPT_COLS)
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
) -> tuple[bool, int]:
    """Whether a prune deleted some of a run's attempts, and its attempts of unknown cost with no bound.

    The run's row adds up every attempt it recorded (cost, attempts of unknown cost, their bound) and keeps them when a
    prune deletes attempts (its run limit counts them): where its attempts left add up to less, some were deleted, all
    or some of them (only a run with none left was flagged: one with some left showed a cost they did not add up to,
    with no word why). Only a pruned attempt of known cost that cost $0 leaves no trace, nor spend to explain. The row
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
        return _taken(conn, run_id, cost, unpriced, bound, (cost_left, unknown_left, bound_left), unbounded)
    unbounded = run_unbounded(conn, run_id) if unpriced else 0
    if not prunable:
        return False, unbounded
    return _taken(conn, run_id, cost, unpriced, bound, _left(conn, run_id), unbounded)


def _left(conn: sqlite3.Connection, run_id: str) -> tuple[int, int, None]:
    """(known cost, attempts of unknown cost, None: their bound, read only if needed) of a run's attempts left."""
    [(high, low, unknown_left)] = summed(conn, lambda s: _RUN_LEFT.format(cost=s("cost_pusd")), {"run": run_id})
    return joined(high, low), int(unknown_left), None


def _taken(
    conn: sqlite3.Connection,
    run_id: str,
    cost: int,
    unpriced: int,
    bound: int | None,
    left: tuple[int, int, int | None],
    unbounded: int,
) -> tuple[bool, int]:
    """(whether a prune took some of the run's attempts, ``unbounded`` (those left of no bound) and those it took of
    unknown cost that the row's bound does not show had one): see :func:`run_pruned`."""
    cost_left, unknown_left, bound_left = left
    pruned_unknown = unpriced - unknown_left
    if cost_left == cost and pruned_unknown <= 0:
        return False, unbounded
    if pruned_unknown > 0:
        if bound_left is None:
            [(high, low)] = summed(conn, lambda s: _RUN_LEFT_BOUND.format(bound=s("cost_bound_pusd")), (run_id,))
            bound_left = joined(high, low)
        unbounded += pruned_unknown - (1 if (bound or 0) > bound_left else 0)
    return True, unbounded


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
