"""An attempt stopped by what is not the vendor's answer: its caller cancelling, its progress callback raising, the
interpreter exiting, a caller's error found only once the vendor had answered (and billed), or the call's deadline
(:func:`cut_by_the_deadline`, the error that says it). :class:`StoppedAttempts`,
a mixin of :class:`~magsag_mcp.cascade.Cascade`, records each (a request that may have left, at an unknown cost; one
that never left, as not sent) and settles or releases its reservation; the cascade raises what stopped it. Apart
from the flow of one call in :mod:`.cascade`: it runs only on these paths, never for an answer or a provider's error."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anyio

from .attempt_cost import Pricing, price_failure, price_stopped
from .caller_progress import CallbackFailed
from .cascade_guard import release_unrecorded
from .cascade_report import CascadeState, attempt_record, record_skip
from .durations import setting
from .errors import MagsagError, ProviderTimeoutError
from .providers.at_rest import stopped_at_rest, stopped_prompt
from .rates import ZERO
from .transport import Sends
from .types import LLMRequest, Target

if TYPE_CHECKING:
    from .cascade_guard import Guard
    from .providers.base import Provider


def cut_by_the_deadline(target: Target, left: bool, deadline: float) -> ProviderTimeoutError:
    """The error of ``target``'s attempt that the call's deadline (``deadline`` seconds, MAGSAG_CALL_DEADLINE) cut:
    ``left``, its request had left (no complete answer, maybe billed), or not (it waited for a connection, every one
    in use by other calls: nothing left, nothing billed; it was counted at its worst case, as a request cut in flight
    is). Marked as the call's deadline, the caller's time, which says nothing of the server's health (see
    :func:`~.breaker.unwell`)."""
    timeout = ProviderTimeoutError(
        f"{target.label}: {'no complete answer' if left else 'not sent'} within the call's "
        f"deadline of {setting(deadline)} (MAGSAG_CALL_DEADLINE)"
        + ("" if left else " (its request waited for a connection, all in use by other calls)"),
        provider=target.provider,
        model=target.model,
        maybe_billed=left,
    )
    timeout.reached = left  # type: ignore[misc]  # (this one error's, over its class's)
    timeout.call_deadline = True
    return timeout


class StoppedAttempts:
    pricer: Pricing
    guard: Guard | None
    clock: Callable[[], float]

    async def _stopped(
        self,
        exc: BaseException,
        state: CascadeState,
        position: int,
        target: Target,
        try_number: int,
        admission: Any,
        request: LLMRequest,
        provider: Provider,
        sends: Sends,
        started_wall: float,
        started: float,
    ) -> None:
        """What an attempt that ``exc`` stopped leaves: its record and its reservation's settlement. ``exc`` is raised
        by the caller, as it was (a callback's error as the callback raised it)."""
        cancelled = isinstance(exc, anyio.get_cancelled_exc_class())
        callback_failed = isinstance(exc, CallbackFailed)
        left = sends.left or not provider.sends_through_transport
        if cancelled and not left:
            # Nothing of the request left (it waited for a connection: the pool full of other calls'
            # requests, one being opened): not billed, so recorded as not sent, at no cost, its reservation
            # going with the call's record, as one cancelled before sending is (see Cascade.run)
            why = "not sent: cancelled by the caller before its request left (it waited for a connection)"
            record_skip(state, position, target, why, None, None, try_number=try_number)
            state.attempts[-1].error_class = "cancelled"  # (skipped for what stopped it: its caller)
            if admission is not None:
                state.attempts[-1].reservation_id = getattr(admission, "reservation_id", None)
                with anyio.CancelScope(shield=True):
                    await self.guard.settle(admission, ZERO)  # type: ignore[union-attr]
            return  # (the caller raises it)
        # an interpreter exit under way (Ctrl-C raised on the loop's thread, sys.exit in a callback) once
        # the request may have left: given back as unsent, it vanished from the ledger, billed or not
        interrupted = left and isinstance(exc, (KeyboardInterrupt, SystemExit))
        if cancelled or callback_failed or interrupted:
            # The caller gave up mid-attempt (or its callback failed while the answer came in, or the
            # interpreter is exiting). The vendor may still bill the request, so the attempt is recorded
            # (tokens unknown) rather than vanishing with the task.
            why = (
                "the caller's progress callback raised"
                if callback_failed
                else f"interrupted ({type(exc).__name__})"
                if interrupted
                else "cancelled by the caller"
            )
            at_rest = stopped_at_rest(exc)  # (nothing in flight: the attempt's cost is known)
            why += f" {at_rest[1]}" if at_rest else " while the request was in flight"
            record = attempt_record(
                state,
                position,
                try_number,
                target,
                "error",
                started_wall,
                (self.clock() - started) * 1000.0,
                None,
                why,
                at=started,
            )
            record.error_class = "cancelled"
            record.sent = sends.body
            price_stopped(self.pricer, record, target, admission, request, why, at_rest, stopped_prompt(exc))
            if record.cost_usd is None:  # not a model priced at 0
                record.error_message = f"{why}; the provider may still bill it"
            # The reservation stays held until the record that carries the bound replaces
            # it (one transaction): released first, the limits would count this attempt at
            # $0 meanwhile. Should the record never land, the reservation expires.
            record.reservation_id = getattr(admission, "reservation_id", None)
            state.attempts.append(record)
        elif isinstance(exc, MagsagError) and exc.usage is not None:
            # The caller's error, found only once the vendor had answered (and billed): the
            # attempt is recorded at its cost before the error reaches the caller.
            latency = (self.clock() - started) * 1000.0
            record = attempt_record(
                state, position, try_number, target, "error", started_wall, latency, exc, at=started
            )
            record.sent = sends.body
            price_failure(self.pricer, record, exc, target, admission, request)
            state.attempts.append(record)
            if admission is not None:
                with anyio.CancelScope(shield=True):
                    await self.guard.settle(admission, record.cost_usd)  # type: ignore[union-attr]
            return  # (the caller raises it)
        if admission is not None:
            with anyio.CancelScope(shield=True):
                if cancelled or callback_failed or interrupted:
                    await self.guard.settle(admission, record.cost_usd)  # type: ignore[union-attr]
                else:  # not recorded (a caller's error, an exit before sending): nothing replaces it
                    await release_unrecorded(self.guard, admission, target, exc)
