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

The turn stays in the process (its blocks are the model's server tools' results): a result left paused is also held by
the service under its ``paused_id`` (:attr:`PausedCall.id`, in the result's dict), by which ``skills.continue_paused``
and MCP's ``continue_paused`` name it; the service holds the last :data:`HELD_MOST` (a continuation that answers lets
its result go). The CLI's process ends with its call: calling again there starts over.

A continuation is the same call's story in the ledger: its attempts number on from the last the paused call made on its
target, its first saying which attempt's turn it continues; it is sent to the very target that paused the turn (its
provider, model, endpoint and parameters: two of a route may share ``provider:model``), held to the same run, agent,
parent run and data classes, and so to the same budgets (see :meth:`PausedContinuation.continue_paused`).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import re
import secrets
import weakref
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .cascade_paused import CONTINUATIONS_KEY, SETTING, continued_request
from .errors import InputError
from .redaction import excerpt, redacting_logger
from .settings import MAXIMA
from .types import LLMRequest, LLMResult, Message, Target

log = redacting_logger("magsag_mcp.service")

if TYPE_CHECKING:
    from .caller_progress import ProgressCallback
    from .invoke_result import InvokeResult
    from .records import AttemptRecord
    from .routing import Plan


@dataclass(slots=True, frozen=True)
class PausedCall:
    """A call whose answer's turn was left paused, as it was made (to send it again with the turn appended): its skill,
    payload, context and agent, its run, the target that paused the turn (the whole target: two of a route may share its
    ``provider:model``), the turn (every block of it, as the API wrote them) and the code execution container it ran
    in; the last attempt number the run gave that target (its continuation's number on from it: past a continuation
    of it that failed or was cancelled too), the parent run the call named and its agent run's data classes (the
    continuation's budgets and policies the same), its id, and the attempt whose answer left the turn paused."""

    skill_id: str
    payload: Mapping[str, Any] = field(repr=False)
    context: Mapping[str, Any] | None = field(repr=False)
    agent: str | None
    run_id: str
    target: Target
    turn: Message = field(repr=False)
    container: str | None
    attempt: int = 0
    parent_run_id: str | None = None
    run_classes: tuple[str, ...] = ()
    id: str = ""
    paused_at: int = 0


def held_turn(
    skill_id: str,
    payload: Mapping[str, Any],
    context: Mapping[str, Any] | None,
    agent: str | None,
    result: Any,
    target: Target,
    parent_run_id: str | None = None,
    run_classes: tuple[str, ...] = (),
) -> PausedCall | None:
    """What ``result`` (an :class:`~.invoke_result.InvokeResult`) keeps of its call to continue its turn, where it was
    left paused; None where it was not. ``target``: the target the call was sent to (not the answer's model: the API
    names the model that served, a dated snapshot of an alias, which no route names)."""
    answer = result.result
    if answer.paused is None:
        return None
    # copies: a caller that reuses its payload or context dict for its next call (another item's data) would have the
    # turn sent back in a request other than the one it was paused in
    kept_payload, kept_context = copy.deepcopy(payload), copy.deepcopy(context)
    # the answering target's attempts: the last ok one's position (a failed continuation after it is numbered on too)
    answered = [a for a in result.attempts if a.outcome == "ok"]
    position = answered[-1].fallback_position if answered else 0
    last = max((a.attempt_number for a in result.attempts if a.fallback_position == position), default=0)
    paused_id = new_paused_id()
    if answered:  # (its record says the turn was left paused, and the id it is held by: see ledger 0037)
        answered[-1].paused_id = paused_id
    return PausedCall(
        skill_id,
        kept_payload,
        kept_context,
        agent,
        result.run_id,
        target,
        answer.paused,
        answer.container,
        last,
        parent_run_id,
        tuple(run_classes),
        paused_id,
        answered[-1].attempt_number if answered else last,
    )


#: the mark of this process in each paused_id it gives (6 hex digits of its 16): an id held by no process but the one
#: that paused its turn, asked of another (another server, a CLI run, this one before a restart), is told apart from
#: one this process let go (continued, or among the oldest), to say which happened and its fix. Drawn again in a forked
#: child (see _forked): a copy of the parent's would pass the parent's ids as the child's own
PROCESS_MARK = secrets.token_hex(3)


def _forked() -> None:
    """In a child just forked (os.fork, multiprocessing's fork start method): a mark of its own, other than its
    parent's, and none of the parent's paused calls held. The child is another process: an id its parent gave is told
    there as another process's, and the parent's turns stay the parent's alone (the child's copy, continued, would send
    a turn the parent may send too: paid twice, the turn forked, neither process knowing of the other's)."""
    global PROCESS_MARK
    parents = PROCESS_MARK
    while PROCESS_MARK == parents:
        PROCESS_MARK = secrets.token_hex(3)
    for held in list(_HOLDERS):
        held.let_all_go()


def new_paused_id() -> str:
    """A new paused_id: ``paused_``, this process's mark and 10 random hex digits (16 in all, as MCP's schema takes)."""
    return f"paused_{PROCESS_MARK}{secrets.token_hex(5)}"


def _shown_id(paused_id: object) -> str:
    """``paused_id`` as a refusal quotes it: its first 80 characters, redacted before the cut (see
    :func:`~.redaction.excerpt`). Cut first, a known token passed after 70 characters of anything kept its first 10,
    too few for redact() to know for the token's start."""
    return excerpt(str(paused_id), 80)


def unheld_said(paused_id: object) -> str:
    """Why no paused call ``paused_id`` names is held here, and the fix: given by another process (or this one before a
    restart), whose memory alone holds its turn; or given here and let go; or no paused_id at all."""
    shown = repr(_shown_id(paused_id))
    start = f"no paused call {shown} is held by this process: "
    again = "call the skill again to start the turn over (paid again)"
    if not (isinstance(paused_id, str) and re.fullmatch(r"paused_[0-9a-f]{16}", paused_id)):
        return (
            start + "a paused_id is 'paused_' and 16 hex digits, as a result left paused gave it (its paused_id "
            f"field); pass that field as it was, or {again}"
        )
    if not paused_id.startswith(f"paused_{PROCESS_MARK}"):
        return (
            start + "it was given by another process (another MCP server or Python process, a CLI run, or this "
            "server before it restarted), and only the process that paused a turn holds it, in memory (its request "
            "and the model's server tool results are never written to the ledger, so no other process can continue "
            "it): continue it in that process while it runs; if it has ended, the turn is gone: " + again
        )
    return (
        start + "this process gave it, and let it go: its turn was continued already (continue the result the "
        f"continuation returned, with its own paused_id), or it was not among the last {HELD_MOST} left paused (and "
        f"{HELD_BYTES // 2**20} MB of payloads); " + again
    )


def others_said(paused_id: str, agent: str) -> str:
    """Why a caller held to ``agent`` (a pinned MCP client, skills bound to an agent) may not continue the paused call
    ``paused_id`` names, a call of another agent's (or of none), and the fix: naming nothing of that call (its agent,
    skill, run, payload), which the caller may not read."""
    return (
        f"paused call {paused_id!r} is not agent {agent!r}'s: this caller is pinned to agent {agent!r}, and only the "
        "agent whose call left a turn paused can continue it (under that agent's budgets and policies); continue a "
        "paused_id "
        f"one of agent {agent!r}'s calls returned, have the caller of that agent's call continue it, or call the "
        "skill again to start the turn over (paid again)"
    )


def _named(target: Target) -> str:
    """``target`` told apart from another of its ``provider:model`` (its endpoint, its parameters' names)."""
    shown = target.to_dict()
    extra = [f"at {shown['base_url']}"] if "base_url" in shown else []
    if "params" in shown:
        extra.append("params " + ", ".join(f"{k}={v}" for k, v in shown["params"].items()))
    return f"{target.label} ({'; '.join(extra)})" if extra else target.label


def resumed_plan(plan: Plan, paused: PausedCall) -> Plan:
    """``plan``, the call's as routed again, held to the target that paused the turn and kept from the answer cache;
    refused, saying why, where its route no longer names that target."""
    # the whole target, not its label: two of a route may share provider:model (two servers, two regions, two
    # settings), and the turn (its code execution container) lives on the one that paused it
    kept = [cand for cand in plan.candidates if cand.target == paused.target]
    if not kept:
        alike = [cand.target for cand in plan.candidates if cand.target.label == paused.target.label]
        named = ", ".join(_named(cand.target) for cand in plan.candidates) or "none"
        raise InputError(
            f"the turn to continue was paused by {_named(paused.target)}, which skill {paused.skill_id}'s route no "
            f"longer names (it names {named}"
            + (f"; {len(alike)} of them {paused.target.label}, none with its endpoint and parameters" if alike else "")
            + "): only the target that paused a turn can go on with it; call the skill again to start the turn over "
            "(paid again)"
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
    return (
        f"continues the turn {paused.target.label} paused at attempt {paused.paused_at or paused.attempt} in an "
        f"earlier call of run "
        f"{paused.run_id} ({paused.id})"
    )


def with_turn_before(result: LLMResult, paused: PausedCall) -> LLMResult:
    """``result``, the answer that goes on with the paused turn, as the whole turn: the text before the pause and its
    own; where it is paused again, the turn to send back next holds every block of both."""
    before = paused.turn.content or ""
    again = None
    if result.paused is not None:
        text = before + (result.paused.content or "")
        again = Message("assistant", text or None, blocks=(*paused.turn.blocks, *result.paused.blocks))
    return dataclasses.replace(result, text=before + result.text, paused=again)


#: how many results left paused a service holds by their id (each holds its call's payload and the turn's blocks)
HELD_MOST = 256
#: how many bytes of payloads, contexts and turns (as JSON) they hold at most, the newest always held: each keeps a deep
#: copy of its call's payload, and 256 calls of a large document each were all held while the process lived
HELD_BYTES = 64 * 2**20


def _held_size(paused: PausedCall) -> int:
    """About how many bytes ``paused`` holds: its payload, context and turn as JSON (what a call of it sends again)."""
    kept = (paused.payload, paused.context, paused.turn.content, paused.turn.blocks)
    return len(json.dumps(kept, default=str, ensure_ascii=False))


class HeldPaused:
    """The results left paused a service holds by their paused id, oldest first: the last :data:`HELD_MOST`, and fewer
    where their payloads come to more than :data:`HELD_BYTES` (the newest always held)."""

    def __init__(self) -> None:
        self._held: OrderedDict[str, tuple[InvokeResult, int]] = OrderedDict()
        self._bytes = 0
        _HOLDERS.add(self)  # (emptied in a forked child: see _forked)

    def let_all_go(self) -> None:
        self._held.clear()
        self._bytes = 0

    def hold(self, paused_id: str, result: InvokeResult, size: int) -> None:
        self._held[paused_id] = (result, size)
        self._bytes += size
        # A result whose turn is being continued is neither counted nor let go: the continuation's result, paused
        # again and held here before it returns, takes its place (it is let go once that continuation returns), and it
        # stays held where the continuation fails or is lost (see unreturned_continuation). Counted, the most held
        # let another paused call go for it, or let it go itself, its lost continuation leaving no turn to anyone.
        going_on = [key for key, (held, _) in self._held.items() if held.paused_taken == _UNDER_WAY]
        counted = len(self._held) - len(going_on)
        size_counted = self._bytes - sum(self._held[key][1] for key in going_on)
        for key in list(self._held):  # (oldest first; the newest always held)
            if counted <= 1 or (counted <= HELD_MOST and size_counted <= HELD_BYTES):
                break
            if key in going_on:
                continue
            _, let_go = self._held.pop(key)
            self._bytes -= let_go
            counted -= 1
            size_counted -= let_go

    def get(self, paused_id: str) -> InvokeResult | None:
        held = self._held.get(paused_id)
        return None if held is None else held[0]

    def pop(self, paused_id: str) -> None:
        held = self._held.pop(paused_id, None)
        if held is not None:
            self._bytes -= held[1]


#: every HeldPaused of the process (weakly: a closed service's goes with it), for a forked child to empty
_HOLDERS: weakref.WeakSet[HeldPaused] = weakref.WeakSet()
if hasattr(os, "register_at_fork"):  # (POSIX; Windows has no fork)
    os.register_at_fork(after_in_child=_forked)

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
    """:meth:`continue_paused` (mixed into :class:`~magsag_mcp.service.Service`), and the results left paused it holds
    by their ``paused_id`` for the callers that hold a dict of them (``skills.invoke``, MCP)."""

    invoke_skill: Any  # (the service's)
    #: the results left paused, by their paused id (set by the service: see :meth:`hold_paused`)
    _held_paused: HeldPaused

    def hold_paused(self, result: InvokeResult) -> None:
        """Keep ``result``, whose turn was left paused, to be continued by its id; the oldest let go past
        :data:`HELD_MOST`, or past :data:`HELD_BYTES` of payloads (each holds its call's payload and the turn's
        blocks)."""
        paused = result.paused_call
        if paused is None:
            return
        self._held_paused.hold(paused.id, result, _held_size(paused))

    def held_paused(self, paused_id: str, agent: str | None = None) -> InvokeResult:
        """The result left paused that ``paused_id`` names; ``agent``: the caller is held to it (an MCP client pinned to
        an agent), and another agent's paused call is refused as unknown. Refused, saying why, where none is held."""
        held = self._held_paused.get(paused_id) if isinstance(paused_id, str) else None
        if held is None:
            raise InputError(unheld_said(paused_id), paused_id=_shown_id(paused_id))
        if agent is not None and held.paused_call is not None and held.paused_call.agent != agent:
            raise InputError(others_said(paused_id, agent), paused_id=_shown_id(paused_id))
        return held

    async def continue_paused(
        self,
        previous: InvokeResult | str | None,
        *,
        continuations: int | None = None,
        progress: ProgressCallback | None = None,
        agent: str | None = None,
        recorded_ok: Callable[[InvokeResult], None] | None = None,
    ) -> InvokeResult:
        """Send back the turn ``previous`` (an :class:`~magsag_mcp.InvokeResult` of :meth:`invoke_skill`, or the
        ``paused_id`` of one, as its dict gives it) left paused, for the model to go on with it: a call of its own
        under ``previous.run_id``, to the target that paused it, held to the policies and limits of the first call
        (its run, agent, parent run and data classes), priced and recorded as any call, its attempts numbered on from
        the first call's (see paused_calls.py). Returns the whole turn's answer (the text before the pause and the
        rest), its cost this call's; ``continuations``: how many more requests may continue it should it pause again
        (the call's ``context.pause_continuations``), else the first call's or ``MAGSAG_PAUSE_CONTINUATIONS``.
        ``agent``: the caller is held to it (a pinned MCP client): another agent's paused call is refused.
        Refused (``InputError``), nothing sent, where ``previous`` holds no paused turn, or its turn was continued
        already or is being continued (a turn goes on once from a result: the next continuation is of the result this
        returns); one that fails leaves ``previous``'s turn to continue. ``recorded_ok`` as :meth:`invoke_skill`'s."""
        from .invoke_result import InvokeResult

        if previous is None:  # (a result's paused_id where its turn was not left paused, passed on as it was)
            raise InputError(
                "the paused_id is None: that result was not left paused (finish_reason 'other' has causes of its own: "
                "see its warnings), so there is no turn to continue"
            )
        if continuations is not None:
            continuations = _checked_continuations(continuations)
        if isinstance(previous, str):
            previous = self.held_paused(previous, agent)
        if not isinstance(previous, InvokeResult):
            raise InputError(
                f"continue_paused takes the InvokeResult Service.invoke_skill returned or its paused_id, got "
                f"{type(previous).__name__} (a dict of it, as skills.invoke and MCP return, holds no turn: pass its "
                "paused_id)"
            )
        paused = previous.paused_call
        if paused is None:
            raise InputError(
                f"run {previous.run_id}'s answer (finish_reason {previous.finish_reason!r}) was not left paused: there "
                "is no turn to continue"
            )
        if paused.id and not paused.id.startswith(f"paused_{PROCESS_MARK}"):
            # a result in hand another process left paused (a forked child's copy of its parent's, one unpickled):
            # its turn is that process's, which may continue it too (sent twice, paid twice, the turn forked)
            raise InputError(
                f"run {previous.run_id}'s turn was left paused by another process ({paused.id}: a process this one was "
                "forked from, or whose result was carried here), and only the process that paused a turn can continue "
                "it: continue it in that process while it runs, or call the skill again to start the turn over (paid "
                "again)"
            )
        if agent is not None and paused.agent != agent:  # (a result in hand: the caller's own, said so)
            raise InputError(f"run {previous.run_id}'s paused call is agent {paused.agent!r}'s, not {agent!r}'s")
        if previous.paused_taken is not None:
            raise InputError(_TAKEN[previous.paused_taken].format(run=previous.run_id))
        context = dict(paused.context or {})
        if continuations is not None:
            context[CONTINUATIONS_KEY] = continuations

        handed: list[InvokeResult] = []  # (the continuation's answer, once its record is handed on as ok)
        tried: list[AttemptRecord] = []  # (its attempts, recorded however it ends)

        def answered(result: InvokeResult) -> None:
            handed.append(result)
            if recorded_ok is not None:
                recorded_ok(result)

        # taken before the first await: a second continuation started meanwhile is refused, not sent too
        previous.paused_taken = _UNDER_WAY
        try:
            going_on: InvokeResult = await self.invoke_skill(
                paused.skill_id,
                paused.payload,
                agent=paused.agent,
                run_id=paused.run_id,
                parent_run_id=paused.parent_run_id,
                context=context,
                progress=progress,
                run_classes=paused.run_classes,
                recorded_ok=answered,
                continuing=paused,
                attempts=tried,
            )
        except BaseException:
            # Nothing reached the caller (refused, failed, cancelled): the turn stays ``previous``'s to continue. So
            # too where the continuation was cancelled once its answer's record was handed on as ok (a group commit's
            # wait, the caller's own unwinding): that answer, paid and recorded, never reached anyone, nor the paused_id
            # of its turn if paused again, and letting ``previous`` go left no turn anyone could continue (see
            # unreturned_continuation).
            previous.paused_taken = None
            # the next continuation numbers on past this one's attempts (recorded under the run): from the paused
            # call's, it gave the numbers this one's records hold again
            numbered = max((a.attempt_number for a in tried), default=0)
            if numbered > paused.attempt:
                previous.paused_call = dataclasses.replace(paused, attempt=numbered)
            if handed:
                unreturned_continuation(self._held_paused, paused, handed[0])
            raise
        # its turn goes on from the result this call returns, not from previous's
        previous.paused_taken = _CONTINUED
        self._held_paused.pop(paused.id)
        return going_on


def _checked_continuations(value: object) -> int:
    """continue_paused's ``continuations``, refused before anything is taken, sent or recorded where it is not a whole
    number from 0 to the setting's maximum: put in the call's context, it was refused within the call (recorded as a
    failed call of the run) as a ``context.pause_continuations`` the caller never wrote."""
    most = int(MAXIMA[SETTING])
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= most:
        raise InputError(
            f"continuations must be a whole number from 0 (none: the turn is left paused should it pause again) to "
            f"{most} ({SETTING}'s maximum), got {type(value).__name__} {value!r}"[:300]
        )
    return value


def unreturned_continuation(held: HeldPaused, paused: PausedCall, result: InvokeResult) -> None:
    """A continuation of ``paused`` whose answer ``result`` was recorded ok and never returned (its call cancelled after
    the record was handed on): said in a WARNING naming both, ``paused`` left held to continue again (sent again and
    paid again: the answer recorded is not in hand), and ``result``'s own turn, if paused again, let go (its paused_id
    reached no one)."""
    again = result.paused_call
    if again is not None:
        held.pop(again.id)
    log.warning(
        "run %s: the continuation of paused call %s was cancelled after its answer was recorded as ok (paid: %s), "
        "before the answer reached its caller; %s is still held and can be continued again (sent and paid again)",
        paused.run_id,
        paused.id,
        "cost unknown" if result.cost_usd is None else f"${result.cost_usd}",
        paused.id,
    )
