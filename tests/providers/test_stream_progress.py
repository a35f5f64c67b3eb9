"""Each vendor's stream through the service with a progress callback: what a caller that streams sees."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from magsag_mcp.service import Service

from .fakes import FakeAnthropic, FakeGemini, FakeOpenAI

pytestmark = pytest.mark.anyio
KEY = "sk-test-key-123456"
MODELS = {"openai": "gpt-4o", "anthropic": "claude-3-5-sonnet-20241022", "google": "gemini-1.5-pro"}
ANSWER = "alpha beta gamma delta epsilon zeta"


async def open_service(tmp_path: Path, serve: Any, openai: Any, anthropic: Any, gemini: Any) -> Service:
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
        payload = {"data": "x", "model_config": {"model": MODELS[vendor]}}
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
