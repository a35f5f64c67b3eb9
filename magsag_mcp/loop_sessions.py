"""A transport's sessions, one per event loop, and their closing: each with its loop as the loop shuts down, and all
of them by :meth:`LoopSessions.aclose`, each on its own loop (the running one, another thread's, a stopped or closed
one). A mixin of :class:`~.transport.Transport`, which makes the sessions (see ``Transport._session``)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import weakref
from collections.abc import AsyncGenerator

import aiohttp

from .errors import redacting_logger
from .resolver import BoundedResolver

log = redacting_logger("magsag_mcp.transport")


class LoopSessions:
    """The sessions of a :class:`~.transport.Transport` by event loop, with what closes each."""

    def __init__(self) -> None:
        self._sessions: dict[asyncio.AbstractEventLoop, aiohttp.ClientSession] = {}
        #: the default sessions' resolvers: the connector closes only a resolver it made itself
        self._resolvers: dict[asyncio.AbstractEventLoop, BoundedResolver] = {}
        #: per loop, what closes its session as the loop shuts down (see _close_with), and the mark it knows itself by
        self._closers: dict[asyncio.AbstractEventLoop, tuple[AsyncGenerator[None, None], object]] = {}

    def _close_with(self, loop: asyncio.AbstractEventLoop) -> None:
        """Close ``loop``'s session as the loop shuts down: asyncio.run and anyio.run close the async generators still
        open before they close the loop. A transport used on one loop after another (a script's ``asyncio.run`` per
        call) kept each ended loop's session, its pooled sockets open, for as long as the transport lived: two more
        descriptors per loop, and a session no close could reach (its loop gone)."""
        mark = object()
        closer = _closed_at_shutdown(weakref.ref(self), loop, mark)
        try:  # run to its yield here, which registers it with the running loop (its first-iteration hook)
            closer.asend(None).send(None)  # type: ignore[attr-defined]
        except StopIteration:
            self._closers[loop] = (closer, mark)  # (the loop holds its async generators weakly)

    async def _close_loops_session(self, loop: asyncio.AbstractEventLoop) -> None:
        session, resolver = self._sessions.pop(loop, None), self._resolvers.pop(loop, None)
        self._closers.pop(loop, None)
        if session is not None and not session.closed:
            await _close(session, resolver)

    async def aclose(self) -> None:
        sessions, self._sessions = self._sessions, {}
        resolvers, self._resolvers = self._resolvers, {}
        closers, self._closers = self._closers, {}
        for loop, session in sessions.items():
            if session.closed:
                continue
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is loop:
                await _close(session, resolvers.get(loop))
                continue
            if loop.is_running() and await _closed_there(loop, session, resolvers.get(loop)):
                continue
            if loop.is_closed():
                # closed with its session open, by hand, without the shutdown_asyncgens that runs its closer: nothing
                # runs there again, and aiohttp's close of a session whose loop has closed needs none (its connector
                # only marks itself closed). Dropped unclosed, it was warned of as an "Unclosed client session".
                await _close(session, resolvers.get(loop))
            elif loop in closers:
                # a loop stopped, not closed (run_until_complete, then nothing): it runs no callback until it is run
                # again, and a close sent there was waited for for ever; its session is left to its closer, which its
                # shutdown (asyncio.run's, or shutdown_asyncgens) runs
                self._sessions[loop], self._closers[loop] = session, closers.pop(loop)
                if loop in resolvers:
                    self._resolvers[loop] = resolvers[loop]
        closer = closers.get(asyncio.get_running_loop())
        if closer is not None:  # (ended here: dropped unended, a task of the loop's would end it, finding nothing)
            await closer[0].aclose()


async def _closed_at_shutdown(
    transport: weakref.ref[LoopSessions], loop: asyncio.AbstractEventLoop, mark: object
) -> AsyncGenerator[None, None]:
    """Waits at its yield until ``loop`` shuts down its async generators, then closes ``loop``'s session of
    ``transport`` (see :meth:`Transport._close_with`); holds the transport weakly, so as not to keep it alive.
    Only while it is still the loop's closer (``mark`` its own): one dropped by an aclose on another loop is ended
    by the collector on ``loop`` later, when the session there may be a newer one, open for a call in flight."""
    try:
        yield
    finally:
        owner = transport()
        current = None if owner is None else owner._closers.get(loop)
        if owner is not None and current is not None and current[1] is mark:
            await owner._close_loops_session(loop)


#: how often a close sent to another loop looks whether that loop still runs (see _closed_there)
_LOOK_AGAIN_EVERY = 0.05


async def _closed_there(
    loop: asyncio.AbstractEventLoop, session: aiohttp.ClientSession, resolver: BoundedResolver | None
) -> bool:
    """Close ``session`` on ``loop``, running on another thread, and wait for it while that loop runs: whether it
    closed. A loop may stop just after it was seen running (its run_until_complete ending): the close sent there then
    waits until it runs again, and was waited for for ever (for good, once that loop closed). Now, if the loop stops
    before the close has ended, the close is given up when it has not begun (or ends there when that loop runs again)
    and the session is left as a stopped loop's is, to its closer. Nothing says a loop stopped: whether it still runs
    is looked at again every ``_LOOK_AGAIN_EVERY`` seconds while the close waits."""
    done: concurrent.futures.Future[bool] = concurrent.futures.Future()

    def start() -> None:  # the close's coroutine made only here: one given up before it began is never made
        if done.set_running_or_notify_cancel():
            task = loop.create_task(_close(session, resolver))
            task.add_done_callback(functools.partial(_copy_outcome, done))

    try:
        loop.call_soon_threadsafe(start)
    except RuntimeError:  # it closed since it was seen running: its session is closed as a closed loop's is
        return False
    waited = asyncio.wrap_future(done)
    while True:
        finished, _ = await asyncio.wait({waited}, timeout=_LOOK_AGAIN_EVERY)
        if finished:
            return waited.result()
        if not loop.is_running():
            # given up: not begun, it never will; begun, it ends when that loop runs again, or its closer closes the
            # session (what the close raises then is logged by that loop, not left unretrieved here)
            if not done.cancel():
                waited.add_done_callback(_retrieved)
            return False


def _copy_outcome(done: concurrent.futures.Future[bool], task: asyncio.Task[None]) -> None:
    """``done`` as the close ``task`` on another loop ended: True once closed, False if cancelled (that loop shutting
    down: the session is left to its closer), or what the close raised, for the caller of aclose."""
    if task.cancelled():
        done.set_result(False)
        return
    error = task.exception()
    if error is None:
        done.set_result(True)
    else:
        done.set_exception(error)


def _retrieved(waited: asyncio.Future[bool]) -> None:
    if not waited.cancelled() and waited.exception() is not None:
        log.warning("closing an HTTP session on its own event loop failed: %s", waited.exception())


async def _close(session: aiohttp.ClientSession, resolver: BoundedResolver | None) -> None:
    await session.close()
    if resolver is not None:
        await resolver.close()
