"""The server's tools are made on the first request that asks for one (server.ToolsMadeOnFirstUse, start78's cut):
a failure while making them is answered as a clear protocol error, to tools/list and tools/call alike, logged with
its traceback, and not kept: the next request makes them again."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from mcp.client import Client
from mcp.shared.exceptions import MCPError
from mcp_types import INTERNAL_ERROR

from magsag_mcp.mcp_server import build_server
from magsag_mcp.mcp_server.tools import MagsagTools
from tests.mcp_tools_helpers import CATALOG, ENV

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("restored_secrets")]


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
