"""A streamable-HTTP client that drops its connection mid-call (a crashed IDE, a laptop leaving the network), against
a long-running server: the transport's spec says a disconnection is no cancellation, so the call runs on to its end
(here its read timeout, the loopback OpenAI never answering), is recorded, and gives its budget reservation back;
the server serves on, and its descriptors return to where they were (no session, socket or connection left)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import anyio
import pytest

from tests.fakes import openai_replies as R
from tests.fakes.openai_server import FakeOpenAI
from tests.mcp_http_helpers import HEADERS
from tests.shutdown_helpers import PAYLOAD, env_for, ledger_state, until_sent, until_serving

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parent.parent
HELLO = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


async def _session(http: aiohttp.ClientSession, url: str) -> dict[str, str]:
    """An initialized MCP session's headers."""
    async with http.post(url, json={"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": HELLO}) as resp:
        assert resp.status == 200, await resp.text()
        headers = {"mcp-session-id": resp.headers["mcp-session-id"], "mcp-protocol-version": "2025-06-18"}
        await resp.read()
    async with http.post(url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers) as resp:
        await resp.read()
    return headers


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts descriptors in /proc")
async def test_a_client_gone_mid_call_leaves_the_call_recorded_and_nothing_held(
    fake_openai: FakeOpenAI, tmp_path: Path
):
    fake_openai.queue(R.Reply(hang=True))
    db = tmp_path / "l.db"
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("MAGSAG_", "OPENAI_"))}
    env = {
        **keep,
        **env_for(fake_openai),
        "MAGSAG_READ_TIMEOUT": "1",
        "MAGSAG_MAX_RETRIES": "0",
        "PYTHONPATH": str(ROOT),
    }
    argv = [sys.executable, "-m", "magsag_mcp", "--transport", "http", "--port", "0", "--db", str(db)]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        url, _ = await until_serving(proc)
        async with aiohttp.ClientSession(headers=HEADERS) as http:
            await _session(http, url)  # (the server's first session: what it opens once is open)
        before = _fds(proc.pid)
        async with aiohttp.ClientSession(headers=HEADERS) as http:
            headers = await _session(http, url)
            call = {"name": "invoke_skill", "arguments": {"skill_id": "skill.analysis", "payload": PAYLOAD}}
            resp = await http.post(
                url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": call}, headers=headers
            )
            await until_sent(fake_openai)
            resp.close()  # the connection dropped, the answer unread
        with anyio.fail_after(60):  # a hang guard: the call ends at its read timeout
            while ledger_state(db)[0] != [("error",)] or ledger_state(db)[2]:
                await anyio.sleep(0.05)
        runs, attempts, held = ledger_state(db)
        assert attempts == [("error", "timeout", None, 1)] and held == 0
        async with aiohttp.ClientSession(headers=HEADERS) as http:  # the server serves on
            headers = await _session(http, url)
            listing = {
                "jsonrpc": "2.0",
                "id": 2,
                "method": "tools/call",
                "params": {"name": "list_skills", "arguments": {}},
            }
            async with http.post(url, json=listing, headers=headers) as resp:
                assert resp.status == 200 and "skill.analysis" in await resp.text()
            async with http.delete(url, headers=headers) as resp:  # (its session ended as a client ends one)
                await resp.read()
        with anyio.fail_after(60):  # a hang guard: the sockets of the gone client and of the upstream call close
            while _fds(proc.pid) > before:
                await anyio.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
