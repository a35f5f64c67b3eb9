"""The circuit breaker through the service, against loopback vendors: OpenAI failing with 500s (no Retry-After) is left
alone by the calls that follow, each skip recorded in the ledger at no cost and said by explain_route; after the
cooldown one call probes it while the others, at that moment, pass it over; a server that refuses connections is left
alone as well."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from magsag_mcp.service import Service

from .fakes import FakeAnthropic, FakeGemini, FakeOpenAI

pytestmark = pytest.mark.anyio
KEY = "sk-test-key-123456"
PAYLOAD = {"data": "x", "model_config": {"model": "gpt-4o", "fallbacks": ["gemini-1.5-pro"]}}
DOWN = {"error": 500, "message": "The server had an error while processing your request.", "kind": "server_error"}


class _Clock:
    """The cascade's time, moved by the test: a wait is the clock moving on, never a real one."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


class HeldOpenAI(FakeOpenAI):
    """OpenAI whose answers wait for the test's word: a request in flight while other calls decide."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.arrived = asyncio.Event()
        self.release = asyncio.Event()
        self.release.set()

    async def handle(self, request):  # type: ignore[override]
        self.arrived.set()
        await self.release.wait()
        return await super().handle(request)


async def _service(tmp_path: Path, serve, openai_url: str, gemini: FakeGemini, **env: str) -> tuple[Service, _Clock]:
    svc = await Service.open(
        db=tmp_path / "l.db",
        env={
            "OPENAI_API_KEY": KEY,
            "OPENAI_BASE_URL": openai_url,
            "ANTHROPIC_API_KEY": KEY,
            "ANTHROPIC_BASE_URL": await serve(FakeAnthropic(KEY)),
            "GEMINI_API_KEY": KEY,
            "GEMINI_BASE_URL": await serve(gemini),
            "MAGSAG_RETRY_BASE_DELAY": "0.001",
            "MAGSAG_MAX_RETRIES": "1",
            **env,
        },
    )
    clock = _Clock()
    svc.cascade.clock, svc.cascade.sleep = clock, clock.sleep
    return svc, clock


async def test_openai_failing_with_500s_is_left_alone_recorded_explained_then_probed(tmp_path: Path, serve):
    # MAGSAG_MAX_RETRIES=1: a 500 is tried twice by each call; the second call's first 500 is the third in a row
    openai = HeldOpenAI(KEY).queue(*[DOWN] * 4, {"text": "openai is back"}, {"text": "openai again"})
    gemini = FakeGemini(KEY).queue(*[{"text": f"gemini {i}"} for i in range(6)])
    svc, clock = await _service(tmp_path, serve, await serve(openai) + "/v1", gemini)
    try:
        one = await svc.invoke_skill("skill.analysis", PAYLOAD)
        two = await svc.invoke_skill("skill.analysis", PAYLOAD)
        assert [a.error_class for a in one.attempts] == ["server_error", "server_error", None]
        assert [a.error_class for a in two.attempts] == ["server_error", "server_error", None]
        assert len(openai.requests) == 4
        assert any(
            "3 failures in a row that say its server is unwell opened the circuit breaker" in w for w in two.warnings
        )
        clock.now += 10
        explained = svc.explain("skill.analysis", PAYLOAD)
        three = await svc.invoke_skill("skill.analysis", PAYLOAD, run_id="r-skipped")
        assert len(openai.requests) == 4 and three.result.text == "gemini 2"  # not sent: no request, no retries
        [run] = await svc.query_runs({"run_id": "r-skipped"})
        # the cooldown over, one call probes it while two others, at that moment, pass it over
        clock.now += 20
        openai.release.clear()
        openai.arrived.clear()
        probe = asyncio.create_task(svc.invoke_skill("skill.analysis", PAYLOAD))
        await openai.arrived.wait()
        passing = [await svc.invoke_skill("skill.analysis", PAYLOAD) for _ in range(2)]
        openai.release.set()
        probed = await probe
        after = await svc.invoke_skill("skill.analysis", PAYLOAD)
    finally:
        openai.release.set()
        await svc.aclose()
    openai_target, gemini_target = explained["targets"]
    assert openai_target["resting"].startswith(
        "openai:gpt-4o: not sent: the circuit breaker left it alone 10s ago for 30s, after 3 failures in a row that "
        "say its server is unwell (server_error), 20s of that left: a call now tries the targets after it, and sends "
        "it once, without retries, if none of them answers; then one call sends it (MAGSAG_BREAKER_FAILURES=3, "
        "MAGSAG_BREAKER_COOLDOWN=30)"
    )
    assert "resting" not in gemini_target
    skipped, answered = run["attempts"]
    assert (skipped["outcome"], skipped["provider"], answered["outcome"]) == ("skipped", "openai", "ok")
    assert float(skipped["cost_usd"]) == 0 and "the circuit breaker left it alone 10s ago" in skipped["error_message"]
    assert skipped["error_message"] in three.warnings  # the answer says why the fallback answered
    assert probed.result.text == "openai is back" and [a.outcome for a in probed.attempts] == ["ok"]
    for call in passing:
        assert [a.outcome for a in call.attempts] == ["skipped", "ok"]
        assert "another call is sending it now" in call.attempts[0].error_message
    assert after.result.text == "openai again" and len(openai.requests) == 6  # closed by the probe's answer
    assert clock.waits and all(w < 1 for w in clock.waits)  # the 500s' backoff alone, no wait for the breaker
    assert openai.violations == gemini.violations == []


async def test_a_server_refusing_connections_is_left_alone_after_its_count(tmp_path: Path, serve):
    with socket.socket() as sock:  # a loopback port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    gemini = FakeGemini(KEY).queue(*[{"text": f"gemini {i}"} for i in range(3)])
    svc, _ = await _service(tmp_path, serve, f"http://127.0.0.1:{port}/v1", gemini, MAGSAG_BREAKER_FAILURES="1")
    try:
        one = await svc.invoke_skill("skill.analysis", PAYLOAD)
        two = await svc.invoke_skill("skill.analysis", PAYLOAD)
    finally:
        await svc.aclose()
    assert [a.error_class for a in one.attempts] == ["connection_error", None]
    assert [a.outcome for a in two.attempts] == ["skipped", "ok"]
    assert "after 1 failure in a row that says its server is unwell (connection_error)" in (
        two.attempts[0].error_message
    )
    assert any(
        "1 failure in a row that says its server is unwell opened the circuit breaker" in w for w in one.warnings
    )
