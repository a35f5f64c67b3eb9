"""``magsag-mcp --agent NAME`` (``build_server(agent=...)``, ``MAGSAG_MCP_AGENT``): every call is recorded under
the server's agent, so its daily limit binds the client, which could otherwise name any agent or none."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from mcp.client import Client

from magsag_mcp.errors import InputError
from magsag_mcp.mcp_server import build_server

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("fake_scripts")]
CATALOG = Path(__file__).resolve().parent.parent / "catalog"
ENV = {"MAGSAG_PROVIDER": "fake"}
CALL = {"skill_id": "skill.analysis", "payload": {"data": "x"}}


def limits_catalog(tmp_path: Path, daily: str) -> Path:
    import shutil

    catalog = tmp_path / "catalog"
    shutil.copytree(CATALOG, catalog)
    (catalog / "prices.yaml").write_text('"fake:*": {input: 100, output: 100}\n')  # $0.0001 a token
    (catalog / "policies" / "model_governance.yaml").write_text(
        f"policies:\n  - name: limits\n    thresholds: {{max_cost_per_agent_daily_usd: {daily}}}\n"
    )
    return catalog


async def test_every_call_is_recorded_under_the_servers_agent(tmp_path: Path):
    async with Client(build_server(catalog=CATALOG, db=tmp_path / "l.db", env=ENV, agent="desk")) as c:
        for named in ({}, {"agent": "desk"}, {"agent": ""}):
            result = await c.call_tool("invoke_skill", {**CALL, **named})
            assert not result.is_error, result.content[0].text
        runs = (await c.call_tool("query_runs", {})).structured_content["runs"]
        assert [r["agent"] for r in runs] == ["desk", "desk", "desk"]


async def test_a_call_naming_another_agent_is_refused_before_anything_is_recorded(tmp_path: Path):
    async with Client(build_server(catalog=CATALOG, db=tmp_path / "l.db", env=ENV, agent="desk")) as c:
        for tool in ("invoke_skill", "explain_route"):
            result = await c.call_tool(tool, {**CALL, "agent": "someone-else"})
            assert result.is_error
            error = result.structured_content["error"]
            assert error["type"] == "input_error"
            assert "records every call as agent 'desk'" in error["message"] and "leave agent out" in error["message"]
        assert (await c.call_tool("query_runs", {})).structured_content["runs"] == []


async def test_the_servers_agent_is_held_to_its_daily_limit_and_check_budget_shows_it(tmp_path: Path):
    catalog = limits_catalog(tmp_path, "0.2")
    async with Client(build_server(catalog=catalog, db=tmp_path / "l.db", env=ENV, agent="desk")) as c:
        budget = (await c.call_tool("check_budget", {})).structured_content
        assert [(lim["limit"], lim["scope"]) for lim in budget["limits"]] == [("agent_day", "agent desk today (UTC)")]
        spent = 0
        for _ in range(50):  # each call costs under a cent: the limit ends them, whatever agent the call gave
            result = await c.call_tool("invoke_skill", CALL)
            if result.is_error:
                break
            spent += 1
        error = result.structured_content["error"]
        assert result.is_error and error["last_error_type"] == "budget_exceeded" and "desk" in error["message"]
        assert spent >= 1
        budget = (await c.call_tool("check_budget", {})).structured_content
        assert budget["limits"][0]["spent_usd"] not in ("0", "0.0")  # the calls count against desk's day


async def test_check_budget_naming_no_agent_as_an_empty_text_shows_the_servers_agents_limits(tmp_path: Path):
    # "" is what MCP clients and forms send for an optional name: invoke_skill records such a call under the
    # server's agent, but check_budget read it as "no agent" and answered status ok with no limit at all, while the
    # client's next calls met desk's daily limit.
    catalog = limits_catalog(tmp_path, "0.2")
    async with Client(build_server(catalog=catalog, db=tmp_path / "l.db", env=ENV, agent="desk")) as c:
        left_out = (await c.call_tool("check_budget", {})).structured_content
        empty = (await c.call_tool("check_budget", {"agent": ""})).structured_content
        assert empty["agent"] == "desk"
        assert [(lim["limit"], lim["scope"]) for lim in empty["limits"]] == [("agent_day", "agent desk today (UTC)")]
        assert empty == left_out


async def test_without_an_agent_a_server_records_what_each_call_names(tmp_path: Path):
    async with Client(build_server(catalog=CATALOG, db=tmp_path / "l.db", env=ENV)) as c:
        await c.call_tool("invoke_skill", {**CALL, "agent": "a"})
        await c.call_tool("invoke_skill", CALL)
        runs = (await c.call_tool("query_runs", {})).structured_content["runs"]
        assert [r["agent"] for r in runs] == [None, "a"]


def test_a_name_that_cannot_be_recorded_is_refused_when_the_server_is_built():
    with pytest.raises(InputError, match="looks like an API key"):
        build_server(catalog=CATALOG, env=ENV, agent="sk-proj-0123456789abcdefghijklmnop")


def test_the_command_refuses_such_a_name_with_exit_2(tmp_path: Path):
    # in a process of its own: the command sets up the root logger for its stderr
    key = "sk-proj-0123456789abcdefghijklmnop"
    env = {**os.environ, "MAGSAG_MCP_AGENT": key, "MAGSAG_DB": str(tmp_path / "l.db")}
    done = subprocess.run(
        [sys.executable, "-m", "magsag_mcp.mcp_server", "--catalog", str(CATALOG)],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert "agent" in done.stderr and "looks like an API key" in done.stderr and key not in done.stderr


async def test_the_tools_a_client_lists_say_the_servers_agent_is_the_calls(tmp_path: Path):
    # Before: the schema a client's model read said agent was "agent name for the ledger and budgets", so a
    # model filled it in ("claude") and every such call was refused: the server's pin was said only in the error.
    async with Client(build_server(catalog=CATALOG, db=tmp_path / "l.db", env=ENV, agent="desk")) as c:
        tools = {t.name: t.input_schema["properties"] for t in (await c.list_tools()).tools}
        for tool in ("invoke_skill", "explain_route", "check_budget"):
            said = tools[tool]["agent"]["description"]
            assert "'desk'" in said and "leave" in said, (tool, said)
    async with Client(build_server(catalog=CATALOG, db=tmp_path / "l.db", env=ENV)) as c:  # the stored schemas
        tools = {t.name: t.input_schema["properties"] for t in (await c.list_tools()).tools}
        assert "desk" not in tools["invoke_skill"]["agent"]["description"]


async def test_check_budget_naming_the_servers_own_agent_before_its_first_call_has_no_misspelling_note(
    tmp_path: Path, clock_at_noon: float
):
    # noon: the two answers compared are read at two moments; a UTC midnight between them gave each its own day
    # the server tells a client naming another agent to "give 'desk'": check_budget(agent="desk") on a new server
    # then answered "no run in this ledger was recorded for agent 'desk'", the note of a misspelt agent, where
    # check_budget({}) (the same agent) said nothing
    catalog = limits_catalog(tmp_path, "0.2")
    async with Client(build_server(catalog=catalog, db=tmp_path / "l.db", env=ENV, agent="desk")) as c:
        left_out = (await c.call_tool("check_budget", {})).structured_content
        named = (await c.call_tool("check_budget", {"agent": "desk"})).structured_content
        assert named["notes"] == [] and named == left_out
        # another run id named is still told no run has it
        unknown = (await c.call_tool("check_budget", {"agent": "desk", "run_id": "r-none"})).structured_content
        assert [n.split(",")[0] for n in unknown["notes"]] == ["no run in this ledger has the id 'r-none'"]
