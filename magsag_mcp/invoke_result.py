"""What one call returns (:class:`InvokeResult`), what it cost, and the error when its paid answer could
not be recorded."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .answer_keys import answer_without_known_keys
from .errors import (
    AllTargetsFailed,
    BudgetExceeded,
    LedgerError,
    MagsagError,
    PolicyDenied,
    excerpt,
    said_without_keys,
)
from .records import AttemptRecord
from .result_dicts import InvokeResultDict
from .types import FinishReason, LLMResult, ToolCall, Usage

if TYPE_CHECKING:
    from .paused_calls import PausedCall


@dataclass(slots=True)
class InvokeResult:
    run_id: str
    skill: str
    result: LLMResult
    attempts: list[AttemptRecord]
    trace: dict[str, Any]
    cost_usd: Decimal | None
    warnings: list[str] = field(default_factory=list)
    #: the credentials the call gave itself (its target's ``params.api_key``...), as redaction knew them in the call:
    #: looked for in what of the answer leaves the process (:func:`shown_answer`) once the call has forgotten them.
    #: Never shown: kept out of the repr and of :meth:`to_dict`
    call_keys: tuple[str, ...] = field(default=(), repr=False, compare=False)
    #: the call, where its answer's turn was left paused, for :meth:`Service.continue_paused
    #: <magsag_mcp.paused_calls.PausedContinuation.continue_paused>` to send the turn back (see paused_calls.py).
    #: Holds the call's payload and context: kept out of the repr and of :meth:`to_dict`
    paused_call: PausedCall | None = field(default=None, repr=False, compare=False)
    #: where :meth:`Service.continue_paused` has taken :attr:`paused_call`: "under way" while its continuation runs,
    #: "continued" once it answered (the turn goes on from that call's result: sent again from this one, it would be
    #: paid again and fork the turn); None while the turn is still to continue (a continuation that failed leaves it so)
    paused_taken: str | None = field(default=None, repr=False, compare=False)

    @property
    def output(self) -> Any:
        return self.result.parsed if self.result.parsed is not None else self.result.text

    # The result fields docs/model-choice.md and to_dict() name, as attributes too: result.model, not only
    # result.result.model (the answering attempt's LLMResult).
    @property
    def provider(self) -> str:
        return self.result.provider

    @property
    def model(self) -> str:
        return self.result.model

    @property
    def usage(self) -> Usage:
        """Token counts (``input_tokens``, ``output_tokens``, ``total_tokens``, ...; ``to_dict()``)."""
        return self.result.usage

    @property
    def tool_calls(self) -> list[ToolCall]:
        """The tools the model asked for (``id``, ``name``, parsed ``arguments``); empty when it answered."""
        return self.result.tool_calls

    @property
    def finish_reason(self) -> FinishReason:
        return self.result.finish_reason

    @property
    def text(self) -> str:
        """The answer's text as the model wrote it (``output`` is the parsed object when JSON was asked for and the
        answer calls no tool)."""
        return self.result.text

    def to_dict(self) -> InvokeResultDict:
        r = self.result
        return {
            "run_id": self.run_id,
            "skill": self.skill,
            "output": self.output,
            "text": r.text,
            "tool_calls": [tc.to_dict() for tc in r.tool_calls],
            "finish_reason": r.finish_reason,
            "paused_turns": r.pauses,
            "paused_id": None if self.paused_call is None else self.paused_call.id,
            "provider": r.provider,
            "model": r.model,
            "response_id": r.response_id,
            "usage": r.usage.to_dict(),
            "cost_usd": None if self.cost_usd is None else format(self.cost_usd, "f"),
            "cost_unknown": self.cost_usd is None,
            "latency_ms": round(r.latency_ms, 3),
            "attempts": [a.to_dict() for a in self.attempts],
            "trace": self.trace,
            "warnings": self.warnings,
        }


def shown_answer(data: Mapping[str, Any], call_keys: tuple[str, ...] = ()) -> dict[str, Any]:
    """An invoke result (:meth:`InvokeResult.to_dict`, or MCP's model of it) as it leaves the process: the answer is
    the vendor's text, passed on as it came (not redacted as an error is: a token shaped like a key in it, an example
    in code, is the answer's own); but one quoting the key it was sent with (a gateway or a test server echoing the
    request's headers) gave the operator's key to whoever reads it (an MCP client and its model, a terminal, a CI
    log). The keys this process sends are looked for in what the vendor wrote (a few look-ups: the rest, the trace
    and the warnings, is magsag's own and redacted as it is made), and removed from all of it; and so are the
    credentials the call gave itself (``call_keys``: :attr:`InvokeResult.call_keys`)."""
    return answer_without_known_keys(data, _vendors_text(data), call_keys)


def _vendors_text(data: Mapping[str, Any]) -> str:
    """What of an invoke result the vendor wrote: its output (text, or JSON), its text, its tool calls, if any, and the
    answer's id (a gateway's, echoing the request's bearer token as its ``id``, was passed on whole: the id is the
    vendor's string as it came, and the ledger's copy of it was redacted while the result's was not)."""
    output, text, calls = data.get("output"), data.get("text"), data.get("tool_calls")
    answer_id = data.get("response_id")
    if isinstance(output, str) and not calls and text in (None, output):
        # a text answer, the call's plain case: its text and its id as they are (nearly every answer has an id, and
        # writing the text out as JSON to look in it, its escapes made, was a copy of the answer on every call)
        return f"{output}\n{answer_id}" if answer_id else output
    return json.dumps([output, text, calls, answer_id], ensure_ascii=False, default=str)


def answer_not_recorded(exc: LedgerError, result: InvokeResult) -> LedgerError:
    """The ledger refused a successful call's record: the call raises (it is not durable), but the
    answer that was paid for travels with the error, and the message warns against paying twice (an answer from the
    answer cache was not paid for: its message says so instead)."""
    kept = (
        "it cannot be recorded as it is, so it is not kept"
        if exc.details.get("overflow")
        else "its record is kept in memory and written with the next call that records, or when the service closes"
    )
    if result.attempts and result.attempts[-1].price_source == "cache":  # (nothing sent: no paying twice to warn of)
        done = "The call itself succeeded, answered from the answer cache at $0 (nothing was sent)"
        again = ""
    else:
        done, again = "The call itself succeeded and was paid for", ": calling again would pay twice"
    error = LedgerError(
        f"{exc.message}. {done}; {kept}. The answer is attached to this error (.result){again}",
        db=exc.details.get("db"),
        run_id=result.run_id,
    )
    error.result = result
    return error


def answer_not_written(bug: Exception, result: InvokeResult) -> MagsagError:
    """A bug of ours kept a successful call's record out of the ledger (a row SQLite cannot bind, a TypeError building
    it), not the ledger's refusal: the tree's base kind, ``error``, naming the exception, the run and what it cost, with
    the answer that was paid for attached (``.result``). The record is kept, to be written again (see KeptRecords).
    Before, the bare exception reached the caller: the answer was lost, and the run was recorded nowhere."""
    said_without_keys(bug)  # (the error is raised from it: its text is printed in every traceback of it)
    error = MagsagError(
        f"unexpected {type(bug).__name__} in magsag-mcp (a bug) writing the call's record: {excerpt(str(bug), 300)}. "
        "The call itself succeeded and was paid for; its record is kept in memory and tried again with the next call "
        "that records and when the service closes, which names it if it is still not written. The answer is attached "
        "to this error (.result): calling again would pay twice. Please report it to magsag-mcp's maintainers with "
        "the traceback logged under magsag_mcp.service",
        exception=type(bug).__name__,
    )
    call_failed(error, result.run_id, result.attempts)
    error.result = result
    return error


def record_bug(bug: Exception) -> MagsagError:
    """What a bug of ours writing a failed (or cancelled) call's record is, in that call's error (``record_error``)."""
    said_without_keys(bug)  # (the error is raised from it: its text is printed in every traceback of it)
    return MagsagError(
        f"unexpected {type(bug).__name__} in magsag-mcp (a bug) writing the call's record: {excerpt(str(bug), 300)}; "
        "the record is kept in memory and tried again with the next call that records and when the service closes. "
        "Please report it to magsag-mcp's maintainers with the traceback logged under magsag_mcp.service",
        exception=type(bug).__name__,
    )


def call_failed(exc: MagsagError, run_id: str, attempts: list[AttemptRecord]) -> None:
    """Give a failed call's error what a caller needs to act on it, as a result would: the run it was
    recorded under (``run_id``) and what the call cost (``cost_usd``, every attempt; None when any
    attempt's cost is unknown), as attributes and in ``to_dict()`` (the MCP tool error, the CLI's JSON)."""
    exc.run_id, exc.cost_usd = run_id, call_cost(attempts)
    cost = None if exc.cost_usd is None else format(exc.cost_usd, "f")
    exc.details.update(run_id=run_id, cost_usd=cost, cost_unknown=exc.cost_usd is None)


def call_cost(attempts: list[AttemptRecord]) -> Decimal | None:
    """What the whole call cost: every attempt, retries and fallbacks included (an unusable answer is
    billed too). None when any attempt's cost is unknown: a lower bound would read as the cost."""
    total = Decimal(0)
    for a in attempts:  # a loop, not a generator for each of the two questions (a frame each, every call)
        if a.cost_usd is None:
            return None
        total += a.cost_usd
    return total


def refused_unplanned(exc: MagsagError, run_id: str, skill: str, agent: str | None) -> AttemptRecord | None:
    """The attempt a policy refused while the call was planned (:attr:`PolicyDenied.unplanned`), as the cascade
    records one it refuses: ``policy_denied``, its target first and on its first try, never sent, at $0. Else None.
    Without it the refusal was a run with no attempt, in no ``policy_denied_attempts`` and no unsent call."""
    target = getattr(exc, "unplanned", None)
    if not isinstance(exc, PolicyDenied) or target is None:
        return None
    from .rates import bare_model

    model = bare_model(target.provider, target.model)  # as the cascade records it (see cascade_report.attempt_record)
    record = AttemptRecord(run_id, time.time(), target.provider, model, skill, agent, "policy_denied", 0, 1)
    record.error_class, record.error_message = exc.kind, exc.message
    record.cost_usd = Decimal(0)  # never sent: it cost nothing (a NULL cost would count it as unpriced)
    record.data_classes = exc.unplanned_classes  # refused for them: recorded as the cascade's attempts record theirs
    return record


def run_status(exc: MagsagError) -> str:
    """The status a failed call's run is recorded with: a governance refusal keeps its own."""
    if isinstance(exc, PolicyDenied) or (
        isinstance(exc, AllTargetsFailed) and isinstance(exc.last_error, PolicyDenied)
    ):
        return "policy_denied"
    if isinstance(exc, BudgetExceeded) or (
        isinstance(exc, AllTargetsFailed) and isinstance(exc.last_error, BudgetExceeded)
    ):
        return "budget_exceeded"
    return "error"


def callback_error(exc: Exception) -> MagsagError:
    """What the ledger records for a call that its caller's progress callback failed (the caller gets what it raised):
    the caller's own, not a bug of magsag-mcp's, which the run's record said it was."""
    return MagsagError(
        f"the caller's progress callback raised {type(exc).__name__}: {excerpt(str(exc), 300)}",
        exception=type(exc).__name__,
    )


def bug_error(bug: Exception) -> MagsagError:
    """The error of a call that a bug of ours failed outside an attempt (an exception outside the tree of errors.py),
    as the ledger records it and the caller gets it (raised from the bug, whose traceback is kept): the tree's base
    kind, ``error``, what was raised (``exception``) and where to report it. Recorded with no kind, the run read as
    the abandoned stand-in's 'error' (a record with no error kind: see ledger.abandoned.unrecord_abandoned), which a
    late record of the call it stood for turned back to 'ok', hiding the failure; and a query showed no reason at all.
    Raised as it was, the caller saw a bare TypeError (the CLI a traceback, an MCP client "details in the server's
    log"), with neither the run it was recorded under nor what it cost."""
    said_without_keys(bug)  # (the error is raised from it: its text is printed in every traceback of it)
    return MagsagError(
        f"unexpected {type(bug).__name__} in magsag-mcp (a bug): {excerpt(str(bug), 300)}; the call is recorded "
        "under its run_id with what it spent. Please report it to magsag-mcp's maintainers with the traceback logged "
        "under magsag_mcp.service",
        exception=type(bug).__name__,
    )
