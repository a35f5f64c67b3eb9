"""The tool calls of an OpenAI-format answer: their arguments and names as the API gives them, and the calls
OpenAI's chat models at times wrap in a call of their own internal tool; the ids a request's history sends them back
under (:class:`WireCallIds`)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from .. import strict_json
from ..errors import MalformedResponseError, excerpt
from ..types import Image, Message, ToolCall
from .call_pairs import SentCallIds


def tool_output(msg: Message) -> str:
    """A tool message's content as sent. Neither Chat Completions nor the Responses API has a mark of a call that
    failed (Anthropic's ``is_error``, MCP's ``isError``): a failed one's result goes under "error", as Gemini takes
    it (``{"error": "Timeout after 30 s"}``, a JSON result as itself), or the model reads the failure as the output."""
    if not msg.is_error:
        return msg.content or ""
    try:
        value = strict_json.loads(msg.content) if msg.content else "(no output)"
    except (ValueError, RecursionError):
        value = msg.content
    return json.dumps({"error": value}, ensure_ascii=False)


def tool_parts(msg: Message) -> list[str | Image]:
    """A tool result's texts and pictures as sent, where it holds a picture (``msg.parts``): a failed call's texts as
    one, under "error" as :func:`tool_output` writes it, before its pictures; an empty text left out."""
    if msg.is_error:
        return [tool_output(msg), *msg.images]
    return [part for part in msg.parts if not isinstance(part, str) or part]


#: the longest tool call id each API takes: Chat Completions' ``tool_calls[].id`` (400 "string too long. Expected a
#: string with maximum length 40"), the Responses API's ``call_id`` (the spec's maxLength)
CHAT_ID_LIMIT = 40
RESPONSES_ID_LIMIT = 64


class WireCallIds(SentCallIds):
    """The tool call ids of a request's history as sent: each one an id no earlier call of the request has, and no
    longer than ``limit``; each result under the id, as sent, of the call it answers (:class:`.SentCallIds`).

    Ids may repeat in a history (a server that gives its calls none has each answer's named ``call_0``; one may give
    parallel calls one id) and be long (Gemini's made-up ``call_<answer>_<n>_<function name>``, a gateway's): the
    Responses API pairs an output with its call by ``call_id`` alone and refuses one given twice (400 "Duplicate
    function_call_output for call_id"), and OpenAI refuses an id past its length. A first id that fits is sent as it
    is; the others as made here, the same on every turn, so a cached prompt's prefix stays the same."""

    limit: int

    def fitted(self, call_id: str | None) -> str:
        """``call_id`` within the limit: a longer one cut, with 8 hex digits of its hash after (two that begin
        alike stay two)."""
        call_id = call_id or "call"
        if len(call_id) <= self.limit:
            return call_id
        digest = hashlib.sha256(call_id.encode()).hexdigest()[:8]
        return f"{call_id[: self.limit - 9]}_{digest}"


def parse_arguments(raw: Any, *, provider: str, model: str, cut: bool = False) -> dict[str, Any]:
    """Tool-call arguments arrive as a JSON string; a model that breaks it is a malformed answer. ``cut``:
    the answer stopped at max_tokens, which is why the JSON would be unfinished."""
    if isinstance(raw, dict):
        return raw
    if raw in (None, ""):
        return {}
    try:
        value = strict_json.loads(raw)  # NaN and Infinity are no JSON: a model wrote them, not the caller's tool
    except (TypeError, ValueError):
        why = (
            "tool-call arguments cut short by max_tokens before their JSON was complete (raise max_tokens)"
            if cut
            else "tool-call arguments that are not JSON"
        )
        raise MalformedResponseError(
            f"{provider}:{model} returned {why}: {excerpt(str(raw), 120)!r}", provider=provider, model=model
        ) from None
    if not isinstance(value, dict):
        raise MalformedResponseError(
            f"{provider}:{model} returned tool-call arguments that are not a JSON object",
            provider=provider,
            model=model,
        )
    return value


def call_name(name: Any, *, provider: str, model: str) -> str:
    """A tool call's function name. A call without one (a compatible server's broken answer; the spec requires it)
    is a malformed answer, still priced at the usage it reports, rather than a crash of unknown cost."""
    if isinstance(name, str) and name:
        return name
    raise MalformedResponseError(
        f"{provider}:{model} returned a tool call without a function name", provider=provider, model=model
    )


#: the internal tool OpenAI's chat models at times wrap parallel calls in (its name holds a dot, which no function
#: name the API takes does: it cannot be one of the caller's tools)
PARALLEL_WRAPPER = "multi_tool_use.parallel"


def unwrapped(calls: list[ToolCall]) -> list[ToolCall]:
    """``calls`` with each call of :data:`PARALLEL_WRAPPER` replaced by the calls it wraps, ``{"tool_uses":
    [{"recipient_name": "functions.NAME", "parameters": {...}}]}``, each under its wrapper's id and its place in it
    (``call_9_0``, ``call_9_1``). Returned as it came, the caller got one call of a tool it never offered, and the
    calls it asked for were lost."""
    for call in calls:  # most answers: no wrapper, nothing built
        if call.name == PARALLEL_WRAPPER:
            break
    else:
        return calls
    out: list[ToolCall] = []
    for call in calls:
        uses = call.arguments.get("tool_uses") if call.name == PARALLEL_WRAPPER else None
        if not isinstance(uses, list) or not uses or not all(_a_use(use) for use in uses):
            out.append(call)
            continue
        for n, use in enumerate(uses):
            name = use["recipient_name"].removeprefix("functions.")
            out.append(ToolCall(f"{call.id}_{n}", name, use.get("parameters") or {}))
    return out


def _a_use(use: Any) -> bool:
    return (
        isinstance(use, dict)
        and isinstance(use.get("recipient_name"), str)
        and bool(use["recipient_name"].removeprefix("functions."))
        and isinstance(use.get("parameters") or {}, dict)
    )
