"""The tool calls of an OpenAI-format answer: their arguments and names as the API gives them, and the calls
OpenAI's chat models at times wrap in a call of their own internal tool."""

from __future__ import annotations

from typing import Any

from .. import strict_json
from ..errors import MalformedResponseError, excerpt
from ..types import ToolCall


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
