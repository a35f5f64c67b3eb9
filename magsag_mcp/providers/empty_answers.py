"""Answers with nothing in them, whatever their format: one that ended as a whole answer ends, and one that
max_tokens cut before any of it was written; and an answer that ended for a reason magsag does not know."""

from __future__ import annotations

from typing import Any

from ..errors import MalformedResponseError
from ..text import one_line
from ..types import LLMRequest, LLMResult, Usage

#: the finish reasons of an answer that ended as a whole one does: with nothing in it, there was no answer
_WHOLE = frozenset({"stop", "tool_calls"})


def no_answer(result: LLMResult, stop_sent: bool, provider: str, model: str) -> MalformedResponseError | None:
    """The error for an answer that ended as a whole one ("stop", or "tool_calls" with no call) with no text and
    no tool call, or None. OpenAI's models at times answer so (content null or "", finish_reason "stop"; a
    Responses output of reasoning alone), as Claude's and Gemini's do: billed, and no answer; the next target may
    serve the call. A call whose stop sequences were sent (``stop_sent``) may stop at once on one, and that empty
    text is the answer; where they were left out (o3, gpt-5, the Responses API), none ended it."""
    if result.tool_calls or result.finish_reason not in _WHOLE or stop_sent or result.text.strip():
        return None
    exc = MalformedResponseError(
        f"{provider}:{model}: no usable answer (finish_reason: {result.finish_reason}, with no content)",
        provider=provider,
        model=model,
    )
    if result.usage is not None and result.usage.reported:
        exc.usage = result.usage  # recorded at what it cost
    else:
        exc.maybe_billed = True
    return exc


#: where the max_tokens to raise is set: a call's model_config wins, and a routing target's params are sent over the
#: skill's (see Plan.request_for), so raising the skill's changes nothing for a target whose params set one
RAISE_MAX_TOKENS = (
    "raise max_tokens (model_config.max_tokens; else the routing target's params.max_tokens where it sets one, "
    "else the skill's)"
)


def cut_at_max_tokens(result: LLMResult, request: LLMRequest, server_limits: bool = False) -> str:
    """The warning of an answer that max_tokens cut: paid for, and not whole, which a caller reading only the
    text (an MCP client, most agents) would not know from ``finish_reason`` alone.

    Cut after whole tool calls, it says the turn was cut and what may be lost after them (returned with only
    ``finish_reason`` "length" to say it, the calls passed for the whole turn). Cut before any of it was written, it
    is said as such: a reasoning model (o-series, gpt-5, Gemini 2.5 and
    later, Claude with thinking) spends its thinking tokens from the same allowance, and a small one leaves
    nothing for the answer. ``server_limits``: the format's "length" also stands for a limit of the server's
    own (OpenAI's formats, which local servers speak): a count short of max_tokens says that one stopped it."""
    limit = f" ({request.max_tokens})" if request.max_tokens else ""
    if (cut := server_cut(result, request, server_limits)) is not None:
        return f"{result.provider}:{result.model} stopped at {cut[0]}, so {cut[1]}"
    fix = RAISE_MAX_TOKENS
    if result.tool_calls:
        # the calls came whole (a call cut mid-JSON is refused by its wire), but the turn did not end: the calls the
        # model had still to write, or its text after them, were lost; a caller that runs the calls and reads the
        # text alone would take them for the whole turn
        n = len(result.tool_calls)
        calls = f"{n} tool call{'s' if n > 1 else ''}"
        return (
            f"{result.provider}:{result.model} stopped at max_tokens{limit} after {calls}: the turn is cut short, and "
            f"any call or text still to come is lost; {fix}"
        )
    if result.text and not result.text.isspace():
        return f"{result.provider}:{result.model} stopped at max_tokens{limit}: the answer is cut short; {fix}"
    reasoning = result.usage.reasoning_tokens if result.usage is not None else 0
    spent = f"after {reasoning:,} reasoning tokens, which count against it" if reasoning else "before any text"
    return f"{result.provider}:{result.model} answered with nothing: it stopped at max_tokens{limit} {spent}; {fix}"


def server_cut(result: LLMResult, request: LLMRequest, server_limits: bool) -> tuple[str, str] | None:
    """What cut a "length" answer, and the fix, where its count says it was a limit of the server's and not
    max_tokens (see :func:`cut_at_max_tokens`); None otherwise."""
    if not server_limits or result.finish_reason != "length":
        return None
    short = _short_of_max_tokens(result, request)
    if short is None:
        return None
    return (
        f"a length limit after {short:,} output tokens, short of max_tokens ({request.max_tokens})",
        "a limit of the server's cut the answer short: most likely the model's context window, filled by the prompt "
        "and the answer (a local server's context size), or the server's cap on output; shorten the prompt, or "
        "raise the server's limit (raising max_tokens would not help)",
    )


def _short_of_max_tokens(result: LLMResult, request: LLMRequest) -> int | None:
    """The output tokens counted, where they are short of the request's max_tokens, or None. The reasoning is
    added to them whether the server counted it inside the completion (OpenAI) or beside it (xAI): a count
    that might have reached max_tokens is taken to have, as is one a token short (a server that counts one token
    of the limit's, an end marker, apart)."""
    usage = result.usage
    if not request.max_tokens or usage is None or not usage.reported:
        return None
    counted = usage.output_tokens + usage.reasoning_tokens
    return usage.output_tokens if counted + 1 < request.max_tokens else None


def unknown_end(reason: Any, field: str, came: bool, usage: Usage | None, *, provider: str, model: str) -> str | None:
    """The warning for an answer that ended for a reason its wire's reader does not know (``reason``, the vendor's
    word in ``field``: a stop reason newer than this reader, such as Claude's "compaction", or a compatible server's
    own), as Gemini's are warned of (:func:`~.gemini_notes.stopped_early`): read as "other", its text came back as a
    whole answer with no word that it may not be. With nothing in it (``came`` False) it is no answer, billed: the
    error, at ``usage``, is raised (returned, an empty success passed for the answer, the next target untried).
    None for no reason given, or one the caller knows: the reader's own (read as "stop", "length", ...) are not
    passed here."""
    if reason is None or reason == "":
        return None
    shown = one_line(str(reason), 60)  # (a server's word: on one line, without its control characters)
    if not came:
        empty = MalformedResponseError(
            f"{provider}:{model}: no usable answer ({field}: {shown}, with no content)", provider=provider, model=model
        )
        if usage is not None and usage.reported:
            empty.usage = usage  # recorded at what it cost
        else:
            empty.maybe_billed = True
        raise empty
    return (
        f"{provider}:{model} stopped its answer for a reason magsag does not know ({field}: {shown}): it may not be "
        "whole; ask again, or use another model"
    )
