"""The ledger: every attempt durable, summaries that equal the upstream's own books, exact money."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from decimal import Decimal
from pathlib import Path

import anyio
import pytest

from magsag_mcp import errors as E
from magsag_mcp.errors import InputError
from magsag_mcp.ledger import Ledger, UsageFilters
from magsag_mcp.records import AttemptRecord, RunRecord
from magsag_mcp.service import Service
from tests.refused_writes import every_write_refused  # noqa: F401  (test_ledger_failing_writes imports it here)

pytestmark = pytest.mark.anyio

# Vendor list prices, USD per million tokens, typed in by hand from the vendors' price pages.
HAND_PRICES = {
    "gpt-4o": (Decimal("2.50"), Decimal("10.00")),
    "claude-3-5-sonnet-20241022": (Decimal("3.00"), Decimal("15.00")),
    "gemini-1.5-pro": (Decimal("1.25"), Decimal("5.00")),  # prompts up to 128k tokens
}


async def test_500_concurrent_calls_match_the_upstreams_books(tmp_path: Path, upstream):
    # Some calls fail once (retried), some targets are down (fallback): every attempt must land.
    upstream.plan("gpt-4o", *([500] * 40))
    upstream.plan("claude-3-5-sonnet-20241022", *([529] * 15))
    env = {**upstream.env(), "MAGSAG_RETRY_BASE_DELAY": "0.001", "MAGSAG_RETRY_MAX_DELAY": "0.002"}
    svc = await Service.open(db=tmp_path / "l.db", env=env)
    models = list(HAND_PRICES)
    failures: list[BaseException] = []

    async def one(i: int) -> None:
        mc = {"model": models[i % 3], "fallbacks": [models[(i + 1) % 3]]}
        try:
            await svc.invoke_skill(
                "skill.analysis", {"data": f"call {i} " + "x" * (i % 50), "model_config": mc}, agent=f"agent-{i % 4}"
            )
        except Exception as exc:
            failures.append(exc)

    async with anyio.create_task_group() as tg:
        for i in range(500):
            tg.start_soon(one, i)
    assert failures == []
    summary = await svc.summarize(UsageFilters())
    await svc.aclose()

    ms = summary["model_stats"]
    total = Decimal(0)
    for model in models:
        n_ok = sum(1 for m, _, _ in upstream.log if m == model)
        # every request the upstream saw is an attempt; a call counts once, under the model that answered it
        assert ms[model]["attempts"] == upstream.calls[model]
        assert ms[model]["attempt_errors"] == upstream.failures[model]
        assert ms[model]["attempts"] - ms[model]["attempt_errors"] == n_ok == ms[model]["calls"]
        assert ms[model]["errors"] == 0  # every call was answered (failures == [])
        assert ms[model]["input_tokens"] == sum(i for m, i, _ in upstream.log if m == model)
        assert ms[model]["output_tokens"] == sum(o for m, _, o in upstream.log if m == model)
        assert ms[model]["total_tokens"] == upstream.tokens[model]
        pin, pout = HAND_PRICES[model]
        expected = sum((i * pin + o * pout for m, i, o in upstream.log if m == model), Decimal(0)) / 1_000_000
        assert Decimal(ms[model]["cost_usd_exact"]) == expected
        total += expected
    assert Decimal(summary["totals"]["cost_usd_exact"]) == total
    assert summary["totals"]["attempts"] == sum(upstream.calls.values())
    assert summary["totals"]["calls"] == 500 and summary["totals"]["errors"] == 0
    assert sum(s["calls"] for s in summary["by_agent"].values()) == summary["totals"]["calls"]
    assert sum(s["attempts"] for s in summary["by_agent"].values()) == summary["totals"]["attempts"]


WRITER = textwrap.dedent(
    """
    import sys, anyio
    from magsag_mcp.service import Service

    async def main():
        svc = await Service.open(db=sys.argv[1], env={"MAGSAG_PROVIDER": "fake", "MAGSAG_LEDGER_SYNC": sys.argv[2]})
        async def loop(worker):
            i = 0
            while True:
                run_id = f"w{worker}-{i}"
                await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": {"model": "fake:a"}},
                                       run_id=run_id)
                print(run_id, flush=True)  # acknowledged only after invoke_skill returned
                i += 1
        async with anyio.create_task_group() as tg:
            for w in range(8):
                tg.start_soon(loop, w)

    anyio.run(main)
    """
)


@pytest.mark.parametrize("sync", ["full", "normal"])
def test_sigkill_under_load_loses_no_returned_call(tmp_path: Path, sync: str):
    """Both sync modes keep every returned call when the process is killed (``normal`` differs only on a
    power cut or OS crash, which a test cannot stage)."""
    db = tmp_path / "kill.db"
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(db), sync],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    acked: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        acked.append(line.strip())
        if len(acked) >= 300:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    stored = {r[0] for r in conn.execute("SELECT run_id FROM runs")}
    missing = [r for r in acked if r not in stored]
    assert missing == []
    with_attempts = {r[0] for r in conn.execute("SELECT DISTINCT run_id FROM attempts")}
    assert set(acked) <= with_attempts


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


async def test_a_lone_call_commits_durably_inline_and_company_waits_its_turn(tmp_path: Path):
    async with Ledger(tmp_path / "l.db") as ledger:
        queued: list[object] = []
        real_submit = ledger.submit

        async def spy(fn, *args, **kwargs):
            queued.append(fn)
            return await real_submit(fn, *args, **kwargs)

        ledger.submit = spy  # type: ignore[method-assign]
        now = time.time()
        # Alone and the writer idle: committed on the loop with synchronous=FULL, no trip to the queue.
        await ledger.record_call(
            RunRecord("lone", "a", "s", now),
            [AttemptRecord("lone", now, "fake", "m", "s", "a", "ok", 0, 1)],
            alone=True,
        )
        assert queued == []
        assert ledger._inline is not None
        assert ledger._inline.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
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


async def test_a_cancelled_call_is_still_recorded(tmp_path: Path):
    # A client that gives up mid-call: the attempt in flight (which the vendor may bill) and the
    # attempts before it land in the ledger, with the run marked cancelled.
    svc = await Service.open(db=tmp_path / "l.db", env={"MAGSAG_RETRY_BASE_DELAY": "0.001"})
    try:
        first = {"provider": "fake", "model": "broken", "params": {"reply": "x"}}
        slow = {"provider": "fake", "model": "slow", "params": {"latency_ms": 60_000}}
        from magsag_mcp.providers.fake import clear_scripts, script

        script(
            "broken",
            E.ServerError("down", status=500),
            E.ServerError("down", status=500),
            E.ServerError("down", status=500),
        )
        try:
            with anyio.move_on_after(0.5):
                await svc.invoke_skill(
                    "skill.analysis",
                    {"data": "x", "model_config": {**first, "fallbacks": [slow]}},
                    agent="a",
                    run_id="run-cancelled",
                )
        finally:
            clear_scripts()
        runs = await svc.ledger.query_runs({"run_id": "run-cancelled"})
        assert [r["status"] for r in runs] == ["cancelled"]
        attempts = runs[0]["attempts"]
        assert attempts[-1]["model"] == "slow" and attempts[-1]["error_class"] == "cancelled"
        assert all(a["model"] == "broken" and a["error_class"] == "server_error" for a in attempts[:-1])
        assert len(attempts) >= 2
        held = await svc.ledger.read(lambda c: c.execute("SELECT COUNT(*) FROM budget_reservations").fetchone()[0])
        assert held == 0
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


async def test_ledger_sync_mode_is_read_from_the_environment_and_checked(tmp_path: Path):
    from magsag_mcp.ledger.writes import SYNC_MODE_BY_CONNECTION

    async with await Service.open(db=tmp_path / "l.db", env={"MAGSAG_PROVIDER": "fake"}) as svc:
        assert svc.ledger.durable_mode == "FULL"
    async with await Service.open(
        db=tmp_path / "l.db", env={"MAGSAG_PROVIDER": "fake", "MAGSAG_LEDGER_SYNC": " Normal "}
    ) as svc:
        assert svc.ledger.durable_mode == "NORMAL"
        await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": {"model": "fake:a"}})
        # the lone call's record was committed inline, in the chosen mode
        assert SYNC_MODE_BY_CONNECTION[id(svc.ledger._inline)] == "NORMAL"
        # and so is a durable write that goes through the group commit's writer thread
        await svc.ledger.submit(lambda c: c.execute("DELETE FROM budget_reservations WHERE id = -1"))
        assert SYNC_MODE_BY_CONNECTION[id(svc.ledger._writer._conn)] == "NORMAL"
        assert len(await svc.query_runs()) == 1
    with pytest.raises(E.ConfigError, match=r"MAGSAG_LEDGER_SYNC='off'.*'full'.*'normal'"):
        await Service.open(db=tmp_path / "l.db", env={"MAGSAG_LEDGER_SYNC": "off"})


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


async def test_an_event_with_nan_or_infinity_is_stored_as_json(tmp_path: Path):
    # json.dumps writes NaN and Infinity as bare words, which are no JSON: `magsag data search` printed
    # them so, and jq refused the output. They are kept as strings; the rest of the event is unchanged.
    async with Ledger(tmp_path / "l.db") as ledger:
        data = {"score": float("nan"), "limits": [float("inf"), -float("inf"), 1.5], "note": {"x": 2}}
        await ledger.log_event("r", "a", "scored", data)
        stored = await ledger.read(lambda c: c.execute("SELECT data FROM events").fetchone()[0])
        cyclic: dict = {}
        cyclic["self"] = cyclic
        with pytest.raises(InputError, match="JSON-like mapping"):
            await ledger.log_event("r", "a", "cyclic", cyclic)
    assert json.loads(stored, parse_constant=lambda c: pytest.fail(f"not JSON: {c}")) == {
        "score": "NaN",
        "limits": ["Infinity", "-Infinity", 1.5],
        "note": {"x": 2},
    }


RECORD_AT_ONCE = """
import asyncio, sys, time
from decimal import Decimal
from magsag_mcp.ledger import Ledger
from magsag_mcp.records import AttemptRecord, RunRecord

async def main():
    db, tag, start = sys.argv[1], sys.argv[2], float(sys.argv[3])
    while time.time() < start:  # every process starts recording at the same moment
        await asyncio.sleep(0.001)
    async with Ledger(db) as ledger:
        async def one(i, alone):
            now = time.time()
            run = RunRecord(f"{tag}-{i}", "ag", "s", now, ended_at=now, status="ok")
            cost = Decimal(i + 1) / 10**12
            attempt = AttemptRecord(run.run_id, now, "openai", "gpt-4o", "s", "ag", "ok", 0, 1, cost_usd=cost)
            await ledger.record_call(run, [attempt], alone=alone)
        for i in range(30):  # one at a time: inline commits on the event loop
            await one(i, True)
        await asyncio.gather(*(one(30 + i, False) for i in range(60)))  # together: group commits

asyncio.run(main())
"""


def test_processes_recording_at_once_lose_no_record(tmp_path: Path):
    """Several servers recording into one ledger at once, inline and in group commits: every record
    lands once, and the rollups that summaries and budgets read equal the attempts."""
    db = tmp_path / "shared.db"
    start = time.time() + 2  # after every interpreter has started (a hang guard bounds the wait below)
    tags = ["a", "b", "c"]
    procs = [subprocess.Popen([sys.executable, "-c", RECORD_AT_ONCE, str(db), tag, str(start)]) for tag in tags]
    assert [p.wait(120) for p in procs] == [0] * len(tags)
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    expected = {f"{tag}-{i}" for tag in tags for i in range(90)}
    assert sorted(r[0] for r in conn.execute("SELECT run_id FROM attempts")) == sorted(expected)
    assert {r[0] for r in conn.execute("SELECT run_id FROM runs")} == expected
    total = len(tags) * sum(range(1, 91))  # pico-USD
    assert conn.execute("SELECT SUM(cost_pusd) FROM attempts").fetchone()[0] == total
    for table in ("usage_rollup", "day_spend", "agent_spend"):
        assert conn.execute(f"SELECT SUM(cost_pusd) FROM {table}").fetchone()[0] == total, table
    assert conn.execute("SELECT SUM(attempts) FROM usage_rollup").fetchone()[0] == len(expected)


def test_none_binds_through_a_registered_adapter_as_null(tmp_path: Path):
    """A recorded call binds None several times; 3.11's sqlite3 pays a failed attribute lookup for each
    one unless None has an adapter. The adapter must bind the same NULL."""
    import magsag_mcp.ledger.writes  # noqa: F401  (registers the adapter)

    adapter = sqlite3.adapters.get((type(None), sqlite3.PrepareProtocol))
    assert adapter is not None and adapter(None) is None
    conn = sqlite3.connect(tmp_path / "x.db")
    assert conn.execute("SELECT ? IS NULL, typeof(?)", (None, None)).fetchone() == (1, "null")
    conn.close()


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


@pytest.mark.parametrize("earlier", ["ok", "failed"])
def test_a_late_record_replacing_an_abandoned_stand_in_gives_the_run_back_the_status_its_calls_have(
    tmp_path: Path, earlier: str
):
    """A run whose calls had all succeeded, and whose next call's reservation another process swept as abandoned
    (its process suspended, not dead), showed status 'error' for good once that call recorded after all: the
    stand-in was taken back from every count but the run's status. A run a call of its own had failed stays failed."""
    from magsag_mcp.ledger.abandoned import record_abandoned
    from magsag_mcp.ledger.migrations import migrate
    from magsag_mcp.ledger.writes import RecordWrite

    now = 1_796_198_667.0
    conn = sqlite3.connect(tmp_path / "l.db", isolation_level=None)
    migrate(conn)

    def call(status: str, reservation: int | None = None, error: E.MagsagError | None = None) -> RecordWrite:
        attempt = AttemptRecord(
            run_id="r",
            started_at=now,
            provider="openai",
            model="gpt-4o",
            skill="s",
            agent="ag",
            outcome="ok" if status == "ok" else "error",
            fallback_position=0,
            attempt_number=1,
            cost_usd=Decimal("0.05"),
            reservation_id=reservation,
        )
        return RecordWrite.of(RunRecord("r", "ag", "s", now, ended_at=now + 1, status=status), [attempt], error)

    if earlier == "ok":
        call("ok")(conn)
    else:
        call("error", error=E.ProviderError("the vendor failed"))(conn)
    conn.execute(
        "INSERT INTO budget_reservations (id, run_id, agent, created_at, expires_at, amount_pusd, state, provider,"
        " model, skill) VALUES (7, 'r', 'ag', ?, ?, 100000000000, 'held', 'openai', 'gpt-4o', 's')",
        (now, now + 1),
    )
    assert record_abandoned(conn, now + 10) == 1
    assert conn.execute("SELECT status FROM runs").fetchone() == ("error",)  # the stand-in failed the run
    call("ok", reservation=7)(conn)  # the call it stood for records after all, succeeded
    status, error_class, calls = conn.execute("SELECT status, error_class, calls FROM runs").fetchone()
    assert calls == 2
    if earlier == "ok":
        assert (status, error_class) == ("ok", None)
    else:
        assert status == "error" and error_class is not None


def test_a_run_keeps_its_failed_status_while_another_abandoned_stand_in_is_left_in_it(tmp_path: Path):
    """Two calls of a run swept as abandoned (their reservations expired): the first call's record lands after all,
    the second's never does. The run's status was given back as 'ok' when the first stand-in was taken back, though the
    second (a call that may have been billed, its cost unknown) still failed the run."""
    from magsag_mcp.ledger.abandoned import record_abandoned
    from magsag_mcp.ledger.migrations import migrate
    from magsag_mcp.ledger.writes import RecordWrite

    now = 1_796_198_667.0
    conn = sqlite3.connect(tmp_path / "l.db", isolation_level=None)
    migrate(conn)

    def call(reservation: int | None = None) -> RecordWrite:
        attempt = AttemptRecord(
            "r", now, "openai", "gpt-4o", "s", "ag", "ok", 0, 1, cost_usd=Decimal("0.05"), reservation_id=reservation
        )
        return RecordWrite.of(RunRecord("r", "ag", "s", now, ended_at=now + 1, status="ok"), [attempt])

    call()(conn)
    for rid in (7, 8):
        conn.execute(
            "INSERT INTO budget_reservations (id, run_id, agent, created_at, expires_at, amount_pusd, state, provider,"
            " model, skill) VALUES (?, 'r', 'ag', ?, ?, 100000000000, 'held', 'openai', 'gpt-4o', 's')",
            (rid, now, now + 1),
        )
    assert record_abandoned(conn, now + 10) == 2
    call(reservation=7)(conn)  # the first swept call records after all; the second never does
    assert conn.execute("SELECT status, calls FROM runs").fetchone() == ("error", 3)
    assert conn.execute("SELECT COUNT(*) FROM attempts WHERE error_class = 'abandoned'").fetchone() == (1,)
    call(reservation=8)(conn)  # and once the second records too, the run's calls have all succeeded
    assert conn.execute("SELECT status, calls FROM runs").fetchone() == ("ok", 3)
    conn.close()


@pytest.mark.anyio
async def test_a_call_a_bug_failed_keeps_its_run_failed_after_a_stand_in_is_replaced(tmp_path: Path, monkeypatch):
    """A call that a bug of ours failed (an exception outside errors.py's tree) was recorded with no error kind: the
    same mark the abandoned stand-in leaves, so when another call of the run, swept as abandoned, recorded after all
    and succeeded, the run was turned back to 'ok', the bug hidden; and a query showed the failure with no reason."""
    from magsag_mcp.ledger.abandoned import record_abandoned
    from magsag_mcp.ledger.writes import RecordWrite

    catalog = Path(__file__).resolve().parent.parent / "catalog"
    db = tmp_path / "l.db"
    async with await Service.open(catalog=catalog, db=db, env={"MAGSAG_PROVIDER": "fake"}) as svc:

        def broken(*args: object, **kwargs: object) -> None:
            raise KeyError("the plan's missing key")

        monkeypatch.setattr(svc, "plan", broken)
        # raised as the tree's error (kind error) naming the run, from the KeyError (tests/test_our_bugs.py)
        with pytest.raises(E.MagsagError) as info:
            await svc.invoke_skill("skill.analysis", {"data": "x"}, run_id="r", agent="ag")
        assert isinstance(info.value.__cause__, KeyError) and info.value.kind == "error"
    conn = sqlite3.connect(db, isolation_level=None)
    status, error_class, message = conn.execute("SELECT status, error_class, error_message FROM runs").fetchone()
    assert (status, error_class) == ("error", "error")
    assert "unexpected KeyError in magsag-mcp (a bug)" in message and "the plan's missing key" in message
    now = time.time()
    conn.execute(
        "INSERT INTO budget_reservations (id, run_id, agent, created_at, expires_at, amount_pusd, state, provider,"
        " model, skill) VALUES (7, 'r', 'ag', ?, ?, 100000000000, 'held', 'openai', 'gpt-4o', 's')",
        (now, now + 1),
    )
    assert record_abandoned(conn, now + 10) == 1
    attempt = AttemptRecord(
        run_id="r",
        started_at=now,
        provider="openai",
        model="gpt-4o",
        skill="s",
        agent="ag",
        outcome="ok",
        fallback_position=0,
        attempt_number=1,
        cost_usd=Decimal("0.05"),
        reservation_id=7,
    )
    RecordWrite.of(RunRecord("r", "ag", "s", now, ended_at=now + 1, status="ok"), [attempt], None)(conn)
    assert conn.execute("SELECT status, error_class, calls FROM runs").fetchone() == ("error", "error", 2)


@pytest.mark.anyio
async def test_a_bug_while_the_result_is_built_is_not_recorded_as_ok(tmp_path: Path, monkeypatch):
    """The call's record said 'ok' before its result was built: a bug there (its warnings, its output) reached the
    caller as an exception while the ledger kept the run as succeeded. Now the result is built first, and a bug in
    it records the run failed, with the bug's kind and message."""
    import magsag_mcp.service as service_module

    def broken(*args: object, **kwargs: object) -> list[str]:
        raise TypeError("a warning that could not be built")

    catalog = Path(__file__).resolve().parent.parent / "catalog"
    db = tmp_path / "l.db"
    async with await Service.open(catalog=catalog, db=db, env={"MAGSAG_PROVIDER": "fake"}) as svc:
        monkeypatch.setattr(service_module, "result_warnings", broken)
        # raised as the tree's error (kind error) naming the run, from the TypeError (tests/test_our_bugs.py)
        with pytest.raises(E.MagsagError) as info:
            await svc.invoke_skill("skill.analysis", {"data": "x"}, run_id="r")
        assert isinstance(info.value.__cause__, TypeError) and info.value.run_id == "r"
    conn = sqlite3.connect(db)
    status, error_class, message = conn.execute("SELECT status, error_class, error_message FROM runs").fetchone()
    assert (status, error_class) == ("error", "error") and "unexpected TypeError" in message
    assert conn.execute("SELECT outcome FROM attempts").fetchall() == [("ok",)]  # (the answer came, and is paid for)
