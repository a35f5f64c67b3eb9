"""The OpenAI formats (Chat Completions, Responses) and their endpoints against the spec-checking fake:
what the API refuses that the general wire tests (test_wire.py) do not reach."""

from __future__ import annotations

import pytest

from magsag_mcp import errors as E
from magsag_mcp.providers.json_output import JSON_INSTRUCTION
from magsag_mcp.types import LLMRequest, Message

from .test_wire import CASES, WEATHER, last_body, setup

pytestmark = pytest.mark.anyio
OPENAI_FORMATS = [c for c in CASES if c.name in ("openai", "openai-responses", "azure", "local", "compat")]


def system_sent(body: dict) -> str | None:
    if "input" in body:
        # the Responses API's JSON mode reads "json" in the input alone: a system prompt that says it goes there
        first = body["input"][0]
        return first["content"] if first.get("role") == "system" else body.get("instructions")
    first = body["messages"][0]
    return first["content"] if first["role"] == "system" else None


@pytest.mark.parametrize("case", OPENAI_FORMATS, ids=[c.name for c in OPENAI_FORMATS])
async def test_json_mode_says_json_when_no_message_does(case, serve, transport):
    # JSON mode (json_object) is answered 400 "'messages' must contain the word 'json' in some form, to use
    # 'response_format' of type 'json_object'" when no message says "json" (the spec: the caller "must also
    # instruct the model to produce JSON"): a bad request that stopped the cascade. The system prompt says it.
    fake, provider, target = await setup(case, serve, transport)
    fake.queue({"text": '{"city": "Oslo"}'})
    ask = LLMRequest([Message("user", "Where?")], system="Be brief.", json_output=True, max_tokens=50)
    result = await provider.complete(ask, target)
    assert result.parsed == {"city": "Oslo"} and fake.violations == []
    assert system_sent(last_body(fake)) == f"Be brief.\n\n{JSON_INSTRUCTION}"
    # a conversation that already says it is sent as it is
    fake.queue({"text": '{"city": "Oslo"}'})
    ask = LLMRequest([Message("user", "Where? Answer in JSON.")], system="Be brief.", json_output=True, max_tokens=50)
    await provider.complete(ask, target)
    assert system_sent(last_body(fake)) == "Be brief." and fake.violations == []


@pytest.mark.parametrize("stream", [False, True])
async def test_tool_arguments_cut_by_max_tokens_say_so(serve, transport, stream: bool):
    # finish_reason "length" inside a tool call: its arguments are unfinished JSON, which failed as "returned
    # tool-call arguments that are not JSON", naming neither the cause nor the fix.
    [case] = [c for c in CASES if c.name == "openai"]
    fake, provider, target = await setup(case, serve, transport)
    fake.queue({"tool_calls": [{"id": "c1", "name": "get_weather", "arguments": '{"city": "Os'}], "finish": "length"})
    request = LLMRequest([Message("user", "Weather?")], tools=[WEATHER], max_tokens=5, stream=stream)
    with pytest.raises(E.MalformedResponseError, match=r"cut short by max_tokens.*\(raise max_tokens\)"):
        await provider.complete(request, target)
    assert fake.violations == []


def test_responses_function_call_cut_by_max_output_tokens_says_so():
    from magsag_mcp.providers.openai_responses import ResponsesFormat

    call = {"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": '{"city": "Os'}
    body = {
        "id": "resp_1",
        "status": "incomplete",
        "incomplete_details": {"reason": "max_output_tokens"},
        "output": [call],
        "usage": {"input_tokens": 9, "output_tokens": 16, "total_tokens": 25},
    }
    with pytest.raises(E.MalformedResponseError, match=r"cut short by max_tokens.*\(raise max_tokens\)"):
        ResponsesFormat().parse_response(body, provider="openai", model="gpt-4o")


@pytest.mark.parametrize("stream", [False, True])
async def test_a_responses_call_cut_by_max_output_tokens_says_so_through_the_fake(serve, transport, stream: bool):
    # The same cut call, served by the fake: its function_call item carries the arguments as the model wrote them
    # (a str, here unfinished JSON), where the fake sent that str JSON-encoded again (a JSON string literal), which
    # the API never does and which hid the cut behind arguments that parse to a str.
    [case] = [c for c in CASES if c.name == "openai-responses"]
    fake, provider, target = await setup(case, serve, transport)
    fake.queue({"tool_calls": [{"id": "c1", "name": "get_weather", "arguments": '{"city": "Os'}], "finish": "length"})
    request = LLMRequest([Message("user", "Weather?")], tools=[WEATHER], max_tokens=5, stream=stream)
    with pytest.raises(E.MalformedResponseError, match=r"cut short by max_tokens.*\(raise max_tokens\)"):
        await provider.complete(request, target)
    assert fake.violations == [] and fake.requests[-1]["path"].endswith("/responses")


@pytest.mark.parametrize("case", OPENAI_FORMATS, ids=[c.name for c in OPENAI_FORMATS])
async def test_a_schema_name_openai_would_refuse_is_sent_in_its_alphabet(case, serve, transport):
    # response_format.json_schema.name is "a-z, A-Z, 0-9, or ... underscores and dashes, with a maximum length of
    # 64": "Person record" (a name Anthropic and Gemini take) was answered 400, which stopped the cascade.
    fake, provider, target = await setup(case, serve, transport)
    fake.queue({"text": '{"name": "Ada"}'})
    schema = {"type": "object", "properties": {"name": {"type": "string"}}}
    ask = LLMRequest(
        [Message("user", "Who?")], json_output=True, json_schema=schema, json_schema_name="Person record", max_tokens=50
    )
    result = await provider.complete(ask, target)
    assert result.parsed == {"name": "Ada"} and fake.violations == []
    body = last_body(fake)
    sent = body["text"]["format"]["name"] if "input" in body else body["response_format"]["json_schema"]["name"]
    assert sent == "Person_record"
    assert "the JSON schema's name 'Person record' was sent as 'Person_record'" in " ".join(result.warnings)


@pytest.mark.parametrize("choice", ["auto", "none"])
@pytest.mark.parametrize("case", OPENAI_FORMATS, ids=[c.name for c in OPENAI_FORMATS])
async def test_a_tool_choice_without_tools_is_not_sent(case, serve, transport, choice):
    # OpenAI answers 400 "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified."
    # to any tool_choice beside no tools: a bad request that stopped the cascade, where Anthropic's and Gemini's paths
    # leave it out and answer (a context's llm_overrides with tool_choice "auto" given to every call, tools or not).
    fake, provider, target = await setup(case, serve, transport)
    fake.queue({"text": "ok"})
    result = await provider.complete(LLMRequest([Message("user", "Hi")], tool_choice=choice, max_tokens=50), target)
    assert result.text == "ok" and fake.violations == [] and "tool_choice" not in last_body(fake)


@pytest.mark.parametrize("case", OPENAI_FORMATS, ids=[c.name for c in OPENAI_FORMATS])
async def test_parallel_tool_calls_of_a_target_goes_only_with_tools(case, serve, transport):
    # params: {parallel_tool_calls: false} (what OpenAI's guide says to set beside strict tools) on a target that also
    # serves calls without tools: Chat Completions answers those 400 "'parallel_tool_calls' is only allowed when
    # 'tools' are specified", a bad request that stopped the cascade
    from .test_wire import WEATHER

    fake, provider, target = await setup(case, serve, transport)
    params = {"parallel_tool_calls": False}  # (as routing puts a target's params)
    result = await provider.complete(LLMRequest([Message("user", "Hi")], max_tokens=50, extra=params), target)
    assert result.text and fake.violations == []
    assert "parallel_tool_calls" not in last_body(fake)
    request = LLMRequest([Message("user", "Weather?")], tools=[WEATHER], max_tokens=50, extra=params)
    await provider.complete(request, target)
    assert last_body(fake)["parallel_tool_calls"] is False


@pytest.mark.parametrize("case", OPENAI_FORMATS, ids=[c.name for c in OPENAI_FORMATS])
async def test_a_tool_result_that_is_an_error_says_so_to_the_openai_formats(case, serve, transport):
    # a tool message marked is_error (MCP's isError) reaches Claude as tool_result.is_error and Gemini under an "error"
    # key; on Chat Completions and the Responses API, which have no such field, the mark was dropped unsaid, and the
    # model read "Timeout after 30 s" as the tool's output. The failure goes under "error", as Gemini takes it.
    from magsag_mcp.types import ToolCall

    from .test_wire import WEATHER

    fake, provider, target = await setup(case, serve, transport)
    calls = [ToolCall("c1", "get_weather", {"city": "Oslo"}), ToolCall("c2", "get_weather", {"city": "Rome"})]
    history = [
        Message("user", "Weather in Oslo and Rome?"),
        Message("assistant", None, tool_calls=calls),
        Message("tool", '{"c": 3}', tool_call_id="c1"),
        Message("tool", "Timeout after 30 s", tool_call_id="c2", is_error=True),
    ]
    await provider.complete(LLMRequest(history, tools=[WEATHER], max_tokens=100), target)
    assert fake.violations == []
    body = last_body(fake)
    if "input" in body:
        sent = [i["output"] for i in body["input"] if i.get("type") == "function_call_output"]
    else:
        sent = [m["content"] for m in body["messages"] if m["role"] == "tool"]
    assert sent == ['{"c": 3}', '{"error": "Timeout after 30 s"}']
