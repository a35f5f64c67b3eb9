"""The spec validator the loopback fakes rely on: it must accept what the spec allows and name what it does not."""

from __future__ import annotations

import json

import pytest

from tests.fakes.spec import SpecValidator, load_spec, spec_validator, to_json_schema

CHAT = {"model": "gpt-4o", "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]}


def test_valid_chat_request_passes():
    validator = spec_validator("openai")
    assert validator.errors("CreateChatCompletionRequest", CHAT) == []
    validator.assert_valid("CreateChatCompletionRequest", CHAT)


def test_missing_messages_is_named():
    problems = spec_validator("openai").errors("CreateChatCompletionRequest", {"model": "gpt-4o"})
    assert problems == ["(root): 'messages' is a required property"]


def test_wrong_type_names_the_path_and_the_type():
    with pytest.raises(AssertionError) as info:
        spec_validator("openai").assert_valid("CreateChatCompletionRequest", {"model": "gpt-4o", "messages": "hi"})
    assert "CreateChatCompletionRequest" in str(info.value)
    assert "messages: 'hi' is not of type 'array'" in str(info.value)


def test_a_failed_union_reports_the_branch_that_was_meant():
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": 3}]}
    (problem,) = spec_validator("openai").errors("CreateChatCompletionRequest", body)
    assert problem.startswith("messages/0:")
    assert "messages/0/content: 3 is not of type 'string'" in problem


def test_internal_refs_resolve_deep_in_the_document():
    # the message union, the tool schema and the response format are all $refs several levels down
    body = {
        **CHAT,
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "out", "schema": {"type": "object"}}},
    }
    assert spec_validator("openai").errors("CreateChatCompletionRequest", body) == []
    body["response_format"] = {"type": "json_schema"}  # json_schema is required for this type
    assert spec_validator("openai").errors("CreateChatCompletionRequest", body)


def test_openapi_30_nullable_becomes_json_schema_null():
    translated = to_json_schema({"type": "string", "nullable": True, "enum": ["a"]})
    assert translated == {"type": ["string", "null"], "enum": ["a", None]}
    assert to_json_schema({"$ref": "#/x", "nullable": True}) == {"anyOf": [{"$ref": "#/x"}, {"type": "null"}]}
    assert to_json_schema({"type": "number", "minimum": 0, "exclusiveMinimum": True}) == {
        "type": "number",
        "exclusiveMinimum": 0,
    }
    # a property that happens to be *named* nullable is a schema, not the flag
    props = {"type": "object", "properties": {"nullable": {"type": "boolean"}}}
    assert to_json_schema(props) == props


def test_nullable_fields_of_a_real_30_document_accept_null():
    azure = spec_validator("azure")
    call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    body = {
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": None, "tool_calls": [call]},  # nullable oneOf
            {"role": "tool", "tool_call_id": "call_1", "content": "{}"},
        ],
        "temperature": None,  # nullable number
    }
    assert azure.errors("createChatCompletionRequest", body) == []
    body["temperature"] = "hot"
    assert azure.errors("createChatCompletionRequest", body) == ["temperature: 'hot' is not of type 'number', 'null'"]
    # the original 3.0 keyword is gone from the translated document
    assert '"nullable": true' not in json.dumps(load_spec("azure")["components"]["schemas"])


def test_unknown_schema_name_is_a_clear_error():
    with pytest.raises(KeyError, match="no components/schemas/NoSuchThing"):
        spec_validator("openai").errors("NoSuchThing", {})


def test_validators_and_documents_are_cached():
    assert spec_validator("openai") is spec_validator("openai")
    # the second load reads the JSON cache and yields an equal document
    assert load_spec("azure") == load_spec("azure")


def test_the_parsed_document_is_cached_by_content_hash(tmp_path, monkeypatch):
    monkeypatch.setenv("MAGSAG_SPEC_CACHE", str(tmp_path))
    first = load_spec("azure")
    (cached,) = tmp_path.glob("azure-*.json")
    assert json.loads(cached.read_text()) == first
    assert not list(tmp_path.glob("*.tmp"))
    assert load_spec("azure") == first


def test_an_inline_document_validates_with_translated_keywords():
    schema = {"type": "integer", "nullable": True, "minimum": 0, "exclusiveMinimum": True}
    validator = SpecValidator("inline", {"components": {"schemas": {"N": to_json_schema(schema)}}})
    assert validator.errors("N", None) == []
    assert validator.errors("N", 1) == []
    assert validator.errors("N", 0) == ["(root): 0 is less than or equal to the minimum of 0"]


def test_errata_correct_only_the_documented_fault():
    # Azure's json_schema response format names an undeclared `type` as required; OpenAI's shape is accepted
    body = {
        "messages": [{"role": "user", "content": "x"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "out", "schema": {"type": "object"}}},
    }
    assert spec_validator("azure").errors("createChatCompletionRequest", body) == []
    del body["response_format"]["json_schema"]["name"]
    assert spec_validator("azure").errors("createChatCompletionRequest", body)


_TEXT = {"type": "input_text", "text": "What is in it?"}
_PICTURE = {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo=", "detail": "auto"}


@pytest.mark.parametrize(
    ("message", "said"),
    [
        ({"role": "user", "content": [_TEXT, _PICTURE]}, None),
        ({"type": "message", "role": "user", "content": [_TEXT, _PICTURE]}, None),
        ({"role": "assistant", "content": [_TEXT]}, None),  # (an EasyInputMessage alone: no InputMessage's role)
        ({"role": "user", "content": "What is in it?"}, None),
        ({"role": "user", "content": [_TEXT, {**_PICTURE, "detail": None}]}, "input_image"),
        ({"role": "user", "content": [{k: v for k, v in _PICTURE.items() if k != "detail"}]}, "input_image"),
        ({"role": "user", "content": [{**_PICTURE, "image_url": {"url": "https://a.example/q.png"}}]}, "not of type"),
        ({"role": "user", "content": [{**_PICTURE, "detail": "max"}]}, "'max' is not one of"),
        ({"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://a.example/q.png"}}]}, ""),
        ({"role": "robot", "content": [_TEXT]}, "'robot' is not one of"),
        ({"role": "user"}, "'content' is a required property"),
    ],
    ids=[
        "parts",
        "typed",
        "assistant",
        "text",
        "null-detail",
        "no-detail",
        "url-object",
        "bad-detail",
        "chat-part",
        "bad-role",
        "no-content",
    ],
)
def test_the_responses_message_erratum_takes_a_picture_message_and_lets_no_wrong_shape_through(message, said):
    # the erratum reads a message that is both an EasyInputMessage and an InputMessage as the latter alone: it must
    # take what the spec means (a user's text and picture parts) and still refuse each picture or message written wrong
    problems = spec_validator("openai").errors("CreateResponse", {"model": "gpt-4o", "input": [message]})
    if said is None:
        assert problems == []
    else:
        assert len(problems) == 1 and said in problems[0], problems
