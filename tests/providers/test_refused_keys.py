"""What the OpenAI fake answers a refused key and a scripted failure with, each in its API's own shape: OpenAI's 401
``invalid_api_key`` (its message echoing the key sent, masked), Azure's ``errorResponse`` (``{code, message}``, the
status as its code, no nulls: a ``"param": null`` is no string, which its spec requires). The providers read each as
the vendor means it: a refused key names the variable it came from and never shows the key, a 429 waits what it says,
a 500 is the server's."""

from __future__ import annotations

import pytest

from magsag_mcp import errors as E
from magsag_mcp.providers.openai import AzureProvider, OpenAIProvider
from magsag_mcp.types import LLMRequest, Message, Target
from tests.fakes.spec import spec_validator

from .fakes import FakeOpenAI

pytestmark = pytest.mark.anyio
KEY = "sk-test-key-123456"
#: the key the caller configured, which the server refuses
WRONG = "sk-proj-Wr0ngKeyOfTheCallers0987654321zyxw"


def _provider(fake: FakeOpenAI, url: str, transport, key: str) -> tuple[OpenAIProvider, Target]:
    if fake.azure:
        env = {"AZURE_OPENAI_API_KEY": key, "AZURE_OPENAI_ENDPOINT": url, "AZURE_OPENAI_API_VERSION": "2024-10-21"}
        return AzureProvider(env, transport), Target("azure", "gpt4o-prod", url)
    return OpenAIProvider({"OPENAI_API_KEY": key}, transport), Target("openai", "gpt-4o", url + "/v1")


@pytest.mark.parametrize("azure", [False, True], ids=["openai", "azure"])
async def test_a_refused_key_is_answered_as_the_vendor_answers_it_and_named_by_its_variable(serve, transport, azure):
    fake = FakeOpenAI(KEY, azure=azure)
    provider, target = _provider(fake, await serve(fake), transport, WRONG)
    if azure:
        spec_validator("azure").assert_valid("errorResponse", fake.bad_key()[1])
    with pytest.raises(E.AuthenticationError) as info:
        await provider.complete(LLMRequest([Message("user", "hi")], max_tokens=5), target)
    err = info.value
    assert err.status == 401 and not err.retryable
    variable = "AZURE_OPENAI_API_KEY" if azure else "OPENAI_API_KEY"
    assert f"check {variable}, whose key was sent" in err.message
    if not azure:
        # OpenAI's own words, the masked key in them removed whole (its last 4 stayed): its code says what is wrong
        assert "Incorrect API key provided: [REDACTED]." in err.message and err.details["code"] == "invalid_api_key"
        assert WRONG[-4:] not in err.message and "*" not in err.message
    assert WRONG not in err.message and WRONG[:12] not in err.message and WRONG[8:20] not in err.message


async def test_azure_failures_come_in_azures_error_shape_and_are_read_as_such(serve, transport):
    fake = FakeOpenAI(KEY, azure=True)
    provider, target = _provider(fake, await serve(fake), transport, KEY)
    for status in (429, 500):
        spec_validator("azure").assert_valid("errorResponse", fake.error_body(status, "scripted failure", "api_error"))
    fake.queue({"error": 429, "headers": {"retry-after": "3"}}, {"error": 500})
    with pytest.raises(E.RateLimitError) as limited:
        await provider.complete(LLMRequest([Message("user", "hi")], max_tokens=5), target)
    assert limited.value.retry_after == 3 and limited.value.details["code"] == "429"
    with pytest.raises(E.ServerError) as failed:
        await provider.complete(LLMRequest([Message("user", "hi")], max_tokens=5), target)
    assert failed.value.retryable and failed.value.status == 500
