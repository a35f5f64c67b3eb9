"""A request sent over HTTP before `initialize` (no Mcp-Session-Id header) is told to send `initialize` first.

The SDK answered it 400 "Bad Request: Missing session ID", which says neither that `initialize` begins a session nor
where its id goes: a user trying the server with curl, or a hand-made client, was left to guess. The stdio server
answers the same mistake saying to send `initialize` first (before_initialize.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest
from mcp.client import Client

from magsag_mcp.mcp_server import build_server
from magsag_mcp.mcp_server.http import http_app
from tests.mcp_http_helpers import HEADERS
from tests.test_mcp_http import CATALOG, held_port, serving

pytestmark = pytest.mark.anyio
LEGACY = {**HEADERS, "mcp-protocol-version": "2025-06-18"}


async def test_a_request_before_initialize_is_told_to_send_initialize_and_the_session_header(tmp_path: Path):
    port = held_port()
    server = build_server(catalog=CATALOG, db=tmp_path / "ledger.db", env={"MAGSAG_PROVIDER": "fake"})
    async with serving(http_app(server, host="127.0.0.1", port=port, token=None), port) as url:
        async with aiohttp.ClientSession() as http:
            for headers in (HEADERS, LEGACY):
                request = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
                async with http.post(url, json=request, headers=headers) as resp:
                    status, content_type, body = resp.status, resp.headers["Content-Type"], await resp.text()
                assert status == 400 and content_type == "application/json", body
                error = json.loads(body)
                assert error["jsonrpc"] == "2.0" and error["error"]["code"] == -32600
                message = error["error"]["message"]
                assert message.startswith("Bad Request: Missing session ID: "), message
                assert "send `initialize` first" in message and "Mcp-Session-Id" in message
            # another 400 of the SDK's (a body that is no JSON) passes as it was
            async with http.post(url, data=b"{not json", headers=LEGACY) as resp:
                status, body = resp.status, await resp.text()
            assert status == 400 and "Parse error" in body and "initialize" not in body, body
        # a client, which sends initialize first, is served as before
        async with Client(url) as client:
            assert "invoke_skill" in {t.name for t in (await client.list_tools()).tools}


async def test_the_no_session_answer_carries_the_requests_id_and_no_session_that_was_never_kept(tmp_path: Path):
    # The SDK answered id null, which a client matching answers by id could not pair with its request (JSON-RPC 2.0:
    # null only where the id cannot be read), and with an Mcp-Session-Id header naming the session it opened for this
    # POST and discarded with the refusal: a curl user who took it, as the message says to, was answered 404
    port = held_port()
    server = build_server(catalog=CATALOG, db=tmp_path / "ledger.db", env={"MAGSAG_PROVIDER": "fake"})
    async with serving(http_app(server, host="127.0.0.1", port=port, token=None), port) as url:
        async with aiohttp.ClientSession() as http:
            for request_id in (7, "req-a"):
                request = {"jsonrpc": "2.0", "id": request_id, "method": "tools/list"}
                async with http.post(url, json=request, headers=HEADERS) as resp:
                    status, headers, body = resp.status, resp.headers, await resp.json()
                assert status == 400 and body["id"] == request_id, body
                assert "Mcp-Session-Id" not in headers, dict(headers)
            # a GET (no body to read an id from) and a request whose id is of no type an answer carries: id null
            async with http.get(url, headers={"Accept": "text/event-stream"}) as resp:
                status, headers, body = resp.status, resp.headers, await resp.json()
            assert status == 400 and body["id"] is None and "send `initialize` first" in body["error"]["message"]
            assert "Mcp-Session-Id" not in headers, dict(headers)
            request = {"jsonrpc": "2.0", "id": True, "method": "tools/list"}
            async with http.post(url, json=request, headers=HEADERS) as resp:
                status, body = resp.status, await resp.json()
            assert status == 400 and body["id"] is None, body
            # a session id the server does not hold is still the SDK's 404, as it was
            request = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
            async with http.post(url, json=request, headers={**HEADERS, "Mcp-Session-Id": "0" * 32}) as resp:
                status, body = resp.status, await resp.json()
            assert status == 404 and body["error"]["message"] == "Session not found", body
