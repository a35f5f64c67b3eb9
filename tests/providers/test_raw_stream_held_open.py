"""Streams that go on after their terminal event (a server or proxy that holds the connection open, a gateway
that keeps pinging or stamps a finish on every chunk): the answer comes without waiting out the read timeout or
the call's deadline, and what the stream sent after the event still reaches progress."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from magsag_mcp.providers.gemini import GeminiProvider
from magsag_mcp.providers.openai import OpenAIProvider
from magsag_mcp.transport import Timeouts, Transport
from magsag_mcp.types import LLMRequest, Message, Target

from .raw_streams_helpers import WHOLE_THEN_CUT, gemini_chunk, sse

#: (loopback servers here must answer within read timeouts of 0.2 s: see no_collector_pause)
pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("no_collector_pause")]


async def test_a_stream_held_open_after_its_terminal_event_is_the_answer_once_it_goes_idle():
    # A server that sends [DONE] and then holds the connection open: the read timeout fired, and the whole
    # answer was taken for a stream that went idle mid-answer.
    held = asyncio.Event()

    async def handle(request: web.Request) -> web.StreamResponse:
        await request.read()
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for c in WHOLE_THEN_CUT["chat"][:-1]:
            await resp.write(c)
        await held.wait()  # never set: the connection stays open, silent
        return resp

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    transport = Transport(timeouts=Timeouts(connect=2.0, read=0.2))
    try:
        env = {"OPENAI_BASE_URL": f"http://127.0.0.1:{server.port}/v1", "OPENAI_API_KEY": "sk-test-0123456789"}
        request = LLMRequest(messages=[Message("user", "hi")], stream=True)
        result = await OpenAIProvider(env, transport).complete(
            request, Target("openai", "gpt-4o", params=(("api", "chat"),))
        )
    finally:
        await transport.aclose()
        await server.close()
    assert (result.text, result.usage.output_tokens) == ("whole answer", 4)


@pytest.mark.parametrize("api", ["chat", "responses", "anthropic", "gemini"])
async def test_a_stream_held_open_after_its_terminal_event_answers_before_the_read_timeout(api: str, tmp_path):
    # The vendor sent the whole answer and its terminal event, then a proxy held the connection open (no end of
    # the chunked encoding). The answer waited for the read timeout (120 s by default) and, where the call's
    # deadline came first, the whole answer, billed, failed as "no complete answer within the call's deadline":
    # its cost unknown, and the next target paid for it again.
    from magsag_mcp.service import Service

    held = asyncio.Event()
    still_holding: list[bool] = []

    async def handle(request: web.Request) -> web.StreamResponse:
        await request.read()
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for c in WHOLE_THEN_CUT[api][:-1]:
            await resp.write(c)
        still_holding.append(True)
        await held.wait()  # set only once the call is done: the connection stays open, silent, until then
        return resp

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    root = f"http://127.0.0.1:{server.port}"
    env = {
        "OPENAI_BASE_URL": root + "/v1",
        "OPENAI_API_KEY": "sk-test-0123456789",
        "ANTHROPIC_BASE_URL": root,
        "ANTHROPIC_API_KEY": "sk-ant-test-0123456789",
        "GEMINI_BASE_URL": root,
        "GEMINI_API_KEY": "AIza-test-0123456789",
        "MAGSAG_READ_TIMEOUT": "600",
        "MAGSAG_CALL_DEADLINE": "30",
    }
    model = {
        "chat": {"provider": "openai", "model": "gpt-4o", "params": {"api": "chat"}},
        "responses": {"provider": "openai", "model": "gpt-4o", "params": {"api": "responses"}},
        "anthropic": {"provider": "anthropic", "model": "claude-3-5-sonnet-20241022"},
        "gemini": {"provider": "google", "model": "gemini-1.5-pro"},
    }[api]
    deltas: list[str] = []

    async def progress(event: str, data: dict[str, Any]) -> None:  # a callback: the call is streamed
        if event == "delta":
            deltas.append(data["text"])

    try:
        async with Service.open(db=tmp_path / "l.db", env=env) as svc:
            out = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": model}, progress=progress)
        answered_while_held = still_holding == [True] and not held.is_set()
    finally:
        held.set()
        await server.close()
    assert (out.result.text, out.result.finish_reason, "".join(deltas)) == ("whole answer", "stop", "whole answer")
    assert (out.result.usage.input_tokens, out.result.usage.output_tokens) == (9, 4)
    assert [a.outcome for a in out.attempts] == ["ok"] and answered_while_held


async def test_a_stream_held_open_after_its_end_near_the_calls_deadline_still_answers(tmp_path, monkeypatch):
    # What follows a stream's terminal event is read for a while (for the connection to go back to the pool). When
    # the call's deadline came during that read, it cut the whole answer, billed: "no complete answer within the
    # call's deadline", its cost unknown, and the next target paid for it again. (The read made long here, so
    # that any deadline falls inside it.)
    from magsag_mcp.providers import stream_end
    from magsag_mcp.service import Service

    monkeypatch.setattr(stream_end, "AFTER_THE_END_SECONDS", 600.0)
    held = asyncio.Event()

    async def handle(request: web.Request) -> web.StreamResponse:
        await request.read()
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for c in WHOLE_THEN_CUT["chat"][:-1]:
            await resp.write(c)
        await held.wait()  # the connection stays open, silent, until the call is done
        return resp

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    env = {
        "OPENAI_BASE_URL": f"http://127.0.0.1:{server.port}/v1",
        "OPENAI_API_KEY": "sk-test-0123456789",
        "MAGSAG_CALL_DEADLINE": "2",
    }
    model = {"provider": "openai", "model": "gpt-4o", "params": {"api": "chat"}, "stream": True}
    try:
        async with Service.open(db=tmp_path / "l.db", env=env) as svc:
            out = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": model})
    finally:
        held.set()
        await server.close()
    assert (out.result.text, out.result.finish_reason) == ("whole answer", "stop")
    assert [(a.outcome, a.cost_usd is not None) for a in out.attempts] == [("ok", True)]


async def test_what_a_stream_sends_after_a_terminal_looking_event_reaches_progress_too():
    # A gateway that writes finishReason STOP on every Gemini chunk (the answer's too) makes its first chunk of text
    # look like the last. What came after it was read for a second at most (a long answer was cut there) and reached
    # the answer but never the progress callback: a client rendering the deltas showed less than the answer it got.
    # What follows such an event is read while it keeps coming, and each delta reaches progress.
    go = asyncio.Event()
    words = ["Hello", " wide", " world"]
    chunks = [sse(gemini_chunk(w, finish="STOP", out=i + 1))[0] for i, w in enumerate(words)]

    async def handle(request: web.Request) -> web.StreamResponse:
        await request.read()
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(chunks[0])
        await go.wait()  # the first delta has reached the caller
        for c in chunks[1:]:
            await resp.write(c)
        await resp.write_eof()
        return resp

    deltas: list[str] = []

    async def progress(event: str, data: dict[str, Any]) -> None:
        if event == "delta":
            deltas.append(data["text"])
            go.set()

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    transport = Transport()
    try:
        env = {"GEMINI_API_KEY": "g-key", "GEMINI_BASE_URL": f"http://127.0.0.1:{server.port}"}
        request = LLMRequest(messages=[Message("user", "hi")], stream=True)
        result = await GeminiProvider(env, transport).complete(
            request, Target("google", "gemini-2.5-flash"), progress=progress
        )
    finally:
        go.set()
        await transport.aclose()
        await server.close()
    assert (result.text, "".join(deltas), result.usage.output_tokens) == ("Hello wide world",) * 2 + (3,)


async def test_a_stream_that_keeps_pinging_after_its_end_answers_once_the_pings_carry_nothing(tmp_path, monkeypatch):
    # A gateway that goes on sending keep-alive events (Anthropic's "ping") after message_stop, each well within a
    # second of the last: what follows a terminal event was read while it kept coming, so the whole answer, billed,
    # was held until the call's deadline (300 s by default). Events that add nothing to the answer do not keep the
    # read going: it ends a while after the last one that did.
    from magsag_mcp.providers import stream_end
    from magsag_mcp.service import Service

    monkeypatch.setattr(stream_end, "AFTER_THE_END_SECONDS", 0.3)
    done = asyncio.Event()
    pinging: list[bool] = []
    ping = b'event: ping\ndata: {"type": "ping"}\n\n'

    async def handle(request: web.Request) -> web.StreamResponse:
        await request.read()
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for c in WHOLE_THEN_CUT["anthropic"][:-1]:
            await resp.write(c)
        pinging.append(True)
        for _ in range(400):  # a ping every 50 ms, for far longer than the read after the end may last
            if done.is_set():
                break
            await resp.write(ping)
            await asyncio.sleep(0.05)
        pinging.append(False)
        await done.wait()
        return resp

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    env = {
        "ANTHROPIC_BASE_URL": f"http://127.0.0.1:{server.port}",
        "ANTHROPIC_API_KEY": "sk-ant-test-0123456789",
        "MAGSAG_CALL_DEADLINE": "600",
    }
    model = {"provider": "anthropic", "model": "claude-3-5-sonnet-20241022", "stream": True}
    try:
        async with Service.open(db=tmp_path / "l.db", env=env) as svc:
            out = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": model})
        answered_while_pinging = pinging == [True]
    finally:
        done.set()
        await server.close()
    assert (out.result.text, out.result.finish_reason) == ("whole answer", "stop")
    assert answered_while_pinging
