"""The fakes refuse what the vendors refuse of the recent features, and take what they take, field by field, where the
spec check alone cannot tell (a field newer than the spec files, or a rule the spec leaves to the guides):

- the Responses API (the providers' FakeOpenAI) refuses what the other OpenAI fake's Responses route refuses: a
  reasoning item sent back without its encrypted content when nothing is stored, a temperature beside reasoning, a
  Chat Completions field moved (it judged the Responses API's requests by the tool names and formats alone);
- Claude's structured outputs take a simple pattern and refuse the constraints the guide lists (the fake refused every
  pattern and took multipleOf, exclusive bounds, item and property counts);
- Gemini's thinkingConfig: thinkingLevel (newer than gemini.json) only of the Discovery document's values, only on
  Gemini 3, never beside thinkingBudget; a budget within its 2.5 model's range (the fake took any of these).
"""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from magsag_mcp import errors as E
from magsag_mcp.providers.gemini import GeminiProvider
from magsag_mcp.types import LLMRequest, Message, Target

from .fakes import FakeAnthropic, FakeGemini, FakeOpenAI

pytestmark = pytest.mark.anyio

KEY = "tk-q7v2-Hx9r4Zm3Pw"


async def _post(url: str, headers: dict[str, str], body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as session, session.post(url, json=body, headers=headers) as resp:
        return resp.status, await resp.json()


@pytest.mark.parametrize(
    ("extra", "status", "said"),
    [
        (
            {
                "store": False,
                "input": [
                    {"role": "user", "content": "hi"},
                    {"type": "reasoning", "id": "rs_01", "summary": []},
                    {"role": "user", "content": "and?"},
                ],
            },
            404,
            "Items are not persisted when `store` is set to false",
        ),
        ({"model": "o4-mini", "temperature": 0.2}, 400, "'temperature' does not support 0.2"),
    ],
    ids=["unstored-reasoning-item", "temperature-beside-reasoning"],
)
async def test_the_responses_fake_refuses_what_the_responses_api_refuses(serve, extra, status, said):
    fake = FakeOpenAI(KEY)
    url = await serve(fake)
    body = {"model": "gpt-4o", "input": "hi", **extra}
    got, answer = await _post(url + "/v1/responses", {"Authorization": f"Bearer {KEY}"}, body)
    assert (got, fake.violations) == (status, []) and said in answer["error"]["message"], answer
    fake.queue({"text": "ok"})
    plain, _ = await _post(url + "/v1/responses", {"Authorization": f"Bearer {KEY}"}, {"model": "gpt-4o", "input": "x"})
    assert plain == 200


def _claude_json(prop: dict[str, Any]) -> dict[str, Any]:
    schema = {"type": "object", "properties": {"a": prop}, "required": ["a"], "additionalProperties": False}
    return {
        "model": "claude-haiku-4-5",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "x"}],
        "output_config": {"format": {"type": "json_schema", "schema": schema}},
    }


@pytest.mark.parametrize(
    ("prop", "refused"),
    [
        ({"type": "string", "pattern": "^[A-Z]{2}-[0-9]+$"}, None),
        ({"type": "array", "items": {"type": "string"}, "minItems": 1}, None),
        ({"type": "string", "pattern": "^(a)\\1$"}, "pattern"),
        ({"type": "string", "pattern": "^(?!x)y$"}, "pattern"),
        ({"type": "number", "multipleOf": 5}, "multipleOf"),
        ({"type": "number", "exclusiveMinimum": 0}, "exclusiveMinimum"),
        ({"type": "array", "items": {"type": "string"}, "minItems": 2}, "minItems"),
        ({"type": "array", "items": {"type": "string"}, "maxItems": 3}, "maxItems"),
        ({"type": "string", "maxLength": 3}, "maxLength"),
    ],
    ids=lambda v: str(v)[:40] if isinstance(v, dict) else str(v),
)
async def test_the_anthropic_fake_takes_the_structured_output_schemas_claude_takes(serve, prop, refused):
    fake = FakeAnthropic(KEY).queue({"text": '{"a": "AB-1"}'})
    url = await serve(fake)
    headers = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
    status, answer = await _post(url + "/v1/messages", headers, _claude_json(prop))
    assert fake.violations == []
    if refused is None:
        assert status == 200, answer
    else:
        message = answer["error"]["message"]
        assert status == 400 and message.startswith("output_config.format.schema") and refused in message, answer


@pytest.mark.parametrize(
    ("model", "thinking", "refused"),
    [
        ("gemini-3-pro-preview", {"thinkingLevel": "low"}, None),
        ("gemini-3-flash-preview", {"thinkingLevel": "MINIMAL", "includeThoughts": True}, None),
        ("gemini-2.5-flash", {"thinkingBudget": 0}, None),
        ("gemini-2.5-flash", {"thinkingBudget": -1}, None),
        ("gemini-2.5-pro", {"thinkingBudget": 32768}, None),
        ("gemini-2.5-flash", {"thinkingLevel": "LOW"}, "Thinking level is not supported for this model."),
        ("gemini-3-pro-preview", {"thinkingLevel": "EXTREME"}, "thinking_level"),
        ("gemini-3-pro-preview", {"thinkingLevel": "HIGH", "thinkingBudget": 2048}, "thinking budget"),
        ("gemini-2.5-flash", {"thinkingBudget": 30000}, "Budget 30000 is invalid"),
        ("gemini-2.5-pro", {"thinkingBudget": 64}, "Budget 64 is invalid"),
        ("gemini-2.5-flash-lite", {"thinkingBudget": 100}, "Budget 100 is invalid"),
    ],
)
async def test_the_gemini_fake_takes_the_thinking_configs_gemini_takes(serve, model, thinking, refused):
    fake = FakeGemini(KEY).queue({"text": "ok"})
    url = await serve(fake)
    body = {
        "model": f"models/{model}",
        "contents": [{"role": "user", "parts": [{"text": "x"}]}],
        "generationConfig": {"thinkingConfig": thinking},
    }
    status, answer = await _post(f"{url}/v1beta/models/{model}:generateContent", {"x-goog-api-key": KEY}, body)
    assert fake.violations == []
    if refused is None:
        assert status == 200, answer
    else:
        assert status == 400 and answer["error"]["status"] == "INVALID_ARGUMENT", answer
        assert refused in answer["error"]["message"], answer


async def test_a_thinking_level_on_gemini_2_5_moves_on_as_the_targets_own(serve, transport):
    # the target's own thinkingConfig (magsag sets none) that its model refuses: the next target is tried
    fake = FakeGemini(KEY)
    url = await serve(fake)
    provider = GeminiProvider({"GEMINI_API_KEY": KEY}, transport)
    target = Target("google", "gemini-2.5-flash", url)
    ask = LLMRequest([Message("user", "x")], max_tokens=50, extra={"thinkingConfig": {"thinkingLevel": "low"}})
    with pytest.raises(E.UnsupportedFeatureError) as info:
        await provider.complete(ask, target)
    assert info.value.moves_on and info.value.details["param"] == "thinkingConfig"
    assert fake.requests[-1]["body"]["generationConfig"]["thinkingConfig"] == {"thinkingLevel": "low"}


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/chat/completions", {"model": "gpt-4o", "messages": [{"role": "robot", "content": "hi"}]}),
        ("/v1/responses", {"model": "gpt-4o", "input": "hi", "max_output_tokens": "many"}),
        ("/v1/messages", {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}]}),
        ("/v1beta/models/gemini-2.5-flash:streamGenerateContent", {"contents": [{"role": "user", "parts": "hi"}]}),
    ],
    ids=["chat-role", "responses-limit", "messages-no-max_tokens", "gemini-parts"],
)
def test_a_server_that_answers_any_post_judges_the_request_by_its_path(path: str, body: dict[str, Any]):
    # the raw-stream, mutation and compatible-vendor servers answer every POST alike: each judges what it was sent
    # by the spec of the API its path names, so that a request built wrong fails the test that sent it
    from tests.fakes.request_check import request_problems

    problems = request_problems(path, body)
    assert problems and all(p.startswith(path + ": ") for p in problems), problems
    assert request_problems("/v1/sse", body) == []  # (a test's own path is no API's)


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/chat/completions", {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}, "max_tokenz"),
        ("/v1/chat/completions", {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}, "reasoning"),
        ("/v1/responses", {"model": "gpt-4o", "input": "hi"}, "reasoning_effort"),
        ("/v1/responses", {"model": "gpt-4o", "input": "hi"}, "max_tokens"),
        ("/v1/responses", {"model": "gpt-4o", "input": "hi"}, "logprobs"),
        (
            "/v1beta/models/gemini-2.5-flash:generateContent",
            {"model": "models/gemini-2.5-flash", "contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
            "metadata",
        ),
    ],
    ids=[
        "chat-misspelt",
        "chat-responses-field",
        "responses-chat-effort",
        "responses-max_tokens",
        "responses-logprobs",
        "gemini-metadata",
    ],
)
def test_the_judge_of_any_post_refuses_a_field_the_api_does_not_have(path: str, body: dict[str, Any], field: str):
    # OpenAI's and Gemini's OpenAPI schemas allow additional properties: judged by the schema alone, a misspelt field
    # or one API's field sent to the other (what moved_for_responses moves) passed, where the vendor answers 400
    from tests.fakes.request_check import request_problems

    assert request_problems(path, body) == []  # (the body without it is valid)
    problems = request_problems(path, {**body, field: 1})
    assert len(problems) == 1 and field in problems[0], problems
    # a compatible vendor's own field, which a test sends it on purpose, is taken when the test names it
    assert request_problems(path, {**body, field: 1}, extra=(field,)) == []


#: what each API answers a field it does not have: Chat Completions names no param; the Responses API names it, with a
#: code of its own (its answer to a Chat Completions field, pydantic/pydantic-ai#3653, 1jehuang/jcode#1028)
_CHAT_SAID = {"message": "Unrecognized request argument supplied: max_tokenz", "param": None, "code": None}
_RESPONSES_SAID = {"message": "Unknown parameter: 'max_tokenz'.", "param": "max_tokenz", "code": "unknown_parameter"}


@pytest.mark.parametrize(
    ("path", "body", "said"),
    [
        ("/v1/chat/completions", {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}, _CHAT_SAID),
        ("/v1/responses", {"model": "gpt-4o", "input": "hi"}, _RESPONSES_SAID),
    ],
    ids=["chat", "responses"],
)
async def test_the_openai_fake_refuses_a_field_the_api_does_not_have_as_openai_does(serve, path, body, said):
    # OpenAI's schemas allow additional properties, so the main fake took a misspelt field the API answers with a 400
    from tests.fakes.openai_server import FakeOpenAI as MainFakeOpenAI

    fake = MainFakeOpenAI(key=KEY)
    url = await serve(fake)
    got, answer = await _post(url + path, {"Authorization": f"Bearer {KEY}"}, {**body, "max_tokenz": 5})
    assert (got, answer) == (400, {"error": {**said, "type": "invalid_request_error"}})
    assert fake.violations == [f"POST {path}: {said['message']}"]
    # a compatible vendor's own field, which a test sends on purpose, is taken when the test's server names it
    fake.violations.clear()
    fake.extra_fields = {"max_tokenz"}
    got, _ = await _post(url + path, {"Authorization": f"Bearer {KEY}"}, {**body, "max_tokenz": 5})
    assert (got, fake.violations) == (200, [])


def test_an_azure_deployments_request_is_judged_by_azures_spec_not_openais():
    # the 2024-10-21 spec has Azure's data_sources and lacks OpenAI's later fields (reasoning_effort); the deployment
    # is the path's, and the body's model (which OpenAI's own AzureOpenAI client sends) is taken
    from tests.fakes.request_check import request_problems

    deployment = "/openai/deployments/gpt4o-prod/chat/completions"
    body = {"model": "gpt4o-prod", "messages": [{"role": "user", "content": "hi"}]}
    assert request_problems(deployment, body) == []
    assert request_problems(deployment, {**body, "data_sources": []}) == []
    assert request_problems("/v1/chat/completions", {**body, "data_sources": []}) == [
        "/v1/chat/completions: Unrecognized request argument supplied: data_sources"
    ]
    assert request_problems("/v1/chat/completions", {**body, "reasoning_effort": "low"}) == []
    assert request_problems(deployment, {**body, "reasoning_effort": "low"}) == [
        f"{deployment}: Unrecognized request argument supplied: reasoning_effort"
    ]


async def test_the_openai_fake_refuses_a_field_an_azure_deployment_does_not_have_in_azures_shape(serve):
    from tests.fakes.openai_server import AZURE_KEY
    from tests.fakes.openai_server import FakeOpenAI as MainFakeOpenAI

    fake = MainFakeOpenAI(key=KEY)
    url = await serve(fake) + "/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21"
    body = {"model": "gpt4o-prod", "messages": [{"role": "user", "content": "hi"}]}
    got, _ = await _post(url, {"api-key": AZURE_KEY}, body)
    assert (got, fake.violations) == (200, [])
    got, answer = await _post(url, {"api-key": AZURE_KEY}, {**body, "reasoning_effort": "low"})
    said = "Unrecognized request argument supplied: reasoning_effort"
    assert (got, answer) == (400, {"error": {"code": "400", "message": said, "type": "invalid_request_error"}})


@pytest.mark.parametrize(
    ("path", "body", "said"),
    [
        ("/v1/chat/completions", {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}, _CHAT_SAID),
        ("/v1/responses", {"model": "gpt-4o", "input": "hi"}, _RESPONSES_SAID),
    ],
    ids=["chat", "responses"],
)
async def test_the_providers_openai_fake_refuses_a_field_the_api_does_not_have_as_the_main_fake_does(
    serve, path, body, said
):
    # it took any field at the root, where the main fake (and OpenAI) answer a 400: a request built with a field the
    # API lacks passed every test served by this fake
    fake = FakeOpenAI(KEY)
    url = await serve(fake)
    got, answer = await _post(url + path, {"Authorization": f"Bearer {KEY}"}, {**body, "max_tokenz": 5})
    assert (got, answer) == (400, {"error": {**said, "type": "invalid_request_error"}})
    assert fake.violations == [f"{path}: {said['message']}"]
    # a compatible vendor's own field, which a test sends on purpose, is taken when the test names it
    fake.violations.clear()
    fake.extra_fields = {"max_tokenz"}
    got, _ = await _post(url + path, {"Authorization": f"Bearer {KEY}"}, {**body, "max_tokenz": 5})
    assert (got, fake.violations) == (200, [])


@pytest.mark.parametrize(
    ("version", "field", "taken"),
    [
        ("2024-10-21", "stream_options", False),  # the spec's own version: no such request field
        ("2024-08-01-preview", "stream_options", False),  # before it came
        ("2024-09-01-preview", "stream_options", True),
        ("2025-04-01-preview", "stream_options", True),
        ("2024-06-01", "max_completion_tokens", False),
        ("2024-10-21", "reasoning_effort", False),
        ("2025-04-01-preview", "reasoning_effort", True),  # a later preview follows OpenAI's fields
        ("2024-06-01", "data_sources", True),
    ],
)
async def test_both_openai_fakes_judge_an_azure_deployments_request_by_its_api_version(serve, version, field, taken):
    # the main fake took stream_options at any api-version (it judged the path, not the version), where 2024-10-21 and
    # the versions before 2024-09-01-preview answer 400; the providers' fake judged only at 2024-10-21
    from tests.fakes.openai_server import AZURE_KEY
    from tests.fakes.openai_server import FakeOpenAI as MainFakeOpenAI

    body: dict[str, Any] = {"model": "gpt4o-prod", "messages": [{"role": "user", "content": "hi"}]}
    values: dict[str, Any] = {"stream_options": {"include_usage": True}, "reasoning_effort": "low", "data_sources": []}
    sent = {**body, field: values.get(field, 5)}
    route = f"/openai/deployments/gpt4o-prod/chat/completions?api-version={version}"
    for fake, key in ((MainFakeOpenAI(key=KEY), AZURE_KEY), (FakeOpenAI(KEY, azure=True), KEY)):
        url = await serve(fake) + route
        got, answer = await _post(url, {"api-key": key}, sent)
        if taken:
            assert (got, fake.violations) == (200, []), answer
        else:
            said = f"Unrecognized request argument supplied: {field}"
            assert (got, answer["error"]["message"]) == (400, said), answer
