"""An HTTP server stopped by SIGTERM (or SIGHUP) does the interpreter's exit work before it ends: its atexit hooks
run, among them OpenTelemetry's, which exports the spans its batch still holds. uvicorn ended the process by raising
the signal again once it had stopped serving, with the default handler: the process died there, and the spans of
the last calls (those a shutdown cancels among them) were never exported. It still ends by the signal it was sent
(systemd counts that a clean stop). The server is a child, run as ``opentelemetry-instrument`` runs it (its tracer
provider set before it starts), against the spec-checking loopback OpenAI."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client

from tests.fakes import openai_replies as R
from tests.fakes.openai_server import FakeOpenAI
from tests.shutdown_helpers import PAYLOAD, until_serving
from tests.test_shutdown_signals import _ended, _env

pytest.importorskip("opentelemetry.sdk")
pytestmark = [pytest.mark.anyio, pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="POSIX signals")]

#: the server, its tracer provider set first (as the launcher sets it), batching spans to stdout
INSTRUMENTED = (
    "import sys\n"
    "from opentelemetry import trace\n"
    "from opentelemetry.sdk.trace import TracerProvider\n"
    "from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter\n"
    "provider = TracerProvider()\n"
    "provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))\n"
    "trace.set_tracer_provider(provider)\n"
    "from magsag_mcp.mcp_server.__main__ import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
async def test_a_stopped_http_server_exports_its_last_spans_and_ends_by_the_signal(
    fake_openai: FakeOpenAI, tmp_path: Path, sig: signal.Signals
):
    fake_openai.queue(R.Reply(text="fine"))
    db = tmp_path / "l.db"
    # the batch is exported on its schedule, or at exit: never on its schedule here, so only the exit can export it
    env = {**_env(fake_openai, db), "OTEL_BSP_SCHEDULE_DELAY": "3600000"}
    argv = [sys.executable, "-c", INSTRUMENTED, "--transport", "http", "--port", "0", "--db", str(db)]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        url, _ = await until_serving(proc)
        async with Client(streamable_http_client(url)) as client:
            answer = await client.call_tool("invoke_skill", {"skill_id": "skill.analysis", "payload": PAYLOAD})
        assert not answer.is_error, answer
        proc.send_signal(sig)
        out, err = await anyio.to_thread.run_sync(lambda: proc.communicate(timeout=60))
    finally:
        _ended(proc)
    spans = [json.loads(chunk) for chunk in out.decode().replace("}\n{", "}\0{").split("\0") if chunk.strip()]
    assert "magsag skill.analysis" in [span["name"] for span in spans], (out.decode(), err.decode())
    assert proc.returncode == -sig


async def test_a_stopped_stdio_server_exports_its_last_spans(fake_openai: FakeOpenAI, tmp_path: Path):
    """The stdio server ends with os._exit once its calls are recorded (the SDK's reader of stdin is a thread nothing
    can interrupt); it skipped the atexit hooks, and with them the spans its provider still held. Exported here to
    stderr: stdout is the protocol's."""
    fake_openai.queue(R.Reply(text="fine"))
    db = tmp_path / "l.db"
    env = {**_env(fake_openai, db), "OTEL_BSP_SCHEDULE_DELAY": "3600000"}
    to_stderr = INSTRUMENTED.replace("ConsoleSpanExporter()", "ConsoleSpanExporter(out=sys.stderr)")
    proc = subprocess.Popen(
        [sys.executable, "-c", to_stderr, "--db", str(db)],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None

    def send(message: dict) -> None:
        assert proc.stdin is not None
        proc.stdin.write(json.dumps({"jsonrpc": "2.0", **message}).encode() + b"\n")
        proc.stdin.flush()

    hello = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}
    try:
        send({"id": 0, "method": "initialize", "params": hello})
        assert "result" in json.loads(await anyio.to_thread.run_sync(proc.stdout.readline))
        send({"method": "notifications/initialized"})
        arguments = {"skill_id": "skill.analysis", "payload": PAYLOAD}
        send({"id": 1, "method": "tools/call", "params": {"name": "invoke_skill", "arguments": arguments}})
        answer = json.loads(await anyio.to_thread.run_sync(proc.stdout.readline))
        assert answer["id"] == 1 and not answer["result"].get("isError"), answer
        proc.send_signal(signal.SIGTERM)
        _, err = await anyio.to_thread.run_sync(lambda: proc.communicate(timeout=60))
    finally:
        _ended(proc)
    assert proc.returncode == 128 + signal.SIGTERM
    assert '"name": "magsag skill.analysis"' in err.decode(), err.decode()
