"""What a call's answers cost: every attempt of the call counted, and an answer that is no answer (cut inside a
value, withheld, without usage, empty, stopped part way, a tool call without a name) recorded at the cost it
reports, or at an unknown cost, never at zero; an answer served on a dearer tier at that tier's rate (split from
test_attempt_cost.py)."""

from __future__ import annotations

import json
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from magsag_mcp import errors as E
from magsag_mcp.service import Service
from tests import test_attempt_cost
from tests.fakes import openai_replies as R
from tests.fakes.openai_server import FakeOpenAI
from tests.test_attempt_cost import (
    CATALOG,
    MAYBE_BILLED,
    assert_bound,
    assert_unpriced,
    books,
    bounds,
    call,
    limit,
    open_service,
    rows,
    spy_reservations,
)

#: the service over the loopback OpenAI (a fixture), as test_attempt_cost.py's tests have it
service = test_attempt_cost.service

pytestmark = pytest.mark.anyio


# --- the call's own cost: every attempt -------------------------------------------------------------


async def test_a_calls_cost_includes_the_billed_attempts_before_the_answer(
    service: Service, fake_openai: FakeOpenAI, tmp_path: Path
):
    # The first answer is not JSON: unusable, but billed for its tokens; the fallback answers. The call
    # cost both, and says so, exactly as the ledger records it.
    fake_openai.queue(R.reply("not json at all", usage=R.tokens(400, 300)), R.json_reply({"name": "Ada"}))
    mc = {"model": "openai:gpt-4o", "fallbacks": ["openai:gpt-4o-mini"]}
    payload = {"text": "Ada wrote it.", "fields": ["name"], "model_config": mc}
    result = await service.invoke_skill("skill.extraction", payload, run_id="r-two", agent="ana")
    costs = [Decimal(c) / 10**12 for *_, c, _ in rows(tmp_path / "cost.db", "r-two")]
    assert len(costs) == 2 and all(c > 0 for c in costs)
    assert result.cost_usd == sum(costs) and result.to_dict()["cost_unknown"] is False
    assert result.output == {"name": "Ada"}


async def test_an_answer_cut_inside_a_value_is_malformed_and_the_fallback_answers(
    service: Service, fake_openai: FakeOpenAI, tmp_path: Path
):
    # a 200 whose JSON breaks off where a value is due (a gateway that cut it): the transport's scanner raised
    # StopIteration, which the call's coroutine turned into RuntimeError, recorded as a bug in magsag-mcp, and the
    # fallback was never tried
    fake_openai.queue(
        R.error(200, raw='{"id": "chatcmpl-1", "choices": [', content_type="application/json"), R.reply("fine")
    )
    mc = {"model": "openai:gpt-4o", "fallbacks": ["openai:gpt-4o-mini"]}
    result = await service.invoke_skill("skill.analysis", {"data": "x", "model_config": mc}, run_id="r-cut-value")
    assert result.output == "fine"
    cut, answered = result.attempts
    assert (cut.outcome, cut.error_class, answered.outcome) == ("error", "malformed_response", "ok")
    assert [kind for _, kind, _, _ in rows(tmp_path / "cost.db", "r-cut-value")] == ["malformed_response", None]


async def test_an_answer_withheld_by_the_content_filter_is_recorded_at_the_cost_it_reports(
    service: Service, fake_openai: FakeOpenAI, tmp_path: Path
):
    # A filtered response still reports its usage, and the vendor bills it: not $0, not unknown.
    fake_openai.queue(R.Reply(text=None, finish="content_filter", usage=R.tokens(1200, 300)), R.reply("fine"))
    mc = {"model": "openai:gpt-4o", "fallbacks": ["openai:gpt-4o-mini"]}
    result = await service.invoke_skill("skill.analysis", {"data": "x", "model_config": mc}, run_id="r-filtered")
    filtered, answered = result.attempts
    assert (filtered.outcome, filtered.error_class) == ("error", "content_filtered")
    # gpt-4o at $2.50 / $10 per million tokens (genai-prices)
    assert filtered.cost_usd == (1200 * Decimal("2.5") + 300 * 10) / 1_000_000
    assert (filtered.input_tokens, filtered.output_tokens) == (1200, 300)
    (outcome, _, cost, _), _ = rows(tmp_path / "cost.db", "r-filtered")
    assert outcome == "error" and Decimal(cost) / 10**12 == filtered.cost_usd
    assert result.cost_usd == filtered.cost_usd + answered.cost_usd


@pytest.mark.parametrize("api", ["chat", "responses"])
@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
async def test_an_answer_without_usage_has_an_unknown_cost_counted_at_its_bound(
    service: Service, fake_openai: FakeOpenAI, tmp_path: Path, stream: bool, api: str
):
    # Many OpenAI-compatible servers send no usage (and ignore stream_options.include_usage; a Responses API's
    # response, which the spec does not require to carry usage, leaves it out). The answer is usable and billed for
    # tokens nobody reported: before, it was priced at zero tokens, $0.
    fake_openai.queue(R.reply("a fine answer", no_usage=True))
    reserved = spy_reservations(service)
    model_config = {"provider": "openai", "model": "gpt-4o", "stream": stream, "params": {"api": api}}
    payload = {"data": "numbers", "model_config": model_config}
    result = await service.invoke_skill("skill.analysis", payload, run_id="r-nousage", agent="ana")
    assert result.output == "a fine answer"
    assert fake_openai.paths()[-1] == {"chat": "/v1/chat/completions", "responses": "/v1/responses"}[api]
    assert result.cost_usd is None and result.to_dict()["cost_unknown"] is True
    assert any("answered without reporting its token usage" in w and MAYBE_BILLED in w for w in result.warnings)
    [(outcome, kind, cost, warnings)] = rows(tmp_path / "cost.db", "r-nousage")
    assert (outcome, kind, cost) == ("ok", None, None)
    assert any("without reporting its token usage" in w for w in json.loads(warnings))
    totals, status = await books(service, "r-nousage")
    assert_unpriced(totals, status, 1)
    assert_bound(tmp_path / "cost.db", status, "r-nousage", reserved[0])
    assert limit(status, "run")["reserved_usd"] == "0"  # the record's bound replaced the reservation


async def test_an_answer_without_usage_from_a_free_model_costs_exactly_zero(fake_openai: FakeOpenAI, tmp_path: Path):
    catalog = tmp_path / "catalog"
    shutil.copytree(CATALOG, catalog, ignore=shutil.ignore_patterns("__pycache__"))
    (catalog / "prices.yaml").write_text('"openai:gpt-4o": {input: 0, output: 0}\n')
    svc = await open_service(tmp_path, fake_openai.url + "/v1", catalog=catalog)
    try:
        fake_openai.queue(R.reply("free", no_usage=True))
        await call(svc, "r-free")
    finally:
        await svc.aclose()
    [(outcome, _, cost, warnings)] = rows(tmp_path / "cost.db", "r-free")
    assert (outcome, cost) == ("ok", 0)  # zero tokens or many, a free model costs nothing
    # but the zero tokens recorded are no count, and the result and the ledger say so (they said nothing: an old
    # Ollama's streamed answers showed up in model_stats as 0 tokens, as if counted)
    [warning] = json.loads(warnings)
    assert warning.startswith("openai:gpt-4o: answered without reporting its token usage; its tokens are recorded")
    assert MAYBE_BILLED not in warning


@pytest.mark.parametrize(
    ("answer", "priced"),
    [
        # tool arguments that are not JSON, with the usage the vendor bills
        (R.reply(tool_calls=[R.call("lookup", '{"q": "unterminated')], usage=R.tokens(1000, 900)), True),
        # a 200 whose body is not JSON at all (a gateway's page): nothing says what was billed
        (R.Reply(raw_body="<html>upstream gateway</html>"), False),
    ],
    ids=["broken-tool-arguments", "not-json"],
)
async def test_a_billed_answer_we_cannot_use_is_never_recorded_at_zero(
    service: Service, fake_openai: FakeOpenAI, tmp_path: Path, answer: R.Reply, priced: bool
):
    mc = {"model": "openai:gpt-4o", "fallbacks": ["openai:gpt-4o-mini"]}
    tools = [{"name": "lookup", "description": "d", "parameters": {"type": "object", "properties": {}}}]
    for stream in (False, True) if priced else (False,):  # streamed, the usage chunk says the same
        run_id = f"r-unusable-{stream}"
        fake_openai.queue(answer)  # the fallback gets the default answer
        payload = {"data": "x", "model_config": {**mc, "tools": tools, "stream": stream} if priced else mc}
        await service.invoke_skill("skill.analysis", payload, run_id=run_id, agent="ana")
        (outcome, kind, cost, warnings), ok = rows(tmp_path / "cost.db", run_id)
        assert (outcome, kind, ok[0]) == ("error", "malformed_response", "ok")
        if priced:  # gpt-4o at $2.50 / $10 per million tokens (genai-prices)
            assert Decimal(cost) / 10**12 == (1000 * Decimal("2.5") + 900 * 10) / 1_000_000, stream
        else:
            assert cost is None and MAYBE_BILLED in json.loads(warnings)[0]
            assert bounds(tmp_path / "cost.db", run_id)[0] > 0


async def test_a_json_answer_to_a_stream_request_is_priced_not_asked_for_again(
    service: Service, fake_openai: FakeOpenAI, tmp_path: Path
):
    fake_openai.queue(R.reply("all at once", usage=R.tokens(1000, 900), ignores_stream=True))
    await call(service, "r-json-stream", stream=True)
    [(outcome, kind, cost, _)] = rows(tmp_path / "cost.db", "r-json-stream")
    assert (outcome, kind) == ("ok", None) and len(fake_openai.requests) == 1
    # gpt-4o at $2.50 / $10 per million tokens (genai-prices)
    assert Decimal(cost) / 10**12 == (1000 * Decimal("2.5") + 900 * 10) / 1_000_000


def test_a_failed_response_carries_the_usage_it_reports():
    from magsag_mcp.providers.openai_responses import ResponsesFormat
    from magsag_mcp.transport import SSEEvent

    usage = {"input_tokens": 1200, "input_tokens_details": {"cached_tokens": 200}, "output_tokens": 300,
             "output_tokens_details": {"reasoning_tokens": 100}, "total_tokens": 1500}  # fmt: skip
    failed = {"id": "resp_1", "object": "response", "status": "failed", "model": "gpt-4o", "output": [],
              "error": {"code": "server_error", "message": "The model failed."}, "usage": usage}  # fmt: skip
    acc = ResponsesFormat().accumulator(provider="openai", model="gpt-4o")
    event = {"type": "response.failed", "sequence_number": 5, "response": failed}
    acc.feed(SSEEvent("response.failed", json.dumps(event)))
    for parse in (acc.finish, lambda: ResponsesFormat().parse_response(failed, provider="openai", model="gpt-4o")):
        with pytest.raises(E.ServerError) as info:
            parse()
        u = info.value.usage
        assert (u.input_tokens, u.cached_tokens, u.output_tokens, u.reasoning_tokens) == (1200, 200, 300, 100)


async def test_a_calls_cost_is_unknown_when_an_attempt_may_have_been_billed(service: Service, fake_openai: FakeOpenAI):
    fake_openai.queue(R.Reply(hang=True))
    payload = {"data": "numbers", "model_config": {"provider": "openai", "model": "gpt-4o"}}
    result = await service.invoke_skill("skill.analysis", payload, run_id="r-unknown", agent="ana")
    assert result.result.text and result.cost_usd is None
    assert result.to_dict()["cost_unknown"] is True and result.to_dict()["cost_usd"] is None


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
@pytest.mark.parametrize("api", ["chat", "responses"])
async def test_an_empty_openai_answer_is_no_answer_recorded_at_its_cost(
    service: Service, fake_openai: FakeOpenAI, tmp_path: Path, api: str, stream: bool
):
    # gpt-5 and the o-series at times answer with nothing (content null, finish_reason "stop"; a Responses output
    # of reasoning alone): that passed as the answer, an empty output, billed, and no fallback tried, where
    # Claude's and Gemini's empty answers are no answer. Now it is a malformed_response recorded at what it cost.
    fake_openai.queue(R.reply(None, usage=R.tokens(1200, 300, reasoning=300)), R.reply("answer from mini"))
    mc = {"provider": "openai", "model": "gpt-4o", "params": {"api": api}, "fallbacks": ["openai:gpt-4o-mini"]}
    mc["stream"] = stream
    result = await service.invoke_skill("skill.analysis", {"data": "x", "model_config": mc}, run_id="r-empty")
    assert result.result.text == "answer from mini"
    empty, answered = result.attempts
    assert (empty.outcome, empty.error_class) == ("error", "malformed_response")
    assert "no usable answer (finish_reason: stop, with no content)" in (empty.error_message or "")
    assert (empty.input_tokens, empty.output_tokens) == (1200, 300)
    assert empty.cost_usd == (1200 * Decimal("2.5") + 300 * 10) / 1_000_000  # gpt-4o: $2.50 / $10 per million
    assert result.cost_usd == empty.cost_usd + answered.cost_usd
    assert [r.body["model"] for r in fake_openai.requests] == ["gpt-4o", "gpt-4o-mini"]  # not asked again


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
@pytest.mark.parametrize(
    ("api", "finish", "kind"),
    [
        ("chat", "content_filter", "content_filtered"),  # finish_reason content_filter after some text
        ("responses", "content_filter", "content_filtered"),  # status incomplete, reason content_filter
        ("responses", "cancelled", "server_error"),  # status cancelled: interrupted
    ],
)
async def test_an_answer_stopped_part_way_fails_at_its_cost_and_another_attempt_answers(
    service: Service, fake_openai: FakeOpenAI, tmp_path: Path, api: str, finish: str, kind: str, stream: bool
):
    # The text that came before the stop passed as the answer (a filter's, with a warning; a cancelled response's,
    # as if whole): recorded "ok", and no other attempt made. Now it fails as what stopped it, at what it cost.
    fake_openai.queue(R.reply("The first half of", finish=finish, usage=R.tokens(1200, 300)), R.reply("whole"))
    mc = {"provider": "openai", "model": "gpt-4o", "params": {"api": api}, "fallbacks": ["openai:gpt-4o-mini"]}
    mc["stream"] = stream
    result = await service.invoke_skill("skill.analysis", {"data": "x", "model_config": mc}, run_id="r-part")
    assert result.result.text == "whole"
    stopped, answered = result.attempts
    assert (stopped.outcome, stopped.error_class, answered.outcome) == ("error", kind, "ok")
    assert (stopped.input_tokens, stopped.output_tokens) == (1200, 300)
    assert stopped.cost_usd == (1200 * Decimal("2.5") + 300 * 10) / 1_000_000  # gpt-4o: $2.50 / $10 per million
    (outcome, _, cost, _), _ = rows(tmp_path / "cost.db", "r-part")
    assert outcome == "error" and Decimal(cost) / 10**12 == stopped.cost_usd
    assert result.cost_usd == stopped.cost_usd + answered.cost_usd


async def test_an_empty_answer_to_a_call_with_stop_sequences_is_the_answer(service: Service, fake_openai: FakeOpenAI):
    # a stop sequence may end the answer before it begins: that empty text is what the call asked for
    fake_openai.queue(R.reply(""))
    mc = {"model": "openai:gpt-4o", "stop": ["\n"]}
    result = await service.invoke_skill("skill.analysis", {"data": "x", "model_config": mc})
    assert (result.result.text, result.result.finish_reason) == ("", "stop") and len(result.attempts) == 1


@pytest.mark.parametrize(("model", "api"), [("o1-preview", "chat"), ("gpt-4o", "responses")])
async def test_an_empty_answer_to_a_call_whose_stop_sequences_were_not_sent_is_no_answer(
    service: Service, fake_openai: FakeOpenAI, model: str, api: str
):
    # o1-preview (as o3 and gpt-5) takes no stop sequences, and the Responses API has none: the stop was left out (a
    # warning says so), so no stop sequence ended the answer. Before: its empty answer passed as the answer
    # all the same, billed, and no fallback tried, as the call's stop had excused it.
    fake_openai.queue(R.reply(None, usage=R.tokens(1200, 300, reasoning=300)), R.reply("answer from mini"))
    mc = {"provider": "openai", "model": model, "params": {"api": api}, "fallbacks": ["openai:gpt-4o-mini"]}
    mc["stop"] = ["\n"]
    result = await service.invoke_skill("skill.analysis", {"data": "x", "model_config": mc})
    assert result.result.text == "answer from mini"
    empty, answered = result.attempts
    assert (empty.error_class, answered.outcome) == ("malformed_response", "ok")
    assert "stop" in fake_openai.requests[1].body  # gpt-4o-mini takes them


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
@pytest.mark.parametrize("api", ["chat", "responses"])
async def test_a_tool_call_without_a_name_is_a_malformed_answer_priced_at_its_usage(
    service: Service, fake_openai: FakeOpenAI, api: str, stream: bool
):
    # a compatible server's tool call with no function name (the spec requires one) crashed the parse with a
    # KeyError: "unexpected KeyError while handling the response", a traceback in the log, and a cost recorded as
    # unknown although the answer reported its usage
    fake_openai.queue(R.reply(tool_calls=[R.call("", {"city": "Paris"})], usage=R.tokens(100, 10)), R.reply("fine"))
    mc = {"provider": "openai", "model": "gpt-4o", "params": {"api": api}, "fallbacks": ["openai:gpt-4o-mini"]}
    mc["stream"] = stream
    result = await service.invoke_skill("skill.analysis", {"data": "x", "model_config": mc})
    broken, answered = result.attempts
    assert (broken.error_class, answered.outcome) == ("malformed_response", "ok")
    assert "returned a tool call without a function name" in (broken.error_message or "")
    assert broken.cost_usd == (100 * Decimal("2.5") + 10 * 10) / 1_000_000  # gpt-4o: $2.50 / $10 per million


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
@pytest.mark.parametrize("api", ["chat", "responses"])
async def test_an_answer_served_on_priority_is_recorded_at_that_tiers_rate(
    service: Service, fake_openai: FakeOpenAI, tmp_path: Path, api: str, stream: bool
):
    # a project whose default tier is priority serves every call on it, and says so only in the answer's
    # service_tier (every chunk of a stream, the response object): the ledger prices it at that rate
    fake_openai.queue(R.reply("ok", usage=R.tokens(100_000, 20_000), service_tier="priority"))
    mc = {"provider": "openai", "model": "gpt-4o", "params": {"api": api}, "stream": stream}
    result = await service.invoke_skill("skill.analysis", {"data": "x", "model_config": mc}, run_id="r-tier")
    (attempt,) = result.attempts
    assert attempt.service_tier == "priority"
    assert attempt.cost_usd == (100_000 * Decimal("4.25") + 20_000 * 17) / 1_000_000  # gpt-4o priority
    (outcome, _, cost, _), = rows(tmp_path / "cost.db", "r-tier")
    assert outcome == "ok" and Decimal(cost) / 10**12 == attempt.cost_usd
