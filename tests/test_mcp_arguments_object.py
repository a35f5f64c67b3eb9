"""A tools/call whose ``arguments`` is no object (the values as an array, the object's JSON as text, a number) is
answered as a tool's rejected argument is, with which argument, what was sent and the fix: the SDK checked the
request's shape before any tool ran and answered a bare "Invalid request parameters" (-32602), naming nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Literal

import pytest
from mcp.client import Client
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult, Request

from magsag_mcp.mcp_server import build_server
from tests.mcp_tools_helpers import CATALOG, ENV, error_of

pytestmark = pytest.mark.anyio


class RawCall(Request[dict[str, Any], Literal["tools/call"]]):
    """tools/call with its params as sent, past the client's own check of their shape."""

    method: Literal["tools/call"] = "tools/call"
    params: dict[str, Any]
    name_param = "name"


async def call_raw(client: Client, params: dict[str, Any]) -> CallToolResult:
    return await client.session.send_request(RawCall(params=params), CallToolResult)


@pytest.mark.parametrize("mode", ["legacy", "auto"])
@pytest.mark.parametrize(
    ("arguments", "given", "fix"),
    [
        (["skill.analysis", {"data": "Q3"}], "got an array",
         "write them as one object of names and values, not an array of the values"),
        ('{"skill_id": "skill.analysis", "payload": {"data": "Q3"}}', "got a string holding an object's JSON",
         "send the object itself, not its JSON as text"),
        ("skill.analysis", "got a string", "write them as one object of names and values"),
        (7, "got a number", "write them as one object of names and values"),
    ],
)  # fmt: skip
async def test_arguments_that_are_no_object_are_the_tools_error_naming_what_was_sent_and_the_fix(
    tmp_path: Path, mode: str, arguments: Any, given: str, fix: str
):
    async with Client(build_server(catalog=CATALOG, db=tmp_path / "l.db", env=ENV), mode=mode) as client:
        result = await call_raw(client, {"name": "invoke_skill", "arguments": arguments})
        err = error_of(result)
        assert err["type"] == "invalid_arguments", err
        assert err["message"].startswith(f"invoke_skill: arguments: expected an object, {given}: {fix}"), err
        assert 'e.g. {"skill_id": ..., "payload": ...}.' in err["message"], err
        assert err["message"].endswith("invoke_skill takes: skill_id, payload, agent, run_id, model_config, context")
        assert "Q3" not in json.dumps(result.model_dump(mode="json"))  # what was sent is not quoted
        # a tool taking no arguments says to call it with {}, and an unknown tool is still named so
        err = error_of(await call_raw(client, {"name": "list_skills", "arguments": []}))
        assert err["message"].endswith("list_skills takes no arguments: call it with {}"), err
        with pytest.raises(MCPError) as info:
            await call_raw(client, {"name": "invoke", "arguments": []})
        assert info.value.error.code == -32602 and "unknown tool 'invoke'" in info.value.error.message
        # and the call's right shape still runs
        assert not (await call_raw(client, {"name": "list_skills", "arguments": {}})).is_error


def test_arguments_that_are_no_object_over_stdio_are_the_tools_error(tmp_path: Path):
    import select

    env = {**os.environ, **ENV, "MAGSAG_CATALOG": str(CATALOG), "MAGSAG_DB": str(tmp_path / "l.db")}
    hello = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}
    # stdin stays open until the call is answered: a client closing stdin stops the server, cancelling the calls still
    # in flight (the SDK's loop; the MCP stdio shutdown), so a test that wrote the call and closed stdin at once raced
    # the call against the stop, and lost it now and then (CI, 2026-12-07)
    proc = subprocess.Popen(
        [sys.executable, "-m", "magsag_mcp.mcp_server"],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None

    def answer_to(request_id: int) -> dict[str, Any]:
        while True:
            ready, _, _ = select.select([proc.stdout], [], [], 60)  # a hang guard, not a timing assertion
            assert ready, f"no answer to request {request_id}"
            answer = json.loads(proc.stdout.readline())  # type: ignore[union-attr]
            if answer.get("id") == request_id:
                return answer

    def send(line: dict[str, Any]) -> None:
        proc.stdin.write(json.dumps(line).encode() + b"\n")  # type: ignore[union-attr]
        proc.stdin.flush()  # type: ignore[union-attr]

    try:
        send({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": hello})
        assert "result" in answer_to(1)
        send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        send({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "query_runs", "arguments": [20]}})
        answer = answer_to(2)
    finally:
        proc.stdin.close()
        proc.wait(60)
        proc.stdout.close()
        proc.stderr.close()  # type: ignore[union-attr]
    result = answer["result"]
    assert result["isError"] is True, answer
    assert result["structuredContent"]["error"]["type"] == "invalid_arguments"
    assert "query_runs: arguments: expected an object, got an array" in result["content"][0]["text"], result
