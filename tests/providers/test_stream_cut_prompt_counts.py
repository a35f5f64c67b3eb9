"""A stream cut before its end: the prompt's tokens the vendor had counted are recorded, its cost stays unknown.

Anthropic's message_start counts the prompt whole (its cache reads and writes too), and every Gemini chunk counts the
prompt: those counts are facts of the attempt, which the ledger holds beside the cost it cannot know (the answer's
tokens were never counted), bounded by the attempt's reservation. OpenAI's Chat Completions and Responses streams
count nothing before their end: nothing is recorded for them but the bound, unless a server counted the prompt."""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal as D

import pytest

from magsag_mcp.providers.openai_chat_stream import ChatStream
from magsag_mcp.providers.openai_responses import _ResponsesStream
from magsag_mcp.service import Service
from magsag_mcp.sse import SSEEvent

from .fakes import FakeAnthropic

pytestmark = pytest.mark.anyio
KEY = "sk-test-key-123456"
PICO = 10**12
#: what message_start counts in these tests: 1,000 input tokens, 4,000 cache reads, 2,000 cache writes (1,500 for 5
#: minutes, 500 for an hour), 7,000 in all; its output_tokens are no count of the answer
BEGAN = {
    "input_tokens": 1000,
    "output_tokens": 500,
    "cache_read_input_tokens": 4000,
    "cache_creation_input_tokens": 2000,
    "cache_creation": {"ephemeral_5m_input_tokens": 1500, "ephemeral_1h_input_tokens": 500},
}


async def _cut_then_answered(serve, catalog_copy, threshold: str) -> tuple[FakeAnthropic, dict[str, str]]:
    """A policy with ``threshold``, and an Anthropic server whose first stream is cut after message_start counted
    :data:`BEGAN`, the next answering: the server and the env that reaches it."""
    (catalog_copy / "policies" / "model_governance.yaml").write_text(
        f"policies:\n  - name: caps\n    thresholds: {{{threshold}}}\n"
    )
    fake = FakeAnthropic(KEY)
    env = {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": await serve(fake), "MAGSAG_RETRY_BASE_DELAY": "0.001"}
    fake.queue(
        {"text": "an answer that never finishes, cut in its middle", "usage": dict(BEGAN), "cut": True},
        {"text": "the answer", "usage": {"input_tokens": 100, "output_tokens": 10}},
    )
    return fake, env


async def test_an_anthropic_stream_cut_after_message_start_records_the_prompt_it_counted(serve, tmp_path):
    fake = FakeAnthropic(KEY)
    env = {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": await serve(fake), "MAGSAG_RETRY_BASE_DELAY": "0.001"}
    began = {**BEGAN, "inference_geo": "global"}
    fake.queue(
        {"text": "an answer that never finishes, cut in its middle", "usage": began, "cut": True},
        {"text": "the answer", "usage": {"input_tokens": 100, "output_tokens": 10}},
    )
    model = {"provider": "anthropic", "model": "claude-3-5-sonnet-20241022", "stream": True}
    payload = {"data": "x", "model_config": model}
    async with await Service.open(db=tmp_path / "l.db", env=env) as svc:
        bound = D(svc.explain("skill.analysis", payload)["targets"][0]["estimated_max_cost_usd"])
        await svc.invoke_skill("skill.analysis", payload, run_id="r1")
        totals = (await svc.summarize({"run_id": "r1"}))["totals"]
    assert fake.violations == []
    conn = sqlite3.connect(tmp_path / "l.db")
    try:
        row = conn.execute(
            "SELECT outcome, input_tokens, output_tokens, cached_tokens, cache_write_tokens, cache_write_1h_tokens,"
            " reasoning_tokens, service_tier, cost_pusd, cost_bound_pusd, warnings FROM attempts WHERE run_id = 'r1'"
            " ORDER BY id"
        ).fetchone()
    finally:
        conn.close()
    # input 1000 + 4000 read + 2000 written = 7000 counted; the answer's output was never counted (message_start's
    # 1 is no count of it): 0, and the cost unknown, at the reservation's bound
    assert row[:8] == ("error", 7000, 0, 4000, 2000, 500, 0, "standard")
    # The reservation (explain's figure) priced the prompt as estimated from its size, 78 tokens at $3 (no cache
    # marker: no writes), with the skill's 1,500 output tokens at $15: $0.022734. The prompt counted cost $0.012825
    # alone (1,000 x $3 + 4,000 x $0.30 + 1,500 x $3.75 + 500 x $6), and with the 1,500 output tokens allowed it may
    # have cost up to $0.035325 (+ 1,500 x $15): the bound, the reservation's being below what it may have cost.
    assert bound == D("0.022734")
    assert row[8] is None and D(row[9]) / PICO == D("0.035325")
    assert "its cost is unknown" in row[10]
    assert (totals["input_tokens"], totals["unpriced_calls"]) == (7000 + 100, 1)
    assert D(totals["unknown_cost_bound_usd"]) == D("0.035325")


def sse(data: object, name: str | None = None) -> SSEEvent:
    return SSEEvent(event=name, data=json.dumps(data))


def test_a_chat_stream_counts_a_prompt_only_where_a_chunk_counted_it():
    openai = ChatStream("openai", "gpt-4o")
    openai.feed(sse({"id": "c", "choices": [{"index": 0, "delta": {"content": "Hal"}, "finish_reason": None}]}))
    assert openai.prompt_counted() is None  # OpenAI's usage chunk comes last
    counting = ChatStream("compat", "m")
    usage = {"prompt_tokens": 900, "completion_tokens": 3, "prompt_tokens_details": {"cached_tokens": 600}}
    chunk = {"id": "c", "choices": [{"index": 0, "delta": {"content": "Hal"}, "finish_reason": None}], "usage": usage}
    counting.feed(sse(chunk))
    counted = counting.prompt_counted()
    assert counted is not None and counting.usage_so_far() is None
    assert (counted.input_tokens, counted.cached_tokens, counted.output_tokens) == (900, 600, 0)


def test_a_responses_stream_counts_a_prompt_only_where_response_created_counted_it():
    created = {"id": "r", "object": "response", "status": "in_progress", "model": "gpt-4o", "output": []}
    openai = _ResponsesStream("openai", "gpt-4o")
    openai.feed(sse({"type": "response.created", "response": {**created, "usage": None}}, "response.created"))
    assert openai.prompt_counted() is None
    counting = _ResponsesStream("compat", "m")
    usage = {"input_tokens": 800, "output_tokens": 0, "input_tokens_details": {"cached_tokens": 200}}
    counting.feed(sse({"type": "response.in_progress", "response": {**created, "usage": usage}}))
    counted = counting.prompt_counted()
    assert counted is not None and (counted.input_tokens, counted.cached_tokens, counted.output_tokens) == (800, 200, 0)


def test_a_cut_streams_counted_bound_allows_every_output_token_as_audio_where_the_wire_reads_audio():
    """A stream cut after a compatible server counted its prompt: the answer may have been audio, which the provider's
    wire reads and bills at its own rate, as the reservation's worst case allows. The bound priced every output token
    at the text (or image) rate only: $0.03 for a call that may have cost $0.10, below even the reservation."""
    from magsag_mcp.attempt_cost import counted_bound
    from magsag_mcp.pricing import Pricer
    from magsag_mcp.rates import UnitPrices
    from magsag_mcp.types import Target, Usage

    rates = UnitPrices(D(2), D(10), input_audio=D(40), output_audio=D(80))
    pricer = Pricer([("compat:voice", rates), ("anthropic:voice", rates)])
    prompt = Usage(10_000, 0)
    # 10,000 counted prompt tokens at $2 = $0.02; 1,000 output tokens at the audio rate of $80 = $0.08
    assert counted_bound(pricer, Target("compat", "voice"), prompt, 1_000) == D("0.1")
    assert pricer.price("compat", "voice", Usage(10_000, 1_000, output_audio_tokens=1_000)).cost_usd == D("0.1")
    # a provider whose wire counts no audio (its worst case prices none) is bounded at the text rate: $0.02 + $0.01
    assert counted_bound(pricer, Target("anthropic", "voice"), prompt, 1_000) == D("0.03")


@pytest.mark.parametrize("how", ["callback", "cancelled"])
async def test_a_stream_its_caller_stopped_after_message_start_is_bounded_by_the_prompt_counted(serve, tmp_path, how):
    """A caller that stops a stream (its progress callback raising on the first delta, or the caller cancelling) after
    message_start counted 7,000 prompt tokens: the attempt is cut in flight as a dropped stream is, and its bound is
    at least that prompt with every output token allowed ($0.035325, as worked by hand above), not the reservation's
    $0.022734, which estimated the prompt from its size. It was the reservation's, and the prompt went unrecorded."""
    import anyio

    fake = FakeAnthropic(KEY)
    env = {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": await serve(fake), "MAGSAG_RETRY_BASE_DELAY": "0.001"}
    began = {**BEGAN, "inference_geo": "global"}
    fake.queue({"text": "an answer its caller stops in its middle", "usage": began})
    payload = {"data": "x", "model_config": {"provider": "anthropic", "model": "claude-3-5-sonnet-20241022"}}
    payload["model_config"]["stream"] = True
    async with await Service.open(db=tmp_path / "l.db", env=env) as svc:
        with anyio.CancelScope() as scope:

            async def progress(event: str, data: dict) -> None:
                if event == "delta":
                    if how == "cancelled":
                        scope.cancel()
                        await anyio.sleep(1)  # (cancelled here)
                    raise RuntimeError("the caller's callback broke")

            with pytest.raises(RuntimeError) if how == "callback" else anyio.CancelScope():
                await svc.invoke_skill("skill.analysis", payload, run_id="r1", progress=progress)
    conn = sqlite3.connect(tmp_path / "l.db")
    try:
        row = conn.execute(
            "SELECT outcome, input_tokens, output_tokens, cached_tokens, cache_write_tokens, cost_pusd, cost_bound_pusd"
            " FROM attempts WHERE run_id = 'r1' ORDER BY id"
        ).fetchone()
    finally:
        conn.close()
    assert row[:5] == ("error", 7000, 0, 4000, 2000)
    assert row[5] is None and D(row[6]) / PICO == D("0.035325")


async def test_a_call_limit_counts_a_cut_attempt_at_its_counted_bound_before_the_retry(serve, tmp_path, catalog_copy):
    """The call limit bounds a call's retries and fallbacks together, an attempt of unknown cost at its worst case. A
    stream cut after message_start counted 7,000 prompt tokens may have cost $0.035325 (worked by hand above), its
    record's bound, but the call limit counted it at its reservation's $0.022734: a retry reserving $0.022734 more
    passed a $0.05 limit ($0.045468) and was sent, and the call may have cost $0.058059."""
    from magsag_mcp.errors import BudgetExceeded

    fake, env = await _cut_then_answered(serve, catalog_copy, "max_cost_per_call_usd: 0.05")
    model = {"provider": "anthropic", "model": "claude-3-5-sonnet-20241022", "stream": True}
    payload = {"data": "x", "model_config": model}
    async with await Service.open(catalog=catalog_copy, db=tmp_path / "l.db", env=env) as svc:
        assert D(svc.explain("skill.analysis", payload)["targets"][0]["estimated_max_cost_usd"]) == D("0.022734")
        with pytest.raises(BudgetExceeded) as info:
            await svc.invoke_skill("skill.analysis", payload, run_id="r1")
    assert len(fake.requests) == 1  # the retry was not sent
    details = info.value.details
    assert (details["limit"], D(details["reserved_usd"]), D(details["reservation_usd"])) == (
        "call",
        D("0.035325"),
        D("0.022734"),
    )


async def test_a_run_limit_counts_a_cut_attempt_at_its_counted_bound_before_the_retry(serve, tmp_path, catalog_copy):
    """The same cut attempt under a $0.05 run limit: its reservation went on holding $0.022734 in the ledger until the
    call was recorded, so the retry's reservation read $0.022734 held, reserved $0.022734 more ($0.045468) and was sent,
    and the run may have spent $0.058059. The retry's own transaction now holds the cut attempt at its bound first."""
    from magsag_mcp.errors import BudgetExceeded

    fake, env = await _cut_then_answered(serve, catalog_copy, "max_cost_per_run_usd: 0.05")
    payload = {"data": "x", "model_config": {"provider": "anthropic", "model": "claude-3-5-sonnet-20241022"}}
    payload["model_config"]["stream"] = True
    async with await Service.open(catalog=catalog_copy, db=tmp_path / "l.db", env=env) as svc:
        with pytest.raises(BudgetExceeded) as info:
            await svc.invoke_skill("skill.analysis", payload, run_id="r1")
        status = await svc.check_budget(run_id="r1")
    assert len(fake.requests) == 1  # the retry was not sent
    details = info.value.details
    assert (details["limit"], D(details["reserved_usd"]), D(details["reservation_usd"])) == (
        "run",
        D("0.035325"),
        D("0.022734"),
    )
    run = next(lim for lim in status["limits"] if lim["limit"] == "run")
    assert D(run["unknown_cost_bound_usd"]) == D("0.035325") and D(run["reserved_usd"]) == 0
