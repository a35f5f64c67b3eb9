"""The group commit: reservations merged into one batch count, refuse and write as made one by one."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import time
from decimal import Decimal
from pathlib import Path

import anyio
import pytest

from magsag_mcp import errors as E
from magsag_mcp.governance import Admission, Governance, Policy, PolicySet
from magsag_mcp.ledger import Ledger
from magsag_mcp.records import AttemptRecord, RunRecord
from tests.governance_helpers import FixedPricer, attempt_ctx, limits

pytestmark = pytest.mark.anyio


def test_merged_reservations_share_the_day_limit_as_made_one_by_one(tmp_path: Path):
    from magsag_mcp.governance import budget
    from magsag_mcp.ledger.migrations import migrate

    day = [lim for lim in limits(max_cost_per_day_usd="1").limits if lim.kind == "day"]

    def batch() -> list[budget.Reservation]:
        asks = [("r1", "a"), ("r2", None), ("r3", "b"), ("r4", None), ("r5", "a")]
        return [budget.Reservation(day, Decimal("0.3"), run_id=run, agent=agent, ttl=900) for run, agent in asks]

    outcomes = []
    for merged in (False, True):
        conn = sqlite3.connect(tmp_path / f"{merged}.db", isolation_level=None)
        migrate(conn)
        conn.execute("BEGIN IMMEDIATE")
        if merged:
            got = [ok for ok, _ in budget.Reservation.apply_all(conn, batch())]
        else:
            got = [ok for r in batch() for ok, _ in budget.Reservation.apply_all(conn, [r])]
        conn.execute("COMMIT")
        outcomes.append(got)
        conn.close()
    assert outcomes[0] == outcomes[1] == [True, True, True, False, False]


def test_a_batch_of_reservations_counts_each_in_its_scopes_without_walking_every_scope(tmp_path: Path):
    """A batch's new reservation is added to the sums of the scopes it falls in. Found by walking every scope the batch
    had read, a group commit of 200 calls (each its own run) compared each reservation with 200 run scopes, on the
    writer's thread: per reservation, a batch of 320 cost eight times what a batch of 40 did. Counted here in
    bytecodes of apply_all itself (deterministic), the work per reservation must not grow with the batch."""
    from magsag_mcp.governance import budget
    from magsag_mcp.ledger.migrations import migrate

    caps = limits(max_cost_per_run_usd="100", max_cost_per_agent_daily_usd="10000", max_cost_per_day_usd="10000")
    scoped = [lim for lim in caps.limits if lim.kind != "call"]

    def per_reservation(n: int) -> float:
        conn = sqlite3.connect(tmp_path / f"{n}.db", isolation_level=None)
        migrate(conn)
        batch = [
            budget.Reservation(scoped, Decimal("0.01"), run_id=f"run-{i}", agent=f"agent-{i % 4}", ttl=900)
            for i in range(n)
        ]
        counted = [0]
        code = budget.Reservation.apply_all.__code__

        def trace(frame, event, arg):
            if frame.f_code is not code:
                return None
            frame.f_trace_opcodes = True

            def opcode(frame, event, arg):
                if event == "opcode":
                    counted[0] += 1
                return opcode

            return opcode

        conn.execute("BEGIN IMMEDIATE")
        before = sys.gettrace()  # (a coverage tool's, given back)
        sys.settrace(trace)
        try:
            outcomes = budget.Reservation.apply_all(conn, batch)
        finally:
            sys.settrace(before)
        conn.execute("COMMIT")
        conn.close()
        assert all(ok for ok, _ in outcomes)
        return counted[0] / n

    assert per_reservation(320) < 1.3 * per_reservation(40)


def test_a_batch_reads_the_reservations_in_flight_once_whatever_its_size(tmp_path: Path, monkeypatch):
    """A batch of reservations reads what the calls in flight hold once: read in each run's scope (an unindexed scan
    of every open reservation, on purpose: migration 0005), a group commit of 80 calls with 200 in flight scanned
    16,000 rows, each call's share growing with the calls in flight. Each run's holds are then what its reservations
    hold, the batch's own included, as made one by one: a reservation of another run, of a delegated run (counted
    against its parent) or of no run (counted in no run's scope) is held where a lone reservation reads it."""
    from types import SimpleNamespace

    from magsag_mcp.governance import budget
    from magsag_mcp.ledger.migrations import migrate
    from magsag_mcp.ledger.money import to_pusd

    now = 1_760_000_000.0
    monkeypatch.setattr(budget, "time", SimpleNamespace(time=lambda: now))
    monkeypatch.setattr(budget, "_last_sweep", now)  # no sweep: the reservations' own reads are counted
    caps = limits(max_cost_per_run_usd="1", max_cost_per_agent_daily_usd="1000")
    scoped = [lim for lim in caps.limits if lim.kind != "call"]

    def seeded(path: Path) -> sqlite3.Connection:
        conn = sqlite3.connect(path, isolation_level=None)
        migrate(conn)
        held = [  # (budget run, attempt's run, amount): in flight in another process
            ("run-0", "run-0", "0.5"),
            ("run-1", "kid-1", "0.6"),  # a delegated run's, against its parent's limit
            (None, None, "0.9"),  # a call without a run
            ("run-2", "run-2", "0.2"),
        ]
        for budget_run, attempt_run, amount in held:
            conn.execute(
                "INSERT INTO budget_reservations (run_id, agent, created_at, expires_at, amount_pusd, state,"
                " attempt_run_id) VALUES (?, 'x', ?, ?, ?, 'held', ?)",
                (budget_run, now, now + 900, to_pusd(Decimal(amount)), attempt_run),
            )
        return conn

    def batch(n: int) -> list[budget.Reservation]:
        asks = [("run-0", "0.5"), ("run-0", "0.01"), ("run-1", "0.4"), ("kid-1", "0.01"), ("run-2", "0.7")]
        asks += [(f"new-{i}", "0.6") for i in range(n - len(asks))]
        return [budget.Reservation(scoped, Decimal(a), run_id=run, agent="a", ttl=900) for run, a in asks]

    def outcome(ok: bool, value: object) -> tuple[bool, object]:
        return (True, value) if ok else (False, getattr(value, "message", value))

    for n in (6, 60):
        one = seeded(tmp_path / f"one-{n}.db")
        expected = []
        for r in batch(n):
            one.execute("BEGIN IMMEDIATE")
            try:
                expected.append(outcome(True, r(one)))
            except E.BudgetExceeded as exc:
                expected.append(outcome(False, exc))
            one.execute("COMMIT")
        together = seeded(tmp_path / f"together-{n}.db")
        reads: list[str] = []
        together.execute("BEGIN IMMEDIATE")
        together.set_trace_callback(reads.append)
        got = [outcome(ok, value) for ok, value in budget.Reservation.apply_all(together, batch(n))]
        together.set_trace_callback(None)
        together.execute("COMMIT")
        assert got == expected
        rows = "SELECT * FROM budget_reservations ORDER BY id"
        assert together.execute(rows).fetchall() == one.execute(rows).fetchall()
        # run-0 full at 1 (0.5 + 0.5), kid-1 against run-1's (0.6 + 0.4), run-2's 0.2 + 0.7 fits
        assert [ok for ok, _ in got[:5]] == [True, False, True, False, True]
        assert all(ok for ok, _ in got[5:])
        assert "for run run-0 would be exceeded: spent $0, reserved $1, this attempt" in got[1][1]
        in_flight = [s for s in reads if s.startswith("SELECT") and "budget_reservations" in s]
        # one for the batch, and one for agent a's day holds: not one a call
        assert len(in_flight) == 2, in_flight


def test_merged_reservations_equal_reservations_made_one_by_one(tmp_path: Path, monkeypatch):
    """The group commit makes concurrent calls' reservations in one pass (each scope's spend and holds
    read once, then kept up to date in memory). Every answer, refusal message and row must be what
    making them one at a time gives, including refusals caused by earlier reservations in the batch."""
    from types import SimpleNamespace

    from magsag_mcp.governance import budget
    from magsag_mcp.ledger.migrations import migrate
    from magsag_mcp.ledger.money import to_pusd

    now = 1_760_000_000.0
    monkeypatch.setattr(budget, "time", SimpleNamespace(time=lambda: now))
    # Two policies limit the same scopes (a team's tighter caps inside an org's): a batch must count
    # each reservation once per scope, not once per limit.
    caps = PolicySet(
        [
            Policy(name="cap", thresholds={"max_cost_per_run_usd": "1", "max_cost_per_agent_daily_usd": "2"}),
            Policy(name="org", thresholds={"max_cost_per_run_usd": "5", "max_cost_per_agent_daily_usd": "10"}),
        ]
    ).limits
    scoped = [lim for lim in caps if lim.kind != "call"]

    def seeded(path: Path) -> sqlite3.Connection:
        conn = sqlite3.connect(path, isolation_level=None)
        migrate(conn)
        conn.execute(
            "INSERT INTO runs (run_id, agent, skill, parent_run_id, started_at, status, calls, cost_pusd)"
            " VALUES ('mag', 'a', 's', NULL, ?, 'ok', 1, ?), ('sag', 'a', 's', 'mag', ?, 'ok', 1, ?)",
            (now, to_pusd(Decimal("0.3")), now, to_pusd(Decimal("0.2"))),
        )
        conn.execute(
            "INSERT INTO agent_spend (agent, bucket, cost_pusd) VALUES ('a', ?, ?)",
            (int(now // 900), to_pusd(Decimal("0.5"))),
        )
        conn.execute(  # held by another process, and one that expired with its process (swept into a record)
            "INSERT INTO budget_reservations (run_id, agent, created_at, expires_at, amount_pusd, state)"
            " VALUES ('mag', 'b', ?, ?, ?, 'held'), ('gone', 'c', ?, ?, ?, 'held')",
            (now, now + 900, to_pusd(Decimal("0.1")), now - 2000, now - 1, to_pusd(Decimal("5"))),
        )
        return conn

    def batch() -> list[budget.Reservation]:
        asks = [
            ("mag", None, "a", "0.2"),
            ("sag-1", "mag", "a", "0.1"),  # a delegated run spends its parent's run limit
            ("mag", None, "a", "0.3"),  # refused: 0.5 spent + 0.1 held elsewhere + 0.3 held here + 0.3 > 1
            ("other", None, "a", "0.4"),
            ("other", None, "b", "0.5"),
            ("third", None, "a", "0.3"),
            ("fourth", None, "a", "0.6"),  # refused by agent a's day: 0.5 spent + 1.0 held + 0.6 > 2
            ("sag-2", "mag", "b", "0.1"),  # fits mag exactly: 0.5 + 0.4 + 0.1 = 1
            ("mag", None, "b", "0.01"),  # refused: mag is full
        ]
        return [
            budget.Reservation(scoped, Decimal(amount), run_id=run, agent=agent, parent_run_id=parent, ttl=900)
            for run, parent, agent, amount in asks
        ]

    def outcome(ok: bool, value: object) -> tuple[bool, object]:
        return (True, value) if ok else (False, getattr(value, "message", value))

    def rows(conn: sqlite3.Connection) -> list[tuple]:
        return conn.execute("SELECT * FROM budget_reservations ORDER BY id").fetchall()

    one = seeded(tmp_path / "one.db")
    budget._last_sweep = 0.0
    expected = []
    for r in batch():
        one.execute("BEGIN IMMEDIATE")
        try:
            expected.append(outcome(True, r(one)))
        except E.BudgetExceeded as exc:
            expected.append(outcome(False, exc))
        one.execute("COMMIT")

    together = seeded(tmp_path / "together.db")
    budget._last_sweep = 0.0
    together.execute("BEGIN IMMEDIATE")
    got = [outcome(ok, value) for ok, value in budget.Reservation.apply_all(together, batch())]
    together.execute("COMMIT")

    assert got == expected
    assert rows(together) == rows(one)
    for conn in (one, together):  # the expired reservation became an attempt of unknown cost, in both
        abandoned = "SELECT run_id, error_class, cost_pusd, cost_bound_pusd FROM attempts"
        assert conn.execute(abandoned).fetchall() == [("gone", "abandoned", None, to_pusd(Decimal("5")))]
    assert [ok for ok, _ in got] == [True, True, False, True, True, True, False, True, False]
    assert "run mag would be exceeded: spent $0.5, reserved $0.4, this attempt reserves up to $0.3" in got[2][1]
    assert "agent a today (UTC)" in got[6][1]


def test_a_runs_recorded_parent_is_read_with_its_scope_and_a_batch_counts_as_one_by_one(tmp_path: Path, monkeypatch):
    """A reservation for a run joined by its id alone reads the run's recorded parent and its own run scope in one
    statement (two before: the parent, then the scope): the same outcomes and rows as before, whether the run
    has a parent (its budget run is then the parent's, read as well) or not, one at a time or in one batch (which
    reads each run's parent with its spend, and the holds of every run at once)."""
    from types import SimpleNamespace

    from magsag_mcp.governance import budget
    from magsag_mcp.ledger.migrations import migrate
    from magsag_mcp.ledger.money import to_pusd

    now = 1_760_000_000.0
    monkeypatch.setattr(budget, "time", SimpleNamespace(time=lambda: now))
    run_limit = [lim for lim in limits(max_cost_per_run_usd="1").limits if lim.kind == "run"]

    def seeded(path: Path) -> sqlite3.Connection:
        conn = sqlite3.connect(path, isolation_level=None)
        migrate(conn)
        conn.execute(  # kid was recorded as delegated from top; top, solo and kid have spent
            "INSERT INTO runs (run_id, parent_run_id, started_at, status, calls, cost_pusd) VALUES"
            " ('top', NULL, ?, 'ok', 1, ?), ('kid', 'top', ?, 'ok', 1, ?), ('solo', NULL, ?, 'ok', 1, ?)",
            (now, to_pusd(Decimal("0.3")), now, to_pusd(Decimal("0.2")), now, to_pusd(Decimal("0.6"))),
        )
        return conn

    asks = [
        ("kid", "0.2"),  # top's limit: 0.5 spent + 0.2 = 0.7
        ("solo", "0.3"),  # its own: 0.6 + 0.3 = 0.9
        ("top", "0.3"),  # fits top exactly: 0.5 + 0.2 held for kid + 0.3 = 1
        ("kid", "0.01"),  # refused: top's scope is full
        ("solo", "0.1"),  # fits solo exactly: 0.6 + 0.3 + 0.1 = 1
        ("new", "0.9"),  # a run never recorded: its own
        ("solo", "0.01"),  # refused
    ]

    def batch() -> list[budget.Reservation]:
        return [budget.Reservation(run_limit, Decimal(a), run_id=run, agent=None, ttl=900) for run, a in asks]

    def outcome(ok: bool, value: object) -> tuple[bool, object]:
        return (True, value) if ok else (False, getattr(value, "message", value))

    def rows(conn: sqlite3.Connection) -> list[tuple]:
        return conn.execute("SELECT * FROM budget_reservations ORDER BY id").fetchall()

    one = seeded(tmp_path / "one.db")
    statements: list[str] = []
    monkeypatch.setattr(budget, "_last_sweep", now)  # no sweep: only the reservations' own statements are traced
    expected = []
    for r in batch():
        one.execute("BEGIN IMMEDIATE")
        one.set_trace_callback(statements.append)
        try:
            expected.append(outcome(True, r(one)))
        except E.BudgetExceeded as exc:
            expected.append(outcome(False, exc))
        finally:
            one.set_trace_callback(None)
        one.execute("COMMIT")

    together = seeded(tmp_path / "together.db")
    in_batch: list[str] = []
    together.execute("BEGIN IMMEDIATE")
    together.set_trace_callback(in_batch.append)
    got = [outcome(ok, value) for ok, value in budget.Reservation.apply_all(together, batch())]
    together.set_trace_callback(None)
    together.execute("COMMIT")

    assert got == expected
    assert rows(together) == rows(one)
    assert [ok for ok, _ in got] == [True, True, True, False, True, True, False]
    # In a batch each call's run is read with its parent, its spend without its holds (7), and a delegated run's budget
    # run once more (top, for kid); the reservations in flight once, for every run's holds and for the parent a run
    # not recorded ("new": its first call may be a delegated run's) may have: read with each run's scope, the batch
    # scanned every open reservation once a call
    batch_reads = [s for s in in_batch if s.startswith("SELECT")]
    assert len([s for s in batch_reads if s.startswith("SELECT (SELECT ifnull(parent_run_id")]) == 7, batch_reads
    assert len([s for s in batch_reads if "budget_reservations" in s]) == 1 and len(batch_reads) == 9, batch_reads
    assert [row[1] for row in rows(one)] == ["top", "solo", "top", "solo", "new"]  # kid's holds count against top
    top_full = "for run top (with its delegated runs, kid among them) would be exceeded: spent $0.5, reserved $0.5"
    assert top_full in got[3][1]
    assert "for run solo would be exceeded: spent $0.6, reserved $0.4" in got[6][1]
    # one read for a run with no parent (solo, new, top), two for a delegated one (its scope and its parent's)
    reads = [s for s in statements if s.startswith("SELECT")]
    assert not [s for s in reads if s.startswith("SELECT parent_run_id")], reads
    # the parent a run not recorded ("new") may have from its first call in flight is read in the same statement
    assert not [s for s in reads if s.startswith("SELECT attempt_run_id")], reads
    assert len(reads) == 9, reads


def test_a_batchs_records_land_before_its_reservations_however_many_there_are(tmp_path: Path):
    """A record settles its call's reservation (its real cost replaces the worst case); reservations in
    the same batch must see that, whether the batch holds one record or many."""
    from magsag_mcp.governance import budget
    from magsag_mcp.ledger.group_commit import apply_batch
    from magsag_mcp.ledger.migrations import migrate
    from magsag_mcp.ledger.money import to_pusd
    from magsag_mcp.ledger.writes import RecordWrite

    now = time.time()
    run_limit = [lim for lim in limits(max_cost_per_run_usd="1").limits if lim.kind == "run"]
    for records in (1, 2):
        conn = sqlite3.connect(tmp_path / f"order{records}.db", isolation_level=None)
        migrate(conn)
        held = [
            conn.execute(
                "INSERT INTO budget_reservations (run_id, agent, created_at, expires_at, amount_pusd, state)"
                " VALUES ('r', NULL, ?, ?, ?, 'held')",
                (now, now + 900, to_pusd(Decimal("0.9")) // records),
            ).lastrowid
            for _ in range(records)
        ]
        writes = []
        for i, rid in enumerate(held):
            run = RunRecord(f"r{i}" if i else "r", None, "s", now, status="ok", parent_run_id="r" if i else None)
            attempt = AttemptRecord(
                run.run_id, now, "p", "m", "s", None, "ok", 0, 1, cost_usd=Decimal("0.1") / records, reservation_id=rid
            )
            writes.append(RecordWrite.of(run, [attempt]))
        reservations = [budget.Reservation(run_limit, Decimal("0.4"), run_id="r", agent=None) for _ in range(2)]
        out = apply_batch(conn, [reservations[0], *writes, reservations[1]])
        # records first: 0.1 spent + 0.4 + 0.4 <= 1; before them the 0.9 held would refuse both
        assert [ok for ok, _ in out] == [True] * (2 + records), (records, out)
        conn.close()


async def test_reservations_are_inline_alone_and_merged_while_other_attempts_run(tmp_path: Path, monkeypatch):
    from magsag_mcp.governance import budget

    merged: list[int] = []
    real_apply_all = budget.Reservation.apply_all

    def spy(conn, reservations):
        merged.append(len(reservations))
        return real_apply_all(conn, reservations)

    monkeypatch.setattr(budget.Reservation, "apply_all", staticmethod(spy))
    async with Ledger(tmp_path / "l.db") as ledger:
        gov = Governance(limits(max_cost_per_run_usd="1"), ledger, FixedPricer("0.1"))
        submitted: list[object] = []
        real_submit = ledger.submit

        async def counting_submit(fn, **kw):
            submitted.append(fn)
            return await real_submit(fn, **kw)

        monkeypatch.setattr(ledger, "submit", counting_submit)
        alone = await gov.admit(attempt_ctx("r"))
        await gov.settle(alone, Decimal("0.05"))
        again = await gov.admit(attempt_ctx("r"))  # a retry after the first attempt ended: still alone
        assert submitted == [] and merged == [1, 1]  # both made inline, one at a time
        await gov.release(again)
        submitted.clear()  # the release's delete

        first = await gov.admit(attempt_ctx("r"))  # this attempt is now running...
        merged.clear()
        admitted: list[Admission] = []
        refused: list[E.BudgetExceeded] = []

        async def other(i: int) -> None:
            try:
                admitted.append(await gov.admit(attempt_ctx("r")))
            except E.BudgetExceeded as exc:
                refused.append(exc)

        async with anyio.create_task_group() as tg:  # ...so these join the group commit
            for i in range(20):
                tg.start_soon(other, i)
        assert len(submitted) == 20 and max(merged) > 1
        # $1 holds ten reservations of $0.1: the first call's (held until its record lands), first's, and 8
        assert len(admitted) == 8 and len(refused) == 12
        for a in [first, *admitted]:
            await gov.settle(a, Decimal(0))
        assert gov._running == 0
        submitted.clear()
        await gov.admit(attempt_ctx("fresh"))
        assert submitted == []  # every attempt ended: alone again, inline


async def test_a_reservation_in_the_batch_of_a_shrink_or_a_release_queued_before_it_reads_them_done(
    tmp_path: Path, monkeypatch
):
    """A retry's wait shrinks its attempt's hold to what it cost (a 429: nothing), and an attempt never sent
    releases its hold; with the write lock taken (the writer busy, another process) that goes through the group
    commit. A reservation queued after it in the same batch read the hold whole, the batch having put every
    reservation before such writes, and a call near a limit was refused for spend that never happened."""
    async with Ledger(tmp_path / "l.db") as ledger:
        gov = Governance(limits(max_cost_per_run_usd="1"), ledger, FixedPricer("0.6"))
        waited = await gov.admit(attempt_ctx("r"))
        await gov.settle(waited, Decimal(0))  # a 429: not billed
        never_sent = await gov.admit(attempt_ctx("other"))
        monkeypatch.setattr(ledger, "try_now", lambda fn, durable=False: (False, None))  # the lock is another's
        gov.waiting(waited)  # queued: the hold shrinks to $0 in the next group commit
        retry = await gov.admit(attempt_ctx("r"))  # 0.6 more: fits once the shrink is done
        assert retry.reservation_id is not None
        # the same for a release: queued first, it is done before the reservation after it reads the run
        released, again = await asyncio.gather(gov.release(never_sent), gov.admit(attempt_ctx("other")))
        assert again.reservation_id is not None


async def test_a_reservation_made_while_a_release_waits_for_the_writer_reads_it_done(tmp_path: Path):
    """With no other attempt admitted a reservation is made inline, on the event loop: made while another call's
    release (or shrink) waited in the group commit's queue, it overtook it, read the hold whole, and a call near a
    limit was refused for an attempt that was never sent."""
    async with Ledger(tmp_path / "l.db") as ledger:
        gov = Governance(limits(max_cost_per_run_usd="1"), ledger, FixedPricer("0.6"))
        never_sent = await gov.admit(attempt_ctx("r"))
        _, other = await asyncio.gather(gov.release(never_sent), gov.admit(attempt_ctx("r")))
        assert other.reservation_id is not None
