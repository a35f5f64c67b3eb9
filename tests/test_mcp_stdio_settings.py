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


async def test_the_desktop_snippets_placeholder_key_over_stdio_names_the_clients_configuration(tmp_path: Path):
    # examples/mcp/claude_desktop_config.json as written: its "sk-your-openai-key" left in the entry's env. The refusal
    # said "set OPENAI_API_KEY to your whole API key", not where, while a missing key's fix names the entry's env
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "magsag_mcp", "--catalog", str(CATALOG), "--db", str(tmp_path / "ledger.db")],
        env=clean_env(OPENAI_API_KEY="sk-your-openai-key", ANTHROPIC_API_KEY='"sk-ant-api03-0123456789abcdef"'),
    )
    with (tmp_path / "stderr.log").open("w+") as errlog:
        async with Client(stdio_client(params, errlog=errlog)) as client:
            plan = await client.call_tool("explain_route", {"skill_id": "skill.analysis", "payload": {"data": "x"}})
    where = 'in the environment magsag-mcp is started with (the "env" of its entry in the MCP client\'s configuration'
    openai, anthropic, *_ = plan.structured_content["targets"]
    assert openai["unavailable"].startswith("openai: OPENAI_API_KEY holds a placeholder")
    assert "set OPENAI_API_KEY to your whole API key " + where in openai["unavailable"]
    assert "set ANTHROPIC_API_KEY to the key alone " + where in anthropic["unavailable"]
    assert "0123456789abcdef" not in anthropic["unavailable"]


def test_the_python_api_says_a_placeholder_key_is_one_without_a_configuration_to_name(tmp_path: Path):
    with Magsag(catalog=CATALOG, db=tmp_path / "ledger.db", env={"OPENAI_API_KEY": "sk-..."}) as mg:
        [first, *_] = mg.skills.explain("skill.analysis", {"data": "x"})["targets"]
    assert first["unavailable"].endswith("set OPENAI_API_KEY to your whole API key")


def test_the_python_api_still_says_the_environment(tmp_path: Path):
    with Magsag(catalog=CATALOG, db=tmp_path / "ledger.db", env={}) as mg:
        [first, *_] = mg.skills.explain("skill.analysis", {"data": "x"})["targets"]
    assert first["unavailable"] == "openai: no API key; set OPENAI_API_KEY in the environment"


async def test_a_stdio_start_that_warns_keeps_stdout_for_the_protocol_alone(tmp_path: Path):
    # stdout is the MCP channel: the start's warnings (a ledger no call can make, misspelt and synonym variables, one
    # holding a token) must reach stderr alone, never a value, and the session must work through them
    from mcp import ClientSession

    (tmp_path / "notes.txt").write_text("a file, not a folder\n")
    env = clean_env(
        MAGSAG_DB=str(tmp_path / "notes.txt" / "ledger.db"),
        MAGSAG_DB_PATH=str(tmp_path / "other.db"),
        MAGSAG_TOKEN="fake-token-never-said",
        MAGSAG_LOCAL_LLM_BASEURL="http://user:fake-password-never-said@gw.example.invalid/v1?key=fake-query-key",
    )
    args = ["-m", "magsag_mcp", "--catalog", str(CATALOG)]
    params = StdioServerParameters(command=sys.executable, args=args, env=env)
    not_protocol: list[Exception] = []

    async def on_message(message: object) -> None:
        if isinstance(message, Exception):  # a stdout line that is no JSON-RPC message
            not_protocol.append(message)

    with (tmp_path / "stderr.log").open("w+") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write):
            async with ClientSession(read, write, message_handler=on_message) as session:
                initialized = await session.initialize()
                tools = await session.list_tools()
        errlog.seek(0)
        stderr = errlog.read()
    assert initialized.server_info.name and tools.tools
    assert not_protocol == []
    for said in ("cannot be made", "MAGSAG_DB_PATH", "MAGSAG_TOKEN", "MAGSAG_LOCAL_LLM_BASEURL"):
        assert stderr.count(said) == 1, said  # each said once
    assert "never-said" not in stderr and "fake-query-key" not in stderr
