"""What a provider learns from a server's refusal is kept for at most REFUSALS_KEPT names, as the project's other
caches are (kept.py): a client naming a new model on every call, each refused, grew the streamed-only limits
(CompatProvider.streamed_above) and the refused settings (RefusedSettings.refused) for as long as the server ran.

Each test fills the cache to its bound with names of no server, then has a real refusal (a loopback server that
answers as the vendor does) add the next name: the oldest name goes, the one learned stays and is used."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from magsag_mcp.kept import keep, look_up
from magsag_mcp.providers.openai import CompatProvider
from magsag_mcp.providers.refused_settings import REFUSALS_KEPT
from magsag_mcp.transport import Transport
from magsag_mcp.types import Target
from tests.fakes.openai_server import DEFAULT_KEY, FakeOpenAI
from tests.llm_requests import ask

pytestmark = pytest.mark.anyio


def test_the_bound_is_the_projects_cache_size():
    assert REFUSALS_KEPT == 1024


def _chunks(model: str) -> str:
    usage = {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}
    chunks: list[dict[str, Any]] = [
        {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": model, "choices": choices}
        for choices in (
            [{"index": 0, "delta": {"role": "assistant", "content": "Paris."}, "finish_reason": None}],
            [{"index": 0, "delta": {}, "finish_reason": "stop"}],
            [],
        )
    ]
    chunks[-1]["usage"] = usage
    return "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"


@contextlib.asynccontextmanager
async def _fireworks(bodies: list[dict[str, Any]]) -> AsyncIterator[str]:
    """A loopback Fireworks whose chat completions refuse an unstreamed call with a large max_tokens (its 400, not
    billed) and stream the answer; each request's body appended to ``bodies``. Yields its base URL."""

    async def fireworks(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        bodies.append(body)
        if not body.get("stream"):
            refusal = {"message": "Requests with max_tokens > 4096 must have stream=true", "param": "max_tokens"}
            return web.json_response({"error": {**refusal, "code": "BAD_REQUEST", "type": "error"}}, status=400)
        return web.Response(text=_chunks(body["model"]), content_type="text/event-stream")

    app = web.Application()
    app.router.add_post("/v1/chat/completions", fireworks)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("/v1"))
    finally:
        await server.close()


async def test_streamed_only_limits_keep_the_newest_names(transport: Transport):
    bodies: list[dict[str, Any]] = []

    async with _fireworks(bodies) as url:
        provider = CompatProvider({"MAGSAG_COMPAT_BASE_URL": url}, transport)
        filled = [(None, f"accounts/fireworks/models/m{i}x") for i in range(REFUSALS_KEPT)]
        provider.streamed_above.update(dict.fromkeys(filled, 4096))
        target = Target("compat", "accounts/fireworks/models/kimi-k2-instruct")
        result = await provider.complete(ask(max_tokens=8192), target)
        assert result.text == "Paris." and [b.get("stream") for b in bodies] == [None, True]
        assert any("above 4096 only streamed" in w for w in result.warnings)
        kept = provider.streamed_above
        assert len(kept) == REFUSALS_KEPT and filled[0] not in kept and filled[1] in kept
        assert kept[(target.base_url, target.model)] == 4096
        # the refusal is remembered: the next call is streamed at once
        again = await provider.complete(ask(max_tokens=8192), target)
        assert again.text == "Paris." and len(bodies) == 3 and bodies[-1]["stream"] is True


async def test_refused_settings_keep_the_newest_names(fake_openai: FakeOpenAI, transport: Transport):
    # "reasoning-large" is a gateway's alias of o3, which refuses a stop sequence (400 naming param 'stop')
    fake_openai.deployments["reasoning-large"] = "o3"
    env = {"MAGSAG_COMPAT_BASE_URL": fake_openai.url + "/v1", "MAGSAG_COMPAT_API_KEY": DEFAULT_KEY}
    provider = CompatProvider(env, transport)
    filled = [(None, f"alias-{i}q") for i in range(REFUSALS_KEPT)]
    provider.refused.update(dict.fromkeys(filled, frozenset({"temperature"})))
    target = Target("compat", "reasoning-large")
    result = await provider.complete(ask(stop=["###"]), target)
    assert result.text == "ok" and len(fake_openai.requests) == 2
    assert any("refused 'stop'" in w for w in result.warnings)
    kept = provider.refused
    assert len(kept) == REFUSALS_KEPT and filled[0] not in kept and filled[1] in kept
    assert kept[(target.base_url, target.model)] == frozenset({"stop"})
    # the refusal is remembered: the next call is sent without it at once
    again = await provider.complete(ask(stop=["###"]), target)
    assert again.text == "ok" and len(fake_openai.requests) == 3 and "stop" not in fake_openai.requests[-1].body
    assert any("on an earlier call" in w for w in again.warnings)


def _push_others(cache: dict, value: object, count: int, tag: str) -> None:
    """``count`` names of no server added as refusals are: each through kept.keep, at the caches' bound."""
    for i in range(count):
        keep(cache, (None, f"{tag}-{i}w"), value, REFUSALS_KEPT)


async def test_a_streamed_only_limit_read_on_every_call_outlives_names_added_after_it(transport: Transport):
    """The caches dropped the oldest name learned, not the least used: the limit of the model a server's calls use
    on every call went first once REFUSALS_KEPT others came after it, and the next call was refused again."""
    bodies: list[dict[str, Any]] = []

    async with _fireworks(bodies) as url:
        provider = CompatProvider({"MAGSAG_COMPAT_BASE_URL": url}, transport)
        target = Target("compat", "accounts/fireworks/models/kimi-k2-instruct")
        await provider.complete(ask(max_tokens=8192), target)  # refused, learned, streamed
        assert [b.get("stream") for b in bodies] == [None, True]
        _push_others(provider.streamed_above, 4096, REFUSALS_KEPT - 1, "other")  # the cache full, ours the oldest
        await provider.complete(ask(max_tokens=8192), target)  # read: streamed at once
        assert [b.get("stream") for b in bodies] == [None, True, True]
        _push_others(provider.streamed_above, 4096, 1, "newer")  # one more: the least recently read goes
        assert (target.base_url, target.model) in provider.streamed_above
        assert (None, "other-0w") not in provider.streamed_above
        await provider.complete(ask(max_tokens=8192), target)
        assert [b.get("stream") for b in bodies] == [None, True, True, True]  # not refused again


async def test_a_refused_setting_read_on_every_call_outlives_names_added_after_it(
    fake_openai: FakeOpenAI, transport: Transport
):
    """As above, for the settings a model refused (RefusedSettings.refused)."""
    fake_openai.deployments["reasoning-large"] = "o3"  # o3 refuses a stop sequence (400 naming param 'stop')
    env = {"MAGSAG_COMPAT_BASE_URL": fake_openai.url + "/v1", "MAGSAG_COMPAT_API_KEY": DEFAULT_KEY}
    provider = CompatProvider(env, transport)
    target = Target("compat", "reasoning-large")
    await provider.complete(ask(stop=["###"]), target)  # refused, learned, sent again without it
    assert len(fake_openai.requests) == 2
    _push_others(provider.refused, frozenset({"temperature"}), REFUSALS_KEPT - 1, "alias")
    again = await provider.complete(ask(stop=["###"]), target)  # read: sent without it at once
    assert len(fake_openai.requests) == 3 and any("on an earlier call" in w for w in again.warnings)
    _push_others(provider.refused, frozenset({"temperature"}), 1, "newer")
    assert provider.refused.get((target.base_url, target.model)) == frozenset({"stop"})
    assert (None, "alias-0w") not in provider.refused
    last = await provider.complete(ask(stop=["###"]), target)
    assert len(fake_openai.requests) == 4 and "stop" not in fake_openai.requests[-1].body  # not refused again
    assert any("on an earlier call" in w for w in last.warnings)


def test_look_up_makes_the_entry_read_the_last_to_go():
    cache: dict[str, int] = {}
    for i in range(3):
        keep(cache, f"k{i}z", i, 3)
    assert look_up(cache, "k0z") == 0 and look_up(cache, "absent") is None
    keep(cache, "k9z", 9, 3)
    assert list(cache) == ["k2z", "k0z", "k9z"]  # k1z, the least recently used, went; k0z, read, stayed
