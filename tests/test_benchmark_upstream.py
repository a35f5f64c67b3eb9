"""The benchmarks' loopback upstream: vendor-shaped bodies and errors, dropped connections, latency."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from benchmarks import fast_upstream
from tests.fakes.spec import spec_validator

PATHS = {
    "openai": ("/v1/chat/completions", "CreateChatCompletionResponse", "ErrorResponse"),
    "anthropic": ("/v1/messages", "Message", "ErrorResponse"),
    "gemini": ("/v1beta/models/{model}:generateContent", "GenerateContentResponse", "Status"),
    "responses": ("/v1/responses", "Response", "ErrorResponse"),
}
SPECS = {"openai": "openai", "anthropic": "anthropic", "gemini": "gemini", "responses": "openai"}


@pytest.fixture
async def upstream():
    server, url = await fast_upstream.serve()
    yield url
    server.close()
    await server.wait_closed()


async def _post(url: str, kind: str, model: str) -> tuple[int, dict[str, str], dict]:
    path = PATHS[kind][0].format(model=model)
    async with aiohttp.ClientSession() as session:
        async with session.post(url + path, json={"model": model, "messages": []}) as resp:
            return resp.status, dict(resp.headers), json.loads(await resp.read())


@pytest.mark.anyio
@pytest.mark.parametrize("kind", sorted(PATHS))
async def test_answers_follow_the_vendor_spec(upstream: str, kind: str):
    # Before: the OpenAI body lacked message.refusal and choices[].logprobs, the Anthropic one
    # stop_details, container, citations and most of usage, all required by the vendors' specs, and a
    # Responses API request got a chat completion.
    status, _, body = await _post(upstream, kind, f"{kind}-model")
    assert status == 200
    spec_validator(SPECS[kind]).assert_valid(PATHS[kind][1], body)


@pytest.mark.anyio
@pytest.mark.parametrize("kind", sorted(PATHS))
@pytest.mark.parametrize(("model", "status"), [("fail500-x", 500), ("rl429-x", 429)])
async def test_errors_are_each_vendors_own_shape(upstream: str, kind: str, model: str, status: int):
    # Before: every vendor got OpenAI's error body (without its required `param`).
    got, headers, body = await _post(upstream, kind, model)
    assert got == status
    assert (headers.get("Retry-After") == "0") == (status == 429)
    error = body if kind != "gemini" else body["error"]  # Gemini's is {"error": Status}
    spec_validator(SPECS[kind]).assert_valid(PATHS[kind][2], error)
    if kind == "anthropic":
        assert body["error"]["type"] == ("api_error" if status == 500 else "rate_limit_error")
    if kind == "gemini":
        assert body["error"]["status"] == ("INTERNAL" if status == 500 else "RESOURCE_EXHAUSTED")


@pytest.mark.anyio
async def test_a_drop_model_closes_the_connection_without_an_answer(upstream: str):
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await _post(upstream, "openai", "drop-x")


@pytest.mark.anyio
async def test_latency_delays_every_answer_without_blocking(monkeypatch: pytest.MonkeyPatch):
    loop = asyncio.get_running_loop()
    delays: list[float] = []
    later = loop.call_later

    def record(delay: float, callback, *args):
        delays.append(delay)
        return later(delay, callback, *args)

    monkeypatch.setattr(loop, "call_later", record)
    server, url = await fast_upstream.serve(latency_ms=5)
    try:
        assert (await _post(url, "openai", "gpt-4o"))[0] == 200
        assert (await _post(url, "anthropic", "fail500-x"))[0] == 500
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await _post(url, "gemini", "drop-x")
    finally:
        server.close()
        await server.wait_closed()
        fast_upstream._Protocol.latency = 0.0
    assert delays.count(0.005) == 3


def test_the_upstream_process_counts_the_requests_it_answers():
    async def three(url: str) -> None:
        for model in ("gpt-4o", "fail500-x", "rl429-x"):
            await _post(url, "openai", model)

    with fast_upstream.upstream_process() as (proc, url):
        before = fast_upstream.requests_served(proc)
        asyncio.run(three(url))
        assert fast_upstream.requests_served(proc) - before == 3
