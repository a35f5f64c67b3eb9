"""Run a :class:`~magsag_mcp.routing.Plan`: retries with backoff, then the next target.

For each candidate, in order: skip it if its provider is not configured or cannot honour a feature
the call needs (a target policy forbids is refused by the policy instead, naming it); ask governance
to admit the attempt (policy, then a worst-case budget reservation); skip it if the call's deadline
passed meanwhile; call; on a retryable error (a timeout, a rate limit or an overload only when no
other target is left) wait (the server's ``Retry-After`` when it gave one,
else exponential backoff with full jitter) and try again, unless the wait would pass the call's
deadline (then the attempt's warnings say why it was not retried); on an error that moves on, go
to the next candidate; on one that doesn't (a bad request caused by our input, a bug of ours), stop. A target left
for the next ones after a timeout, rate limit or overload is come back to, for its retry after its
wait, when none of them was sent (a budget refused them: see :mod:`.cascade_comebacks`). A target whose server named
a wait (``Retry-After``, ...) is left alone for it by the calls that follow too, as one more skip, waited out on the
last target left (see :mod:`.cascade_waits`). A target routing's ``request_caps`` caps takes a slot of its pool
before each try, or is passed over for the next target, or waited for on the last (see :mod:`.cascade_caps`).
Every attempt and every skip becomes an :class:`~magsag_mcp.records.AttemptRecord`. Which targets are passed over
lives in :mod:`.cascade_skips`; what an attempt stopped by its caller (a cancel, a callback, an exit) or the call's
deadline leaves in :mod:`.cascade_stops`; the records and trace in :mod:`.cascade_report`, the final error in
:mod:`.cascade_errors`; the guard it asks before each try, what it asks with, and what a reservation the ledger
refused leaves, in :mod:`.cascade_guard`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio

from .answer_cache import PendingAnswer
from .attempt_cost import Pricing, price_answered
from .breaker import BreakerPolicy
from .caller_progress import CallbackFailed, emit, guarded
from .cascade_cache import CachedAnswers
from .cascade_caps import CappedTargets, RequestCaps, Slot
from .cascade_comebacks import DeferredTargets
from .cascade_errors import all_failed, internal_error
from .cascade_failed import FailedTries, FailedTry
from .cascade_guard import Guard, attempt_context, reservation_refused
from .cascade_paused import Continuing, PausedTurns
from .cascade_report import (
    CascadeState,
    attempt_event,
    attempt_record,
    record_deadline_skip,
    record_skip,
    trace,
    unhooked,
)
from .cascade_skips import TargetSkips
from .cascade_stops import StoppedAttempts, cut_by_the_deadline
from .cascade_waits import (
    TargetRests,
    rest_wait,
)
from .deadline import Deadline
from .errors import (
    BudgetExceeded,
    ConfigError,
    InputError,
    LedgerError,
    PolicyDenied,
    ProviderError,
    redacting_logger,
    said_without_keys,
)
from .governance import refusal_ends_call
from .governance.attempts import sent_at
from .otel_spans import traced
from .paused_calls import continues_said, resumed_request, with_turn_before
from .providers import ProviderSet
from .providers.base import ProgressCallback
from .rates import ZERO
from .records import AttemptRecord
from .retry import RetryPolicy
from .routing import Plan
from .served_models import ServedModels
from .transport import Sends
from .types import LLMResult, Target
from .types import with_stream as _with_stream
from .worst_cases import WorstCasePricing

log = redacting_logger("magsag_mcp.cascade")

#: stream generations that may be long, so progress flows and idle timeouts don't kill them
STREAM_MIN_TOKENS = 2048


@dataclass(slots=True)
class CallOutcome:
    result: LLMResult
    target: Target
    attempts: list[AttemptRecord]
    trace: dict[str, Any]
    #: the answer to store in the answer cache once the call is recorded (see answer_cache.py), or None
    to_cache: PendingAnswer | None = None


class Cascade(TargetSkips, StoppedAttempts, CappedTargets, DeferredTargets, CachedAnswers, FailedTries, PausedTurns):
    def __init__(
        self,
        providers: ProviderSet,
        pricer: Pricing,
        guard: Guard | None,
        retry: RetryPolicy,
        *,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        clock: Callable[[], float] = time.monotonic,
        breaker: BreakerPolicy | None = None,
        served: ServedModels | None = None,
    ) -> None:
        self.providers = providers
        self.pricer = pricer
        self.guard = guard
        self.retry = retry
        self.sleep = sleep
        self.clock = clock
        #: the targets whose server named a wait, or that the circuit breaker left alone, for every call this cascade
        #: runs (see target_rests.py); a probe of one holds it for a call's deadline at most
        self.rests = TargetRests(breaker, retry.deadline)
        #: the pools of routing's request_caps (see cascade_caps.py); None, asked once a try, where none is declared
        self.caps: RequestCaps | None = None
        #: the endpoint an Azure attempt records: the one what its deployment serves is kept by (``served``, the
        #: memory the pricer and the governance share, as the service opens them; a Pricer's own where none is given,
        #: whose AZURE_OPENAI_ENDPOINT is the one its sightings are kept by)
        if served is None:
            served = pricer.served if isinstance(pricer, WorstCasePricing) else ServedModels(os.environ)
        self.azure_endpoint = served.endpoint
        #: where off this machine a local attempt went (the pricer's LocalReach, which the policies read too), recorded
        self.local_off_machine = pricer.local_reach.off_machine if isinstance(pricer, WorstCasePricing) else None

    @traced  # OpenTelemetry's spans of the call and its attempts, where the process traces (see otel_spans.py)
    async def run(
        self,
        plan: Plan,
        *,
        run_id: str,
        agent: str | None,
        progress: ProgressCallback | None = None,
        attempts: list[AttemptRecord] | None = None,
        parent_run_id: str | None = None,
        delegated_from: str | None = None,
        call_id: str | None = None,
    ) -> CallOutcome:
        """Try the plan's targets in order. ``attempts``, when given, receives each attempt as it
        ends, so that a caller can still record them if this task is cancelled. ``parent_run_id`` is the top run of
        the tree of ``delegated_from``, the parent the call named (see AttemptContext.delegated_from). ``call_id`` names
        the call in its reservations (see Service.invoke_skill)."""
        # positional, the two endpoint readers set after: a class called with keywords builds and unpacks a dict of
        # them (Python 3.11), on every call
        state = CascadeState(attempts if attempts is not None else [], plan, run_id, agent)
        state.azure_endpoint, state.local_off_machine = self.azure_endpoint, self.local_off_machine
        deadline = self.clock() + self.retry.deadline
        #: this call's admissions so far: the call limit bounds retries and fallback hops together
        admissions: list[Any] = []
        total = len(plan.candidates)
        callback = guarded(progress)  # what providers call as the answer streams in
        step = 0
        while (position := self._position(step, total, state)) is not None:
            step += 1
            cand = plan.candidates[position]
            target = cand.target
            if cand.refused is not None:  # its server, refused by a policy while the call was planned (call_urls)
                refusal = cand.refused.error(target)
                # its first try refused, as the guard's refusal of a fallback's model is recorded (attempt 1; 0 is a
                # target passed over unconfigured): the two skips read alike in the ledger
                record_skip(
                    state, position, target, refusal.message, refusal, "policy_denied", routine=True, try_number=1
                )
                continue
            skip = self.skip_reason(cand, plan, agent) or self._window_skip(state, target)
            if skip is not None:
                reason, why = skip
                record_skip(state, position, target, reason, None, None, why)
                continue
            key = None  # (the target's answer-cache key: asked only where the call's answers are cached)
            if plan.cache_ttl is not None and self.answers is not None:
                key = self._cache_key(plan, target, agent)
                if key is not None and not state.revisited:  # (a target come back to was looked up the first time)
                    hit = await self._from_cache(cand, position, state, progress, key, deadline)
                    if hit is not None:
                        return hit
                elif plan.flight is not None and plan.flight.key != key:
                    # sent unlooked-up (no key: a provider with no wire; a target come back to): the key this call
                    # led and left is landed now, not once the call ends, so that its waiters do not wait on it
                    self.answers.flights.land(plan.flight)
                    plan.flight = None
            resting = None if state.revisited else self.rests.resting(target, self.clock(), probe=state)
            #: this call is the breaker's probe of the target: whatever stops its try before its answer or error is
            #: noted (a locked ledger, a cancel, a callback raising) hands the probe on (see _unclaimed)
            claimed = state if resting is None and not state.revisited and self.rests.probing(target, state) else None
            #: sent once, without retries: a target the circuit breaker left alone, with no other left to answer
            once = False
            if resting is not None and self._allowed(
                target, plan, agent
            ):  # (one a policy or cost limit refuses is, at once)
                # its server asked an earlier attempt for a wait that has not passed: not sent
                record_skip(state, position, target, resting.message, None, None, resting)
                another_left = self._left(plan, position, state, agent)
                wait = rest_wait(self.retry, resting, deadline - self.clock(), state, position, another_left)
                if wait is None:
                    continue
                once = resting.left_by_breaker
                if not once:
                    # (not a retry: its first try here, after the wait its server asked an earlier call for)
                    await emit(progress, "retry", {"target": target.label, "wait_s": round(wait, 3), "resting": True})
                    await self.sleep(wait)
            request = plan.request_for(target)
            if plan.resumed is not None:  # a turn left paused by an earlier call, sent back (see paused_calls.py)
                request = resumed_request(request, plan.resumed)
            provider = self.providers.get(target.provider)
            # said before its server is asked where it runs the model (below): the client heard "asking" a fallback's
            # server before "falling back to" it
            if position > 0 and progress is not None and not state.revisited:
                try:
                    await emit(progress, "fallback", {"to": target.label, "position": position, "of": total})
                except BaseException:
                    self._unclaimed(claimed, target)
                    raise
            if target.provider == "local" and (learn := getattr(provider, "learn_where_it_runs", None)) is not None:
                # where the local server runs the model (a name made from a cloud model runs on ollama.com), asked
                # once per name in the process, before governance judges where the prompt may go (progress told it
                # asks: a server slow to answer held the call silent); nothing sent yet, so a probe claimed is handed
                # on. Within the call's deadline, so that its asks' "half what is left of the deadline" holds where no
                # caller set one around the call: past it, the attempt is skipped as out of time (below)
                asking = Deadline(max(0.0, deadline - self.clock()))
                try:
                    async with asking:
                        await learn(target, progress)
                except BaseException as exc:
                    if not (isinstance(exc, TimeoutError) and asking.expired):
                        self._unclaimed(claimed, target)
                        raise
                if (
                    down := self._server_not_running(
                        target, plan, self._left(plan, position, state, agent), come_back=state.revisited
                    )
                ) is not None:  # (its server not started)
                    self._unclaimed(claimed, target)
                    record_skip(state, position, target, down.message, None, None, down)
                    # (the client heard it asked: told it is skipped, or its heartbeat said "asking" on)
                    unreached = {"target": target.label, "reason": "its server could not be reached"}
                    await emit(progress, "skipped", unreached)
                    continue
            caps = provider.capabilities(target)
            if (
                not request.stream
                and caps.streaming
                and (progress is not None or (request.max_tokens or 0) >= STREAM_MIN_TOKENS)
            ):
                request = _with_stream(request)
            elif request.stream and not caps.streaming:
                request = _with_stream(request, False)
            # a continuation of a turn an earlier call left paused numbers on from that call's attempts on the target:
            # the ledger reads one call's story, not a second call's first try (see paused_calls.py)
            try_number = 0 if plan.resumed is None else plan.resumed.attempt
            pool = None if self.caps is None else self.caps.of(target)
            if state.revisited:  # the target left for the next ones, none of which was sent: its retry, after its wait
                come_back = await self._come_back(state, deadline, target, progress)
                if come_back is None:
                    break
                try_number, once = come_back
            while True:
                try_number += 1
                slot: Slot | None = None
                if pool is not None:
                    args = (state, position, target, try_number, deadline, progress)
                    try:
                        slot = await self._slot(pool, *args)
                    except BaseException:  # (cancelled while it waited, its "capped" callback raised): none taken
                        self._unclaimed(claimed, target)
                        raise
                    if slot is None:
                        self._unclaimed(claimed, target)  # (a breaker's probe it was: the next call's, then)
                        break  # (its skip recorded: at its cap, the next target taken or no slot in time)
                admission = None
                if self.guard is not None:
                    try:
                        admission = await self.guard.admit(
                            attempt_context(
                                plan, cand, request, run_id, agent, parent_run_id, admissions, delegated_from, call_id
                            )
                        )
                    except (PolicyDenied, BudgetExceeded) as exc:
                        if slot is not None:
                            slot.release(sent=False)
                        unhooked(exc)
                        self._unclaimed(claimed, target)  # (a probe it was: the next call's, then)
                        denied = isinstance(exc, PolicyDenied)
                        fail = isinstance(exc, PolicyDenied) and refusal_ends_call(
                            cand, plan.candidates, by_routing=exc.by_routing, rule=exc.details.get("rule")
                        )
                        outcome = "policy_denied" if denied else "budget_exceeded"
                        record_skip(
                            state,
                            position,
                            target,
                            exc.message,
                            exc,
                            outcome,
                            routine=denied and not fail,
                            try_number=try_number,
                        )
                        if fail:
                            raise all_failed(plan, state, exc) from None
                        refused_by = "refused by a policy" if denied else "refused by a budget"
                        await emit(progress, "skipped", {"target": target.label, "reason": refused_by})
                        break
                    except LedgerError as refused:  # (another process's lock): no call goes out unreserved
                        if slot is not None:
                            slot.release(sent=False)
                        self._unclaimed(claimed, target)
                        if not any(a.outcome == "error" for a in state.attempts):
                            raise  # nothing was sent: the refusal is what happened to the call
                        raise reservation_refused(state, position, target, try_number, refused) from None
                    except BaseException:  # cancelled while its reservation was written, a bug: nothing sent
                        if slot is not None:
                            slot.release(sent=False)  # (kept, a target capped at 1 was never sent again)
                        self._unclaimed(claimed, target)
                        raise
                if self.clock() >= deadline:
                    if slot is not None:
                        slot.release(sent=False)
                    # admitted too late (a write lock waited for): sent now, it would be cut at once and
                    # counted at its worst case; not sent, it costs nothing. Its reservation goes with the
                    # call's record, which the skip carries: a drop of its own was another write, which the
                    # lock that made it late could refuse again, leaving it to expire into spend
                    record_deadline_skip(state, position, target, self.retry.deadline, try_number)
                    self._unclaimed(claimed, target)
                    if admission is not None:
                        await self.guard.settle(admission, ZERO)  # type: ignore[union-attr]
                        state.attempts[-1].reservation_id = getattr(admission, "reservation_id", None)
                    break
                if admission is not None:
                    admissions.append(admission)
                try:
                    # asked only with a callback: the event's dict and a coroutine cost on every attempt
                    if progress is not None:
                        await emit(progress, "attempt", attempt_event(state, target, try_number, position))
                except BaseException:
                    if slot is not None:
                        slot.release(sent=False)
                    self._unclaimed(claimed, target)
                    # Nothing was sent (a progress callback that raised, or the caller cancelling while progress
                    # was delivered): the attempt is recorded as not sent, at no cost, and its reservation goes
                    # with the call's record. A drop of its own was another write, which a locked ledger could
                    # refuse, leaving the reservation to expire into spend and the call recorded as that error.
                    if admission is not None:
                        stopped = "not sent: the call stopped (its caller cancelled, or its progress callback raised)"
                        record_skip(state, position, target, stopped, None, None, try_number=try_number)
                        state.attempts[-1].reservation_id = getattr(admission, "reservation_id", None)
                        await self.guard.settle(admission, ZERO)  # type: ignore[union-attr]
                    raise
                started_wall = sent_at(admission, time.time())  # (never before its reservation: see sent_at)
                started = self.clock()
                sent_before, state.sent_after_deferral = state.sent_after_deferral, True
                # The deadline bounds the attempt in flight too, not only the waits between attempts: a server that
                # trickles a stream must not hold the call for ever. asyncio's timeout, not anyio.fail_after: the
                # providers run on asyncio (aiohttp) and anyio looks its backend up on every entry (~12 us a call);
                # Deadline is asyncio.timeout without its Enum reads (see deadline.py).
                sends = Sends()  # what the transport marks as it sends: a bug before that sent nothing
                left = deadline - self.clock()
                # (max(left, 0.0) without the builtin's call: some 1,200 instructions, on every attempt)
                within = Deadline(0.0 if left < 0.0 else left, sends)
                try:
                    try:
                        # its text written back from the prompt's escapes as it streams, as the final text is
                        shown = plan.answer_stream(callback) if callback is not None and plan.answer_stream else None
                        within.enter()  # (not `async with`: see Deadline.enter)
                        try:
                            result = await provider.complete(request, target, progress=shown or callback)
                        except BaseException as ended:
                            within.leave(ended)  # (our own expiry raised as a TimeoutError from the cancellation)
                            raise
                        within.leave(None)
                        if shown is not None:  # an "&" held back at the end began no escape
                            await shown.finish(result.usage)
                        self._pause_kept(plan, result)  # (a paused turn with nothing in it, not to be continued)
                    except CallbackFailed:
                        raise
                    except (ProviderError, ConfigError, InputError):
                        raise
                    except Exception as bug:  # ours, not the vendor's: converted once, here (see InternalError)
                        if isinstance(bug, TimeoutError) and within.expired:
                            # (cut in flight, or still waiting for a connection: see cut_by_the_deadline)
                            left = sends.left or not provider.sends_through_transport
                            raise cut_by_the_deadline(target, left, self.retry.deadline) from None
                        # (a TimeoutError the deadline did not raise, a provider's own timer left unconverted, is not
                        # the call's deadline: reported as that, it sent the caller to raise MAGSAG_CALL_DEADLINE)
                        log.exception("%s: a bug in magsag-mcp during the attempt", target.label)
                        sent = sends.left or not provider.sends_through_transport
                        raise internal_error(target, bug, sent=sent) from said_without_keys(bug)
                except ProviderError as exc:
                    # (first: what follows raising, a bug, must not keep the slot, as nothing would give it back)
                    waited = None if slot is None else slot.release()
                    if not exc.reached:  # (refused, not resolved, not connected in time): a target left comes back
                        state.sent_after_deferral = sent_before
                    tried = FailedTry(position, target, try_number, started_wall, started, sends, admission, request)
                    another_left = self._left(plan, position, state, agent)
                    exc, retried = await self._failed_try(
                        exc, state, tried, waited, deadline, progress, once=once, another_left=another_left
                    )
                    claimed = None  # (noted: a probe is over, closed, opened again or handed on to another call)
                    if retried:
                        continue
                    if not exc.moves_on:
                        raise all_failed(plan, state, exc) from None
                    break
                except BaseException as exc:
                    if slot is not None:
                        slot.release()
                    self._unclaimed(claimed, target)  # (its answer, if any comes, is noted by no one)
                    await self._stopped(
                        exc,
                        state,
                        position,
                        target,
                        try_number,
                        admission,
                        request,
                        provider,
                        sends,
                        started_wall,
                        started,
                    )
                    if isinstance(exc, CallbackFailed):
                        raise exc.error from None
                    raise
                latency = (self.clock() - started) * 1000.0
                result.latency_ms = latency  # (the attempt's: the fake, timing nothing, said 0.0 ms beside its 0.18)
                if slot is not None and (waited := slot.release()) is not None:
                    result.warnings.append(waited)
                record = attempt_record(
                    state, position, try_number, target, "ok", started_wall, latency, None, at=started
                )
                record.sent = sends.body
                price_answered(self.pricer, record, result, target, admission, request)
                if target.provider == "azure" and (served := getattr(self.guard, "served_refusal", None)):
                    # the answer named the model behind the deployment's name, which the policies may forbid
                    if refusal := served(target, plan.data_classes):
                        result.warnings.append(refusal)
                    # and kept in the ledger, for the next process's first call to the deployment (queued: no wait
                    # here, where a call stopped would lose its paid attempt's record)
                    if (keep_served := getattr(self.guard, "served_answered", None)) is not None:
                        keep_served(target, result.usage.answering_model)
                if admission is not None:
                    await self.guard.settle(admission, record.cost_usd)  # type: ignore[union-attr]
                record.warnings = list(result.warnings)
                record.reservation_id = getattr(admission, "reservation_id", None)
                if plan.resumed is not None:  # (the answer that sent the turn back: its continuations say theirs)
                    record.warnings.append(continues_said(plan.resumed))
                state.attempts.append(record)
                if self.rests.failing:  # (a dict's truth, on a healthy call: no target has failed in a row)
                    self.rests.answered(target)
                if result.paused is not None:  # its turn continued, each request an attempt (see cascade_paused.py)
                    how = Continuing(cand, run_id, agent, parent_run_id, admissions, delegated_from, call_id, deadline)
                    went_on = await self._go_on(state, position, request, provider, result, try_number, how, callback)
                    if went_on is None:  # nothing usable came of its turns (its why recorded): the next target's
                        break
                    result = went_on
                if plan.resumed is not None:  # the whole turn: the text before the pause and this call's
                    result = with_turn_before(result, plan.resumed)
                stored = None if key is None else self._to_store(plan, key, agent, target, result)
                return CallOutcome(result, target, state.attempts, trace(plan, state), stored)
            if self.clock() >= deadline and not state.revisited:
                for later, rest in enumerate(plan.candidates[position + 1 :], start=position + 1):
                    record_deadline_skip(state, later, rest.target, self.retry.deadline)
                break
        raise all_failed(plan, state, state.last_error)

    # --- helpers ---------------------------------------------------------------------------------

    def _unclaimed(self, claimed: CascadeState | None, target: Target) -> None:
        """The try of ``target`` stopped before its answer or its error was noted: were this call (``claimed``, its
        state) its breaker's probe, the next call probes it, rather than every call passing it over until this one's
        deadline. (Only the call that claimed it: one sending it once, no other target left, leaves another's probe
        alone; and so does one whose probe another call's answer closed, the probe taken again since by another.)"""
        if claimed is not None:
            self.rests.unsent(target, self.clock(), claimed)
