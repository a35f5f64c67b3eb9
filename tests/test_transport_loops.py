"""A Transport's sessions, one per event loop, each closed as its loop shuts down (transport._close_with): what a
closer left over from an earlier session must not close."""

from __future__ import annotations

import asyncio
import gc
import threading
import warnings
from pathlib import Path

from magsag_mcp.loopback import LoopbackUpstream
from magsag_mcp.service import Service
from magsag_mcp.transport import Transport

CATALOG = Path(__file__).resolve().parent.parent / "catalog"


def test_a_closer_dropped_by_a_close_on_another_loop_leaves_the_next_session_open():
    # A transport closed from another loop (aclose on loop B of a session used on loop A) drops A's closer unended;
    # the collector hands it to A's loop to end. Before: ending it there closed whatever session A held by then, one
    # opened since for a call in flight, as if A were shutting down.
    transport = Transport()
    first = asyncio.new_event_loop()
    try:

        async def open_and_close() -> None:
            await transport._session().close()  # (closed, so B's aclose need not reach this loop to close it)

        first.run_until_complete(open_and_close())
        asyncio.run(transport.aclose())  # on another loop: drops first's closer, which the collector schedules there
        gc.collect()

        async def use_again() -> bool:
            session = transport._session()  # a call on the first loop after the close: a session of its own
            for _ in range(5):  # let the dropped closer's end, scheduled before this task, run
                await asyncio.sleep(0)
            return session.closed

        assert first.run_until_complete(use_again()) is False
        session = transport._sessions[first]
        assert not session.closed
        first.run_until_complete(first.shutdown_asyncgens())  # and its own closer still closes it as the loop ends
        assert session.closed and transport._sessions == {} and transport._closers == {}
    finally:
        first.close()


def test_a_close_on_another_loop_leaves_a_stopped_loops_session_to_that_loops_shutdown():
    # A loop run to completion and not closed (loop.run_until_complete, then nothing) runs no callback until it is run
    # again. Before: aclose on another loop sent it its session's close and waited for it for ever.
    transport = Transport()
    stopped = asyncio.new_event_loop()
    try:

        async def use() -> None:
            transport._session()

        stopped.run_until_complete(use())
        session = transport._sessions[stopped]

        async def close_within_a_hang_guard() -> None:
            await asyncio.wait_for(transport.aclose(), 60)  # (a hang guard: it never returned)

        asyncio.run(close_within_a_hang_guard())
        assert not session.closed  # left to its loop, which no other can run
        stopped.run_until_complete(stopped.shutdown_asyncgens())  # as asyncio.run ends a loop: its closer closes it
        assert session.closed and transport._sessions == {} and transport._closers == {}
    finally:
        stopped.close()


def test_a_session_whose_loop_closed_unshut_is_closed_by_a_close_on_another_loop():
    # A loop made by hand and closed without loop.shutdown_asyncgens() never ends its closer, and then nothing can
    # run there; the service's aclose, on another loop, is how what is left is closed (its docstring). Before: the
    # transport dropped that loop's session unclosed, and aiohttp warned "Unclosed client session" as it went. aiohttp's
    # close of a session whose loop has closed runs nothing there (its connector only marks itself closed).
    transport = Transport()
    closed_by_hand = asyncio.new_event_loop()

    async def use() -> None:
        transport._session()

    closed_by_hand.run_until_complete(use())
    session = transport._sessions[closed_by_hand]
    closed_by_hand.close()
    asyncio.run(transport.aclose())
    assert session.closed and transport._sessions == {} and transport._closers == {}


def test_a_service_closed_in_a_loop_later_closed_unshut_leaves_no_session_to_warn_of(tmp_path: Path):
    # The user's loop: loop = asyncio.new_event_loop(); loop.run_until_complete(main()); loop.close(), without
    # loop.shutdown_asyncgens(), which would end the session's closer; main closes its service (`async with`). The
    # session is closed by that close, however the loop ends: no "Unclosed client session" when it is collected.
    with LoopbackUpstream().running() as up:
        env = {**up.env(), "MAGSAG_PROVIDER": "openai"}

        async def main() -> object:
            async with Service.open(catalog=CATALOG, db=tmp_path / "l.db", env=env) as service:
                model = {"provider": "openai", "model": "gpt-4o-mini"}
                await service.invoke_skill("skill.analysis", {"data": "x", "model_config": model})
                (session,) = service.transport._sessions.values()  # (a pooled connection in it)
            return session

        loop = asyncio.new_event_loop()
        try:
            session = loop.run_until_complete(main())
        finally:
            loop.close()
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            del main
            gc.collect()
        assert session.closed
        assert not [w for w in said if "Unclosed" in str(w.message)], [str(w.message) for w in said]


class _StopsOnceSeenRunning(asyncio.SelectorEventLoop):
    """A stopped loop that says it runs at the next look once ``armed``: a loop whose run_until_complete ends (on its
    own thread) just after a close on another loop saw it running, forced without a race."""

    armed = False

    def is_running(self) -> bool:
        if self.armed:
            self.armed = False
            return True
        return super().is_running()


def test_a_close_sent_to_a_loop_that_stops_before_running_it_is_left_to_that_loops_shutdown():
    # Before: aclose saw the loop running and sent it the session's close, which a loop stopped by then never runs
    # (until it is run again): aclose waited for it for ever. Now it gives the close up once the loop has stopped,
    # and leaves the session to the loop's closer, as for a loop it saw stopped.
    transport = Transport()
    stops = _StopsOnceSeenRunning()
    try:

        async def use() -> None:
            transport._session()

        stops.run_until_complete(use())
        session = transport._sessions[stops]
        stops.armed = True

        async def close_within_a_hang_guard() -> None:
            await asyncio.wait_for(transport.aclose(), 60)  # (a hang guard: it never returned)

        asyncio.run(close_within_a_hang_guard())
        assert not stops.armed and not session.closed  # seen running, then left to its loop
        stops.run_until_complete(stops.shutdown_asyncgens())  # the close given up does nothing; its closer closes it
        assert session.closed and transport._sessions == {} and transport._closers == {}
    finally:
        stops.close()


def test_a_close_on_another_loop_closes_a_running_loops_session_there_and_waits_for_it():
    transport = Transport()
    elsewhere = asyncio.new_event_loop()
    thread = threading.Thread(target=elsewhere.run_forever)
    thread.start()
    try:

        async def use() -> None:
            transport._session()

        asyncio.run_coroutine_threadsafe(use(), elsewhere).result()
        session = transport._sessions[elsewhere]
        asyncio.run(transport.aclose())
        assert session.closed and transport._sessions == {}
    finally:
        elsewhere.call_soon_threadsafe(elsewhere.stop)
        thread.join()
        elsewhere.run_until_complete(elsewhere.shutdown_asyncgens())
        elsewhere.close()
    assert transport._closers == {}
