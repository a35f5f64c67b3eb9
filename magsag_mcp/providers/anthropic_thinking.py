"""Extended thinking on the Messages API: what a request with thinking on can carry, and the thinking
blocks a tool call must bring back.

A target turns thinking on with a vendor parameter (``params: {thinking: {type: enabled, budget_tokens:
N}}``, or ``{type: adaptive}``), while the rest of the request comes from the skill and the call. The API
refuses (400 invalid_request_error, which would stop the whole cascade as a bad request) a request with
thinking on that has

- a temperature other than 1, a top_k, a top_p below 0.95: each is left out, as for the models that take none;
- a forced tool (``tool_choice`` any or tool): a JSON schema is then asked for in the system prompt and
  checked, as with the caller's tools; a tool the *call* forces is the call's to decide, so the request
  goes without thinking;
- ``max_tokens`` not above ``budget_tokens``: the budget is lowered below ``max_tokens`` (which the
  skill set and budgets reserve), or, when that leaves less than the API's minimum, thinking is left out;
- ``budget_tokens`` below the API's minimum (1024): it is raised to the minimum, within ``max_tokens``;
- a turn in progress (the model's messages since the last user message that is more than tool results)
  with tool calls, whose first message does not start with its thinking blocks as they came (signature
  and all): the blocks ride on the tool calls (:func:`signature_for`), and a turn without them (another
  vendor's, a client that kept only id, name and arguments) is sent without thinking, the one way the
  API takes it; so is a call that ends with an assistant message (a prefill), which cannot start with
  thinking.

With thinking off, no thinking block is sent back: the API refuses one in the final assistant turn. A model that
thinks adaptively only (Claude Opus 4.7 and after) is sent thinking with a budget as ``{type: adaptive}``.
"""

from __future__ import annotations

import json
from typing import Any

from ..max_tokens_limit import MAX_TOKENS_AT_MOST
from ..text import said_number
from ..types import LLMRequest
from .empty_answers import RAISE_MAX_TOKENS

#: what marks a ToolCall's ``signature`` as Anthropic thinking blocks (JSON after it), not Gemini's signature
TAG = "anthropic-thinking:"
#: the API's least ``budget_tokens``
MIN_BUDGET = 1024
_KINDS = ("thinking", "redacted_thinking")


def signature_for(blocks: list[dict[str, Any]], model: str) -> str | None:
    """The thinking and redacted_thinking blocks that came before a tool_use block, as its call's signature, with
    ``model`` (the target's, whose thinking they are): a block's signature is bound to the model that thought, and
    another Claude model refuses it (400 "Invalid `signature` in `thinking` block")."""
    kept = []
    for block in blocks:
        if block.get("type") == "thinking":
            kept.append(
                {"type": "thinking", "thinking": block.get("thinking") or "", "signature": block.get("signature") or ""}
            )
        elif block.get("type") == "redacted_thinking":
            kept.append({"type": "redacted_thinking", "data": block.get("data") or ""})
    made = {"model": model, "blocks": kept}
    return TAG + json.dumps(made, ensure_ascii=False, separators=(",", ":")) if kept else None


def is_thinking(signature: str | None) -> bool:
    """Whether a ToolCall's signature holds Anthropic thinking blocks (which no other vendor takes)."""
    return isinstance(signature, str) and signature.startswith(TAG)


def thinking_blocks(signature: str | None, model: str) -> list[dict[str, Any]]:
    """The blocks :func:`signature_for` made, as the API takes them back to ``model``; [] for any other signature, and
    for blocks another model made (a fallback, a loop moved to another model), which ``model`` refuses: its turn goes
    without thinking. (A signature made before the model was kept in it, a bare list of blocks, names none.)

    A signature comes back from the caller: one whose thinking is not as :func:`signature_for` made it (not
    JSON, nested past what the parser takes, a field missing or of another type, a key the API does not take)
    gives [], as no signature does, and its turn goes without thinking: its blocks sent were refused (400
    invalid_request_error, which stops the whole cascade as a bad request). Blocks of other types are left out."""
    if not is_thinking(signature):
        return []
    try:
        blocks = json.loads(signature[len(TAG) :])  # type: ignore[index]
    except (ValueError, RecursionError):
        return []
    if isinstance(blocks, dict) and blocks.keys() == {"model", "blocks"}:
        if blocks["model"] != model:
            return []
        blocks = blocks["blocks"]
    if not isinstance(blocks, list):
        return []
    kept = [b for b in blocks if isinstance(b, dict) and b.get("type") in _KINDS]
    return kept if all(map(_as_made, kept)) else []


def _as_made(block: dict[str, Any]) -> bool:
    """Whether a thinking block is as :func:`signature_for` makes it: those keys only, of those types."""
    if block["type"] == "thinking":
        text, signature = block.get("thinking"), block.get("signature")
        return block.keys() == {"type", "thinking", "signature"} and isinstance(text, str) and _filled(signature)
    return block.keys() == {"type", "data"} and _filled(block.get("data"))


def _filled(value: Any) -> bool:
    return isinstance(value, str) and bool(value)


def thinking_setting(extra: dict[str, Any]) -> dict[str, Any] | None:
    """The request's thinking configuration when it turns thinking on, else None."""
    config = extra.get("thinking")
    return config if isinstance(config, dict) and config.get("type") in ("enabled", "adaptive") else None


def adaptive_only(model: str, extra: dict[str, Any], notes: list[str]) -> None:
    """For a model that thinks adaptively only (Claude Opus 4.7 and the models after it: 400 '"thinking.type.enabled"
    is not supported for this model'), thinking with a budget in ``extra`` is sent as ``{type: adaptive}`` (its other
    settings, such as ``display``, kept), saying so: refused, the target never answered."""
    config = extra.get("thinking")
    if isinstance(config, dict) and config.get("type") == "enabled":
        extra["thinking"] = {
            "type": "adaptive",
            **{k: v for k, v in config.items() if k not in ("type", "budget_tokens")},
        }
        budget = said_number(config.get("budget_tokens"))  # (str() of an int of 5,000 digits raised ValueError)
        notes.append(
            f"{model} takes adaptive thinking only; thinking with budget_tokens {budget} was sent as {{type: adaptive}}"
        )


def settle(
    request: LLMRequest, messages: list[dict[str, Any]], max_tokens: int, extra: dict[str, Any], notes: list[str]
) -> bool:
    """Makes ``extra`` (the vendor params sent) fit a request with thinking on, noting each change.
    Returns whether thinking stays on; with it off, ``extra`` sends none."""
    config = thinking_setting(extra)
    if config is None:
        return False
    why = None
    if request.tools and (isinstance(request.tool_choice, dict) or request.tool_choice == "required"):
        why = "the call forces a tool (tool_choice), which Anthropic does not take with thinking on"
    elif messages and messages[-1]["role"] == "assistant" and messages[-1]["content"][0]["type"] not in _KINDS:
        why = (
            "the call ends with the assistant's message (a prefill the answer continues), which Anthropic does "
            "not take with thinking on"
        )
    elif _unsigned_tool_turn(messages):
        why = (
            "the tool calls of the turn in progress came without their thinking blocks (another model's turn, or "
            "tool_calls sent back without their signature, or with one changed from what invoke returned), which "
            "Anthropic does not take with thinking on"
        )
    budget = config.get("budget_tokens")
    if why is None and isinstance(budget, int) and not isinstance(budget, bool) and budget < MIN_BUDGET:
        if max_tokens <= MIN_BUDGET:
            why = (
                f"its budget_tokens ({budget}) must be at least {MIN_BUDGET} and below max_tokens ({max_tokens}); "
                f"raise max_tokens above {MIN_BUDGET} to think"
            )
        else:
            extra["thinking"] = {**config, "budget_tokens": MIN_BUDGET}
            notes.append(
                f"Anthropic takes a thinking budget_tokens of at least {MIN_BUDGET}; {budget} was sent as {MIN_BUDGET}"
            )
    elif why is None and isinstance(budget, int) and not isinstance(budget, bool) and budget >= max_tokens:
        # (said by its size past some digits: str() of an int of 5,000 raised ValueError, out of the provider)
        said = said_number(budget)
        if max_tokens - 1 < MIN_BUDGET:
            # (no max_tokens is above a budget of MAX_TOKENS_AT_MOST or more: the call would refuse it)
            fix = (
                f"raise max_tokens above {budget}"
                if budget < MAX_TOKENS_AT_MOST
                else f"lower budget_tokens below {MAX_TOKENS_AT_MOST:,} (the most max_tokens may be)"
            )
            why = (
                f"its budget_tokens ({said}) must be below max_tokens ({max_tokens}) and at least {MIN_BUDGET}; "
                f"{fix} to think"
            )
        else:
            extra["thinking"] = {**config, "budget_tokens": max_tokens - 1}
            notes.append(
                f"Anthropic takes a thinking budget_tokens only below max_tokens ({max_tokens}); {said} was sent as "
                f"{max_tokens - 1}: {RAISE_MAX_TOKENS} to think more"
            )
    if why is not None:
        extra.pop("thinking")
        notes.append(f"extended thinking was not sent: {why}")
        return False
    return True


def _unsigned_tool_turn(messages: list[dict[str, Any]]) -> bool:
    """Whether the turn in progress (the assistant messages after the last user message that is more than tool
    results) has tool calls and does not start with a thinking block. Claude thinks once, at the start of its
    turn: the answers after tool results have no thinking of their own, and need none."""
    start = 0
    for i, message in enumerate(messages):
        if message["role"] == "user" and any(b["type"] != "tool_result" for b in message["content"]):
            start = i + 1
    turn = [m for m in messages[start:] if m["role"] == "assistant"]
    calls = any(b["type"] == "tool_use" for m in turn for b in m["content"])
    return calls and turn[0]["content"][0]["type"] not in _KINDS
