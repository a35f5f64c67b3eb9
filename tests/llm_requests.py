"""Requests the provider tests send: one user message, and whatever else a test sets."""

from __future__ import annotations

from typing import Any

from magsag_mcp.types import LLMRequest, Message


def ask(text: str = "hello", **kw: Any) -> LLMRequest:
    """A request of one user message, ``text``; ``kw`` are further LLMRequest fields (stream, tools, ...)."""
    return LLMRequest(messages=[Message("user", text)], **kw)
