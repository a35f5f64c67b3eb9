"""Properties of budget reservations (governance.Governance over a real ledger), searched by hypothesis for
counterexamples: over any interleaving of admissions, records (at, below or above what was reserved), releases
(twice), and reservations expiring into the sweep's stand-ins, across runs (one delegated from another) and agents,
every limit's spent + bound + reserved is what the operations put there; an attempt is admitted exactly when its worst
case fits in what each of its limits has left; a release given twice gives back once; and an attempt recorded
above its reservation is counted in full."""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from magsag_mcp.errors import BudgetExceeded
from magsag_mcp.governance import Admission, AttemptContext, Governance, Policy, PolicySet
from magsag_mcp.ledger import Ledger
from magsag_mcp.ledger.abandoned import record_abandoned
from magsag_mcp.records import AttemptRecord, RunRecord
from magsag_mcp.types import Target

#: modest (each example opens a ledger of its own); reproducible and untimed by the run's profile (tests/conftest.py)
PROPERTY = settings(max_examples=40)

LIMITS = {"run": Decimal("1"), "agent_day": Decimal("1.5"), "day": Decimal("2.5")}
THRESHOLDS = {
    "max_cost_per_run_usd": "1",
    "max_cost_per_agent_daily_usd": "1.5",
    "max_cost_per_day_usd": "2.5",
}
#: (run, the run it was delegated from, its agent): r2's calls count in r1's run limit
RUNS = [("r1", None, "ag1"), ("r2", "r1", "ag2"), ("r3", None, "ag1"), ("r4", None, None)]

#: worst cases: often a large share of a limit (two or three fill one), now and then any amount to the hundredth cent
amounts = st.sampled_from([Decimal(a) for a in ("0.05", "0.25", "0.4", "0.5", "0.6", "0.7")]) | st.decimals(
    min_value=0, max_value=Decimal("0.7"), places=4
)

operations = st.lists(
    st.one_of(
        st.tuples(st.just("admit"), st.integers(0, len(RUNS) - 1), amounts),
        # (which open admission: an index taken modulo how many there are), the cost as a multiple of its reservation
        st.tuples(st.just("record"), st.integers(0, 50), st.sampled_from(["0", "0.5", "1", "1.3", "2"])),
        st.tuples(st.just("record_unknown"), st.integers(0, 50), st.just("")),
        st.tuples(st.just("release"), st.integers(0, 50), st.just("")),
        st.tuples(st.just("expire"), st.integers(0, 50), st.just("")),
    ),
    min_size=1,
    max_size=14,
)


#: a reservation's process taken for dead: its expiry long past
_EXPIRE = "UPDATE budget_reservations SET expires_at = 1000 WHERE id = ?"


class ByModel:
    """A target's worst case is its model's name: ``Target("compat", "0.25")`` may cost up to $0.25."""

    def reserved_worst_case(
        self, target: Target, input_tokens: int, output_tokens: int, cache_ttls=None, *, params=None, picture_tokens=0
    ) -> Decimal:
        return Decimal(target.model)


@dataclass
class Book:
    """What the operations should have left in each scope: spent (recorded costs), bound (unknown costs' bounds) and
    reserved, by (limit kind, scope)."""

    spent: dict[tuple[str, str], Decimal] = field(default_factory=dict)
    bound: dict[tuple[str, str], Decimal] = field(default_factory=dict)
    reserved: dict[tuple[str, str], Decimal] = field(default_factory=dict)

    @staticmethod
    def scopes(run: int) -> list[tuple[str, str]]:
        run_id, parent, agent = RUNS[run]
        scopes = [("run", parent or run_id), ("day", "")]
        return scopes + ([("agent_day", agent)] if agent else [])

    def add(self, which: dict[tuple[str, str], Decimal], run: int, amount: Decimal) -> None:
        for scope in self.scopes(run):
            which[scope] = which.get(scope, Decimal(0)) + amount

    def used(self, scope: tuple[str, str]) -> Decimal:
        zero = Decimal(0)
        return self.spent.get(scope, zero) + self.bound.get(scope, zero) + self.reserved.get(scope, zero)


async def _status(gov: Governance, run: int) -> dict[str, dict[str, Decimal]]:
    run_id, parent, agent = RUNS[run]
    status = await gov.check_budget(agent=agent, run_id=run_id, parent_run_id=parent)
    return {
        lim["limit"]: {
            "spent": Decimal(lim["spent_usd"]),
            "bound": Decimal(lim["unknown_cost_bound_usd"]),
            "reserved": Decimal(lim["reserved_usd"]),
        }
        for lim in status["limits"]
    }


async def _check_book(gov: Governance, book: Book) -> None:
    for run in range(len(RUNS)):
        status = await _status(gov, run)
        for kind, scope in Book.scopes(run):
            said = status[kind]
            expected = (
                book.spent.get((kind, scope), Decimal(0)),
                book.bound.get((kind, scope), Decimal(0)),
                book.reserved.get((kind, scope), Decimal(0)),
            )
            assert (said["spent"], said["bound"], said["reserved"]) == expected, (kind, scope, said, expected)


async def _record(ledger: Ledger, run: int, admission: Admission, cost: Decimal | None, bound: Decimal | None) -> None:
    run_id, parent, agent = RUNS[run]
    now = time.time()
    record = RunRecord(run_id=run_id, agent=agent, skill="skill.analysis", started_at=now, parent_run_id=parent)
    record.status = "ok" if cost is not None else "error"
    attempt = AttemptRecord(
        run_id=run_id,
        started_at=now,
        provider="compat",
        model="m",
        skill="skill.analysis",
        agent=agent,
        outcome="ok" if cost is not None else "error",
        fallback_position=0,
        attempt_number=1,
        cost_usd=cost,
        cost_bound_usd=bound,
        reservation_id=admission.reservation_id,
    )
    await ledger.record_call(record, [attempt])


async def _play(db: Path, ops: list[tuple[str, int, object]]) -> None:
    policies = PolicySet([Policy(name="caps", thresholds=dict(THRESHOLDS))])
    async with Ledger(db) as ledger:
        gov = Governance(policies, ledger, ByModel(), call_deadline=60.0)
        book = Book()
        #: admissions holding a reservation: (run, admission, what it holds)
        open_: list[tuple[int, Admission, Decimal]] = []
        #: admissions whose reservations expired into a stand-in (bounded by what they held)
        swept: list[tuple[int, Admission, Decimal]] = []
        for op, which, value in ops:
            if op == "admit":
                worst = value
                assert isinstance(worst, Decimal)
                run_id, parent, agent = RUNS[which]
                fits = all(book.used(scope) + worst <= LIMITS[scope[0]] for scope in Book.scopes(which))
                ctx = AttemptContext(run_id, agent, "skill.analysis", None, Target("compat", str(worst)), 10, 10,
                                     False, parent_run_id=parent)  # fmt: skip
                try:
                    admission = await gov.admit(ctx)
                except BudgetExceeded as refused:
                    assert not fits, (ops, str(refused))
                    continue
                assert fits, ops  # admitted: its worst case fits in what every one of its limits had left
                assert admission.reservation_id is not None
                open_.append((which, admission, worst))
                book.add(book.reserved, which, worst)
            elif op in ("record", "record_unknown") and (open_ or swept):
                pool = open_ + swept
                at = which % len(pool)
                was_swept = at >= len(open_)  # (its process was taken for dead: its record replaces the stand-in)
                run, admission, held = swept.pop(at - len(open_)) if was_swept else open_.pop(at)
                book.add(book.bound if was_swept else book.reserved, run, -held)
                if op == "record":
                    cost = held * Decimal(str(value))
                    await gov.settle(admission, cost)
                    await _record(ledger, run, admission, cost, None)
                    book.add(book.spent, run, cost)  # in full, above its reservation too
                else:  # cut after it reached the vendor: unknown, bounded by its worst case
                    await gov.settle(admission, None)
                    await _record(ledger, run, admission, None, held)
                    book.add(book.bound, run, held)
            elif op == "release" and open_:
                run, admission, held = open_.pop(which % len(open_))
                await gov.release(admission)
                book.add(book.reserved, run, -held)
                await _check_book(gov, book)
                await gov.release(admission)  # again: nothing more given back
            elif op == "expire" and open_:
                run, admission, held = open_.pop(which % len(open_))
                rid = admission.reservation_id
                await ledger.submit(lambda c, rid=rid: c.execute(_EXPIRE, (rid,)))
                await ledger.submit(lambda c: record_abandoned(c, time.time()))
                swept.append((run, admission, held))
                book.add(book.reserved, run, -held)
                book.add(book.bound, run, held)  # its stand-in: unknown cost, bounded by what it held
            await _check_book(gov, book)


@pytest.mark.usefixtures("clock_at_noon")  # (the day and agent-day limits read today's spend)
@PROPERTY
@given(operations)
def test_every_limit_counts_exactly_what_was_spent_bound_and_reserved_and_admits_what_fits(ops):
    with tempfile.TemporaryDirectory() as folder:
        anyio.run(_play, Path(folder) / "ledger.db", ops)


#: a call's steps: a retry or fallback hop after its last attempt cost a fraction of its worst case (0: a 429 or a
#: 500, billed nothing, whose reservation a cheaper hop may take over), the call recorded, or its caller gone
call_steps = st.lists(
    st.tuples(
        st.sampled_from(["call", "call", "call", "retry", "retry", "end", "end", "gone"]),
        st.integers(0, 50),
        amounts,
        st.sampled_from(["0", "0", "0.5", "1"]),
    ),
    min_size=1,
    max_size=16,
)


@dataclass
class OpenCall:
    run: int
    call_id: str
    #: its attempts' admissions, each with the cost it was settled at (None: still running)
    attempts: list[tuple[Admission, Decimal | None]]


async def _record_call(ledger: Ledger, call: OpenCall) -> Decimal:
    """The call's attempts recorded together, as the service records a call when it ends; what they cost."""
    run_id, parent, agent = RUNS[call.run]
    now = time.time()
    record = RunRecord(run_id=run_id, agent=agent, skill="skill.analysis", started_at=now, parent_run_id=parent)
    record.status = "ok"
    attempts = [
        AttemptRecord(
            run_id=run_id,
            started_at=now,
            provider="compat",
            model="m",
            skill="skill.analysis",
            agent=agent,
            outcome="ok" if i == len(call.attempts) - 1 else "error",
            fallback_position=i,
            attempt_number=1,
            cost_usd=cost,
            reservation_id=admission.reservation_id,
        )  # fmt: skip
        for i, (admission, cost) in enumerate(call.attempts)
    ]
    await ledger.record_call(record, attempts)
    return sum((cost or Decimal(0) for _, cost in call.attempts), Decimal(0))


async def _used_within_limits(gov: Governance) -> dict[tuple[str, str], Decimal]:
    """Every scope's spent + bound + reserved, each checked against its limit; and its spent alone."""
    spent: dict[tuple[str, str], Decimal] = {}
    for run in range(len(RUNS)):
        status = await _status(gov, run)
        for kind, scope in Book.scopes(run):
            said = status[kind]
            assert said["spent"] + said["bound"] + said["reserved"] <= LIMITS[kind], (kind, scope, said)
            spent[kind, scope] = said["spent"]
            assert said["reserved"] >= 0
    return spent


async def _play_calls(db: Path, steps: list[tuple[str, int, Decimal, str]]) -> None:
    policies = PolicySet([Policy(name="caps", thresholds=dict(THRESHOLDS))])
    async with Ledger(db) as ledger:
        gov = Governance(policies, ledger, ByModel(), call_deadline=60.0)
        calls: list[OpenCall] = []
        book = Book()
        for n, (step, which, worst, fraction) in enumerate(steps):
            if step == "call":
                run_id, parent, agent = RUNS[which % len(RUNS)]
                ctx = AttemptContext(run_id, agent, "skill.analysis", None, Target("compat", str(worst)), 10, 10,
                                     False, parent_run_id=parent, call_id=f"c{n}")  # fmt: skip
                try:
                    admission = await gov.admit(ctx)
                except BudgetExceeded:
                    continue
                calls.append(OpenCall(which % len(RUNS), f"c{n}", [(admission, None)]))
            elif step == "retry" and calls:
                call = calls[which % len(calls)]
                last, _ = call.attempts[-1]
                cost = (last.reserved_usd or Decimal(0)) * Decimal(fraction)
                await gov.settle(last, cost)
                gov.waiting(last)
                call.attempts[-1] = (last, cost)
                run_id, parent, agent = RUNS[call.run]
                ctx = AttemptContext(run_id, agent, "skill.analysis", None, Target("compat", str(worst)), 10, 10,
                                     False, parent_run_id=parent, call_id=call.call_id,
                                     prior_admissions=tuple(a for a, _ in call.attempts))  # fmt: skip
                try:
                    call.attempts.append((await gov.admit(ctx), None))
                except BudgetExceeded:  # the call ends with the attempts it made
                    calls.remove(call)
                    book.add(book.spent, call.run, await _record_call(ledger, call))
            elif step == "end" and calls:
                call = calls.pop(which % len(calls))
                last, _ = call.attempts[-1]
                cost = (last.reserved_usd or Decimal(0)) * Decimal(fraction)
                await gov.settle(last, cost)
                call.attempts[-1] = (last, cost)
                book.add(book.spent, call.run, await _record_call(ledger, call))
            elif step == "gone" and calls:  # nothing of its last attempt sent; what the others cost is recorded
                call = calls.pop(which % len(calls))
                last, _ = call.attempts.pop()
                await gov.release(last)
                if call.attempts:
                    book.add(book.spent, call.run, await _record_call(ledger, call))
                else:
                    await gov.release(last)  # (again: nothing more given back)
            spent = await _used_within_limits(gov)
            for scope, amount in spent.items():
                assert amount == book.spent.get(scope, Decimal(0)), (scope, amount, book.spent)
        for call in calls:  # every call ends: nothing is held after
            last, _ = call.attempts[-1]
            await gov.settle(last, Decimal(0))
            call.attempts[-1] = (last, Decimal(0))
            book.add(book.spent, call.run, await _record_call(ledger, call))
        for run in range(len(RUNS)):
            status = await _status(gov, run)
            for kind, scope in Book.scopes(run):
                assert status[kind]["reserved"] == 0, (kind, scope, status[kind])
                assert status[kind]["spent"] == book.spent.get((kind, scope), Decimal(0))


@pytest.mark.usefixtures("clock_at_noon")
@PROPERTY
@given(call_steps)
def test_calls_retrying_and_falling_back_stay_within_every_limit_and_hold_nothing_once_ended(steps):
    # no attempt here costs more than its worst case: spent + bound + reserved then stays within every limit, whatever
    # the calls' retries, fallbacks (a hop taking over a reservation its free attempt held), ends and callers gone
    with tempfile.TemporaryDirectory() as folder:
        anyio.run(_play_calls, Path(folder) / "ledger.db", steps)
