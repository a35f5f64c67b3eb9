"""The ledger's writer: a lone call committed inline, concurrent ones grouped into one merged write that leaves every
table as writing them one by one does, a bad write failing alone, and a result or failure whose caller is gone
handed back."""

from __future__ import annotations

import sqlite3
import time
from decimal import Decimal
from pathlib import Path

import anyio
import pytest

from magsag_mcp.ledger import Ledger
from magsag_mcp.records import AttemptRecord, RunRecord
from magsag_mcp.service import Service

pytestmark = pytest.mark.anyio


async def test_one_failing_op_does_not_sink_its_batch(tmp_path: Path):
    async with Ledger(tmp_path / "l.db") as ledger:

        def bad(conn):
            conn.execute("INSERT INTO events (run_id, agent, at, event, data) VALUES ('x', 'a', 1, 'kept?', NULL)")
            raise ValueError("boom")

        results = []
        async with anyio.create_task_group() as tg:

            async def good(i):
                await ledger.log_event("r", "a", f"ok-{i}", {})
                results.append(i)

            async def failing():
                with pytest.raises(ValueError, match="boom"):
                    await ledger.submit(bad)

            tg.start_soon(failing)
            for i in range(20):
                tg.start_soon(good, i)
        names = await ledger.read(lambda c: [r[0] for r in c.execute("SELECT event FROM events")])
    assert len(results) == 20 and "kept?" not in names and len(names) == 20


async def test_a_result_its_caller_cannot_take_is_handed_back(tmp_path: Path):
    # Cancelled after the writer set its result but before resuming (a sibling from the same batch,
    # woken first, cancels it): the result was lost, and a budget reservation then held for 15 minutes.
    import asyncio

    async with Ledger(tmp_path / "l.db") as ledger:
        handed_back: list[int] = []

        async def first() -> None:
            await ledger.submit(lambda conn: 1, durable=False)
            victim.cancel()  # the victim's future is done; its task has not resumed yet

        sibling = asyncio.create_task(first())
        victim = asyncio.create_task(ledger.submit(lambda conn: 2, durable=False, orphaned=handed_back.append))
        results = await asyncio.gather(sibling, victim, return_exceptions=True)
    assert isinstance(results[1], asyncio.CancelledError)
    assert handed_back == [2]


async def test_a_failure_its_caller_cannot_hear_is_handed_back(tmp_path: Path):
    # A queued write whose caller was cancelled runs anyway; when it then failed (its own error, or the whole
    # batch's: the lock held past the busy timeout), nobody was told, and what it was to write (a paid call's
    # record) was lost. The failure goes to `refused`, whichever way the caller was gone.
    import asyncio

    class Refused(Exception):
        pass

    def fails(conn: sqlite3.Connection) -> None:
        raise Refused("no")

    async with Ledger(tmp_path / "l.db") as ledger:
        refused: list[BaseException] = []
        # cancelled while it waited in the queue
        gone = asyncio.create_task(ledger.submit(fails, refused=refused.append))
        await asyncio.sleep(0)
        gone.cancel()
        with pytest.raises(asyncio.CancelledError):
            await gone
        await ledger.submit(lambda conn: None)  # the batch after it: the failed write has been handed back
        assert [type(e) for e in refused] == [Refused]

        # cancelled after the writer set the failure, before it resumed (a sibling woken first cancels it)
        async def first() -> None:
            await ledger.submit(lambda conn: 1)
            victim.cancel()

        sibling = asyncio.create_task(first())
        victim = asyncio.create_task(ledger.submit(fails, refused=refused.append))
        results = await asyncio.gather(sibling, victim, return_exceptions=True)
        assert isinstance(results[1], asyncio.CancelledError)
        assert [type(e) for e in refused] == [Refused, Refused]


async def test_a_lone_call_commits_durably_inline_and_company_waits_its_turn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from magsag_mcp.ledger import log_sync

    synced: list[int] = []
    monkeypatch.setattr(log_sync, "_sync", synced.append)
    async with Ledger(tmp_path / "l.db") as ledger:
        queued: list[object] = []
        real_submit = ledger.submit

        async def spy(fn, *args, **kwargs):
            queued.append(fn)
            return await real_submit(fn, *args, **kwargs)

        ledger.submit = spy  # type: ignore[method-assign]
        now = time.time()
        # Alone and the writer idle: committed on the loop and the -wal file synced there (the connection in NORMAL,
        # the ledger syncing a durable commit itself: see log_sync.py), no trip to the queue.
        await ledger.record_call(
            RunRecord("lone", "a", "s", now),
            [AttemptRecord("lone", now, "fake", "m", "s", "a", "ok", 0, 1)],
            alone=True,
        )
        assert queued == []
        assert ledger._inline is not None
        assert synced == [ledger._log_fd] and ledger._log_fd is not None
        other = sqlite3.connect(tmp_path / "l.db")
        assert other.execute("SELECT COUNT(*) FROM attempts WHERE run_id = 'lone'").fetchone()[0] == 1

        # Something already waiting for the writer: an inline commit could overtake it, so it queues behind.
        async with anyio.create_task_group() as tg:
            tg.start_soon(ledger.log_event, "first", "a", "queued-first", {})
            await anyio.sleep(0)
            assert not ledger.writer_idle()
            tg.start_soon(
                lambda: ledger.record_call(
                    RunRecord("second", "a", "s", now),
                    [AttemptRecord("second", now, "fake", "m", "s", "a", "ok", 0, 1)],
                    alone=True,
                )
            )
        assert len(queued) == 2
        assert other.execute("SELECT COUNT(*) FROM runs WHERE run_id = 'second'").fetchone()[0] == 1
        other.close()


async def test_sequential_service_calls_skip_the_queue_and_concurrent_ones_group(tmp_path: Path, upstream):
    svc = await Service.open(db=tmp_path / "l.db", env=upstream.env())
    try:
        calls: list[bool] = []
        real = svc.ledger.record_call

        async def spy(run, attempts, **kwargs):
            calls.append(kwargs.get("alone", False))
            return await real(run, attempts, **kwargs)

        svc.ledger.record_call = spy  # type: ignore[method-assign]
        for i in range(3):
            await svc.invoke_skill("skill.analysis", {"data": f"seq {i}"}, agent="a")
        assert calls == [True, True, True]
        calls.clear()
        async with anyio.create_task_group() as tg:
            for i in range(5):
                tg.start_soon(lambda i=i: svc.invoke_skill("skill.analysis", {"data": f"par {i}"}, agent="a"))
        assert calls.count(False) >= 4  # at most the last one to finish is alone
        runs = await svc.ledger.query_runs({"limit": 50})
        assert len(runs) == 8
    finally:
        await svc.aclose()


async def test_a_batch_of_records_is_written_together_and_a_bad_one_fails_alone(tmp_path: Path, monkeypatch):
    """Concurrent calls' records share one statement per table (rollups summed per key first); a record
    that breaks a constraint fails on its own and the others land exactly as if written one by one."""
    from magsag_mcp.ledger.writes import RecordWrite

    merged: list[int] = []
    real_apply_all = RecordWrite.apply_all

    def spy(conn, writes):
        out = real_apply_all(conn, writes)
        merged.append(len(writes))  # only merges that succeeded
        return out

    monkeypatch.setattr(RecordWrite, "apply_all", staticmethod(spy))
    now = time.time()
    async with Ledger(tmp_path / "l.db") as ledger:
        rids = []
        for i in range(12):
            rid = await ledger.submit(
                lambda c, i=i: (
                    c.execute(
                        "INSERT INTO budget_reservations (run_id, agent, created_at, expires_at, amount_pusd, state)"
                        " VALUES (?, 'a', ?, ?, 5, 'held')",
                        (f"r{i}", now, now + 900),
                    ).lastrowid
                )
            )
            rids.append(rid)
        merged.clear()

        async def one(i: int) -> None:
            run = RunRecord(f"r{i}", "a", "s", now)
            attempt = AttemptRecord(
                f"r{i}",
                now,
                "openai",
                "gpt-4o" if i % 2 else "gpt-4o-mini",
                "s",
                "a",
                "ok",
                0,
                1,
                input_tokens=10 + i,
                output_tokens=i,
                cost_usd=Decimal("0.000001") * (i + 1),
                reservation_id=rids[i],
            )
            if i == 7:
                attempt.provider = None  # type: ignore[assignment]  # NOT NULL: this record must fail alone
                with pytest.raises(sqlite3.IntegrityError):
                    await ledger.record_call(run, [attempt])
            else:
                await ledger.record_call(run, [attempt])

        async with anyio.create_task_group() as tg:
            for i in range(12):
                tg.start_soon(one, i)

        def scan(c):
            return (
                c.execute("SELECT COUNT(*), SUM(input_tokens), SUM(cost_pusd) FROM attempts").fetchone(),
                c.execute("SELECT SUM(attempts), SUM(input_tokens), SUM(cost_pusd) FROM usage_rollup").fetchone(),
                c.execute("SELECT SUM(cost_pusd) FROM agent_spend").fetchone()[0],
                c.execute("SELECT COUNT(*), SUM(calls) FROM runs").fetchone(),
                [r[0] for r in c.execute("SELECT run_id FROM budget_reservations")],
            )

        attempts, rollup, spend, runs, held = await ledger.read(scan)
    good = [i for i in range(12) if i != 7]
    assert merged and max(merged) == 1  # the failed merge fell back to one record at a time
    assert attempts == (11, sum(10 + i for i in good), sum((i + 1) * 1_000_000 for i in good))
    assert rollup == attempts and spend == attempts[2]
    assert runs == (11, 11)
    assert held == ["r7"]  # the failed record released nothing


async def test_merged_records_equal_records_written_one_by_one(tmp_path: Path, monkeypatch):
    """The group commit's merged write (rollup and spend rows summed per key, one statement per table)
    leaves every table exactly as writing each call's record alone does, including two records of one
    run and several calls sharing a rollup and spend key."""
    from magsag_mcp.ledger.writes import RecordWrite

    merged: list[int] = []
    real_apply_all = RecordWrite.apply_all

    def spy(conn, writes):
        out = real_apply_all(conn, writes)
        merged.append(len(writes))
        return out

    monkeypatch.setattr(RecordWrite, "apply_all", staticmethod(spy))
    now = 1_760_000_000.0

    def call(i: int) -> tuple[RunRecord, list[AttemptRecord]]:
        run_id = "shared" if i in (3, 4) else f"r{i}"
        run = RunRecord(run_id, f"a{i % 2}", "s" if i != 4 else "other", now + i, status="ok" if i != 4 else "error")
        run.ended_at, run.input_tokens, run.output_tokens = now + i + 1, 10 * i, i
        attempts = [
            AttemptRecord(
                run_id,
                now + i,
                "openai",
                "gpt-4o" if i % 3 else "gpt-4o-mini",
                "s",
                f"a{i % 2}",
                "ok" if i % 4 else "error",
                0,
                k + 1,
                input_tokens=10 * i + k,
                output_tokens=i,
                cached_tokens=k,
                cost_usd=None if i in (5, 7) else Decimal("0.000001") * (i + k + 1),
                # unknown costs with a bound, two of them in one agent's spend bucket
                cost_bound_usd=Decimal("0.00002") * (i + k) if i in (5, 7) else None,
                reservation_id=100 + i if k == 0 else None,
            )
            for k in range(1 + i % 2)
        ]
        return run, attempts

    def tables(c):
        return {
            "runs": c.execute("SELECT * FROM runs ORDER BY run_id").fetchall(),
            "attempts": c.execute(
                "SELECT run_id, started_at, model, agent, outcome, attempt_number, input_tokens, output_tokens,"
                " cached_tokens, cost_pusd, reservation_id, cost_bound_pusd FROM attempts"
                " ORDER BY run_id, started_at, attempt_number"
            ).fetchall(),
            "rollup": c.execute("SELECT * FROM usage_rollup ORDER BY 1, 2, 3, 4, 5, 6").fetchall(),
            "spend": c.execute("SELECT * FROM agent_spend ORDER BY 1, 2").fetchall(),
            "held": c.execute("SELECT id FROM budget_reservations ORDER BY id").fetchall(),
        }

    async def seeded(path: Path) -> Ledger:
        ledger = await Ledger(path).open()
        for i in range(10):
            await ledger.submit(
                lambda c, i=i: c.execute(
                    "INSERT INTO budget_reservations (id, run_id, agent, created_at, expires_at, amount_pusd, state)"
                    " VALUES (?, 'r', 'a', ?, ?, 5, 'held')",
                    (100 + i, now, now + 900),
                )
            )
        await ledger.submit(
            lambda c: c.execute(
                "INSERT INTO budget_reservations (id, run_id, agent, created_at, expires_at, amount_pusd, state)"
                " VALUES (999, 'r', 'a', ?, ?, 5, 'held')",
                (now, now + 900),
            )
        )
        return ledger

    one_by_one = await seeded(tmp_path / "one.db")
    for i in range(10):
        await one_by_one.record_call(*call(i), alone=True)
    expected = await one_by_one.read(tables)
    await one_by_one.close()

    together = await seeded(tmp_path / "together.db")
    merged.clear()
    async with anyio.create_task_group() as tg:
        for i in range(10):
            tg.start_soon(together.record_call, *call(i))
    got = await together.read(tables)
    await together.close()
    assert max(merged) == 10  # all ten in one merged write
    assert got == expected
    assert expected["held"] == [(999,)] and len(expected["runs"]) == 9
    # the bounds on unknown costs were summed into one agent's spend bucket, and into their runs
    assert [row[3] for row in expected["spend"] if row[3]] == [20_000_000 * (11 + 15)]
    # runs' cost_bound_pusd, the column before error_class and error_message
    assert sorted(row[-3] for row in expected["runs"] if row[-3]) == [20_000_000 * 11, 20_000_000 * 15]


def test_records_written_alone_hold_what_the_same_records_written_as_one_batch_hold(tmp_path: Path):
    """A lone record writes its rows as it made them; a batch sums them per key across records first. Both
    must leave the same rows: attempts priced, unpriced with a bound and without one, two that spent in one
    call (summed in the record), with and without an agent, in two spend buckets."""
    from magsag_mcp.ledger.migrations import migrate
    from magsag_mcp.ledger.writes import RecordWrite

    now = 1_796_198_667.0

    def attempt(run_id: str, agent: str | None, at: float, cost: str | None, bound: str | None, n: int):
        return AttemptRecord(
            run_id=run_id,
            started_at=at,
            provider="openai",
            model="gpt-4o",
            skill="s",
            agent=agent,
            outcome="ok" if cost is not None else "error",
            fallback_position=n,
            attempt_number=1,
            input_tokens=10 + n,
            output_tokens=5,
            cached_tokens=n,
            reasoning_tokens=2 * n,
            cost_usd=None if cost is None else Decimal(cost),
            cost_bound_usd=None if bound is None else Decimal(bound),
        )

    calls = [
        ("r1", "ag", [attempt("r1", "ag", now, "0.25", None, 0)]),
        ("r2", "ag", [attempt("r2", "ag", now, None, "0.5", 0)]),
        ("r3", None, [attempt("r3", None, now, None, None, 0)]),
        ("r4", "ag", [attempt("r4", "ag", now, None, "0.125", 0), attempt("r4", "ag", now + 1, "0.03", None, 1)]),
        ("r5", None, [attempt("r5", None, now, "0.5", None, 0), attempt("r5", None, now + 2000, "0.5", None, 1)]),
        ("r6", "bg", [attempt("r6", "bg", now, "0", None, 0), attempt("r6", "bg", now, "1.5", None, 1)]),
    ]

    def records() -> list[RecordWrite]:
        return [
            RecordWrite.of(RunRecord(run_id, agent, "s", now, ended_at=now + 5, status="ok"), attempts)
            for run_id, agent, attempts in calls
        ]

    def written(name: str, batch: bool) -> dict[str, list[tuple]]:
        conn = sqlite3.connect(tmp_path / name, isolation_level=None)
        migrate(conn)
        conn.execute("BEGIN IMMEDIATE")
        if batch:
            RecordWrite.apply_all(conn, records())
        else:
            for write in records():
                write(conn)
        conn.execute("COMMIT")
        tables = {
            "runs": "SELECT * FROM runs ORDER BY run_id",
            "attempts": "SELECT * FROM attempts ORDER BY run_id, fallback_position",
            "usage_rollup": "SELECT * FROM usage_rollup ORDER BY bucket, model, provider, agent, skill, outcome",
            "agent_spend": "SELECT * FROM agent_spend ORDER BY agent, bucket",
            "day_spend": "SELECT * FROM day_spend ORDER BY bucket",
        }
        rows = {table: conn.execute(sql).fetchall() for table, sql in tables.items()}
        conn.close()
        return rows

    alone, together = written("alone.db", False), written("batch.db", True)
    assert alone == together
    assert alone["agent_spend"] and alone["day_spend"] and len(alone["usage_rollup"]) >= 2
    # r4's two attempts (a bound of $0.125 and $0.03 paid) are one agent row and one day row, summed
    spent = {(agent, bucket): (cost, bound) for agent, bucket, cost, bound in alone["agent_spend"]}
    assert spent[("ag", int(now // 900))] == (280_000_000_000, 625_000_000_000)
