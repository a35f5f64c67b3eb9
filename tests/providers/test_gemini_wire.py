"""Gemini's generateContent against the spec-checking fake: what the API refuses or sends that the
general wire tests (test_wire.py) do not reach: tools and their calls, params, Gemma's turns, a model retiring.

The response schema Gemini is sent is in test_gemini_response_schemas.py; how an answer is read (finish reasons,
pictures, thoughts) in test_gemini_answers.py.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from magsag_mcp import errors as E
from magsag_mcp.call_request import _messages
from magsag_mcp.mcp_server.models import ToolCallOut
from magsag_mcp.providers.gemini import GeminiFormat
from magsag_mcp.types import LLMRequest, Message, ToolCall, ToolSpec

from .fakes import SIGNATURES
from .test_wire import CASES, WEATHER, last_body, setup

pytestmark = pytest.mark.anyio


[GOOGLE] = [c for c in CASES if c.name == "google"]


[ANTHROPIC] = [c for c in CASES if c.name == "anthropic"]


async def test_a_json_schema_beside_tools_is_in_the_prompt(serve, transport):
    # Gemini takes no JSON response type beside function declarations, so the model is told to answer in JSON: it was
    # told "a single JSON object" only, never shown the schema its answer is then checked against. It is shown.
    fake, provider, target = await setup(GOOGLE, serve, transport)
    fake.queue({"text": '{"city": "Oslo", "days": 3}'})
    schema = {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}}
    request = LLMRequest([Message("user", "Plan?")], json_schema=schema, tools=[WEATHER], max_tokens=50)
    result = await provider.complete(request, target)
    assert result.parsed == {"city": "Oslo", "days": 3} and fake.violations == []
    said = last_body(fake)["systemInstruction"]["parts"][0]["text"]
    assert '"days":{"type":"integer"}' in said
    # The warning named no model and said "Gemini takes no JSON response type" beside tools, which Gemini 3 does: it
    # names this model and says which Gemini enforces the schema there, the way to have it enforced.
    [warned] = [w for w in result.warnings if "could not be enforced" in w]
    assert warned.startswith("with tools in the call, gemini-1.5-pro (not Gemini 3 or later by its name) takes no")
    assert warned.endswith("; Gemini 3 and later take both, and enforce the schema")


@pytest.mark.parametrize("stream", [False, True])
async def test_gemini_3_enforces_a_json_schema_beside_tools(serve, transport, stream: bool):
    # Gemini 3 takes a JSON response type and schema beside function declarations ("Structured Outputs with tools",
    # Google's Gemini 3 guide), which the 2.x models refuse (400 "Function calling with a response mime type:
    # 'application/json' is unsupported"). Every Gemini was sent the schema in its prompt alone, and every such call
    # on Gemini 3 warned that the schema "could not be enforced". Gemini 3 is sent it as its response schema, in the
    # field the guide documents the two together with: responseJsonSchema (JSON Schema), not the OpenAPI Schema's
    # responseSchema, which it shows beside no tool.
    fake, provider, target = await setup(GOOGLE, serve, transport)
    target = replace(target, model="gemini-3-flash-preview")
    fake.queue(
        {"text": '{"city": "Oslo", "days": 3}'},
        {"tool_calls": [{"id": "c1", "name": "get_weather", "arguments": {"city": "Oslo"}}]},
    )
    schema = {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}}
    request = LLMRequest([Message("user", "Plan?")], json_schema=schema, tools=[WEATHER], max_tokens=50, stream=stream)
    result = await provider.complete(request, target)
    assert result.parsed == {"city": "Oslo", "days": 3} and fake.violations == []
    config = last_body(fake)["generationConfig"]
    assert config["responseMimeType"] == "application/json" and "responseSchema" not in config
    assert config["responseJsonSchema"] == schema
    assert last_body(fake)["tools"][0]["functionDeclarations"][0]["name"] == "get_weather"
    assert not [w for w in result.warnings if "could not be enforced" in w]
    # a call of a tool, the answer's turn not over, is the answer as before
    called = await provider.complete(request, target)
    assert [c.name for c in called.tool_calls] == ["get_weather"] and called.finish_reason == "tool_calls"


async def test_gemini_3_beside_tools_keeps_a_cyclic_schema_to_its_openapi_form(serve, transport):
    # responseJsonSchema takes a cycle of references only "within non-required properties": a tree's node, whose
    # cycle the JSON Schema form may refuse, goes beside tools as it goes without them, written out as responseSchema
    fake, provider, target = await setup(GOOGLE, serve, transport)
    target = replace(target, model="gemini-3-flash-preview")
    fake.queue({"text": '{"name": "root", "children": []}'})
    node = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "children": {"type": "array", "items": {"$ref": "#/$defs/node"}}},
        "required": ["name", "children"],
    }
    schema = {"$defs": {"node": node}, "$ref": "#/$defs/node"}
    request = LLMRequest([Message("user", "Tree?")], json_schema=schema, tools=[WEATHER], max_tokens=50)
    result = await provider.complete(request, target)
    assert result.parsed == {"name": "root", "children": []} and fake.violations == []
    config = last_body(fake)["generationConfig"]
    assert "responseJsonSchema" not in config and config["responseSchema"]["type"] == "OBJECT"


async def test_gemini_3_beside_tools_names_the_keywords_its_json_schema_field_leaves_out(serve, transport):
    # model-choice.md: beside tools, responseJsonSchema, which takes no pattern, minLength or maxLength (gemini.json,
    # GenerationConfig), is sent; what it leaves out is named in a warning and the answer is still checked against it
    fake, provider, target = await setup(GOOGLE, serve, transport)
    target = replace(target, model="gemini-3-flash-preview")
    fake.queue({"text": '{"code": "x"}'})
    code = {"type": "string", "pattern": "^[A-Z]{3}$", "minLength": 3, "maxLength": 3}
    schema = {"type": "object", "properties": {"code": code}, "required": ["code"]}
    request = LLMRequest([Message("user", "Code?")], json_schema=schema, tools=[WEATHER], max_tokens=50)
    with pytest.raises(E.InvalidOutputError):  # "x" is no code of three capitals: the full schema refuses it
        await provider.complete(request, target)
    config = last_body(fake)["generationConfig"]
    assert config["responseJsonSchema"]["properties"]["code"] == {"type": "string"} and fake.violations == []
    fake.queue({"text": '{"code": "OSL"}'})
    result = await provider.complete(request, target)
    assert result.parsed == {"code": "OSL"}
    (lost,) = [w for w in result.warnings if "JSON Schema support has no" in w]
    assert "maxLength, minLength, pattern" in lost and "checked against the full schema" in lost


async def test_a_tool_without_arguments_is_declared_without_parameters(serve, transport):
    # Gemini answers 400 INVALID_ARGUMENT "...function_declarations[0].parameters.properties: should be non-empty
    # for OBJECT type" to {"type": "OBJECT", "properties": {}}: every call offering a tool without arguments
    # (ToolSpec's default parameters) was a bad request that stopped the cascade. Such a tool declares none.
    fake, provider, target = await setup(GOOGLE, serve, transport)
    fake.queue({"tool_calls": [{"id": "c1", "name": "now", "arguments": {}}]})
    tools = [
        ToolSpec("now", "The current time"),
        ToolSpec("today", "Today's date", {"type": "object"}),
        ToolSpec("city", "A city's weather", {"type": "object", "properties": {"name": {"type": "string"}}}),
    ]
    result = await provider.complete(LLMRequest([Message("user", "Time?")], tools=tools, max_tokens=50), target)
    assert fake.violations == [] and [c.name for c in result.tool_calls] == ["now"]
    declared = last_body(fake)["tools"][0]["functionDeclarations"]
    assert [d.get("parameters") for d in declared] == [
        None,
        None,
        {"type": "OBJECT", "properties": {"name": {"type": "STRING"}}},
    ]


@pytest.mark.parametrize("stream", [False, True])
async def test_gemini_3_gets_its_function_call_signature_back(serve, transport, stream: bool):
    # Gemini 3 signs each answer's first functionCall (thoughtSignature) and answers 400 INVALID_ARGUMENT
    # "Function call is missing a thought_signature in functionCall parts" to a follow-up whose history lost
    # it: every tool loop on Gemini 3 broke at its second call. The signature now rides on the ToolCall.
    fake, provider, target = await setup(GOOGLE, serve, transport)
    target = replace(target, model="gemini-3-pro-preview")
    fake.queue(
        {"tool_calls": [{"id": "c1", "name": "get_weather", "arguments": {"city": "Oslo"}}]},
        {"text": "3 degrees."},
    )
    ask = [Message("user", "Weather in Oslo?")]
    first = await provider.complete(LLMRequest(ask, tools=[WEATHER], max_tokens=50, stream=stream), target)
    [call] = first.tool_calls
    assert call.signature == SIGNATURES[0] and call.to_dict()["signature"] == SIGNATURES[0]
    answered = [Message("assistant", None, tool_calls=[call]), Message("tool", '{"c": 3}', tool_call_id=call.id)]
    second = await provider.complete(LLMRequest(ask + answered, tools=[WEATHER], max_tokens=50), target)
    assert second.text == "3 degrees." and fake.violations == []
    assert last_body(fake)["contents"][1]["parts"][0]["thoughtSignature"] == SIGNATURES[0]


async def test_gemini_3_takes_a_call_it_did_not_sign_with_the_documented_stand_in(serve, transport):
    # History from another model, or a client that kept only {id, name, arguments}: the first call of each
    # model turn carries the stand-in Google documents for it, not nothing (a 400 that stopped the cascade).
    fake, provider, target = await setup(GOOGLE, serve, transport)
    target = replace(target, model="gemini-3-flash-preview")
    fake.queue({"text": "3 and 5 degrees."})
    calls = [ToolCall("a", "get_weather", {"city": "Oslo"}), ToolCall("b", "get_weather", {"city": "Rome"})]
    history = [
        Message("user", "Weather in Oslo and Rome?"),
        Message("assistant", None, tool_calls=calls),
        Message("tool", '{"c": 3}', tool_call_id="a"),
        Message("tool", '{"c": 5}', tool_call_id="b"),
    ]
    result = await provider.complete(LLMRequest(history, tools=[WEATHER], max_tokens=50), target)
    assert result.text == "3 and 5 degrees." and fake.violations == []
    parts = last_body(fake)["contents"][1]["parts"]
    assert [p.get("thoughtSignature") for p in parts] == ["skip_thought_signature_validator", None]


@pytest.mark.parametrize("stream", [False, True])
async def test_gemini_gets_the_ids_of_its_function_calls_back_with_their_results(serve, transport, stream: bool):
    # Gemini 3 gives every functionCall an id, and asks for it back on the functionResponse ("the client to execute
    # the function_call and return the response with the matching id"): the id was read into the ToolCall, then left
    # out of both parts of the follow-up, so two results of the same function (Oslo's and Rome's weather) reached
    # the model told apart by their order alone.
    fake, provider, target = await setup(GOOGLE, serve, transport)
    target = replace(target, model="gemini-3-pro-preview")
    calls = [
        {"id": "fc-oslo", "name": "get_weather", "arguments": {"city": "Oslo"}},
        {"id": "fc-rome", "name": "get_weather", "arguments": {"city": "Rome"}},
    ]
    fake.queue({"tool_calls": calls}, {"text": "3 and 5 degrees."})
    ask = [Message("user", "Weather in Oslo and Rome?")]
    first = await provider.complete(LLMRequest(ask, tools=[WEATHER], max_tokens=50, stream=stream), target)
    assert [c.id for c in first.tool_calls] == ["fc-oslo", "fc-rome"]
    # the results come back in another order than the calls were made in
    answered = [
        Message("assistant", None, tool_calls=first.tool_calls),
        Message("tool", '{"c": 5}', tool_call_id="fc-rome"),
        Message("tool", '{"c": 3}', tool_call_id="fc-oslo"),
    ]
    second = await provider.complete(LLMRequest(ask + answered, tools=[WEATHER], max_tokens=50), target)
    assert second.text == "3 and 5 degrees." and fake.violations == []
    model_turn, results = last_body(fake)["contents"][1:]
    assert [p["functionCall"].get("id") for p in model_turn["parts"]] == ["fc-oslo", "fc-rome"]
    assert [(p["functionResponse"].get("id"), p["functionResponse"]["response"]) for p in results["parts"]] == [
        ("fc-rome", {"c": 5}),
        ("fc-oslo", {"c": 3}),
    ]


def test_the_id_made_up_for_a_call_gemini_gave_none_is_not_sent():
    # Gemini 2.x gives its calls no id; the one the reader makes up (call_0_<name>, the same in every turn) is not
    # Gemini's to match, and is not sent; a client's own ids (another vendor's history) are
    history = [
        Message("user", "Weather?"),
        Message("assistant", None, tool_calls=[ToolCall("call_0_get_weather", "get_weather", {"city": "Oslo"})]),
        Message("tool", '{"c": 3}', tool_call_id="call_0_get_weather"),
        Message("assistant", None, tool_calls=[ToolCall("call_Ab12", "get_weather", {"city": "Rome"})]),
        Message("tool", '{"c": 5}', tool_call_id="call_Ab12"),
    ]
    body, _ = GeminiFormat().build(LLMRequest(history, tools=[WEATHER]), "gemini-2.5-flash", stream=False)
    parts = [c["parts"][0] for c in body["contents"][1:]]
    assert [p.get("functionCall", p.get("functionResponse")).get("id") for p in parts] == [
        None,
        None,
        "call_Ab12",
        "call_Ab12",
    ]
    assert parts[1]["functionResponse"]["name"] == "get_weather"


def test_a_tool_result_that_answers_no_call_of_the_history_sends_no_id():
    # (the payload path refuses one; the Python API's Message does not): an id that matches no functionCall would be
    # refused, 400, where the name alone is taken
    history = [
        Message("user", "Weather?"),
        Message("assistant", None, tool_calls=[ToolCall("a", "get_weather", {"city": "Oslo"})]),
        Message("tool", '{"c": 3}', tool_call_id="zzz", name="get_weather"),
    ]
    body, _ = GeminiFormat().build(LLMRequest(history, tools=[WEATHER]), "gemini-2.5-flash", stream=False)
    call, result = body["contents"][1]["parts"][0], body["contents"][2]["parts"][0]
    assert "id" not in call["functionCall"] and "id" not in result["functionResponse"]


def test_a_signature_comes_back_through_a_payload():
    # what invoke returns (tool_calls[].signature) is what a client sends back in model_config.messages
    [message] = _messages([{"role": "assistant", "tool_calls": [{"id": "a", "name": "f", "signature": "c2ln"}]}])
    assert message.tool_calls == [ToolCall("a", "f", {}, "c2ln")]
    assert ToolCallOut(**message.tool_calls[0].to_dict()).signature == "c2ln"


@pytest.mark.parametrize("choice", ["none", "auto", "required"])
async def test_a_tool_choice_without_tools_sends_no_function_calling_config(serve, transport, choice):
    # Gemini answers 400 "Function calling config is set without function_declarations." to a toolConfig with
    # no tools (a tool_choice given to a call without tools, which Anthropic's path already leaves out).
    fake, provider, target = await setup(GOOGLE, serve, transport)
    fake.queue({"text": "ok"})
    result = await provider.complete(LLMRequest([Message("user", "Hi")], tool_choice=choice, max_tokens=50), target)
    assert result.text == "ok" and fake.violations == [] and "toolConfig" not in last_body(fake)


@pytest.mark.parametrize("stream", [False, True])
async def test_sampling_and_thinking_params_reach_gemini_inside_generation_config(serve, transport, stream: bool):
    # A target's vendor params (seed, top_p, thinkingConfig: how a gemini-2.5-flash user turns thinking off) were
    # written at the top of the request, where Gemini has no such field: every call with one was 400 "Invalid
    # JSON payload received. Unknown name \"seed\": Cannot find field." They go into generationConfig, by
    # Gemini's JSON name, beside what magsag sets; a param of the request itself (safetySettings) stays on top.
    fake, provider, target = await setup(GOOGLE, serve, transport)
    fake.queue({"text": '{"a": 1}'})
    safety = [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_ONLY_HIGH"}]
    extra = {
        "seed": 7,
        "top_p": 0.5,
        "topK": 40,
        "thinking_config": {"thinkingBudget": 0, "includeThoughts": False},
        "safetySettings": safety,
    }
    ask = LLMRequest([Message("user", "Go")], max_tokens=50, json_output=True, extra=extra, stream=stream)
    result = await provider.complete(ask, target)
    assert result.parsed == {"a": 1} and fake.violations == []
    body = last_body(fake)
    assert body["generationConfig"] == {
        "seed": 7,
        "topP": 0.5,
        "topK": 40,
        "thinkingConfig": {"thinkingBudget": 0, "includeThoughts": False},
        "maxOutputTokens": 50,
        "responseMimeType": "application/json",
    }
    assert body["safetySettings"] == safety and not {"seed", "top_p", "topK", "thinking_config"} & set(body)


async def test_a_tool_with_an_object_parameter_of_any_keys_moves_on(serve, transport):
    # A tool parameter {"type": "object"} (an MCP tool's free-form "options"): Gemini refuses the OBJECT without
    # properties it becomes, 400 "...parameters.properties[\"options\"].properties: should be non-empty for OBJECT
    # type". A bad request stopped the cascade there, though another vendor takes the same tool: the next moves on.
    fake, provider, target = await setup(GOOGLE, serve, transport)
    params = {"type": "object", "properties": {"q": {"type": "string"}, "options": {"type": "object"}}}
    tool = ToolSpec("search", "Search", params)
    with pytest.raises(E.UnsupportedFeatureError, match="should be non-empty for OBJECT type") as info:
        await provider.complete(LLMRequest([Message("user", "Find")], tools=[tool], max_tokens=50), target)
    assert info.value.moves_on and not info.value.retryable and info.value.status == 400
    assert "give each its properties, or leave Gemini out of this call's targets" in info.value.message


@pytest.mark.parametrize("stream", [False, True])
async def test_gemma_gets_its_system_prompt_and_json_request_in_the_first_user_turn(serve, transport, stream: bool):
    # Gemma 3 on the Gemini API answers 400 "Developer instruction is not enabled for models/gemma-3-27b-it" to any
    # systemInstruction, and "JSON mode is not enabled ..." to responseMimeType: every skill call (each has a system
    # prompt) failed on a gemma target. The instructions go at the start of the first user turn, as o1-preview's do.
    fake, provider, target = await setup(GOOGLE, serve, transport)
    target = replace(target, model="gemma-3-27b-it")
    fake.queue({"text": "Paris."}, {"text": '{"city": "Paris"}'})
    history = [Message("user", "Capital of France?"), Message("assistant", "Paris."), Message("user", "As JSON?")]
    ask = LLMRequest(history[:1], system="Be brief.", max_tokens=50, stream=stream)
    result = await provider.complete(ask, target)
    assert result.text == "Paris." and fake.violations == []
    body = last_body(fake)
    assert "systemInstruction" not in body
    assert body["contents"] == [{"role": "user", "parts": [{"text": "Be brief."}, {"text": "Capital of France?"}]}]
    assert result.warnings == [
        "gemma-3-27b-it takes no system instruction on the Gemini API; it was sent at the start of the first user turn"
    ]
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    ask = LLMRequest(history, system="Be brief.", json_schema=schema, max_tokens=50, stream=stream)
    result = await provider.complete(ask, target)
    assert result.parsed == {"city": "Paris"} and fake.violations == []
    body = last_body(fake)
    assert "systemInstruction" not in body and "responseMimeType" not in body["generationConfig"]
    first = body["contents"][0]["parts"]
    assert first[0]["text"].startswith("Be brief.\n\n") and "JSON" in first[0]["text"] and len(first) == 2
    assert [c["role"] for c in body["contents"]] == ["user", "model", "user"]
    assert any("Gemma takes no JSON response type" in w for w in result.warnings)


@pytest.mark.parametrize("stream", [False, True])
async def test_a_model_google_is_retiring_says_so_and_when(serve, transport, stream: bool):
    # GenerateContentResponse.modelStatus (LEGACY: "on the path to deprecation", with its retirementTime) was
    # ignored: the route learnt of the retirement the day its calls began to fail with a 404. Each answer now
    # carries a warning; a max_tokens cut beside it is still said (only a stop the wire explains replaces that).
    fake, provider, target = await setup(GOOGLE, serve, transport)
    status = {"modelStage": "LEGACY", "retirementTime": "2026-09-24T00:00:00Z", "message": "Use gemini-2.5-flash."}
    fake.queue(
        {"text": "Hello", "model_status": status},
        {"text": "Hello, this is", "finish": "MAX_TOKENS", "model_status": status},
        {"text": "Hello", "model_status": {"modelStage": "STABLE"}},
    )
    request = LLMRequest([Message("user", "Hi")], max_tokens=4, stream=stream)
    said = (
        f"google:{target.model} is legacy and retires at 2026-09-24T00:00:00Z (Use gemini-2.5-flash.); move its "
        "routes and model_config to a current model"
    )
    assert (await provider.complete(request, target)).warnings == [said]
    cut = await provider.complete(request, target)
    assert cut.warnings[0] == said and "stopped at max_tokens (4): the answer is cut short" in cut.warnings[1]
    assert (await provider.complete(request, target)).warnings == [] and fake.violations == []


@pytest.mark.parametrize("stream", [False, True])
async def test_the_ids_made_up_for_calls_gemini_gave_none_differ_from_turn_to_turn(serve, transport, stream: bool):
    # Gemini 2.x gives its calls no id, and the one made up for each was the same in every turn (call_0_<name>): a
    # tool loop's history held the id twice, and on a fallback to Claude was refused (400 "`tool_use` ids must be
    # unique", a bad request that stopped the cascade). Each answer's are its own; Gemini is still sent none of them.
    fake, provider, target = await setup(GOOGLE, serve, transport)
    calls = [
        {"name": "get_weather", "arguments": {"city": "Oslo"}},
        {"name": "get_weather", "arguments": {"city": "Rome"}},
    ]
    fake.queue({"tool_calls": calls}, {"tool_calls": calls[:1]}, {"text": "3 and 5 degrees."})
    asked = [Message("user", "Weather in Oslo and Rome?")]
    history = list(asked)
    for _ in range(2):
        answer = await provider.complete(LLMRequest(history, tools=[WEATHER], max_tokens=50, stream=stream), target)
        history.append(Message("assistant", None, tool_calls=answer.tool_calls))
        history += [Message("tool", '{"c": 3}', tool_call_id=c.id) for c in answer.tool_calls]
    ids = [c.id for m in history for c in m.tool_calls]
    assert len(ids) == len(set(ids)) == 3
    await provider.complete(LLMRequest(history, tools=[WEATHER], max_tokens=50, stream=stream), target)
    parts = [p for c in last_body(fake)["contents"] for p in c["parts"]]
    assert not [p for p in parts if "id" in p.get("functionCall", p.get("functionResponse", {}))]
    assert fake.violations == []
    # and Claude takes the history Gemini made
    claude, provider, target = await setup(ANTHROPIC, serve, transport)
    claude.queue({"text": "3 and 5 degrees."})
    result = await provider.complete(LLMRequest(history, tools=[WEATHER], max_tokens=50, stream=stream), target)
    assert result.text.strip() == "3 and 5 degrees." and claude.violations == []


def test_a_tool_result_goes_back_under_the_name_of_the_call_its_id_answers():
    # Gemini pairs a functionResponse with its call by name: a tool message's own name (a client's label for the tool,
    # which OpenAI and Anthropic never read) went instead of the name of the call its tool_call_id answers, and the
    # result answered a function the model never called
    history = _messages(
        [
            {"role": "assistant", "tool_calls": [{"id": "c1", "name": "get_weather", "arguments": {"city": "Oslo"}}]},
            {"role": "tool", "tool_call_id": "c1", "name": "Weather lookup", "content": '{"c": 3}'},
        ]
    )
    body, _ = GeminiFormat().build(LLMRequest(history, tools=[WEATHER]), "gemini-2.5-flash", stream=False)
    assert body["contents"][1]["parts"][0]["functionResponse"]["name"] == "get_weather"


def test_parallel_calls_that_share_an_id_each_get_their_results_name_in_order():
    # A server that gave two parallel calls one id (call_0 for get_weather and for get_time): each result went back
    # under the name of the latest call of that id, get_time twice, and Gemini, which pairs results with calls by
    # name, read the weather as the time's second answer and the weather call as unanswered. Each result answers the
    # first call of its id not yet answered, as the calls' results come in their order.
    clock = ToolSpec("get_time", "Time in a city", {"type": "object", "properties": {"city": {"type": "string"}}})
    history = _messages(
        [
            {"role": "user", "content": "Weather and time in Oslo?"},
            {
                "role": "assistant",
                "tool_calls": [
                    {"id": "call_0", "name": "get_weather", "arguments": {"city": "Oslo"}},
                    {"id": "call_0", "name": "get_time", "arguments": {"city": "Oslo"}},
                ],
            },
            {"role": "tool", "tool_call_id": "call_0", "content": '{"c": 3}'},
            {"role": "tool", "tool_call_id": "call_0", "content": '{"t": "12:00"}'},
            {"role": "assistant", "tool_calls": [{"id": "call_0", "name": "get_time", "arguments": {"city": "Rome"}}]},
            {"role": "tool", "tool_call_id": "call_0", "content": '{"t": "12:00"}'},
        ]
    )
    body, _ = GeminiFormat().build(LLMRequest(history, tools=[WEATHER, clock]), "gemini-2.5-flash", stream=False)
    parts = [c["parts"] for c in body["contents"] if "functionResponse" in c["parts"][0]]
    names = [[p["functionResponse"]["name"] for p in turn] for turn in parts]
    assert names == [["get_weather", "get_time"], ["get_time"]]


@pytest.mark.parametrize("is_error", [False, True])
def test_a_tool_result_that_is_no_strict_json_goes_to_gemini_as_its_text(is_error):
    # A Python tool's json.dumps writes a pandas NaN as NaN: read as JSON, the result went into the body as NaN, which
    # is no JSON (Gemini answers 400 "Invalid JSON payload received"), where the OpenAI formats sent it as its text;
    # and one nested past the interpreter's depth raised a RecursionError out of build, a traceback.
    deep = "[" * 100_000 + "]" * 100_000
    for output in ('{"mean": NaN}', "Infinity", deep):
        history = [
            Message("user", "Stats?"),
            Message("assistant", None, tool_calls=[ToolCall("c1", "stats", {})]),
            Message("tool", output, tool_call_id="c1", name="stats", is_error=is_error),
        ]
        body, _ = GeminiFormat().build(LLMRequest(history), "gemini-2.5-flash", stream=False)
        sent = body["contents"][2]["parts"][0]["functionResponse"]["response"]
        assert sent == ({"error": output} if is_error else {"result": output})
        json.dumps(body, allow_nan=False)  # the body is JSON
