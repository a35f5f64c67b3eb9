"""The caller's tool names as each API takes them, and its answer's calls under the caller's names again.

A function's name is the caller's to choose, and MCP clients namespace theirs (``github.create_issue``,
``fs/read_file``), but OpenAI's APIs and Claude take letters, digits, ``_`` and ``-`` only (Chat Completions: "with a
maximum length of 64", the Responses API and Claude: up to 128, ``^[a-zA-Z0-9_-]{1,128}$``), and Gemini the same up
to 63 (its API also: "must start with a letter or an underscore"): any other name was a 400 that stopped the call at
the first such target. Such a name is sent with each other character as ``_`` (cut to the API's length, and made
unique among the call's names with a suffix), wherever the request names it (the tools, a named tool_choice, the
history's calls and results), and the calls the model makes of it come back under the caller's own name. A name the
API takes goes as it is, and the same on every turn, so a cached prompt's prefix stays the same.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from ..types import LLMRequest, LLMResult, Message, ToolCall

#: what a tool name may not hold, on every API
_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]")
#: a name Gemini takes begins so
_START = re.compile(r"[a-zA-Z_]")


class ToolNames:
    """The names of one call's tools as sent, and back (:func:`fitted`)."""

    __slots__ = ("sent", "back")

    def __init__(self, sent: dict[str, str]) -> None:
        self.sent = sent
        self.back = {wire: name for name, wire in sent.items()}

    def restore(self, result: LLMResult) -> None:
        """The answer's calls under the caller's names."""
        for call in result.tool_calls:
            call.name = self.back.get(call.name, call.name)


def _fits(name: str, limit: int, letter_first: bool) -> bool:
    return 0 < len(name) <= limit and not _UNSAFE.search(name) and (not letter_first or bool(_START.match(name)))


def fitted(
    request: LLMRequest, limit: int | None, *, letter_first: bool = False, api: str = "the API"
) -> tuple[LLMRequest, ToolNames | None, tuple[str, ...]]:
    """``request`` with each tool name ``api`` does not take (:data:`_UNSAFE`, longer than ``limit``; with
    ``letter_first``, one that does not begin with a letter or ``_``) fitted to it, the names as sent, and a note for
    each name changed; ``request`` as it is (and None) where every name fits, or ``limit`` is None (an API that takes
    any name). The notes are a tuple: an empty one is no new object (an empty list was, which the attempt held while
    it waited for the answer, for the cyclic collector to walk and promote at 200 callers)."""
    if limit is None:
        return request, None, ()
    names = _names(request)
    # (nearly every call: nothing to change; most name no tool at all, asked first: all() over a generator of none
    # costs some 2,000 instructions, on every attempt)
    if not names or all(_fits(n, limit, letter_first) for n in names):
        return request, None, ()
    sent = {n: n for n in names if _fits(n, limit, letter_first)}
    taken = set(sent.values())
    notes: list[str] = []
    for name in names:
        if name in sent:
            continue
        base = _UNSAFE.sub("_", name)
        if letter_first and not _START.match(base):
            base = "_" + base
        base = base[:limit] or "tool"
        wire, n = base, 1
        while wire in taken:
            n += 1
            suffix = f"_{n}"
            wire = base[: limit - len(suffix)] + suffix
        sent[name] = wire
        taken.add(wire)
        notes.append(
            f"the tool {name!r} was sent as {wire!r} ({api} takes a tool name of letters, digits, _ and - only, up to "
            f"{limit} characters{', beginning with a letter or _' if letter_first else ''}); its calls are returned "
            "under its own name"
        )
    return _renamed(request, sent), ToolNames(sent), tuple(notes)


def _names(request: LLMRequest) -> list[str]:
    """Every tool name the request says, once each, in order: the tools', then those of the history's calls and
    results of tools no longer offered, then a named tool_choice's."""
    seen: dict[str, None] = {}
    for t in request.tools:  # (a loop, not a comprehension: a frame of its own on every attempt, most of none)
        seen[t.name] = None
    for msg in request.messages:
        for tc in msg.tool_calls:
            seen.setdefault(tc.name, None)
        if msg.role == "tool" and msg.name:
            seen.setdefault(msg.name, None)
    choice = request.tool_choice
    if isinstance(choice, dict) and isinstance(choice.get("name"), str):
        seen.setdefault(choice["name"], None)
    return list(seen)


def _renamed(request: LLMRequest, sent: dict[str, str]) -> LLMRequest:
    def call(tc: ToolCall) -> ToolCall:
        return tc if sent[tc.name] == tc.name else replace(tc, name=sent[tc.name])

    def message(msg: Message) -> Message:
        if msg.tool_calls:
            return replace(msg, tool_calls=[call(tc) for tc in msg.tool_calls])
        if msg.role == "tool" and msg.name in sent:
            return replace(msg, name=sent[msg.name])
        return msg

    choice: Any = request.tool_choice
    if isinstance(choice, dict) and choice.get("name") in sent:
        choice = {**choice, "name": sent[choice["name"]]}
    return replace(
        request,
        tools=[t if sent[t.name] == t.name else replace(t, name=sent[t.name]) for t in request.tools],
        tool_choice=choice,
        messages=[message(m) for m in request.messages],
    )
