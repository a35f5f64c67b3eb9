"""The bounds of the wait of an ``ainvoke`` its caller cancelled, for the call to stop on the Magsag's loop
(:func:`magsag_mcp.bridge._until_ended`): it goes on past a second cancellation, it ends at its cap with that loop
still held, and the caller's CancelledError comes out of it as asyncio's own timeout and cancellation read it."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from magsag_mcp import Magsag, bridge

CATALOG = Path(__file__).resolve().parent.parent / "catalog"
SLOW = {"model": "fake:slow", "params": {"latency_ms": 600_000}, "stream": True}


class Held:
    """The Magsag's loop held (its thread blocked) until ``thaw`` is set; ``released`` once it goes on."""

    def __init__(self, mg: Magsag) -> None:
        self.thaw, self.released = threading.Event(), threading.Event()
        holding = threading.Event()

        def hold() -> None:
            holding.set()
            self.thaw.wait(60)
            self.released.set()

        mg.bridge.token.native_token.call_soon_threadsafe(hold)
        assert holding.wait(60)


@pytest.fixture
def mg(tmp_path: Path, fake_scripts: None) -> Iterator[Magsag]:
    with Magsag(catalog=CATALOG, db=tmp_path / "l.db", env={"MAGSAG_PROVIDER": "fake"}) as made:
        yield made


def _statuses(db: Path) -> list[str]:
    conn = sqlite3.connect(db)
    try:
        return [status for (status,) in conn.execute("SELECT status FROM runs")]
    finally:
        conn.close()


async def _begun(mg: Magsag, body: Callable[[Callable[[], Awaitable[Any]]], Awaitable[Any]]) -> asyncio.Task[Any]:
    """A task running ``body`` (given the ainvoke to await), once its call has begun on the Magsag's loop."""
    began = asyncio.Event()

    def ainvoke() -> Awaitable[Any]:
        payload = {"data": "x", "model_config": SLOW}
        return mg.skills.ainvoke("skill.analysis", payload, run_id="r-1", progress=lambda e, d: began.set())

    task = asyncio.ensure_future(body(ainvoke))
    await began.wait()
    return task


def test_the_wait_ends_at_its_cap_with_the_magsags_loop_still_held(
    mg: Magsag, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # A Magsag's loop that does not take the cancellation up (held by a long step of another call) does not hold the
    # caller past UNWIND_WAIT_SECONDS: the caller goes on, and the call is recorded once that loop goes on.
    monkeypatch.setattr(bridge, "UNWIND_WAIT_SECONDS", 0.3)

    async def main() -> None:
        task = await _begun(mg, lambda ainvoke: ainvoke())
        held = Held(mg)
        try:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert not held.released.is_set()  # the caller went on while the Magsag's loop was still held
        finally:
            held.thaw.set()

    asyncio.run(main())
    mg.close()
    assert _statuses(tmp_path / "l.db") == ["cancelled"]


@pytest.mark.parametrize("again", [False, True])
def test_a_timeout_around_a_cancelled_ainvoke_says_timeout_unless_cancelled_again_and_waits_either_way(
    mg: Magsag, tmp_path: Path, again: bool
):
    # asyncio.timeout turns the CancelledError into TimeoutError only when no other cancellation was asked for
    # meanwhile (Task.uncancel's count): one that comes during the wait is kept for it (CancelledError goes on), and
    # does not cut the wait short: the caller goes on once the call is recorded.
    timeouts: list[asyncio.Timeout] = []

    async def body(ainvoke: Callable[[], Awaitable[Any]]) -> None:
        async with asyncio.timeout(None) as timeout:
            timeouts.append(timeout)
            await ainvoke()

    async def main() -> type[BaseException]:
        task = await _begun(mg, body)
        held = Held(mg)
        try:
            timeouts[0].reschedule(asyncio.get_running_loop().time())  # the timeout expires: its cancellation
            for _ in range(5):
                await asyncio.sleep(0.02)
            if again:
                task.cancel("the caller's caller gave up too")
                for _ in range(5):
                    await asyncio.sleep(0.02)
            assert not task.done()  # waiting for the call, which the held loop has not stopped yet
        finally:
            held.thaw.set()
        try:
            await task
        except BaseException as exc:  # (which one is the point)
            assert _statuses(tmp_path / "l.db") == ["cancelled"]  # recorded before the caller went on
            return type(exc)
        raise AssertionError("the cancelled ainvoke returned")

    raised = asyncio.run(main())
    assert raised is (asyncio.CancelledError if again else TimeoutError)
