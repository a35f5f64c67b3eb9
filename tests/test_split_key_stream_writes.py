"""A known key a vendor echoes in a streamed answer's error event, the event cut in two TCP writes inside the key
(a gateway flushing its buffer mid-event): each family's stream reader joins the event's bytes before it reads it,
so the key reaches no result, record or log whole or in a piece. (test_split_key_echoes covers a key cut by a line
break in an error page; this, the same key cut by the network inside an SSE event.)"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.key_echo_helpers import KEYS, MODELS, error_body, gateway, key_env, ledger_bytes, sent_key
from tests.redaction_helpers import pieces

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("restored_secrets")]


def _error_event(family: str, key: str) -> bytes:
    """A streamed error event quoting ``key``, as each family's stream writes one (the specs' error objects)."""
    said = f"the key {key} was refused by the gateway"
    if family == "anthropic":  # (Messages streaming: an error event)
        body: dict[str, Any] = {"type": "error", "error": {"type": "overloaded_error", "message": said}}
        return f"event: error\ndata: {json.dumps(body)}\n\n".encode()
    if family == "local":  # (a local server answers on the Responses API: its stream's error event)
        body = {"type": "error", "code": "server_error", "message": said, "param": None, "sequence_number": 0}
        return f"event: error\ndata: {json.dumps(body)}\n\n".encode()
    body = error_body(family, 500, said)  # (Chat Completions' and Gemini's streams: the error object as a chunk)
    if family == "google":
        body["error"]["status"] = "INTERNAL"
    return f"data: {json.dumps(body)}\n\n".encode()


@pytest.fixture
async def cutting() -> AsyncIterator[dict[str, Any]]:
    """A loopback gateway answering every request 200 with an event stream whose one event, an error quoting the
    key it was sent, is written in two TCP writes cut ``state["at"]`` characters into the key."""
    state: dict[str, Any] = {"at": 20, "family": "openai", "sent": []}

    async def answer(request: web.Request) -> web.StreamResponse:
        key = sent_key(request)
        state["sent"].append(key)
        event = _error_event(state["family"], key)
        cut = event.index(key.encode()) + state["at"]
        response = web.StreamResponse(status=200, headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(event[:cut])
        await asyncio.sleep(0.05)  # (the client reads the first part alone: no threshold is asserted on it)
        await response.write(event[cut:])
        await response.write_eof()
        return response

    async with gateway(answer, state):
        yield state


@pytest.mark.parametrize("at", [3, 14, -5])
@pytest.mark.parametrize("family", sorted(KEYS))
async def test_a_key_cut_across_two_writes_of_a_streamed_error_event_reaches_no_result_ledger_or_log(
    cutting: dict[str, Any], tmp_path: Path, caplog: pytest.LogCaptureFixture, family: str, at: int
):
    from mcp.client import Client

    from magsag_mcp.mcp_server import build_server
    from tests.key_echo_helpers import CATALOG

    key, db = KEYS[family], tmp_path / "ledger.db"
    cutting.update(family=family, at=at % len(key))
    caplog.set_level(logging.DEBUG)
    async with Client(build_server(catalog=CATALOG, db=db, env=key_env(family, cutting["url"]))) as client:
        config = {"model": MODELS[family], "stream": True}
        result = await client.call_tool(
            "invoke_skill", {"skill_id": "skill.analysis", "payload": {"data": "x", "model_config": config}}
        )
        hits = await client.call_tool("search_usage", {"pattern": "refused"})
    assert cutting["sent"] and cutting["sent"][0] == key
    said = result.content[0].text
    assert result.is_error and "the key [REDACTED] was refused by the gateway" in said, said
    assert hits.structured_content["hits"], hits.content[0].text  # the failure was recorded, its message with it
    for text in (said, json.dumps(result.structured_content), hits.content[0].text, caplog.text):
        assert pieces(key, text) == [], text
    assert pieces(key, ledger_bytes(db).decode("utf-8", "replace")) == []
