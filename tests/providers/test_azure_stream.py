"""Azure OpenAI's Chat Completions stream as the service sends it, from the providers' OpenAI fake in Azure mode: a
first chunk of the prompt's filter results (``choices`` empty, id and model blank), the answer's chunks each with its
choice's ``content_filter_results``, and, under the asynchronous filter, a last annotation after the finish_reason.
The provider reads the answer from it whole: its text, its usage, no error and no warning."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from magsag_mcp import errors as E
from magsag_mcp.providers.openai import AzureProvider
from magsag_mcp.types import LLMRequest, Message, Target
from tests.fakes.spec import spec_validator
from tests.fakes.sse_reader import sse_blocks

from .fakes import FakeOpenAI

pytestmark = pytest.mark.anyio

KEY = "sk-test-key-123456"
#: an api-version with stream_options (2024-09-01-preview or later)
ENV = {"AZURE_OPENAI_API_KEY": KEY, "AZURE_OPENAI_API_VERSION": "2025-01-01-preview"}
SAFE = {"filtered": False, "severity": "safe"}


async def _chunks(serve: Any, step: dict[str, Any]) -> list[Any]:
    fake = FakeOpenAI(KEY, azure=True).queue(step)
    base = await serve(fake)
    body = {
        "model": "gpt4o-prod",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            base + "/openai/deployments/gpt4o-prod/chat/completions?api-version=2025-01-01-preview",
            json=body,
            headers={"api-key": KEY},
        ) as resp,
    ):
        assert resp.status == 200
        blocks = [data for _, data in await sse_blocks(resp)]
    assert fake.violations == []
    return [data if data == "[DONE]" else json.loads(data) for data in blocks]


@pytest.mark.parametrize("async_filter", [False, True], ids=["default-filter", "async-filter"])
async def test_the_azure_fake_streams_the_filter_results_as_azure_does(serve, async_filter: bool):
    chunks = await _chunks(serve, {"text": "one two", "async_filter": async_filter})
    assert chunks[-1] == "[DONE]"
    for chunk in chunks[:-1]:
        # (but the asynchronous filter's annotation: its choice has no delta, as the service sends it and Azure's
        # content streaming guide shows it, where the 2024-10-21 spec requires one)
        if not any("content_filter_offsets" in c for c in chunk["choices"]):
            spec_validator("azure").assert_valid("createChatCompletionStreamResponse", chunk)
    first = chunks[0]
    assert first["choices"] == [] and first["id"] == "" and first["model"] == ""
    assert first["prompt_filter_results"][0]["content_filter_results"]["hate"] == SAFE
    texts = [c for c in chunks[1:-1] if c["choices"] and c["choices"][0].get("delta", {}).get("content")]
    assert [c["choices"][0]["delta"]["content"] for c in texts] == ["one", " two"]
    assert all(c["choices"][0]["content_filter_results"]["violence"] == SAFE for c in texts)
    finish = next(i for i, c in enumerate(chunks[:-1]) if c["choices"] and c["choices"][0]["finish_reason"])
    assert chunks[finish]["choices"][0]["content_filter_results"] == {}
    after = chunks[finish + 1 : -1]
    if async_filter:
        annotation, usage = after
        assert annotation["id"] == "" and "delta" not in annotation["choices"][0]
        assert annotation["choices"][0]["content_filter_offsets"] == {
            "check_offset": 7,
            "start_offset": 0,
            "end_offset": 7,
        }
    else:
        (usage,) = after
    assert usage["choices"] == [] and usage["usage"]["total_tokens"] == 18


@pytest.mark.parametrize("async_filter", [False, True], ids=["default-filter", "async-filter"])
async def test_the_azure_provider_reads_its_stream_whole(serve, transport, async_filter: bool):
    fake = FakeOpenAI(KEY, azure=True).queue(
        {
            "text": "one two three",
            "usage": {"prompt_tokens": 20, "completion_tokens": 3},
            "model": "gpt-4o-2024-08-06",
            "async_filter": async_filter,
        }
    )
    url = await serve(fake)
    provider = AzureProvider(ENV, transport)
    deltas: list[int] = []
    result = await provider.complete(
        LLMRequest([Message("user", "count")], max_tokens=50, stream=True),
        Target(provider.name, "gpt4o-prod", url),
        progress=lambda e, d: deltas.append(d["chars"]),
    )
    assert fake.violations == []
    assert result.text == "one two three" and result.finish_reason == "stop" and result.warnings == []
    assert (result.usage.input_tokens, result.usage.output_tokens) == (20, 3) and result.usage.reported
    # the model that served it, from the answer's chunks: not the prompt filter's (or the annotation's) blank one
    assert result.model == "gpt-4o-2024-08-06" and result.response_id == "chatcmpl-test"
    assert deltas and deltas == sorted(deltas)


async def test_an_azure_stream_its_filter_stopped_names_the_categories_that_fired(serve, transport):
    """The finish_reason content_filter's choice carries the categories that fired: the error says which, so that the
    caller knows what to change in the prompt, and it is billed at the usage the stream reported."""
    fired = {
        "hate": SAFE,
        "self_harm": SAFE,
        "sexual": SAFE,
        "violence": {"filtered": True, "severity": "high"},
    }
    fake = FakeOpenAI(KEY, azure=True).queue(
        {
            "text": "Step one of it",
            "finish": "content_filter",
            "filter_results": fired,
            "usage": {"completion_tokens": 4},
        }
    )
    url = await serve(fake)
    provider = AzureProvider(ENV, transport)
    with pytest.raises(E.ContentFilteredError) as info:
        await provider.complete(
            LLMRequest([Message("user", "how")], max_tokens=50, stream=True), Target(provider.name, "gpt4o-prod", url)
        )
    assert fake.violations == []
    assert "(filtered: violence (high))" in info.value.message
    assert info.value.usage is not None and info.value.usage.output_tokens == 4
