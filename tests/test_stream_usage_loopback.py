"""Where a streamed answer's usage comes from, end to end through the service to the ledger, in exact dollars: each
stream written here event by event as its vendor's spec shapes it (/work/shared/specs), served on loopback.

- Messages: ``message_start``'s message.usage counts the prompt (input, cache reads, cache writes split by time to
  live) and one output token; ``message_delta``'s MessageDeltaUsage is cumulative (its output_tokens the answer's
  whole, not more past the start), every field present, the prompt's null where it has nothing new to say.
- Chat Completions: with ``stream_options.include_usage`` the usage comes in a last chunk of no choices; a server
  that ignores the option (an older deployment, a compatible server) sends none, and the answer is of unknown cost,
  counted at its reservation, never $0. A compatible server answering a body without ``usage`` is the same.
- A fallback whose first attempt streamed (its prompt counted by message_start) and was cut mid-answer: that attempt
  is recorded with the tokens its vendor counted, its cost unknown (the output it may have billed was never counted)
  and bounded by the prompt counted at its rates plus max_tokens of output; the budget charges that bound.

The Responses API's ``response.completed`` usage, streamed, is audited by test_pricing_audit_wire.py's
responses-stream cases (a spec-checking fake)."""

from __future__ import annotations

import json
from decimal import Decimal as D
from typing import Any

import pytest
from aiohttp import web

from magsag_mcp.service import Service
from tests.fakes.openai_replies import chat_completion, reply
from tests.pricing_audit import M, catalog_without_policies, list_rates, one_call
from tests.providers.fakes import FakeOpenAI

pytestmark = pytest.mark.anyio
KEY = "sk-test-key-123456"
UNREPORTED = "answered without reporting its token usage"


def _sse(events: list[tuple[str | None, Any]]) -> str:
    return "".join(
        (f"event: {name}\n" if name else "") + f"data: {data if isinstance(data, str) else json.dumps(data)}\n\n"
        for name, data in events
    )


def _anthropic_stream(model: str, delta_usage: dict[str, Any], *, cut: bool = False) -> list[tuple[str, Any]]:
    # message_start's Message (its usage the prompt's counts and one output token), a text block, message_delta's
    # MessageDeltaUsage, message_stop; ``cut``: the events up to the first text delta only
    start_usage = {
        "input_tokens": 1_000,
        "output_tokens": 1,
        "cache_read_input_tokens": 20_000,
        "cache_creation_input_tokens": 10_000,
        "cache_creation": {"ephemeral_5m_input_tokens": 4_000, "ephemeral_1h_input_tokens": 6_000},
        "server_tool_use": None,
        "service_tier": "standard",
        "inference_geo": "global",  # (Usage's every field, as the spec requires them: "us" is billed at 1.1x)
        "output_tokens_details": None,
    }
    message = {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "stop_details": None,
        "container": None,
        "usage": start_usage,
    }
    events: list[tuple[str, Any]] = [
        ("message_start", {"type": "message_start", "message": message}),
        (
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        ),
        (
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "ok"}},
        ),
    ]
    if cut:
        return events
    delta = {"stop_reason": "end_turn", "stop_sequence": None}
    return [
        *events,
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta", "delta": delta, "usage": delta_usage}),
        ("message_stop", {"type": "message_stop"}),
    ]


#: message_delta's usage: the current API's every field, the prompt's repeated as message_start said them (cumulative,
#: not to be added again), or null (nothing new to say of the prompt)
DELTAS = {
    "repeated": {
        "input_tokens": 1_000,
        "output_tokens": 800,
        "cache_read_input_tokens": 20_000,
        "cache_creation_input_tokens": 10_000,
        "output_tokens_details": None,
        "server_tool_use": None,
    },
    "null": {
        "input_tokens": None,
        "output_tokens": 800,
        "cache_read_input_tokens": None,
        "cache_creation_input_tokens": None,
        "output_tokens_details": None,
        "server_tool_use": None,
    },
}


@pytest.mark.parametrize("said", list(DELTAS))
async def test_an_anthropic_streams_usage_is_message_starts_prompt_and_message_deltas_cumulative_output(
    tmp_path, serve_posts, said
):
    async def handler(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        assert body["stream"] is True
        events = _anthropic_stream(body["model"], DELTAS[said])
        return web.Response(text=_sse(events), content_type="text/event-stream")

    env = {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": await serve_posts(handler)}
    config = {"provider": "anthropic", "model": "claude-sonnet-4-5", "stream": True}
    result, row, summary = await one_call(tmp_path, env, config)
    r = list_rates("anthropic", "claude-sonnet-4-5", 31_000)
    expected = (
        1_000 * r["input"] + 20_000 * r["cache_read"] + 4_000 * r["cache_write"] + 6_000 * r["cache_write_1h"]
    ) / M + 800 * r["output"] / M
    assert expected == D("0.072")  # $3 in, $0.30 read, $3.75 5-minute write, $6 1-hour write, $15 out
    assert result.cost_usd == expected and D(row["cost_usd"]) == expected
    # the output counted once (800, not 801), the prompt once (not again from a cumulative message_delta)
    assert (row["input_tokens"], row["output_tokens"], row["cached_tokens"], row["cache_write_tokens"]) == (
        31_000,
        800,
        20_000,
        10_000,
    )
    assert row["cache_write_1h_tokens"] == 6_000 and row["total_tokens"] == 31_800
    assert D(summary["totals"]["cost_usd_exact"]) == expected


def _chat_chunks(model: str, usage: dict[str, int] | None) -> str:
    # chat.completion.chunk events; with include_usage every chunk's usage is null but the last, of no choices
    base: dict[str, Any] = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1_741_252_964}
    base["model"] = model
    if usage is not None:
        base["usage"] = None
    chunks = [
        {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "ok"}, "finish_reason": None}]},
        {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
    ]
    if usage is not None:
        chunks.append({**base, "choices": [], "usage": usage})
    return _sse([(None, c) for c in chunks]) + "data: [DONE]\n\n"


@pytest.mark.parametrize("reported", [True, False], ids=["include_usage", "ignored"])
async def test_a_chat_stream_is_priced_from_its_usage_chunk_and_unknown_without_one(tmp_path, serve_posts, reported):
    usage = {"prompt_tokens": 10_000, "completion_tokens": 2_000, "total_tokens": 12_000}
    asked: list[dict] = []

    async def handler(request: web.Request) -> web.Response:
        asked.append(await request.json())
        text = _chat_chunks(asked[-1]["model"], usage if reported else None)
        return web.Response(text=text, content_type="text/event-stream")

    env = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": await serve_posts(handler) + "/v1"}
    config = {"provider": "openai", "model": "gpt-4o-mini", "stream": True}
    result, row, summary = await one_call(tmp_path, env, config)
    assert asked[0]["stream_options"] == {"include_usage": True}
    if reported:
        r = list_rates("openai", "gpt-4o-mini", 10_000)
        expected = (10_000 * r["input"] + 2_000 * r["output"]) / M
        assert expected == D("0.0027")  # $0.15 in, $0.60 out
        assert result.cost_usd == expected and D(row["cost_usd"]) == expected
        assert (row["input_tokens"], row["output_tokens"]) == (10_000, 2_000)
        return
    # no count: unknown, never $0, counted at the worst case its call would reserve, and said
    assert result.cost_usd is None and row["cost_usd"] is None and row["price_source"] is None
    assert row["cost_bound_usd"] is not None and D(row["cost_bound_usd"]) > 0
    assert any(UNREPORTED in w for w in result.warnings)
    assert summary["totals"]["cost_complete"] is False and summary["totals"]["unpriced_calls"] == 1


@pytest.mark.parametrize("priced", [True, False], ids=["priced", "unpriced"])
async def test_a_compat_answer_without_usage_is_of_unknown_cost_never_zero(tmp_path, serve_posts, priced):
    async def handler(request: web.Request) -> web.Response:
        body = await request.json()
        # the spec's CreateChatCompletionResponse, its optional usage left out
        return web.json_response(chat_completion(body["model"], reply("ok", no_usage=True)))

    env = {"MAGSAG_COMPAT_BASE_URL": await serve_posts(handler) + "/v1"}
    prices = '"compat:metered": {input: 1.0, output: 2.0}\n' if priced else None
    config = {"provider": "compat", "model": "metered", "max_tokens": 1_000}
    result, row, summary = await one_call(tmp_path, env, config, catalog_without_policies(tmp_path, prices))
    assert result.cost_usd is None and row["cost_usd"] is None and row["price_source"] is None
    assert any(UNREPORTED in w for w in result.warnings)
    assert summary["totals"]["unpriced_calls"] == 1 and summary["totals"]["cost_complete"] is False
    if priced:
        # bounded at its worst case: max_tokens of output at $2 a million, the prompt's estimate at $1
        bound = D(row["cost_bound_usd"])
        assert D("0.002") < bound < D("0.003")
        assert summary["totals"]["unbounded_calls"] == 0
    else:
        assert row["cost_bound_usd"] is None and summary["totals"]["unbounded_calls"] == 1


CAPS = "policies:\n  - name: caps\n    thresholds: {max_cost_per_run_usd: 5}\n"


async def test_a_fallback_after_a_stream_cut_mid_answer_records_and_charges_what_was_counted(
    tmp_path, serve, serve_posts
):
    async def anthropic(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(_sse(_anthropic_stream(body["model"], {}, cut=True)).encode())
        request.transport.close()  # type: ignore[union-attr]  # the connection lost mid-answer
        return resp

    fake = FakeOpenAI(KEY)
    fake.queue({"text": "ok", "usage": {"prompt_tokens": 1_000, "completion_tokens": 100}})
    env = {
        "ANTHROPIC_API_KEY": KEY,
        "ANTHROPIC_BASE_URL": await serve_posts(anthropic),
        "OPENAI_API_KEY": KEY,
        "OPENAI_BASE_URL": await serve(fake) + "/v1",
        "MAGSAG_MAX_RETRIES": "0",
    }
    catalog = catalog_without_policies(tmp_path)
    (catalog / "policies").mkdir()
    (catalog / "policies" / "caps.yaml").write_text(CAPS)
    config = {"model": "anthropic:claude-sonnet-4-5", "stream": True, "fallbacks": ["openai:gpt-4o-mini"]}
    async with await Service.open(catalog=catalog, db=tmp_path / "l.db", env=env) as svc:
        payload = {"data": "x", "model_config": config}
        result = await svc.invoke_skill("skill.analysis", payload, run_id="r", agent="ana")
        [run] = await svc.query_runs({"run_id": "r"})
        status = await svc.check_budget(agent="ana", run_id="r")
    assert fake.violations == []
    cut, answered = run["attempts"]
    assert (cut["provider"], cut["outcome"], cut["error_class"]) == ("anthropic", "error", "connection_error")
    # the prompt message_start counted, recorded as counted
    assert (cut["input_tokens"], cut["cached_tokens"], cut["cache_write_tokens"]) == (31_000, 20_000, 10_000)
    assert cut["cache_write_1h_tokens"] == 6_000
    # its cost unknown (the output it may have billed was never counted), bounded by the prompt counted at its rates
    # and the skill's max_tokens (1,500) of output
    r = list_rates("anthropic", "claude-sonnet-4-5", 31_000)
    prompt = (
        1_000 * r["input"] + 20_000 * r["cache_read"] + 4_000 * r["cache_write"] + 6_000 * r["cache_write_1h"]
    ) / M
    bound = prompt + 1_500 * r["output"] / M
    assert (prompt, bound) == (D("0.06"), D("0.0825"))
    assert cut["cost_usd"] is None and D(cut["cost_bound_usd"]) == bound
    # the fallback's answer priced exactly
    g = list_rates("openai", "gpt-4o-mini", 1_000)
    answer = (1_000 * g["input"] + 100 * g["output"]) / M
    assert answer == D("0.00021")
    assert (answered["provider"], answered["outcome"]) == ("openai", "ok") and D(answered["cost_usd"]) == answer
    assert result.cost_usd is None  # the run's cost is not whole
    # the budget charges both: the answer spent, the cut attempt at its bound
    [run_limit] = [lim for lim in status["limits"] if lim["limit"] == "run"]
    assert D(run_limit["spent_usd"]) == answer and D(run_limit["unknown_cost_bound_usd"]) == bound
    assert D(run_limit["remaining_usd"]) == 5 - answer - bound
