"""A JSON-RPC batch POSTed over streamable HTTP (a body that is a JSON array), which MCP has not taken since its
2025-06-18 revision: answered as stdio answers it, an error under each request's id saying to send each on its own."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from magsag_mcp.mcp_server import build_server
from magsag_mcp.mcp_server.http import http_app
from tests.mcp_http_helpers import HEADERS, INIT
from tests.test_mcp_http import CATALOG, held_port, serving

pytestmark = pytest.mark.anyio


async def _post(http: aiohttp.ClientSession, url: str, body: str, headers: dict[str, str]) -> tuple[int, Any, Any]:
    async with http.post(url, data=body, headers=headers) as resp:
        return resp.status, resp.headers, await resp.json(content_type=None)


async def test_a_batch_posted_is_answered_under_each_requests_id_saying_to_send_each_on_its_own(tmp_path: Path):
    # The SDK answered it 400 with -32602 "Validation error: 4 validation errors for ..." (pydantic's dump of each
    # message type refusing the array), id null: the client was told of invalid params, under none of its ids.
    port = held_port()
    server = build_server(catalog=CATALOG, db=tmp_path / "ledger.db", env={"MAGSAG_PROVIDER": "fake"})
    async with serving(http_app(server, host="127.0.0.1", port=port, token=None), port) as url:
        async with aiohttp.ClientSession() as http:
            async with http.post(url, json=INIT, headers=HEADERS) as resp:
                assert resp.status == 200
                session = resp.headers["mcp-session-id"]
            headers = {**HEADERS, "mcp-session-id": session, "mcp-protocol-version": "2025-06-18"}
            batch = (
                '[{"jsonrpc":"2.0","id":5,"method":"tools/list"},{"jsonrpc":"2.0","method":"notifications/progress"},'
                '{"jsonrpc":"2.0","id":"six","method":"ping"}]'
            )
            status, answered, answers = await _post(http, url, batch, headers)
            assert status == 400 and answered["Content-Type"] == "application/json", answers
            assert answered["mcp-session-id"] == session
            assert isinstance(answers, list) and [a["id"] for a in answers] == [5, "six"], answers
            for answer in answers:
                assert answer["jsonrpc"] == "2.0" and answer["error"]["code"] == -32600, answer
                message = answer["error"]["message"]
                assert "a JSON-RPC batch (an array of 3 messages), which MCP does not take" in message, message
                assert "send each request as a JSON object of its own, one in each POST" in message, message
                assert "validation error" not in message.lower()
            # none to answer by id (empty, no messages, notifications alone): one error, id null, still 400
            for body, said in (
                (" \n[]", "an empty array"),
                ("[1, 2]", "an array of 2 messages"),
                ('[{"jsonrpc":"2.0","method":"notifications/initialized"}]', "an array of 1 message"),
            ):
                status, _, answer = await _post(http, url, body, headers)
                assert status == 400 and isinstance(answer, dict), (body, answer)
                assert answer["id"] is None and answer["error"]["code"] == -32600, answer
                assert said in answer["error"]["message"], answer
            # a body that is no JSON is the SDK's parse error as it was; one request alone is served as ever
            status, _, answer = await _post(http, url, '[{"jsonrpc":"2.0","id":7,', headers)
            assert status == 400 and answer["id"] is None and answer["error"]["code"] == -32700, answer
            async with http.post(url, json={"jsonrpc": "2.0", "id": 8, "method": "ping"}, headers=headers) as resp:
                assert resp.status == 200 and '"id":8' in (await resp.text()).replace(" ", "")


async def test_an_object_the_sdk_refuses_is_answered_as_it_was_not_as_a_batch(tmp_path: Path):
    # only an array body is a batch: an object that is no JSON-RPC message keeps the SDK's own answer
    port = held_port()
    server = build_server(catalog=CATALOG, db=tmp_path / "ledger.db", env={"MAGSAG_PROVIDER": "fake"})
    async with serving(http_app(server, host="127.0.0.1", port=port, token=None), port) as url:
        async with aiohttp.ClientSession() as http:
            status, _, answer = await _post(http, url, json.dumps({"jsonrpc": "2.0", "id": 1}), HEADERS)
    assert status == 400 and answer["error"]["code"] == -32602 and "batch" not in answer["error"]["message"], answer


async def test_a_batch_posted_with_no_session_is_answered_naming_no_session(tmp_path: Path):
    # A batch with no Mcp-Session-Id (a client that batched its initialize) made the SDK start a session for the POST
    # and end it with the refusal, whose Mcp-Session-Id header named it: a client that kept it was then answered 404
    # for a session it never had.
    port = held_port()
    server = build_server(catalog=CATALOG, db=tmp_path / "ledger.db", env={"MAGSAG_PROVIDER": "fake"})
    async with serving(http_app(server, host="127.0.0.1", port=port, token=None), port) as url:
        async with aiohttp.ClientSession() as http:
            status, answered, answers = await _post(http, url, json.dumps([INIT]), HEADERS)
            assert status == 400 and [a["id"] for a in answers] == [INIT["id"]], answers
            assert "mcp-session-id" not in answered, dict(answered)
            # one initialize alone still opens a session, named in its answer's header
            async with http.post(url, json=INIT, headers=HEADERS) as resp:
                assert resp.status == 200 and resp.headers["mcp-session-id"]
