"""What fuzzing the vendors' answers (test_fuzz_answers.py) found, each as a plain example: an answer a provider
read into an escaped exception, a result of the wrong types, or a wait that did not end."""

from __future__ import annotations

import json

import pytest

from magsag_mcp.transport import Transport
from magsag_mcp.types import LLMRequest, Message

from .raw_streams_helpers import CUT, WHOLE_THEN_CUT, _streaming_provider

pytestmark = pytest.mark.anyio


async def _streamed(raw_stream, api: str, chunks: list[bytes]):
    base = await raw_stream(chunks)
    transport = Transport()
    try:
        provider, target = _streaming_provider(api, base, transport)
        return await provider.complete(LLMRequest(messages=[Message("user", "hi")], stream=True), target)
    finally:
        await transport.aclose()


@pytest.mark.parametrize("odd_type", [["ping"], {"name": "ping"}])
@pytest.mark.parametrize("api", ["responses", "anthropic"])
async def test_an_event_after_the_end_whose_type_is_no_string_leaves_the_answer_whole(raw_stream, api, odd_type):
    # After the terminal event (response.completed, message_stop) the stream's events are read while they come, and
    # one whose "type" is a list or an object escaped as TypeError (unhashable) from the keep-alive check: the
    # whole, billed answer lost to a bug's error. Such an event is no keep-alive, and the answer stands.
    whole = [c for c in WHOLE_THEN_CUT[api] if c is not CUT]
    odd = f"data: {json.dumps({'type': odd_type})}\n\n".encode()
    result = await _streamed(raw_stream, api, [*whole, odd])
    assert (result.text, result.finish_reason) == ("whole answer", "stop")
