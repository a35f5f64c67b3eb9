"""A client cancelling a priced invoke_skill in flight (notifications/cancelled, through the SDK's in-memory client):
the attempt is recorded as cancelled and its worst-case reservation is given back."""

from __future__ import annotations

import functools
from pathlib import Path

import anyio
import pytest
from mcp.client import Client

from magsag_mcp.mcp_server import build_server
from tests.governance_helpers import prices
from tests.mcp_tools_helpers import ENV

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("fake_scripts")]


async def test_a_cancelled_call_is_recorded_and_holds_nothing_of_any_limit(catalog_copy: Path, db: Path):
    prices(catalog_copy, '"fake:*": {input: 100, output: 100}\n')  # priced: its worst case is reserved
    # fake:slow never answers while the test runs: the call is cancelled in flight
    slow = {"model": "fake:slow", "params": {"latency_ms": 600_000}, "max_tokens": 1000}
    args = {"skill_id": "skill.analysis", "payload": {"data": "x"}, "run_id": "r-cancelled", "agent": "bob"}
    scope = {"run_id": "r-cancelled", "agent": "bob"}
    async with Client(build_server(catalog=catalog_copy, db=db, env=ENV)) as client:
        with anyio.fail_after(60):  # a hang guard, not a timing assertion
            async with anyio.create_task_group() as tg:
                tg.start_soon(functools.partial(client.call_tool, "invoke_skill", {**args, "model_config": slow}))
                while True:  # until the call holds its worst case of the run's, the agent's and the day's limits
                    await anyio.sleep(0.01)
                    status = (await client.call_tool("check_budget", scope)).structured_content
                    held = {lim["limit"] for lim in status["limits"] if lim["reserved_usd"] != "0"}
                    if held:
                        break
                assert held == {"run", "agent_day", "day"}, status
                tg.cancel_scope.cancel()  # the SDK sends notifications/cancelled for the request
            with anyio.fail_after(60):  # (a hang guard too: a record never written failed no assertion, it hung)
                while True:  # the server records the cancelled attempt as its handler unwinds
                    runs = (await client.call_tool("query_runs", {"filters": scope})).structured_content
                    if runs["runs"] and runs["runs"][0]["status"] != "running":
                        break
                    await anyio.sleep(0.01)
        run = runs["runs"][0]
        assert run["status"] == "cancelled"
        assert [(a["outcome"], a["error_class"]) for a in run["attempts"]] == [("error", "cancelled")]
        # the provider may bill a request cancelled in flight: its cost is unknown, bounded by its worst case
        assert run["cost_usd"] is None and run["cost_bound_usd"] not in (None, "0")
        status = (await client.call_tool("check_budget", scope)).structured_content
        assert [lim["reserved_usd"] for lim in status["limits"]] == ["0"] * len(status["limits"]), status
        assert status["limits"] and all(lim["reserved_by"] is None for lim in status["limits"])
