"""A client that asks for log messages gets them for its invoke_skill calls, whether or not it asks for progress: a
2026-era request's ``_meta`` log level, or a handshake-era client's ``logging/setLevel``. The server sent its log
messages (a fallback's warning, each attempt, each retry) only beside progress notifications, to a client that gave a
progress token: one that asked for logs alone, as the spec lets it, heard nothing of its call's fallback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from mcp.client import Client

from magsag_mcp.mcp_server import build_server
from tests.mcp_tools_helpers import CATALOG, ENV

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("fake_scripts")]

FALLING_BACK = {
    "skill_id": "skill.analysis",
    "payload": {"data": "x"},
    "model_config": {"model": "fake:fail-overloaded", "fallbacks": ["fake:good"]},
}


async def test_a_2026_request_that_asks_for_logs_alone_gets_them(db: Path):
    logs: list[Any] = []

    async def on_log(params: Any) -> None:
        logs.append(params)

    server = build_server(catalog=CATALOG, db=db, env=ENV)
    async with Client(server, log_level="info", logging_callback=on_log) as client:
        result = await client.call_tool("invoke_skill", FALLING_BACK)
        assert not result.is_error
    said = [(p.level, p.data) for p in logs]
    assert ("info", "calling fake:fail-overloaded (candidate 1, try 1)") in said
    assert ("warning", "falling back to fake:good (candidate 2 of 2)") in said
    assert all(p.logger == "magsag" for p in logs)
    assert all(level != "debug" for level, _ in said)  # the request's level holds: no streamed-text lines

    logs.clear()
    async with Client(server, log_level="warning", logging_callback=on_log) as client:
        await client.call_tool("invoke_skill", FALLING_BACK)
    assert [(p.level, p.data) for p in logs] == [("warning", "falling back to fake:good (candidate 2 of 2)")]


async def test_a_2026_request_that_asks_for_nothing_gets_nothing(db: Path):
    logs: list[Any] = []

    async def on_log(params: Any) -> None:
        logs.append(params)

    async with Client(build_server(catalog=CATALOG, db=db, env=ENV), logging_callback=on_log) as client:
        assert not (await client.call_tool("invoke_skill", FALLING_BACK)).is_error
    assert logs == []


@pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")  # logging/setLevel, on purpose
async def test_a_handshake_client_that_set_a_level_gets_logs_without_a_progress_token(db: Path):
    logs: list[Any] = []

    async def on_log(params: Any) -> None:
        logs.append(params)

    server = build_server(catalog=CATALOG, db=db, env=ENV)
    async with Client(server, mode="legacy", logging_callback=on_log) as client:
        await client.call_tool("invoke_skill", FALLING_BACK)
        assert logs == []  # no level set, no progress token: as before, nothing
        await client.set_logging_level("warning")
        await client.call_tool("invoke_skill", FALLING_BACK)
    assert [(p.level, p.data) for p in logs] == [("warning", "falling back to fake:good (candidate 2 of 2)")]


@pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")  # logging/setLevel, on purpose
@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_over_stdio_a_client_that_asks_for_logs_alone_gets_them(tmp_path: Path, mode: str):
    # the real server as a subprocess, as a desktop client runs it (test_mcp_stdio's)
    import sys

    from mcp.client.stdio import StdioServerParameters, stdio_client

    from tests.test_mcp_stdio import clean_env

    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "magsag_mcp", "--catalog", str(CATALOG), "--db", str(tmp_path / "ledger.db")],
        env=clean_env(MAGSAG_PROVIDER="fake", MAGSAG_RETRY_BASE_DELAY="0.001", MAGSAG_MAX_RETRIES="0"),
    )
    logs: list[Any] = []

    async def on_log(params: Any) -> None:
        logs.append(params)

    level = {"log_level": "warning"} if mode == "auto" else {}
    with (tmp_path / "stderr.log").open("w+") as errlog:
        async with Client(stdio_client(params, errlog=errlog), mode=mode, logging_callback=on_log, **level) as client:
            if mode == "legacy":
                await client.set_logging_level("warning")
            assert not (await client.call_tool("invoke_skill", FALLING_BACK)).is_error
    assert [(p.level, p.data) for p in logs] == [("warning", "falling back to fake:good (candidate 2 of 2)")]
