"""The deadline an attempt runs under: :func:`asyncio.timeout`, without what it costs on Python 3.11.

The cascade bounds every attempt in flight by the call's deadline (a server that trickles a stream must not
hold the call for ever). ``asyncio.timeout`` keeps its state in an Enum, and on Python 3.11 every read of
an Enum member goes through ``EnumType.__getattr__``, about 1,500 instructions each: nine reads an attempt,
some 12,000 instructions of the 35,000 it costs. :class:`Deadline` does what the cascade needs of it, the
same way: the task is cancelled at the deadline and that cancellation leaves as :class:`TimeoutError`;
a cancellation from anywhere else (the caller giving up) leaves as it came.

The deadlines running on one event loop share one timer (:class:`_Deadlines`), armed at the earliest of them. Each
``asyncio.timeout`` arms a timer of its own and cancels it on leaving: a handle made, pushed on the loop's heap
(compared through a Python ``__lt__``), cancelled, and later swept off it, some 150 bytecodes an attempt, where
almost every deadline is left long before it passes (the call's is minutes away). Calls one after another, each
deadline later than the last, arm none after the first.
"""

from __future__ import annotations

import asyncio
import math
import weakref
from contextvars import Context, ContextVar, Token
from types import TracebackType
from typing import Any

#: the :class:`Deadline` in force around the running code, None outside any: when (the event loop's clock) it
#: expires (the earliest of those entered), and the attempt it bounds (what the innermost one given an ``attempt``
#: carries: see :func:`attempt_in_force`). One variable for both: the cascade bounds each attempt by a Deadline, and
#: gave the transport the attempt's mark in a variable of its own, set and reset around the same attempt (a set and a
#: reset of the task's context variables, some 1,800 instructions an attempt)
_IN_FORCE: ContextVar[tuple[float, Any] | None] = ContextVar("magsag_deadline", default=None)


def before_the_deadline(seconds: float) -> float:
    """``seconds``, or half the time left before the :class:`Deadline` around the running code when that is less:
    how long to wait for what is waited for only for good measure (the end of an answer already whole), so that
    the wait ends before that deadline, and does not end the call with it."""
    in_force = _IN_FORCE.get()
    return seconds if in_force is None else min(seconds, (in_force[0] - asyncio.get_running_loop().time()) / 2)


def attempt_in_force() -> Any:
    """What the innermost :class:`Deadline` around the running code that was given an ``attempt`` carries (the
    cascade's mark of the attempt under way, which the transport sets as it sends: see ``transport.Sends``); None
    outside one (a probe, a caller of the transport's own)."""
    in_force = _IN_FORCE.get()
    return None if in_force is None else in_force[1]


class _Deadlines:
    """The :class:`Deadline` objects entered on one event loop and not yet left, behind one timer armed at the earliest
    of them (or before it: one left early leaves the timer where it was, and its firing then expires nothing and arms
    it again at the earliest left). Held by that timer alone, and so by its loop: :data:`_BY_LOOP` finds it weakly, and
    a loop dropped with tasks still inside a deadline takes them with it (a strong registry kept every such loop)."""

    __slots__ = ("live", "handle", "at", "__weakref__")

    def __init__(self) -> None:
        #: each deadline entered and not left, with when (the loop's clock) it expires
        self.live: dict[Deadline, float] = {}
        self.handle: asyncio.TimerHandle | None = None
        #: when the timer fires (inf: not armed)
        self.at = math.inf

    def add(self, deadline: Deadline, when: float, loop: asyncio.AbstractEventLoop) -> None:
        self.live[deadline] = when
        if when < self.at:
            self._arm(when, loop)

    def _arm(self, when: float, loop: asyncio.AbstractEventLoop) -> None:
        if self.handle is not None:
            self.handle.cancel()
        # in a context of its own: the timer outlives the call that armed it, whose context (its credentials) it
        # would keep, and expires others' deadlines
        self.handle = loop.call_at(when, self._fire, context=Context())
        self.at = when

    def _fire(self) -> None:
        loop = asyncio.get_running_loop()
        # the loop runs a timer once its time is within the clock's resolution of it: what was due by then is due
        # (else one a hair away was armed again, and again, until the clock passed it)
        due_by = max(self.at, loop.time())
        self.handle, self.at = None, math.inf
        due = [d for d, when in self.live.items() if when <= due_by]
        for d in due:
            del self.live[d]
            d._expire()
        if self.live:
            self._arm(min(self.live.values()), loop)
        else:  # nothing left to time: forgotten (the next deadline on this loop makes another)
            _BY_LOOP.pop(loop, None)


#: each event loop's deadlines, while its timer is armed (weakly both ways: see _Deadlines)
_BY_LOOP: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, weakref.ref[_Deadlines]] = weakref.WeakKeyDictionary()


class Deadline:
    """``async with Deadline(delay):`` as ``async with asyncio.timeout(delay):``, for a delay that is not
    changed once entered. ``attempt``: what :func:`attempt_in_force` gives the code inside it (and inside the
    deadlines entered within it that are given none)."""

    __slots__ = ("_delay", "_attempt", "_task", "_cancelling", "_handle", "_on", "_expired", "_token")

    def __init__(self, delay: float, attempt: Any = None) -> None:
        self._delay = delay
        self._attempt = attempt
        self._expired = False

    @property
    def expired(self) -> bool:
        """Whether this deadline passed while entered: a TimeoutError that left it is its own only then (code inside
        may raise one of another timer's)."""
        return self._expired

    async def __aenter__(self) -> None:
        self.enter()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.leave(exc)

    def enter(self) -> None:
        """What ``async with`` does as it enters, without its coroutine. For the cascade's attempt: there ``async with``
        made two coroutines an attempt and held the bound ``__aexit__`` for the whole request, which at 200 callers the
        cyclic collector walked and promoted (benchmarks/ROUNDS.md, the fiftieth round). Each :meth:`enter` needs its
        :meth:`leave`, whichever way the block ends."""
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("a Deadline is used inside a task")
        loop = asyncio.get_running_loop()
        self._task = task
        #: cancellations asked before this one: only a cancellation of its own becomes a TimeoutError
        self._cancelling = task.cancelling()
        self._expired = False
        delay = self._delay
        when = loop.time() + (0.0 if delay < 0.0 else delay)  # max(delay, 0.0), without a builtin's call
        self._handle: asyncio.Handle | None = None
        self._on: _Deadlines | None = None
        if self._delay <= 0:
            self._handle = loop.call_soon(self._expire)
        else:
            try:
                ref = _BY_LOOP.get(loop)
            except TypeError:  # a loop that cannot be referenced weakly: a timer of its own, as asyncio.timeout's
                self._handle = loop.call_at(when, self._expire)
            else:
                on = None if ref is None else ref()
                if on is None:
                    on = _Deadlines()
                    _BY_LOOP[loop] = weakref.ref(on)
                on.add(self, when, loop)
                self._on = on
        outer = _IN_FORCE.get()
        if outer is None:
            in_force = (when, self._attempt)
        else:  # the earlier of the two expires first; the attempt is the innermost one given
            in_force = (when if when < outer[0] else outer[0], outer[1] if self._attempt is None else self._attempt)
        self._token: Token[tuple[float, Any] | None] = _IN_FORCE.set(in_force)

    def leave(self, exc: BaseException | None) -> None:
        """What ``async with`` does as it leaves, ``exc`` what ended the block (None: it ran to its end): a cancellation
        of this deadline's own is raised as a TimeoutError from it."""
        if self._on is not None:
            self._on.live.pop(self, None)  # (gone already if it expired)
        else:
            self._handle.cancel()  # type: ignore[union-attr]
        _IN_FORCE.reset(self._token)
        if self._expired and self._task.uncancel() <= self._cancelling and type(exc) is asyncio.CancelledError:
            raise TimeoutError from exc

    def _expire(self) -> None:
        self._task.cancel()
        self._expired = True
