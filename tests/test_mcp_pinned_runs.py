"""A client held to an agent (``magsag-mcp --agent``, a client token's) and another agent's run id: ``invoke_skill``
filed the pinned client's call in that run (the other team's run report showed a call they did not make, and the run's
limit was spent by a stranger), and a token client's ``check_budget`` read that run's spend. Both are refused, with the
fix, not saying whose run it is; a run id of no calls is the caller's to start, and an unpinned server's agents may
still share a run (an orchestrator and its sub-agents)."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp.client import Client

from magsag_mcp.mcp_server import build_server

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("fake_scripts")]
CATALOG = Path(__file__).resolve().parent.parent / "catalog"
ENV = {"MAGSAG_PROVIDER": "fake"}
CALL = {"skill_id": "skill.analysis", "payload": {"data": "x"}}


async def runs_of(db: Path) -> dict[str, list[str | None]]:
    """Each run id -> its attempts' agents, read by an unpinned server."""
    async with Client(build_server(catalog=CATALOG, db=db, env=ENV)) as c:
        runs = (await c.call_tool("query_runs", {})).structured_content["runs"]
    return {run["run_id"]: [a["agent"] for a in run["attempts"]] for run in runs}


async def test_a_pinned_client_cannot_file_its_call_in_another_agents_run(tmp_path: Path):
    db = tmp_path / "l.db"
    async with Client(build_server(catalog=CATALOG, db=db, env=ENV)) as c:
        assert not (await c.call_tool("invoke_skill", {**CALL, "agent": "planner-7b", "run_id": "plan-r2"})).is_error
        # an unpinned server's agents share a run as they did
        shared = await c.call_tool("invoke_skill", {**CALL, "agent": "helper-3c", "run_id": "plan-r2"})
        assert not shared.is_error, shared.content[0].text
    async with Client(build_server(catalog=CATALOG, db=db, env=ENV, agent="desk")) as c:
        refused = await c.call_tool("invoke_skill", {**CALL, "run_id": "plan-r2"})
        assert refused.is_error
        error = refused.structured_content["error"]
        assert error["type"] == "input_error", error
        message = error["message"]
        assert "run 'plan-r2' holds another agent's calls" in message, message
        assert "use a run id of your own, or leave run_id out for a new one" in message.lower(), message
        assert "planner" not in message and "helper" not in message  # whose run it is is not said
        # a run id of no calls is the caller's to start, and to go on with
        for _ in range(2):
            own = await c.call_tool("invoke_skill", {**CALL, "run_id": "desk-r1"})
            assert not own.is_error, own.content[0].text
        assert not (await c.call_tool("invoke_skill", CALL)).is_error
    runs = await runs_of(db)
    # nothing of desk's filed in it (its refused call recorded nowhere)
    assert sorted(runs["plan-r2"]) == ["helper-3c", "planner-7b"], runs
    assert runs["desk-r1"] == ["desk", "desk"]


async def test_a_run_recorded_with_calls_of_no_agent_is_not_a_pinned_clients(tmp_path: Path):
    db = tmp_path / "l.db"
    async with Client(build_server(catalog=CATALOG, db=db, env=ENV)) as c:
        assert not (await c.call_tool("invoke_skill", {**CALL, "run_id": "anon-r4"})).is_error
    async with Client(build_server(catalog=CATALOG, db=db, env=ENV, agent="desk")) as c:
        refused = await c.call_tool("invoke_skill", {**CALL, "run_id": "anon-r4"})
        assert refused.is_error and "another agent's calls" in refused.structured_content["error"]["message"]
    assert (await runs_of(db))["anon-r4"] == [None]


async def test_a_token_clients_check_budget_refuses_another_agents_run(tmp_path: Path, monkeypatch):
    from magsag_mcp.mcp_server import bearer

    db = tmp_path / "l.db"
    async with Client(build_server(catalog=CATALOG, db=db, env=ENV)) as c:
        assert not (await c.call_tool("invoke_skill", {**CALL, "agent": "planner-7b", "run_id": "plan-r2"})).is_error
    # the in-memory client has no HTTP request: its token's agent, as bearer.request_agent reads it from one
    monkeypatch.setattr(bearer, "request_agent", lambda context: "ops-team")
    async with Client(build_server(catalog=CATALOG, db=db, env=ENV)) as c:
        read = await c.call_tool("check_budget", {"run_id": "plan-r2"})
        assert read.is_error
        message = read.structured_content["error"]["message"]
        assert "run 'plan-r2' holds another agent's calls" in message and "planner" not in message, message
        assert "leave run_id out to see your agent's limits" in message, message
        filed = await c.call_tool("invoke_skill", {**CALL, "run_id": "plan-r2"})
        assert filed.is_error and "another agent's calls" in filed.structured_content["error"]["message"]
        # its own run, and one of no calls yet, read as before
        assert not (await c.call_tool("invoke_skill", {**CALL, "run_id": "ops-r5"})).is_error
        for run_id in ("ops-r5", "ops-r6"):
            status = await c.call_tool("check_budget", {"run_id": run_id})
            assert not status.is_error, status.content[0].text
            assert status.structured_content["agent"] == "ops-team"
    monkeypatch.undo()
    assert (await runs_of(db))["plan-r2"] == ["planner-7b"]
