"""An MCP call's max_tokens past the limit every vendor takes (max_tokens_limit.MAX_TOKENS_AT_MOST), refused at the
argument as the Python API refuses it: the tool error says which argument, the limit and the fix."""

from __future__ import annotations

import pytest
from mcp.client import Client

from magsag_mcp.max_tokens_limit import MAX_TOKENS_AT_MOST

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("fake_scripts"), pytest.mark.usefixtures("restored_secrets")]

PAYLOAD = {"skill_id": "skill.analysis", "payload": {"data": "x"}}


@pytest.mark.parametrize("value", [MAX_TOKENS_AT_MOST + 1, 10**30])
@pytest.mark.parametrize(
    ("tool", "where"),
    [("invoke_skill", "model_config.max_tokens"), ("explain_route", "model_config.max_tokens"),
     ("check_budget", "max_tokens")],
)  # fmt: skip
async def test_a_max_tokens_past_the_limit_is_refused_at_the_argument(client: Client, tool, where, value):
    if where == "max_tokens":
        arguments = {"skill": "skill.analysis", "max_tokens": value}
    else:
        arguments = {**PAYLOAD, "model_config": {"provider": "fake", "model": "echo", "max_tokens": value}}
    result = await client.call_tool(tool, arguments)
    assert result.is_error, result.content[0].text[:300]
    text = result.content[0].text
    assert "Traceback" not in text and '"run_id":' not in text, text  # no run was opened for it
    # which argument, its range (the limit) and what it counts: the fix
    assert f"{where}: out of range: give more than 0 and at most 2147483647 (" in text, text


async def test_the_limit_itself_is_taken_at_the_argument(client: Client):
    result = await client.call_tool("check_budget", {"skill": "skill.analysis", "max_tokens": MAX_TOKENS_AT_MOST})
    assert not result.is_error, result.content[0].text
    assert result.structured_content["call"]["max_output_tokens"] == MAX_TOKENS_AT_MOST


def test_the_published_schemas_say_the_limit():
    # a client's validator refuses it before the call is sent, as the server does
    from magsag_mcp.mcp_server.tool_schemas import stored

    tools = stored()
    for tool in ("invoke_skill", "explain_route", "check_budget"):
        model_config = tools[tool]["parameters"]["properties"]["model_config"]["properties"]
        assert model_config["max_tokens"]["maximum"] == MAX_TOKENS_AT_MOST, tool
    assert tools["check_budget"]["parameters"]["properties"]["max_tokens"]["maximum"] == MAX_TOKENS_AT_MOST
