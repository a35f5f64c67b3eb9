"""A stream dropped mid-answer, then sent again (the call's retry): each attempt holds its own spend in the ledger.

The dropped one may be billed for tokens nobody reported: its cost is unknown, counted at its own worst case, with the
prompt's tokens the stream had counted (Anthropic's message_start, Gemini's every chunk; OpenAI's streams count none
before their end) and no tokens of the answer that followed; the answer that came
is recorded at its own usage and exact cost, not the earlier attempt's figure carried over, nor the two added up. The
call's cost is the answer's plus the dropped attempt's bound, once."""

from __future__ import annotations

import sqlite3
from decimal import Decimal as D

import pytest

from magsag_mcp.service import Service

from .fakes import FakeAnthropic, FakeGemini, FakeOpenAI

pytestmark = pytest.mark.anyio
KEY = "sk-test-key-123456"
M = 1_000_000
PICO = 10**12

#: (provider, model, params, the usage the dropped stream began to report, the answer's, the answer's cost by hand)
CASES = {
    # claude-3-5-sonnet-20241022: $3 in, $15 out
    "anthropic": (
        "anthropic",
        "claude-3-5-sonnet-20241022",
        {},
        {"input_tokens": 1000, "output_tokens": 500},
        {"input_tokens": 2000, "output_tokens": 300},
        (2000 * 3 + 300 * 15) / D(M),
    ),
    # gemini-1.5-pro: $1.25 in, $5 out (a prompt below 128k)
    "gemini": (
        "google",
        "gemini-1.5-pro",
        {},
        {"promptTokenCount": 1000, "candidatesTokenCount": 500},
        {"promptTokenCount": 2000, "candidatesTokenCount": 300},
        (2000 * D("1.25") + 300 * 5) / D(M),
    ),
    # gpt-4o: $2.50 in, $10 out
    "openai-chat": (
        "openai",
        "gpt-4o",
        {},
        {"prompt_tokens": 1000, "completion_tokens": 500},
        {"prompt_tokens": 2000, "completion_tokens": 300},
        (2000 * D("2.5") + 300 * 10) / D(M),
    ),
    "openai-responses": (
        "openai",
        "gpt-4o",
        {"api": "responses"},
        {"input_tokens": 1000, "output_tokens": 500},
        {"input_tokens": 2000, "output_tokens": 300},
        (2000 * D("2.5") + 300 * 10) / D(M),
    ),
}


async def _env(serve, provider: str):
    if provider == "anthropic":
        fake = FakeAnthropic(KEY)
        return fake, {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": await serve(fake)}
    if provider == "google":
        fake = FakeGemini(KEY)
        return fake, {"GEMINI_API_KEY": KEY, "GEMINI_BASE_URL": await serve(fake)}
    fake = FakeOpenAI(KEY)
    return fake, {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": await serve(fake) + "/v1"}


#: the prompt's tokens the dropped stream had counted before its cut: message_start's input_tokens, Gemini's
#: promptTokenCount on every chunk; Chat Completions' usage chunk and the Responses API's terminal event never came
PROMPT_COUNTED = {"anthropic": 1000, "gemini": 1000, "openai-chat": 0, "openai-responses": 0}
#: the dropped stream's bound where the prompt it counted may cost more than its reservation held (the prompt estimated
#: at 78 tokens from its size): that prompt with the skill's 1,500 output tokens, at the model's rates
COUNTED_BOUND = {"anthropic": (1000 * 3 + 1500 * 15) / D(M), "gemini": (1000 * D("1.25") + 1500 * 5) / D(M)}


@pytest.mark.parametrize("case", list(CASES))
async def test_a_stream_sent_again_after_it_dropped_records_each_attempts_own_spend(serve, tmp_path, case):
    provider, model, params, began, answered, cost = CASES[case]
    fake, env = await _env(serve, provider)
    env |= {"MAGSAG_RETRY_BASE_DELAY": "0.001", "MAGSAG_RETRY_MAX_DELAY": "0.002"}
    fake.queue(
        {"text": "the first answer, which never finishes", "usage": began, "cut": True},
        {"text": "the answer", "usage": answered},
    )
    restarts: list[str] = []

    async def progress(event: str, data: dict) -> None:
        if event == "attempt":
            restarts.append(f"try {data['try']}")

    payload = {"data": "x", "model_config": {"provider": provider, "model": model, "stream": True, "params": params}}
    async with await Service.open(db=tmp_path / "l.db", env=env) as svc:
        bound = D(svc.explain("skill.analysis", payload)["targets"][0]["estimated_max_cost_usd"])
        result = await svc.invoke_skill("skill.analysis", payload, run_id="r1", progress=progress)
        totals = (await svc.summarize({"run_id": "r1"}))["totals"]
    assert fake.violations == [] and len(fake.requests) == 2 and restarts == ["try 1", "try 2"]
    assert result.text == "the answer" and result.cost_usd is None  # one attempt's cost is not known
    conn = sqlite3.connect(tmp_path / "l.db")
    try:
        rows = conn.execute(
            "SELECT attempt_number, outcome, input_tokens, output_tokens, cost_pusd, cost_bound_pusd, call_cost_pusd"
            " FROM attempts WHERE run_id = 'r1' ORDER BY id"
        ).fetchall()
    finally:
        conn.close()
    dropped, answer = rows
    # the dropped stream: unknown, at its own worst case; the prompt it counted, none of the answer's tokens or cost
    counted = PROMPT_COUNTED[case]
    assert bound > 0 and COUNTED_BOUND.get(case, bound) >= bound
    bound = COUNTED_BOUND.get(case, bound)
    assert dropped[:5] == (1, "error", counted, 0, None) and D(dropped[5]) / PICO == bound
    # the answer: its own usage and exact cost, the call's (the two attempts, each counted once) on it
    assert answer[:4] == (2, "ok", 2000, 300) and D(answer[4]) / PICO == cost and answer[5] is None
    assert D(answer[6]) / PICO == cost + bound
    assert (totals["input_tokens"], totals["output_tokens"], totals["unpriced_calls"]) == (2000 + counted, 300, 1)
    assert (D(totals["known_cost_usd"]), D(totals["unknown_cost_bound_usd"])) == (cost, bound)
