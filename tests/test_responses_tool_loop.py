"""A tool loop through magsag onto OpenAI's Responses API, end to end: the history a caller hands on (here one whose
turns a server without call ids answered, each call named ``call_0``) goes out as the API pairs it, and the answer is
recorded in the ledger at the rates of the tier that served it."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from magsag_mcp.service import Service
from tests.fakes import openai_replies as R
from tests.fakes.openai_server import DEFAULT_KEY, FakeOpenAI

pytestmark = pytest.mark.anyio
CATALOG = Path(__file__).resolve().parent.parent / "catalog"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lookup",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
        },
    }
]


def _turn(q: str, answer: str) -> list[dict]:
    call = {"id": "call_0", "name": "lookup", "arguments": {"q": q}}
    return [
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_0", "content": answer},
    ]


async def test_a_history_of_repeated_call_ids_is_answered_and_recorded_at_its_tier(fake_openai: FakeOpenAI, tmp_path):
    env = {"OPENAI_BASE_URL": fake_openai.url + "/v1", "OPENAI_API_KEY": DEFAULT_KEY}
    svc = await Service.open(catalog=CATALOG, db=tmp_path / "l.db", env=env)
    try:
        fake_openai.queue(
            R.reply("Revenue rose 8%, churn 3.1%.", usage=R.tokens(2000, 500, cached=1000, reasoning=300))
        )
        fake_openai.steps[-1].service_tier = "priority"  # (a project whose default tier is priority)
        history = [*_turn("revenue", "1.2M (+8%)"), {"role": "user", "content": "And churn?"}, *_turn("churn", "3.1%")]
        mc = {
            "provider": "openai",
            "model": "gpt-4o",
            "params": {"api": "responses"},
            "tools": TOOLS,
            "messages": history,
        }
        result = await svc.invoke_skill("skill.analysis", {"data": "Q3", "model_config": mc}, run_id="r-loop")
    finally:
        await svc.aclose()
    assert result.result.text == "Revenue rose 8%, churn 3.1%." and fake_openai.violations == []
    items = fake_openai.requests[-1].body["input"]
    calls = [i["call_id"] for i in items if i.get("type") == "function_call"]
    outputs = {i["call_id"]: i["output"] for i in items if i.get("type") == "function_call_output"}
    assert len(set(calls)) == 2 and [outputs[c] for c in calls] == ["1.2M (+8%)", "3.1%"]
    conn = sqlite3.connect(tmp_path / "l.db")
    try:
        [(outcome, cost_pusd)] = conn.execute("SELECT outcome, cost_pusd FROM attempts WHERE run_id = 'r-loop'")
    finally:
        conn.close()
    # priority: gpt-4o at $4.25 / $17 a million (cached input $2.125), not the standard $2.50 / $10
    dollars = (1000 * Decimal("4.25") + 1000 * Decimal("2.125") + 500 * Decimal(17)) / 1_000_000
    assert outcome == "ok" and Decimal(cost_pusd) / 10**12 == dollars
