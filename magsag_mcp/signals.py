"""SIGTERM stops a command the way Ctrl-C does, so a call in flight still records what it spent.

Hosts stop processes with SIGTERM: an MCP client after closing the server's stdin, Docker, systemd.
Python's default for it is to die on the spot, so a call already sent (and perhaps billed) would
leave no record and hold its budget reservation until it expired. Turned into SIGINT, it takes the
path Ctrl-C takes: ``asyncio``'s runner cancels the main task, synchronous code gets
``KeyboardInterrupt``, and each cancelled call records its attempts on the way out.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from types import FrameType
from typing import TypeVar

T = TypeVar("T")

#: the signal that stopped the process, if one did (for its exit status: 128 + the number)
received: int | None = None


def sigterm_as_interrupt() -> None:
    """Handle SIGTERM as SIGINT from now on (only the main thread may set handlers), unless SIGINT is ignored."""
    if threading.current_thread() is not threading.main_thread():
        return
    # Started with SIGINT ignored (a script's background job, shielded from the terminal's Ctrl-C), a
    # SIGTERM turned into SIGINT would be dropped: the process would run on to its deadline. It keeps
    # SIGTERM's default then, stopping at once, except where a command watches for it itself while it
    # calls (stopped_by_sigterm: `magsag invoke`), recording the call in flight.
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        signal.signal(signal.SIGTERM, _interrupt)


async def stopped_by_sigterm(fn: Callable[[], Awaitable[T]]) -> T:
    """``await fn()``; in a process started with SIGINT ignored (see :func:`sigterm_as_interrupt`), a
    SIGTERM meanwhile cancels it as Ctrl-C would, so the call in flight is recorded (``cancelled``) and
    its reservation released, and raises KeyboardInterrupt after (exit status 143). Elsewhere SIGTERM
    is already Ctrl-C, and this is only ``await fn()``."""
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.SIG_IGN
    ):
        return await fn()
    import anyio

    outcome: list[T] = []
    failed: Exception | None = None
    async with anyio.create_task_group() as tg:

        async def watch() -> None:
            global received
            with ExitStack() as stack:
                try:
                    signals = stack.enter_context(anyio.open_signal_receiver(signal.SIGTERM))
                except NotImplementedError:
                    return  # an event loop without signal handlers (Windows): SIGTERM keeps its default
                async for signum in signals:
                    received = signum
                    tg.cancel_scope.cancel()
                    return

        tg.start_soon(watch)
        try:
            outcome.append(await fn())
        except Exception as exc:  # raised as it is, not inside the task group's ExceptionGroup
            failed = exc
        tg.cancel_scope.cancel()
    if failed is not None:
        raise failed
    if not outcome:
        raise KeyboardInterrupt
    return outcome[0]


def exit_status() -> int:
    """The exit status of a process stopped by a signal: 143 for SIGTERM, 130 for Ctrl-C."""
    return 128 + (received or signal.SIGINT)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    global received
    received = signum
    signal.raise_signal(signal.SIGINT)
