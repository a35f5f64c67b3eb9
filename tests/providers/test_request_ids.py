"""The id a vendor names every request by, in a header of every answer (OpenAI's ``x-request-id``, Azure's
``apim-request-id`` beside it, Anthropic's ``request-id``): the fakes send it as the vendors do, on errors and on
streams alike, and a failed call names it (``details["request_id"]``), which is what the vendor's support asks for.
A stream fails after its 200 came with the header: cut, or ended by an error event, it is named all the same."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from magsag_mcp import errors as E
from magsag_mcp.providers.anthropic import AnthropicProvider
from magsag_mcp.providers.base import HTTPProvider
from magsag_mcp.providers.openai import AzureProvider, OpenAIProvider
from magsag_mcp.types import LLMRequest, Message, Target

from .fakes import AZURE_REQUEST_ID, OPENAI_REQUEST_ID, REQUEST_ID, Fake, FakeAnthropic, FakeOpenAI

pytestmark = pytest.mark.anyio
KEY = "sk-test-key-123456"

#: api -> the fake, the provider and target reaching it, and the header of the id it names requests by
Setup = Callable[[str, Any], tuple[HTTPProvider, Target]]
VENDORS: dict[str, tuple[Callable[[], Fake], Setup, str]] = {
    "anthropic": (
        lambda: FakeAnthropic(KEY),
        lambda url, t: (
            AnthropicProvider({"ANTHROPIC_API_KEY": KEY}, t),
            Target("anthropic", "claude-sonnet-4-5", url),
        ),
        "request-id",
    ),
    "chat": (
        lambda: FakeOpenAI(KEY),
        lambda url, t: (OpenAIProvider({"OPENAI_API_KEY": KEY}, t), Target("openai", "gpt-4o", url + "/v1")),
        "x-request-id",
    ),
    "responses": (
        lambda: FakeOpenAI(KEY),
        lambda url, t: (
            OpenAIProvider({"OPENAI_API_KEY": KEY}, t),
            Target("openai", "gpt-4o", url + "/v1", (("api", "responses"),)),
        ),
        "x-request-id",
    ),
    "azure": (
        lambda: FakeOpenAI(KEY, azure=True),
        lambda url, t: (
            AzureProvider(
                {
                    "AZURE_OPENAI_API_KEY": KEY,
                    "AZURE_OPENAI_ENDPOINT": url,
                    # an api-version with stream_options, without which Azure's answers are not streamed
                    "AZURE_OPENAI_API_VERSION": "2025-03-01-preview",
                },
                t,
            ),
            Target("azure", "gpt4o-prod", url),
        ),
        "x-request-id",
    ),
}
#: what each fake names its requests by
IDS = {"request-id": REQUEST_ID, "x-request-id": OPENAI_REQUEST_ID}

#: (step, streamed, the error it fails with)
FAILURES: dict[str, tuple[dict[str, Any], bool, type[E.ProviderError]]] = {
    "server-error": ({"error": 500}, False, E.ServerError),
    "rate-limited": ({"error": 429, "kind": "rate_limit_error"}, False, E.RateLimitError),
    "stream-cut": ({"text": "one two three four five six", "cut": True}, True, E.ProviderConnectionError),
}


@pytest.mark.parametrize("failure", sorted(FAILURES))
@pytest.mark.parametrize("api", sorted(VENDORS))
async def test_a_failed_call_names_the_id_the_vendor_gave_the_request(serve, transport, api: str, failure: str):
    make_fake, setup, header = VENDORS[api]
    fake = make_fake()
    provider, target = setup(await serve(fake), transport)
    step, stream, cls = FAILURES[failure]
    fake.queue(step, {"text": "the answer"})
    with pytest.raises(cls) as info:
        await provider.complete(LLMRequest([Message("user", "hi")], max_tokens=50, stream=stream), target)
    assert info.value.details["request_id"] == IDS[header]
    # and the call that follows is answered, under its own id's header as every answer is
    said = await provider.complete(LLMRequest([Message("user", "hi")], max_tokens=50, stream=stream), target)
    assert said.text == "the answer" and fake.violations == []
    if api == "azure":
        assert fake.id_headers == {"x-request-id": OPENAI_REQUEST_ID, "apim-request-id": AZURE_REQUEST_ID}


async def test_an_error_event_in_a_claude_stream_names_the_stream_s_request_id(serve, transport):
    # overloaded after the answer began: the 200's request-id header names it (the event's body need not)
    fake = FakeAnthropic(KEY)
    provider, target = VENDORS["anthropic"][1](await serve(fake), transport)
    error = {"type": "overloaded_error", "message": "Overloaded"}
    fake.queue({"text": "the answer starts here", "stream_error": {"type": "error", "error": error}})
    with pytest.raises(E.OverloadedError) as info:
        await provider.complete(LLMRequest([Message("user", "hi")], max_tokens=50, stream=True), target)
    assert info.value.details["request_id"] == REQUEST_ID
    assert f"(request id {REQUEST_ID})" in info.value.message
