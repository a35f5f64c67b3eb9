"""The compat provider against what OpenAI-compatible vendors really answer where OpenAI would answer otherwise:
each vendor here is a loopback aiohttp app that answers as the real one does."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from magsag_mcp import errors as E
from magsag_mcp.providers.openai import CompatProvider
from magsag_mcp.transport import Transport
from magsag_mcp.types import Target
from tests.fakes.request_check import request_problems
from tests.llm_requests import ask

pytestmark = pytest.mark.anyio


@pytest.fixture
async def vendor() -> AsyncIterator[Callable[[int, dict[str, Any]], Any]]:
    """A vendor that answers every chat completion with ``status`` and ``body``; the compat provider at it."""
    started: list[TestServer] = []
    violations: list[str] = []  # (each request is checked against OpenAI's spec: tests.fakes.request_check)

    async def start(
        status: int, body: dict[str, Any], env: dict[str, str] | None = None
    ) -> Callable[[Transport], CompatProvider]:
        async def answer(request: web.Request) -> web.Response:
            violations.extend(request_problems(request.path, await request.json()))
            return web.json_response(body, status=status)

        app = web.Application()
        app.router.add_post("/v1/chat/completions", answer)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        started.append(server)
        url = str(server.make_url("/v1"))
        return lambda transport: CompatProvider({"MAGSAG_COMPAT_BASE_URL": url, **(env or {})}, transport)

    yield start
    for s in started:
        await s.close()
    assert violations == [], "requests not valid by OpenAI's spec were sent"


@pytest.mark.parametrize(
    "said",
    [
        "Invalid max_tokens value, the valid range of max_tokens is [1, 8192]",  # DeepSeek
        "`max_tokens` must be less than or equal to `32768`, the maximum value for `max_tokens` is less than the "
        "`context_window` for this model",  # Groq
    ],
)
async def test_a_max_tokens_above_the_models_limit_moves_on(vendor, transport: Transport, said: str):
    # A limit this model cannot give (16,000 where deepseek-chat writes at most 8,192) was a bad request of the
    # caller's, which stopped the cascade where a model with a larger limit would have answered
    refusal = {"message": said, "type": "invalid_request_error", "param": None, "code": "invalid_request_error"}
    provider = (await vendor(400, {"error": refusal}))(transport)
    with pytest.raises(E.UnsupportedFeatureError) as info:
        await provider.complete(ask(max_tokens=16000), Target("compat", "deepseek-chat"))
    assert info.value.moves_on and said in info.value.message


async def test_a_prompt_openrouters_moderation_flagged_is_content_filtered(vendor, transport: Transport):
    # OpenRouter's 403 for a flagged prompt was an account denied access ("check your permissions"), not the
    # prompt's content, which the ledger and the caller could tell apart from a key without access
    said = 'openai/gpt-4o requires moderation on OpenAI. Your input was flagged for "harassment".'
    metadata = {"reasons": ["harassment"], "flagged_input": "...", "provider_name": "OpenAI", "model_slug": "gpt-4o"}
    provider = (await vendor(403, {"error": {"message": said, "code": 403, "metadata": metadata}}))(transport)
    with pytest.raises(E.ContentFilteredError) as info:
        await provider.complete(ask(), Target("compat", "openai/gpt-4o"))
    assert info.value.moves_on and info.value.status == 403 and said in info.value.message


async def test_a_max_tokens_fireworks_takes_only_streamed_is_asked_for_streamed(transport: Transport):
    # Fireworks answers an unstreamed call whose max_tokens is above 4096 with 400 "Requests with max_tokens > 4096
    # must have stream=true": a bad request of the caller's, which stopped the cascade
    bodies: list[dict[str, Any]] = []

    async def fireworks(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        bodies.append(body)
        if not body.get("stream") and body.get("max_tokens", 0) > 4096:
            refusal = {"message": "Requests with max_tokens > 4096 must have stream=true", "param": "max_tokens"}
            return web.json_response({"error": {**refusal, "code": "BAD_REQUEST", "type": "error"}}, status=400)
        usage = {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}
        if not body.get("stream"):
            message = {"role": "assistant", "content": "Paris."}
            choice = {"index": 0, "message": message, "finish_reason": "stop"}
            return web.json_response({"id": "c1", "object": "chat.completion", "choices": [choice], "usage": usage})
        chunks = [
            {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": body["model"], "choices": choices}
            for choices in (
                [{"index": 0, "delta": {"role": "assistant", "content": "Paris."}, "finish_reason": None}],
                [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                [],
            )
        ]
        chunks[-1]["usage"] = usage
        text = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
        return web.Response(text=text, content_type="text/event-stream")

    app = web.Application()
    app.router.add_post("/v1/chat/completions", fireworks)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        provider = CompatProvider({"MAGSAG_COMPAT_BASE_URL": str(server.make_url("/v1"))}, transport)
        target = Target("compat", "accounts/fireworks/models/kimi-k2-instruct")
        result = await provider.complete(ask(max_tokens=8192), target)
        assert (result.text, result.usage.input_tokens) == ("Paris.", 12)
        assert [b.get("stream") for b in bodies] == [None, True]
        assert any("only streamed" in w for w in result.warnings)
        again = await provider.complete(ask(max_tokens=8192), target)  # streamed at once
        assert again.text == "Paris." and len(bodies) == 3 and bodies[-1]["stream"] is True
        await provider.complete(ask(max_tokens=1000), target)  # a small limit is asked for as it was
        assert len(bodies) == 4 and "stream" not in bodies[-1]
    finally:
        await server.close()


#: the loopback vendor named as a host whose answers' usage.cost is taken as what they cost
_SAYS_ITS_BILL = {"MAGSAG_BILLED_COST_HOSTS": "example.com, 127.0.0.1"}


def _openrouter_answer(**usage: Any) -> dict[str, Any]:
    counts = {"prompt_tokens": 194, "completion_tokens": 2, "total_tokens": 196, **usage}
    choice = {"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}
    return {"id": "gen-1", "object": "chat.completion", "model": "openai/gpt-4o", "choices": [choice], "usage": counts}


@pytest.mark.parametrize(
    "usage, cost",
    [
        # credits: usage.cost is what OpenRouter charged (upstream_inference_cost says the same, not on top of it)
        ({"cost": 0.000495, "is_byok": False, "cost_details": {"upstream_inference_cost": 0.000495}}, "0.000495"),
        # the caller's own provider key: OpenRouter's fee, and what the provider billed the key beside it
        ({"cost": 0.00002, "is_byok": True, "cost_details": {"upstream_inference_cost": 0.0004}}, "0.00042"),
        ({"cost": 0, "is_byok": False}, "0"),  # a :free model
        # what it billed not said: unknown, as before
        ({"cost": 0.00002, "is_byok": True}, None),
        ({"cost": "0.1"}, None),
        ({}, None),
    ],
    ids=["credits", "byok", "free", "byok-unsaid", "no-number", "none"],
)
async def test_the_cost_openrouter_says_it_billed_is_the_cost_of_a_model_no_price_is_known_for(
    vendor, transport: Transport, usage: dict[str, Any], cost: str | None
):
    # OpenRouter reports the exact cost of every answer in usage.cost. A compat model with no price in prices.yaml
    # (any of OpenRouter's hundreds) was recorded at an unknown cost, flagged, on every call, though the answer said
    # what was billed
    from decimal import Decimal

    from magsag_mcp.pricing import Pricer

    # (the loopback server stands for OpenRouter: named as a host whose usage.cost is taken, as its own is)
    provider = (await vendor(200, _openrouter_answer(**usage), _SAYS_ITS_BILL))(transport)
    result = await provider.complete(ask(), Target("compat", "openai/gpt-4o"))
    quote = Pricer().price("compat", "openai/gpt-4o", result.usage)
    if cost is None:
        assert quote.cost_usd is None and quote.warning and "no price known for compat:openai/gpt-4o" in quote.warning
    else:
        assert (quote.cost_usd, quote.source, quote.warning) == (Decimal(cost), "answer:usage.cost", None)


async def test_a_price_in_the_catalog_prices_a_model_whatever_the_answer_says_it_cost(vendor, transport: Transport):
    from decimal import Decimal

    from magsag_mcp.pricing import Pricer
    from magsag_mcp.rates import UnitPrices

    provider = (await vendor(200, _openrouter_answer(cost=0.5)))(transport)
    result = await provider.complete(ask(), Target("compat", "openai/gpt-4o"))
    pricer = Pricer([("compat:openai/gpt-4o", UnitPrices(Decimal(1), Decimal(2)))])
    quote = pricer.price("compat", "openai/gpt-4o", result.usage)
    assert (quote.cost_usd, quote.source) == (Decimal("0.000198"), "catalog:prices.yaml")


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
async def test_a_cost_an_answer_says_is_not_taken_from_a_server_not_named_for_it(
    vendor, transport: Transport, stream: bool
):
    # Any compatible server's usage.cost was recorded as the exact cost of a call no price is known for: a caller's
    # own server (a call's base_url) saying "cost": 0 made its calls free under allow_unpriced, and a server whose
    # "cost" is in credits or cents had it recorded as dollars. Only OpenRouter's, or a host named for it, is taken.
    from magsag_mcp.pricing import Pricer

    answer = _openrouter_answer(cost=0, is_byok=False)
    provider = (await vendor(200, answer, {"MAGSAG_BILLED_COST_HOSTS": "openrouter.example"}))(transport)
    result = await provider.complete(ask(stream=stream), Target("compat", "openai/gpt-4o"))
    assert result.usage.reported and result.usage.billed_usd is None
    quote = Pricer().price("compat", "openai/gpt-4o", result.usage)
    assert quote.cost_usd is None and quote.source is None
    assert quote.warning and "no price known for compat:openai/gpt-4o" in quote.warning


def test_openrouters_api_is_taken_at_its_word_on_what_it_billed_without_being_named():
    from magsag_mcp.providers.openai import CompatEndpoint

    endpoint = CompatEndpoint({})
    assert endpoint.says_its_bill("https://openrouter.ai/api/v1/chat/completions")
    assert endpoint.says_its_bill("https://eu.openrouter.ai/api/v1/chat/completions")
    assert not endpoint.says_its_bill("https://openrouter.ai.example.com/api/v1/chat/completions")
    assert not endpoint.says_its_bill("https://api.together.xyz/v1/chat/completions")
    named = CompatEndpoint({"MAGSAG_BILLED_COST_HOSTS": " Gateway.Example.com ,other.example"})
    assert named.says_its_bill("https://gateway.example.com:8443/v1/chat/completions")
    assert not named.says_its_bill("https://example.com/v1/chat/completions")


async def test_an_unusable_answers_cost_is_not_taken_from_a_server_not_named_for_it(vendor, transport: Transport):
    # a 200 with no choices is billed for the usage it reports: priced as any answer's, its usage.cost taken only
    # from a server named for it
    from magsag_mcp.pricing import Pricer

    answer = {**_openrouter_answer(cost=0, is_byok=False), "choices": []}
    for env, billed in (({}, None), (_SAYS_ITS_BILL, 0)):
        provider = (await vendor(200, answer, env))(transport)
        with pytest.raises(E.ProviderError) as info:
            await provider.complete(ask(), Target("compat", "openai/gpt-4o"))
        usage = info.value.usage
        assert usage is not None and usage.reported and usage.billed_usd == billed
        assert Pricer().price("compat", "openai/gpt-4o", usage).cost_usd == billed
