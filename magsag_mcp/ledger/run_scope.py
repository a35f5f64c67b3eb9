"""A run's scope: the run and the runs delegated from it, whose spend its run limit counts.

One definition serves the budget checks (``governance.budget``), ``obs.get_current_cost()`` and
``magsag budget --run-id``, so that what a limit counts and what the user is shown agree.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..exact_money import MONEY
from .money import from_pusd, joined, summed
from .pruned_runs import TREE_PRUNABLE, tree_pruned_unbounded

if TYPE_CHECKING:  # (budget_dicts names governance's LimitKind: governance imports this module)
    from ..budget_dicts import RunCostDict


def run_scope_rows(run: str) -> str:
    """The rows of a run's scope, the run named by the parameter ``run`` (``:run``, or a numbered ``?1`` where the
    statement is bound with a tuple: see governance/scope_sums.py): the run's own row by primary key, its children by
    the partial index runs_parent (``parent_run_id = ?`` implies the index's ``IS NOT NULL``); ``run_id != :run`` keeps
    a run that names itself its parent from counting twice. Budget checks embed it in their own statement."""
    return (
        f"SELECT run_id, cost_pusd, unpriced_calls, cost_bound_pusd FROM runs WHERE run_id = {run}"
        f" UNION ALL SELECT run_id, cost_pusd, unpriced_calls, cost_bound_pusd FROM runs WHERE parent_run_id = {run}"
        f" AND run_id != {run}"
    )


RUN_SCOPE_ROWS = run_scope_rows(":run")


#: the reservations in flight of delegated runs (each made against another run's limit, its parent's), the first made
#: first: a run whose first call is still in flight is not recorded yet, and these say where it is delegated from
DELEGATED_IN_FLIGHT = (
    "SELECT attempt_run_id, run_id FROM budget_reservations WHERE run_id != attempt_run_id ORDER BY id"
)


def delegated_in_flight(conn: sqlite3.Connection | sqlite3.Cursor) -> dict[str, str]:
    """Each delegated run with a reservation in flight -> the run it reserved against (:data:`DELEGATED_IN_FLIGHT`):
    one read of the reservations (the calls in flight), for a whole batch of reservations or records."""
    out: dict[str, str] = {}
    for run, parent in conn.execute(DELEGATED_IN_FLIGHT):
        if run not in out:
            out[run] = parent
    return out


def topped(
    conn: sqlite3.Connection | sqlite3.Cursor, runs: list[tuple[Any, ...]], delegated: dict[str, str]
) -> list[tuple[Any, ...]]:
    """``runs`` (run rows, their parent fourth) with each parent that is itself delegated replaced by the run it is
    delegated from: recorded so, or (``delegated``, :func:`delegated_in_flight`) with its first call in flight. A run
    is recorded under the top run of its tree; a call that read its parent's top before the parent was placed under
    another run (by the parent's own first call) was recorded a level below that top, whose scope counted it nowhere.
    A parent neither recorded nor in flight may be placed by a record of ``runs`` itself (its first row there, as the
    upsert makes it): two calls refused before they reserved, placing a under z and b under a, recorded in one batch.
    One read per parent named (by primary key): the records of a batch that name none read nothing."""
    out: list[tuple[Any, ...]] | None = None
    tops: dict[str, str] = {}
    #: each run of the batch -> the parent its first row names (None: none), made when a parent needs it
    placing: dict[str, str | None] | None = None
    for i, run in enumerate(runs):
        parent = run[3]
        if parent is None or parent == run[0]:
            continue
        top = tops.get(parent)
        if top is None:
            row = conn.execute("SELECT parent_run_id FROM runs WHERE run_id = ?", (parent,)).fetchone()
            top = row[0] if row is not None else delegated.get(parent)
            if row is None and top is None:
                if placing is None:
                    placing = {}
                    for r in runs:  # (a loop: a comprehension is a frame of its own)
                        placing.setdefault(r[0], r[3])
                top = placing.get(parent)
            top = tops[parent] = top or parent
        if top != parent and top != run[0]:
            if out is None:
                out = list(runs)
            out[i] = (*run[:3], top, *run[4:])
    return runs if out is None else out


#: what the calls in flight of runs delegated from a run hold against its limit: made while it was a top run of its own
_DELEGATED_HOLDS = (
    "SELECT COALESCE(SUM(amount_pusd), 0), COUNT(*), COALESCE(MAX(unbounded), 0) FROM budget_reservations"
    " WHERE run_id = ? AND attempt_run_id != run_id"
)
#: those holds, counted against the run's new top (see :func:`adopt_delegated_holds`)
ADOPT_DELEGATED_HOLDS = "UPDATE budget_reservations SET run_id = ? WHERE run_id = ? AND attempt_run_id != run_id"


def delegated_holds(conn: sqlite3.Connection | sqlite3.Cursor, run_id: str) -> tuple[int, int, bool]:
    """What the calls in flight of runs delegated from ``run_id`` hold against its limit (pico-USD), which they read as
    their top run, how many reservations hold it, and whether one of them holds no known bound. Placed under another
    run (by its own first call), it takes them along (see :func:`adopt_delegated_holds`): their records land under
    that run (see :func:`topped`), and until then that run's limit did not count them, and let other calls take what
    they may yet spend. Counted, not only summed: a placeholder of a model of unknown price holds $0 and moves all the
    same, or a strict limit on the new top does not see it in flight (see :func:`unbounded_in_flight`)."""
    amount, count, no_bound = conn.execute(_DELEGATED_HOLDS, (run_id,)).fetchone()
    return int(amount), int(count), bool(no_bound)


def adopt_delegated_holds(conn: sqlite3.Connection | sqlite3.Cursor, run_id: str, top: str) -> None:
    """The holds :func:`delegated_holds` counts for ``run_id``, counted against ``top``'s limit from now on: the run
    is placed under ``top``, as its delegated runs' records will be. Made by the reservation that places it, checked
    against ``top``'s limit with them, and by the record that places it (a call refused before it reserved)."""
    conn.execute(ADOPT_DELEGATED_HOLDS, (top, run_id))


def held_in_flight(
    conn: sqlite3.Connection | sqlite3.Cursor,
) -> tuple[dict[str, int], dict[str, str], list[tuple[Any, ...]]]:
    """What the reservations in flight hold, by the run whose limit each counts against (the sums of ``amount_pusd
    WHERE run_id = ?``, exact), :func:`delegated_in_flight`'s map, and :func:`unbounded_in_flight`'s rows, in one read
    of them: a batch of reservations reads each run's holds here, where a read of its own per run scanned every call in
    flight for each of them."""
    held: dict[str, int] = {}
    delegated: dict[str, str] = {}
    unbounded: list[tuple[Any, ...]] = []
    for run, attempt_run, amount, no_bound, *named in conn.execute(
        "SELECT run_id, attempt_run_id, amount_pusd, unbounded, agent, call_id, provider, model"
        " FROM budget_reservations ORDER BY id"
    ):
        if run is not None:  # (no run's scope counts a reservation without one: run_id = NULL matches nothing)
            held[run] = held.get(run, 0) + amount
            if attempt_run is not None and attempt_run != run and attempt_run not in delegated:
                delegated[attempt_run] = run
        if no_bound:
            agent, call_id, provider, model = named
            unbounded.append((run, agent, call_id, attempt_run, provider, model))
    return held, delegated, unbounded


#: the reservations in flight of no known bound (a delegated call's placeholder of a model of unknown price, see
#: 0020_reservation_unbounded), with what names their call: the table holds only the calls in flight
_UNBOUNDED_IN_FLIGHT = (
    "SELECT run_id, agent, call_id, attempt_run_id, provider, model FROM budget_reservations"
    " WHERE unbounded ORDER BY id"
)


def unbounded_in_flight(conn: sqlite3.Connection | sqlite3.Cursor) -> list[tuple[Any, ...]]:
    """(budget run, agent, call id, the run its attempt is recorded under, provider, model) of each reservation in
    flight that holds no known bound: what a limit that does not allow unpriced models cannot count (see
    :func:`~..governance.budget.unbounded_in_scope`)."""
    return conn.execute(_UNBOUNDED_IN_FLIGHT).fetchall()


def run_scope_totals(conn: sqlite3.Connection, run_id: str | None) -> tuple[int, int]:
    """(cost in pico-USD, attempts of unknown cost) recorded for a run and the runs delegated from it.

    The one definition of a run's scope (:data:`RUN_SCOPE_ROWS`): ``obs.get_current_cost()`` reports
    it and a run's budget limit is checked against it. Delegation counts one level deep.
    """
    [(high, low, unpriced)] = summed(
        conn,
        lambda s: f"SELECT {s('cost_pusd')}, COALESCE(SUM(unpriced_calls), 0) FROM ({RUN_SCOPE_ROWS})",
        {"run": run_id},
    )
    return joined(high, low), int(unpriced)


def run_scope_unbounded(conn: sqlite3.Connection, run_id: str | None) -> int:
    """Attempts of unknown cost with no bound on it (an unknown price) in a run's scope: those left, and those a prune
    took that the runs' rows still count (:func:`~.pruned_runs.tree_pruned_unbounded`; only those left were counted,
    too few in a pruned tree). Whether any run of the scope can have lost some is asked in the same statement: a
    ledger never pruned reads nothing more."""
    left, prunable = conn.execute(
        "SELECT (SELECT COUNT(*) FROM attempts WHERE cost_pusd IS NULL AND cost_bound_pusd IS NULL"
        f" AND run_id IN (SELECT run_id FROM ({RUN_SCOPE_ROWS}))), EXISTS ({TREE_PRUNABLE})",
        {"run": run_id},
    ).fetchone()
    return int(left) + (tree_pruned_unbounded(conn, run_id) if prunable else 0)


@dataclass(frozen=True, slots=True)
class RunSpend:
    """What a run (and the runs delegated from it) has cost.

    ``known_usd`` is the sum of every attempt whose cost is known. An attempt of unknown cost (cut
    after it reached the vendor, or a model with no price) is counted in ``unknown_attempts``; where
    a worst case could be estimated before sending, it is in ``unknown_cost_bound_usd``, and the
    rest (no price, so no bound) in ``unbounded_attempts``. ``at_most_usd`` is what a run limit
    counts: the known spend plus the bounds.
    """

    known_usd: Decimal
    unknown_cost_bound_usd: Decimal
    unknown_attempts: int
    unbounded_attempts: int

    @property
    def at_most_usd(self) -> Decimal:
        # in MONEY explicitly: read by the caller (obs.current_cost(), cost_detail()) after the service has
        # returned, in whatever Decimal context the caller's code set (a + b rounds to its precision)
        return MONEY.add(self.known_usd, self.unknown_cost_bound_usd)

    @property
    def cost_complete(self) -> bool:
        return self.unknown_attempts == 0

    def to_dict(self) -> RunCostDict:
        return {
            "known_usd": format(self.known_usd, "f"),
            "unknown_cost_bound_usd": format(self.unknown_cost_bound_usd, "f"),
            "at_most_usd": format(self.at_most_usd, "f"),
            "unknown_attempts": self.unknown_attempts,
            "unbounded_attempts": self.unbounded_attempts,
            "cost_complete": self.cost_complete,
        }


def run_spend_in(conn: sqlite3.Connection, run_id: str) -> RunSpend:
    [(cost_high, cost_low, unpriced, bound_high, bound_low)] = summed(
        conn,
        lambda s: (
            f"SELECT {s('cost_pusd')}, COALESCE(SUM(unpriced_calls), 0), {s('cost_bound_pusd')} FROM ({RUN_SCOPE_ROWS})"
        ),
        {"run": run_id},
    )
    unbounded = run_scope_unbounded(conn, run_id) if unpriced else 0
    return RunSpend(
        from_pusd(joined(cost_high, cost_low)) or Decimal(0),
        from_pusd(joined(bound_high, bound_low)) or Decimal(0),
        int(unpriced),
        int(unbounded),
    )
