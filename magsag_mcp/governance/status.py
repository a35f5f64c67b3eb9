"""How each budget limit stands (``check_budget``, ``magsag budget``): limit, spent, reserved, remaining, status.

Read from the ledger in one snapshot; nothing here reserves or refuses (:mod:`.budget` and
:meth:`~magsag_mcp.governance.Governance.admit` do that, before each attempt).
"""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from ..ledger.migrations import ROLLUP_BUCKET_SECONDS, SPEND_BUCKET_SECONDS
from ..ledger.money import from_pusd
from ..ledger.prune import SPEND_KEEP_BUCKETS, pruned_before
from ..ledger.reservation_owners import gone_owners
from ..ledger.run_scope import run_scope_totals, run_scope_unbounded
from .budget import budget_run, spent_and_reserved, window_bounds
from .delegation import known_parent
from .policy import BY_AGENT, MONTHLY, WINDOWED, Limit, PolicySet
from .refusals import describe_scope

#: the share of a limit used from which its status is "near"
NEAR_FRACTION = Decimal("0.8")

#: a limit's figures as read: spent, bound, held (pico-USD), its unpriced calls, and its holders (None: a call limit)
_Row = tuple[Limit, int, int, int, tuple[int, int], tuple[int, int, float | None, int] | None]


async def budget_status(
    policies: PolicySet,
    ledger: Any,
    agent: str | None = None,
    run_id: str | None = None,
    parent_run_id: str | None = None,
) -> dict[str, Any]:
    """Each limit that applies: limit, spent, reserved, remaining, status (ok / near / exceeded).

    A run limit covers the run and its delegated runs; for a delegated run (``parent_run_id``, or
    the parent the ledger recorded for it) that is its parent's limit, the one its calls reserve
    against. ``unpriced_attempts`` counts attempts whose cost is unknown (a call retried after a cut attempt may have
    two): when it is not 0, ``cost_complete`` is false and ``spent_usd`` is a lower bound, not the spend.
    ``unknown_cost_bound_usd`` is those attempts' estimated worst case, where their price is known;
    the limit counts it, with ``spent_usd`` and ``reserved_usd``, in ``remaining_usd`` and ``status``.
    ``unbounded_attempts`` counts those with no bound (an unknown price): ``remaining_usd`` is then an
    upper bound. ``unpriced_calls`` and ``unbounded_calls`` are the same two counts under their first names (attempts,
    not calls), kept for the clients that read them. ``reserved_by`` says what holds ``reserved_usd`` (calls in flight),
    also when a call in flight holds a reservation of no known bound (``unbounded``: a delegated call's placeholder
    of a model of unknown price, which holds $0), which makes ``remaining_usd`` an upper bound too.
    """
    now = time.time()
    applicable = [
        lim
        for lim in policies.limits
        if lim.kind in ("call", "day", "month") or (lim.kind == "run" and run_id) or (lim.kind in BY_AGENT and agent)
    ]

    run_recorded: bool | None = None
    agent_recorded: bool | None = None
    pruned: tuple[float, str] | None = None  # the latest prune's cutoff, and when it ran

    def q(conn: Any) -> tuple[str | None, list[_Row]]:
        parent = parent_run_id
        if parent is None and run_id and any(lim.kind == "run" for lim in applicable):
            # a run whose first call is still in flight is not recorded yet: its reservations name its budget run
            # (a delegated run's, its parent), as they place it for delegation.top_run
            parent = known_parent(conn, run_id)
        budget = budget_run(run_id, parent)
        if run_id:  # runs_parent and the primary key: a run, or a tree, with any recorded call
            nonlocal run_recorded
            run_recorded = bool(
                conn.execute(
                    "SELECT 1 FROM runs WHERE run_id = ? UNION ALL SELECT 1 FROM runs WHERE parent_run_id = ? LIMIT 1",
                    (run_id, run_id),
                ).fetchone()
            )
        if agent:  # runs_agent: a misspelled agent read as one with its whole daily limit left
            nonlocal agent_recorded
            agent_recorded = conn.execute("SELECT 1 FROM runs WHERE agent = ? LIMIT 1", (agent,)).fetchone() is not None
        if any(lim.kind in WINDOWED for lim in applicable):
            nonlocal pruned
            pruned = pruned_before(conn)
        rows: list[_Row] = []
        for lim in applicable:
            if lim.kind == "call":
                rows.append((lim, 0, 0, 0, (0, 0), None))
                continue
            scope_run = budget if lim.kind == "run" else run_id
            spent, bound, held = spent_and_reserved(conn, lim, run_id=scope_run, agent=agent, now=now)
            unpriced = unpriced_calls(conn, lim, run_id=scope_run, agent=agent, now=now)
            # read whatever reserved_usd is: a delegated call's placeholder of a model of unknown price holds $0
            holders = held_reservations(conn, lim, run_id=scope_run, agent=agent, now=now)
            rows.append((lim, spent, bound, held, unpriced, holders))
        return budget, rows

    budget, rows = await ledger.read(q) if applicable else (run_id, [])
    limits = []
    notes: list[str] = []
    worst = "ok"
    for lim, spent, bound, held, (unpriced, unbounded), holders in rows:
        spent_d, held_d = from_pusd(spent) or Decimal(0), from_pusd(held) or Decimal(0)
        bound_d = from_pusd(bound) or Decimal(0)
        used = spent_d + bound_d + held_d
        status = "exceeded" if used >= lim.amount else "near" if used >= lim.amount * NEAR_FRACTION else "ok"
        if lim.kind == "call":
            status = "ok"
        worst = max(worst, status, key=["ok", "near", "exceeded"].index)
        entry: dict[str, Any] = {
            "policy": lim.policy,
            "limit": lim.kind,
            "scope": "each call" if lim.kind == "call" else describe_scope(lim, budget, agent, run_id),
            "limit_usd": format(lim.amount, "f"),
            # "f": a normalized Decimal prints a round $20 as 2E+1
            "spent_usd": format(spent_d, "f"),
            "unknown_cost_bound_usd": format(bound_d, "f"),
            "reserved_usd": format(held_d, "f"),
            "remaining_usd": format(max(Decimal(0), lim.amount - used), "f"),
            "status": status,
            "unpriced_attempts": unpriced,
            "unbounded_attempts": unbounded,
            "unpriced_calls": unpriced,  # (attempts: the first name, kept)
            "unbounded_calls": unbounded,
            "cost_complete": unpriced == 0,
        }
        if holders is not None and (held or holders[3]):
            calls, expired, until, unbounded_held = holders
            entry["reserved_by"] = {
                "calls": calls,
                "expired": expired,
                "held_until": datetime.fromtimestamp(until, UTC).isoformat(timespec="seconds") if until else None,
            }
            if unbounded_held:  # in flight at no known bound: remaining_usd is then at most, as with unbounded_attempts
                entry["reserved_by"]["unbounded"] = unbounded_held
        if lim.kind == "run":
            entry["budget_run_id"] = budget
        if lim.kind in WINDOWED:  # (a month limit's: the calendar month, from its first day's start)
            start, end = window_bounds(lim, now)
            entry["window"] = {"start": start, "end": end, "timezone": lim.zone}
            if pruned is not None and start < pruned[0]:
                # its spend is whole (the spend buckets outlive the attempts) but its counts are of those left
                entry["cost_complete"] = False
                note = _pruned_counts_note(lim.kind, pruned)
                if note not in notes:
                    notes.append(note)
        limits.append(entry)
    out: dict[str, Any] = {
        "agent": agent,
        "run_id": run_id,
        "status": worst,
        "cost_complete": all(e["cost_complete"] for e in limits),
        "limits": limits,
    }
    if run_recorded is not None:
        out["run_recorded"] = run_recorded  # False: no call of this run (or its delegated runs) is recorded
    if agent_recorded is not None:
        out["agent_recorded"] = agent_recorded  # False: no run of this agent is recorded
    if notes:
        out["notes"] = notes
    return out


#: how a note of :func:`_pruned_counts_note` begins (``magsag budget`` prints it on stderr)
PRUNED_COUNTS = "a prune deleted attempts of this "


def _pruned_counts_note(kind: str, pruned: tuple[float, str]) -> str:
    """What check_budget says of a day or month limit whose window began before a prune's cutoff: the spend buckets it
    reads outlive the attempts (:data:`~..ledger.prune.SPEND_KEEP_BUCKETS`), with the bounds of the unknown costs, but
    no count of the attempts of unknown cost is kept with them, so those counts, and cost_complete, cannot be known
    whole; an unknown price's attempt spent $0 in them, unseen."""
    cutoff = datetime.fromtimestamp(pruned[0], UTC).isoformat(timespec="seconds")
    what = "month" if kind in MONTHLY else "day"
    keep = SPEND_KEEP_BUCKETS * SPEND_BUCKET_SECONDS // 86400
    return (
        f"{PRUNED_COUNTS}{what} (`magsag data prune` at {pruned[1]} deleted those before {cutoff}): its spent_usd and "
        "unknown_cost_bound_usd are whole, kept in the spend buckets a prune leaves, but which of the deleted "
        f"attempts had an unknown cost is not kept, so its unpriced_attempts and unbounded_attempts count those since "
        f"{cutoff} alone and its cost_complete is false (one of no known price would have added $0: spent_usd may be a "
        f"lower bound, remaining_usd an upper one); a prune with --older-than {keep}d or more keeps every count "
        f"of a {what}"
    )


def unpriced_calls(
    conn: sqlite3.Connection, limit: Limit, *, run_id: str | None, agent: str | None, now: float
) -> tuple[int, int]:
    """(attempts in the scope of ``limit`` whose cost is unknown, those of them with no bound).

    An unknown cost is an answer of unknown price (no bound) or an attempt cut after it reached the
    vendor (bounded by its worst case, which the limit counts). For status, not on the hot path.
    """
    if limit.kind == "run":
        unpriced = run_scope_totals(conn, run_id)[1]
        return (unpriced, run_scope_unbounded(conn, run_id)) if unpriced else (0, 0)
    if limit.kind in WINDOWED:
        start, end = window_bounds(limit, now)
        by_agent = " AND agent = :agent" if limit.kind in BY_AGENT else ""
        args = {"agent": agent, "start": start, "end": end}
        # a month's whole UTC days from their rows of the daily rollup (which count the unknown costs, and those of
        # them with a bound): a month of a large ledger's attempts is some 100,000 rows to read one by one
        days = (int(-(-start // ROLLUP_BUCKET_SECONDS)), int(end // ROLLUP_BUCKET_SECONDS))
        rolled = (0, 0)
        if limit.kind in MONTHLY and days[1] > days[0] and agent != "":  # ('' is the rollup's row of no agent)
            row = conn.execute(
                "SELECT coalesce(SUM(unpriced), 0), coalesce(SUM(unpriced - bounded), 0) FROM usage_rollup"
                f" WHERE bucket >= :first AND bucket < :last{by_agent}",
                {**args, "first": days[0], "last": days[1]},
            ).fetchone()
            rolled = (int(row[0]), int(row[1]))
            edges = " AND (started_at < :first_at OR started_at >= :last_at)"
            args.update(first_at=days[0] * ROLLUP_BUCKET_SECONDS, last_at=days[1] * ROLLUP_BUCKET_SECONDS)
        else:
            edges = ""
        row = conn.execute(
            "SELECT COUNT(*), coalesce(SUM(cost_bound_pusd IS NULL), 0) FROM attempts WHERE started_at >= :start"
            f" AND started_at < :end AND cost_pusd IS NULL{by_agent}{edges}",
            args,
        ).fetchone()
        return int(row[0]) + rolled[0], int(row[1]) + rolled[1]
    return 0, 0


def held_reservations(
    conn: sqlite3.Connection, limit: Limit, *, run_id: str | None, agent: str | None, now: float
) -> tuple[int, int, float | None, int]:
    """(calls holding open reservations in the scope of ``limit``, those of them holding one past its expiry, the
    latest expiry, those of them holding one of no known bound: see 0020_reservation_unbounded).

    A call holds a reservation for each attempt not yet recorded (a cut attempt held at its bound beside its retry's):
    counted by the call each names (a row without one, an older version's, is a call of its own). An expired
    reservation is a call whose process stopped (killed, or asleep) without recording it: it counts until the next
    reservation in any process records it as an abandoned attempt, at the amount reserved. So does one whose process
    this one sees gone (see reservation_owners), expired as that sweep expires it: as of when it was made. For status,
    not on the hot path.
    """
    where = " WHERE run_id = :run" if limit.kind == "run" else " WHERE agent = :agent" if limit.kind in BY_AGENT else ""
    gone = [rid for (rid,) in gone_owners(conn, now)]
    expires = "expires_at"
    if gone:
        expires = "CASE WHEN id IN (SELECT value FROM json_each(:gone)) THEN created_at ELSE expires_at END"
    row = conn.execute(
        f"SELECT COUNT(DISTINCT coalesce(call_id, id)), COUNT(DISTINCT CASE WHEN {expires} <= :now THEN"
        f" coalesce(call_id, id) END), MAX({expires}), COUNT(DISTINCT CASE WHEN unbounded THEN coalesce(call_id, id)"
        " END) FROM budget_reservations" + where,
        {"run": run_id, "agent": agent, "now": now, "gone": json.dumps(gone)},
    ).fetchone()
    return int(row[0]), int(row[1]), row[2], int(row[3])
