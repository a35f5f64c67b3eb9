"""The Anthropic fake refuses a conversation that says nothing somewhere, as the Messages API does although its spec
sets no minimum length there (no message, a message of no content, a text block of only whitespace): and magsag's
turns never send one, an empty or blank message of the caller's left out."""

from __future__ import annotations

import aiohttp
import pytest

from magsag_mcp.types import LLMRequest, Message

from .anthropic_helpers import ANTHROPIC
from .fakes import FakeAnthropic
from .test_wire import last_body, setup

pytestmark = pytest.mark.anyio

KEY = "sk-ant-test-0123456789abcdef"


def _text(text: str) -> list[dict[str, str]]:
    return [{"type": "text", "text": text}]


@pytest.mark.parametrize(
    ("messages", "said"),
    [
        ([], "messages: at least one message is required"),
        ([{"role": "user", "content": ""}], "messages.0: all messages must have non-empty content"),
        ([{"role": "user", "content": []}], "messages.0: all messages must have non-empty content"),
        (
            [{"role": "user", "content": _text(" \n")}, {"role": "user", "content": _text("hi")}],
            "messages.0.content.0.text: text content blocks must contain non-whitespace text",
        ),
    ],
)
async def test_the_anthropic_fake_refuses_what_says_nothing(serve, messages, said):
    fake = FakeAnthropic(KEY)
    url = await serve(fake)
    body = {"model": "claude-sonnet-4-5", "max_tokens": 10, "messages": messages}
    headers = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
    async with aiohttp.ClientSession() as session, session.post(url + "/v1/messages", json=body, headers=headers) as r:
        status, answer = r.status, await r.json()
    assert status == 400 and answer["error"]["message"].startswith(said)
    # a final assistant message may be empty (nothing prefilled)
    fake.queue({"text": "ok"})
    body["messages"] = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": ""}]
    async with aiohttp.ClientSession() as session, session.post(url + "/v1/messages", json=body, headers=headers) as r:
        assert r.status == 200


async def test_magsag_sends_no_empty_message_or_text_block(serve, transport):
    fake, provider, target = await setup(ANTHROPIC, serve, transport)
    fake.queue({"text": "ok"})
    request = LLMRequest(
        [Message("user", "hi"), Message("assistant", ""), Message("user", "  "), Message("user", "again")]
    )
    await provider.complete(request, target)
    assert last_body(fake)["messages"] == [{"role": "user", "content": _text("hi") + _text("again")}]
    assert fake.violations == []
