"""The server's tools are made on the first request that asks for one (server.ToolsMadeOnFirstUse, start78's cut):
a failure while making them is answered as a clear protocol error, to tools/list and tools/call alike, logged with
its traceback, and not kept: the next request makes them again. A stored schemas file of the wrong shape is read as
none (the schemas are generated), as a file that is not JSON already was, not a crash at the first request."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from mcp.client import Client
from mcp.shared.exceptions import MCPError
from mcp_types import INTERNAL_ERROR

from magsag_mcp.mcp_server import build_server, tool_schemas
from magsag_mcp.mcp_server.tools import MagsagTools
from tests.mcp_tools_helpers import CATALOG, ENV

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("restored_secrets")]


def _shown(tools: Any) -> list[dict[str, Any]]:
    return [t.model_dump(mode="json", by_alias=True) for t in tools]


async def test_a_failure_making_the_tools_is_a_clear_protocol_error_logged_and_retried_at_the_next_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real = MagsagTools.tools
    failing = True

    def tools(self: MagsagTools, *, fresh: bool = False) -> Any:
        if failing:
            raise AttributeError("'list' object has no attribute 'get'")  # a bug of ours, as a broken file made one
        return real(self, fresh=fresh)

    monkeypatch.setattr(MagsagTools, "tools", tools)
    caplog.set_level(logging.ERROR)
    async with Client(build_server(catalog=CATALOG, db=tmp_path / "ledger.db", env=ENV)) as client:
        with pytest.raises(MCPError) as listed:
            await client.list_tools()
        # tools/call too is a protocol error saying what failed, not a tool result quoting an AttributeError
        with pytest.raises(MCPError) as called:
            await client.call_tool("list_skills", {})
        for err in (listed.value, called.value):
            assert err.error.code == INTERNAL_ERROR
            assert "magsag-mcp could not make its tools" in err.error.message
            assert "server's log" in err.error.message
            assert "'list' object" not in err.error.message  # the details go to the log, not to the client
        # the traceback is in the server's log, as the message says
        assert "making the tools failed" in caplog.text
        assert "AttributeError: 'list' object has no attribute 'get'" in caplog.text
        failing = False  # not kept as a failure (nor as no tools): the next request makes them
        tools_listed = (await client.list_tools()).tools
        assert [t.name for t in tools_listed][:3] == ["list_skills", "invoke_skill", "explain_route"]
        assert not (await client.call_tool("list_skills", {})).is_error


@pytest.mark.parametrize(
    "text",
    [
        "[]",  # not an object
        '{"list_skills": []}',  # a tool's entry not an object
        '{"list_skills": {"parameters": 1, "output_schema": {}}}',  # a schema not an object
        '{"list_skills": {"parameters": {}}}',  # output_schema missing
    ],
)
async def test_a_stored_schemas_file_of_the_wrong_shape_is_read_as_none_and_the_tools_list_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    async with Client(build_server(catalog=CATALOG, db=tmp_path / "ledger.db", env=ENV)) as client:
        expected = _shown((await client.list_tools()).tools)
    broken = tmp_path / "tool_schemas.json"
    broken.write_text(text, encoding="utf-8")
    monkeypatch.setattr(tool_schemas, "STORED", broken)
    async with Client(build_server(catalog=CATALOG, db=tmp_path / "ledger.db", env=ENV)) as client:
        assert _shown((await client.list_tools()).tools) == expected
        assert not (await client.call_tool("list_skills", {})).is_error


def test_the_stored_schemas_keep_only_the_entries_of_the_right_shape(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    good = {"parameters": {"type": "object"}, "output_schema": {"type": "object"}}
    path = tmp_path / "tool_schemas.json"
    path.write_text(json.dumps({"list_skills": good, "invoke_skill": [], "explain_route": {"parameters": {}}}))
    monkeypatch.setattr(tool_schemas, "STORED", path)
    assert tool_schemas.stored() == {"list_skills": good}
