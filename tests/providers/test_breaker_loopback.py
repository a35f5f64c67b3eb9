"""The circuit breaker through the service, against loopback vendors: OpenAI failing with 500s (no Retry-After), call
after call, is left alone by the calls that follow (a call counted once, whatever its retries), each skip recorded in
the ledger at no cost and said by explain_route; after the cooldown one call probes it while the others, at that
moment, pass it over; a server that refuses connections is left alone as well."""

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
    # MAGSAG_MAX_RETRIES=1: a 500 is tried twice by each call, which then falls back: the third such call opens it
    openai = HeldOpenAI(KEY).queue(*[DOWN] * 6, {"text": "openai is back"}, {"text": "openai again"})
    gemini = FakeGemini(KEY).queue(*[{"text": f"gemini {i}"} for i in range(7)])
    svc, clock = await _service(tmp_path, serve, await serve(openai) + "/v1", gemini)
    try:
        failed = [await svc.invoke_skill("skill.analysis", PAYLOAD) for _ in range(3)]
        for call in failed:
            assert [a.error_class for a in call.attempts] == ["server_error", "server_error", None]
        assert len(openai.requests) == 6
        opened = "3 calls in a row that it failed with an error saying its server is unwell opened the circuit breaker"
        assert [any(opened in w for w in call.warnings) for call in failed] == [False, False, True]
        assert opened in failed[2].attempts[1].warnings[-1]  # the call's last try there says so
        clock.now += 10
        explained = svc.explain("skill.analysis", PAYLOAD)
        three = await svc.invoke_skill("skill.analysis", PAYLOAD, run_id="r-skipped")
        assert len(openai.requests) == 6 and three.result.text == "gemini 3"  # not sent: no request, no retries
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
        "openai:gpt-4o: not sent: the circuit breaker left it alone 10s ago for 30s, after 3 calls in a row that it "
        "failed with an error saying its server is unwell (server_error), 20s of that left: a call now tries the "
        "targets after it, and sends it once, without retries, if none of them answers; then one call sends it "
        "(MAGSAG_BREAKER_FAILURES=3, MAGSAG_BREAKER_COOLDOWN=30)"
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
    assert after.result.text == "openai again" and len(openai.requests) == 8  # closed by the probe's answer
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
    assert "after 1 call in a row that it failed with an error saying its server is unwell (connection_error)" in (
        two.attempts[0].error_message
    )
    assert any(
        "1 call in a row that it failed with an error saying its server is unwell opened the circuit breaker" in w
        for w in one.warnings
    )


# --- the count is of calls, not tries --------------------------------------------------------------------------------

ALONE = {"data": "x", "model_config": {"model": "gpt-4o"}}
OPENED = "in a row that it failed with an error saying its server is unwell opened the circuit breaker"


class GatedOpenAI(FakeOpenAI):
    """OpenAI holding some of its requests (by their number, from 1) until the test's word, or until ``together`` of
    them arrived: calls in flight at once, or a try that takes until the call's deadline or its cancel."""

    def __init__(self, key: str, held: tuple[int, ...] = (), together: int = 0) -> None:
        super().__init__(key)
        self.held, self.together, self.arrivals = held, together, 0
        self.arrived = asyncio.Event()
        self.release = asyncio.Event()
        self.all_in = asyncio.Event()

    async def handle(self, request):  # type: ignore[override]
        self.arrivals += 1
        number = self.arrivals
        if number <= self.together:
            if number == self.together:
                self.all_in.set()
            await self.all_in.wait()
        if number in self.held:
            self.arrived.set()
            await self.release.wait()
        return await super().handle(request)


async def _failed(svc: Service, payload=ALONE) -> list:
    """The attempts of a call that failed (it raises, carrying them)."""
    from magsag_mcp.errors import ProviderError

    with pytest.raises(ProviderError) as info:
        await svc.invoke_skill("skill.analysis", payload)
    return info.value.attempts


async def test_one_call_whose_tries_all_failed_does_not_open_it_the_next_call_gets_its_full_retries(
    tmp_path: Path, serve
):
    # MAGSAG_MAX_RETRIES=2: three tries, all 500s, are one call failed, not three failures: the next call, the only
    # target its own, is sent with its retries, not once (as it was when each try counted)
    openai = FakeOpenAI(KEY).queue(*[DOWN] * 5, {"text": "openai answers"})
    svc, _ = await _service(tmp_path, serve, await serve(openai) + "/v1", FakeGemini(KEY), MAGSAG_MAX_RETRIES="2")
    try:
        first = await _failed(svc)
        out = await svc.invoke_skill("skill.analysis", ALONE)
    finally:
        await svc.aclose()
    assert [(a.outcome, a.attempt_number) for a in first] == [("error", 1), ("error", 2), ("error", 3)]
    assert not any(OPENED in w for a in first for w in a.warnings)
    assert [(a.outcome, a.attempt_number) for a in out.attempts] == [("error", 1), ("error", 2), ("ok", 3)]
    assert out.result.text == "openai answers" and len(openai.requests) == 6
    assert openai.violations == []


async def test_three_calls_whose_tries_all_failed_open_it_on_the_third_calls_last_try(tmp_path: Path, serve):
    openai = FakeOpenAI(KEY).queue(*[DOWN] * 9, {"text": "answered all the same"})
    svc, clock = await _service(tmp_path, serve, await serve(openai) + "/v1", FakeGemini(KEY), MAGSAG_MAX_RETRIES="2")
    try:
        calls = [await _failed(svc) for _ in range(3)]
        clock.now += 1
        waits = len(clock.waits)
        out = await svc.invoke_skill("skill.analysis", ALONE)
    finally:
        await svc.aclose()
    for attempts in calls:
        assert [(a.outcome, a.attempt_number) for a in attempts] == [("error", 1), ("error", 2), ("error", 3)]
    said = [[OPENED in w for w in a.warnings] for attempts in calls for a in attempts]
    assert [any(w) for w in said] == [False] * 8 + [True]  # the third call's last try, and only it
    assert f"3 calls {OPENED}; the calls that follow leave it alone for 30s" in calls[2][-1].warnings[-1]
    # left alone, and no other target: sent all the same, once, at once
    assert [a.outcome for a in out.attempts] == ["skipped", "ok"] and len(clock.waits) == waits
    assert out.result.text == "answered all the same" and len(openai.requests) == 10


async def test_an_answer_between_failed_calls_resets_their_count(tmp_path: Path, serve):
    # each call tries twice (MAGSAG_MAX_RETRIES=1); the third's retry answers: the two calls it failed before are
    # forgotten, and two more after it leave the count at 2, below 3
    openai = FakeOpenAI(KEY).queue(*[DOWN] * 5, {"text": "fine"}, *[DOWN] * 4, {"text": "still fine"})
    svc, _ = await _service(tmp_path, serve, await serve(openai) + "/v1", FakeGemini(KEY))
    try:
        before = [await _failed(svc) for _ in range(2)]
        between = await svc.invoke_skill("skill.analysis", ALONE)
        after = [await _failed(svc) for _ in range(2)]
        out = await svc.invoke_skill("skill.analysis", ALONE)
    finally:
        await svc.aclose()
    assert [[a.outcome for a in attempts] for attempts in (*before, *after)] == [["error", "error"]] * 4
    assert [a.outcome for a in between.attempts] == ["error", "ok"]
    assert out.result.text == "still fine" and [a.outcome for a in out.attempts] == ["ok"]
    assert len(openai.requests) == 11


async def test_calls_failing_at_once_each_count_once(tmp_path: Path, serve):
    # two calls in flight together (their first tries held until both arrived), two tries each, all 500s: two calls,
    # not four failures; the next call is sent with its retries and, failing, is the third that opens it
    openai = GatedOpenAI(KEY, together=2).queue(*[DOWN] * 6)
    svc, _ = await _service(tmp_path, serve, await serve(openai) + "/v1", FakeGemini(KEY))
    try:
        together = await asyncio.gather(_failed(svc), _failed(svc))
        third = await _failed(svc)
    finally:
        await svc.aclose()
    for attempts in together:
        assert [a.outcome for a in attempts] == ["error", "error"]
        assert not any(OPENED in w for a in attempts for w in a.warnings)
    assert [a.outcome for a in third] == ["error", "error"] and len(openai.requests) == 6
    assert f"3 calls {OPENED}" in third[-1].warnings[-1]


async def test_a_call_its_deadline_stopped_mid_tries_counts_nothing(tmp_path: Path, serve):
    # MAGSAG_BREAKER_FAILURES=1: a 500, then a retry that takes until the call's deadline (1s, real: the asyncio
    # timeout), which is the caller's time, not the server's failure: the call counts nothing, and the next sends it
    # (the held try's answer is read once the test ends: the next call's, sent meanwhile, is the queue's second)
    openai = GatedOpenAI(KEY, held=(2,)).queue(DOWN, {"text": "openai answers"}, {"text": "cut"})
    gemini = FakeGemini(KEY).queue({"text": "gemini answers"})
    svc, _ = await _service(
        tmp_path,
        serve,
        await serve(openai) + "/v1",
        gemini,
        MAGSAG_BREAKER_FAILURES="1",
        MAGSAG_CALL_DEADLINE="1",
    )
    try:
        cut = await svc.invoke_skill("skill.analysis", PAYLOAD)
        out = await svc.invoke_skill("skill.analysis", ALONE)
    finally:
        openai.release.set()
        await svc.aclose()
    assert [(a.provider, a.error_class) for a in cut.attempts] == [
        ("openai", "server_error"),
        ("openai", "timeout"),
        ("google", None),
    ]
    assert "within the call's deadline" in cut.attempts[1].error_message
    assert not any(OPENED in w for w in cut.warnings)
    assert out.result.text == "openai answers" and [a.outcome for a in out.attempts] == ["ok"]


async def test_a_call_cancelled_mid_tries_counts_nothing(tmp_path: Path, serve):
    openai = GatedOpenAI(KEY, held=(2,)).queue(DOWN, {"text": "openai answers"}, {"text": "never read"})
    svc, _ = await _service(
        tmp_path, serve, await serve(openai) + "/v1", FakeGemini(KEY), MAGSAG_BREAKER_FAILURES="1"
    )
    try:
        call = asyncio.create_task(svc.invoke_skill("skill.analysis", ALONE))
        await openai.arrived.wait()  # its retry in flight, after its first try's 500
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        out = await svc.invoke_skill("skill.analysis", ALONE)
    finally:
        openai.release.set()
        await svc.aclose()
    assert out.result.text == "openai answers" and [a.outcome for a in out.attempts] == ["ok"]
