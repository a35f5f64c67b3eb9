"""What a try of a target that failed (a :class:`~.errors.ProviderError`: the vendor's refusal, a dropped connection,
a timeout) leads to: recorded and priced, its reservation settled, the wait its server named and the circuit breaker
told (see :mod:`.cascade_waits`), then tried again after its wait (the server's ``Retry-After``, else the backoff,
within the retry cap and the call's deadline) or given up. The same for every request a call sends a target: its first
try and the retries of it (:meth:`~.cascade.Cascade.run`), and a continuation of a turn the target paused
(:mod:`.cascade_paused`), which has no other target to fall back on and so is never left for the next one, nor
counted by the circuit breaker (its call was answered by the target).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .attempt_cost import price_failure
from .caller_progress import emit
from .cascade_report import CascadeState, attempt_record, labels, unhooked
from .cascade_waits import breaker_opened, long_wait_over_the_cap, retries_spent_fix, retry_wait
from .errors import ContextTooLongError, ProviderError, redacting_logger
from .transport import Sends
from .types import LLMRequest, Target

if TYPE_CHECKING:
    from .cascade_guard import Guard
    from .cascade_waits import TargetRests
    from .retry import RetryPolicy

log = redacting_logger("magsag_mcp.cascade")


@dataclass(slots=True)
class FailedTry:
    """A try that failed, as its record needs it: the target at ``position``, its attempt number (``try_number``),
    when it started (the wall's time and the clock's), what its transport marked as sent, its admission and request,
    and ``tries``, the tries of this request so far (the retry policy's count: a continuation's first request is its
    first try, whatever attempt number the target's turn has reached; the attempt number where None). ``continuing``:
    it continued a turn the target paused (see :meth:`FailedTries._failed_try` for what the breaker makes of it)."""

    position: int
    target: Target
    try_number: int
    started_wall: float
    started: float
    sends: Sends
    admission: Any
    request: LLMRequest
    tries: int | None = None
    continuing: bool = False


class FailedTries:
    """The cascade's handling of a failed try (mixed into :class:`~magsag_mcp.cascade.Cascade`)."""

    # (the cascade's)
    pricer: Any
    guard: Guard | None
    retry: RetryPolicy
    rests: TargetRests
    clock: Callable[[], float]
    sleep: Callable[[float], Awaitable[None]]

    async def _failed_try(
        self,
        exc: ProviderError,
        state: CascadeState,
        tried: FailedTry,
        waited: str | None,
        deadline: float,
        progress: Any,
        *,
        once: bool = False,
        another_left: Callable[[], bool] | None = None,
    ) -> tuple[ProviderError, bool]:
        """``exc`` (``tried``'s failure; ``waited``, what its slot of a request cap said of its wait) recorded in
        ``state.attempts``, priced, settled, its wait and the breaker noted; then slept for the wait before the next
        try when it is retried (True beside the error it was taken for), or given up (False). ``once``: a target the
        breaker left alone, sent once; ``another_left``: asks whether another target would be tried after this one
        (None: none would, nor is the target left for it)."""
        target, admission, try_number = tried.target, tried.admission, tried.try_number
        latency = (self.clock() - tried.started) * 1000.0
        # (a 429's long wait within a cap raised to cover it: a rate limit, before anything reads its class; made from
        # it, carrying its traceback without the caller's frame)
        exc = self.retry.honour_long_wait(unhooked(exc))
        state.last_error = exc
        if isinstance(exc, ContextTooLongError):
            state.too_long = [*state.too_long, target]
        record = attempt_record(
            state, tried.position, try_number, target, "error", tried.started_wall, latency, exc, at=tried.started
        )
        record.sent = tried.sends.body  # (what its span says it asked: see otel_requests.py)
        price_failure(self.pricer, record, exc, target, admission, tried.request)
        state.attempts.append(record)
        if waited is not None:
            record.warnings.append(waited)
        # Once, here, where each failed try is seen: an agent's own logs show the retries and fallbacks its calls went
        # through (INFO: a retried 500 is a normal call's). The message is redacted; nothing is formatted when INFO is
        # off.
        log.info("run %s: %s try %d failed (%s): %s", state.run_id, target.label, try_number, exc.kind, exc.message)
        # a wait it named, or its probe's failure opening the circuit breaker again: the calls after leave it (a call's
        # failures are counted once it gives the target up, below)
        tripped = self.rests.note(target, exc, self.clock(), state.counted_by_breaker(), state)
        if tripped:
            said = labels(state.plan)[tried.position]  # (with its endpoint beside another of the same model)
            record.warnings.append(breaker_opened(self.rests, target, said, tripped))
        if admission is not None and self.guard is not None:  # (an admission is the guard's: one implies the other)
            # Settled at what it cost (a retry or fallback of this call shrinks its reservation to that, in its own
            # reservation's transaction). An unknown cost keeps counting at its worst case: in the call limit for the
            # rest of the call, and in the run and agent limits through the record's cost_bound (which replaces the
            # reservation when the record lands); the attempt is also counted as unpriced (cost_complete false).
            await self.guard.settle(admission, record.cost_usd, record.cost_bound_usd)
        remaining = deadline - self.clock()
        tries = try_number if tried.tries is None else tried.tries
        retried = not once and tripped != "reopened"  # (sent once, or a probe that failed: not retried)
        if exc.retryable and tries < self.retry.tries_per_target and retried:
            wait = retry_wait(self.retry, exc, tries, remaining, record, state, tried.position, another_left, admission)
            if wait is not None:
                if admission is not None and self.guard is not None:  # its hold, shrunk to its cost for the wait
                    self.guard.waiting(admission)
                if progress is not None:
                    await emit(progress, "retry", {"target": target.label, "wait_s": round(wait, 3)})
                await self.sleep(wait)
                return exc, True
        elif exc.retryable and (spent := retries_spent_fix(self.retry, exc, target.label)) is not None:
            state.gave_up = (exc, spent)  # its retries spent: the call's error says so, if its last
        elif exc.quota_by_wait and not exc.retryable:  # a 429's long wait over the cap: raising it waits
            long_wait_over_the_cap(self.retry, exc, record, state, remaining)
        # given up after this failure: one call more that the target failed, if it says it is unwell (and this call was
        # not counted there yet: a failed probe, a target come back to, another params of it). Not a continuation's:
        # the target answered the call's first request (which closed any failing streak of it), and the breaker counts
        # calls a target failed to answer, to keep the calls after from starting there; a continuation starts nowhere,
        # owed to the target whose turn it goes on with (nor is it held back by a rest another call set: see
        # PausedTurns._continue). Its server's named wait is kept all the same (noted above), the server's own word.
        counted = None if tried.continuing else state.counted_by_breaker()
        if counted is not None and (tripped := self.rests.gave_up(target, exc, self.clock(), counted)):
            said = labels(state.plan)[tried.position]
            record.warnings.append(breaker_opened(self.rests, target, said, tripped))
        return exc, False
