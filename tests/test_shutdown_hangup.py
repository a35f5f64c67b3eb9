"""SIGHUP stops a server as SIGTERM does, recording the call in flight. A terminal that closes (an ssh session ended
with the server in its foreground, the terminal an MCP client ran in) hangs its processes up, and so do supervisors
asked to reload (``systemctl reload`` with ``ExecReload=kill -HUP $MAINPID``, ``supervisorctl signal HUP``, ``docker
kill -s HUP``). Python's default for SIGHUP ends the process on the spot: the call in flight (perhaps billed) went
unrecorded and its budget reservation stayed held until it expired. A server started under ``nohup`` (SIGHUP
ignored) keeps ignoring it. The processes are children, against the spec-checking loopback OpenAI, which never
answers."""

from __future__ import annotations

import json
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
from tests.shutdown_helpers import CANCELLED, PAYLOAD, ledger_state, until_sent, until_serving
from tests.test_shutdown_signals import _ended, _env

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="a POSIX signal"),
]

HELLO = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}
CALL = {"name": "invoke_skill", "arguments": {"skill_id": "skill.analysis", "payload": PAYLOAD}}


def _http_server(fake: FakeOpenAI, db: Path, **popen: object) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "magsag_mcp", "--transport", "http", "--port", "0", "--db", str(db)]
    return subprocess.Popen(argv, env=_env(fake, db), stdout=subprocess.PIPE, stderr=subprocess.PIPE, **popen)  # type: ignore[call-overload]


async def _session(http: aiohttp.ClientSession, url: str) -> dict[str, str]:
    """An initialized MCP session's headers."""
    async with http.post(url, json={"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": HELLO}) as resp:
        assert resp.status == 200, await resp.text()
        headers = {"mcp-session-id": resp.headers["mcp-session-id"], "mcp-protocol-version": "2025-06-18"}
        await resp.read()
    async with http.post(url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers) as resp:
        await resp.read()
    return headers


async def _call_then_signal(
    fake: FakeOpenAI, proc: subprocess.Popen[bytes], url: str, sig: signal.Signals
) -> tuple[int | None, str]:
    """A tool call sent to the HTTP server ``proc`` serves at ``url``; ``sig`` sent once the call reached ``fake``:
    the process's exit code (None: it ran on) and the rest of its stderr."""
    async with aiohttp.ClientSession(headers=HEADERS) as http:
        headers = await _session(http, url)
        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": CALL}

        async def call() -> None:
            try:
                async with http.post(url, json=body, headers=headers) as resp:
                    await resp.read()
            except aiohttp.ClientError:
                pass  # the server ended the request as it stopped

        async with anyio.create_task_group() as tg:
            tg.start_soon(call)
            await until_sent(fake)
            proc.send_signal(sig)
            try:
                code: int | None = await anyio.to_thread.run_sync(lambda: proc.wait(60))
            except subprocess.TimeoutExpired:
                code = None  # still running: what a process manager would SIGKILL
            tg.cancel_scope.cancel()
    assert proc.stderr is not None
    return code, proc.stderr.read().decode(errors="replace") if code is not None else ""


async def test_sighup_stops_the_http_server_and_the_call_in_flight_is_recorded(fake_openai: FakeOpenAI, tmp_path):
    fake_openai.queue(R.Reply(hang=True))
    db = tmp_path / "l.db"
    proc = _http_server(fake_openai, db)
    try:
        url, _ = await until_serving(proc)
        code, log = await _call_then_signal(fake_openai, proc, url, signal.SIGHUP)
    finally:
        _ended(proc)
    assert code is not None, "the server did not exit on SIGHUP"
    # stopped as SIGTERM stops it: the call cancelled and recorded, its reservation given back, then ended by the
    # signal it was sent (systemd counts that a clean stop; a container runtime shows 128 + 1)
    assert ledger_state(db) == CANCELLED
    assert code == -signal.SIGHUP, log
    # the log says which signal stopped it, and what becomes of the calls in flight
    assert "SIGHUP: stopping; calls in flight are cancelled and recorded" in log, log


async def test_sighup_stops_the_stdio_server_and_the_call_in_flight_is_recorded(fake_openai: FakeOpenAI, tmp_path):
    """The terminal an MCP client (a coding agent's CLI) runs in closes: its stdio servers, in its process group,
    are hung up with it."""
    fake_openai.queue(R.Reply(hang=True))
    db = tmp_path / "l.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "magsag_mcp", "--db", str(db)],
        env=_env(fake_openai, db),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None

    def send(message: dict) -> None:
        assert proc.stdin is not None
        proc.stdin.write(json.dumps({"jsonrpc": "2.0", **message}).encode() + b"\n")
        proc.stdin.flush()

    try:
        send({"id": 0, "method": "initialize", "params": HELLO})
        assert "result" in json.loads(await anyio.to_thread.run_sync(proc.stdout.readline))
        send({"method": "notifications/initialized"})
        send({"id": 1, "method": "tools/call", "params": CALL})
        await until_sent(fake_openai)
        proc.send_signal(signal.SIGHUP)  # stdin stays open: the signal alone must stop it
        code = await anyio.to_thread.run_sync(lambda: proc.wait(60))
    finally:
        _ended(proc)
    assert code == 128 + signal.SIGHUP
    assert ledger_state(db) == CANCELLED


def _sighup_ignored() -> None:
    """In the child: SIGHUP ignored, as ``nohup`` starts a command."""
    signal.signal(signal.SIGHUP, signal.SIG_IGN)


async def test_an_http_server_started_under_nohup_serves_on_through_sighup(fake_openai: FakeOpenAI, tmp_path: Path):
    """``nohup magsag-mcp --transport http &``: the operator asked for the hang-up to be ignored, and it is; the call
    in flight goes on (here to its answer) and the server serves on until SIGTERM."""
    fake_openai.queue(R.Reply(hang=True))
    db = tmp_path / "l.db"
    proc = _http_server(fake_openai, db, preexec_fn=_sighup_ignored)
    try:
        url, _ = await until_serving(proc)
        async with aiohttp.ClientSession(headers=HEADERS) as http:
            headers = await _session(http, url)
            answers: list[dict] = []

            async def call() -> None:
                body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": CALL}
                async with http.post(url, json=body, headers=headers) as resp:
                    answers.append(await resp.json(content_type=None) if "json" in resp.content_type else {})

            async with anyio.create_task_group() as tg:
                tg.start_soon(call)
                await until_sent(fake_openai)
                proc.send_signal(signal.SIGHUP)
                # a probe answered after the signal: a server that had taken it would be stopping (503) or gone
                async with http.get(url.removesuffix("/mcp") + "/readyz") as resp:
                    ready = resp.status
                tg.cancel_scope.cancel()
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        code = await anyio.to_thread.run_sync(lambda: proc.wait(60))
    finally:
        _ended(proc)
    assert ready == 200
    assert code == -signal.SIGTERM
    assert ledger_state(db) == CANCELLED
