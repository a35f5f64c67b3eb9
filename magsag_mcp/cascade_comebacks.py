"""The come-back to a target a call left for the next ones: one not retried at once, its error retried only on the last
target (a timeout, a rate limit, an overload), or one left resting (its server's wait, the circuit breaker's rest), is
tried again once the targets after it were tried, when none of them was sent (a budget or a policy refused them) or,
left by the circuit breaker, whatever was sent meanwhile: where every other target failed, it is the call's last
chance. :class:`DeferredTargets`, a mixin of :class:`~magsag_mcp.cascade.Cascade`, says when (:meth:`_position`) and
waits out what is left of its wait before its retry (:meth:`_come_back`); apart from the flow of one call in
:mod:`.cascade`, which runs it only on that path."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from .caller_progress import emit
from .cascade_report import CascadeState
from .cascade_waits import left_now, retry_wait, sent_all_the_same
from .providers.base import ProgressCallback
from .retry import RetryPolicy
from .types import Target

if TYPE_CHECKING:
    from .cascade_guard import Guard


class DeferredTargets:
    guard: Guard | None
    retry: RetryPolicy
    clock: Callable[[], float]
    sleep: Callable[[float], Awaitable[None]]

    @staticmethod
    def _position(step: int, total: int, state: CascadeState) -> int | None:
        """The position to try at ``step`` (from 0), None when none is left: the positions in order; then, when a
        target was not retried because another was left to try first and none of the rest was sent (a budget
        refused them, ...), that target again: its retry. (Asked step by step, not a generator's: a call returns from
        inside the loop, and a generator left suspended is closed by a GeneratorExit thrown into it, some 2,700
        instructions a call.)"""
        if step < total:
            return step
        # (a target the circuit breaker left alone is come back to whatever was sent meanwhile: where every other
        # target failed, it is the call's last chance, sent once; see breaker.py)
        if (
            step == total
            and state.deferred is not None
            and (not state.sent_after_deferral or getattr(state.deferred[2], "left_by_breaker", False))
        ):
            state.revisited = True
            return state.deferred[0]
        return None

    async def _come_back(
        self, state: CascadeState, deadline: float, target: Target, progress: ProgressCallback | None
    ) -> tuple[int, bool] | None:
        """The target left for the next ones, none of which was sent (``state.deferred``), come back to for its retry:
        its tries so far and whether it is sent once, without retries (left alone by the circuit breaker: no server's
        wait to wait out, see breaker.py), after the wait left of its server's (waited here); None when that wait
        does not fit the retry cap or the deadline (its attempt's warnings say why), and the call ends."""
        position, try_number, _, record, held = state.deferred  # type: ignore[misc]
        remaining = deadline - self.clock()
        exc = left_now(state, remaining)  # (its wait counted from when it was left, not from now)
        once = exc.left_by_breaker
        wait = None if once else retry_wait(self.retry, exc, try_number, remaining, record, state, position)
        if once:
            record.warnings.append(sent_all_the_same(record))
        elif wait is None:
            return None
        elif held is not None:  # its hold shrunk to what it cost for the wait, as for any retry
            self.guard.waiting(held)  # type: ignore[union-attr]
        if wait is not None:
            # (a target left resting, never sent in this call: its first try, after its rest, as dc56e8a says it)
            first = {"resting": True} if try_number == 0 else {}
            await emit(progress, "retry", {"target": target.label, "wait_s": round(wait, 3), **first})
            await self.sleep(wait)
        return try_number, once
