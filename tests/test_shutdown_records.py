"""A call's record through a close: a paid answer whose record the ledger refused travels with the error and is
written when the service closes (once, however the calls record together, and cancelled or not); a ledger
writer cancelled mid-batch hands its callers what the batch did; a paid call cancelled while a locked ledger
holds its record keeps it. Against the spec-checking loopback OpenAI."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from magsag_mcp.service import Service
from tests.fakes import openai_replies as R
from tests.fakes.openai_server import FakeOpenAI
from tests.shutdown_helpers import CANCELLED, PAYLOAD, env_for, ledger_state

pytestmark = pytest.mark.anyio

LOCKED = "the ledger at l.db stayed locked for 30s by another process"

DISK_FULL = "ledger error at l.db: database or disk is full"


def ledger_refuses_first_record(
    svc: Service, message: str = LOCKED, after_write: Callable[[], Awaitable[None]] | None = None
) -> None:
    """``svc``'s ledger refuses the first record with a LedgerError saying ``message`` (the service keeps
    it, to write later) and writes every other; ``after_write`` runs after each write that succeeded."""
    from magsag_mcp.errors import LedgerError

    real = svc.ledger.record_call
    refusals = iter([True])

    async def record_call(*args, **kw):
        if next(refusals, False):
            raise LedgerError(message, db="l.db")
        await real(*args, **kw)
        if after_write is not None:
            await after_write()

    svc.ledger.record_call = record_call  # type: ignore[method-assign]


async def test_a_paid_answer_the_ledger_refused_travels_with_the_error_and_is_recorded_later(
    fake_openai: FakeOpenAI, tmp_path: Path
):
    """Locked past its timeout or a full disk: the call cannot be made durable, so it raises, but the
    answer is not thrown away, and the spend is written once the ledger takes writes again."""
    from magsag_mcp.errors import LedgerError

    fake_openai.queue(R.reply("the paid answer"), R.reply("second"))
    svc = await Service.open(db=tmp_path / "l.db", env=env_for(fake_openai))
    ledger_refuses_first_record(svc)
    try:
        with pytest.raises(LedgerError) as info:
            await svc.invoke_skill("skill.analysis", PAYLOAD, run_id="r-refused", agent="a")
        assert info.value.result.output == "the paid answer"
        assert "calling again would pay twice" in info.value.message
        assert ledger_state(tmp_path / "l.db")[:2] == ([], [])
        await svc.invoke_skill("skill.analysis", PAYLOAD, run_id="r-next", agent="a")
    finally:
        await svc.aclose()
    conn = sqlite3.connect(tmp_path / "l.db")
    recorded = conn.execute("SELECT run_id, status FROM runs ORDER BY rowid").fetchall()
    held = conn.execute("SELECT COUNT(*) FROM budget_reservations").fetchone()[0]
    conn.close()
    assert recorded == [("r-refused", "ok"), ("r-next", "ok")] and held == 0


async def test_a_refused_record_is_written_when_the_service_closes(fake_openai: FakeOpenAI, tmp_path: Path):
    from magsag_mcp.errors import LedgerError

    fake_openai.queue(R.reply("answer"))
    svc = await Service.open(db=tmp_path / "l.db", env=env_for(fake_openai))
    ledger_refuses_first_record(svc, DISK_FULL)
    with pytest.raises(LedgerError):
        await svc.invoke_skill("skill.analysis", PAYLOAD, run_id="r-full", agent="a")
    await svc.aclose()
    runs, attempts, held = ledger_state(tmp_path / "l.db")
    assert runs == [("ok",)] and len(attempts) == 1 and held == 0


async def test_a_failed_call_whose_record_the_ledger_refuses_raises_its_own_error(
    fake_openai: FakeOpenAI, tmp_path: Path
):
    """A call that failed (here the vendor does not know the model) and whose record the ledger then refused (locked
    past its timeout, a full disk) raised the ledger's LedgerError in place of its own error: the caller (an MCP
    client, `magsag invoke`, an agent) was told the ledger was locked, not what to fix, and called again in vain.
    The call's own error is raised, the refusal in it (``record_error``); the record is kept and written later."""
    from magsag_mcp.errors import LedgerError, MagsagError

    fake_openai.queue(R.model_not_found("gpt-4o"), R.reply("second"))
    svc = await Service.open(db=tmp_path / "l.db", env=env_for(fake_openai))
    ledger_refuses_first_record(svc)
    try:
        with pytest.raises(MagsagError) as info:
            await svc.invoke_skill("skill.analysis", PAYLOAD, run_id="r-failed", agent="a")
        assert not isinstance(info.value, LedgerError), info.value
        assert "gpt-4o" in info.value.message and info.value.to_dict()["run_id"] == "r-failed"
        refusal = info.value.to_dict()["record_error"]
        assert refusal["type"] == "ledger_error" and LOCKED in refusal["message"]
        await svc.invoke_skill("skill.analysis", PAYLOAD, run_id="r-next", agent="a")
    finally:
        await svc.aclose()
    conn = sqlite3.connect(tmp_path / "l.db")
    recorded = conn.execute("SELECT run_id, status FROM runs ORDER BY rowid").fetchall()
    conn.close()
    assert recorded == [("r-failed", "error"), ("r-next", "ok")]


async def test_a_cancelled_call_whose_record_the_ledger_refused_is_still_cancelled(
    fake_openai: FakeOpenAI, tmp_path: Path
):
    """The caller gave up (a timeout in its code, a client's cancel) and the ledger refused the record: the
    LedgerError replaced the cancellation, so the caller's move_on_after raised instead of timing out (and a
    task cancelled by its task group ended in an error). The record is kept and written at close."""
    fake_openai.queue(R.Reply(hang=True))
    svc = await Service.open(db=tmp_path / "l.db", env=env_for(fake_openai))
    ledger_refuses_first_record(svc)
    try:
        with anyio.fail_after(60):  # a hang guard
            with anyio.CancelScope() as scope:  # the caller gives up once the request is in flight
                async with anyio.create_task_group() as tg:
                    tg.start_soon(fake_openai.cancel_once_received, scope)
                    await svc.invoke_skill("skill.analysis", PAYLOAD, run_id="r-1", agent="a")
        assert scope.cancelled_caught
    finally:
        await svc.aclose()
    assert ledger_state(tmp_path / "l.db") == CANCELLED


async def test_a_kept_record_is_written_when_the_service_closes_inside_a_cancelled_scope(
    fake_openai: FakeOpenAI, tmp_path: Path
):
    """A paid call's record that the ledger refused is kept to be written at close; closing inside a
    cancelled scope (a timeout around ``async with``) skipped it: the spend was lost and its budget
    reservation stayed held."""
    from magsag_mcp.errors import LedgerError

    fake_openai.queue(R.reply("answer"))
    svc = await Service.open(db=tmp_path / "l.db", env=env_for(fake_openai))
    ledger_refuses_first_record(svc, DISK_FULL)
    with pytest.raises(LedgerError):
        await svc.invoke_skill("skill.analysis", PAYLOAD, run_id="r-full", agent="a")
    with anyio.CancelScope() as scope:
        scope.cancel()
        await svc.aclose()
    runs, attempts, held = ledger_state(tmp_path / "l.db")
    assert runs == [("ok",)] and len(attempts) == 1 and held == 0


def recorded_calls(db: Path) -> tuple[list[tuple], int]:
    """(run_id, calls, attempts) of each run, and the reservations still held."""
    conn = sqlite3.connect(db)
    try:
        runs = conn.execute(
            "SELECT run_id, calls, (SELECT COUNT(*) FROM attempts a WHERE a.run_id = runs.run_id) FROM runs"
            " ORDER BY run_id"
        ).fetchall()
        held = conn.execute("SELECT COUNT(*) FROM budget_reservations").fetchone()[0]
    finally:
        conn.close()
    return runs, held


async def refuse_first_record(svc: Service, after_write: Callable[[], Awaitable[None]]) -> None:
    """A call whose record the ledger refuses (kept to be written later); ``after_write`` runs after each
    write from then on, before the caller's wait for it returns."""
    from magsag_mcp.errors import LedgerError

    ledger_refuses_first_record(svc, after_write=after_write)
    with pytest.raises(LedgerError):
        await svc.invoke_skill("skill.analysis", PAYLOAD, run_id="r-kept", agent="a")


async def test_a_kept_record_is_written_once_when_calls_record_together(fake_openai: FakeOpenAI, tmp_path: Path):
    """Each call's record first writes the records the ledger refused earlier. Two calls recording at
    once both wrote the same kept record (it left the list only once written): its spend counted twice."""
    fake_openai.queue(R.reply("kept"), R.reply("one"), R.reply("two"))
    svc = await Service.open(db=tmp_path / "l.db", env=env_for(fake_openai))
    # the first call to write waits, its write done, until the other has written too: the other records while
    # the first is still in its wait for the writer (a sleep here, as before, let a loaded machine record them apart)
    writes = 0
    both_written = anyio.Event()

    async def after_write() -> None:
        nonlocal writes
        writes += 1
        if writes == 2:
            both_written.set()
        await both_written.wait()

    try:
        await refuse_first_record(svc, after_write)
        with anyio.fail_after(60):  # (a hang guard)
            async with anyio.create_task_group() as tg:
                for run_id in ("r-1", "r-2"):
                    tg.start_soon(
                        lambda run_id=run_id: svc.invoke_skill("skill.analysis", PAYLOAD, run_id=run_id, agent="a")
                    )
    finally:
        await svc.aclose()
    assert writes == 2
    assert recorded_calls(tmp_path / "l.db") == ([("r-1", 1, 1), ("r-2", 1, 1), ("r-kept", 1, 1)], 0)


async def test_a_call_cancelled_while_a_kept_record_is_written_is_recorded_once(
    fake_openai: FakeOpenAI, tmp_path: Path
):
    """A call answered (and paid), then cancelled while its record first wrote the kept one: the kept
    record stayed on the list although written (written again at close: counted twice), and the call's
    own record was never written (its spend lost, its reservation held until it expired)."""
    fake_openai.queue(R.reply("kept"), R.reply("paid"))
    svc = await Service.open(db=tmp_path / "l.db", env=env_for(fake_openai))
    # the write is done; the caller is cancelled before its wait for the writer returns (once the kept record is
    # written: a cancellation after a second, as before, came before the answer on a loaded machine, and the test
    # passed without the write it is about)
    kept_written = anyio.Event()

    async def after_write() -> None:
        kept_written.set()
        # held until the cancel, which comes as soon as the canceller runs (a hang guard, not a time it must meet:
        # a cancel later than 5 s, as this waited before, let the call return uncancelled on a loaded machine)
        await anyio.sleep(60)

    try:
        await refuse_first_record(svc, after_write)
        with anyio.fail_after(60), anyio.CancelScope() as scope:  # (a hang guard)
            async with anyio.create_task_group() as tg:

                async def cancel_once_written() -> None:
                    await kept_written.wait()
                    scope.cancel()

                tg.start_soon(cancel_once_written)
                await svc.invoke_skill("skill.analysis", PAYLOAD, run_id="r-1", agent="a")
        assert scope.cancelled_caught
    finally:
        await svc.aclose()
    assert recorded_calls(tmp_path / "l.db") == ([("r-1", 1, 1), ("r-kept", 1, 1)], 0)


async def _batch_in_the_writers_thread(ledger: Any) -> tuple[Any, threading.Event]:
    """A write submitted to ``ledger`` and running in its writer's thread, held there until the event is set:
    (the write's future, the event)."""
    import asyncio

    started, release = threading.Event(), threading.Event()

    def slow_insert(conn: sqlite3.Connection) -> int:
        started.set()
        release.wait(60)
        insert = "INSERT INTO events (run_id, agent, at, event, data) VALUES ('r', NULL, 0, 'e', NULL)"
        return conn.execute(insert).lastrowid

    write = asyncio.ensure_future(ledger.submit(slow_insert))
    await anyio.to_thread.run_sync(started.wait, 60)
    return write, release


async def test_a_ledger_writer_cancelled_mid_batch_hands_its_callers_what_the_batch_did(tmp_path: Path):
    # asyncio.run ending (an error, Ctrl-C) cancels every task left, the ledger's writer among them, maybe
    # while a batch is in its thread, which commits regardless. Before: the batch's callers were told it
    # failed (a LedgerError), so a reservation it made was held until it expired and a record was kept to be
    # written again; and later writes, by the calls recording themselves as they stopped, found no writer.
    import asyncio

    from magsag_mcp.ledger import Ledger

    async with Ledger(tmp_path / "l.db") as ledger:
        write, release = await _batch_in_the_writers_thread(ledger)
        ledger._task.cancel()  # as asyncio.run's end does (the batch's own future is cancelled with it)
        await asyncio.sleep(0)
        release.set()
        assert await write == 1
        count = await ledger.submit(lambda conn: conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])
        assert count == 1  # a writer again, for the writes that come after


async def test_a_ledger_writer_cancelled_again_while_its_batch_ends_still_hands_back_what_it_did(tmp_path: Path):
    # A second cancel while the writer waits for the batch in its thread (a shutdown that cancels every task and
    # then asyncio.run's end doing it again, Ctrl-C twice): the batch commits regardless, but its callers were told
    # it failed: a reservation it made was held until it expired, and a record kept to be written again, its cost
    # counted twice.
    import asyncio

    from magsag_mcp.ledger import Ledger

    async with Ledger(tmp_path / "l.db") as ledger:
        write, release = await _batch_in_the_writers_thread(ledger)
        for _ in range(3):  # each while the batch is still in the writer's thread
            ledger._task.cancel()
            for _ in range(5):
                await asyncio.sleep(0)
        release.set()
        assert await write == 1
        count = await ledger.submit(lambda conn: conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])
        assert count == 1


async def test_a_paid_call_cancelled_while_a_locked_ledger_refuses_its_record_keeps_the_record(
    fake_openai: FakeOpenAI, tmp_path: Path
):
    """The answer came (and was paid) while another process held the ledger's write lock (a prune's VACUUM,
    a long migration): the record waits in the writer's queue, and the client, seeing nothing, cancels. The
    queued write then failed with nobody to hear it: the record was not kept to be written later, so the spend
    was lost (its reservation left to expire into an attempt of unknown cost). Now it is kept, as when the
    caller is still there, and written at close."""
    fake_openai.queue(R.reply("paid"))
    svc = await Service.open(db=tmp_path / "l.db", env=env_for(fake_openai))
    await svc.ledger._writer.execute("PRAGMA busy_timeout = 200")  # the other process's lock outlasts it
    other = sqlite3.connect(tmp_path / "l.db", isolation_level=None)

    def progress(event: str, data: dict) -> None:
        if event == "attempt":  # admitted, the request about to go: the other process takes the write lock
            other.execute("BEGIN IMMEDIATE")

    try:
        with anyio.fail_after(60):  # a hang guard
            scope = anyio.CancelScope()  # the client's cancel

            async def call() -> None:
                with scope:
                    await svc.invoke_skill("skill.analysis", PAYLOAD, run_id="r-locked", agent="a", progress=progress)

            async with anyio.create_task_group() as tg:
                tg.start_soon(call)
                while not svc.ledger._batch_in_flight:  # answered: its record waits for the lock
                    await anyio.sleep(0.01)
                scope.cancel()
            assert scope.cancelled_caught
            while svc.ledger._batch_in_flight:  # the batch fails once the busy timeout passes
                await anyio.sleep(0.01)
        other.execute("ROLLBACK")
    finally:
        other.close()
        await svc.aclose()
    runs, attempts, held = ledger_state(tmp_path / "l.db")
    assert runs == [("ok",)] and [a[:2] for a in attempts] == [("ok", None)] and held == 0


@pytest.mark.parametrize("lock_kept", [False, True])
async def test_a_paid_call_cancelled_by_the_close_while_its_record_waits_for_a_locked_ledger_is_recorded(
    fake_openai: FakeOpenAI, tmp_path: Path, lock_kept: bool
):
    """The answer came (and was paid) while another process held the ledger's write lock; the service closed (a
    SIGTERM) while the record waited in the writer's queue. Closing cancelled the call, wrote the kept records
    (none yet) and then let the queued write fail: the record was put back on the kept list after its last
    write, and lost, the log saying it was "kept, to be written ... at close". Now the close lets the queued
    writes end first, then writes what they left kept; when the lock outlasts that write too, the close's error
    names the run it lost."""
    import asyncio

    from magsag_mcp.errors import LedgerError

    fake_openai.queue(R.reply("paid"))
    svc = await Service.open(db=tmp_path / "l.db", env=env_for(fake_openai))
    await svc.ledger._writer.execute("PRAGMA busy_timeout = 200")  # the other process's lock outlasts it
    other = sqlite3.connect(tmp_path / "l.db", isolation_level=None)

    def progress(event: str, data: dict) -> None:
        if event == "attempt":  # admitted, the request about to go: the other process takes the write lock
            other.execute("BEGIN IMMEDIATE")

    async def lets_go_once_the_write_failed() -> None:
        while svc.ledger._batch_in_flight:
            await anyio.sleep(0.01)
        if not lock_kept:
            other.execute("ROLLBACK")

    lost: list[LedgerError] = []

    try:
        with anyio.fail_after(60):  # a hang guard
            call = asyncio.ensure_future(
                svc.invoke_skill("skill.analysis", PAYLOAD, run_id="r-locked", agent="a", progress=progress)
            )
            while not svc.ledger._batch_in_flight:  # answered: its record waits for the lock
                await anyio.sleep(0.01)
            async with anyio.create_task_group() as tg:
                tg.start_soon(lets_go_once_the_write_failed)
                try:
                    await svc.aclose()
                except LedgerError as exc:
                    lost.append(exc)
            with pytest.raises(asyncio.CancelledError):
                await call
    finally:
        if other.in_transaction:
            other.execute("ROLLBACK")
        other.close()
    runs, attempts, held = ledger_state(tmp_path / "l.db")
    if lock_kept:
        assert runs == [] and [r["run_id"] for r in lost[0].details["lost_runs"]] == ["r-locked"]
        assert "r-locked" in lost[0].message
    else:
        assert not lost and runs == [("ok",)] and [a[:2] for a in attempts] == [("ok", None)] and held == 0


async def test_a_bug_building_the_result_whose_record_the_ledger_refuses_raises_the_bug(
    fake_openai: FakeOpenAI, tmp_path: Path, monkeypatch
):
    """A bug while the answer's result was built (af5d04f records the run failed for it) whose record the ledger then
    refused raised the ledger's LedgerError in place of the bug: the traceback pointed at a locked ledger, the bug
    was only its __context__, unlike a bug anywhere else in the call (c63c758). The bug goes on; the record is kept
    and written with the next call, failed, with the answer's attempt at its cost."""
    import magsag_mcp.service as service_module
    from magsag_mcp.errors import LedgerError, MagsagError

    def broken(*args: object, **kwargs: object) -> list[str]:
        raise TypeError("a warning that could not be built")

    fake_openai.queue(R.reply("paid"), R.reply("second"))
    svc = await Service.open(db=tmp_path / "l.db", env=env_for(fake_openai))
    ledger_refuses_first_record(svc)
    try:
        monkeypatch.setattr(service_module, "result_warnings", broken)
        # the bug, as the tree's error naming it (kind error, tests/test_our_bugs.py), from the TypeError
        with pytest.raises(MagsagError, match="could not be built") as info:
            await svc.invoke_skill("skill.analysis", PAYLOAD, run_id="r-bug", agent="a")
        assert not isinstance(info.value, LedgerError) and isinstance(info.value.__cause__, TypeError)
        assert "record_error" in info.value.details  # (the ledger's refusal, in the bug's error)
        monkeypatch.undo()
        await svc.invoke_skill("skill.analysis", PAYLOAD, run_id="r-next", agent="a")
    finally:
        await svc.aclose()
    conn = sqlite3.connect(tmp_path / "l.db")
    recorded = conn.execute("SELECT run_id, status, error_class FROM runs ORDER BY rowid").fetchall()
    attempts = conn.execute("SELECT run_id, outcome FROM attempts ORDER BY rowid").fetchall()
    conn.close()
    assert recorded == [("r-bug", "error", "error"), ("r-next", "ok", None)]
    assert attempts == [("r-bug", "ok"), ("r-next", "ok")]
