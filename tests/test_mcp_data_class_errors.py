"""A call's unknown ``context.data_class`` tells an MCP client the known classes and its fix, not the server's paths."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp.client import Client

from magsag_mcp.mcp_server import build_server
from tests.mcp_tools_helpers import CATALOG, ENV, error_of

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("fake_scripts")]

CALL = {"skill_id": "skill.analysis", "payload": {"data": "x"}}


@pytest.fixture
async def client(db: Path):
    async with Client(build_server(catalog=CATALOG, db=db, env=ENV)) as c:
        yield c


@pytest.mark.parametrize("tool", ["invoke_skill", "explain_route"])
async def test_an_unknown_data_class_shows_a_client_no_server_path(client: Client, tool: str):
    # it named the catalog's policy file by its absolute path on the server, in the tool error and (for a call) in
    # the run's recorded error, which query_runs hands to any client
    err = error_of(await client.call_tool(tool, {**CALL, "context": {"data_class": "pii_procesing"}}))
    assert err["type"] == "invalid_payload"
    assert "known data classes: financial_data, pii_processing. Name one of them" in err["message"]
    assert str(CATALOG) not in err["message"] and ".yaml" not in err["message"], err["message"]
    runs = (await client.call_tool("query_runs", {})).structured_content["runs"]
    assert all(str(CATALOG) not in str(run.get("error")) for run in runs)
