"""A write's hand-back for a caller gone (``orphaned``, ``refused``: see Ledger.submit) that raises. It was called in
the writer's task, unguarded: the task ended with its batch half handed out, and every caller after the failing one in
that batch waited for ever on a write the ledger had committed; the error itself surfaced only as asyncio's "Task
exception was never retrieved", its key in it. Its failure is now logged (redacted) and the batch handed out; an
interpreter exit raised there goes on once every caller of the batch has its outcome."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from magsag_mcp.ledger import Ledger
from tests.shutdown_helpers import exit_once_queued

pytestmark = pytest.mark.anyio

#: a key-shaped text the hook's error carries: the log must not
KEY = "sk-proj-Zq8Wm2Xc4Vb6Nq1Lp3Kr5Ts7Yd9Hf0Ga2Jc4Be6"


class HookBug(Exception):
    pass


def _hook(raised: BaseException) -> Callable[[Any], object]:
    def hook(_: Any) -> None:
        raise raised

    return hook


async def _cancelled_in_a_batch(
    ledger: Ledger, first: Callable[[sqlite3.Connection], Any], hand_back: dict[str, Any]
) -> asyncio.Task[Any]:
    """``first`` submitted with ``hand_back`` and a second write queued behind it, in one batch; the first's caller
    cancelled while ``first`` runs in the writer. Returns the second write's task once the writer is idle."""
    running, go_on = threading.Event(), threading.Event()

    def held(conn: sqlite3.Connection) -> Any:
        running.set()
        go_on.wait()
        return first(conn)

    gone = asyncio.create_task(ledger.submit(held, **hand_back))
    behind = asyncio.create_task(ledger.submit(lambda conn: conn.execute("SELECT 2").fetchone()[0]))
    while not running.is_set():  # (the writer thread has the batch: both writes are in it)
        await asyncio.sleep(0.001)
    gone.cancel()
    go_on.set()
    with pytest.raises(asyncio.CancelledError):
        await gone
    await ledger.settled()
    return behind


def _fails(conn: sqlite3.Connection) -> None:
    raise sqlite3.IntegrityError("a constraint")


@pytest.mark.parametrize(
    ("first", "hand_back"),
    [(lambda conn: 1, "orphaned"), (_fails, "refused")],
    ids=["orphaned", "refused"],
)
async def test_a_hand_back_that_raises_leaves_the_rest_of_its_batch_answered(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, first: Callable[[sqlite3.Connection], Any], hand_back: str
):
    caplog.set_level(logging.ERROR, logger="magsag_mcp.ledger")
    async with Ledger(tmp_path / "l.db") as ledger:
        behind = await _cancelled_in_a_batch(ledger, first, {hand_back: _hook(HookBug(f"a hook's bug {KEY}"))})
        # settled() returns once the outcomes are handed over: the second caller's task may still want one turn of
        # the loop to take its answer (under load, the test's task resumed first one run in ten). A few turns, no
        # clock: before the fix it waited for ever, so no number of turns makes it done.
        for _ in range(50):
            if behind.done():
                break
            await asyncio.sleep(0)
        done = behind.done()
        if not done:  # (before: it waited for ever; cancelled, so that the test ends)
            behind.cancel()
        assert done
        assert behind.result() == 2
        assert await ledger.submit(lambda conn: 3) == 3  # the writer goes on
    [logged] = [r for r in caplog.records if r.name == "magsag_mcp.ledger"]
    assert "HookBug" in logged.getMessage() and "HookBug" in (logged.exc_text or "")
    assert "a hook's bug" in (logged.exc_text or "")
    assert KEY not in logged.getMessage() + (logged.exc_text or "")


async def test_a_hand_back_raising_in_a_cancelled_caller_leaves_the_cancellation(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    # Cancelled after the writer set its result but before it resumed, the caller makes the hand-back itself: its
    # failure took the cancellation's place (the task ended with the hook's error, not cancelled)
    caplog.set_level(logging.ERROR, logger="magsag_mcp.ledger")
    async with Ledger(tmp_path / "l.db") as ledger:

        async def first() -> None:
            await ledger.submit(lambda conn: 1, durable=False)
            victim.cancel()  # the victim's future is done; its task has not resumed yet

        sibling = asyncio.create_task(first())
        victim = asyncio.create_task(ledger.submit(lambda conn: 2, orphaned=_hook(HookBug("a hook's bug"))))
        results = await asyncio.gather(sibling, victim, return_exceptions=True)
    assert isinstance(results[1], asyncio.CancelledError)
    assert [r.name for r in caplog.records] == ["magsag_mcp.ledger"]


def test_an_exit_raised_by_a_hand_back_goes_on_once_its_batch_is_answered(tmp_path: Path):
    # A Ctrl-C (or sys.exit) raised in a hand-back still ends the loop; the writes behind it in the batch have their
    # outcomes first, so that a caller cancelled as the loop ends hands its own back (its reservation dropped, not
    # held until it expired)
    handed_back: list[int] = []
    writers: list[asyncio.Task[None] | None] = []

    async def main() -> None:
        async with Ledger(tmp_path / "l.db") as ledger:
            writers.append(ledger._task)
            running, go_on = threading.Event(), threading.Event()

            def held(conn: sqlite3.Connection) -> int:
                running.set()
                go_on.wait()
                return 1

            gone = asyncio.create_task(ledger.submit(held, orphaned=_hook(KeyboardInterrupt())))
            behind = asyncio.create_task(ledger.submit(lambda conn: 2, orphaned=handed_back.append))
            while not running.is_set():
                await asyncio.sleep(0.001)
            gone.cancel()
            go_on.set()
            await behind

    with pytest.raises(KeyboardInterrupt):
        asyncio.run(main())
    # the loop ended before the write behind was awaited: its caller, cancelled, handed its result back
    assert handed_back == [2]
    [writer] = writers
    assert writer is not None and isinstance(writer.exception(), KeyboardInterrupt)  # what the exit ended: the writer


async def test_a_write_refused_after_an_exit_left_its_caller_is_handed_back(tmp_path: Path):
    # A KeyboardInterrupt in the caller's task once its write is queued (a SIGINT landing there): the write runs
    # anyway, and the caller is gone as a cancelled one is. Its failure went to the future nobody awaited ("Future
    # exception was never retrieved"), and a refused record was lost with nobody told; it is now handed to ``refused``.
    refusals: list[BaseException] = []
    async with Ledger(tmp_path / "l.db") as ledger:
        exit_once_queued(ledger)
        with pytest.raises(KeyboardInterrupt):
            await ledger.submit(_fails, refused=refusals.append)
        await ledger.settled()
    assert len(refusals) == 1 and isinstance(refusals[0], sqlite3.IntegrityError)
