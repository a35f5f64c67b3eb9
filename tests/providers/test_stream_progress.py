"""Each vendor's stream through the service with a progress callback, and a stream cancelled midway."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

import anyio
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from mcp.client import Client

from magsag_mcp.mcp_server import build_server

from .fakes import FakeAnthropic, FakeGemini, FakeOpenAI
from .test_cascades import KEY, open_service  # the three vendors' fakes behind one service

pytestmark = pytest.mark.anyio
CATALOG = Path(__file__).resolve().parent.parent.parent / "catalog"
MODELS = {"openai": "gpt-4o", "anthropic": "claude-3-5-sonnet-20241022", "google": "gemini-1.5-pro"}
ANSWER = "alpha beta gamma delta epsilon zeta"


@pytest.mark.parametrize(
    ("vendor", "responses_api"), [("openai", True), ("openai", False), ("anthropic", True), ("google", True)]
)
async def test_streamed_text_reaches_the_progress_callback_as_it_comes(
    tmp_path: Path, serve: Any, vendor: str, responses_api: bool
):
    # A caller streaming the answer to its own client (a web page, a terminal) needs the text, not only how
    # much of it has come: before, each "delta" event said {"chars": n} and the text itself waited for the end.
    fakes = {
        "openai": FakeOpenAI(KEY, responses_api=responses_api),
        "anthropic": FakeAnthropic(KEY),
        "google": FakeGemini(KEY),
    }
    fakes[vendor].queue({"text": ANSWER})
    svc = await open_service(tmp_path, serve, fakes["openai"], fakes["anthropic"], fakes["google"])
    events: list[tuple[str, dict[str, Any]]] = []

    async def progress(event: str, data: dict[str, Any]) -> None:
        events.append((event, dict(data)))

    try:
        model_config: dict[str, Any] = {"model": MODELS[vendor]}
        if vendor == "openai":
            # the target says which API: FakeOpenAI's responses_api flag does not (it serves both, as OpenAI does)
            model_config["params"] = {"api": "responses" if responses_api else "chat"}
        payload = {"data": "x", "model_config": model_config}
        result = await svc.invoke_skill("skill.analysis", payload, progress=progress)
    finally:
        await svc.aclose()
    assert events[0][0] == "attempt"
    deltas = [data for event, data in events if event == "delta"]
    assert len(deltas) > 1  # as it came, not once at the end
    assert "".join(d["text"] for d in deltas) == result.result.text
    running = 0
    for d in deltas:
        running += len(d["text"])
        assert d["chars"] == running  # the count is the text's so far
    assert result.result.text.split() == ANSWER.split()
    assert result.result.usage.reported and result.result.usage.output_tokens > 0  # the final event's usage
    assert fakes[vendor].violations == []
    if vendor == "openai":  # each OpenAI API's stream, not Chat Completions' twice
        api = "/v1/responses" if responses_api else "/v1/chat/completions"
        assert [r["path"] for r in fakes[vendor].requests] == [api]


async def test_a_retried_stream_starts_its_text_again(tmp_path: Path, serve: Any):
    # The first attempt breaks mid-answer: what it streamed is not the answer. The "attempt" event of the retry
    # says so; the text after it is the answer's, whole.
    anthropic = FakeAnthropic(KEY).queue({"text": "lost words here and there", "cut": True}, {"text": ANSWER})
    svc = await open_service(tmp_path, serve, FakeOpenAI(KEY), anthropic, FakeGemini(KEY))
    events: list[tuple[str, dict[str, Any]]] = []

    async def progress(event: str, data: dict[str, Any]) -> None:
        events.append((event, dict(data)))

    try:
        payload = {"data": "x", "model_config": {"model": MODELS["anthropic"]}}
        result = await svc.invoke_skill("skill.analysis", payload, progress=progress)
    finally:
        await svc.aclose()
    last_attempt = max(i for i, (event, _) in enumerate(events) if event == "attempt")
    assert events[last_attempt][1]["try"] == 2
    assert "".join(d["text"] for e, d in events[last_attempt:] if e == "delta") == result.result.text


def _anthropic_events_then_hold(hold: asyncio.Event, gone: asyncio.Event) -> web.Application:
    """An Anthropic stream that sends its start and a first piece of text, then waits for ``hold`` (never set):
    ``gone`` is set when the client drops the connection."""
    start = {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": MODELS["anthropic"],
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 500, "output_tokens": 1},
    }
    events = [
        ("message_start", {"type": "message_start", "message": start}),
        ("ping", {"type": "ping"}),
        (
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        ),
        (
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "hi"}},
        ),
    ]

    async def handle(request: web.Request) -> web.StreamResponse:
        await request.read()
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for name, data in events:
            await resp.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
        try:
            await hold.wait()
        except asyncio.CancelledError:  # aiohttp cancels the handler when its client goes
            gone.set()
            raise
        return resp

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    return app


@pytest.mark.parametrize("mode", ["legacy", "modern"])
async def test_an_mcp_client_that_cancels_mid_stream_stops_it_and_the_attempt_is_recorded_cancelled(
    tmp_path: Path, mode: str
):
    # The client gives up once the answer has begun (notifications/cancelled for a handshake-era client; the
    # in-process 2026-era client's cancel reaches the call directly): the stream to the vendor is closed, the
    # attempt is recorded as cancelled at its worst case (the vendor may bill it), and no reservation stays open.
    hold, gone = asyncio.Event(), asyncio.Event()
    server = TestServer(_anthropic_events_then_hold(hold, gone), host="127.0.0.1")
    await server.start_server()
    env = {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": f"http://127.0.0.1:{server.port}"}
    db = tmp_path / "l.db"
    messages: list[str | None] = []
    try:
        options: dict[str, Any] = {"mode": "legacy"} if mode == "legacy" else {}
        async with Client(build_server(catalog=CATALOG, db=db, env=env), **options) as client:
            with anyio.CancelScope() as scope:

                async def on_progress(value: float, total: float | None, message: str | None) -> None:
                    messages.append(message)
                    if message and message.startswith("streaming:"):
                        scope.cancel()

                args = {
                    "skill_id": "skill.analysis",
                    "payload": {"data": "x"},
                    "run_id": "r-cancel",
                    "agent": "ana",
                    "model_config": {"model": MODELS["anthropic"]},
                }
                await client.call_tool("invoke_skill", args, progress_callback=on_progress)
            await gone.wait()  # the vendor's stream was closed, not left running to its end
        # the client is closed, and with it the server, which records what was in flight
    finally:
        await server.close()
    assert messages[-1] == "streaming: 2 characters received"
    conn = sqlite3.connect(db)
    try:
        attempts = conn.execute(
            "SELECT outcome, error_class, cost_pusd, cost_bound_pusd FROM attempts WHERE run_id = 'r-cancel'"
        ).fetchall()
        runs = conn.execute("SELECT status FROM runs WHERE run_id = 'r-cancel'").fetchall()
        held = conn.execute("SELECT COUNT(*) FROM budget_reservations").fetchone()[0]
    finally:
        conn.close()
    ((outcome, kind, cost, bound),) = attempts
    assert (outcome, kind, cost) == ("error", "cancelled", None) and bound > 0
    assert runs == [("cancelled",)] and held == 0
