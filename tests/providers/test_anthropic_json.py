"""Anthropic's Messages API: a JSON schema answer, through the forced json_output tool or, where no forced
tool carries it, the prompt; a caller's own tool of that name; and the document's text as it streams."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from magsag_mcp import errors as E
from magsag_mcp.providers.anthropic_errors import anthropic_error
from magsag_mcp.types import LLMRequest, Message, ToolSpec

from .anthropic_helpers import ANTHROPIC, FABLE, ITEM, THINK
from .test_wire import WEATHER, last_body, setup

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("why", ["thinking", "tools"])
async def test_a_json_schema_that_no_forced_tool_carries_is_in_the_prompt(serve, transport, why: str):
    # With thinking on, or with the caller's tools in the call, the schema cannot ride on a forced tool: the model was
    # told only "Answer with a single JSON object", never shown the schema its answer is checked against, so it could
    # not know the fields (nor that the answer is an array): a billed answer that failed the check. It is shown.
    fake, provider, target = await setup(ANTHROPIC, serve, transport)
    fake.queue({"text": '[{"city": "Oslo"}]'})
    schema = {"type": "array", "items": {"type": "object", "properties": {"city": {"type": "string"}}}}
    extra, tools = (THINK, []) if why == "thinking" else ({}, [WEATHER])
    request = LLMRequest([Message("user", "Where?")], json_schema=schema, tools=tools, max_tokens=4000, extra=extra)
    result = await provider.complete(request, target)
    assert result.parsed == [{"city": "Oslo"}] and fake.violations == []
    system = last_body(fake)["system"]
    assert json.dumps(schema, separators=(",", ":")) in system and "single JSON object" not in system


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
@pytest.mark.parametrize("name", ["json_output", "json_value_output"])
async def test_a_callers_tool_named_as_the_json_tool_is_a_tool_call(serve, transport, stream: bool, name: str):
    # A JSON schema is answered through a forced tool named json_output (json_value_output), but only in a call without
    # tools of the caller's. A caller's own tool of that name (an agent's "write the JSON file") was taken for it: its
    # call was dropped from tool_calls and its arguments came back as the answer's text, finish "stop", so the caller's
    # loop never ran the tool.
    fake, provider, target = await setup(ANTHROPIC, serve, transport)
    args = {"path": "out.json", "value": {"a": 1}}
    fake.queue({"tool_calls": [{"id": "toolu_1", "name": name, "arguments": args}]})
    tool = ToolSpec(name, "Write a JSON file", {"type": "object", "properties": {"path": {"type": "string"}}})
    request = LLMRequest([Message("user", "Save a=1.")], tools=[tool], max_tokens=50, stream=stream)
    result = await provider.complete(request, target)
    assert fake.violations == [] and result.finish_reason == "tool_calls" and result.text.strip() == ""
    assert [(c.id, c.name, c.arguments) for c in result.tool_calls] == [("toolu_1", name, args)]


@pytest.mark.parametrize(
    ("schema", "document"),
    [
        # a list of items whose schema is in $defs (pydantic's TypeAdapter(list[Item]).json_schema())
        ({"type": "array", "items": {"$ref": "#/$defs/Item"}, "$defs": {"Item": ITEM}}, [{"name": "a"}]),
        # an object that is one of several shapes
        ({"type": "object", "oneOf": [ITEM, {"type": "object", "properties": {"id": {"type": "integer"}}}]}, {"id": 3}),
        ({"type": "object", "allOf": [{"$ref": "#/definitions/Item"}], "definitions": {"Item": ITEM}}, {"name": "b"}),
    ],
    ids=["array-with-defs", "object-oneOf", "object-allOf-definitions"],
)
async def test_a_json_schema_goes_through_the_tool_as_the_api_takes_it(serve, transport, schema, document):
    # A tool's input_schema may have no top-level oneOf/anyOf/allOf (400 "input_schema does not support oneOf,
    # allOf, or anyOf at the top level"), and a schema wrapped as {"value": ...} kept its $defs inside the value,
    # where its "#/$defs/..." references no longer pointed (400 "JSON schema is invalid"): bad requests that
    # stopped the cascade. Such a schema is wrapped, with its $defs (or definitions) at the wrapper's root.
    fake, provider, target = await setup(ANTHROPIC, serve, transport)
    fake.queue({"tool_calls": [{"id": "t1", "name": "json_value_output", "arguments": {"value": document}}]})
    result = await provider.complete(LLMRequest([Message("user", "Items?")], json_schema=schema, max_tokens=50), target)
    assert result.parsed == document and fake.violations == []
    sent = last_body(fake)["tools"][0]["input_schema"]
    assert sent["type"] == "object" and sent["required"] == ["value"]
    assert not {"oneOf", "anyOf", "allOf"} & set(sent)


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
async def test_a_model_that_takes_no_forced_tool_is_asked_for_a_json_schema_in_the_prompt(serve, transport, stream):
    # Claude Fable 5.1 and Mythos 5.1 refuse a forced tool_choice (400 'tool_choice: type "tool" and "any" are not
    # supported for this model', or "tool_choice forces tool use is not compatible with this model", a bad request that
    # stopped the whole cascade), and a JSON schema went to every Claude as a forced tool: such a model never answered a
    # call with a schema. The schema goes without a forced tool instead (as with thinking on: to a model of Claude 4.5
    # or later, such as this one, as structured output, output_config.format; to another, in the prompt), the answer
    # checked against it, and the model is sent no forced tool again.
    fake, provider, target = await setup(ANTHROPIC, serve, transport)
    target = replace(target, model=FABLE)
    fake.queue({"text": '{"name": "a"}'}, {"text": '{"name": "b"}'})
    request = LLMRequest([Message("user", "Name?")], json_schema=ITEM, max_tokens=50, stream=stream)
    result = await provider.complete(request, target)
    assert result.parsed == {"name": "a"} and fake.violations == [] and len(fake.requests) == 2
    body = last_body(fake)
    assert "tool_choice" not in body and "tools" not in body
    assert body["output_config"]["format"]["schema"]["required"] == ["name"]
    assert any(w.startswith(f"anthropic:{FABLE} refused a forced tool") for w in result.warnings), result.warnings
    result = await provider.complete(request, target)
    assert result.parsed == {"name": "b"} and len(fake.requests) == 3 and "tool_choice" not in last_body(fake)
    assert result.warnings == [] and "output_config" in last_body(fake)


async def test_a_tool_the_call_forces_moves_on_from_a_model_that_takes_no_forced_tool(serve, transport):
    # The call's own forced tool is the call's to decide: a model that takes none cannot serve it, and another target
    # may; the refusal stopped the cascade as a bad request.
    fake, provider, target = await setup(ANTHROPIC, serve, transport)
    request = LLMRequest([Message("user", "Weather?")], tools=[WEATHER], tool_choice="required", max_tokens=50)
    with pytest.raises(E.UnsupportedFeatureError) as info:
        await provider.complete(request, replace(target, model=FABLE))
    assert info.value.moves_on and fake.violations == []
    assert 'type "tool" and "any" are not supported for this model' in info.value.message
    assert "tool_choice 'auto'" in info.value.message


@pytest.mark.parametrize(
    "said",
    [
        'tool_choice: type "tool" and "any" are not supported for this model',
        "tool_choice: tool_choice forces tool use is not compatible with this model",
        "Thinking may not be enabled when tool_choice forces tool use.",
    ],
)
def test_a_refused_forced_tool_is_the_targets_limit_not_a_bad_request(said: str):
    body = json.dumps({"type": "error", "error": {"type": "invalid_request_error", "message": said}}).encode()
    err = anthropic_error(400, body, {}, provider="anthropic", model=FABLE)
    assert type(err) is E.UnsupportedFeatureError and err.moves_on and err.details["param"] == "tool_choice"


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("name", ["json_output", "json_value_output"])
async def test_a_call_of_the_callers_own_tool_named_as_the_json_tool_is_a_tool_call(serve, transport, stream, name):
    # The tool a JSON answer is forced through is named json_output (json_value_output): a call of the caller's own
    # tool of that name was taken for the JSON answer, its arguments returned as the text and the call dropped, though
    # the JSON tool is forced only in a call with no tools of its own
    fake, provider, target = await setup(ANTHROPIC, serve, transport)
    fake.queue({"tool_calls": [{"id": "toolu_1", "name": name, "arguments": {"report": "done"}}]})
    tool = ToolSpec(name, "Hand the report over", {"type": "object", "properties": {"report": {"type": "string"}}})
    request = LLMRequest([Message("user", "Report?")], tools=[tool], max_tokens=100, stream=stream)
    result = await provider.complete(request, target)
    assert [(c.name, c.arguments) for c in result.tool_calls] == [(name, {"report": "done"})]
    assert result.finish_reason == "tool_calls" and result.text == "" and fake.violations == []


@pytest.mark.parametrize(
    ("schema", "document"),
    [
        ({"type": "object", "properties": {"city": {"type": "string"}, "c": {"type": "integer"}}}, {"city": "Oslo"}),
        ({"type": "array", "items": {"type": "object"}}, [{"name": "a"}, {"name": "b", "tags": {"x": 1}}]),
    ],
    ids=["object", "wrapped-value"],
)
async def test_a_streamed_json_schema_answer_reaches_progress_as_the_text_it_is(serve, transport, schema, document):
    # A JSON schema answer comes in the forced tool's input_json_delta events, not in text deltas: a caller
    # streaming it (a Python progress callback, an MCP client's "streaming: N characters") got no delta at all,
    # then an answer whose text its deltas never showed. The document's text now streams as it comes, and the
    # deltas join to the answer's text.
    fake, provider, target = await setup(ANTHROPIC, serve, transport)
    name = "json_output" if schema["type"] == "object" else "json_value_output"
    wrapped = document if name == "json_output" else {"value": document}
    fake.queue({"tool_calls": [{"id": "t1", "name": name, "arguments": json.dumps(wrapped, indent=1)}]})
    deltas: list[dict] = []

    async def progress(event: str, data: dict) -> None:
        deltas.append(dict(data))

    request = LLMRequest([Message("user", "Weather?")], json_schema=schema, max_tokens=200, stream=True)
    result = await provider.complete(request, target, progress=progress)
    assert result.parsed == document and json.loads(result.text) == document and fake.violations == []
    assert len(deltas) > 1 and "".join(d["text"] for d in deltas) == result.text
    assert [d["chars"] for d in deltas] == [sum(len(d["text"]) for d in deltas[: i + 1]) for i in range(len(deltas))]


@pytest.mark.parametrize(
    "raw",
    [
        '{"value": [1, {"a": "}"}]}',
        '{ "value" :\n {"b": {}}  }\n',
        '{"value":"text with } and spaces  "}',
        '{"value":3}',
    ],
)
@pytest.mark.parametrize("size", [1, 2, 3, 7, 100])
def test_a_wrapped_json_value_streams_as_the_values_text_however_its_pieces_are_cut(raw: str, size: int):
    from magsag_mcp.providers.json_output import StreamedDocument

    document = StreamedDocument(wrapped=True)
    text = "".join(document.feed(raw[i : i + size]) for i in range(0, len(raw), size))
    assert json.loads(text) == json.loads(raw)["value"]
    assert document.instead_of(json.dumps(json.loads(raw)["value"])) == text


def _held_back_as_before(pieces: list[str]) -> list[str]:
    """What each piece released as the stream read it before: the text so far, less what may close the wrapper."""
    import re

    may_close, held, out = re.compile(r"\s*(?:\}\s*)?\Z"), "", []
    for piece in pieces:
        text = held + piece
        end = may_close.search(text).start()
        out.append(text[:end])
        held = text[end:]
    return out


@pytest.mark.parametrize(
    "value",
    ['[1, {"a": "}"}]', '{"b": {}}  }\n', " \n\t ", "}", "} }  } x }", '"x" }\n\n}', '[{}, {} ]  ', "  \u3000}"],
)
@pytest.mark.parametrize("size", [1, 2, 3, 5, 100])
def test_a_wrapped_value_holds_back_only_what_may_close_it_whatever_whitespace_comes(value: str, size: int):
    # The text held back (whitespace, and the one brace that may close the wrapper) was read again, whole, with each
    # piece: a value that ran into a long run of whitespace (a model repeating itself until max_tokens) took time
    # quadratic in its length on the event loop. Held in pieces now, it releases the same text as before.
    from magsag_mcp.providers.json_output import StreamedDocument

    for raw in (value, value + " " * 50 + "}", " " * 40 + value + "\n" * 30):
        pieces = [raw[i : i + size] for i in range(0, len(raw), size)]
        document = StreamedDocument(wrapped=True)
        document.feed('{"value": ')
        assert [document.feed(p) for p in pieces] == _held_back_as_before(pieces)
    document = StreamedDocument(wrapped=True)
    released = [document.feed(p) for p in ['{"value": [1,', *[" " * 16] * 50_000, "2]", "\n}"]]
    assert "".join(released) == "[1," + " " * 800_000 + "2]" and released[-1] == ""


def test_a_wrapped_json_input_without_its_value_key_streams_nothing_and_keeps_the_answers_text():
    from magsag_mcp.providers.json_output import StreamedDocument

    document = StreamedDocument(wrapped=True)
    raw = '{"other": ' + json.dumps(["x" * 40] * 10) + "}"
    assert "".join(document.feed(raw[i : i + 5]) for i in range(0, len(raw), 5)) == ""
    assert document.instead_of('"the value"') == '"the value"'


@pytest.mark.parametrize("stream", [False, True])
async def test_a_json_schema_answer_is_the_text_claude_wrote_streamed_or_not(serve, transport, stream: bool):
    # Unstreamed, the forced JSON tool's document was written out again with every letter past ASCII escaped
    # ("Troms\u00f8"): result.text (and the one progress delta an unstreamed answer gets) was not the text Claude
    # wrote, nor the text the same answer streamed has, nor what any other vendor's JSON answer gives.
    fake, provider, target = await setup(ANTHROPIC, serve, transport)
    written = '{"city": "Tromsø", "note": "北"}'
    arguments = written if stream else json.loads(written)  # (an input_json_delta's text; a tool_use's input)
    fake.queue({"tool_calls": [{"id": "t1", "name": "json_output", "arguments": arguments}]})
    schema = {"type": "object", "properties": {"city": {"type": "string"}, "note": {"type": "string"}}}
    request = LLMRequest([Message("user", "Where?")], json_schema=schema, max_tokens=200, stream=stream)
    result = await provider.complete(request, target)
    assert result.parsed == {"city": "Tromsø", "note": "北"} and fake.violations == []
    assert result.text == written


async def test_a_forced_tool_or_prefill_refused_says_the_resend_to_progress_as_it_happens(serve, transport):
    # Both resends were said in the answer's warnings only: a caller following progress saw one attempt and then the
    # answer, not that the call went again, nor how.
    fake, provider, target = await setup(ANTHROPIC, serve, transport)
    events: list[tuple[str, dict]] = []
    fake.queue({"text": '{"name": "a"}'})
    request = LLMRequest([Message("user", "Name?")], json_schema=ITEM, max_tokens=50)
    await provider.complete(request, replace(target, model=FABLE), progress=lambda *e: events.append(e))
    said = [(e, d["target"], d["reason"]) for e, d in events if e != "delta"]
    forced = "refused a forced tool (tool_choice), which carried the JSON schema: sending it again with the schema in "
    assert said == [("resend", f"anthropic:{FABLE}", forced + "the prompt")]
    events.clear()
    fake.no_prefill = frozenset({"prod-claude"})
    fake.queue({"text": '{"c": 3}'})
    turns = [Message("user", "Weather in Oslo, as JSON?"), Message("assistant", "{")]
    request = LLMRequest(turns, max_tokens=50, json_output=True)
    await provider.complete(request, replace(target, model="prod-claude"), progress=lambda *e: events.append(e))
    said = [(e, d["target"], d["reason"]) for e, d in events if e != "delta"]
    assert said == [("resend", "anthropic:prod-claude", "refused the JSON prefill: sending it again without it")]
