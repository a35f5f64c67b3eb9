"""The Anthropic fake's extended thinking: the signed thinking its models write (:data:`THINKING`, :func:`signed`), and
what the Messages API refuses of a request with thinking on or off (:func:`thinking_refused`), in its words."""

from __future__ import annotations

import hashlib
from typing import Any

#: the Anthropic fake's thinking (its signature, its text), and the encrypted thinking of its redacted_thinking
#: block, each as :func:`signed` by the model that thought: a thinking block sent back changed (another signature or
#: text, or none), or to another model, is refused, as the API refuses one
THINKING = ("EqQBCkgIARABGAIiQL2f", "The user wants the weather; call get_weather.")
REDACTED_THINKING = "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlx"


def signed(value: str, model: str) -> str:
    """A thinking block's ``signature`` (or a redacted one's ``data``) as ``model`` made it: the API's are bound to the
    model that thought, and another model answers 400 "Invalid `signature` in `thinking` block" to them."""
    return value + hashlib.sha256(model.encode()).hexdigest()[:8]


def thinking_on(body: dict[str, Any]) -> bool:
    return (body.get("thinking") or {}).get("type") in ("enabled", "adaptive")


def tool_loop(body: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    """The assistant messages of the turn in progress: those after the last user message that is more than
    tool results. Claude thinks at the start of that turn only, not again after each tool result."""
    messages = body.get("messages") or []
    start = 0
    for i, m in enumerate(messages):
        blocks = m["content"] if isinstance(m["content"], list) else [{"type": "text"}]
        if m["role"] == "user" and any(b.get("type") != "tool_result" for b in blocks):
            start = i + 1
    return [(i, m) for i, m in enumerate(messages) if i >= start and m["role"] == "assistant"]


def thinking_refused(body: dict[str, Any]) -> str | None:
    """What the API answers 400 to in a request with extended thinking on (or off), as its messages say."""
    messages = body.get("messages") or []
    sent = [(i, b) for i, m in enumerate(messages) if isinstance(m["content"], list) for b in m["content"]]
    thinks = [(i, b) for i, b in sent if b.get("type") in ("thinking", "redacted_thinking")]
    if not thinking_on(body):
        last = max((i for i, m in enumerate(messages) if m["role"] == "assistant"), default=None)
        if any(i == last for i, _ in thinks):
            return (
                f"messages.{last}.content.0: When thinking is disabled, an `assistant` message in the final "
                "position cannot contain `thinking`. To use thinking blocks, enable `thinking` in your request."
            )
        return None
    doc = " Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking"
    temperature = body.get("temperature")
    if temperature is not None and temperature != 1:
        return f"`temperature` may only be set to 1 when thinking is enabled or in adaptive mode.{doc}"
    # "Thinking isn't compatible with temperature or top_k modifications"; "you can set top_p to values between 1
    # and 0.95"
    if "top_k" in body:
        return f"`top_k` is not supported when thinking is enabled.{doc}"
    if body.get("top_p", 1) < 0.95:
        return f"`top_p` must be greater than or equal to 0.95 or unset when thinking is enabled.{doc}"
    if (body.get("tool_choice") or {}).get("type") in ("any", "tool"):
        return "Thinking may not be enabled when tool_choice forces tool use."
    budget = body["thinking"].get("budget_tokens")
    if budget is not None and body["max_tokens"] <= budget:
        return f"`max_tokens` must be greater than `thinking.budget_tokens`.{doc}"
    loop = tool_loop(body)
    # a turn with tool calls, or a final assistant message (a prefill), must start with the turn's thinking
    calls = any(b.get("type") == "tool_use" for _, m in loop for b in m["content"])
    first = loop[0][1]["content"][0].get("type") if loop else None
    if (calls or messages[-1]["role"] == "assistant") and first not in ("thinking", "redacted_thinking"):
        return (
            f"messages.{loop[0][0]}.content.0.type: Expected `thinking` or `redacted_thinking`, but found "
            f"`{first}`. When `thinking` is enabled, a final `assistant` message must start with a thinking block "
            "(preceeding the lastmost set of `tool_use` and `tool_result` blocks). We recommend you include "
            f"thinking blocks from previous turns. To avoid this requirement, disable `thinking`.{doc}"
        )
    for i, b in thinks:
        model = str(body.get("model"))
        if b["type"] == "thinking" and (b.get("signature"), b.get("thinking")) != (
            signed(THINKING[0], model),
            THINKING[1],
        ):
            return f"messages.{i}.content.0: Invalid `signature` in `thinking` block"
        if b["type"] == "redacted_thinking" and b.get("data") != signed(REDACTED_THINKING, model):
            return f"messages.{i}.content.0: Invalid `data` in `redacted_thinking` block"
    return None
