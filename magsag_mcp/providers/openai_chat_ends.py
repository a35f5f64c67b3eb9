"""How a Chat Completions answer, whole or streamed, ended: the finish reasons servers give, an answer the server
interrupted, a refusal, and the answer's text as servers write its ``content``."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from ..errors import (
    ContentFilteredError,
    ContextTooLongError,
    MalformedResponseError,
    OverloadedError,
    ProviderError,
    ProviderTimeoutError,
    ServerError,
    excerpt,
)
from ..text import one_line
from ..types import FinishReason, ToolCall, Usage
from .content_filters import filtered
from .wire_format import with_reported_usage

__all__ = [
    "FILTERED",
    "FINISH_REASONS",
    "filtered_as",
    "INTERRUPTED",
    "NOT_FINISHED",
    "SERVER_ENDS",
    "content_text",
    "finish_of",
    "interrupted",
    "legacy_call",
    "refused",
    "refused_beside",
    "server_end",
    "unknown_reason",
    "with_calls",
]


FINISH_REASONS: dict[str | None, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
    # compatible servers' own words for the same ends: Together's "eos", TGI's and watsonx's "eos_token" and
    # "stop_sequence", what an Anthropic-style server says; read as "other", an empty answer passed for the answer
    "eos": "stop",
    "eos_token": "stop",
    "stop_sequence": "stop",
    "end_turn": "stop",
    "tool_use": "tool_calls",  # (an Anthropic-style server's answer of tool calls: Bedrock's gateways pass it on)
    "max_tokens": "length",
    "model_length": "length",  # Mistral's: the model's context window ended the answer
    "model_context_window_exceeded": "length",  # the Messages API's (and Bedrock Converse's): see SERVER_ENDS
    "refusal": "content_filter",  # the Messages API's: its classifiers stopped the answer, as Claude's reader reads it
    # a filter's stop in another vendor's words, passed on by a gateway in front of it: Gemini's finishReason (in its
    # case, "SAFETY": see finish_of) and Bedrock Converse's stopReason. Read as "other", the text a safety filter
    # stopped came back as the answer, where the vendor's own reader fails it as content_filtered
    "safety": "content_filter",
    "recitation": "content_filter",
    "prohibited_content": "content_filter",
    "blocklist": "content_filter",
    "spii": "content_filter",
    "image_safety": "content_filter",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
    "time_limit": "length",  # watsonx's: the request's time limit cut the answer (see SERVER_ENDS)
    "token_limit": "length",  # watsonx's: the model's token limit (its context window) cut the answer (SERVER_ENDS)
}
#: what a finish_reason "content_filter" (the Responses API's incomplete_details.reason) says, in the error
#: :func:`~.content_filters.filtered` makes of it
FILTERED = "the answer was withheld by the provider's content filter"
#: a server's word for an answer it stopped short itself, whatever it had written by then: DeepSeek's "the request is
#: interrupted due to insufficient resource of the inference system", Mistral's "error", vLLM's "abort", watsonx's
#: "cancelled" (the request was cancelled before the answer ended, as the Responses API's status "cancelled" says)
INTERRUPTED = frozenset({"insufficient_system_resource", "error", "abort", "cancelled"})
#: watsonx's word for a piece of an answer with more to come: a stream's chunk carrying it has not ended the answer
NOT_FINISHED = "not_finished"


@dataclass(frozen=True, slots=True)
class ServerEnd:
    """What a compatible server's own end means (:data:`SERVER_ENDS`): ``said``, what it did; ``cut``, the warning's
    rest of an answer it ended, with the fix; ``empty``, the error of one with nothing in it (its class, and the rest of
    its message)."""

    #: what it did, the word said in ``{field}``: the field the answer's wire writes it in (see :func:`server_end`)
    said: str
    cut: str
    empty: tuple[type[ProviderError], str]


_TIME_LIMIT_FIX = "raise the time limit (the target's params.time_limit, in ms), or ask for less"
_WINDOW_FIX = "shorten the prompt, or use a model with a larger context window"
_NOT_ANSWERED = ServerEnd(
    "",
    "what came may not be an answer; ask again, or use another model",
    (MalformedResponseError, "there is no answer"),
)
#: a compatible server's word for an end that is neither the answer's own nor max_tokens' (read as "other", a cut
#: answer passed for a whole one with only "a reason magsag does not know" to say it; a "length" one said to be
#: max_tokens'), and what it means. watsonx's "time_limit": the time limit the request set (its ``time_limit``) ran out:
#: cut, and with nothing a timeout of the server's (retried on the last target alone, as a timeout is). The Messages
#: API's (and Bedrock Converse's) "model_context_window_exceeded", a gateway in front of Claude passing it on: the
#: context window cut it, more max_tokens would not help, and with nothing the prompt left no room (as Claude's reader
#: reads it). Ollama's ``done_reason`` "load" and "unload" (its /v1 endpoint passes them on as finish_reason): it loaded
#: or unloaded the model instead of answering, which it does for a request with no messages; with nothing, no answer
#: (the next target tried: the same request would be answered the same way)
SERVER_ENDS: dict[str, ServerEnd] = {
    "time_limit": ServerEnd(
        "stopped at the server's time limit ({field}: time_limit)",
        f"the answer is cut short; {_TIME_LIMIT_FIX}",
        (ProviderTimeoutError, f"before any answer: {_TIME_LIMIT_FIX}"),
    ),
    "model_context_window_exceeded": ServerEnd(
        "stopped at its context window ({field}: model_context_window_exceeded)",
        f"the answer is cut short; {_WINDOW_FIX}",
        (ContextTooLongError, f"before any answer: the prompt left no room for one; {_WINDOW_FIX}"),
    ),
    # watsonx's stop reasons (TextGenResult.stop_reason: "token_limit - Token limit reached", "not_finished - Possibly
    # more tokens to be streamed"): read as unknown words, a cut answer came back as an "other" one said to end for a
    # reason magsag does not know. The token limit is the model's, prompt and answer together (more max_tokens would
    # not help, as at Claude's context window); "not_finished" on the last word is an answer that did not end
    "token_limit": ServerEnd(
        "stopped at the model's token limit ({field}: token_limit, watsonx's)",
        f"the answer is cut short; {_WINDOW_FIX}",
        (ContextTooLongError, f"before any answer: the prompt left no room for one; {_WINDOW_FIX}"),
    ),
    NOT_FINISHED: ServerEnd(
        "ended on an answer it had not finished ({field}: not_finished, watsonx's: more was to come)",
        "the answer may be incomplete; ask again, or use another model",
        (MalformedResponseError, "there is no answer"),
    ),
    "load": replace(
        _NOT_ANSWERED, said="loaded the model instead of answering ({field}: load, Ollama's done_reason)"
    ),
    "unload": replace(
        _NOT_ANSWERED, said="unloaded the model instead of answering ({field}: unload, Ollama's done_reason)"
    ),
}


def filtered_as(finish_reason: Any, field: str = "finish_reason") -> str:
    """`` (finish_reason: SAFETY)``, how an error of a filter's stop says the word a server gave when it is not the
    spec's own "content_filter" (which :data:`FILTERED` says): the word names the filter. ``field`` is where the
    answer's wire wrote it (see :func:`server_end`)."""
    return "" if finish_reason == "content_filter" else f" ({field}: {one_line(str(finish_reason), 60)})"


def finish_of(finish_reason: Any) -> FinishReason:
    """How an answer whose ``finish_reason`` this is ended: one of :data:`FINISH_REASONS` in any case (a gateway in
    front of Gemini passes on its "STOP" and "MAX_TOKENS": read as "other", an empty "STOP" passed for an answer and
    a "MAX_TOKENS" cut went unsaid, while :func:`unknown_reason` called them known), else "other". The spec's own
    words, most answers', are looked up once. (Not an interruption's: :data:`INTERRUPTED` is read before.)"""
    known = FINISH_REASONS.get(finish_reason)
    if known is None and isinstance(finish_reason, str):  # (a number a broken server wrote is "other")
        known = FINISH_REASONS.get(finish_reason.lower())
    return known or "other"


def unknown_reason(finish_reason: Any) -> bool:
    """Whether ``finish_reason`` is a word no server is known to end an answer with (read as "other"): not one of
    :data:`FINISH_REASONS` in any case ("STOP"), nor an interruption, nor a server's own end (:data:`SERVER_ENDS`), nor
    none at all (a null finish, which servers write on whole answers)."""
    if finish_reason is None or finish_reason == "" or finish_reason in FINISH_REASONS or finish_reason in INTERRUPTED:
        return False  # (the spec's words first: most answers end "stop", looked up once)
    return str(finish_reason).lower() not in FINISH_REASONS and finish_reason not in SERVER_ENDS


def server_end(
    finish_reason: str,
    came: bool,
    usage: Usage | None,
    *,
    provider: str,
    model: str,
    field: str = "finish_reason",
) -> str:
    """The warning of an answer a server's own end stopped (:data:`SERVER_ENDS`): what came is returned, said to be
    cut. With nothing in it there is no answer, billed at ``usage``: the end's error is raised. ``field`` is where the
    answer's wire wrote the word: Chat Completions' ``finish_reason``, the Responses API's
    ``incomplete_details.reason`` (said as Chat's word there, it named a field that answer has not)."""
    end = SERVER_ENDS[finish_reason]
    said = f"{provider}:{model} {end.said.format(field=field)}"
    if not came:
        cls, why = end.empty
        exc = cls(f"{said} {why}" if why.startswith("before") else f"{said}: {why}", provider=provider, model=model)
        if usage is not None and usage.reported:
            exc.usage = usage  # recorded at what it cost
        else:
            exc.maybe_billed = True
        raise exc
    return f"{said}: {end.cut}"


def with_calls(finish: FinishReason, calls: list[ToolCall]) -> FinishReason:
    """An answer of tool calls finishes as "tool_calls", as the Responses API's and Gemini's are read: Ollama before
    0.3, vLLM (a required tool_choice), OVMS and OpenAI's gpt-4o (a named tool_choice) finish one with "stop", or
    none, which a caller that runs tools on "tool_calls" took for an answer with nothing to run."""
    return "tool_calls" if calls and finish in ("stop", "other") else finish


def legacy_call(function_call: Any) -> list[dict[str, Any]]:
    """The deprecated ``function_call`` of a message (or of a stream's delta: a piece of it) as the one tool call it
    stands for, in ``tool_calls``' shape; none where there is none. Compatible servers that still speak it (older
    LocalAI, FastChat, some gateways) send it in place of ``tool_calls``: unread, the call was lost and the answer,
    finish_reason "function_call" with no call, was an empty answer of tool calls. It has no id (one is made up),
    and a stream's pieces of it are of one call, kept apart from any ``tool_calls`` index (-1).

    One with neither a name nor arguments is none: gateways written on openai-go's structs put its zero value,
    ``{"name": "", "arguments": ""}``, on every message and delta of a text answer (read as a call, the answer failed as
    a tool call without a function name)."""
    if not isinstance(function_call, dict) or not (function_call.get("name") or function_call.get("arguments")):
        return []
    return [{"index": -1, "type": "function", "function": function_call}]


def interrupted(
    finish_reason: str, usage: Usage | None, *, provider: str, model: str, field: str = "finish_reason"
) -> ServerError:
    """The error of an answer the server interrupted (:data:`INTERRUPTED`; the Responses API's status "cancelled",
    ``field`` then "status"): what it wrote is not the whole answer, and passed as one it was (read as "other", with
    no word of it). Asked again, as a server error is; billed at the usage it reports."""
    cls = OverloadedError if finish_reason == "insufficient_system_resource" else ServerError
    said = f"{provider}:{model}: the server interrupted the answer ({field} {finish_reason!r}); it is not whole"
    exc = cls(said, provider=provider, model=model)
    with_reported_usage(exc, usage)
    return exc


def refused(refusal: str, usage: Usage | None, *, provider: str, model: str) -> ContentFilteredError:
    """The model declined (chat's ``message.refusal``, the Responses API's ``refusal`` content part): there is
    no answer, only the refusal's text, which says why. Billed like any answer: the error carries the usage."""
    return filtered(f"the model refused: {excerpt(refusal, 200)!r}", usage, provider=provider, model=model)


def refused_beside(refusal: str, provider: str, model: str) -> str:
    """The warning for a refusal that came beside an answer (chat's ``message.refusal`` beside its content or tool
    calls, the Responses API's ``refusal`` part beside an ``output_text`` or a call): the answer is returned, and the
    refusal, dropped with no word, left a caller reading the text alone to take it for all that was asked."""
    return (
        f"{provider}:{model} refused part of the request beside its answer: {excerpt(refusal, 200)!r}; the answer is "
        "returned without it: check it is all that was asked"
    )


def content_text(content: Any) -> str:
    """``content`` as text: the spec's string, or (Mistral's reasoning models and servers copying them) a list
    of parts in the request's shape, whose "text" parts are the answer and whose "thinking" ones are not."""
    if isinstance(content, list):
        return "".join(str(p.get("text") or "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return content if isinstance(content, str) else ""
