"""A turn left paused, continued by its caller: :meth:`Service.continue_paused <PausedContinuation.continue_paused>`.

The cascade continues a turn Claude paused (``pause_turn``) up to ``MAGSAG_PAUSE_CONTINUATIONS`` requests (see
cascade_paused.py). A turn still paused after them (the most sent, a continuation refused by a budget, failed for good,
the deadline passed) is returned incomplete, and was paid for: calling the skill again starts the turn over and pays for
it again. The turn is kept with the result (:attr:`~.invoke_result.InvokeResult.paused_call`, never in its dict nor its
repr: the call's payload and context are in it), and ``Service.continue_paused(result)`` sends it back through the same
router as any call: a call of its own, under the same run, to the SAME target (no other can go on with the turn; one
its route no longer names is refused), its request the first call's with the paused turn appended (see
:func:`~.cascade_paused.continued_request`), admitted by governance with that request's worst case, priced and recorded
as every attempt is, and continued again as a first try's pause is. The answer cache is neither read nor written (the
answer is the turn's, not the payload's). What it returns is the whole turn: the text before the pause and the rest
(``.output``, parsed whole for a JSON skill), its ``cost_usd`` and ``usage`` this call's own.

Only a Python caller holding the :class:`~.invoke_result.InvokeResult` can: the dict ``skills.invoke`` returns, MCP's
``invoke_skill`` and the CLI hold no turn (its blocks are the model's server tools' results, kept in the process), and
their warning says that calling again starts over.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .cascade_paused import CONTINUATIONS_KEY, continued_request
from .errors import InputError
from .types import LLMRequest, LLMResult, Message

if TYPE_CHECKING:
    from .caller_progress import ProgressCallback
    from .invoke_result import InvokeResult
    from .routing import Plan


@dataclass(slots=True, frozen=True)
class PausedCall:
    """A call whose answer's turn was left paused, as it was made (to send it again with the turn appended): its skill,
    payload, context and agent, its run, the target that paused the turn (its label), the turn (every block of it, as
    the API wrote them) and the code execution container it ran in."""

    skill_id: str
    payload: Mapping[str, Any] = field(repr=False)
    context: Mapping[str, Any] | None = field(repr=False)
    agent: str | None
    run_id: str
    target: str
    turn: Message = field(repr=False)
    container: str | None


def held_turn(
    skill_id: str,
    payload: Mapping[str, Any],
    context: Mapping[str, Any] | None,
    agent: str | None,
    result: Any,
    target: str,
) -> PausedCall | None:
    """What ``result`` (an :class:`~.invoke_result.InvokeResult`) keeps of its call to continue its turn, where it was
    left paused; None where it was not. ``target``: the label of the target the call was sent to (not the answer's
    model: the API names the model that served, a dated snapshot of an alias, which no route names)."""
    answer = result.result
    if answer.paused is None:
        return None
    # copies: a caller that reuses its payload or context dict for its next call (another item's data) would have the
    # turn sent back in a request other than the one it was paused in
    kept_payload, kept_context = copy.deepcopy(payload), copy.deepcopy(context)
    return PausedCall(
        skill_id, kept_payload, kept_context, agent, result.run_id, target, answer.paused, answer.container
    )


def resumed_plan(plan: Plan, paused: PausedCall) -> Plan:
    """``plan``, the call's as routed again, held to the target that paused the turn and kept from the answer cache;
    refused, saying why, where its route no longer names that target."""
    kept = [cand for cand in plan.candidates if cand.target.label == paused.target]
    if not kept:
        named = ", ".join(cand.target.label for cand in plan.candidates) or "none"
        raise InputError(
            f"the turn to continue was paused by {paused.target}, which skill {paused.skill_id}'s route no longer "
            f"names (it names {named}): only the target that paused a turn can go on with it; call the skill again "
            "to start the turn over (paid again)"
        )
    plan.candidates = kept[:1]
    plan.cache_ttl = None
    plan.resumed = paused
    return plan


def resumed_request(request: LLMRequest, paused: PausedCall) -> LLMRequest:
    """The call's request with the paused turn sent back, in the container it ran in."""
    return continued_request(request, [paused.turn], paused.container)


def continues_said(paused: PausedCall) -> str:
    """What the first attempt of a continuing call says of the turn it goes on with (in the ledger too)."""
    return f"continues the turn {paused.target} paused in an earlier call of run {paused.run_id}"


def with_turn_before(result: LLMResult, paused: PausedCall) -> LLMResult:
    """``result``, the answer that goes on with the paused turn, as the whole turn: the text before the pause and its
    own; where it is paused again, the turn to send back next holds every block of both."""
    before = paused.turn.content or ""
    again = None
    if result.paused is not None:
        text = before + (result.paused.content or "")
        again = Message("assistant", text or None, blocks=(*paused.turn.blocks, *result.paused.blocks))
    return dataclasses.replace(result, text=before + result.text, paused=again)


#: :attr:`~.invoke_result.InvokeResult.paused_taken`'s states
_UNDER_WAY = "under way"
_CONTINUED = "continued"
#: why a result whose turn was taken is refused (nothing sent): its turn went on, or is going on, in another call
_TAKEN = {
    _UNDER_WAY: (
        "run {run}'s paused turn is being continued by another continue_paused call: await that call and continue "
        "the result it returns, if still paused (sending the turn twice would pay for it twice)"
    ),
    _CONTINUED: (
        "run {run}'s paused turn was already continued: continue the result that call returned (its paused_call), "
        "not this one (sending the turn again would pay for it again and fork the turn)"
    ),
}


class PausedContinuation:
    """:meth:`continue_paused` (mixed into :class:`~magsag_mcp.service.Service`)."""

    invoke_skill: Any  # (the service's)

    async def continue_paused(
        self,
        previous: InvokeResult,
        *,
        continuations: int | None = None,
        progress: ProgressCallback | None = None,
    ) -> InvokeResult:
        """Send back the turn ``previous`` (an :class:`~magsag_mcp.InvokeResult` of :meth:`invoke_skill`) left
        paused, for the model to go on with it: a call of its own under ``previous.run_id``, to the target that paused
        it, held to the policies and limits, priced and recorded as any call (see paused_calls.py). Returns the whole
        turn's answer (the text before the pause and the rest), its cost this call's; ``continuations``: how many more
        requests may continue it should it pause again (the call's ``context.pause_continuations``), else the first
        call's or ``MAGSAG_PAUSE_CONTINUATIONS``. Refused (``InputError``), nothing sent, where ``previous`` holds no
        paused turn, or its turn was continued already or is being continued (a turn goes on once from a result: the
        next continuation is of the result this returns); one that fails leaves ``previous``'s turn to continue."""
        from .invoke_result import InvokeResult

        if not isinstance(previous, InvokeResult):
            raise InputError(
                f"continue_paused takes the InvokeResult Service.invoke_skill returned, got {type(previous).__name__}"
                " (a dict of it, as skills.invoke and MCP return, holds no turn to continue)"
            )
        paused = previous.paused_call
        if paused is None:
            raise InputError(
                f"run {previous.run_id}'s answer (finish_reason {previous.finish_reason!r}) was not left paused: there "
                "is no turn to continue"
            )
        if previous.paused_taken is not None:
            raise InputError(_TAKEN[previous.paused_taken].format(run=previous.run_id))
        context = dict(paused.context or {})
        if continuations is not None:
            context[CONTINUATIONS_KEY] = continuations

        def answered(_result: InvokeResult) -> None:
            previous.paused_taken = _CONTINUED

        # taken before the first await: a second continuation started meanwhile is refused, not sent too
        previous.paused_taken = _UNDER_WAY
        try:
            return await self.invoke_skill(  # type: ignore[no-any-return]
                paused.skill_id,
                paused.payload,
                agent=paused.agent,
                run_id=paused.run_id,
                context=context,
                progress=progress,
                continuing=paused,
                recorded_ok=answered,
            )
        finally:
            if previous.paused_taken == _UNDER_WAY:  # (nothing answered: refused, failed, cancelled)
                previous.paused_taken = None
