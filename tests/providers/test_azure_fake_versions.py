"""The Azure fake refuses what Azure refuses of a request: a call without the ``api-version`` its spec requires (404,
no route), and, under the spec's own api-version (2024-10-21), a field that spec's ``createChatCompletionRequest``
does not list (400 "Unrecognized request argument supplied: ..."), as ``stream_options`` was refused before
2024-09-01-preview. The provider's calls at that version pass it: streamed, they go unstreamed, without
stream_options."""

from __future__ import annotations

import aiohttp
import pytest

from magsag_mcp.providers.openai import AzureProvider
from magsag_mcp.types import LLMRequest, Message, Target, ToolSpec

from .fakes import FakeOpenAI

pytestmark = pytest.mark.anyio

KEY = "azure-key-0123456789abcdef"
ROUTE = "/openai/deployments/prod-gpt4o/chat/completions"
BODY = {"model": "prod-gpt4o", "messages": [{"role": "user", "content": "hi"}]}


async def _post(url: str, body: dict, query: str) -> tuple[int, dict]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(url + ROUTE + query, json=body, headers={"api-key": KEY}) as resp,
    ):
        return resp.status, await resp.json()


async def test_the_azure_fake_finds_no_route_without_an_api_version(serve):
    fake = FakeOpenAI(KEY, azure=True)
    url = await serve(fake)
    status, answer = await _post(url, BODY, "")
    assert (status, answer["error"]["message"]) == (404, "Resource not found")
    assert fake.violations == [f"{ROUTE}: no api-version query parameter"]


async def test_the_azure_fake_refuses_what_its_specs_version_does_not_take(serve):
    fake = FakeOpenAI(KEY, azure=True)
    url = await serve(fake)
    streamed = {**BODY, "stream": True, "stream_options": {"include_usage": True}}
    status, answer = await _post(url, streamed, "?api-version=2024-10-21")
    assert status == 400 and answer["error"]["message"] == "Unrecognized request argument supplied: stream_options"
    assert fake.violations == [f"{ROUTE}: Unrecognized request argument supplied: stream_options"]
    fake.violations.clear()
    # a later api-version takes it; model, which the spec leaves out, is taken at any (the openai SDK sends it)
    fake.queue({"text": "ok"})
    async with (
        aiohttp.ClientSession() as session,
        session.post(url + ROUTE + "?api-version=2025-01-01-preview", json=streamed, headers={"api-key": KEY}) as resp,
    ):
        assert resp.status == 200
    fake.queue({"text": "ok"})
    status, _ = await _post(url, BODY, "?api-version=2024-10-21")
    assert status == 200 and fake.violations == []
    # a field of the wrong type at that version is the spec's violation
    status, _ = await _post(url, {**BODY, "temperature": "hot"}, "?api-version=2024-10-21")
    assert status == 400 and fake.violations and all(v.startswith("temperature:") for v in fake.violations)


async def test_the_providers_calls_at_the_default_api_version_are_what_it_takes(serve, transport):
    fake = FakeOpenAI(KEY, azure=True)
    url = await serve(fake)
    provider = AzureProvider({"AZURE_OPENAI_API_KEY": KEY, "AZURE_OPENAI_ENDPOINT": url + "/"}, transport)
    schema = {
        "type": "object",
        "properties": {"a": {"type": "string"}},
        "required": ["a"],
        "additionalProperties": False,
    }
    tool = ToolSpec("f", "d", schema, strict=True)
    for request in (
        LLMRequest([Message("user", "x")], stream=True, max_tokens=5, stop=["a"], temperature=0.5),
        LLMRequest(
            [Message("user", "x")], tools=[tool], tool_choice={"name": "f"}, extra={"parallel_tool_calls": False}
        ),
        LLMRequest([Message("user", "x")], json_schema=schema, json_schema_strict=True),
    ):
        fake.queue({"text": '{"a": "b"}'})
        await provider.complete(request, Target("azure", "prod-gpt4o"))
        assert fake.requests[-1]["query"] == {"api-version": "2024-10-21"}
    assert "stream_options" not in fake.requests[0]["body"]
    assert fake.violations == []


@pytest.mark.parametrize(
    "version",
    ["2024-02-01", "2024-06-01", "2024-08-01-preview", "2024-09-01-preview", "2024-10-21", "2025-04-01-preview"],
)
async def test_the_providers_calls_send_each_api_version_only_the_fields_it_has(serve, transport, version):
    # the fake judges a deployment's fields by the api-version of the URL (it judged 2024-10-21 alone): magsag's own
    # fields (stream_options, max_completion_tokens, strict tools) go only to the versions that have them
    fake = FakeOpenAI(KEY, azure=True)
    url = await serve(fake)
    env = {"AZURE_OPENAI_API_KEY": KEY, "AZURE_OPENAI_ENDPOINT": url + "/", "AZURE_OPENAI_API_VERSION": version}
    provider = AzureProvider(env, transport)
    schema = {
        "type": "object",
        "properties": {"a": {"type": "string"}},
        "required": ["a"],
        "additionalProperties": False,
    }
    for request in (
        LLMRequest([Message("user", "x")], stream=True, max_tokens=5, stop=["a"], temperature=0.5),
        LLMRequest([Message("user", "x")], tools=[ToolSpec("f", "d", schema, strict=True)], tool_choice="required"),
        LLMRequest([Message("user", "x")], json_output=True, max_tokens=5),
    ):
        fake.queue({"text": '{"a": "b"}'})
        await provider.complete(request, Target("azure", "prod-gpt4o"))
        assert fake.requests[-1]["query"] == {"api-version": version}
    assert len(fake.requests) == 3 and fake.violations == []
    streamed = fake.requests[0]["body"]
    assert ("stream_options" in streamed) == (version in ("2024-09-01-preview", "2025-04-01-preview"))
