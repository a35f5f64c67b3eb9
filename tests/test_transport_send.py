"""How the transport sends a request: through the coroutine aiohttp's ``post`` would wrap, not its wrapper."""

from __future__ import annotations

import sys
from typing import Any

import aiohttp
import pytest

from magsag_mcp import transport as transport_module
from magsag_mcp.transport import Transport
from tests.fakes.openai_server import DEFAULT_KEY, FakeOpenAI

pytestmark = pytest.mark.anyio

AUTH = {"Authorization": f"Bearer {DEFAULT_KEY}"}
CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def callers(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The name of the function each request on an aiohttp session came from (``ClientSession._request`` wrapped for
    the test; aiohttp discourages subclassing its session)."""
    seen: list[str] = []
    request = aiohttp.ClientSession._request

    def noted(self: aiohttp.ClientSession, *args: Any, **kwargs: Any) -> Any:
        seen.append(sys._getframe(1).f_code.co_name)
        return request(self, *args, **kwargs)

    monkeypatch.setattr(aiohttp.ClientSession, "_request", noted)
    return seen


async def test_a_request_is_sent_without_aiohttps_context_manager_wrapper(fake_openai: FakeOpenAI, callers: list[str]):
    # Before: post_json awaited session.post(...), whose generic-alias wrapper made and dropped an AttributeError on
    # every request (its __orig_class__ refused by __slots__): some 12,000 instructions a request, for nothing
    transport = Transport()
    try:
        answer = await transport.post_json(fake_openai.url + "/v1/chat/completions", CHAT, headers=AUTH)
        again = await transport.post_json(fake_openai.url + "/v1/chat/completions", CHAT, headers=AUTH)
    finally:
        await transport.aclose()
    assert answer.status == 200 and again.status == 200
    assert answer.json()["choices"][0]["message"]["role"] == "assistant"
    assert callers == ["_post", "_post"], "aiohttp's post (and its wrapper) sat between"
    assert [r.body["messages"] for r in fake_openai.requests] == [CHAT["messages"]] * 2


async def test_a_stream_is_sent_without_the_wrapper_too(fake_openai: FakeOpenAI, callers: list[str]):
    transport = Transport()
    try:
        async with transport.stream_sse(
            fake_openai.url + "/v1/chat/completions", {**CHAT, "stream": True}, headers=AUTH
        ) as stream:
            assert stream.status == 200
            events = [event async for event in stream.events()]
    finally:
        await transport.aclose()
    assert events, "the stream said nothing"
    assert callers == ["_post"]


async def test_a_session_with_a_post_of_its_own_is_sent_through_it(
    fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch, callers: list[str]
):
    # a post that is not aiohttp's own (a test's stand-in, a later aiohttp's) may do more than wrap: it still sends
    posts: list[str] = []
    post = aiohttp.ClientSession.post

    def own_post(self: aiohttp.ClientSession, url: Any, **kwargs: Any) -> Any:
        posts.append(str(url))
        return post(self, url, **kwargs)

    monkeypatch.setattr(aiohttp.ClientSession, "post", own_post)
    transport = Transport()
    try:
        answer = await transport.post_json(fake_openai.url + "/v1/chat/completions", CHAT, headers=AUTH)
    finally:
        await transport.aclose()
    assert answer.status == 200
    assert posts == [fake_openai.url + "/v1/chat/completions"]
    assert callers == ["post"]


async def test_an_aiohttp_without_its_private_request_is_sent_through_post(
    fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch, callers: list[str]
):
    # _request is aiohttp's private name: where a release renamed it, the public post sends, as before
    monkeypatch.setattr(transport_module, "_AIOHTTP_REQUEST", None)
    transport = Transport()
    try:
        answer = await transport.post_json(fake_openai.url + "/v1/chat/completions", CHAT, headers=AUTH)
    finally:
        await transport.aclose()
    assert answer.status == 200
    assert callers == ["post"]
