"""A read held to an agent (``own_agent``: the reader may read that agent's records alone, as an MCP client with a
token of its own does) is held in the service, below the MCP server: a Python caller of Service gets the same
refusals and the same agent's records alone, so no other front end can read past the rule by skipping the server."""

from __future__ import annotations

from pathlib import Path

import pytest

from magsag_mcp.errors import InputError
from magsag_mcp.ledger import UsageFilters
from magsag_mcp.service import Service
from tests.conftest import CATALOG

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("clock_at_noon")]
CALL = ("skill.analysis", {"data": "x"})
REFUSED = (
    "this server records every call of your client as agent 'desk' (the agent of its token, in the server's "
    "MAGSAG_MCP_TOKENS_FILE), whose limits apply to its client: leave agent out, or give 'desk'"
)


async def test_a_read_held_to_an_agent_refuses_another_and_keeps_to_its_own(tmp_path: Path):
    async with await Service.open(catalog=CATALOG, db=tmp_path / "l.db", env={"MAGSAG_PROVIDER": "fake"}) as svc:
        await svc.invoke_skill(*CALL, agent="planner-7b", run_id="plan-r2")
        await svc.invoke_skill(*CALL, agent="desk", run_id="desk-r1")
        # a caller held to no agent may join desk's run: the run holds another agent's call
        await svc.invoke_skill(*CALL, agent="helper-3c", run_id="desk-r1")

        other = UsageFilters.build({"agent": "planner-7b"})
        reads = [
            svc.summarize_noted(UsageFilters.build({"agent": "planner-7b"}, paged=False), own_agent="desk"),
            svc.daily_usage_noted(other, own_agent="desk"),
            svc.query_runs_noted(other, own_agent="desk"),
            svc.check_budget(agent="planner-7b", own_agent="desk"),
        ]
        for read in reads:
            with pytest.raises(InputError) as refused:
                await read
            assert refused.value.message == REFUSED
        with pytest.raises(InputError, match="search_usage reads every agent's records"):
            await svc.search_page("planner", own_agent="desk")

        summary = await svc.summarize_noted(None, own_agent="desk")
        assert set(summary["by_agent"]) == {"desk"}, summary["by_agent"]
        assert summary["totals"]["calls"] == 1, summary["totals"]
        days = await svc.daily_usage_noted({"agent": "desk"}, own_agent="desk")
        assert {row["agent"] for row in days["days"]} == {"desk"}, days
        page = await svc.query_runs_noted(None, own_agent="desk")
        assert [run["run_id"] for run in page["runs"]] == ["desk-r1"], page
        (run,) = page["runs"]
        assert [a["agent"] for a in run["attempts"]] == ["desk"], run
        assert run["attempts_of_other_agents"] == 1
        # a read of a mistyped model is noted, the note naming no other agent or run
        noted = await svc.summarize_noted(UsageFilters.build({"model": "ech"}, paged=False), own_agent="desk")
        assert not any("planner" in note or "helper" in note or "plan-r2" in note for note in noted["notes"])
        assert (await svc.check_budget(own_agent="desk"))["agent"] == "desk"

        # held to no agent, the same reads see every agent's records
        assert set((await svc.summarize_noted(None))["by_agent"]) == {"desk", "planner-7b", "helper-3c"}
