"""A tool whose name an API does not take (an MCP client's ``github.create_issue``): sent fitted to each API's rule,
wherever the request names it, and its calls returned under the caller's own name, through a whole tool loop."""

from __future__ import annotations

import json
from typing import Any

import pytest

from magsag_mcp.types import LLMRequest, Message, ToolSpec

from .test_wire import CASES, IDS, last_body, setup

pytestmark = pytest.mark.anyio
PARAMS = {"type": "object", "properties": {"title": {"type": "string"}}, "required": ["title"]}
#: MCP clients' namespaced names; the last one fits every API already, and the second one's fitted name would be it
TOOLS = [
    ToolSpec("github.create_issue", "Open an issue", PARAMS),
    ToolSpec("github/search_issues", "Search issues", PARAMS),
    ToolSpec("github_search_issues", "Search issues, the old way", PARAMS),
]
SENT = ["github_create_issue", "github_search_issues_2", "github_search_issues"]


def _tool_names(case: str, body: dict[str, Any]) -> list[str]:
    if case == "anthropic" or case in ("openai-responses", "local"):
        return [t["name"] for t in body["tools"]]
    if case == "google":
        return [d["name"] for d in body["tools"][0]["functionDeclarations"]]
    return [t["function"]["name"] for t in body["tools"]]


def _history_names(case: str, body: dict[str, Any]) -> list[str]:
    """The names of the calls and results the body's history holds, in order."""
    if case == "anthropic":
        blocks = [b for m in body["messages"] for b in m["content"] if isinstance(b, dict)]
        return [b["name"] for b in blocks if b["type"] == "tool_use"]
    if case == "google":
        parts = [p for c in body["contents"] for p in c["parts"]]
        return [p[k]["name"] for p in parts for k in ("functionCall", "functionResponse") if k in p]
    if case in ("openai-responses", "local"):
        return [i["name"] for i in body["input"] if i.get("type") == "function_call"]
    return [tc["function"]["name"] for m in body["messages"] for tc in m.get("tool_calls") or []]


def _choice_name(case: str, body: dict[str, Any]) -> str:
    choice = body.get("tool_choice") or body.get("toolConfig", {}).get("functionCallingConfig")
    if case == "google":
        return choice["allowedFunctionNames"][0]
    return choice["function"]["name"] if "function" in choice else choice["name"]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_a_tool_name_an_api_refuses_is_sent_fitted_and_its_calls_come_back_under_it(
    case, serve, transport, stream
):
    fake, provider, target = await setup(case, serve, transport)
    # the model calls the tools by the names it was given
    calls = [{"id": "call_k3x", "name": SENT[0], "arguments": {"title": "Bug"}}]
    calls.append({"id": "call_m4y", "name": SENT[1], "arguments": {"title": "crash"}})
    fake.queue({"tool_calls": calls}, {"text": "Filed."})
    ask = [Message("user", "File the bug, and look for others")]
    choice = {"name": "github.create_issue"}
    first = await provider.complete(
        LLMRequest(ask, tools=TOOLS, tool_choice=choice, max_tokens=100, stream=stream), target
    )
    assert fake.violations == [] and first.finish_reason == "tool_calls"
    body = last_body(fake)
    assert _tool_names(case.name, body) == SENT and _choice_name(case.name, body) == "github_create_issue"
    assert [(c.name, c.arguments) for c in first.tool_calls] == [
        ("github.create_issue", {"title": "Bug"}),
        ("github/search_issues", {"title": "crash"}),
    ]
    assert first.warnings[0] == (
        f"the tool 'github.create_issue' was sent as 'github_create_issue' ({target.provider}:{target.model} takes a "
        "tool name of letters, digits, _ and - only, up to "
        f"{ {'anthropic': 128, 'openai-responses': 128, 'local': 128, 'google': 63}.get(case.name, 64) } characters"
        f"{', beginning with a letter or _' if case.name == 'google' else ''}); its calls are returned under its own "
        "name"
    )
    # the next turn sends the calls back, under the caller's names as invoke returned them, with their results
    history = [*ask, Message("assistant", None, tool_calls=list(first.tool_calls))]
    for call in first.tool_calls:
        history.append(Message("tool", json.dumps({"ok": call.name}), tool_call_id=call.id, name=call.name))
    second = await provider.complete(LLMRequest(history, tools=TOOLS, max_tokens=100, stream=stream), target)
    assert second.text == "Filed." and fake.violations == []
    body = last_body(fake)
    expected = SENT[:2] if case.name != "google" else [SENT[0], SENT[1], SENT[0], SENT[1]]
    assert _history_names(case.name, body) == expected


async def test_names_every_api_takes_go_as_they_are_with_no_warning(serve, transport):
    [case] = [c for c in CASES if c.name == "anthropic"]
    fake, provider, target = await setup(case, serve, transport)
    fake.queue({"tool_calls": [{"id": "toolu_7q", "name": "get-weather_2", "arguments": {"title": "x"}}]})
    tools = [ToolSpec("get-weather_2", "Weather", PARAMS)]
    result = await provider.complete(LLMRequest([Message("user", "w")], tools=tools, max_tokens=50), target)
    assert result.tool_calls[0].name == "get-weather_2" and result.warnings == []
    assert last_body(fake)["tools"][0]["name"] == "get-weather_2"


def test_a_request_naming_no_tool_is_sent_as_it_is():
    from magsag_mcp.providers.tool_names import fitted

    plain = LLMRequest(messages=[Message("user", "hi"), Message("assistant", "hello"), Message("user", "again")])
    for limit, letter_first in ((64, False), (64, True), (None, False)):
        sent, names, notes = fitted(plain, limit, letter_first=letter_first)
        assert sent is plain and names is None and notes == ()
