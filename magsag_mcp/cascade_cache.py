"""A cascade's use of the answer cache (:mod:`.answer_cache`): a target of a call whose answers are cached is looked up
before anything else is done for it (its circuit breaker's probe, a request cap's slot, a budget reservation, a send),
once the policies allow it now, and an answer found there ends the call as its own attempt, at $0. A request another
call of the process is sending now is waited for, then looked up (:mod:`.answer_flights`).

A mixin of :class:`~magsag_mcp.cascade.Cascade`, apart from its flow of one call."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from .answer_cache import AnswerCache, PendingAnswer, pending, request_key
from .caller_progress import emit
from .cascade_report import CascadeState, attempt_record, trace
from .errors import LedgerError, redacting_logger
from .providers import ProviderSet
from .providers.base import ProgressCallback
from .rates import ZERO
from .routing import Candidate, Plan
from .types import LLMResult, Target

if TYPE_CHECKING:
    from .cascade import CallOutcome
    from .cascade_guard import Guard

log = redacting_logger("magsag_mcp.cascade")


class CachedAnswers:
    providers: ProviderSet
    guard: Guard | None
    clock: Callable[[], float]
    #: set by the service: None, nothing is looked up nor stored
    answers: AnswerCache | None = None

    def _cache_key(self, plan: Plan, target: Target, agent: str | None) -> str | None:
        """The target's key for this call, None where it is not cached (its policy forbids it now: the guard refuses
        it, naming the policy; a provider whose body magsag cannot build)."""
        if self.guard is not None and not self.guard.allowed(target, plan.data_classes)[0]:
            return None
        return request_key(self.providers.get(target.provider), plan.request_for(target), target, agent)

    async def _from_cache(
        self,
        cand: Candidate,
        position: int,
        state: CascadeState,
        progress: ProgressCallback | None,
        key: str,
        deadline: float,
    ) -> CallOutcome | None:
        """The call's outcome answered from the cache under ``key``, or None: this call sends the request then. Where
        another call of this process is sending it now, this one waits for that one first, for what its deadline
        leaves, and is answered by the answer it stored (see answer_flights.py); else (none ahead, or the one ahead
        stored nothing) it leads ``key`` until its answer is stored or its try of the target is over."""
        assert self.answers is not None
        plan, agent = state.plan, state.agent
        flights = self.answers.flights
        if plan.flight is not None:  # the key of a target this call left: its waiters need not wait for this one
            flights.land(plan.flight)
            plan.flight = None
        while (ahead := flights.ahead(key)) is not None:
            landed = await flights.wait(ahead, deadline - self.clock())
            if self._cache_key(plan, cand.target, agent) != key:
                # the policies forbid the target now (an Azure deployment's answer named a model they forbid, while
                # this call waited): not answered from it; the cascade refuses it as any call to it now
                return None
            if not landed:  # its deadline passed: looked up once more, not led (the cascade says the deadline)
                break
            if ahead.answered:  # (else no answer to find: the first woken leads next, the others wait for it)
                hit = await self._cached(cand, position, state, progress, key)
                if hit is not None:
                    return hit
        else:
            plan.flight = flights.lead(key)  # (before the look-up: a call asking meanwhile waits for this one)
        hit = await self._cached(cand, position, state, progress, key)
        if hit is not None and plan.flight is not None:
            flights.land(plan.flight, answered=True)  # the calls waiting for it find the same answer
            plan.flight = None
        return hit

    async def _cached(
        self,
        cand: Candidate,
        position: int,
        state: CascadeState,
        progress: ProgressCallback | None,
        key: str,
    ) -> CallOutcome | None:
        """The call's outcome answered from the cache under ``key``, recorded as an attempt of its own, or None."""
        from .cascade import CallOutcome

        plan = state.plan
        assert self.answers is not None and plan.cache_ttl is not None
        started_wall, started = time.time(), time.monotonic()
        try:
            hit = await self.answers.lookup(key, plan.cache_ttl)
        except LedgerError as exc:  # (read: the ledger's own trouble, which the call's record meets next) sent instead
            log.warning("run %s: the answer cache could not be read: %s", state.run_id, exc.message)
            return None
        except Exception as bug:  # a row this version cannot read (another version's, damaged): sent, and replaced
            log.error(
                "run %s: the answer cache's answer could not be read; the call is sent", state.run_id, exc_info=bug
            )
            return None
        if hit is None:
            return None
        target = cand.target
        note = hit.note(self.answers.clock())
        result = hit.result
        result.warnings.append(note)
        record = attempt_record(
            state, position, 1, target, "ok", started_wall, (time.monotonic() - started) * 1000.0, None
        )
        record.cost_usd = ZERO  # known: nothing was sent
        record.price_source = "cache"
        record.saved_usd = hit.cost_usd
        record.cached_from = hit.run_id
        record.warnings = [note]
        result.latency_ms = record.latency_ms
        state.attempts.append(record)
        if progress is not None and result.text:  # the whole text at once, as the caller will get it
            text = plan.answer_text(result.text) if plan.answer_text is not None else result.text
            await emit(progress, "delta", {"chars": len(text), "text": text})
        return CallOutcome(result, target, state.attempts, trace(plan, state))

    @staticmethod
    def _to_store(
        plan: Plan, key: str | None, agent: str | None, target: Target, result: LLMResult
    ) -> PendingAnswer | None:
        """What of an answer just paid for goes into the cache once its call is recorded (see Service.invoke_skill)."""
        if key is None or plan.cache_ttl is None:
            return None
        return pending(key, agent, target, plan.cache_ttl, result)
