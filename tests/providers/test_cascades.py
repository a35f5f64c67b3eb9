"""Cascades across real loopback vendors, through the service: the trace tells what happened."""

from __future__ import annotations

from pathlib import Path

import pytest

from magsag_mcp import errors as E
from magsag_mcp.service import Service

from .fakes import FakeAnthropic, FakeGemini, FakeOpenAI

pytestmark = pytest.mark.anyio
KEY = "sk-test-key-123456"


async def open_service(tmp_path: Path, serve, openai, anthropic, gemini) -> Service:
    env = {
        "OPENAI_API_KEY": KEY,
        "OPENAI_BASE_URL": await serve(openai) + "/v1",
        "ANTHROPIC_API_KEY": KEY,
        "ANTHROPIC_BASE_URL": await serve(anthropic),
        "GEMINI_API_KEY": KEY,
        "GEMINI_BASE_URL": await serve(gemini),
        "MAGSAG_RETRY_BASE_DELAY": "0.001",
        "MAGSAG_MAX_RETRIES": "1",
    }
    return await Service.open(db=tmp_path / "l.db", env=env)


async def test_503_then_429_with_retry_after_then_ok(tmp_path: Path, serve):
    openai = FakeOpenAI(KEY).queue(*[{"error": 503, "kind": "server_error"}] * 2)
    rl = {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}
    anthropic = FakeAnthropic(KEY).queue(*[{"error": 429, "body": rl, "headers": {"Retry-After": "2"}}] * 2)
    gemini = FakeGemini(KEY).queue({"text": "answer from gemini"})
    svc = await open_service(tmp_path, serve, openai, anthropic, gemini)
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    svc.cascade.sleep = sleep
    mc = {"model": "gpt-4o", "fallbacks": ["claude-3-5-sonnet-20241022", "gemini-1.5-pro"]}
    result = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": mc}, run_id="cascade-1")
    await svc.aclose()
    assert result.result.text == "answer from gemini" and result.result.provider == "google"
    assert [(a["target"], a["outcome"], a["error_class"], a["try"]) for a in result.trace["attempts"]] == [
        ("openai:gpt-4o", "error", "overloaded", 1),
        ("openai:gpt-4o", "error", "overloaded", 2),
        ("anthropic:claude-3-5-sonnet-20241022", "error", "rate_limited", 1),
        ("anthropic:claude-3-5-sonnet-20241022", "error", "rate_limited", 2),
        ("google:gemini-1.5-pro", "ok", None, 1),
    ]
    assert 2.0 <= waits[1] <= 2.5  # the server's Retry-After was honoured
    assert [a.fallback_position for a in result.attempts] == [0, 0, 1, 1, 2]
    assert openai.violations == anthropic.violations == gemini.violations == []


async def test_cross_vendor_529_then_quota_then_gemini(tmp_path: Path, serve):
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    anthropic = FakeAnthropic(KEY).queue(*[{"error": 529, "body": overloaded}] * 2)
    quota = {
        "error": {
            "message": "You exceeded your current quota, please check your plan and billing details.",
            "type": "insufficient_quota",
            "param": None,
            "code": "insufficient_quota",
        }
    }
    openai = FakeOpenAI(KEY).queue({"error": 429, "body": quota})
    gemini = FakeGemini(KEY).queue({"text": "gemini saves the day"})
    svc = await open_service(tmp_path, serve, openai, anthropic, gemini)
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    svc.cascade.sleep = sleep
    mc = {"model": "claude-3-5-sonnet-20241022", "fallbacks": ["gpt-4o", "gemini-1.5-pro"]}
    result = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": mc})
    runs = await svc.query_runs()
    await svc.aclose()
    assert result.result.provider == "google"
    kinds = [(a.provider, a.error_class) for a in result.attempts]
    assert kinds == [
        ("anthropic", "overloaded"),
        ("anthropic", "overloaded"),
        ("openai", "quota_exhausted"),
        ("google", None),
    ]
    assert len(waits) == 1  # one backoff for the overloaded retry; none for the exhausted quota
    assert len(openai.requests) == 1  # quota exhausted: moved on without retrying
    assert [a["outcome"] for a in runs[0]["attempts"]] == ["error", "error", "error", "ok"]


async def test_every_vendor_down_gives_one_error_with_every_attempt(tmp_path: Path, serve):
    openai = FakeOpenAI(KEY).queue(*[{"error": 500}] * 2)
    anthropic = FakeAnthropic(KEY).queue(*[{"error": 500}] * 2)
    gemini = FakeGemini(KEY).queue(*[{"error": 500}] * 2)
    svc = await open_service(tmp_path, serve, openai, anthropic, gemini)
    mc = {"model": "gpt-4o", "fallbacks": ["claude-3-5-sonnet-20241022", "gemini-1.5-pro"]}
    with pytest.raises(E.AllTargetsFailed) as info:
        await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": mc})
    summary = await svc.summarize()
    await svc.aclose()
    assert len(info.value.attempts) == 6 and isinstance(info.value, E.ServerError)
    assert summary["totals"]["errors"] == 6 and summary["totals"]["calls"] == 6
