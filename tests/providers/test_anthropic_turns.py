"""Anthropic's Messages API: a conversation's turns as the API takes them: tool call ids (another vendor's,
repeated, shared by parallel calls), tool results (empty, failed: is_error / isError), and content written as
blocks."""

from __future__ import annotations

import json

import pytest

from magsag_mcp import errors as E
from magsag_mcp.call_request import _messages as payload_messages
from magsag_mcp.types import LLMRequest, Message, ToolCall

from .anthropic_helpers import ANTHROPIC, GOOGLE
from .test_wire import WEATHER, last_body, setup

pytestmark = pytest.mark.anyio


async def test_another_vendors_tool_call_ids_are_sent_as_the_api_takes_them(serve, transport):
    # Tool calls answered by a compatible server (vLLM's Kimi K2 parser: "functions.get_weather:0") and then sent to
    # Claude (a fallback, the next turn): the API takes ids of letters, digits, _ and - only, and answered 400
    # "tool_use.id: String should match pattern", a bad request that stopped the cascade.
    fake, provider, target = await setup(ANTHROPIC, serve, transport)
    fake.queue({"text": "3 and 5 degrees."})
    calls = [
        ToolCall("functions.get_weather:0", "get_weather", {"city": "Oslo"}),
        ToolCall("call 1", "get_weather", {}),
    ]
    history = [
        Message("user", "Weather in Oslo and Rome?"),
        Message("assistant", None, tool_calls=calls),
        Message("tool", '{"c": 3}', tool_call_id="functions.get_weather:0"),
        Message("tool", '{"c": 5}', tool_call_id="call 1"),
    ]
    result = await provider.complete(LLMRequest(history, tools=[WEATHER], max_tokens=50), target)
    assert result.text == "3 and 5 degrees." and fake.violations == []
    turns = last_body(fake)["messages"]
    assert [b["id"] for b in turns[1]["content"]] == ["functions_get_weather_0", "call_1"]
    assert [b["tool_use_id"] for b in turns[2]["content"]] == ["functions_get_weather_0", "call_1"]


async def test_tool_call_ids_repeated_across_turns_are_sent_unique(serve, transport):
    # Gemini 2.x gives its function calls no id, and the answer's reader names each call_<n>_<name> (a compatible server
    # without ids, call_<n>): a tool loop of two steps there holds call_0_get_weather twice, as invoke returned it. Sent
    # on to Claude (a fallback, the next turn), the API answered 400 "`tool_use` ids must be unique", a bad request that
    # stopped the cascade. So did two ids that differ only in characters the API does not take ("a.1", "a:1").
    fake, provider, target = await setup(ANTHROPIC, serve, transport)
    fake.queue({"text": "3 and 5 degrees."})
    history = [
        Message("user", "Weather in Oslo, then Rome?"),
        Message("assistant", None, tool_calls=[ToolCall("call_0_get_weather", "get_weather", {"city": "Oslo"})]),
        Message("tool", '{"c": 3}', tool_call_id="call_0_get_weather"),
        Message("assistant", None, tool_calls=[ToolCall("call_0_get_weather", "get_weather", {"city": "Rome"})]),
        Message("tool", '{"c": 5}', tool_call_id="call_0_get_weather"),
        Message("user", "And Paris and Lima?"),
        Message("assistant", None, tool_calls=[ToolCall("a.1", "get_weather", {}), ToolCall("a:1", "get_weather", {})]),
        Message("tool", '{"c": 9}', tool_call_id="a:1"),
        Message("tool", '{"c": 7}', tool_call_id="a.1"),
    ]
    result = await provider.complete(LLMRequest(history, tools=[WEATHER], max_tokens=50), target)
    assert result.text == "3 and 5 degrees." and fake.violations == []
    turns = last_body(fake)["messages"]
    uses = [b["id"] for t in turns for b in t["content"] if b["type"] == "tool_use"]
    assert len(set(uses)) == 4 and uses[0] == "call_0_get_weather" and uses[2] == "a_1"
    # each result still answers its own call: the one in the turn just before it
    assert turns[2]["content"][0]["tool_use_id"] == uses[0] and turns[4]["content"][0]["tool_use_id"] == uses[1]
    assert [b["tool_use_id"] for b in turns[6]["content"][:2]] == [uses[3], uses[2]]


async def test_parallel_calls_of_one_id_each_get_their_own_result(serve, transport):
    # A server that gives parallel calls one id (call_0 for each), whose results the caller sends back in the calls'
    # order: the second call went as call_0_2, and both results answered it, the latest call of their id. The first
    # call had no result (400 "tool_use ids were found without tool_result blocks", a bad request that stopped the
    # cascade), and the second two. Each result answers the first call of its id not yet answered in the turn before
    # it; a later turn's call of the same id is answered anew.
    fake, provider, target = await setup(ANTHROPIC, serve, transport)
    fake.queue({"text": "3 and 5 degrees; 9 in Lima."})
    history = [
        Message("user", "Weather in Oslo and Rome?"),
        Message(
            "assistant",
            None,
            tool_calls=[
                ToolCall("call_0", "get_weather", {"city": "Oslo"}),
                ToolCall("call_0", "get_weather", {"city": "Rome"}),
            ],
        ),
        Message("tool", '{"c": 3}', tool_call_id="call_0"),
        Message("tool", '{"c": 5}', tool_call_id="call_0"),
        Message("assistant", None, tool_calls=[ToolCall("call_0", "get_weather", {"city": "Lima"})]),
        Message("tool", '{"c": 9}', tool_call_id="call_0"),
    ]
    result = await provider.complete(LLMRequest(history, tools=[WEATHER], max_tokens=50), target)
    assert result.text.startswith("3 and 5") and fake.violations == []
    turns = last_body(fake)["messages"]
    assert [b["id"] for b in turns[1]["content"]] == ["call_0", "call_0_2"]
    assert [(b["tool_use_id"], b["content"]) for b in turns[2]["content"]] == [
        ("call_0", '{"c": 3}'),
        ("call_0_2", '{"c": 5}'),
    ]
    assert [b["id"] for b in turns[3]["content"]] == ["call_0_3"]
    assert [b["tool_use_id"] for b in turns[4]["content"]] == ["call_0_3"]


async def test_a_tool_that_returned_nothing_is_still_a_result(serve, transport):
    # A tool whose output is "" (a write-only tool, a command with no stdout) went back as tool_result content "",
    # which the API takes for no result at all: 400 "`tool_use` ids were found without `tool_result` blocks
    # immediately after", a bad request that stopped the cascade. It goes back saying there was no output.
    fake, provider, target = await setup(ANTHROPIC, serve, transport)
    fake.queue({"text": "Saved."})
    history = [
        Message("user", "Save it."),
        Message("assistant", None, tool_calls=[ToolCall("toolu_1", "save", {})]),
        Message("tool", "", tool_call_id="toolu_1"),
    ]
    result = await provider.complete(LLMRequest(history, max_tokens=50), target)
    assert result.text == "Saved." and fake.violations == []
    assert last_body(fake)["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "(no output)"}
    ]


async def test_a_message_whose_content_is_text_blocks_is_sent_as_their_text(serve, transport):
    # Content as a list of text blocks, as Anthropic's and OpenAI's APIs (and an MCP tool's result) write it, was sent
    # as the JSON of the list: the model read '[{"type": "text", "text": "Weather in Oslo?"}]' as the question, and a
    # tool's result as the blocks' JSON. The text is the text; a tool's own JSON output in a list stays JSON.
    fake, provider, target = await setup(ANTHROPIC, serve, transport)
    fake.queue({"text": "3 degrees."})
    history = payload_messages(
        [
            {
                "role": "user",
                "content": [{"type": "text", "text": "Weather in Oslo?"}, {"type": "text", "text": "In Celsius."}],
            },
            {
                "role": "assistant",
                "tool_calls": [{"id": "toolu_1", "name": "get_weather", "arguments": {"city": "Oslo"}}],
            },
            {"role": "tool", "tool_call_id": "toolu_1", "content": [{"type": "text", "text": "3 degrees, clear"}]},
        ]
    )
    result = await provider.complete(LLMRequest(history, tools=[WEATHER], max_tokens=100), target)
    assert result.text == "3 degrees." and fake.violations == []
    messages = last_body(fake)["messages"]
    assert messages[0]["content"] == [{"type": "text", "text": "Weather in Oslo?\nIn Celsius."}]
    assert messages[2]["content"][0]["content"] == "3 degrees, clear"
    [data] = payload_messages([{"role": "user", "content": [{"id": 1}, {"type": "text"}]}])
    assert data.content == '[{"id": 1}, {"type": "text"}]'


def test_content_blocks_with_fields_beyond_their_text_stay_json_and_responses_text_blocks_are_text():
    # A tool's own JSON output that happens to be a list of {"type": "text", "text": ...} records with fields of
    # their own (a search tool's url and score) lost every field but the text: the model never saw the sources.
    # Only blocks that are text and nothing else the model reads (cache_control, citations) are their text; and
    # OpenAI Responses' input_text / output_text blocks are text blocks as much as "text" ones are.
    records = [
        {"type": "text", "text": "Oslo: 3 degrees", "url": "https://met.no/oslo", "score": 0.9},
        {"type": "text", "text": "Bergen: 7 degrees", "url": "https://met.no/bergen", "score": 0.7},
    ]
    [tool_output] = payload_messages([{"role": "user", "content": records}])
    assert json.loads(tool_output.content) == records
    blocks = [
        {"type": "input_text", "text": "Weather in Oslo?"},
        {"type": "text", "text": "In Celsius.", "cache_control": {"type": "ephemeral"}},
    ]
    [question] = payload_messages([{"role": "user", "content": blocks}])
    assert question.content == "Weather in Oslo?\nIn Celsius."
    [answer] = payload_messages([{"role": "assistant", "content": [{"type": "output_text", "text": "3 degrees."}]}])
    assert answer.content == "3 degrees."


def test_an_mcp_tool_results_text_blocks_with_their_meta_are_their_text():
    # An MCP client hands on a tool's CallToolResult content as the server sent it: its text blocks may carry _meta
    # (MCP's field for the client, never the model's), and such a result went to the model as the blocks' JSON, its
    # metadata included, not as the text.
    content = [
        {"type": "text", "text": "3 degrees, clear", "_meta": {"io.example/trace": "abc"}},
        {"type": "text", "text": "wind 4 m/s", "annotations": {"audience": ["assistant"]}},
    ]
    [_, result] = payload_messages(
        [
            {"role": "assistant", "tool_calls": [{"id": "c1", "name": "get_weather", "arguments": {"city": "Oslo"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": content, "isError": False},
        ]
    )
    assert result.content == "3 degrees, clear\nwind 4 m/s"


async def test_a_tool_result_that_is_an_error_says_so_to_claude_and_to_gemini(serve, transport):
    # A tool message marked is_error (a tool that failed: Anthropic's tool_result field, which MCP's CallToolResult
    # says as isError) lost the mark: Claude read "Timeout after 30 s" as the tool's output, and so did Gemini, whose
    # functionResponse takes an "error" key for a call that failed. Each is told it failed, in its own words.
    history = payload_messages(
        [
            {"role": "user", "content": "Weather in Oslo and Rome?"},
            {
                "role": "assistant",
                "tool_calls": [
                    {"id": "toolu_1", "name": "get_weather", "arguments": {"city": "Oslo"}},
                    {"id": "toolu_2", "name": "get_weather", "arguments": {"city": "Rome"}},
                ],
            },
            {"role": "tool", "tool_call_id": "toolu_1", "content": '{"c": 3}'},
            {"role": "tool", "tool_call_id": "toolu_2", "content": "Timeout after 30 s", "is_error": True},
        ]
    )
    fake, provider, target = await setup(ANTHROPIC, serve, transport)
    fake.queue({"text": "3 degrees in Oslo; Rome's weather could not be read."})
    await provider.complete(LLMRequest(history, tools=[WEATHER], max_tokens=100), target)
    assert fake.violations == []
    assert last_body(fake)["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": '{"c": 3}'},
        {"type": "tool_result", "tool_use_id": "toolu_2", "content": "Timeout after 30 s", "is_error": True},
    ]
    fake, provider, target = await setup(GOOGLE, serve, transport)
    fake.queue({"text": "3 degrees in Oslo; Rome's weather could not be read."})
    await provider.complete(LLMRequest(history, tools=[WEATHER], max_tokens=100), target)
    assert fake.violations == []
    answers = [p["functionResponse"] for p in last_body(fake)["contents"][2]["parts"]]
    assert [a["response"] for a in answers] == [{"c": 3}, {"error": "Timeout after 30 s"}]


@pytest.mark.parametrize("flag", ["yes", 1, None])
def test_is_error_takes_true_or_false_and_only_on_a_tool_result(flag):
    calls = {"role": "assistant", "tool_calls": [{"id": "c1", "name": "f", "arguments": {}}]}
    if flag is None:
        with pytest.raises(E.PayloadError, match=r"messages\[0\]\.is_error is taken on a tool result"):
            payload_messages([{"role": "user", "content": "x", "is_error": True}])
        return
    with pytest.raises(E.PayloadError, match=r"messages\[1\]\.is_error must be true or false"):
        payload_messages([calls, {"role": "tool", "tool_call_id": "c1", "content": "x", "is_error": flag}])


def test_a_tool_result_marked_as_mcp_marks_it_isError_is_an_error_result():
    # An MCP client hands on the result of a tool it called as the CallToolResult gave it: isError, MCP's spelling of
    # is_error. The key was passed over unread: the tool's failure ("Timeout after 30 s") reached Claude and Gemini as
    # its output, with no word that it failed.
    calls = {"role": "assistant", "tool_calls": [{"id": "c1", "name": "f", "arguments": {}}]}
    failed = {"role": "tool", "tool_call_id": "c1", "content": "Timeout after 30 s", "isError": True}
    assert payload_messages([calls, failed])[1].is_error is True
    assert payload_messages([calls, {**failed, "isError": False}])[1].is_error is False
    with pytest.raises(E.PayloadError, match=r"messages\[1\]\.isError must be true or false"):
        payload_messages([calls, {**failed, "isError": "yes"}])
    with pytest.raises(E.PayloadError, match=r"messages\[1\] has is_error false and isError true"):
        payload_messages([calls, {**failed, "is_error": False}])
    with pytest.raises(E.PayloadError, match=r"messages\[0\]\.isError is taken on a tool result"):
        payload_messages([{"role": "user", "content": "x", "isError": True}])
