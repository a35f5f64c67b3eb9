"""google.rpc.RetryInfo on a Gemini error other than a 429 (a 503 UNAVAILABLE, a 500 INTERNAL): its retryDelay is the
wait before the error's target is sent again, as a Retry-After is. Served by the Gemini loopback fake."""

from __future__ import annotations

from pathlib import Path

import pytest

from magsag_mcp import errors as E
from tests.providers.test_cascades import open_service
from tests.providers.test_error_paths import ask, gemini

from .fakes import FakeAnthropic, FakeGemini, FakeOpenAI

pytestmark = pytest.mark.anyio
KEY = "sk-test-key-123456"


RETRY_INFO = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7.5s"}


@pytest.mark.parametrize(
    ("status", "rpc", "message", "cls"),
    [
        (503, "UNAVAILABLE", "The model is overloaded. Please try again later.", E.OverloadedError),
        (
            500,
            "INTERNAL",
            "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
            E.ServerError,
        ),
    ],
    ids=["unavailable", "internal"],
)
async def test_a_gemini_retry_info_is_the_wait_of_any_error_sent_again(serve, transport, status, rpc, message, cls):
    # google.rpc.RetryInfo says when to send again, as Retry-After does: it was read on a 429 alone, and a 503 or 500
    # that carried one was sent again after the backoff's guess, not the server's wait
    error = {"code": status, "message": message, "status": rpc, "details": [RETRY_INFO]}
    fake, provider, target = await gemini(serve, transport, {"error": status, "body": {"error": error}})
    with pytest.raises(E.ProviderError) as info:
        await provider.complete(ask(), target)
    assert type(info.value) is cls and info.value.retryable and info.value.retry_after == 7.5
    # a Retry-After header, where one came, still wins
    fake.queue({"error": status, "body": {"error": error}, "headers": {"Retry-After": "3"}})
    with pytest.raises(E.ProviderError) as info:
        await provider.complete(ask(), target)
    assert info.value.retry_after == 3.0


async def test_the_last_target_left_waits_out_a_gemini_retry_info_on_a_503(tmp_path: Path, serve):
    error = {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE", "details": [RETRY_INFO]}
    gemini_fake = FakeGemini(KEY).queue({"error": 503, "body": {"error": error}}, {"text": "from gemini"})
    svc = await open_service(tmp_path, serve, FakeOpenAI(KEY), FakeAnthropic(KEY), gemini_fake)
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    svc.cascade.sleep = sleep
    try:
        result = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": {"model": "gemini-1.5-pro"}})
    finally:
        await svc.aclose()
    assert result.result.text == "from gemini"
    assert [(a.outcome, a.error_class) for a in result.attempts] == [("error", "overloaded"), ("ok", None)]
    assert len(waits) == 1 and 7.5 <= waits[0] <= 8.5  # the server's wait (and a little jitter), not the backoff's
