"""The deadline an attempt runs under: :func:`asyncio.timeout`, without what it costs on Python 3.11.

The cascade bounds every attempt in flight by the call's deadline (a server that trickles a stream must not
hold the call for ever). ``asyncio.timeout`` keeps its state in an Enum, and on Python 3.11 every read of
an Enum member goes through ``EnumType.__getattr__``, about 1,500 instructions each: nine reads an attempt,
some 12,000 instructions of the 35,000 it costs. :class:`Deadline` does what the cascade needs of it, the
same way: the task is cancelled at the deadline and that cancellation leaves as :class:`TimeoutError`;
a cancellation from anywhere else (the caller giving up) leaves as it came.
"""

from __future__ import annotations

import asyncio
from types import TracebackType


class Deadline:
    """``async with Deadline(delay):`` as ``async with asyncio.timeout(delay):``, for a delay that is not
    changed once entered."""

    __slots__ = ("_delay", "_task", "_cancelling", "_handle", "_expired")

    def __init__(self, delay: float) -> None:
        self._delay = delay

    async def __aenter__(self) -> None:
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("a Deadline is used inside a task")
        loop = asyncio.get_running_loop()
        self._task = task
        #: cancellations asked before this one: only a cancellation of its own becomes a TimeoutError
        self._cancelling = task.cancelling()
        self._expired = False
        if self._delay <= 0:
            self._handle: asyncio.Handle = loop.call_soon(self._expire)
        else:
            self._handle = loop.call_at(loop.time() + self._delay, self._expire)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._handle.cancel()
        if self._expired and self._task.uncancel() <= self._cancelling and exc_type is asyncio.CancelledError:
            raise TimeoutError from exc

    def _expire(self) -> None:
        self._task.cancel()
        self._expired = True
