"""A history with a tool call left without its result: every vendor refuses it (OpenAI's Chat Completions and
Responses APIs, Claude and Gemini each answer 400), so it is refused before any target is called, with the call that
waits for a result named, and the run recorded."""

from __future__ import annotations

from pathlib import Path

import pytest

from magsag_mcp.catalog import load_catalog
from magsag_mcp.errors import PayloadError
from magsag_mcp.ledger import UsageFilters
from magsag_mcp.routing import plan_call
from magsag_mcp.service import Service
from tests.fakes.openai_server import DEFAULT_KEY, FakeOpenAI

CATALOG = Path(__file__).resolve().parent.parent / "catalog"
ASK = {"role": "user", "content": "Weather and time in Oslo?"}
TWO = {
    "role": "assistant",
    "tool_calls": [
        {"id": "call_w7x", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}},
        {"id": "call_t9k", "function": {"name": "get_time", "arguments": '{"city": "Oslo"}'}},
    ],
}
#: a server that numbers each answer's calls from call_0: two calls of one id
SAME_ID = {
    "role": "assistant",
    "tool_calls": [
        {"id": "call_0", "name": "get_weather", "arguments": {"city": "Oslo"}},
        {"id": "call_0", "name": "get_weather", "arguments": {"city": "Bergen"}},
    ],
}


def _result(call_id: str, content: str = "ok") -> dict:
    return {"role": "tool", "tool_call_id": call_id, "content": content}


def _said(i: int, j: int, name: str, call_id: str) -> str:
    return (
        f"model_config.messages[{i}].tool_calls[{j}] ({name}, id {call_id!r}) has no result: every tool call needs a "
        f"tool message {{'role': 'tool', 'tool_call_id': {call_id!r}, 'content': ...}} right after the assistant "
        "message, before the next user or assistant message (a vendor refuses a call left unanswered); send the "
        "tool's result, or its failure with 'is_error': true"
    )


@pytest.fixture(scope="module")
def catalog():
    return load_catalog(CATALOG)


def _plan(catalog, messages: list[dict]):
    return plan_call(
        catalog, "skill.analysis", {"data": "x", "model_config": {"messages": messages}}, context=None, env={}
    )


@pytest.mark.parametrize(
    ("messages", "said"),
    [
        # one of two parallel calls answered, then the user goes on
        ([ASK, TWO, _result("call_w7x"), {"role": "user", "content": "go on"}], _said(1, 1, "get_time", "call_t9k")),
        # the history ends on the calls themselves
        ([ASK, TWO], _said(1, 0, "get_weather", "call_w7x")),
        # the result comes, but after another turn: the API looks for it right after the calls
        (
            [ASK, TWO, _result("call_w7x"), {"role": "assistant", "content": "One moment."}, _result("call_t9k")],
            _said(1, 1, "get_time", "call_t9k"),
        ),
        # two calls of one id and one result: the second call has none
        ([ASK, SAME_ID, _result("call_0"), {"role": "user", "content": "and?"}], _said(1, 1, "get_weather", "call_0")),
    ],
)
def test_a_tool_call_without_its_result_is_refused_naming_it(catalog, messages, said):
    with pytest.raises(PayloadError) as info:
        _plan(catalog, messages)
    assert info.value.message == said


def test_every_call_answered_passes_whatever_the_order_of_its_results_and_ids(catalog):
    answered = [ASK, TWO, _result("call_t9k", "12:00"), _result("call_w7x", "3 C"), {"role": "user", "content": "ok?"}]
    same = [ASK, SAME_ID, _result("call_0", "3 C"), _result("call_0", "5 C")]
    for messages in (answered, same):
        plan = _plan(catalog, messages)
        assert [m.tool_call_id for m in plan.request.messages if m.role == "tool"] == [
            m["tool_call_id"] for m in messages if m["role"] == "tool"
        ]


@pytest.mark.anyio
@pytest.mark.parametrize("api", ["chat", "responses"])
async def test_an_unanswered_call_reaches_no_vendor_and_the_run_is_recorded(fake_openai: FakeOpenAI, tmp_path, api):
    env = {"OPENAI_BASE_URL": fake_openai.url + "/v1", "OPENAI_API_KEY": DEFAULT_KEY}
    tools = [
        {"type": "function", "function": {"name": n, "parameters": {"type": "object"}}}
        for n in ("get_weather", "get_time")
    ]
    history = [ASK, TWO, _result("call_w7x"), {"role": "user", "content": "go on"}]
    mc = {"provider": "openai", "model": "gpt-4o", "params": {"api": api}, "tools": tools, "messages": history}
    svc = await Service.open(catalog=CATALOG, db=tmp_path / "l.db", env=env)
    try:
        with pytest.raises(PayloadError) as info:
            await svc.invoke_skill("skill.analysis", {"data": "Q3", "model_config": mc}, run_id="r-open-call")
        [run] = await svc.query_runs(UsageFilters(run_id="r-open-call"))
    finally:
        await svc.aclose()
    assert info.value.message == _said(1, 1, "get_time", "call_t9k")
    assert fake_openai.requests == [] and run["status"] == "error"
