"""A month limit's read keeps the sums of the month's buckets before its last hours on the connection
(ledger.sealed_spend): a reservation reads them again only where something may have changed them, and counts exactly
what a read of every bucket counts, whoever wrote it (this process's late record, a statement by hand, another
connection or process)."""

from __future__ import annotations

import sqlite3
import time
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from magsag_mcp import errors as E
from magsag_mcp.governance import Governance, Policy, PolicySet
from magsag_mcp.ledger import Ledger
from magsag_mcp.ledger.migrations import SPEND_BUCKET_SECONDS
from magsag_mcp.records import AttemptRecord, RunRecord
from tests.governance_helpers import FixedPricer, attempt_ctx

pytestmark = pytest.mark.anyio

BERLIN = ZoneInfo("Europe/Berlin")
FIRST = int(datetime(2026, 11, 1, tzinfo=BERLIN).timestamp() // SPEND_BUCKET_SECONDS)  # November's first bucket


def _berlin(*when: int) -> float:
    return datetime(*when, tzinfo=BERLIN).timestamp()  # type: ignore[misc]


def _monthly() -> PolicySet:
    thresholds = {"max_cost_per_month_usd": "1", "max_cost_per_agent_monthly_usd": "1"}
    return PolicySet([Policy(name="monthly", timezone="Europe/Berlin", thresholds=thresholds)])


@pytest.fixture
def clock(monkeypatch):
    from magsag_mcp.governance import budget

    now = {"t": _berlin(2026, 11, 20, 9)}
    monkeypatch.setattr(budget.time, "time", lambda: now["t"])
    return now


async def _call(gov: Governance, ledger: Ledger, run_id: str, cost: str, started: float | None = None) -> None:
    """A call as the service makes one alone: its reservation, then its record (inline, as a lone call's is), which
    drops the reservation. ``started``: its attempt's start, if not now (a call recorded late)."""
    held = await gov.admit(attempt_ctx(run_id, agent="ana"))
    await gov.settle(held, Decimal(cost))
    at = time.time() if started is None else started
    run = RunRecord(run_id=run_id, agent="ana", skill="skill.analysis", started_at=at)
    run.status = "ok"
    attempt = AttemptRecord(
        run_id=run_id, started_at=at, provider="compat", model="metered", skill="skill.analysis", agent="ana",
        outcome="ok", fallback_position=0, attempt_number=1, cost_usd=Decimal(cost),
        reservation_id=held.reservation_id,
    )  # fmt: skip
    await ledger.record_call(run, [attempt], alone=True)


async def _traced(ledger: Ledger, statements: list[str] | None) -> None:
    """Every statement of the ledger's two writing connections (the inline one, the writer thread's) into
    ``statements`` (None: no longer)."""
    trace = None if statements is None else statements.append
    assert ledger._inline is not None
    ledger._inline.set_trace_callback(trace)
    await ledger.submit(lambda conn: conn.set_trace_callback(trace))


async def _month_read_whole(gov: Governance, ledger: Ledger, run_id: str, worst: str) -> tuple[bool, str]:
    """Whether a reservation at ``worst`` read the month's first buckets, and what it was told (or "admitted")."""
    statements: list[str] = []
    await _traced(ledger, statements)
    try:
        await Governance(gov.policies, ledger, FixedPricer(worst)).admit(attempt_ctx(run_id, agent="ana"))
        said = "admitted"
    except E.BudgetExceeded as exc:
        said = exc.message
    finally:
        await _traced(ledger, None)
    return any(f">= {FIRST} " in s and "_spend" in s for s in statements), said


async def test_a_month_limits_reservation_reads_the_months_earlier_buckets_once_while_they_stand(tmp_path, clock):
    # each reservation under a month limit summed up to 2,976 quarter-hours (some 580,000 instructions, a call's whole
    # path being 1.4 million); the buckets before its last two hours are read once, then the last hours' alone
    async with Ledger(tmp_path / "l.db") as ledger:
        gov = Governance(_monthly(), ledger, FixedPricer("0.1"))
        await _call(gov, ledger, "early", "0.4", started=_berlin(2026, 11, 2, 8))
        await _call(gov, ledger, "first", "0.1")  # reads the month whole
        await _call(gov, ledger, "second", "0.1")  # its record lands in the last hours' buckets
        whole, said = await _month_read_whole(gov, ledger, "third", "0.5")
        assert not whole and "spent $0.6" in said, said  # the kept sums with the last hours': exact
        status = await gov.check_budget(agent="ana")
    by = {lim["limit"]: lim for lim in status["limits"]}
    assert by["month"]["spent_usd"] == by["agent_month"]["spent_usd"] == "0.6"


async def test_a_write_the_kept_sums_cannot_know_makes_the_next_reservation_read_the_month_whole(tmp_path, clock):
    # whatever changed the month's earlier buckets is counted by the next reservation: this process's call recorded
    # late (its attempt started on the 2nd), a statement by hand on the writer's connection, another process's write
    async with Ledger(tmp_path / "l.db") as ledger:
        gov = Governance(_monthly(), ledger, FixedPricer("0.1"))
        await _call(gov, ledger, "first", "0.1")
        await _call(gov, ledger, "late", "0.2", started=_berlin(2026, 11, 2, 8))
        whole, said = await _month_read_whole(gov, ledger, "a", "0.75")
        assert whole and "spent $0.3" in said, said
        assert _inline_write(ledger, "UPDATE day_spend SET cost_pusd = cost_pusd + 100000000000 WHERE bucket < ?")
        whole, said = await _month_read_whole(gov, ledger, "b", "0.65")
        assert whole and "spent $0.4" in said, said
        other = sqlite3.connect(tmp_path / "l.db", isolation_level=None)
        other.execute("UPDATE day_spend SET cost_pusd = cost_pusd + 100000000000 WHERE bucket < ?", (FIRST + 200,))
        other.close()
        whole, said = await _month_read_whole(gov, ledger, "c", "0.55")
        assert whole and "spent $0.5" in said, said
        # and nothing since: kept
        whole, said = await _month_read_whole(gov, ledger, "d", "0.55")
        assert not whole and "spent $0.5" in said, said


def _inline_write(ledger: Ledger, sql: str) -> bool:
    done, _ = ledger.try_now(lambda conn: conn.execute(sql, (FIRST + 200,)))
    return done


class _Exit(BaseException):
    """An exit raised inside a batch (a SIGINT's KeyboardInterrupt): the whole transaction is rolled back."""


def _spend_table(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE IF NOT EXISTS spend_kept_test (bucket INTEGER PRIMARY KEY, cost INTEGER)")
    conn.execute("INSERT OR REPLACE INTO spend_kept_test VALUES (10, 5)")


def _kept_sum(conn: sqlite3.Connection) -> int:
    from magsag_mcp.ledger.sealed_spend import sealed_sums

    def read() -> tuple[int, int]:
        return int(conn.execute("SELECT SUM(cost) FROM spend_kept_test WHERE bucket < 20").fetchone()[0]), 0

    return sealed_sums(conn, ("all",), 0, 20, read)[0]


def _undone(conn: sqlite3.Connection, raised: BaseException):
    """A write to a kept bucket, a month's read after it (as a batch's sweep of stand-ins, then its reservation's), and
    then a failure that undoes the write."""

    def op(c: sqlite3.Connection) -> None:
        c.execute("UPDATE spend_kept_test SET cost = cost + 100 WHERE bucket = 10")
        assert _kept_sum(c) == 105  # (read inside the transaction: its own write counted)
        raise raised

    return op


@pytest.mark.parametrize("raised", [ValueError("an operation's failure"), _Exit()])
def test_a_sum_read_after_a_write_a_rollback_undid_is_read_again(tmp_path, raised):
    # neither mark moves at a rollback (total_changes keeps the undone writes; data_version sees only other
    # connections' commits): a month's sums read after a sweep's stand-ins (or a late record, or an undone stand-in) in
    # a batch that then failed kept the undone spend, and every reservation till the next quarter hour counted it (or,
    # an undone stand-in's, missed it: a limit passed)
    from magsag_mcp.ledger.group_commit import apply_batch

    conn = sqlite3.connect(tmp_path / "k.db", isolation_level=None)
    _spend_table(conn)
    assert _kept_sum(conn) == 5
    if isinstance(raised, Exception):  # one operation's savepoint undone (ROLLBACK TO), the batch committed
        assert apply_batch(conn, [_undone(conn, raised)])[0][0] is False
    else:  # the whole batch undone (ROLLBACK)
        with pytest.raises(_Exit):
            apply_batch(conn, [_undone(conn, raised)])
    assert conn.execute("SELECT cost FROM spend_kept_test").fetchone()[0] == 5
    assert _kept_sum(conn) == 5
    conn.close()


async def test_a_sum_read_in_an_inline_write_that_failed_is_read_again(tmp_path):
    async with Ledger(tmp_path / "l.db") as ledger:
        conn = ledger._inline
        assert conn is not None
        _spend_table(conn)
        assert _kept_sum(conn) == 5
        assert ledger.try_now(_undone(conn, sqlite3.OperationalError("disk I/O error"))) == (False, None)
        assert _kept_sum(conn) == 5


async def test_a_closed_ledgers_connections_keep_no_month_sums(tmp_path, clock):
    # the sums were kept for up to 64 connections after they closed, each entry holding its closed connection (and
    # its id, which a new connection could otherwise take): the ledger lets them go as it closes its connections
    from magsag_mcp.ledger import sealed_spend

    sealed_spend._KEPT.clear()
    async with Ledger(tmp_path / "l.db") as ledger:
        gov = Governance(_monthly(), ledger, FixedPricer("0.1"))
        await _call(gov, ledger, "first", "0.1")
        await gov.check_budget(agent="ana")
        held = [kept.conn for kept in sealed_spend._KEPT.values()]
        assert held  # the month's sums were kept on the connections that read them
    assert not sealed_spend._KEPT


def test_a_connection_closed_elsewhere_is_let_go_by_the_next_ones_read(tmp_path):
    # a connection closed without the ledger (a test's, a tool's): its entry goes at the next connection's first read
    from magsag_mcp.ledger import sealed_spend

    sealed_spend._KEPT.clear()
    first = sqlite3.connect(tmp_path / "a.db", isolation_level=None)
    assert sealed_spend.sealed_sums(first, ("all",), 1, 5, lambda: (7, 0)) == (7, 0)
    first.close()
    second = sqlite3.connect(tmp_path / "a.db", isolation_level=None)
    assert sealed_spend.sealed_sums(second, ("all",), 1, 5, lambda: (9, 0)) == (9, 0)  # its own read, not 7
    assert [kept.conn for kept in sealed_spend._KEPT.values()] == [second]
    sealed_spend.forget_connection(second)
    assert not sealed_spend._KEPT
    second.close()


async def test_two_ledgers_on_one_file_hold_the_month_limit_across_the_zones_month_boundary(tmp_path, clock):
    # two processes' connections on one ledger (two Ledgers here), a month limit of $1 in Berlin's months, calls around
    # Berlin's midnight of November 30 (23:00 UTC): each side's kept month sums must follow the other's writes, a
    # reservation held across the boundary counts in the new month until its record places its cost in the old one
    policies = PolicySet([Policy(name="m", timezone="Europe/Berlin", thresholds={"max_cost_per_month_usd": "1"})])
    async with Ledger(tmp_path / "l.db") as one, Ledger(tmp_path / "l.db") as other:
        gov_one = Governance(policies, one, FixedPricer("0.5"))
        clock["t"] = _berlin(2026, 11, 30, 12)
        await _call(gov_one, one, "noon", "0.5")  # November: 0.5 spent
        clock["t"] = _berlin(2026, 11, 30, 23, 50)
        late = await gov_one.admit(attempt_ctx("late", agent="ana"))  # 0.5 held: November full

        async def refused(ledger: Ledger, run_id: str, worst: str) -> str | None:
            try:
                await Governance(policies, ledger, FixedPricer(worst)).admit(attempt_ctx(run_id, agent="ana"))
            except E.BudgetExceeded as exc:
                return exc.message
            return None

        assert "spent $0.5, reserved $0.5" in (await refused(other, "nov", "0.1") or "")
        clock["t"] = _berlin(2026, 12, 1, 0, 5)  # December in Berlin (23:05 UTC on November 30)
        # the hold made in November still counts (its attempt may yet be recorded in December's buckets)
        assert "spent $0, reserved $0.5" in (await refused(other, "dec-1", "0.6") or "")
        # its record places it in November (its attempt started there): December has it no more, on either side
        await gov_one.settle(late, Decimal("0.5"))
        run = RunRecord(run_id="late", agent="ana", skill="skill.analysis", started_at=_berlin(2026, 11, 30, 23, 50))
        run.status = "ok"
        attempt = AttemptRecord(
            run_id="late", started_at=_berlin(2026, 11, 30, 23, 50), provider="compat", model="metered",
            skill="skill.analysis", agent="ana", outcome="ok", fallback_position=0, attempt_number=1,
            cost_usd=Decimal("0.5"), reservation_id=late.reservation_id,
        )  # fmt: skip
        await one.record_call(run, [attempt], alone=True)
        assert await refused(other, "dec-2", "0.6") is None  # December: 0.6 held
        # later in December (the month's earlier buckets read from kept sums): dec-2's process never recorded it, and
        # its reservation expired: the sweep of either side records it as abandoned, bounded by the 0.6 it held
        clock["t"] = _berlin(2026, 12, 20, 12)
        assert "spent $0, up to $0.6 more for attempts of unknown cost" in (await refused(one, "dec-3", "0.5") or "")
        # and it is so: the refusal undid the sweep it read that in, which was taken for done (the next 30 s swept
        # nothing) and, while every reservation was refused, never made; it is now made in a write of its own
        await one.submit(lambda conn: None)  # (after the writes queued before it)
        assert (await one.read(lambda c: c.execute("SELECT COUNT(*) FROM budget_reservations").fetchone()))[0] == 0
        status_one = await gov_one.check_budget()
        status_other = await Governance(policies, other, FixedPricer("0.1")).check_budget()
    for status in (status_one, status_other):
        [month] = status["limits"]
        assert (month["spent_usd"], month["unknown_cost_bound_usd"], month["reserved_usd"]) == ("0", "0.6", "0"), month
        assert month["window"]["start"] == _berlin(2026, 12, 1)


def test_a_closed_connections_entry_dropped_by_another_thread_meanwhile_is_no_error(tmp_path):
    # two threads' reads (two ledgers' connections in one process) may drop one closed connection's entry at once:
    # the second del raised KeyError from a reservation's read
    from magsag_mcp.ledger import sealed_spend

    class ClosedMeanwhile:
        """A closed connection whose entry another thread drops as this one looks at it."""

        @property
        def total_changes(self) -> int:
            sealed_spend.forget_connection(self)  # type: ignore[arg-type]
            raise sqlite3.ProgrammingError("Cannot operate on a closed database.")

    sealed_spend._KEPT.clear()
    closed = ClosedMeanwhile()
    sealed_spend._KEPT[id(closed)] = sealed_spend._Kept(closed)  # type: ignore[arg-type]
    conn = sqlite3.connect(tmp_path / "a.db", isolation_level=None)
    try:
        assert sealed_spend.sealed_sums(conn, ("all",), 1, 5, lambda: (7, 0)) == (7, 0)
        assert [kept.conn for kept in sealed_spend._KEPT.values()] == [conn]
    finally:
        sealed_spend.forget_connection(conn)
        conn.close()
