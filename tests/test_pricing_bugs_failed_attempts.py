"""A bug of ours pricing the tokens of an attempt that failed (an unusable answer that reported its usage) or that its
caller stopped once its answer had come: as a bug pricing a sound answer (test_our_bugs), it loses neither the
attempt nor its spend. Before, the bug left the cascade: the attempt was recorded nowhere (the run said 0 tokens),
its reservation stayed held until it expired, no fallback was tried, and the caller's error said the call was
"recorded with what it spent"."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest

from magsag_mcp.attempt_cost import cut_in_flight, price_stopped
from magsag_mcp.records import AttemptRecord
from magsag_mcp.service import Service
from magsag_mcp.types import LLMRequest, Message, Target, Usage
from tests.fakes import openai_replies as R
from tests.fakes.openai_server import DEFAULT_KEY, FakeOpenAI
from tests.test_our_bugs import CATALOG, BuggierPricer, BuggyPricer

TARGET = Target("openai", "gpt-4o")


@pytest.mark.anyio
@pytest.mark.parametrize("pricer", [BuggyPricer, BuggierPricer])
async def test_a_bug_pricing_a_failed_attempts_tokens_records_them_and_moves_on(
    fake_openai: FakeOpenAI, tmp_path: Path, clock_at_noon: float, caplog, pricer: type
):
    env = {"OPENAI_BASE_URL": fake_openai.url + "/v1", "OPENAI_API_KEY": DEFAULT_KEY}
    # a tool call without its name: malformed, billed at the usage it reports; then the fallback answers
    fake_openai.queue(R.reply(tool_calls=[R.call("", {"city": "Paris"})], usage=R.tokens(100, 10)), R.reply("fine"))
    db = tmp_path / "l.db"
    payload = {"data": "x", "model_config": {"model": "openai:gpt-4o", "fallbacks": ["openai:gpt-4o-mini"]}}
    async with Service.open(catalog=CATALOG, db=db, env=env) as svc:
        svc.cascade.pricer = pricer.from_catalog(CATALOG)
        out = await svc.invoke_skill("skill.analysis", payload, run_id="r-bug", agent="ana")
        assert out.text == "fine" and len(fake_openai.requests) == 2
        status = await svc.check_budget(agent="ana", run_id="r-bug")
    assert all(lim["reserved_usd"] == "0" for lim in status["limits"]), status
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute(
            "SELECT model, outcome, error_class, input_tokens, output_tokens, cost_pusd, cost_bound_pusd, warnings"
            " FROM attempts WHERE run_id = 'r-bug' ORDER BY id"
        ).fetchall()
        held = conn.execute("SELECT count(*) FROM budget_reservations").fetchone()[0]
    finally:
        conn.close()
    assert held == 0
    (model, outcome, kind, tokens_in, tokens_out, cost, bound, warnings), answered = rows
    assert (model, outcome, kind, tokens_in, tokens_out) == ("gpt-4o", "error", "malformed_response", 100, 10)
    assert cost is None and bound is not None  # unknown, never 0: bounded by what its admission reserved
    assert "its tokens could not be priced: a bug in magsag-mcp (TypeError" in warnings and "report it" in warnings
    assert answered[:2] == ("gpt-4o-mini", "ok")
    assert "a bug in magsag-mcp pricing" in caplog.text and "Traceback" in caplog.text


def _record() -> AttemptRecord:
    return AttemptRecord("r", 0.0, "openai", "gpt-4o", "skill.analysis", None, "error", 0, 1, "cancelled")


def test_a_bug_pricing_a_stopped_attempts_answer_records_its_tokens_at_an_unknown_cost(caplog):
    # cancelled once its whole answer had come (its tokens known): priced, the bug left the cancellation's handler
    record, request = _record(), LLMRequest([Message("user", "hi")], max_tokens=100)
    answer = Usage(input_tokens=100, output_tokens=10)
    pricer = BuggyPricer.from_catalog(CATALOG)
    price_stopped(pricer, record, TARGET, None, request, "cancelled", (answer, "once its answer had come"))
    assert (record.input_tokens, record.output_tokens, record.cost_usd) == (100, 10, None)
    assert record.cost_bound_usd is not None and "its tokens could not be priced" in record.warnings[0]
    assert "a bug in magsag-mcp pricing its tokens" in caplog.text


def test_a_bug_pricing_the_counted_prompt_of_an_attempt_cut_in_flight_keeps_the_admissions_bound(caplog):
    record, request = _record(), LLMRequest([Message("user", "hi")], max_tokens=100)
    prompt = Usage(input_tokens=100, output_tokens=0)
    admission = SimpleNamespace(reserved_usd=Decimal("0.25"))
    cut_in_flight(BuggyPricer.from_catalog(CATALOG), record, TARGET, admission, request, "cancelled", prompt)
    assert (record.input_tokens, record.cost_usd, record.cost_bound_usd) == (100, None, Decimal("0.25"))
    assert "a bug in magsag-mcp pricing the prompt" in caplog.text
