"""Budget reservations: reserve the worst case before an attempt, atomically, in the ledger.

One ledger operation (inside the group-commit ``BEGIN IMMEDIATE`` transaction, so atomic across
processes too) sums, for each limit that applies, the recorded spend plus the open reservations,
refuses when the new reservation would cross a limit, and otherwise inserts it (or a fallback no dearer than an
attempt of its call that cost nothing takes that attempt's reservation over: :class:`Carry`). The reservation stays
until the attempt is recorded: the ledger deletes it in the same transaction that inserts the
attempt's real cost, so spend is never counted twice nor missed. A reservation whose process died
expires after :func:`reservation_ttl` seconds (never before the call's deadline has passed) and then
becomes the attempt it stood for, recorded as of unknown cost bounded by the amount it held: the
request may have reached the vendor, so the limits go on counting it (until then, as reserved).

A run's limit covers the run and the runs delegated from it (``runs.parent_run_id``), the same scope
as ``obs.get_current_cost()``: a delegated child run spends its parent's budget. So
``budget_reservations.run_id`` holds the run whose limit a reservation counts against (the *budget
run*): the run itself, or for a delegated run its parent. Delegation is counted one level deep, like
the ledger's ``run_scope_totals``.
"""

from __future__ import annotations

import sqlite3
import time
from decimal import Decimal
from typing import Any, cast

from ..errors import BudgetExceeded, LedgerError
from ..ledger.abandoned import give_back, record_abandoned
from ..ledger.money import to_pusd
from ..ledger.reservation_owners import this_owner
from ..ledger.run_scope import adopt_delegated_holds, delegated_holds, held_in_flight, unbounded_in_flight
from ..ledger.sealed_spend import untouched
from .delegation import parent_top, placed_elsewhere
from .policy import BY_AGENT, Limit
from .refusals import limit_exceeded, unbounded_held
from .scope_sums import day_bounds as day_bounds  # (status.py and call_fit import it from here)
from .scope_sums import parent_and_run_sums, run_spend, scope_sums
from .scope_sums import spent_and_reserved as spent_and_reserved
from .scope_sums import window_bounds as window_bounds

#: the shortest a reservation lives (what every reservation lived before the deadline counted)
RESERVATION_TTL_SECONDS = 15 * 60
#: beyond the call's deadline: the cascade checks the deadline between attempts, so the last attempt
#: may start just before it and run for its own timeouts; then the call is recorded
RESERVATION_MARGIN_SECONDS = 10 * 60
SWEEP_EVERY_SECONDS = 30.0
#: a reservation's row: what it holds, the attempt it stands for and the process that holds it (0024_reservation_owner)
INSERT_RESERVATION = (
    "INSERT INTO budget_reservations (run_id, agent, created_at, expires_at, amount_pusd, state,"
    " attempt_run_id, provider, model, skill, call_id, unbounded, owner_host, owner_pid, owner_started)"
    " VALUES (?, ?, ?, ?, ?, 'held', ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
#: a call's earlier attempt's reservation held at what it cost (or its bound): an amount that bounds the attempt, so
#: a placeholder's mark of no bound (0020_reservation_unbounded) goes with it (see prior_attempts.shrinkable)
SHRINK = "UPDATE budget_reservations SET amount_pusd = ?, unbounded = 0 WHERE id = ?"
_last_sweep = 0.0


def reservation_ttl(call_deadline: float) -> float:
    """How long a reservation lives: the call's deadline plus a margin, and never under 15 minutes."""
    return max(float(RESERVATION_TTL_SECONDS), call_deadline + RESERVATION_MARGIN_SECONDS)


def budget_run(run_id: str | None, parent_run_id: str | None) -> str | None:
    """The run whose limit applies: the parent of a delegated run, else the run itself."""
    return parent_run_id if parent_run_id and parent_run_id != run_id else run_id


class Reservation:
    """A ledger operation: check every limit, then insert the reservation; its value is the new id.

    A delegated run (``parent_run_id`` set) reserves against its parent's run limit. Called with a
    connection it makes one reservation. :meth:`apply_all` makes many in one pass: the group commit
    uses it, so concurrent calls' reservations read each scope's spend and holds once per batch rather
    than once each (the open reservations are an unindexed scan of every call in flight).
    """

    __slots__ = (
        "limits", "amount_pusd", "run_id", "budget", "agent", "ttl", "parent_known", "what", "shrink", "drop",
        "delegated_from", "call_id", "unbounded", "swept", "at",
    )  # fmt: skip

    #: the group commit applies mergeable operations in this order: records (which settle
    #: reservations) first, so the reservations after them read the spend as it now stands
    merge_order = 1

    def __init__(
        self,
        limits: list[Limit],
        amount: Decimal | None,
        run_id: str | None,
        agent: str | None,
        parent_run_id: str | None = None,
        ttl: float = RESERVATION_TTL_SECONDS,
        provider: str | None = None,
        model: str | None = None,
        skill: str | None = None,
        delegated_from: str | None = None,
        call_id: str | None = None,
    ) -> None:
        self.limits = limits
        self.amount_pusd = to_pusd(amount) or 0
        #: ``amount`` None: a model of unknown price's placeholder (see Governance._placing), which holds 0 and bounds
        #: nothing; marked so, the sweep records its attempt with no bound, not at most $0 (0020_reservation_unbounded)
        #: (an int, not a bool: sqlite3 binds an exact int directly, a bool through its adapter lookup, ~3,700
        #: instructions a reservation)
        self.unbounded = 1 if amount is None else 0
        self.run_id = run_id
        self.budget = budget_run(run_id, parent_run_id)
        self.agent = agent
        self.ttl = ttl
        #: without a parent from the caller, the run's recorded parent applies (see recorded_parent)
        self.parent_known = parent_run_id is not None
        #: the attempt it stands for, recorded should its process die with the request in flight
        self.what = (provider, model, skill)
        #: ``(amount, id)`` of the same call's earlier reservations to shrink to what their attempts cost,
        #: before anything is read (see Governance.admit)
        self.shrink: tuple[tuple[int, int], ...] = ()
        #: (id, run) of reservations made for callers already gone whose own drop the lock kept out: gone before
        #: anything is read (see Governance._drop_orphan), a sweep's stand-in of one with it (see give_back)
        self.drop: tuple[tuple[int, str | None], ...] = ()
        #: the parent the call named (``parent_run_id`` is its top run): where the run is placed is checked again here
        self.delegated_from = delegated_from
        #: the call it is made for (see Service.invoke_skill): a call's reservations count as one call in flight
        self.call_id = call_id
        #: refused, it had swept abandoned reservations, which its refusal undid (see __call__)
        self.swept = False
        #: the time it was made at (its row's created_at), whose day and month its limits read (see attempts.sent_at)
        self.at: float | None = None

    def __call__(self, conn: sqlite3.Connection) -> int:
        global _last_sweep
        before = _last_sweep
        ok, value = self.apply_all(conn, [self])[0]
        if not ok:
            # Raised, the refusal undoes the transaction (or savepoint) it was made in, and with it the sweep of
            # abandoned reservations it made: taken for done, the process swept no more for 30 s, and while every
            # reservation was refused (a limit reached) a dead process's calls were never recorded. Not taken for
            # done, and made on its own by the caller (see Governance._reserve).
            self.swept, _last_sweep = _last_sweep != before, before
            raise value
        return int(value)

    def _scope(self, limit: Limit) -> tuple[str | None, ...]:
        if limit.kind == "run":
            return ("run", self.budget)
        if limit.kind in ("day", "month"):
            return (limit.kind, limit.zone)
        return (limit.kind, self.agent, limit.zone)

    @staticmethod
    def apply_all(conn: sqlite3.Connection, reservations: list[Reservation]) -> list[tuple[bool, Any]]:
        """Each reservation in order, as if made one by one: a scope's spend and holds are read once,
        and each reservation made adds to the holds the next one sees (the same transaction, so the
        sums are exact). A refused reservation is ``(False, BudgetExceeded)`` and inserts nothing."""
        global _last_sweep
        before = _last_sweep
        try:
            return Reservation._apply_all(conn, reservations)
        except BaseException:  # (its transaction or savepoint is undone, the sweep with it: the next one sweeps)
            _last_sweep = before
            raise

    @staticmethod
    def _apply_all(conn: sqlite3.Connection, reservations: list[Reservation]) -> list[tuple[bool, Any]]:
        global _last_sweep
        # one cursor for the statements below (conn.execute makes and drops a cursor per statement)
        cur = conn.cursor()
        now = time.time()
        owner = this_owner()  # (the process a reservation's row names: see reservation_owners)
        if now - _last_sweep > SWEEP_EVERY_SECONDS:
            # The sums count every reservation, expired or not; an expired one (or one whose process is seen gone) is
            # recorded as the attempt it stood for (unknown cost, bounded by its amount), which the sums then count.
            record_abandoned(conn, now)
            _last_sweep = now
        # The calls' earlier attempts settled below their worst case hold only what they cost from now on, and those
        # of unknown cost above it (a cut stream's counted prompt) their bound: first, so every sum below reads them so.
        shrink: list[tuple[int, int]] = []
        drop: list[tuple[int, str | None]] = []
        for r in reservations:  # a loop, not a comprehension (a frame) on every reservation
            shrink += r.shrink
            drop += r.drop
        if shrink:
            cur.executemany(SHRINK, shrink)
        if drop:
            give_back(cur, drop)
        # (the writes from here on, a reservation's rows, touch no spend bucket: the month's kept sums stand)
        since = conn.total_changes
        #: scope -> [recorded spend, bound on unknown costs, open reservations (in pico-USD), whether one of them holds
        #: no known bound (see scope_sums)]
        seen: dict[tuple[str | None, ...], list[Any]] = {}
        # The same sums, by what a new reservation's row is found by (see the loop's end): every scope of all calls
        # (a day's, a month's), and each agent's day and month scopes (one per zone). A run scope is looked up in seen
        # by its key.
        days: list[list[Any]] = []
        agent_days: dict[str | None, list[list[Any]]] = {}
        results: list[tuple[bool, Any]] = []
        last = len(reservations) - 1
        #: delegated run -> its parent, of the reservations in flight; and (a batch's) what they hold by budget run,
        #: kept current as the batch inserts (see held_in_flight): read once, when a batch's first run limit needs them
        delegated: dict[str, str] | None = None
        held_by_run: dict[str, int] | None = None
        #: the reservations in flight of no known bound (see unbounded_in_scope): a batch's read with its holds, else
        #: once a strict limit's scope holds one; kept current as the batch inserts
        unbounded: list[tuple[Any, ...]] | None = None
        for i, r in enumerate(reservations):
            r.at = now
            #: what the calls in flight of runs delegated from r's run hold, which r's placement brings under its top;
            #: and how many they are, with whether one holds no known bound (a placeholder holds $0 and moves all the
            #: same: left under r's run, a strict limit on its top did not see it in flight)
            adopted = 0
            adopting: tuple[int, int, bool] | None = None
            if r.delegated_from:
                # The parent the call named, placed under another run since the call read its top (by its own first
                # call): the call's run goes under that run, whose limit counts the tree (one level deep). Against the
                # top read before, it was recorded under the parent, a level below the top, which counted it nowhere.
                top = parent_top(cur, r.delegated_from)
                if top != r.budget and top != r.run_id:
                    r.budget = top
                if misplaced := placed_elsewhere(cur, r.run_id, r.delegated_from, r.budget):
                    results.append((False, misplaced))  # since the call read where its run is (see placed_elsewhere)
                    continue
                if r.run_id is not None and r.budget != r.run_id:
                    adopting = delegated_holds(cur, r.run_id)
                    adopted = adopting[0]
            if not r.parent_known and r.run_id is not None:
                for lim in r.limits:  # with a run limit (a loop, not any() over a generator)
                    if lim.kind == "run":
                        # A run not recorded may have its first call still in flight, delegated from another run,
                        # whose limit it spends (as check_budget counts it). Read only the recorded parent, a call
                        # that continued the run by its id alone reserved under a run limit of the run's own, beside
                        # the parent's: both passed, and the tree spent past its limit.
                        if last:  # in a batch: the run's parent and spend, its holds from the batch's one read of them
                            if held_by_run is None:
                                held_by_run, delegated, unbounded = held_in_flight(cur)
                            parent, spent, bound = run_spend(cur, r.run_id, True)
                            if parent is None:  # not recorded: its first call's, should that be delegated and in flight
                                parent = delegated.get(r.run_id)  # type: ignore[union-attr]
                            r.budget = budget_run(r.run_id, parent)
                            if r.budget == r.run_id and ("run", r.run_id) not in seen:
                                seen["run", r.run_id] = [spent, bound, held_by_run.get(r.run_id, 0), bool(unbounded)]
                        else:  # alone: its scope is read with it (for nothing if it has a parent), the same parent
                            parent, run_sums = parent_and_run_sums(cur, r.run_id)
                            r.budget = budget_run(r.run_id, parent)
                            if r.budget == r.run_id:
                                seen["run", r.run_id] = list(run_sums)
                        r.parent_known = True
                        break
            refused: BudgetExceeded | None = None
            for limit in r.limits:
                key = r._scope(limit)
                sums = seen.get(key)
                if sums is None:
                    if last and key[0] == "run":  # (a batch's: see held_in_flight)
                        if held_by_run is None:
                            held_by_run, delegated, unbounded = held_in_flight(cur)
                        _, spent, bound = run_spend(cur, r.budget, False)
                        held = held_by_run.get(r.budget, 0)  # type: ignore[arg-type]
                        sums = seen[key] = [spent, bound, held, bool(unbounded)]
                    else:
                        sums = seen[key] = list(scope_sums(cur, limit, run_id=r.budget, agent=r.agent, now=now))
                    if i < last:  # (a later reservation of the batch adds to it: a lone one's batch has none)
                        if key[0] in ("day", "month"):
                            days.append(sums)
                        elif key[0] in BY_AGENT:
                            agent_days.setdefault(key[1], []).append(sums)
                spent, bound, held, loose = sums
                if adopted and key[0] == "run":  # (the run limit's scope is r.budget's)
                    held += adopted
                used = spent + bound + held + r.amount_pusd
                # a placeholder of no known price (under allow_unpriced: counted at $0) is refused where nothing is
                # left: an exceeded limit lets no call through, whatever its price
                if used > limit.amount_pusd or (r.unbounded and used >= limit.amount_pusd):
                    refused = limit_exceeded(limit, r, spent, bound, held, now)
                    break
                # A call in flight of no known bound (another process's, whose policy allows unpriced models) holds $0
                # in the sums above: a limit that promises never to be passed cannot count it. A run placed under
                # another brings its delegated runs' calls in flight along (see delegated_holds), placeholders too.
                placing = r.delegated_from is not None and r.budget != r.run_id
                if not limit.allow_unpriced and (loose or (placing and key[0] == "run")):
                    if unbounded is None:  # (rare: the scope's own read found one, or a run is placed)
                        unbounded = unbounded_in_flight(cur)
                    if (holder := unbounded_in_scope(limit, r, unbounded, placing)) is not None:
                        refused = unbounded_held(limit, r, holder)
                        break
            if refused is not None:
                results.append((False, refused))
                continue
            cur.execute(
                INSERT_RESERVATION,
                (r.budget, r.agent, now, now + r.ttl, r.amount_pusd, r.run_id, *r.what, r.call_id, r.unbounded, *owner),
            )
            # The new row counts in every scope read so far that its columns match (as the sums in
            # spent_and_reserved would find it), once each: two limits may share a scope, and a row may
            # fall in a scope this reservation has no limit for (a parent's run). After the batch's last
            # reservation nothing reads them (a lone call's reservation is a batch of one). Looked up, not
            # found by walking every scope read: a batch of 200 calls' reservations, each its own run, walked
            # 200 run scopes for each of them (some 20,000 comparisons a batch, on the writer's thread).
            if i < last:
                amount = r.amount_pusd
                if r.budget is not None and (sums := seen.get(("run", r.budget))) is not None:
                    sums[2] += amount
                    sums[3] = sums[3] or r.unbounded
                if r.agent is not None:
                    for sums in agent_days.get(r.agent, ()):
                        sums[2] += amount
                        sums[3] = sums[3] or r.unbounded
                for sums in days:  # every reservation counts against the day and the month of all calls
                    sums[2] += amount
                    sums[3] = sums[3] or r.unbounded
                if held_by_run is not None and r.budget is not None:  # for a run scope the batch reads later
                    held_by_run[r.budget] = held_by_run.get(r.budget, 0) + amount
            # (a run's budget run is a run: budget_run and parent_top name one for any run_id)
            if delegated is not None and r.run_id is not None and r.budget not in (r.run_id, None):
                if r.run_id not in delegated:
                    delegated[r.run_id] = cast(str, r.budget)  # (as a read after this insert would find it)
            if r.unbounded and unbounded is not None:  # (as a read after this insert would find it)
                unbounded.append((r.budget, r.agent, r.call_id, r.run_id, *r.what[:2]))
            results.append((True, cur.lastrowid))  # (an INSERT's row id: None before any)
            if adopting is not None and adopting[1]:
                _adopt(cur, r, adopting, seen, held_by_run, delegated, unbounded)
        untouched(conn, since)
        return results


def sweep_later(ledger: Any) -> None:
    """Record the abandoned reservations (expired, or of a process seen gone) in a write of their own, not waited
    for: the sweep a refused reservation made was undone with it (see :meth:`Reservation.__call__`). The write
    stands for the sweep of the next :data:`SWEEP_EVERY_SECONDS` (the reservations made meanwhile sweep not again,
    nor does their refusal queue another): while a limit is reached every reservation is refused, and each swept
    twice. Failed, or not queued, it is taken for done no more."""
    global _last_sweep
    now = time.time()
    before, _last_sweep = _last_sweep, now

    def undone(_exc: BaseException) -> None:
        global _last_sweep
        if _last_sweep == now:  # (not swept since)
            _last_sweep = before

    try:
        ledger.enqueue(lambda conn: record_abandoned(conn, now), durable=False, failed=undone)
    except LedgerError as exc:  # (closing: the next process's sweep records them)
        undone(exc)


def unbounded_in_scope(
    limit: Limit, r: Reservation, unbounded: list[tuple[Any, ...]], placing: bool = False
) -> tuple[Any, ...] | None:
    """The first of the reservations in flight of no known bound (:func:`~..ledger.run_scope.unbounded_in_flight`'s
    rows) that ``limit``'s scope for ``r`` counts, as the sums count a reservation: a run limit those made against its
    budget run (and, where ``r`` places its run under another (``placing``), those of the runs delegated from it,
    which the placement brings along), an agent's day or month its agent's, the day or month of all calls every one.
    None of ``r``'s own call: its earlier attempts are the call limit's to count."""
    for row in unbounded:
        if r.call_id is not None and row[2] == r.call_id:
            continue
        if limit.kind in ("day", "month"):
            return row
        if limit.kind == "run" and (row[0] == r.budget or (placing and row[0] == r.run_id)):
            return row
        if limit.kind in BY_AGENT and row[1] == r.agent:
            return row
    return None


def _adopt(
    cur: sqlite3.Cursor,
    r: Reservation,
    adopting: tuple[int, int, bool],
    seen: dict[tuple[str | None, ...], list[Any]],
    held_by_run: dict[str, int] | None,
    delegated: dict[str, str] | None,
    unbounded: list[tuple[Any, ...]] | None,
) -> None:
    """``r`` placed its run under ``r.budget``: the holds of the runs delegated from its run (``adopting``: what they
    hold, how many, whether one holds no known bound; their calls in flight) count against that run's limit from now
    on, and the batch's sums read so far say so (see :func:`~..ledger.run_scope.delegated_holds`)."""
    run, top = r.run_id, r.budget
    adopted, _, no_bound = adopting
    adopt_delegated_holds(cur, run, top)  # type: ignore[arg-type]
    if no_bound and (sums := seen.get(("run", top))) is not None:
        sums[3] = True  # (its scope holds a placeholder now: a strict limit reads which, see unbounded_in_scope)
    if unbounded is not None:  # (as a read after the move would find them)
        for j, row in enumerate(unbounded):
            if row[0] == run and row[3] != run:
                unbounded[j] = (top, *row[1:])
    for key, change in ((top, adopted), (run, -adopted)):
        if (sums := seen.get(("run", key))) is not None:
            sums[2] += change
        if held_by_run is not None and key is not None:
            held_by_run[key] = held_by_run.get(key, 0) + change
    if delegated is not None:
        for child, parent in delegated.items():
            if parent == run:
                delegated[child] = top  # type: ignore[assignment]


class Carry:
    """A ledger operation: a call's earlier attempt's reservation, which held its whole worst case and whose attempt
    cost nothing (a 500), taken over by the call's next attempt (see ``Governance.admit``). The row becomes what that
    attempt's own reservation would have been: its worst case (no more than the row held, so no limit needs reading
    again: what the call holds never grows), its target (what the row names should its process die with the request
    in flight: the sweep records the attempt it stands for, see :func:`~..ledger.abandoned.record_abandoned`), its
    time (never set back) and expiry. The same call's other settled attempts are shrunk to what they cost, as a
    reservation's transaction shrinks them. One small write in place of a reservation's reads and insert. Its value:
    whether the row was still there (one expired and recorded as abandoned is gone)."""

    __slots__ = ("id", "amount_pusd", "provider", "model", "ttl", "shrink")

    def __init__(self, reservation_id: int, amount_pusd: int, provider: str, model: str, ttl: float) -> None:
        self.id = reservation_id
        self.amount_pusd = amount_pusd
        self.provider = provider
        self.model = model
        self.ttl = ttl
        self.shrink: tuple[tuple[int, int], ...] = ()

    def __call__(self, conn: sqlite3.Connection) -> int:
        cur = conn.cursor()
        if self.shrink:
            cur.executemany(SHRINK, self.shrink)
        now = time.time()
        cur.execute(
            # created_at never goes back (a clock set back since the reservation was made): the sweep records a dead
            # process's attempt at it, which must land in the day its reservation was checked in or a later one
            "UPDATE budget_reservations SET amount_pusd = ?, provider = ?, model = ?, created_at = MAX(created_at, ?),"
            " expires_at = ? WHERE id = ?",
            (self.amount_pusd, self.provider, self.model, now, now + self.ttl, self.id),
        )
        return cur.rowcount
