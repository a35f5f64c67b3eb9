"""The real server as a subprocess over stdio (``python -m magsag_mcp``), the demo and the agent example."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

from magsag_mcp.mcp_server.__main__ import build_parser

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parent.parent
CATALOG = ROOT / "catalog"
EXAMPLES = ROOT / "examples" / "mcp"
DROP = ("MAGSAG_", "OPENAI_", "ANTHROPIC_", "AZURE_OPENAI_", "GEMINI_", "GOOGLE_API", "OLLAMA_")


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(DROP)}
    env.update(extra)
    return env


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_every_tool_over_stdio(tmp_path: Path, mode: str):
    db = tmp_path / "ledger.db"
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "magsag_mcp", "--catalog", str(CATALOG), "--db", str(db), "--log-level", "DEBUG"],
        env=clean_env(MAGSAG_PROVIDER="fake", MAGSAG_RETRY_BASE_DELAY="0.001", MAGSAG_MAX_RETRIES="0"),
    )
    errlog = (tmp_path / "stderr.log").open("w+")
    progress: list[str] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(message or "")

    async with Client(stdio_client(params, errlog=errlog), mode=mode) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        calls: dict[str, dict[str, Any]] = {
            "list_skills": {},
            "invoke_skill": {
                "skill_id": "skill.analysis",
                "payload": {"data": "stdio"},
                "agent": "stdio-agent",
                "model_config": {"model": "fake:fail-server_error", "fallbacks": ["fake:ok"]},
            },
            "explain_route": {"skill_id": "skill.summarization", "payload": {"text": "t"}},
            "summarize_usage": {"filters": {"agent": "stdio-agent"}},
            "daily_usage": {"filters": {"agent": "stdio-agent"}, "timezone": "Europe/Berlin"},
            "query_runs": {"filters": {"agent": "stdio-agent"}, "limit": 5},
            "check_budget": {"agent": "stdio-agent"},
            "search_usage": {"pattern": "server_error", "limit": 5},
        }
        # continue_paused goes on with a turn a call left paused, which the fake provider never leaves: an id this
        # server does not hold is refused as a typed error (its answers: test_paused_calls_by_id.py)
        assert set(calls) | {"continue_paused"} == names
        unheld = await client.call_tool("continue_paused", {"paused_id": "paused_0123456789abcdef"})
        assert unheld.is_error and unheld.structured_content["error"]["type"] == "input_error", unheld
        results = {}
        for name, args in calls.items():
            result = await client.call_tool(name, args, progress_callback=on_progress)
            assert not result.is_error, f"{name}: {result.content[0].text}"
            results[name] = result.structured_content
        assert results["invoke_skill"]["model"] == "ok"
        assert "falling back to fake:ok (candidate 2 of 2)" in progress
        totals = results["summarize_usage"]["totals"]  # one call of two attempts: the failed one, then its fallback
        assert (totals["calls"], totals["attempts"], totals["attempt_errors"]) == (1, 2, 1)
        # the call's day (two, should Berlin's midnight fall between its attempts): the summary's cost
        days = results["daily_usage"]["days"]
        assert {day["agent"] for day in days} == {"stdio-agent"}
        assert sum(Decimal(day["known_cost_usd"]) for day in days) == Decimal(totals["known_cost_usd"])
        assert results["query_runs"]["runs"][0]["run_id"] == results["invoke_skill"]["run_id"]
        assert results["search_usage"]["hits"]
        assert "skill.analysis" in {s["id"] for s in results["list_skills"]["skills"]}

        skills = json.loads((await client.read_resource("magsag://catalog/skills")).contents[0].text)
        assert any(s["id"] == "skill.analysis" for s in skills)
        err = await client.call_tool("invoke_skill", {"skill_id": "skill.nope", "payload": {}})
        assert err.is_error and err.structured_content["error"]["type"] == "unknown_skill"
    errlog.seek(0)
    log = errlog.read()
    errlog.close()
    assert "magsag-mcp serving on stdio" in log  # logs go to stderr; stdout carried only the protocol


def test_demo_runs_offline_through_the_real_stack(tmp_path: Path):
    proc = subprocess.run(
        [sys.executable, "-c", "import sys; from magsag_mcp.cli import main; sys.exit(main(['demo']))"],
        env=clean_env(),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "falling back to fake:backup-model" in out
    assert "answered by : fake:backup-model" in out
    assert "fake:fail-overloaded" in out and "overloaded" in out
    assert "== summarize_usage" in out and "backup-model" in out
    assert "== query_runs" in out and "== check_budget" in out


def test_agent_client_example_runs_offline(tmp_path: Path):
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "agent_client.py")],
        env=clean_env(MAGSAG_DB=str(tmp_path / "ledger.db")),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "== " in proc.stdout


@pytest.mark.parametrize("whose", ["MAGSAG_CATALOG", "./catalog"])
def test_agent_client_example_runs_offline_on_the_shipped_catalog_beside_one_of_your_own(tmp_path: Path, whose: str):
    """Offline, the example calls skill.analysis and skill.summarization; its server took the catalog of the
    machine (MAGSAG_CATALOG exported for a project, or a project's ./catalog where it was run) and the example
    failed with "unknown skill". Offline it runs on the shipped catalog, as the other examples do."""
    from magsag_mcp.cli.demo import write_demo_catalog

    project = tmp_path / "project"
    own = write_demo_catalog(project / "catalog")  # one skill, skill.brief
    extra = {"MAGSAG_CATALOG": str(own)} if whose == "MAGSAG_CATALOG" else {}
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "agent_client.py")],
        env=clean_env(MAGSAG_DB=str(tmp_path / "ledger.db"), **extra),
        cwd=project if whose == "./catalog" else tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "sees 8 skills" in proc.stdout, proc.stdout


def test_agent_client_example_runs_offline_whatever_magsag_model_is_exported(tmp_path: Path):
    """`export MAGSAG_MODEL=openai:gpt-4o` (a target, as docs/model-choice.md writes models) in the shell that ran the
    offline example reached its server beside the example's MAGSAG_PROVIDER=fake: every call failed with "model
    'openai:gpt-4o' names provider 'openai', but the provider given is 'fake'". Offline, the machine's MAGSAG_*
    settings stay out, as they do for the other examples."""
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "agent_client.py")],
        env=clean_env(MAGSAG_DB=str(tmp_path / "ledger.db"), MAGSAG_MODEL="openai:gpt-4o"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "sees 8 skills" in proc.stdout, proc.stdout


def test_client_configs_launch_the_console_script_with_valid_arguments():
    desktop = json.loads((EXAMPLES / "claude_desktop_config.json").read_text())["mcpServers"]["magsag"]
    vscode = json.loads((EXAMPLES / "vscode_mcp.json").read_text())["servers"]
    cursor = json.loads((EXAMPLES / "cursor_mcp.json").read_text())["mcpServers"]
    for entry in (desktop, vscode["magsag"], cursor["magsag"]):
        assert entry["command"] == "magsag-mcp"
        build_parser().parse_args(entry["args"])  # raises SystemExit on an unknown option
    assert vscode["magsag-http"]["url"].endswith(":8765/mcp") and vscode["magsag-http"]["type"] == "http"
    assert vscode["magsag-http"]["headers"]["Authorization"].startswith("Bearer ")
    scripts = (ROOT / "pyproject.toml").read_text()
    assert 'magsag-mcp = "magsag_mcp.mcp_server.__main__:main"' in scripts


def test_building_the_server_stays_light():
    """A desktop client waits for `initialize` while the server starts: nothing heavy is imported or opened."""
    code = (
        "import sys; from magsag_mcp.mcp_server import build_server; build_server(); "
        "print(','.join(m for m in ('aiohttp', 'aiosqlite', 'yaml', 'jsonschema', 'genai_prices', "
        "'magsag_mcp.service', 'magsag_mcp.catalog', 'magsag_mcp.providers') if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], env=clean_env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""


async def test_stdio_serves_where_the_event_loop_cannot_handle_signals(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """Windows' event loops have no add_signal_handler: opening the signal receiver raises NotImplementedError,
    which ended the stdio server as it started (Claude Desktop or Cursor on Windows: "server disconnected").
    Without signals it serves until stdin closes, as the SDK does, and closes the service then."""
    import anyio

    from magsag_mcp.mcp_server import build_server, stdio

    def no_signals(*signals: Any) -> Any:
        raise NotImplementedError("add_signal_handler")

    served: list[str] = []

    async def session_until_stdin_closes() -> None:  # stands in for run_stdio_async: returns when stdin closes
        await anyio.wait_all_tasks_blocked()
        served.append("closed")

    server = build_server(catalog=CATALOG, db=tmp_path / "l.db", env={"MAGSAG_PROVIDER": "fake"})
    monkeypatch.setattr(stdio.anyio, "open_signal_receiver", no_signals)
    monkeypatch.setattr(server, "run_stdio_async", session_until_stdin_closes)
    await stdio.serve_stdio(server)
    assert served == ["closed"]


async def test_a_client_config_s_home_relative_paths_are_the_home_directory(tmp_path: Path):
    """A client (Claude Desktop, Cursor) starts the server with no shell, so `~` in its args arrives as written.
    Before, `--catalog ~/...` was refused as no directory (MAGSAG_CATALOG=~/... was accepted) and `--db ~/...`
    made a ledger under a folder named `~` in whatever directory the client started the server in, apart
    from the ledger `magsag data query --db ~/...` reads, and from the budgets counted there."""
    import shutil

    home, cwd = tmp_path / "home", tmp_path / "cwd"
    shutil.copytree(CATALOG, home / "cat")
    cwd.mkdir()
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "magsag_mcp", "--catalog", "~/cat", "--db", "~/magsag/ledger.db"],
        env=clean_env(HOME=str(home), MAGSAG_PROVIDER="fake"),
        cwd=cwd,
    )
    errlog = (tmp_path / "stderr.log").open("w+")
    async with Client(stdio_client(params, errlog=errlog)) as client:
        result = await client.call_tool("invoke_skill", {"skill_id": "skill.analysis", "payload": {"data": "x"}})
        assert not result.is_error, result.content
    errlog.seek(0)
    log = errlog.read()
    errlog.close()
    assert f"catalog {home / 'cat'}, ledger {home / 'magsag' / 'ledger.db'}" in log, log
    assert (home / "magsag" / "ledger.db").is_file()
    assert list(cwd.iterdir()) == []


def test_a_request_the_sdk_cannot_read_is_answered_not_left_waiting(tmp_path: Path):
    """A JavaScript client that cuts a string inside an emoji sends half a surrogate pair ("\\ud83d"); the SDK's
    stdio reader cannot parse that line and dropped it with a debug log line: the client waited for an answer
    that never came (until its own timeout), while over HTTP the same request is refused at once. Now such a
    request is answered with an error naming the field, and the server serves on."""
    import select

    proc = subprocess.Popen(
        [sys.executable, "-m", "magsag_mcp", "--catalog", str(CATALOG), "--db", str(tmp_path / "l.db")],
        env=clean_env(MAGSAG_PROVIDER="fake"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None

    def ask(line: str) -> dict[str, Any]:
        proc.stdin.write(line.encode() + b"\n")  # type: ignore[union-attr]
        proc.stdin.flush()  # type: ignore[union-attr]
        ready, _, _ = select.select([proc.stdout], [], [], 60)  # a hang guard, not a timing assertion
        assert ready, f"no answer to {line}"
        return json.loads(proc.stdout.readline())  # type: ignore[union-attr]

    try:
        hello = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}
        assert "result" in ask(json.dumps({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": hello}))
        proc.stdin.write(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
        cut = '{"skill_id":"skill.analysis","payload":{"data":"cut \\ud83d"}}'
        answer = ask(
            f'{{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{{"name":"invoke_skill","arguments":{cut}}}}}'
        )
        assert answer["id"] == 7 and answer["error"]["code"] == -32700
        message = answer["error"]["message"]
        assert "params.arguments.payload.data" in message and "\\ud83d" in message and "surrogate" in message
        answer = ask('{"jsonrpc":"1.0","id":"x","method":"tools/list"}')
        assert answer["id"] == "x" and answer["error"]["code"] == -32600
        deep = "[" * 300 + "]" * 300  # past the SDK's parser's depth, within Python's
        answer = ask(f'{{"jsonrpc":"2.0","id":9,"method":"tools/list","params":{{"x":{deep}}}}}')
        assert answer["id"] == 9 and "recursion limit" in answer["error"]["message"]
        # a response of the client's (to a request of the server's) is not answered, whatever it carries
        proc.stdin.write(b'{"jsonrpc":"2.0","id":99,"result":{"text":"cut \\ud83d"}}\n')
        # past any parser's depth: no id can be read, and no crash; JSON-RPC 2.0's parse error, id null, answers it
        deeper = "[" * 100_000 + "]" * 100_000
        answer = ask(f'{{"jsonrpc":"2.0","id":10,"method":"tools/list","params":{{"x":{deeper}}}}}')
        assert answer["id"] is None and answer["error"]["code"] == -32700, answer
        # and the server serves on
        answer = ask('{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"list_skills","arguments":{}}}')
        assert answer["id"] == 8 and "result" in answer
    finally:
        proc.stdin.close()
        proc.wait(60)
        proc.stdout.close()
        proc.stderr.close()  # type: ignore[union-attr]


async def test_the_claude_desktop_config_serves_as_written_with_only_the_keys_to_fill_in(tmp_path: Path):
    """Before: the config named MAGSAG_CATALOG=/absolute/path/to/your/catalog, so merged as written (keys filled
    in) the server exited at start ("Server disconnected"), and MAGSAG_DB=/absolute/path/to/... made every
    call fail on a ledger folder a user cannot create."""
    entry = json.loads((EXAMPLES / "claude_desktop_config.json").read_text())["mcpServers"]["magsag"]
    home = tmp_path / "home"
    home.mkdir()
    env = clean_env(HOME=str(home))
    env.update(entry["env"])
    params = StdioServerParameters(command=sys.executable, args=["-m", "magsag_mcp", *entry["args"]], env=env, cwd=home)
    errlog = (tmp_path / "stderr.log").open("w+")
    async with Client(stdio_client(params, errlog=errlog)) as client:
        for name, args in (("list_skills", {}), ("check_budget", {}), ("query_runs", {})):
            result = await client.call_tool(name, args)
            assert not result.is_error, f"{name}: {result.content[0].text}"
    errlog.seek(0)
    log = errlog.read()
    errlog.close()
    assert "sk-your-openai-key" not in log
    ledger = Path(entry["env"]["MAGSAG_DB"].replace("~", str(home), 1))
    assert ledger.is_file() and home in ledger.parents, log  # where the config says, in the user's home


def test_http_options_given_to_a_stdio_server_are_said_to_be_ignored(tmp_path: Path):
    # --host and --port were warned of; --allow-host (an operator moving a config to stdio) was dropped unsaid
    proc = subprocess.run(
        [sys.executable, "-m", "magsag_mcp", "--port", "9000", "--allow-host", "mybox.lan"],
        env=clean_env(MAGSAG_DB=str(tmp_path / "l.db")),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "--port applies to --transport http only" in proc.stderr
    assert "--allow-host applies to --transport http only" in proc.stderr


async def test_a_signal_ends_the_stdio_server_even_when_closing_it_fails(monkeypatch: pytest.MonkeyPatch, tmp_path):
    """SIGTERM closes the service (recording the calls in flight) and then ends the process. A close that failed (a
    record the ledger refused earlier, refused again at close: a full disk) skipped the exit: the error ended the
    signal watcher and the server stayed up, waiting on the SDK's stdin reader until stdin closed or a SIGKILL."""
    import contextlib
    import signal

    from magsag_mcp.errors import LedgerError
    from magsag_mcp.mcp_server import build_server, stdio
    from magsag_mcp.mcp_server.server import server_state

    @contextlib.contextmanager
    def one_sigterm(*signals: Any) -> Any:
        async def received() -> Any:
            yield signal.SIGTERM

        yield received()

    exits: list[int] = []
    server = build_server(catalog=CATALOG, db=tmp_path / "l.db", env={"MAGSAG_PROVIDER": "fake"})

    async def close_fails() -> None:
        raise LedgerError("ledger error at l.db: database or disk is full", db="l.db")

    monkeypatch.setattr(stdio.anyio, "open_signal_receiver", one_sigterm)
    monkeypatch.setattr(stdio.os, "_exit", exits.append)
    # (the exit work, run for real, would run this test process's own atexit hooks: concurrent.futures' marks the
    # interpreter shut down, and every later test's executor then refuses its work)
    monkeypatch.setattr(stdio.atexit, "_run_exitfuncs", lambda: exits.append(0))
    monkeypatch.setattr(server_state(server), "close", close_fails)
    await stdio._stop_on_signal(server)
    assert exits == [0, 128 + signal.SIGTERM]  # the exit work done, then the process ended


def test_agent_client_live_without_keys_says_what_failed_and_the_fix_without_a_traceback(tmp_path: Path):
    """`python examples/mcp/agent_client.py --live`, as examples/mcp/README.md offers it, run before any key was
    exported ended in some 60 lines of the MCP client's ExceptionGroup traceback, the tool error's message, which
    names the variable to set, at the bottom of it. It says the error and the fix, and exits 1."""
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "agent_client.py"), "--live"],
        env=clean_env(MAGSAG_DB=str(tmp_path / "ledger.db")),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "invoke_skill failed: all_targets_failed" in proc.stderr, proc.stderr
    assert "set OPENAI_API_KEY" in proc.stderr and "magsag doctor" in proc.stderr, proc.stderr


def test_agent_client_live_whose_server_cannot_start_points_at_its_reason_without_a_traceback(tmp_path: Path):
    """A server that stops as it starts (here a MAGSAG_CATALOG that is no folder) prints its reason on stderr; the
    example then added the client's "Connection closed" traceback after it, burying that reason."""
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "agent_client.py"), "--live"],
        env=clean_env(MAGSAG_DB=str(tmp_path / "ledger.db"), MAGSAG_CATALOG=str(tmp_path / "no-such-catalog")),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "MAGSAG_CATALOG points at" in proc.stderr, proc.stderr  # the server's own reason, kept
    assert "magsag-mcp stopped before it answered" in proc.stderr, proc.stderr


async def test_the_answering_read_stream_is_the_sdks_read_stream_receive_included():
    # the server is handed it as the SDK's ReadStream, whose receive() it lacked (only iterated, as the server
    # does today): a message comes through either way, and the end of the stream ends both as the SDK's do
    import anyio

    from magsag_mcp.mcp_server.stdio import AnsweringReads

    send, receive = anyio.create_memory_object_stream(4)
    _, written = anyio.create_memory_object_stream(4)
    reads = AnsweringReads(receive, written)
    await send.send("first")
    await send.send("second")
    await send.aclose()
    assert await reads.receive() == "first"
    assert [item async for item in reads] == ["second"]
    with pytest.raises(anyio.EndOfStream):
        await reads.receive()


async def test_a_large_batch_is_answered_per_request_and_logged_in_one_line(caplog):
    # a batch's every request was logged a warning of its own ("answered request 0 with an error: ..."), the long
    # batch message in each: a client batching 2,000 requests wrote 2,000 lines to the operator's log
    import anyio
    import mcp_types
    from pydantic import ValidationError

    from magsag_mcp.mcp_server.stdio import AnsweringReads

    line = json.dumps([{"jsonrpc": "2.0", "id": n, "method": "ping"} for n in range(2000)])
    try:
        mcp_types.jsonrpc_message_adapter.validate_json(line, by_name=False)
    except ValidationError as exc:
        refused = exc
    send, receive = anyio.create_memory_object_stream(2)
    written_in, written = anyio.create_memory_object_stream(2001)
    reads = AnsweringReads(receive, written_in)
    await send.send(refused)
    await send.send("next")
    with caplog.at_level(logging.WARNING, logger="magsag_mcp.mcp"):
        assert await reads.receive() == "next"
    answers = [written.receive_nowait().message for _ in range(2000)]
    assert [a.id for a in answers] == list(range(2000))
    said = [r.getMessage() for r in caplog.records if r.name == "magsag_mcp.mcp"]
    assert len(said) == 1, said[:3]
    assert "2000 requests" in said[0] and "0, 1, 2" in said[0] and "1999" not in said[0], said
