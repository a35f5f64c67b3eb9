"""MAGSAG_MCP_TOKENS_FILE: a bearer token per client, each pinned to an agent. With one shared token every client of a
team's server could name any agent: the policy's per-agent limits bound nobody, the ledger's agent column was what a
client claimed, and a leaked token was rotated for everyone. A request's token now picks the agent its calls are
recorded under and held to (as ``--agent`` pins a server's one client), and the agent whose records it may read."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import aiohttp
import httpx2
import pytest
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client

from magsag_mcp.errors import ConfigError
from magsag_mcp.mcp_server import build_server
from magsag_mcp.mcp_server.bearer import BearerTokenMiddleware
from magsag_mcp.mcp_server.client_tokens import (
    TOKENS_FILE_ENV,
    ClientToken,
    check_client_tokens,
    client_tokens_setting,
    parse_client_tokens,
)
from magsag_mcp.mcp_server.http import http_app
from tests.mcp_http_helpers import HEADERS, INIT
from tests.shutdown_helpers import until_serving
from tests.test_mcp_http import held_port, offline_env, post, serving
from tests.test_mcp_pinned_agent import limits_catalog

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("fake_scripts")]
CATALOG = Path(__file__).resolve().parent.parent / "catalog"
ENV = {"MAGSAG_PROVIDER": "fake"}
CALL = {"skill_id": "skill.analysis", "payload": {"data": "x"}}
RESEARCH_TOKEN = "Qz7xK2mW9pR4vT6nB3yLc8"
OPS_TOKEN = "Hd8sJ5fN2cX7gM4kP9wEq3"
TOKENS = f"# agent token\n\nresearch-bot {RESEARCH_TOKEN}\nops-team\t{OPS_TOKEN}\n"


def entries() -> tuple[ClientToken, ...]:
    return parse_client_tokens(TOKENS.encode())


def client(url: str, token: str) -> Client:
    # a hang guard, not a timing assertion: httpx's default 5 s read timeout cut a first call (which opens the service)
    # on a loaded machine (test_a_client_token_is_rotated_without_a_restart, ReadTimeout under 3 CPU burners)
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60)
    return Client(streamable_http_client(url, http_client=http))


def test_the_file_gives_each_token_its_agent_and_never_shows_a_token():
    parsed = entries()
    assert [(e.agent, e.token, e.line) for e in parsed] == [
        ("research-bot", RESEARCH_TOKEN, 3),
        ("ops-team", OPS_TOKEN, 4),
    ]
    assert RESEARCH_TOKEN not in repr(parsed)
    # two tokens for one agent (a new one beside the old while clients move to it): allowed
    rotated = parse_client_tokens(f"ops {RESEARCH_TOKEN}\r\nops {OPS_TOKEN}\r\n".encode())
    assert [e.agent for e in rotated] == ["ops", "ops"]


@pytest.mark.parametrize(
    "content, said",
    [
        (f"a {RESEARCH_TOKEN}\nb {RESEARCH_TOKEN}\n", "line 2 of the file MAGSAG_MCP_TOKENS_FILE names has the token"),
        (f"{RESEARCH_TOKEN}\n", "line 1 of the file MAGSAG_MCP_TOKENS_FILE names is 1 word, not AGENT TOKEN"),
        (f"a {RESEARCH_TOKEN} extra\n", "line 1 of the file MAGSAG_MCP_TOKENS_FILE names is 3 words, not AGENT TOKEN"),
        (f"# c\na {RESEARCH_TOKEN} \n", "line 2 of the file MAGSAG_MCP_TOKENS_FILE names begins or ends with a space"),
        (f" a {RESEARCH_TOKEN}\n", "line 1 of the file MAGSAG_MCP_TOKENS_FILE names begins or ends with a space"),
        (f"a {RESEARCH_TOKEN}\u00e9\n", "line 1 of the file MAGSAG_MCP_TOKENS_FILE names has a character other than"),
        (f"a {RESEARCH_TOKEN}\x07\n", "line 1 of the file MAGSAG_MCP_TOKENS_FILE names has a character other than"),
        (f"{'n' * 300} {RESEARCH_TOKEN}\n", "line 1 of the file MAGSAG_MCP_TOKENS_FILE names: its agent name"),
        (f"sk-proj-Zq8Lw3Xn5Tb7Rk2Vm9Pc {RESEARCH_TOKEN}\n", "its agent name (the first word) is not one the ledger"),
        ("a your-token-here\n", "line 1 of the file MAGSAG_MCP_TOKENS_FILE names: its token is a placeholder"),
        ("a <token>\n", "its token is a placeholder"),
        ("# only a comment\n\n", "the file MAGSAG_MCP_TOKENS_FILE names has no entry"),
        ("", "has no entry"),
    ],
)
def test_every_kind_of_bad_line_is_refused_naming_its_line_never_its_token(content: str, said: str):
    with pytest.raises(ConfigError) as refused:
        parse_client_tokens(content.encode())
    assert said in refused.value.message, refused.value.message
    assert RESEARCH_TOKEN not in refused.value.message and "Zq8Lw3" not in refused.value.message


def test_a_short_token_is_refused_beyond_loopback_only():
    short = parse_client_tokens(f"a {RESEARCH_TOKEN}\nb Kp3x9Wq\n".encode())
    check_client_tokens("127.0.0.1", short)
    with pytest.raises(ConfigError, match="line 2 of the file MAGSAG_MCP_TOKENS_FILE names has a token of 7 char"):
        check_client_tokens("0.0.0.0", short)


def test_the_file_is_not_set_beside_a_shared_token(tmp_path: Path):
    named = tmp_path / "tokens"
    named.write_text(TOKENS)
    assert [e.agent for e in client_tokens_setting({TOKENS_FILE_ENV: str(named)})] == ["research-bot", "ops-team"]
    assert client_tokens_setting({}) == ()
    for other in ("MAGSAG_MCP_TOKEN", "MAGSAG_MCP_TOKEN_FILE"):
        with pytest.raises(ConfigError, match=f"both MAGSAG_MCP_TOKENS_FILE and {other} are set"):
            client_tokens_setting({TOKENS_FILE_ENV: str(named), other: "Wm4kT8zQ2xN6bR9v"})
    with pytest.raises(ConfigError, match="cannot be read"):
        client_tokens_setting({TOKENS_FILE_ENV: str(tmp_path / "missing")})


def test_the_file_and_one_agent_for_every_call_are_refused_together(tmp_path: Path):
    server = build_server(catalog=CATALOG, db=tmp_path / "l.db", env=ENV, agent="desk")
    with pytest.raises(ConfigError, match="leave the other out"):
        http_app(server, host="127.0.0.1", port=8765, token=None, clients=entries())


def test_every_entry_is_compared_and_the_match_gives_its_agent():
    gate = BearerTokenMiddleware(lambda *a: None, clients=entries())  # type: ignore[arg-type]
    assert gate.client(f"Bearer {OPS_TOKEN}") == (True, "ops-team")
    assert gate.client(f"Bearer {RESEARCH_TOKEN}") == (True, "research-bot")
    assert gate.client(f"Basic {OPS_TOKEN}")[0] is False
    assert gate.client("Bearer Xb5nQ8wZ2kM7") == (False, None)


async def test_two_clients_record_under_their_own_agents_and_read_only_their_own(tmp_path: Path, caplog):
    caplog.set_level(logging.DEBUG)
    port = held_port()
    server = build_server(catalog=CATALOG, db=tmp_path / "l.db", env=ENV)
    app = http_app(server, host="127.0.0.1", port=port, token=None, clients=entries())
    async with serving(app, port) as url:
        async with client(url, RESEARCH_TOKEN) as research, client(url, OPS_TOKEN) as ops:
            # the schemas tell a client's model to leave agent out, as a server started with --agent's do
            schemas = {tool.name: tool.input_schema for tool in (await ops.list_tools()).tools}
            said = schemas["invoke_skill"]["properties"]["agent"]["description"]
            assert said == "this server records every call as the agent of your client's token: leave agent out"
            assert "leave agent out" in schemas["check_budget"]["properties"]["agent"]["description"]
            assert not (await research.call_tool("invoke_skill", CALL)).is_error
            assert not (await research.call_tool("invoke_skill", {**CALL, "agent": "research-bot"})).is_error
            # ops-team has no records yet: its empty summary's notes do not list the agents that have (a note of a
            # read not held to one agent names them)
            empty = (await ops.call_tool("summarize_usage", {})).structured_content
            assert empty["by_agent"] == {} and "research-bot" not in " ".join(empty["notes"]), empty["notes"]
            assert not (await ops.call_tool("invoke_skill", {**CALL, "agent": ""})).is_error
            # naming another agent: refused with --agent's words, nothing recorded
            refused = await ops.call_tool("invoke_skill", {**CALL, "agent": "research-bot"})
            message = refused.structured_content["error"]["message"]
            assert refused.is_error and "records every call of your client as agent 'ops-team'" in message, message
            assert "leave agent out" in message

            mine = (await research.call_tool("query_runs", {})).structured_content["runs"]
            assert [r["agent"] for r in mine] == ["research-bot", "research-bot"]
            theirs = (await ops.call_tool("query_runs", {})).structured_content["runs"]
            assert [r["agent"] for r in theirs] == ["ops-team"]
            peek = await ops.call_tool("query_runs", {"filters": {"agent": "research-bot"}})
            assert peek.is_error and "agent 'ops-team'" in peek.structured_content["error"]["message"]

            summary = (await ops.call_tool("summarize_usage", {})).structured_content
            assert list(summary["by_agent"]) == ["ops-team"], summary["by_agent"]
            assert summary["totals"]["attempts"] == 1
            # in a zone (summarize_usage's timezone): its own agent still, the dates read in that zone
            window = {"since": "2020-01-01", "until": "2999-01-01"}
            zoned = await ops.call_tool("summarize_usage", {"filters": window, "timezone": "Asia/Kathmandu"})
            read = zoned.structured_content
            assert list(read["by_agent"]) == ["ops-team"] and read["totals"]["attempts"] == 1, read
            assert read["period"]["timezone"] == "Asia/Kathmandu"
            assert read["period"]["filters"]["since"] == "2020-01-01T00:00:00+05:45", read["period"]
            unknown = await ops.call_tool("summarize_usage", {"timezone": "Mars/Base"})
            assert unknown.is_error and "unknown time zone" in unknown.structured_content["error"]["message"]
            # the daily report too: its own agent's days alone, another agent refused, no other agent's name noted
            days = (await ops.call_tool("daily_usage", {"timezone": "Asia/Kathmandu"})).structured_content
            assert {row["agent"] for row in days["days"]} == {"ops-team"}, days
            assert days["timezone"] == "Asia/Kathmandu"
            other = await ops.call_tool("daily_usage", {"filters": {"agent": "research-bot"}})
            assert other.is_error and "agent 'ops-team'" in other.structured_content["error"]["message"]
            none = (await ops.call_tool("daily_usage", {"filters": {"skill": "skill.nope"}})).structured_content
            assert none["days"] == [] and "research-bot" not in " ".join(none["notes"]), none["notes"]
            # notes of a read that found nothing name no other agent's records
            nothing = await ops.call_tool("query_runs", {"filters": {"skill": "skill.nope", "run_id": "rb-run"}})
            assert "research-bot" not in " ".join(nothing.structured_content["notes"])

            searched = await ops.call_tool("search_usage", {"pattern": "research"})
            refusal = searched.structured_content["error"]["message"]
            assert searched.is_error and "reads its own agent's alone" in refusal, refusal
            budget = await ops.call_tool("check_budget", {})
            assert budget.structured_content["agent"] == "ops-team"
            assert (await ops.call_tool("check_budget", {"agent": "research-bot"})).is_error

        status, body, _ = await post(url, {"Authorization": "Bearer Xb5nQ8wZ2kM7vR3t"})
        reason = json.loads(body)["error"]["message"]
        assert status == 401 and reason.startswith("unauthorized: its bearer token is not one of the server's client")
        assert "MAGSAG_MCP_TOKENS_FILE" in reason
    logged = caplog.text
    assert RESEARCH_TOKEN not in logged and OPS_TOKEN not in logged


async def test_one_clients_budget_refuses_it_and_not_the_other(tmp_path: Path, clock_at_noon: float):
    catalog = limits_catalog(tmp_path, "0.2")
    port = held_port()
    server = build_server(catalog=catalog, db=tmp_path / "l.db", env=ENV)
    app = http_app(server, host="127.0.0.1", port=port, token=None, clients=entries())
    async with serving(app, port) as url:
        async with client(url, RESEARCH_TOKEN) as research, client(url, OPS_TOKEN) as ops:
            for _ in range(50):  # each call costs under a cent: research-bot's day limit ends them
                result = await research.call_tool("invoke_skill", {**CALL, "agent": ""})
                if result.is_error:
                    break
            error = result.structured_content["error"]
            assert error["last_error_type"] == "budget_exceeded" and "research-bot" in error["message"], error
            other = await ops.call_tool("invoke_skill", CALL)
            assert not other.is_error, other.content
            # the refused call sent nothing: its client's summary says why (a note of its own agent's calls alone)
            refused_only = {"filters": {"status": "budget_exceeded"}}
            summary = (await research.call_tool("summarize_usage", refused_only)).structured_content
            assert summary["totals"].get("unsent_calls") == 1, summary["totals"]
            assert any("sent no request" in note and "research-bot" in note for note in summary["notes"]), summary


async def test_a_client_neither_joins_nor_reads_another_clients_run(tmp_path: Path):
    port = held_port()
    server = build_server(catalog=CATALOG, db=tmp_path / "l.db", env=ENV)
    app = http_app(server, host="127.0.0.1", port=port, token=None, clients=entries())
    async with serving(app, port) as url:
        async with client(url, RESEARCH_TOKEN) as research, client(url, OPS_TOKEN) as ops:
            assert not (await research.call_tool("invoke_skill", {**CALL, "run_id": "rb-run7"})).is_error
            joined = await ops.call_tool("invoke_skill", {**CALL, "run_id": "rb-run7"})
            read = await ops.call_tool("check_budget", {"run_id": "rb-run7"})
            for refused in (joined, read):
                message = refused.structured_content["error"]["message"]
                assert refused.is_error and "run 'rb-run7' holds another agent's calls" in message, message
                assert "research-bot" not in message and "use a run id of your own" in message.lower()
            # the run holds its own client's calls alone, which goes on with it
            assert not (await research.call_tool("invoke_skill", {**CALL, "run_id": "rb-run7"})).is_error
            runs = (await research.call_tool("query_runs", {"filters": {"run_id": "rb-run7"}})).structured_content
            assert [a["agent"] for a in runs["runs"][0]["attempts"]] == ["research-bot", "research-bot"]
            assert (await ops.call_tool("query_runs", {})).structured_content["runs"] == []


async def legacy_session_call(url: str, token: str) -> int:
    """An invoke_skill call in a 2025-06-18 session (initialize, initialized, tools/call), as a client of that
    protocol makes it: its status."""
    headers = {**HEADERS, "Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json=INIT, headers=headers) as resp:
            assert resp.status == 200, await resp.text()
            headers |= {"Mcp-Session-Id": resp.headers["Mcp-Session-Id"], "Mcp-Protocol-Version": "2025-06-18"}
        initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        async with http.post(url, json=initialized, headers=headers) as resp:
            assert resp.status == 202, await resp.text()
        params = {"name": "invoke_skill", "arguments": CALL}
        call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": params}
        async with http.post(url, json=call, headers=headers) as resp:
            said = await resp.text()
            assert '"isError":true' not in said.replace(" ", ""), said
            return resp.status


async def test_the_command_serves_the_file_and_refuses_a_bad_one(tmp_path: Path):
    named = tmp_path / "tokens"
    named.write_text(TOKENS)
    env = {**offline_env(tmp_path), TOKENS_FILE_ENV: str(named)}
    argv = [sys.executable, "-m", "magsag_mcp", "--transport", "http", "--port", "0", "--catalog", str(CATALOG)]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        url, said = await until_serving(proc)
        assert "token required: one per client, 2 in MAGSAG_MCP_TOKENS_FILE" in said, said
        # a 2025-06-18 session's call: the SDK's other transport path hands the tool its request too
        assert await legacy_session_call(url, RESEARCH_TOKEN) == 200
        async with client(url, OPS_TOKEN) as ops:
            assert ops.protocol_version == "2026-07-28"
            assert not (await ops.call_tool("invoke_skill", CALL)).is_error
            runs = (await ops.call_tool("query_runs", {})).structured_content["runs"]
            assert [r["agent"] for r in runs] == ["ops-team"]
        async with client(url, RESEARCH_TOKEN) as research:
            runs = (await research.call_tool("query_runs", {})).structured_content["runs"]
            assert [r["agent"] for r in runs] == ["research-bot"]
        status, _, _ = await post(url)
        assert status == 401
        async with httpx2.AsyncClient() as http:  # the probes are answered without a token, as with one token
            probe = await http.get(url.replace("/mcp", "/healthz"))
            assert probe.status_code == 200, probe.text
        status, _, _ = await post(url, {"Authorization": f"Bearer {RESEARCH_TOKEN}"})
        assert status == 200
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=60)
    assert RESEARCH_TOKEN.encode() not in err and OPS_TOKEN.encode() not in err

    named.write_text(f"ops {OPS_TOKEN}\nresearch {OPS_TOKEN}\n")
    refused = subprocess.run([*argv, "--host", "0.0.0.0"], env=env, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "line 2 of the file MAGSAG_MCP_TOKENS_FILE names has the token line 1 has" in (
        refused.stderr
    ), refused.stderr
    assert OPS_TOKEN not in refused.stderr and "Traceback" not in refused.stderr


@pytest.mark.parametrize(
    "content",
    [
        "a your-token-here\n",
        f"a {RESEARCH_TOKEN}\nb {RESEARCH_TOKEN}\n",
        f"a {RESEARCH_TOKEN}\u00e9\n",
        "",
    ],
)
def test_a_refusal_s_command_for_a_new_token_runs_in_every_shell(content: str):
    """The tokens file's refusals say the command MAGSAG_MCP_TOKEN's do (double quotes): in single quotes cmd.exe
    passed them on as they were, and Python ran "'import secrets;", a SyntaxError."""
    from magsag_mcp.mcp_server.http import NEW_TOKEN

    with pytest.raises(ConfigError) as refused:
        parse_client_tokens(content.encode())
    assert NEW_TOKEN in refused.value.message and "python -c '" not in refused.value.message, refused.value.message
    with pytest.raises(ConfigError) as short:
        check_client_tokens("0.0.0.0", parse_client_tokens(b"a Kp3x9Wq\n"))
    assert NEW_TOKEN in short.value.message, short.value.message


async def test_a_clients_own_run_lists_none_of_the_calls_another_agent_filed_in_it(tmp_path: Path):
    """A run a client began may still hold another agent's calls (filed by the CLI or Python, whose callers may share
    a run; or two first calls of one new run id at once, see ledger.run_owner): its client's query_runs lists its own
    agent's attempts alone (their errors and warnings are that agent's records) and counts the others."""
    from magsag_mcp.mcp_server.server import server_state

    port = held_port()
    server = build_server(catalog=CATALOG, db=tmp_path / "l.db", env=ENV)
    app = http_app(server, host="127.0.0.1", port=port, token=None, clients=entries())
    async with serving(app, port) as url:
        async with client(url, RESEARCH_TOKEN) as research:
            assert not (await research.call_tool("invoke_skill", {**CALL, "run_id": "rb-mixed4"})).is_error
            service = await server_state(server).service()
            await service.invoke_skill("skill.analysis", {"data": "y"}, agent="ops-team", run_id="rb-mixed4")
            page = (await research.call_tool("query_runs", {"filters": {"run_id": "rb-mixed4"}})).structured_content
            run = page["runs"][0]
            assert [a["agent"] for a in run["attempts"]] == ["research-bot"], run["attempts"]
            assert run["attempts_of_other_agents"] == 1 and run["attempts_omitted"] == 0, run
            # the unpinned reader (the CLI's, Python's) still reads the run whole
            whole = await service.query_runs_page({"run_id": "rb-mixed4"})
            assert sorted(a["agent"] for a in whole["runs"][0]["attempts"]) == ["ops-team", "research-bot"]


async def test_a_call_of_a_server_with_client_tokens_that_carries_no_clients_agent_is_refused(tmp_path: Path):
    """The agent a call is held to comes from its HTTP request (the SDK hands it to the tool). A call of a server with a
    token per client reaching a tool without it (an SDK that runs a tool apart from its request, a transport that does
    not pass it on) is refused, not served as a call held to no agent, which reads every agent's records."""
    from mcp.shared.exceptions import MCPError

    server = build_server(catalog=CATALOG, db=tmp_path / "l.db", env=ENV)
    http_app(server, host="127.0.0.1", port=8765, token=None, clients=entries())
    with pytest.raises(MCPError) as refused:
        await server.call_tool("query_runs", {})
    assert "no client token's agent" in str(refused.value), str(refused.value)
    # a server with one shared token (or none) serves such a call as before
    shared = build_server(catalog=CATALOG, db=tmp_path / "l.db", env=ENV)
    http_app(shared, host="127.0.0.1", port=8765, token="Wm4kT8zQ2xN6bR9vLc3p")
    assert not (await shared.call_tool("query_runs", {})).is_error


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32", "utf-8-sig"])
def test_a_tokens_file_written_in_utf_16_or_after_a_byte_order_mark_is_read(encoding: str):
    """Windows PowerShell 5.1's '>' and Out-File write UTF-16 with its mark, Set-Content -Encoding UTF8 UTF-8 after
    one (as MAGSAG_MCP_TOKEN_FILE's file is read since 52a87c63): such a tokens file was refused, 'line 1 has a
    character other than printable ASCII; write its token anew', though every token in it was right."""
    import codecs

    def written(text: str) -> bytes:
        return (codecs.BOM_UTF16_BE if encoding == "utf-16-be" else b"") + text.encode(encoding)

    assert parse_client_tokens(written(TOKENS)) == entries()
    assert parse_client_tokens(written(TOKENS.replace("\n", "\r\n"))) == entries()  # Windows' line ends too
    with pytest.raises(ConfigError, match="line 3 of the file MAGSAG_MCP_TOKENS_FILE names has a character other"):
        parse_client_tokens(written(TOKENS.replace("research-bot", "recherche-\u00e9")))
    if encoding == "utf-16":  # a mark the rest of the file is not written in: said, never read as lines
        with pytest.raises(ConfigError, match="begins with UTF-16's byte order mark but is no UTF-16 text"):
            parse_client_tokens(codecs.BOM_UTF16_LE + b"a")


async def test_two_clients_calls_at_once_are_each_recorded_under_their_own_agent(tmp_path: Path):
    """The agent a call is held to is set for the call from its own request (MagsagServer.call_tool), never left in a
    context another request's handler may run in: calls of two clients in flight at once, interleaved on one server,
    are each recorded as their own client's agent (checked: this passes on the code as reviewed)."""
    import anyio

    from magsag_mcp.mcp_server.server import server_state

    port = held_port()
    server = build_server(catalog=CATALOG, db=tmp_path / "l.db", env=ENV)
    app = http_app(server, host="127.0.0.1", port=port, token=None, clients=entries())
    async with serving(app, port) as url:
        async with client(url, RESEARCH_TOKEN) as research, client(url, OPS_TOKEN) as ops:
            async with anyio.create_task_group() as tg:
                for n in range(6):
                    tg.start_soon(research.call_tool, "invoke_skill", {**CALL, "run_id": f"rb-at-once{n}x"})
                    tg.start_soon(ops.call_tool, "invoke_skill", {**CALL, "run_id": f"ops-at-once{n}x"})
        service = await server_state(server).service()
        runs = (await service.query_runs_page({"limit": 50}))["runs"]
    owners = {run["run_id"]: {a["agent"] for a in run["attempts"]} for run in runs}
    assert len(owners) == 12, owners
    for run_id, agents in owners.items():
        assert agents == ({"research-bot"} if run_id.startswith("rb-") else {"ops-team"}), (run_id, agents)
