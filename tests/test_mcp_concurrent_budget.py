"""Fifty invoke_skill calls at once through one MCP client (the SDK's in-memory client, the real handlers), under a
run limit that fits only some of them: the vendor holds every answer until the refused calls have all come back, so
the number that may pass is the limit over each call's reservation, whatever order the calls were scheduled in."""

from __future__ import annotations

import asyncio
import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.client import Client

from magsag_mcp.mcp_server import build_server
from tests.fakes import openai_replies as R
from tests.fakes.openai_server import DEFAULT_KEY, FakeOpenAI

pytestmark = pytest.mark.anyio

CALLS = 50
FITS = 7
PICO = Decimal(10) ** 12


class HeldOpenAI(FakeOpenAI):
    """The OpenAI fake, holding each chat completion until :attr:`go` is set (every request is in
    :attr:`requests` as it arrives)."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.go = asyncio.Event()

    async def _answer_chat(self, request, body, model, *, azure):  # type: ignore[no-untyped-def]
        await self.go.wait()
        return await super()._answer_chat(request, body, model, azure=azure)


async def test_fifty_calls_at_once_under_a_run_limit_pass_as_many_as_it_fits_and_the_ledger_agrees(
    catalog_copy: Path, tmp_path: Path, clock_at_noon: float
):
    db = tmp_path / "l.db"
    args = {
        "skill_id": "skill.analysis",
        "payload": {"data": "quarterly numbers " * 3},
        "run_id": "fifty",
        "model_config": {"provider": "openai", "model": "gpt-4o", "max_tokens": 200},
    }
    async with HeldOpenAI(default=R.reply("the analysis", usage=R.tokens(120, 40))).running() as fake:
        env = {"OPENAI_BASE_URL": fake.url + "/v1", "OPENAI_API_KEY": DEFAULT_KEY}
        async with Client(build_server(catalog=catalog_copy, db=db, env=env)) as client:
            plan = await client.call_tool("explain_route", {k: v for k, v in args.items() if k != "run_id"})
        worst = Decimal(plan.structured_content["targets"][0]["estimated_max_cost_usd"])
        limit = worst * FITS + worst / 2  # room for FITS reservations and half of one more
        (catalog_copy / "policies" / "model_governance.yaml").write_text(
            f"policies:\n  - name: caps\n    thresholds: {{max_cost_per_run_usd: {limit}}}\n"
        )
        async with Client(build_server(catalog=catalog_copy, db=db, env=env)) as client:
            tasks = [asyncio.create_task(client.call_tool("invoke_skill", args)) for _ in range(CALLS)]
            with anyio.fail_after(120):  # a hang guard, not a timing assertion
                while len(fake.requests) + sum(t.done() for t in tasks) < CALLS:
                    await asyncio.sleep(0.01)
            assert len(fake.requests) == FITS  # the refused calls sent nothing
            fake.go.set()
            results = await asyncio.gather(*tasks)
            answered = [r.structured_content for r in results if not r.is_error]
            refused = [r.structured_content["error"] for r in results if r.is_error]
            budget = (await client.call_tool("check_budget", {"run_id": "fifty"})).structured_content
            summary = (await client.call_tool("summarize_usage", {"filters": {"run_id": "fifty"}})).structured_content
        assert not fake.violations, fake.violations  # every request sent was one OpenAI's spec takes

    assert len(answered) == FITS and len(refused) == CALLS - FITS
    for error in refused:  # each refused before anything was sent, with what held the limit and the fix
        assert error["type"] == "budget_exceeded" and error["limit"] == "run" and error["cost_usd"] == "0"
        assert Decimal(error["reservation_usd"]) == worst and Decimal(error["limit_usd"]) == limit
        assert Decimal(error["reserved_usd"]) + Decimal(error["spent_usd"]) > limit - worst
        assert "raise max_cost_per_run_usd on policy 'caps'" in error["message"]
    spent = sum((Decimal(r["cost_usd"]) for r in answered), Decimal(0))
    assert spent == FITS * (120 * Decimal("2.5") + 40 * Decimal(10)) / 10**6  # gpt-4o's $2.50 and $10 per million
    [run_limit] = budget["limits"]
    assert Decimal(run_limit["spent_usd"]) == spent and run_limit["reserved_usd"] == "0"
    assert Decimal(run_limit["remaining_usd"]) == limit - spent
    assert summary["totals"]["calls"] == FITS and summary["totals"]["budget_exceeded_attempts"] == CALLS - FITS
    assert Decimal(summary["totals"]["cost_usd_exact"]) == spent
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT error_class, COUNT(*), SUM(cost_pusd) FROM attempts WHERE run_id = 'fifty' GROUP BY error_class"
            " ORDER BY error_class IS NULL"
        ).fetchall()
        held = conn.execute("SELECT COUNT(*) FROM budget_reservations").fetchone()[0]
    assert rows == [("budget_exceeded", CALLS - FITS, 0), (None, FITS, int(spent * PICO))]
    assert held == 0
