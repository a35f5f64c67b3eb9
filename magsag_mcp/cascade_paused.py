"""A turn the API paused, continued: Claude's ``stop_reason`` "pause_turn" ("we paused a long-running turn. You may
provide the response back as-is in a subsequent request to let the model continue"), which a long run of server tools
(web search, web fetch, code execution) ends with.

The cascade sends the call's request again to the SAME target with the paused assistant turn appended, its blocks as
the API wrote them (see providers/anthropic_paused.py), no user turn added; the model goes on with the same assistant
turn, which a second pause extends again (each paused turn appended in order: the wire sends them as one assistant
turn). Each continuation is an attempt of its own, as a retry is: a slot of its target's request cap (waited for:
it is no try the next target could take), told to the caller's progress ("attempt"), admitted by governance (the
policies, a reservation of its own worst case: the prompt again, the blocks sent back and up to max_tokens more),
priced alone (a tiered price's size is each request's, never their sum's), settled, and recorded in the ledger under
the call's run, its attempt number the next of the target's, a warning saying which attempt's paused turn it
continues. A continuation's ProviderError goes through the cascade's failed-try handling
(:mod:`.cascade_failed`): its server's wait kept for the calls after, retried when retryable (the same tries, wait
and deadline as a first try's), never left for the next target (the turn lives on this one). Owed to its target, it is
sent whatever rest another call set the target to since, and its failure is not counted by the circuit breaker (see
:meth:`PausedTurns._continue`). A caller's ConfigError or
InputError is recorded, the turn before it returned.

At most ``MAGSAG_PAUSE_CONTINUATIONS`` requests (a call's ``context.pause_continuations`` over it; default 3, 0: none).
The answer is the turns' text joined (one assistant turn, its text blocks in order), their tool calls, their usage
summed; the call's cost is its attempts' (each exact, unknown where any is). A JSON skill's turns are parsed as one
document, joined, once (the provider parses the answer that ends the turn with the turns it continues, and no paused
turn alone). A turn left paused (the maximum reached, a continuation refused by a budget or failed for good, the
deadline passed) is returned with what came, where a first try's failure would move on to the next target: no other
target can go on with the turn, and it was paid. It is never said complete: ``finish_reason`` "other",
``LLMResult.paused`` holding the turn, and a warning saying :data:`INCOMPLETE`, why and which setting to raise; the
failed continuation is recorded as its attempt. A JSON call's is no answer (:func:`unfinished_document`). One left
paused with nothing in it (no text, no tool call) is no answer: its last answered attempt is recorded
``unsupported_feature`` naming the setting, and the next target is tried (the call failing with that error where none
is left); so is a paused turn with nothing in it while continuing is off (0), at its cost.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import anyio

from .attempt_cost import price_answered, price_failure
from .caller_progress import CallbackFailed, emit
from .cascade_errors import internal_error
from .cascade_failed import FailedTry
from .cascade_guard import attempt_context
from .cascade_report import CascadeState, attempt_event, attempt_record, record_skip, unhooked
from .cascade_stops import cut_by_the_deadline
from .deadline import Deadline
from .errors import (
    BudgetExceeded,
    ConfigError,
    InputError,
    InvalidOutputError,
    LedgerError,
    PayloadError,
    PolicyDenied,
    ProviderError,
    UnsupportedFeatureError,
    redact,
    said_without_keys,
)
from .governance.attempts import sent_at
from .invoke_result import call_cost
from .plurals import counted
from .providers.anthropic_paused import PAUSED_SAID
from .providers.turn_document import turn_document
from .providers.wire_format import with_reported_usage
from .rates import ZERO
from .records import AttemptRecord
from .settings import MAXIMA
from .token_usage import Usage
from .transport import Sends
from .types import LLMRequest, LLMResult, Message

if TYPE_CHECKING:
    from .cascade_guard import Guard
    from .routing import Plan

#: the call's context key that sets its continuations, over the setting
CONTINUATIONS_KEY = "pause_continuations"
SETTING = "MAGSAG_PAUSE_CONTINUATIONS"
_STOPPED = "the call stopped (its caller cancelled, or its progress callback raised)"
#: what the warning of an answer whose turn was left paused says of it, whatever stopped it: a partial answer is
#: returned (it was paid for, and no other target can go on with the turn), never presented as complete
INCOMPLETE = "the answer is incomplete"
#: what a caller can do with it: Service.continue_paused sends the turn back through the router (see paused_calls.py),
#: given the InvokeResult or its paused_id, which the result's dict carries (skills.invoke's, MCP's): the process that
#: made the call holds the turn; the CLI's ends with its call, and calling again there starts the turn over, paid again
_HELD = (
    "(to go on with the turn, paying only for the rest, pass the result (or its paused_id) to "
    "Service.continue_paused, skills.continue_paused or MCP's continue_paused, in the process that made the call; "
    "the CLI holds no turn: calling again starts the turn over, paid again)"
)
#: what :meth:`PausedTurns._continue` says of a try that failed and was waited for, to be tried again
_RETRIED = "retried"


def continuations_of_context(context: Mapping[str, Any]) -> int | None:
    """The call's ``context.pause_continuations`` (a whole number from 0 to the setting's maximum), None where it names
    none; refused, saying what to write, when it is anything else."""
    value = context.get(CONTINUATIONS_KEY)
    if value is None:
        return None
    most = int(MAXIMA[SETTING])
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise PayloadError(
            f"context.{CONTINUATIONS_KEY} must be a whole number of requests that may continue a paused turn (e.g. 3; "
            f"0 for none), got {type(value).__name__} {value!r}"[:300]
        )
    if not 0 <= value <= most:
        raise PayloadError(f"context.{CONTINUATIONS_KEY} must be from 0 (none) to {most}, got {value!r}")
    return int(value)


def answer_cost(attempts: list[AttemptRecord]) -> Decimal | None:
    """What the answer a call returns cost (the answer cache keeps it, as what a hit saves): its attempt's, and its
    continuations' where its turn was paused (the answering attempts, the call's last ones ``ok``; the failures before
    them bought no part of it); None where any is unknown."""
    answered = []
    for attempt in reversed(attempts):
        if attempt.outcome != "ok":
            break
        answered.append(attempt)
    return call_cost(answered or attempts[-1:])


def continued_request(request: LLMRequest, turns: list[Message], container: str | None) -> LLMRequest:
    """``request`` with the paused assistant turns appended as they came (no user turn between: the model goes on
    with the same turn), naming the code execution container the last ran in, to go on in it."""
    extra = request.extra if container is None else {**request.extra, "container": container}
    return dataclasses.replace(request, messages=[*request.messages, *turns], extra=extra)


#: Usage's token counts (its int fields, those Usage.counts gives): read off the class, so that a count added to it
#: is summed over the turns too, not left at the last turn's
_COUNTED = tuple(f.name for f in dataclasses.fields(Usage) if f.type in ("int", int))


def summed(usages: list[Usage]) -> Usage:
    """The turns' usage, summed: each count, each server tool's uses; reported only where every turn's was; what the
    answers said of themselves (the model, the tier, where it ran) the last turn's."""
    total = dataclasses.replace(usages[-1])
    for name in _COUNTED:
        setattr(total, name, sum(getattr(u, name) for u in usages))
    uses: dict[str, int] = {}
    for u in usages:
        for kind, n in u.server_tool_calls:
            uses[kind] = uses.get(kind, 0) + n
    total.server_tool_calls = tuple(uses.items())
    total.reported = all(u.reported for u in usages)
    total.server_tools_said = any(u.server_tools_said for u in usages)
    total.output_image_said = any(u.output_image_said for u in usages)
    billed = [u.billed_usd for u in usages if u.billed_usd is not None]
    total.billed_usd = sum(billed, ZERO) if len(billed) == len(usages) else None
    return total


def joined(turns: list[LLMResult], left_paused: str | None) -> LLMResult:
    """One answer of the turns of a continued pause: their text joined (the blocks of one assistant turn), their tool
    calls, usage summed and latency; the last turn's finish, id and parsed document. Each turn's warning that it paused
    is left out (it was continued), but for why the last is still paused (``left_paused``)."""
    last = turns[-1]
    warnings = [w for turn in turns for w in turn.warnings if PAUSED_SAID not in w]
    if left_paused is not None:
        warnings.append(left_paused)
    blocks = tuple(block for turn in turns if turn.paused is not None for block in turn.paused.blocks)
    paused = None if last.paused is None else Message("assistant", _text(turns) or None, blocks=blocks)
    return dataclasses.replace(
        last,
        text="".join(turn.text for turn in turns),
        usage=summed([turn.usage for turn in turns]),
        tool_calls=[call for turn in turns for call in turn.tool_calls],
        latency_ms=sum(turn.latency_ms for turn in turns),
        warnings=warnings,
        paused=paused,
        pauses=sum(1 for turn in turns if turn.paused is not None),
    )


def _text(turns: list[LLMResult]) -> str:
    return "".join(turn.paused.content or "" for turn in turns if turn.paused is not None)


@dataclass(slots=True, frozen=True)
class Continuing:
    """What the guard is asked to admit a continuation with beside its request (the arguments of
    :func:`~.cascade_guard.attempt_context`: the candidate, the run, the agent, the parent run, the call's admissions
    so far, whom the call was delegated from, its id), and the call's deadline (the clock's time it ends at)."""

    cand: Any
    run_id: str
    agent: str | None
    parent_run_id: str | None
    admissions: list[Any]
    delegated_from: str | None
    call_id: str | None
    deadline: float


class PausedTurns:
    """The cascade's continuation of a paused turn (mixed into :class:`~magsag_mcp.cascade.Cascade`)."""

    # (the cascade's)
    pricer: Any
    guard: Guard | None
    retry: Any
    clock: Callable[[], float]
    caps: Any
    rests: Any
    _slot: Callable[..., Any]
    _failed_try: Callable[..., Any]

    def _most(self, plan: Plan) -> int:
        return plan.continuations if plan.continuations is not None else self.retry.continuations

    def _pause_kept(self, plan: Plan, result: LLMResult) -> None:
        """A paused turn that will not be continued (continuations off) with nothing in it is no answer: an empty
        success was recorded "ok" and the next target left untried. It fails, at its cost (its searches' too)."""
        if result.paused is None or self._most(plan) > 0 or result.text.strip() or result.tool_calls:
            return
        said = f"{result.provider}:{result.model} {PAUSED_SAID} before any answer, and continuing it is off"
        fix = f"set {SETTING} (or the call's context.{CONTINUATIONS_KEY}) to 1 or more for magsag to send it back"
        exc = UnsupportedFeatureError(f"{said}: {fix}", provider=result.provider, model=result.model)
        raise with_reported_usage(exc, result.usage)

    async def _go_on(
        self,
        state: CascadeState,
        position: int,
        request: LLMRequest,
        provider: Any,
        first: LLMResult,
        try_number: int,
        how: Continuing,
        progress: Any,
    ) -> LLMResult | None:
        """Continue ``first``, a paused turn of the target at ``position`` (its try ``try_number``, recorded), until
        it ends, ``self._most`` requests were sent, or one cannot be (``how``: what the guard is asked to admit each
        with, and the call's deadline; ``progress``, the caller's, which a streamed continuation's text goes to).
        Every continuation is in ``state.attempts`` as it ends; one that fails retryably is tried again as any try
        is (see cascade_failed.py). None where the turn was left paused with nothing in it (no text, no tool call):
        no answer, its why recorded (``state.last_error``, its last answered attempt's error), for the next target."""
        target = state.plan.candidates[position].target
        most = self._most(state.plan)
        turns, number, left_paused, sent = [first], try_number, None, 0
        stopped = ""  # (why it was left paused, in short, for the error of a turn with nothing in it)
        while turns[-1].paused is not None:
            if most == 0:  # (said as what it is: none sent, not "0 sent at most", and the fix to turn it on)
                stopped = "continuing paused turns is off"
                left_paused = (
                    f"{target.label} {PAUSED_SAID}, and {stopped} ({SETTING} or the call's context.{CONTINUATIONS_KEY} "
                    f"is 0): {INCOMPLETE}, the text so far {_HELD}; set {SETTING} to 1 or more for the model to go on"
                )
                break
            if sent >= most:
                stopped = f"{counted(most, 'continuation')} sent, the most allowed"
                were = counted(most, "continuation") + (" was" if most == 1 else " were")
                left_paused = (
                    f"{target.label} paused its turn {counted(len(turns), 'time')}, and {were} sent at most "
                    f"({SETTING}, or the call's context.{CONTINUATIONS_KEY}): {INCOMPLETE}, the text so far "
                    f"{_HELD}; raise {SETTING} (at most {int(MAXIMA[SETTING])}) for the model to go on"
                )
                _say_paused(state, number, left_paused)  # (its record, read in the ledger, says the same)
                break
            sent += 1
            paused_at, tries = number, 0
            _say_paused(state, paused_at, f"{target.label} {PAUSED_SAID}: sent back to go on at attempt {number + 1}")
            follow = continued_request(request, [t.paused for t in turns if t.paused is not None], turns[-1].container)
            said = f"continues the turn {target.label} paused at attempt {paused_at}"
            while True:  # (its retries, each an attempt of its own, as a first try's are)
                number, tries = number + 1, tries + 1
                tried = (number, tries)
                answer, why = await self._continue(state, position, follow, provider, tried, how, progress, said)
                if why is not _RETRIED:
                    break
            if answer is None:
                if _broke_the_document(state, number):  # (its record says so, and the call's last error is it)
                    return None
                stopped = f"its continuation (attempt {number}) was not answered: {why}"
                left_paused = (
                    f"{target.label} paused its turn, and its continuation (attempt {number}) was not answered: "
                    f"{why}; {INCOMPLETE}, the text before it {_HELD}"
                )
                _say_paused(state, paused_at, left_paused)
                break
            turns.append(answer)
        result = joined(turns, left_paused)
        if result.paused is not None and not result.text.strip() and not result.tool_calls:
            _unusable(state, nothing_came(target, len(turns), stopped, at_most=sent >= most))
            return None
        if (request.json_output or request.json_schema is not None) and result.paused is not None:
            # (the turn that ended was parsed by its provider, with the turns it continues: see turn_document.py)
            try:  # (once, the turns' text joined, prose before the document left out: it holds its start at most)
                result.parsed = turn_document(result, target.provider, request.json_schema, request.json_validator)
            except InvalidOutputError:
                _unusable(state, unfinished_document(target, stopped, at_most=sent >= most))
                return None
        return result

    async def _continue(
        self,
        state: CascadeState,
        position: int,
        follow: LLMRequest,
        provider: Any,
        tried: tuple[int, int],
        how: Continuing,
        progress: Any,
        said: str,
    ) -> tuple[LLMResult | None, str]:
        """One try of a continuation (``tried``: its attempt number, and its tries so far), admitted, sent, priced,
        settled and recorded: its answer, or None and why there is none (a refusal, the deadline, a failure: each
        recorded as a try of the target is), that why :data:`_RETRIED` where it failed and was waited for to be tried
        again."""
        (number, tries), target, deadline = tried, state.plan.candidates[position].target, how.deadline
        if self.clock() >= deadline:
            why = "the call's deadline passed (MAGSAG_CALL_DEADLINE)"
            record_skip(state, position, target, f"not sent: {why}", None, None, try_number=number)
            return None, why
        # No rest of the target's is asked after (its server's named wait, the circuit breaker's, which another call may
        # have set since the turn began): a continuation is owed to the target whose turn it goes on with. No other
        # target can continue the turn, so leaving it would lose what was paid for the next target to start over at
        # the full price; the rest keeps new calls from starting there, which this one did while it was well. Its own
        # failure is retried within its server's wait (cascade_failed.py), and not counted by the breaker.
        slot = None  # (a slot of the target's request cap, as every try of it takes: see cascade_caps.py)
        if self.caps is not None and (pool := self.caps.of(target)) is not None:
            slot = await self._slot(pool, state, position, target, number, deadline, progress, move_on=False)
            if slot is None:  # (its skip recorded, saying the cap and what to change)
                state.attempts[-1].warnings.append(said)
                return None, state.attempts[-1].error_message or "no slot of its request cap came free"
        admission = None
        if self.guard is not None:
            try:
                asked = (how.run_id, how.agent, how.parent_run_id, how.admissions, how.delegated_from, how.call_id)
                admission = await self.guard.admit(attempt_context(state.plan, how.cand, follow, *asked))
                how.admissions.append(admission)
            except BaseException as exc:
                if slot is not None:
                    slot.release(sent=False)
                if not isinstance(exc, PolicyDenied | BudgetExceeded | LedgerError):
                    raise
                unhooked(exc)
                denied = isinstance(exc, PolicyDenied)
                outcome = "policy_denied" if denied else "budget_exceeded" if isinstance(exc, BudgetExceeded) else None
                record_skip(state, position, target, exc.message, exc, outcome, routine=True, try_number=number)
                state.attempts[-1].warnings.append(said)
                return None, exc.message
        try:  # (as every try of a target is told: the caller's progress sees the request it waits on)
            await emit(progress, "attempt", attempt_event(state, target, number, position))
        except BaseException as stopped:  # (its callback raised, the caller cancelled): nothing sent, at no cost
            if slot is not None:
                slot.release(sent=False)
            record_skip(state, position, target, f"not sent: {_STOPPED}", None, None, try_number=number)
            state.attempts[-1].reservation_id = getattr(admission, "reservation_id", None)
            if admission is not None and self.guard is not None:  # (an admission is the guard's)
                with anyio.CancelScope(shield=True):
                    await self.guard.settle(admission, ZERO)
            if isinstance(stopped, CallbackFailed):  # (the caller's own error, as a try's event raises it)
                raise stopped.error from None
            raise
        started_wall, started, sends = sent_at(admission, time.time()), self.clock(), Sends()
        # its streamed text written back from the prompt's escapes, as the final (joined) text is (see Cascade.run)
        shown = state.plan.answer_stream(progress) if progress is not None and state.plan.answer_stream else None
        left = deadline - self.clock()
        within = Deadline(0.0 if left < 0.0 else left, sends)
        try:
            try:
                within.enter()
                try:
                    answer: LLMResult = await provider.complete(follow, target, progress=shown or progress)
                except BaseException as ended:
                    within.leave(ended)
                    raise
                within.leave(None)
                if shown is not None:  # (an "&" held back at its end began no escape)
                    await shown.finish(answer.usage)
            except (CallbackFailed, ProviderError, ConfigError, InputError):
                raise
            except Exception as bug:  # ours: converted once, here, as an attempt's is (see Cascade.run)
                sent = sends.left or not provider.sends_through_transport
                if isinstance(bug, TimeoutError) and within.expired:
                    raise cut_by_the_deadline(target, sent, self.retry.deadline) from None
                raise internal_error(target, bug, sent=sent) from said_without_keys(bug)
        except ProviderError as exc:  # (recorded, its wait and the breaker told, retried as a first try is)
            waited = None if slot is None else slot.release()
            at = len(state.attempts)
            failed = FailedTry(position, target, number, started_wall, started, sends, admission, follow, tries, True)
            try:
                exc, retried = await self._failed_try(exc, state, failed, waited, deadline, progress)
            except CallbackFailed as raised:  # (its "retry" event went to the providers' wrapped callback)
                raise raised.error from None
            finally:  # (its record says which turn it continues, the call going on or not)
                if len(state.attempts) > at:
                    state.attempts[at].warnings.append(said)
            return None, _RETRIED if retried else exc.message
        except (ConfigError, InputError) as exc:
            # (a caller's error: the turn before it was answered with the same request and paid, so the answer so far
            # is returned, the failed try recorded, rather than the call failing and that answer lost)
            exc = unhooked(exc)
            latency = (self.clock() - started) * 1000.0
            if slot is not None:
                slot.release()
            record = attempt_record(state, position, number, target, "error", started_wall, latency, exc, at=started)
            record.sent = sends.body
            price_failure(self.pricer, record, exc, target, admission, follow)
            record.warnings.append(said)
            state.attempts.append(record)
            if admission is not None and self.guard is not None:  # (an admission is the guard's)
                await self.guard.settle(admission, record.cost_usd, record.cost_bound_usd)
            return None, exc.message
        except BaseException as exc:
            if slot is not None:
                slot.release()
            await self._stopped(  # type: ignore[attr-defined]
                exc, state, position, target, number, admission, follow, provider, sends, started_wall, started
            )
            if isinstance(exc, CallbackFailed):
                raise exc.error from None
            raise
        latency = (self.clock() - started) * 1000.0
        answer.latency_ms = latency
        if slot is not None and (waited := slot.release()) is not None:
            answer.warnings.append(waited)
        record = attempt_record(state, position, number, target, "ok", started_wall, latency, None, at=started)
        record.sent = sends.body
        price_answered(self.pricer, record, answer, target, admission, follow)
        if admission is not None and self.guard is not None:  # (an admission is the guard's)
            await self.guard.settle(admission, record.cost_usd)
        record.warnings = [*answer.warnings, said]
        record.reservation_id = getattr(admission, "reservation_id", None)
        state.attempts.append(record)
        if self.rests.failing:  # (as a first try's answer: the target failing in a row no more)
            self.rests.answered(target)
        return answer, ""


def nothing_came(target: Any, turns: int, stopped: str, *, at_most: bool) -> UnsupportedFeatureError:
    """The error of a turn left paused with nothing in it (no text, no tool call) after ``turns`` turns: no answer,
    the next target's to give. ``stopped``: why it was left paused; ``at_most``: the most continuations were sent (the
    setting to raise is named), else one was refused or failed (which ``stopped`` says)."""
    said = f"{target.label} {PAUSED_SAID} {counted(turns, 'time')} and wrote nothing ({stopped}): no usable answer"
    if not at_most:
        return UnsupportedFeatureError(said, provider=target.provider, model=target.model)
    fix = (
        f"raise {SETTING} or the call's context.{CONTINUATIONS_KEY} (at most {int(MAXIMA[SETTING])}) for the model "
        "to go on further"
    )
    return UnsupportedFeatureError(f"{said}; {fix}", provider=target.provider, model=target.model)


def unfinished_document(target: Any, stopped: str, *, at_most: bool) -> InvalidOutputError:
    """The error of a JSON call's turn left paused (``stopped``: why) before its document was whole: the text so far
    is no document, and the next target is tried (the attempts that wrote it stay recorded at their cost). Said as
    that, not as the model's invalid JSON, which it was not; ``at_most``: the most continuations were sent, and the
    setting to raise is named (a refusal or failure says its own why in ``stopped``)."""
    said = f"{target.label} {PAUSED_SAID} and its turn was left unfinished ({stopped}): the JSON document is incomplete"
    if at_most:
        said += f"; raise {SETTING} or the call's context.{CONTINUATIONS_KEY} (at most {int(MAXIMA[SETTING])})"
    return InvalidOutputError(said, provider=target.provider, model=target.model)


def _say_paused(state: CascadeState, number: int, said: str) -> None:
    """The record of attempt ``number``, an answer that paused its turn, says ``said`` of its pause, in place of its
    provider's warning: that one tells a caller with continuing off to turn it on, or to send the turn back itself,
    which read in the ledger of a call that sent it back (or sent the most allowed) sent its reader wrong."""
    for record in reversed(state.attempts):
        if record.attempt_number == number and record.outcome == "ok":
            record.warnings = [said if PAUSED_SAID in w else w for w in record.warnings]
            return


def _broke_the_document(state: CascadeState, number: int) -> bool:
    """Whether the continuation of attempt ``number`` failed as its answer's document (the turn's text and its
    own, joined, parsed by the provider) was invalid JSON or broke the schema: the turn ended, broken."""
    last = state.attempts[-1] if state.attempts else None
    return last is not None and last.attempt_number == number and last.error_class == InvalidOutputError.kind


def _unusable(state: CascadeState, exc: ProviderError) -> None:
    """The turns of a paused turn gave no usable answer (``exc`` says why): the last answered attempt of them
    recorded as failing with ``exc`` (it was paid, at its cost still), and ``exc`` the call's last error, for the
    next target to be tried or the call's error to name."""
    for record in reversed(state.attempts):
        if record.outcome == "ok":
            record.outcome, record.error_class, record.error_message = "error", exc.kind, redact(exc.message)
            break
    state.last_error = exc
