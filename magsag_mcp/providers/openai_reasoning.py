"""The reasoning a Responses API tool call carries back: a reasoning model's items before a function call ride on the
call's ``signature`` (:data:`REASONING_TAG` and their JSON), to go back with it in the next turn, and only to the
endpoint that encrypted them (another cannot decrypt them: 400 ``invalid_encrypted_content``)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from ..types import LLMRequest

#: what marks a ToolCall's ``signature`` as the Responses API's reasoning items before the call (JSON after it)
REASONING_TAG = "openai-reasoning:"


def is_reasoning(signature: str | None) -> bool:
    """Whether a ToolCall's signature holds OpenAI reasoning items (which no other vendor takes)."""
    return isinstance(signature, str) and signature.startswith(REASONING_TAG)


def signature_for(reasoning: list[dict[str, Any]], model: str) -> str | None:
    """The reasoning items that came before a function call, as its call's signature: a reasoning model's tool
    calls must go back with them (OpenAI's function-calling guide), and with ``store: false`` only their
    ``encrypted_content`` carries them (an id alone is refused: "Items are not persisted when store is false").
    Items without it cannot go back, and are not kept. ``model``: the target's, whose own reasoning they are."""
    kept = [
        {
            "type": "reasoning",
            "id": r["id"],
            "summary": r.get("summary") or [],
            "encrypted_content": r["encrypted_content"],
        }
        for r in reasoning
        if isinstance(r.get("id"), str) and isinstance(r.get("encrypted_content"), str) and r["encrypted_content"]
    ]
    return REASONING_TAG + json.dumps({"model": model, "items": kept}, separators=(",", ":")) if kept else None


def made_by(signature: str | None) -> dict[str, Any] | None:
    """What :func:`signature_for` wrote into ``signature``, or None for any other signature."""
    if not is_reasoning(signature):
        return None
    try:
        made = json.loads(signature[len(REASONING_TAG) :])  # type: ignore[index]
    except (ValueError, RecursionError):
        return None
    return made if isinstance(made, dict) else None


def with_origin(signature: str | None, origin: str) -> str | None:
    """``signature`` marked as the reasoning of the endpoint ``origin`` (``Endpoint.origin``): another endpoint
    serving a model of the same name (an Azure deployment named ``o3`` after OpenAI's o3, another Azure resource)
    cannot decrypt it, and answers 400 ``invalid_encrypted_content``. Any other signature as it is."""
    made = made_by(signature)
    if made is None:
        return signature
    made["origin"] = origin
    return REASONING_TAG + json.dumps(made, separators=(",", ":"))


def without_reasoning(request: LLMRequest) -> LLMRequest:
    """``request`` with no OpenAI reasoning on its tool calls (``request`` itself when it has none)."""
    if not any(is_reasoning(tc.signature) for m in request.messages for tc in m.tool_calls):
        return request
    messages = [
        replace(
            m, tool_calls=[replace(tc, signature=None) if is_reasoning(tc.signature) else tc for tc in m.tool_calls]
        )
        if m.tool_calls
        else m
        for m in request.messages
    ]
    return replace(request, messages=messages)


def reasoning_items(signature: str | None, model: str) -> list[dict[str, Any]]:
    """The items :func:`signature_for` made, as the input takes them, when ``model`` is the one that reasoned:
    encrypted reasoning is its own model's, and another (a fallback, a local server's Responses API) is sent none.
    [] for any other signature, or one that is not as it was made (the caller sends it back: a broken one would
    be refused, and stop the cascade)."""
    made = made_by(signature)
    if made is None or made.get("model") != model:
        return []
    items = made.get("items")
    if not isinstance(items, list) or not all(_as_made(i) for i in items):
        return []
    return items


def _as_made(item: Any) -> bool:
    return (
        isinstance(item, dict)
        and item.keys() == {"type", "id", "summary", "encrypted_content"}
        and item["type"] == "reasoning"
        and isinstance(item["id"], str)
        and isinstance(item["summary"], list)
        and isinstance(item["encrypted_content"], str)
        and bool(item["encrypted_content"])
    )
