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
from contextvars import ContextVar, Token
from types import TracebackType

#: when (the event loop's clock) the innermost :class:`Deadline` around the running code expires
_EXPIRES: ContextVar[float | None] = ContextVar("magsag_deadline", default=None)


def before_the_deadline(seconds: float) -> float:
    """``seconds``, or half the time left before the :class:`Deadline` around the running code when that is less:
    how long to wait for what is waited for only for good measure (the end of an answer already whole), so that
    the wait ends before that deadline, and does not end the call with it."""
    when = _EXPIRES.get()
    return seconds if when is None else min(seconds, (when - asyncio.get_running_loop().time()) / 2)


class Deadline:
    """``async with Deadline(delay):`` as ``async with asyncio.timeout(delay):``, for a delay that is not
    changed once entered."""

    __slots__ = ("_delay", "_task", "_cancelling", "_handle", "_expired", "_token")

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
        when = loop.time() + max(self._delay, 0.0)
        if self._delay <= 0:
            self._handle: asyncio.Handle = loop.call_soon(self._expire)
        else:
            self._handle = loop.call_at(when, self._expire)
        outer = _EXPIRES.get()
        self._token: Token[float | None] = _EXPIRES.set(when if outer is None or when < outer else outer)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._handle.cancel()
        _EXPIRES.reset(self._token)
        if self._expired and self._task.uncancel() <= self._cancelling and exc_type is asyncio.CancelledError:
            raise TimeoutError from exc

    def _expire(self) -> None:
        self._task.cancel()
        self._expired = True
