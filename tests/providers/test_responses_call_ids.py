"""The Responses API pairs a ``function_call_output`` with its ``function_call`` by ``call_id`` alone, anywhere in the
input, and refuses an id given twice (400 "Duplicate function_call_output for call_id ..."). A tool loop's history
may repeat ids all the same: a compatible server that gives its calls none has each answer's named ``call_0`` (the
Chat Completions reader's), one may give parallel calls one id, and a fallback brings another vendor's history."""

from __future__ import annotations

import pytest

from magsag_mcp.providers.openai_responses import ResponsesFormat
from magsag_mcp.types import LLMRequest, Message, ToolCall

from .test_wire import CASES, WEATHER, last_body, setup

pytestmark = pytest.mark.anyio


def _pairs(body: dict) -> list[tuple[str, str, str]]:
    """(kind, call_id, name or output) of each function item, in order."""
    return [
        (i["type"], i["call_id"], i.get("name") or i.get("output"))
        for i in body["input"]
        if i.get("type") in ("function_call", "function_call_output")
    ]


def _call(call_id: str, city: str) -> ToolCall:
    return ToolCall(call_id, "get_weather", {"city": city})


async def test_ids_repeated_across_turns_are_sent_unique_and_each_result_with_its_call(serve, transport):
    [case] = [c for c in CASES if c.name == "openai-responses"]
    fake, provider, target = await setup(case, serve, transport)
    fake.queue({"text": "Oslo 3, Bergen 5."})
    history = [
        Message("user", "Weather in Oslo?"),
        Message("assistant", None, tool_calls=[_call("call_0", "Oslo")]),
        Message("tool", "3", tool_call_id="call_0", name="get_weather"),
        Message("assistant", "Oslo is 3."),
        Message("user", "And Bergen?"),
        Message("assistant", None, tool_calls=[_call("call_0", "Bergen")]),
        Message("tool", "5", tool_call_id="call_0", name="get_weather"),
    ]
    result = await provider.complete(LLMRequest(history, tools=[WEATHER], max_tokens=100), target)
    assert result.text == "Oslo 3, Bergen 5." and fake.violations == []
    pairs = _pairs(last_body(fake))
    assert pairs[:2] == [("function_call", "call_0", "get_weather"), ("function_call_output", "call_0", "3")]
    (_, second, _), (_, answered, output) = pairs[2:]
    assert second != "call_0" and answered == second and output == "5"


async def test_parallel_calls_of_one_id_each_get_their_own_result_in_order(serve, transport):
    [case] = [c for c in CASES if c.name == "openai-responses"]
    fake, provider, target = await setup(case, serve, transport)
    fake.queue({"text": "Oslo 3, Bergen 5."})
    history = [
        Message("user", "Weather in Oslo and Bergen?"),
        Message("assistant", None, tool_calls=[_call("call_0", "Oslo"), _call("call_0", "Bergen")]),
        Message("tool", "3", tool_call_id="call_0", name="get_weather"),
        Message("tool", "5", tool_call_id="call_0", name="get_weather"),
    ]
    await provider.complete(LLMRequest(history, tools=[WEATHER], max_tokens=100), target)
    assert fake.violations == []
    body = last_body(fake)
    calls = [i for i in body["input"] if i.get("type") == "function_call"]
    outputs = {i["call_id"]: i["output"] for i in body["input"] if i.get("type") == "function_call_output"}
    assert [c["arguments"] for c in calls] == ['{"city": "Oslo"}', '{"city": "Bergen"}']
    assert [outputs[c["call_id"]] for c in calls] == ["3", "5"]


def test_a_made_id_is_no_id_of_the_history():
    # the suffix that makes a repeated id unique is not an id another call of the history already has
    history = [
        Message("user", "Weather?"),
        Message("assistant", None, tool_calls=[_call("call_0", "Oslo"), _call("call_0_2", "Rome")]),
        Message("tool", "3", tool_call_id="call_0"),
        Message("tool", "20", tool_call_id="call_0_2"),
        Message("assistant", None, tool_calls=[_call("call_0", "Bergen")]),
        Message("tool", "5", tool_call_id="call_0"),
    ]
    body, _ = ResponsesFormat().build(LLMRequest(history, tools=[WEATHER]), "gpt-4o", stream=False)
    ids = [i["call_id"] for i in body["input"] if i.get("type") == "function_call"]
    assert len(set(ids)) == 3 and ids[:2] == ["call_0", "call_0_2"]
    outputs = {i["call_id"]: i["output"] for i in body["input"] if i.get("type") == "function_call_output"}
    assert [outputs[i] for i in ids] == ["3", "20", "5"]


#: the id Gemini's reader makes for a call Gemini gave none: ``call_<answer>_<n>_<function name>``
LONG_NAME = "search_internal_knowledge_base_for_policy_documents"
LONG_ID = f"call_0a1b2c3d_0_{LONG_NAME}"


@pytest.mark.parametrize("name", ["openai", "openai-responses", "azure"])
async def test_an_id_past_the_apis_length_is_sent_cut_and_its_result_with_it(name, serve, transport):
    # a fallback after Gemini named a call of a long-named function: OpenAI answered 400 "string too long" (40
    # characters on Chat Completions, 64 on the Responses API), a bad request that stopped the cascade
    [case] = [c for c in CASES if c.name == name]
    fake, provider, target = await setup(case, serve, transport)
    fake.queue({"text": "Found it."})
    tool = type(WEATHER)(LONG_NAME, "Search", WEATHER.parameters)
    history = [
        Message("user", "Find the travel policy."),
        Message("assistant", None, tool_calls=[ToolCall(LONG_ID, LONG_NAME, {"city": "x"})]),
        Message("tool", "policy.pdf", tool_call_id=LONG_ID, name=LONG_NAME),
    ]
    result = await provider.complete(LLMRequest(history, tools=[tool], max_tokens=100), target)
    assert result.text == "Found it." and fake.violations == []
    body = last_body(fake)
    if "input" in body:
        pairs = _pairs(body)
        assert len(pairs[0][1]) <= 64 and pairs[1][1] == pairs[0][1]
    else:
        sent = body["messages"][1]["tool_calls"][0]["id"]
        assert len(sent) <= 40 and body["messages"][2]["tool_call_id"] == sent
