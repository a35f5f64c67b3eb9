"""Routing's ``request_caps`` kept by the cascade: no more requests in flight to a capped target than its
``max_concurrent``, and no more sent in any minute than its ``requests_per_minute`` (see :mod:`.request_caps`).

Each try takes a slot of its target's pool before its admission (policy, then the budget's reservation) and gives it
back once its answer, or its error, has come; a request sent stays counted in the minute it was sent, one not sent
(its admission refused, the call cancelled before sending) is taken out again. At its cap, a call:

- passes to the next target when one is left that it would try (a fallback now serves the user better than a wait
  for the same model), recording the skip at no cost with its reason;
- else waits for a slot, in turn with the other calls waiting for one, for as long as the retry cap
  (``MAGSAG_RETRY_MAX_DELAY``) and what is left of its deadline allow; a slot not free by then is recorded as the
  skip, and the call fails with it as its error, a rate limit of ours, with the fix. A call cancelled while it waits
  leaves the queue having taken nothing, and gives back nothing.

The counts are this process's (one :class:`~.service.Service`'s): several processes sharing one key each keep their
own, so each is given its share of the limit. A count shared through the ledger (SQLite) would put a write, and a
lock other processes wait on, before every capped request, and a process that died mid-request would hold its slots
until something noticed: dividing the limit is exact, and costs nothing.

Nothing here runs for a target no entry caps: the cascade asks :attr:`Cascade.caps`, None without any entry.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from .caller_progress import emit
from .cascade_report import CascadeState, record_skip
from .durations import seconds, setting
from .errors import RateLimitError
from .plurals import counted
from .request_caps import RequestCap, cap_for
from .retry import RetryPolicy
from .types import Target

__all__ = ["CapPool", "CappedTargets", "RequestCaps", "Slot", "request_caps"]

#: the window ``requests_per_minute`` counts in, in seconds
MINUTE = 60.0
#: the targets whose pool :meth:`RequestCaps.of` keeps found
_TARGETS_KEPT = 1024


class Slot:
    """One try's share of its pool: given back once (:meth:`release`)."""

    __slots__ = ("pool", "stamp", "waited", "released")

    def __init__(self, pool: CapPool, stamp: float | None) -> None:
        self.pool = pool
        #: when it was taken, counted in the minute (None: the pool counts no requests per minute)
        self.stamp = stamp
        #: how long the call waited for it, in seconds
        self.waited = 0.0
        self.released = False

    def release(self, *, sent: bool = True) -> str | None:
        """Give the slot back (again: nothing). ``sent`` False: the request did not go, and leaves the minute's count.
        Returns what the call's warnings say of the wait, where it waited for the slot."""
        if self.released:
            return None
        self.released = True
        self.pool._give_back(self, sent)
        if self.waited <= 0.0:
            return None
        return (
            f"{self.pool.cap.key}: waited {seconds(self.waited)} for a slot under its request cap "
            f"({self.pool.cap.said()}, in this process)"
        )


class CapPool:
    """The use of one ``request_caps`` entry in this process: the requests in flight and those sent in the last
    minute, and the calls waiting their turn for a slot (an :class:`asyncio.Lock` queues them in order)."""

    def __init__(self, cap: RequestCap) -> None:
        self.cap = cap
        self.in_flight = 0
        #: the clock's time each request of the last minute was taken at, oldest first
        self.sent: deque[float] = deque()
        #: held by the call whose turn it is to wait for a slot: the ones after it queue on it (an arrival does not
        #: take a slot from under a call waiting longer)
        self._turn = asyncio.Lock()
        #: set when a slot is given back, for the call waiting its turn
        self._freed = asyncio.Event()
        #: the calls waiting for a slot (the lock's holder among them): while there is one, an arrival takes none, even
        #: in the moment between a slot given back and the waiting call it wakes running (the lock shows free then)
        self.waiting = 0

    def wait_needed(self, now: float) -> float:
        """0 when a slot is free at ``now``; else how long until one is at the least (``inf``: until a request in
        flight ends)."""
        cap = self.cap
        if cap.max_concurrent is not None and self.in_flight >= cap.max_concurrent:
            return math.inf
        rpm = cap.requests_per_minute
        if rpm is not None:
            sent = self.sent
            while sent and sent[0] <= now - MINUTE:
                sent.popleft()
            if len(sent) >= rpm:
                return sent[0] + MINUTE - now
        return 0.0

    def free(self, now: float) -> bool:
        """Whether a call arriving at ``now`` takes a slot at once: one is free, and no call waits for one."""
        return self.waiting == 0 and self.wait_needed(now) == 0.0

    def take(self, now: float) -> Slot:
        self.in_flight += 1
        stamp = None
        if self.cap.requests_per_minute is not None:
            stamp = now
            self.sent.append(now)
        return Slot(self, stamp)

    async def acquire(
        self, bound: float, clock: Callable[[], float], sleep: Callable[[float], Awaitable[None]]
    ) -> Slot | None:
        """A slot, in turn after the calls already waiting, within ``bound`` seconds; None when none is free by then.
        Cancelled while it waits, it has taken nothing (the lock's queue and the event hold no slot)."""
        if bound <= 0.0:
            return None
        started = clock()
        self.waiting += 1
        try:
            async with asyncio.timeout(bound), self._turn:
                while (wait := self.wait_needed(clock())) > 0.0:
                    if wait == math.inf:
                        self._freed.clear()
                        await self._freed.wait()
                    elif clock() - started + wait > bound:
                        return None  # the minute's oldest request leaves it too late
                    else:
                        await sleep(wait)
                return self.take(clock())
        except TimeoutError:
            return None
        finally:
            self.waiting -= 1

    def _give_back(self, slot: Slot, sent: bool) -> None:
        self.in_flight -= 1
        if not sent and slot.stamp is not None:
            try:
                self.sent.remove(slot.stamp)
            except ValueError:  # (already out of the minute)
                pass
        self._freed.set()

    def busy(self, now: float) -> str:
        """Why no slot is free at ``now``: ``2 requests in flight of max_concurrent 2``, ``50 sent in the last minute of
        requests_per_minute 50, the next free in 12.5s``."""
        cap = self.cap
        wait = self.wait_needed(now)
        if wait == math.inf:
            said = f"{counted(self.in_flight, 'request')} in flight of max_concurrent {cap.max_concurrent}"
        elif wait > 0.0:
            said = (
                f"{len(self.sent)} sent in the last minute of requests_per_minute {cap.requests_per_minute}, the next "
                f"free in {seconds(wait)}"
            )
        else:  # free, but calls that came before are waiting for it
            said = "other calls waiting for its slots"
        return f"at its request cap ({said}; request_caps {cap.key!r}, in this process)"

    def use(self, now: float) -> dict[str, Any]:
        """The cap and its use now, for explain."""
        cap = self.cap
        out: dict[str, Any] = {"key": cap.key}
        if cap.max_concurrent is not None:
            out["max_concurrent"] = cap.max_concurrent
            out["in_flight"] = self.in_flight
        if cap.requests_per_minute is not None:
            self.wait_needed(now)  # (the minute's count pruned to now)
            out["requests_per_minute"] = cap.requests_per_minute
            out["sent_last_minute"] = len(self.sent)
        wait = self.wait_needed(now)
        out["free_now"] = self.free(now)
        if wait != math.inf and wait > 0.0:
            out["next_free_s"] = round(wait, 3)
        return out


class RequestCaps:
    """The pools of a process's ``request_caps``: each target mapped to its entry's pool once (by provider and model,
    as a key names them)."""

    def __init__(self, caps: tuple[RequestCap, ...]) -> None:
        self.caps = caps
        self.pools: dict[str, CapPool] = {cap.key: CapPool(cap) for cap in caps}
        #: each target's pool (None: uncapped) as found; emptied when full, as calls may name models without end
        self._of: dict[tuple[str, str], CapPool | None] = {}

    def of(self, target: Target) -> CapPool | None:
        key = (target.provider, target.model)
        try:
            return self._of[key]
        except KeyError:
            if len(self._of) >= _TARGETS_KEPT:
                self._of.clear()
            cap = cap_for(self.caps, *key)
            pool = self._of[key] = None if cap is None else self.pools[cap.key]
            return pool


def request_caps(caps: tuple[RequestCap, ...]) -> RequestCaps | None:
    """The pools of ``caps``; None when there is none, so that an uncapped cascade asks one attribute."""
    return RequestCaps(caps) if caps else None


class CappedTargets:
    """The :class:`~.cascade.Cascade`'s slot for a try of a capped target (a mixin, as :class:`~.cascade_skips.
    TargetSkips` is)."""

    retry: RetryPolicy
    clock: Callable[[], float]
    sleep: Callable[[float], Awaitable[None]]
    _another_target_left: Callable[..., bool]

    async def _slot(
        self,
        pool: CapPool,
        state: CascadeState,
        position: int,
        target: Target,
        try_number: int,
        deadline: float,
        progress: Any,
        *,
        move_on: bool = True,
    ) -> Slot | None:
        """The try's slot: at once when one is free; else None, its skip recorded, when another target is left to
        try (and ``move_on``: a continuation of a paused turn goes on at its target alone); else after a wait within
        the retry cap and the deadline, or None, its skip recorded, when none came."""
        now = self.clock()
        if pool.free(now):
            return pool.take(now)
        busy = pool.busy(now)
        if move_on and self._another_target_left(state.plan, position, state, state.agent):
            reason = f"not sent: {busy}; the next target was tried rather than wait for a slot"
            _skip(state, position, target, reason, try_number)
            return None
        left = deadline - now
        bound = min(left, self.retry.max_delay)
        if progress is not None and bound > 0.0:
            await emit(progress, "capped", {"target": target.label, "cap": busy, "wait_s": round(max(bound, 0.0), 3)})
        slot = await pool.acquire(bound, self.clock, self.sleep)
        if slot is None:
            within = (
                f"the retry cap of {setting(self.retry.max_delay)} (MAGSAG_RETRY_MAX_DELAY)"
                if self.retry.max_delay <= left
                else f"the {seconds(max(left, 0.0))} left of the call's deadline (MAGSAG_CALL_DEADLINE)"
            )
            wait = pool.wait_needed(self.clock())
            # a minute's count says when a slot frees; requests in flight, none: the calls sent at once are the fix
            fewer = "send fewer calls at once" if wait == math.inf else f"call again in {seconds(wait)}"
            reason = (
                f"not sent: {busy}, and no slot came free within {within}; {fewer}, raise the cap where the account "
                f"allows more ({pool.cap.where}), or add a fallback target"
            )
            _skip(state, position, target, reason, try_number, wait)
            return None
        slot.waited = self.clock() - now
        return slot


def _skip(
    state: CascadeState,
    position: int,
    target: Target,
    reason: str,
    try_number: int,
    wait: float = math.inf,
) -> None:
    """A try not sent for its target's cap: recorded at no cost, and the call's error if it is its last, a
    :class:`RateLimitError` (the guide's ``except RateLimitError`` retries it) whose ``retry_after`` is ``wait``, when
    the minute's count says when a slot is free (a request in flight says no time)."""
    after = wait if 0.0 < wait < math.inf else None
    capped = RateLimitError(
        f"{target.label}: {reason}", provider=target.provider, model=target.model, retry_after=after
    )
    capped.reached = False  # type: ignore[misc]  # (this one error's, over its class's: nothing was sent)
    record_skip(state, position, target, reason, None, None, capped, try_number=try_number)
