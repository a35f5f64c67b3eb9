"""A key missing from the stdio server's environment is told where that environment comes from.

An MCP client (Claude Desktop, an IDE) starts ``magsag-mcp`` with few of its user's shell variables: a key exported in
``~/.profile`` never reaches it. "set OPENAI_API_KEY in the environment" sent the user who had done just that back to
the shell; the fix is the ``env`` of the server's entry in the client's configuration (examples/mcp/README.md).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

from magsag_mcp import Magsag

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parent.parent
CATALOG = ROOT / "catalog"
DROP = ("MAGSAG_", "OPENAI_", "ANTHROPIC_", "AZURE_OPENAI_", "GEMINI_", "GOOGLE_API", "OLLAMA_")


def clean_env(**extra: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith(DROP)}, **extra}


async def test_a_missing_key_over_stdio_names_the_clients_configuration_as_where_to_set_it(tmp_path: Path):
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "magsag_mcp", "--catalog", str(CATALOG), "--db", str(tmp_path / "ledger.db")],
        env=clean_env(),
    )
    with (tmp_path / "stderr.log").open("w+") as errlog:
        async with Client(stdio_client(params, errlog=errlog)) as client:
            failed = await client.call_tool(
                "invoke_skill",
                {"skill_id": "skill.analysis", "payload": {"data": "x"}, "model_config": {"model": "openai:gpt-4o"}},
            )
            plan = await client.call_tool("explain_route", {"skill_id": "skill.analysis", "payload": {"data": "x"}})
    assert failed.is_error
    message = failed.structured_content["error"]["message"]
    where = 'set OPENAI_API_KEY in the environment magsag-mcp is started with (the "env" of its entry in the MCP '
    assert where in message and "few of your shell's variables" in message
    [first, *_] = plan.structured_content["targets"]
    assert first["unavailable"].startswith("openai: no API key; " + where)


def test_the_python_api_still_says_the_environment(tmp_path: Path):
    with Magsag(catalog=CATALOG, db=tmp_path / "ledger.db", env={}) as mg:
        [first, *_] = mg.skills.explain("skill.analysis", {"data": "x"})["targets"]
    assert first["unavailable"] == "openai: no API key; set OPENAI_API_KEY in the environment"
