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
from magsag_mcp.service import Service

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


async def test_a_cancelled_call_is_still_recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # A client that gives up mid-call: the attempt in flight (which the vendor may bill) and the
    # attempts before it land in the ledger, with the run marked cancelled. It gives up once the slow attempt is
    # in flight, not 0.5 s after the call began: on a loaded machine the failed attempts and their records took
    # longer than that, and the call was cut before the slow one was made (the last attempt recorded was "broken").
    from magsag_mcp.providers.fake import FakeProvider

    slow_in_flight = anyio.Event()
    complete = FakeProvider.complete

    async def completing(self, request, target, **kwargs):
        if target.model == "slow":
            slow_in_flight.set()
        return await complete(self, request, target, **kwargs)

    monkeypatch.setattr(FakeProvider, "complete", completing)

    async def give_up_once_the_slow_attempt_is_in_flight(scope: anyio.CancelScope) -> None:
        await slow_in_flight.wait()
        scope.cancel()

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
            with anyio.fail_after(60), anyio.CancelScope() as gave_up:  # (a hang guard, not a timing assertion)
                async with anyio.create_task_group() as tg:
                    tg.start_soon(give_up_once_the_slow_attempt_is_in_flight, gave_up)
                    await svc.invoke_skill(
                        "skill.analysis",
                        {"data": "x", "model_config": {**first, "fallbacks": [slow]}},
                        agent="a",
                        run_id="run-cancelled",
                    )
            assert gave_up.cancelled_caught
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


async def test_ledger_sync_mode_is_read_from_the_environment_and_checked(tmp_path: Path):
    from magsag_mcp.ledger.group_commit import SYNC_MODE_BY_CONNECTION

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
import asyncio, os, sys, time
from decimal import Decimal
from magsag_mcp.ledger import Ledger
from magsag_mcp.records import AttemptRecord, RunRecord

async def main():
    db, tag, go = sys.argv[1], sys.argv[2], sys.argv[3]
    open(f"{go}.ready-{tag}", "w").close()
    while not os.path.exists(go):  # every process starts recording at the same moment: once all are ready
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
    # Started together once every interpreter is ready, told by a file: a start time on this process's clock (2 s
    # from now) was read on each interpreter's own, which a test moving time.time (to a midnight) does not move, so
    # they waited the hours between the two clocks (and on a machine slower to start them, some began alone).
    go = tmp_path / "go"
    tags = ["a", "b", "c"]
    procs = [subprocess.Popen([sys.executable, "-c", RECORD_AT_ONCE, str(db), tag, str(go)]) for tag in tags]
    waited = 0
    while not all((tmp_path / f"go.ready-{tag}").exists() for tag in tags):
        assert all(p.poll() is None for p in procs) and waited < 120_000, "a recording process ended before it began"
        time.sleep(0.001)  # (polled: each is ready once its interpreter has started; a hang guard bounds the wait)
        waited += 1
    go.touch()
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
