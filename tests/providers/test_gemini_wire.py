"""Gemini's generateContent against the spec-checking fake: what the API refuses or sends that the
general wire tests (test_wire.py) do not reach."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal as D

import pytest

from magsag_mcp import errors as E
from magsag_mcp.call_request import _messages
from magsag_mcp.mcp_server.models import ToolCallOut
from magsag_mcp.pricing import Pricer
from magsag_mcp.providers.empty_answers import RAISE_MAX_TOKENS
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


@pytest.mark.parametrize("stream", [False, True])
async def test_a_candidate_that_stopped_for_an_unknown_reason_with_nothing_is_no_answer(serve, transport, stream: bool):
    # finishReason OTHER ("Unknown reason") on a candidate without content was an empty success: the call was
    # answered "" and the cascade stopped there. It is a failed attempt, recorded at the usage it reported.
    fake, provider, target = await setup(GOOGLE, serve, transport)
    fake.queue({"text": None, "finish": "OTHER", "usage": {"promptTokenCount": 40, "candidatesTokenCount": 0}})
    with pytest.raises(E.MalformedResponseError, match=r"no usable answer \(finishReason: OTHER\)") as info:
        await provider.complete(LLMRequest([Message("user", "Hi")], max_tokens=50, stream=stream), target)
    assert info.value.moves_on and info.value.usage.input_tokens == 40 and fake.violations == []
    # with text before it stopped, the text is the (unfinished) answer, as before
    fake.queue({"text": "Hello th", "finish": "OTHER"})
    result = await provider.complete(LLMRequest([Message("user", "Hi")], max_tokens=50, stream=stream), target)
    assert (result.text, result.finish_reason) == ("Hello th", "other")


def _part(**fields):
    """A Part as a gateway that writes every field of the message writes it: each one unset is null."""
    unset = ("text", "thought", "thoughtSignature", "functionCall", "functionResponse", "inlineData", "fileData")
    return {**dict.fromkeys(unset), "executableCode": None, "codeExecutionResult": None, **fields}


@pytest.mark.parametrize("stream", [False, True])
def test_a_response_that_writes_its_unset_fields_as_null_is_read_as_google_reads_it(stream: bool):
    # proto3's JSON reads a null as the field left unset, and a gateway that writes whole messages (google-genai's
    # model_dump, a typed proxy) sends every Part with "text": null beside its functionCall: each tool call came out
    # as "unexpected TypeError while handling the response", a failed attempt of unknown cost.
    chunk = {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [
                        _part(text="Let me check.", thought=None),
                        _part(text="hidden", thought=True),
                        _part(functionCall={"id": None, "name": "get_weather", "args": {"city": "Oslo"}}),
                    ],
                },
                "finishReason": "STOP",
                "finishMessage": None,
                "safetyRatings": None,
                "index": 0,
            }
        ],
        "promptFeedback": None,
        "usageMetadata": {"promptTokenCount": 20, "candidatesTokenCount": 9, "thoughtsTokenCount": None},
        "modelVersion": "gemini-2.5-flash",
        "responseId": None,
    }
    wire = GeminiFormat()
    if stream:
        acc = wire.accumulator(provider="google", model="gemini-2.5-flash")
        acc.absorb(chunk)
        result = acc.finish()
    else:
        result = wire.parse_response(chunk, provider="google", model="gemini-2.5-flash")
    assert result.text == "Let me check." and result.finish_reason == "tool_calls"
    assert [(c.name, c.arguments) for c in result.tool_calls] == [("get_weather", {"city": "Oslo"})]
    assert (result.usage.input_tokens, result.usage.output_tokens) == (20, 9)
    # a call without the name the spec requires is a malformed answer (priced from usageMetadata where it is read)
    chunk["candidates"][0]["content"]["parts"] = [_part(functionCall={"args": {}})]
    with pytest.raises(E.MalformedResponseError, match="functionCall without a name"):
        wire.parse_response(chunk, provider="google", model="gemini-2.5-flash")
    assert wire.usage_in(chunk).input_tokens == 20


@pytest.mark.parametrize("finish", ["FINISH_REASON_UNSPECIFIED", "NO_IMAGE", "IMAGE_OTHER"])
def test_other_finish_reasons_with_no_content_are_no_answer(finish: str):
    body = {
        "candidates": [{"finishReason": finish, "index": 0}],
        "usageMetadata": {"promptTokenCount": 12, "totalTokenCount": 12},
    }
    with pytest.raises(E.MalformedResponseError, match=finish):
        GeminiFormat().parse_response(body, provider="google", model="gemini-x")


async def test_min_and_max_properties_go_into_the_response_schema(serve, transport):
    # Gemini's Schema has minProperties and maxProperties (int64: decimal strings in Google's JSON): they were
    # dropped, with a warning that "Gemini's response schema has no maxProperties, minProperties", unenforced.
    fake, provider, target = await setup(GOOGLE, serve, transport)
    fake.queue({"text": '{"a": "x"}'})
    schema = {"type": "object", "properties": {"a": {"type": "string"}}, "minProperties": 1, "maxProperties": 2}
    result = await provider.complete(LLMRequest([Message("user", "Go")], json_schema=schema, max_tokens=50), target)
    assert result.parsed == {"a": "x"} and result.warnings == [] and fake.violations == []
    sent = last_body(fake)["generationConfig"]["responseSchema"]
    assert (sent["minProperties"], sent["maxProperties"]) == ("1", "2")


#: what pydantic's model_json_schema() writes for a model with a nested one (and an optional, described one)
NESTED = {
    "$defs": {
        "Address": {
            "properties": {"city": {"title": "City", "type": "string"}},
            "required": ["city"],
            "title": "Address",
            "type": "object",
        }
    },
    "properties": {
        "home": {"$ref": "#/$defs/Address"},
        "work": {"anyOf": [{"$ref": "#/$defs/Address", "description": "Office"}, {"type": "null"}], "default": None},
    },
    "required": ["home"],
    "title": "Person",
    "type": "object",
}


async def test_a_nested_model_reaches_gemini_inlined_not_as_an_empty_schema(serve, transport):
    # Gemini's Schema has no $ref and requires a type: a nested model's property was sent as {} and an optional
    # one as a typeless anyOf, which the spec refuses, with a note that $defs and $ref were left out.
    fake, provider, target = await setup(GOOGLE, serve, transport)
    fake.queue({"text": '{"home": {"city": "Oslo"}, "work": null}'})
    result = await provider.complete(LLMRequest([Message("user", "Go")], json_schema=NESTED, max_tokens=50), target)
    assert result.parsed == {"home": {"city": "Oslo"}, "work": None} and fake.violations == []
    assert result.warnings == []
    address = {"properties": {"city": {"title": "City", "type": "STRING"}}, "required": ["city"], "title": "Address"}
    sent = last_body(fake)["generationConfig"]["responseSchema"]["properties"]
    assert sent["home"] == {**address, "type": "OBJECT"}
    # Optional[Address] (anyOf it or null, with no type, which the Schema requires) is the address, nullable
    assert sent["work"] == {**address, "type": "OBJECT", "description": "Office", "default": None, "nullable": True}


def test_a_tool_with_a_nested_model_declares_it_in_place():
    tool = ToolSpec("save", "Save a person", NESTED)
    body, notes = GeminiFormat().build(
        LLMRequest([Message("user", "x")], tools=[tool]), "gemini-2.0-flash", stream=False
    )
    home = body["tools"][0]["functionDeclarations"][0]["parameters"]["properties"]["home"]
    assert home["type"] == "OBJECT" and home["required"] == ["city"] and notes == []


def test_a_tool_whose_properties_are_an_empty_list_declares_no_parameters():
    # PHP's json_encode writes an empty map as [] ("properties": [] for a tool without arguments, as an MCP client
    # in PHP hands its tools on): the translation raised AttributeError, taken for a bug met after the vendor
    # answered, so the attempt, never sent, was counted at its worst case as maybe billed
    tools = [
        ToolSpec("now", "The current time", {"type": "object", "properties": []}),
        ToolSpec("city", "A city", {"type": "object", "properties": {"at": {"type": "object", "properties": []}}}),
    ]
    request = LLMRequest([Message("user", "x")], tools=tools)
    body, notes = GeminiFormat().build(request, "gemini-2.5-flash", stream=False)
    declared = body["tools"][0]["functionDeclarations"]
    assert "parameters" not in declared[0]
    assert declared[1]["parameters"]["properties"]["at"]["type"] == "OBJECT"


def test_a_recursive_reference_is_written_once_and_then_left_out():
    schema = {
        "$defs": {"Node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/Node"}}}},
        "$ref": "#/$defs/Node",
    }
    body, notes = GeminiFormat().build(LLMRequest([Message("user", "x")], json_schema=schema), "g", stream=False)
    assert body["generationConfig"]["responseSchema"] == {"type": "OBJECT", "properties": {"next": {}}}
    assert notes and "$ref" in notes[0]


async def test_an_enum_of_numbers_is_left_out_and_a_null_in_an_enum_makes_it_nullable(serve, transport):
    # Schema.enum is a list of strings: an enum of numbers (pydantic's Literal[1, 2] or an IntEnum) or one with
    # null in it (Optional[Literal["a"]]) made the whole response schema a bad request. Integers are sent as their
    # range, exactly the enum when they run without a gap; otherwise (or numbers) the enum is said to be left out;
    # null is nullable.
    fake, provider, target = await setup(GOOGLE, serve, transport)
    fake.queue({"text": '{"stars": 2, "size": 4, "mood": null}'})
    schema = {
        "type": "object",
        "properties": {
            "stars": {"type": "integer", "enum": [1, 2, 3]},
            "size": {"type": "integer", "enum": [2, 4, 8]},
            "mood": {"enum": ["ok", "bad", None]},
        },
    }
    result = await provider.complete(LLMRequest([Message("user", "Go")], json_schema=schema, max_tokens=50), target)
    assert result.parsed == {"stars": 2, "size": 4, "mood": None} and fake.violations == []
    sent = last_body(fake)["generationConfig"]["responseSchema"]["properties"]
    assert sent["stars"] == {"type": "INTEGER", "minimum": 1, "maximum": 3}
    assert sent["size"] == {"type": "INTEGER", "minimum": 2, "maximum": 8}
    assert sent["mood"] == {"enum": ["ok", "bad"], "nullable": True, "type": "STRING"}
    assert any("enum of non-strings" in w for w in result.warnings)
    # a rating of 1 to 5 loses nothing: no warning
    fake.queue({"text": '{"stars": 5}'})
    rating = {"type": "object", "properties": {"stars": {"enum": [1, 2, 3, 4, 5]}}}
    result = await provider.complete(LLMRequest([Message("user", "Go")], json_schema=rating, max_tokens=50), target)
    assert result.parsed == {"stars": 5} and result.warnings == []
    assert last_body(fake)["generationConfig"]["responseSchema"]["properties"]["stars"] == {
        "type": "INTEGER",
        "minimum": 1,
        "maximum": 5,
    }


@pytest.mark.parametrize("stream", [False, True])
async def test_an_empty_candidate_that_says_stop_is_no_answer(serve, transport, stream: bool):
    # Gemini at times answers a candidate with finishReason STOP and no content at all: it was an empty success,
    # so the cascade stopped at "" instead of asking again or moving on.
    fake, provider, target = await setup(GOOGLE, serve, transport)
    fake.queue({"text": None, "usage": {"promptTokenCount": 30, "candidatesTokenCount": 0}})
    with pytest.raises(E.MalformedResponseError, match=r"no usable answer \(finishReason: STOP, with no content\)"):
        await provider.complete(LLMRequest([Message("user", "Hi")], max_tokens=50, stream=stream), target)
    # a picture with no text is content (an image model's answer): not an empty candidate
    fake.queue({"text": None, "image": True})
    result = await provider.complete(LLMRequest([Message("user", "Draw")], max_tokens=50, stream=stream), target)
    assert (result.text, result.finish_reason) == ("", "stop") and fake.violations == []


@pytest.mark.parametrize("stream", [False, True])
async def test_a_candidate_of_only_whitespace_that_says_stop_is_no_answer(serve, transport, stream: bool):
    # As OpenAI's and Claude's answers are (empty_answers.no_answer): a STOP with only "\n" in it was a success whose
    # text was nothing, where the same answer from any other vendor moves on to the next target.
    fake, provider, target = await setup(GOOGLE, serve, transport)
    fake.queue({"text": "\n", "usage": {"promptTokenCount": 30, "candidatesTokenCount": 1}})
    with pytest.raises(
        E.MalformedResponseError, match=r"no usable answer \(finishReason: STOP, with no content\)"
    ) as info:
        await provider.complete(LLMRequest([Message("user", "Hi")], max_tokens=50, stream=stream), target)
    assert info.value.usage.input_tokens == 30 and fake.violations == []


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


async def test_a_response_schema_keeps_its_property_order(serve, transport):
    # Gemini answers a responseSchema's properties in alphabetical order unless propertyOrdering says otherwise
    # (https://ai.google.dev/gemini-api/docs/structured-output#property-ordering): a skill asking for its
    # "reasoning" before its "answer" got the answer written first, the reasoning after it, on Gemini alone.
    fake, provider, target = await setup(GOOGLE, serve, transport)
    fake.queue({"text": '{"reasoning": "r", "answer": {"value": 1, "unit": "m"}, "confidence": 0.5}'})
    schema = {
        "type": "object",
        "properties": {
            "reasoning": {"type": "string"},
            "answer": {
                "type": "object",
                "properties": {"value": {"type": "number"}, "unit": {"type": "string"}},
                "propertyOrdering": ["unit", "value"],  # one the schema gives is kept
            },
            "confidence": {"type": "number"},
        },
    }
    result = await provider.complete(LLMRequest([Message("user", "Go")], json_schema=schema, max_tokens=50), target)
    assert result.parsed["reasoning"] == "r" and fake.violations == [] and result.warnings == []
    sent = last_body(fake)["generationConfig"]["responseSchema"]
    assert sent["propertyOrdering"] == ["reasoning", "answer", "confidence"]
    assert sent["properties"]["answer"]["propertyOrdering"] == ["unit", "value"]
    # a tool's parameters are arguments, not an answer written in order: declared as they were
    ask = LLMRequest([Message("user", "x")], tools=[ToolSpec("f", "", schema)])
    body, _ = GeminiFormat().build(ask, "g", stream=False)
    assert "propertyOrdering" not in body["tools"][0]["functionDeclarations"][0]["parameters"]


async def test_a_response_schema_with_an_object_of_any_keys_is_asked_for_as_json(serve, transport):
    # pydantic's dict[str, str] is {"type": "object", "additionalProperties": {...}}: Gemini's Schema cannot say
    # it, and refuses the OBJECT without properties it became (400 "...response_schema.properties[\"labels\"]
    # .properties: should be non-empty for OBJECT type"), a bad request that stopped the cascade on every call.
    fake, provider, target = await setup(GOOGLE, serve, transport)
    fake.queue({"text": '{"name": "x", "labels": {"a": "b"}}'})
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        },
        "required": ["name", "labels"],
    }
    result = await provider.complete(LLMRequest([Message("user", "Go")], json_schema=schema, max_tokens=50), target)
    assert result.parsed == {"name": "x", "labels": {"a": "b"}} and fake.violations == []
    assert last_body(fake)["generationConfig"] == {"maxOutputTokens": 50, "responseMimeType": "application/json"}
    assert result.warnings == [
        "Gemini's response schema cannot say an object of any keys (one without properties), so none was sent: the "
        "model was given the schema in its instructions, and its answer was checked against the full schema"
    ]
    assert '"additionalProperties":{"type":"string"}' in last_body(fake)["systemInstruction"]["parts"][0]["text"]
    # the answer is still checked against the full schema
    fake.queue({"text": '{"name": "x", "labels": {"a": 1}}'})
    with pytest.raises(E.InvalidOutputError):
        await provider.complete(LLMRequest([Message("user", "Go")], json_schema=schema, max_tokens=50), target)
    # a schema that says only "an object" loses nothing by it: no warning
    fake.queue({"text": '{"a": 1}'})
    result = await provider.complete(LLMRequest([Message("user", "Go")], json_schema={"type": "object"}), target)
    assert result.parsed == {"a": 1} and result.warnings == [] and fake.violations == []


def test_a_response_schema_gemini_cannot_say_goes_to_the_model_in_its_instructions():
    # With no responseSchema sent (an object of any keys), the model was told only to answer in JSON: neither the
    # schema the answer is checked against nor the json_schema.description that every other path carries reached it,
    # and a model that guessed the keys' types failed the check, billed.
    schema = {"type": "object", "additionalProperties": {"type": "number"}}
    ask = LLMRequest(
        [Message("user", "Price these")], system="Be brief.", json_schema=schema, json_schema_description="SKU prices"
    )
    body, notes = GeminiFormat().build(ask, "gemini-2.5-flash", stream=False)
    assert "responseSchema" not in body["generationConfig"]
    said = body["systemInstruction"]["parts"][0]["text"]
    assert said.startswith("Be brief.\n\n") and '{"type":"object","additionalProperties":{"type":"number"}}' in said
    assert said.endswith("What the JSON document is: SKU prices")
    assert notes == []  # (an object at the top: nothing more than its schema, which the model was given, is lost)
    # a schema that says only "an object": its description still reaches the model, without a warning
    ask = LLMRequest([Message("user", "Go")], json_schema={"type": "object"}, json_schema_description="SKU prices")
    body, notes = GeminiFormat().build(ask, "gemini-2.5-flash", stream=False)
    assert body["systemInstruction"]["parts"][0]["text"].endswith("What the JSON document is: SKU prices")
    assert notes == []
    # a schema Gemini can say goes as its responseSchema, the prompt left as it is
    ask = replace(ask, json_schema={"type": "object", "properties": {"a": {"type": "number"}}})
    body, _ = GeminiFormat().build(ask, "gemini-2.5-flash", stream=False)
    assert body["generationConfig"]["responseSchema"]["description"] == "SKU prices" and "systemInstruction" not in body


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


@pytest.mark.parametrize("stream", [False, True])
async def test_a_picture_in_the_answer_that_is_not_returned_is_said(serve, transport, stream: bool):
    # An image model (gemini-2.5-flash-image) answers with pictures, billed at $30 per million tokens, which magsag does
    # not return: an answer of a picture alone came back as "" with no warning at all, a success that said nothing,
    # and one with text beside it lost the picture without a word. Each now says what was left out, and the fix.
    fake, provider, target = await setup(GOOGLE, serve, transport)
    target = replace(target, model="gemini-2.5-flash-image")
    fake.queue({"text": None, "image": True}, {"text": "Here is your cat.", "image": True}, {"text": "No picture."})
    request = LLMRequest([Message("user", "Draw a cat")], max_tokens=2000, stream=stream)
    alone, beside, plain = [await provider.complete(request, target) for _ in range(3)]
    assert (alone.text, beside.text, plain.text) == ("", "Here is your cat.", "No picture.")
    assert alone.warnings == [
        "google:gemini-2.5-flash-image answered with 1 picture (image/png) and no text: magsag returns only an "
        "answer's text, and it is billed all the same; route calls that want text to a text model"
    ]
    assert beside.warnings == [alone.warnings[0].replace("and no text", "beside its text")]
    assert plain.warnings == [] and fake.violations == []


@pytest.mark.parametrize("stream", [False, True])
async def test_an_answer_gemini_stopped_for_an_unknown_reason_says_it_may_not_be_whole(serve, transport, stream: bool):
    # finishReason OTHER ("Unknown reason") after some text: the text is returned, as the answer so far, but with
    # nothing said a caller that reads the text alone (an MCP client, most agents) took "Hello th" for a whole
    # answer. It now carries a warning, as an answer max_tokens cut does; a picture model's NO_IMAGE beside its
    # text (the text is whole: only the picture is missing) carries none of it.
    fake, provider, target = await setup(GOOGLE, serve, transport)
    fake.queue(
        {"text": "Hello th", "finish": "OTHER"},
        {"text": "Here is a cat.", "finish": "NO_IMAGE"},
        {"text": "Hello there."},
    )
    request = LLMRequest([Message("user", "Hi")], max_tokens=50, stream=stream)
    cut, no_image, whole = [await provider.complete(request, target) for _ in range(3)]
    assert (cut.text, cut.finish_reason) == ("Hello th", "other")
    assert cut.warnings == [
        f"google:{target.model} stopped its answer early (finishReason: OTHER): it may not be whole; ask again, or "
        "use another model"
    ]
    assert no_image.text == "Here is a cat." and no_image.warnings == [] and whole.warnings == []
    assert fake.violations == []


@pytest.mark.parametrize("stream", [False, True])
def test_a_finish_reason_newer_than_the_reader_says_the_answer_may_not_be_whole(stream: bool):
    chunk = {
        "candidates": [
            {
                "content": {"role": "model", "parts": [{"text": "Partial"}]},
                "finishReason": "SOMETHING_NEW",
                "finishMessage": "Stopped by the new check.",
            }
        ],
        "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 2, "totalTokenCount": 7},
    }
    wire = GeminiFormat()
    if stream:
        acc = wire.accumulator(provider="google", model="gemini-x")
        acc.absorb(chunk)
        result = acc.finish()
    else:
        result = wire.parse_response(chunk, provider="google", model="gemini-x")
    assert result.text == "Partial" and result.finish_reason == "other"
    assert result.warnings == [
        "google:gemini-x stopped its answer early (finishReason: SOMETHING_NEW: Stopped by the new check.): it may "
        "not be whole; ask again, or use another model"
    ]


@pytest.mark.parametrize("stream", [False, True])
async def test_thought_summaries_reach_neither_the_answer_nor_its_progress_and_are_billed_as_output(
    serve, transport, stream: bool
):
    # thinkingConfig.includeThoughts: the model's thought summaries come as parts with thought: true before the
    # answer (streamed, in chunks of their own). They are not the answer (nor its deltas), and thoughtsTokenCount,
    # counted apart from candidatesTokenCount, is output all the same; thinking that spends all of maxOutputTokens
    # leaves an answer of nothing, which says so.
    fake, provider, target = await setup(GOOGLE, serve, transport)
    target = replace(target, model="gemini-2.5-flash")
    usage = {"promptTokenCount": 30, "candidatesTokenCount": 4, "thoughtsTokenCount": 120}
    fake.queue(
        {"thoughts": ["**Weighing it**\n\nThe user wants a greeting."], "text": "Hello there, friend.", "usage": usage},
        {
            "thoughts": ["**Planning**"],
            "text": None,
            "finish": "MAX_TOKENS",
            "usage": {**usage, "candidatesTokenCount": 0},
        },
    )
    deltas: list[str] = []
    extra = {"thinkingConfig": {"includeThoughts": True}}
    request = LLMRequest([Message("user", "Hi")], max_tokens=124, extra=extra, stream=stream)
    result = await provider.complete(request, target, progress=lambda kind, data: deltas.append(data["text"]))
    assert result.text == "Hello there, friend." and "".join(deltas) == result.text
    assert (result.usage.output_tokens, result.usage.reasoning_tokens) == (124, 120)
    cost = Pricer.from_catalog(None).price("google", "gemini-2.5-flash", result.usage).cost_usd
    assert cost == (30 * D("0.3") + 124 * D("2.5")) / 1_000_000
    spent = await provider.complete(request, target)
    assert (spent.text, spent.finish_reason) == ("", "length")
    assert spent.warnings == [
        "google:gemini-test-001 answered with nothing: it stopped at max_tokens (124) after 120 reasoning tokens, "
        f"which count against it; {RAISE_MAX_TOKENS}"
    ]
    assert fake.violations == [] and last_body(fake)["generationConfig"]["thinkingConfig"] == {"includeThoughts": True}


def test_a_picture_is_named_by_its_mime_type_whatever_field_comes_before_it():
    # a Part may set its mediaResolution (or videoMetadata) before the inlineData it describes
    part = {
        "mediaResolution": {"level": "MEDIA_RESOLUTION_HIGH"},
        "inlineData": {"mimeType": "image/jpeg", "data": "A"},
    }
    body = {
        "candidates": [{"content": {"parts": [part, {"executableCode": {"code": "1"}}]}, "finishReason": "STOP"}],
        "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 2},
    }
    result = GeminiFormat().parse_response(body, provider="google", model="gemini-x")
    assert result.warnings == [
        "google:gemini-x answered with 1 picture (image/jpeg), 1 executableCode part and no text: magsag returns only "
        "an answer's text, and they are billed all the same; route calls that want text to a text model"
    ]


def test_a_gateway_that_writes_its_finish_reason_as_the_enum_number_is_read_without_failing():
    # proto3's JSON takes an enum by its number too: the warning names it as written rather than failing the answer
    body = {
        "candidates": [{"content": {"parts": [{"text": "Hi"}]}, "finishReason": 9, "finishMessage": ["odd"]}],
        "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 2},
    }
    result = GeminiFormat().parse_response(body, provider="google", model="gemini-x")
    assert result.text == "Hi" and "(finishReason: 9: ['odd'])" in result.warnings[0]


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


#: pydantic's model_json_schema() for a model (and a nested one) with extra="forbid", a field described beside its $ref
FORBIDDING = {
    "$defs": {
        "Address": {
            "additionalProperties": False,
            "properties": {"city": {"title": "City", "type": "string"}},
            "required": ["city"],
            "title": "Address",
            "type": "object",
        }
    },
    "additionalProperties": False,
    "properties": {
        "home": {"$ref": "#/$defs/Address", "description": "Where they live"},
        "stars": {"enum": [2, 4, 8], "title": "Stars", "type": "integer"},
        "labels": {"additionalProperties": {"type": "number"}, "title": "Labels", "type": "object"},
    },
    "required": ["home", "stars", "labels"],
    "title": "Person",
    "type": "object",
}


@pytest.mark.parametrize("model", ["gemini-2.5-flash", "models/gemini-3-pro-preview", "gemini-flash-latest"])
async def test_a_schema_the_response_schema_cannot_say_goes_as_json_schema_to_a_model_that_takes_it(
    serve, transport, model: str
):
    # Gemini's responseSchema (OpenAPI's subset) has no additionalProperties, no enum of numbers and no object of any
    # keys: a pydantic model with extra="forbid" (or any OpenAI strict schema) went with those left out and a warning
    # on every call, and one with a dict[str, X] field went with no schema at all, the model only told to answer in
    # JSON. Gemini 2.5 and later take responseJsonSchema (gemini.json, GenerationConfig), which says all of it.
    fake, provider, target = await setup(GOOGLE, serve, transport)
    target = replace(target, model=model)
    fake.queue({"text": '{"home": {"city": "Oslo"}, "stars": 4, "labels": {"a": 1}}'})
    ask = LLMRequest([Message("user", "Go")], json_schema=FORBIDDING, max_tokens=50, json_schema_description="A person")
    result = await provider.complete(ask, target)
    assert result.parsed == {"home": {"city": "Oslo"}, "stars": 4, "labels": {"a": 1}} and fake.violations == []
    assert result.warnings == []
    config = last_body(fake)["generationConfig"]
    assert "responseSchema" not in config and config["responseMimeType"] == "application/json"
    sent = config["responseJsonSchema"]
    assert sent["additionalProperties"] is False and sent["$defs"]["Address"]["additionalProperties"] is False
    assert sent["properties"]["home"] == {"$ref": "#/$defs/Address"}  # (nothing but $-keywords beside a $ref)
    assert sent["properties"]["stars"]["enum"] == [2, 4, 8]
    assert sent["properties"]["labels"]["additionalProperties"] == {"type": "number"}
    assert sent["description"] == "A person"
    # the prompt reads as it did: a schema responseSchema cannot send at all is given to the model in its instructions
    assert '"additionalProperties":{"type":"number"}' in last_body(fake)["systemInstruction"]["parts"][0]["text"]
    # the answer is still checked against the full schema
    fake.queue({"text": '{"home": {"city": "Oslo", "zip": "0150"}, "stars": 4, "labels": {}}'})
    with pytest.raises(E.InvalidOutputError):
        await provider.complete(ask, target)
    # an OpenAI strict schema: enforced whole, without a warning, and the prompt left as it is
    strict = {
        "type": "object",
        "properties": {"a": {"type": "string"}},
        "required": ["a"],
        "additionalProperties": False,
    }
    body, notes = GeminiFormat().build(LLMRequest([Message("user", "x")], json_schema=strict), model, stream=False)
    assert body["generationConfig"]["responseJsonSchema"] == strict and notes == [] and "systemInstruction" not in body


async def test_a_model_before_gemini_2_5_and_a_recursive_schema_keep_to_the_response_schema(serve, transport):
    fake, provider, target = await setup(GOOGLE, serve, transport)
    strict = {"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": False}
    for model in ("gemini-1.5-pro", "gemini-2.0-flash", "learnlm-2.0-flash-experimental", "my-tuned-model"):
        body, notes = GeminiFormat().build(LLMRequest([Message("user", "x")], json_schema=strict), model, stream=False)
        assert "responseJsonSchema" not in body["generationConfig"], model
        assert body["generationConfig"]["responseSchema"]["properties"] == {"a": {"type": "STRING"}}
        assert any("no additionalProperties" in n for n in notes), notes
    # a cycle of references: Gemini refuses one through a required property; written out once, as before
    tree = {
        "$defs": {
            "Node": {
                "type": "object",
                "properties": {"kids": {"type": "array", "items": {"$ref": "#/$defs/Node"}}},
                "required": ["kids"],
                "additionalProperties": False,
            }
        },
        "$ref": "#/$defs/Node",
    }
    body, _ = GeminiFormat().build(LLMRequest([Message("user", "x")], json_schema=tree), "gemini-2.5-pro", stream=False)
    assert "responseSchema" in body["generationConfig"] and "responseJsonSchema" not in body["generationConfig"]
    # a schema both lose part of, differently (a pattern responseSchema keeps, additionalProperties it does not):
    # the one that has been sent all along
    both = {"type": "object", "properties": {"a": {"type": "string", "pattern": "^x"}}, "additionalProperties": False}
    body, notes = GeminiFormat().build(
        LLMRequest([Message("user", "x")], json_schema=both), "gemini-2.5-pro", stream=False
    )
    assert body["generationConfig"]["responseSchema"]["properties"]["a"]["pattern"] == "^x"
    # and on a wire: a 2.5 model's JSON Schema answer of a schema with what responseJsonSchema lacks says so
    fake.queue({"text": '{"a": "xy", "n": 3}'})
    loose = {
        "type": "object",
        "properties": {"a": {"type": "string", "minLength": 1}, "n": {"type": "integer", "multipleOf": 3}},
        "additionalProperties": False,
    }
    ask = LLMRequest([Message("user", "Go")], json_schema=loose, max_tokens=50)
    result = await provider.complete(ask, replace(target, model="gemini-2.5-flash"))
    assert result.parsed == {"a": "xy", "n": 3} and fake.violations == []
    assert "responseSchema" in last_body(fake)["generationConfig"]  # (responseSchema keeps minLength)


@pytest.mark.parametrize("ref", ["#", "#/properties/a", "#/definitions/Missing/x"])
def test_a_reference_to_anything_but_a_definition_keeps_to_the_response_schema(ref: str):
    # "#" (the whole schema: a recursive root) or a JSON pointer elsewhere: no definition to write out by name, and
    # not one Gemini's JSON Schema support is known to follow
    schema = {
        "type": "object",
        "properties": {"a": {"type": "string"}, "b": {"$ref": ref}},
        "additionalProperties": False,
    }
    body, notes = GeminiFormat().build(
        LLMRequest([Message("user", "x")], json_schema=schema), "gemini-2.5-pro", stream=False
    )
    assert "responseJsonSchema" not in body["generationConfig"] and "responseSchema" in body["generationConfig"]
    assert any("additionalProperties" in n for n in notes), notes


async def test_a_schema_the_response_schema_cannot_send_goes_as_json_schema_whatever_else_it_lacks(serve, transport):
    # pydantic's model with a dict[str, X] field (an object of any keys, which responseSchema cannot send at all) and a
    # Field(max_length=...) (which responseJsonSchema has no room for): no schema at all went to Gemini 2.5, the model
    # only told in its prompt, since JSON Schema did not lose exactly what responseSchema did. Anything is more than
    # nothing: JSON Schema goes, what it lacks named.
    fake, provider, target = await setup(GOOGLE, serve, transport)
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "maxLength": 40},
            "labels": {"type": "object", "additionalProperties": {"type": "number"}},
        },
        "required": ["name", "labels"],
    }
    fake.queue({"text": '{"name": "Oslo", "labels": {"a": 1}}'})
    ask = LLMRequest([Message("user", "Go")], json_schema=schema, max_tokens=50)
    result = await provider.complete(ask, replace(target, model="gemini-2.5-flash"))
    assert result.parsed == {"name": "Oslo", "labels": {"a": 1}} and fake.violations == []
    body = last_body(fake)
    sent = body["generationConfig"]["responseJsonSchema"]
    assert sent["properties"]["labels"] == {"type": "object", "additionalProperties": {"type": "number"}}
    assert sent["properties"]["name"] == {"type": "string"} and sent["required"] == ["name", "labels"]
    assert [w for w in result.warnings if "maxLength" in w], result.warnings
    assert '"maxLength":40' in body["systemInstruction"]["parts"][0]["text"]  # the prompt reads as it did
    # and the answer is checked against the full schema, maxLength included
    fake.queue({"text": json.dumps({"name": "x" * 41, "labels": {}})})
    with pytest.raises(E.InvalidOutputError):
        await provider.complete(ask, replace(target, model="gemini-2.5-flash"))
    # a model before 2.5 keeps to what it had: no schema, the model told in its prompt
    body, notes = GeminiFormat().build(
        LLMRequest([Message("user", "x")], json_schema=schema), "gemini-2.0-flash", stream=False
    )
    assert "responseJsonSchema" not in body["generationConfig"] and "responseSchema" not in body["generationConfig"]


@pytest.mark.parametrize(
    ("field", "sent"),
    [
        ({"const": None, "title": "Gone", "type": "null"}, {"title": "Gone", "type": "null"}),  # Literal[None]
        ({"enum": [None]}, {"type": "null"}),
        ({"enum": ["a", None]}, {"anyOf": [{"enum": ["a"]}, {"type": "null"}]}),
    ],
)
def test_an_enum_of_null_alone_goes_as_the_null_type_not_an_empty_enum(field: dict, sent: dict):
    # pydantic writes Literal[None] as {"const": null, "type": "null"}: in a model with extra="forbid" it went as
    # responseJsonSchema {"anyOf": [{"type": "null", "enum": []}, {"type": "null"}]}, an enum of no values (which
    # JSON Schema says should have one at least, and which allows nothing) beside what it meant: null.
    schema = {"type": "object", "properties": {"f": field}, "required": ["f"], "additionalProperties": False}
    body, notes = GeminiFormat().build(
        LLMRequest([Message("user", "x")], json_schema=schema), "gemini-2.5-flash", stream=False
    )
    assert body["generationConfig"]["responseJsonSchema"]["properties"]["f"] == sent and notes == []


@pytest.mark.parametrize("name", ["Tree Node", "a/b"])
def test_a_cycle_through_a_definition_whose_reference_is_escaped_keeps_to_the_response_schema(name: str):
    # A definition named with a space or a slash is referred to escaped ('#/$defs/Tree%20Node', '#/$defs/a~1b'): the
    # cycle check read the escaped name as another definition, found no cycle, and sent a recursive schema through a
    # required property as responseJsonSchema, which Gemini refuses.
    escaped = name.replace("~", "~0").replace("/", "~1").replace(" ", "%20")
    node = {
        "type": "object",
        "properties": {"kids": {"type": "array", "items": {"$ref": f"#/$defs/{escaped}"}}},
        "required": ["kids"],
        "additionalProperties": False,
    }
    schema = {"$defs": {name: node}, "$ref": f"#/$defs/{escaped}"}
    body, _ = GeminiFormat().build(
        LLMRequest([Message("user", "x")], json_schema=schema), "gemini-2.5-pro", stream=False
    )
    assert "responseJsonSchema" not in body["generationConfig"]
