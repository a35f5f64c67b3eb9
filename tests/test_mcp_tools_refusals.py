"""MCP tools' error paths past the caller's input, through the SDK's in-memory client: governance's refusals
before any money is spent, targets that all failed, a bad catalog, unexpected exceptions and a stderr log that
redacts, and provider keys that never reach a tool result."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from mcp.client import Client

from magsag_mcp.mcp_server import build_server
from tests.mcp_tools_helpers import CATALOG, CLOSED, ENV, SECRET, Schemas, error_of

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("fake_scripts"), pytest.mark.usefixtures("restored_secrets")]


@pytest.fixture
async def client(db: Path):
    async with Client(build_server(catalog=CATALOG, db=db, env=ENV)) as c:
        yield c


@pytest.fixture
async def keyed(db: Path):
    """OpenAI configured (a key) but pointed at a closed loopback port: governance decides before any HTTP."""
    env = {**ENV, "OPENAI_API_KEY": SECRET, "OPENAI_BASE_URL": CLOSED}
    async with Client(build_server(catalog=CATALOG, db=db, env=env)) as c:
        yield c


async def test_policy_denied(keyed: Client):
    result = await keyed.call_tool(
        "invoke_skill",
        {
            "skill_id": "skill.analysis",
            "payload": {"data": "x"},
            "model_config": {"model": "openai:gpt-3.5-turbo"},
        },
    )
    err = error_of(result)
    assert err["last_error_type"] == "policy_denied" and err["policy"] == "production_models"
    assert "gpt-3.5-turbo" in err["message"] and "allowed_models" in err["message"]
    runs = await keyed.call_tool("query_runs", {"filters": {"status": "policy_denied"}})
    assert len(runs.structured_content["runs"]) == 1


async def test_budget_exceeded_before_any_money_is_spent(keyed: Client):
    result = await keyed.call_tool(
        "invoke_skill",
        {
            "skill_id": "skill.analysis",
            "payload": {"data": "x"},
            "model_config": {"model": "openai:gpt-4o", "max_tokens": 500_000},
        },
    )
    err = error_of(result)
    assert err["last_error_type"] == "budget_exceeded" and err["policy"] == "cost_limits"
    assert "call limit $1.0 would be exceeded" in err["message"]
    assert [a["outcome"] for a in err["attempts"]] == ["budget_exceeded"]  # refused at admission: no HTTP call
    budget = await keyed.call_tool("check_budget", {})
    assert budget.structured_content["status"] == "ok"


async def test_every_target_failed_carries_the_attempts(client: Client):
    result = await client.call_tool(
        "invoke_skill",
        {
            "skill_id": "skill.analysis",
            "payload": {"data": "x"},
            "model_config": {"model": "fake:fail-server_error", "fallbacks": ["fake:fail-quota_exhausted"]},
        },
    )
    err = error_of(result)
    assert err["type"] == "all_targets_failed" and err["last_error_type"] == "quota_exhausted"
    assert [a["model"] for a in err["attempts"]] == ["fail-server_error", "fail-server_error", "fail-quota_exhausted"]
    runs = await client.call_tool("query_runs", {"filters": {}})
    assert runs.structured_content["runs"][0]["status"] == "error"  # the failed call is recorded
    assert runs.structured_content["runs"][0]["error"]["type"] == "all_targets_failed"


async def test_every_target_failed_says_why_the_last_one_did_and_its_fix(client: Client):
    # An answer that is now an error (empty, or a tool call max_tokens cut) read "every target failed: fake:cut
    # malformed_response": why, and the fix (raise max_tokens), were only in the attempts' own messages, and the
    # message is what a model reads first, what str(e) gives the guide's fallback loop, and what the ledger keeps.
    from magsag_mcp.errors import MalformedResponseError
    from magsag_mcp.providers.fake import script

    why = "fake:cut returned tool-call arguments max_tokens cut before their JSON was complete; raise max_tokens"
    script("cut", MalformedResponseError(why))
    args = {"skill_id": "skill.analysis", "payload": {"data": "x"}, "model_config": {"model": "fake:cut"}}
    err = error_of(await client.call_tool("invoke_skill", args))
    assert err["type"] == "all_targets_failed"
    assert err["message"] == f"skill.analysis: every target failed: fake:cut malformed_response; last error: {why}"


async def test_a_run_that_failed_before_any_attempt_says_why(client: Client, schemas: Schemas):
    # No attempt carries the reason (the payload never reached a model): the run's row does.
    bad = await client.call_tool("invoke_skill", {"skill_id": "skill.analysis", "payload": {}, "run_id": "r-bad"})
    assert error_of(bad)["type"] == "invalid_payload"
    runs = schemas.check("query_runs", await client.call_tool("query_runs", {"filters": {"run_id": "r-bad"}}))["runs"]
    assert [(r["status"], r["attempts"]) for r in runs] == [("error", [])]
    assert runs[0]["error"]["type"] == "invalid_payload"
    assert runs[0]["error"]["message"].startswith("skill.analysis: payload is missing field 'data'")
    # a later call of the same run that succeeds does not erase why an earlier one failed
    ok = {
        "skill_id": "skill.analysis",
        "payload": {"data": "x", "model_config": {"model": "fake:a"}},
        "run_id": "r-bad",
    }
    assert not (await client.call_tool("invoke_skill", ok)).is_error
    runs = schemas.check("query_runs", await client.call_tool("query_runs", {"filters": {"run_id": "r-bad"}}))["runs"]
    assert runs[0]["error"]["type"] == "invalid_payload" and runs[0]["calls"] == 2


async def test_search_finds_the_error_of_a_call_that_failed_before_any_attempt(client: Client, schemas: Schemas):
    # query_runs shows why r-bad failed; search over errors must find it too (it has no attempt to match)
    bad = await client.call_tool("invoke_skill", {"skill_id": "skill.analysis", "payload": {}, "run_id": "r-bad"})
    assert error_of(bad)["type"] == "invalid_payload"
    hits = schemas.check("search_usage", await client.call_tool("search_usage", {"pattern": "missing field"}))["hits"]
    assert [(h["kind"], h["run_id"], h["error"]["type"], h["skill"]) for h in hits] == [
        ("run", "r-bad", "invalid_payload", "skill.analysis")
    ]
    # a failure made of attempts' failures is found in those attempts, not once more as its run
    failed = {"skill_id": "skill.analysis", "payload": {"data": "x", "model_config": {"model": "fake:fail-overloaded"}}}
    assert error_of(await client.call_tool("invoke_skill", failed))["type"] == "all_targets_failed"
    hits = schemas.check("search_usage", await client.call_tool("search_usage", {"pattern": "overloaded"}))["hits"]
    assert hits and {h["kind"] for h in hits} == {"attempt"}


async def test_text_that_is_not_unicode_is_refused_with_where_it_is_not_a_crash(client: Client, schemas: Schemas):
    # JSON may carry half of a surrogate pair ("\ud83d": an emoji cut in two); it cannot be stored nor sent.
    half = "cut \ud83d"
    for args, field in (
        ({"skill_id": "skill.analysis", "payload": {"data": "x"}, "agent": half}, "agent"),
        ({"skill_id": "skill.analysis", "payload": {"data": "x"}, "run_id": half}, "run_id"),
    ):
        err = error_of(await client.call_tool("invoke_skill", args))
        assert err["type"] == "input_error" and err["message"].startswith(f"{field} is not valid Unicode text")
    bad = {"skill_id": "skill.analysis", "payload": {"data": half}, "run_id": "r-half"}
    err = error_of(await client.call_tool("invoke_skill", bad))
    assert err["type"] == "invalid_payload" and "payload.data" in err["message"] and "U+D83D" in err["message"]
    # that failure is recorded, as an invalid payload is
    runs = schemas.check("query_runs", await client.call_tool("query_runs", {"filters": {"run_id": "r-half"}}))
    assert runs["runs"][0]["error"]["type"] == "invalid_payload"
    for name, args in (
        ("explain_route", {"skill_id": "skill.analysis", "payload": {"data": half}}),
        ("summarize_usage", {"filters": {"agent": half}}),
        ("query_runs", {"filters": {"skill": half}}),
        ("check_budget", {"agent": half}),
    ):
        err = error_of(await client.call_tool(name, args))
        assert err["type"] in ("input_error", "invalid_payload") and "not valid Unicode text" in err["message"], name


async def test_a_bad_catalog_is_a_clear_error_not_a_crash(tmp_path: Path):
    bad = tmp_path / "catalog"
    shutil.copytree(CATALOG, bad)
    (bad / "skills" / "analysis.yaml").write_text("id: skill.analysis\ndescription: [unclosed\n")
    async with Client(build_server(catalog=bad, db=tmp_path / "l.db", env=ENV)) as c:
        err = error_of(await c.call_tool("check_budget", {}))
        assert err["type"] == "catalog_error" and "analysis.yaml" in err["message"]


async def test_a_bad_catalog_says_the_server_reads_it_again_once_fixed(tmp_path: Path):
    """A desktop client's user, shown a catalog file to fix, was not told whether the server the client started had to
    be restarted to see the fix (it need not be: the next call reads the catalog again): the error says so, and names
    the command that lists every problem of that catalog."""
    bad = tmp_path / "catalog"
    shutil.copytree(CATALOG, bad)
    good = (bad / "skills" / "analysis.yaml").read_text()
    (bad / "skills" / "analysis.yaml").write_text("id: skill.analysis\ndescription: [unclosed\n")
    async with Client(build_server(catalog=bad, db=tmp_path / "l.db", env=ENV)) as c:
        err = error_of(await c.call_tool("list_skills", {}))
        assert err["type"] == "catalog_error" and "analysis.yaml" in err["message"]
        assert err["message"].endswith(
            "Fix the catalog and call again: this server reads it again at its next call, with no restart "
            f"(`magsag catalog validate --catalog {bad}` lists every problem)"
        )
        (bad / "skills" / "analysis.yaml").write_text(good)
        fixed = await c.call_tool("list_skills", {})
        assert not fixed.is_error and "skill.analysis" in {s["id"] for s in fixed.structured_content["skills"]}


async def test_a_tool_error_fits_the_output_schema_the_tool_published(tmp_path: Path):
    # The TypeScript SDK's client (VS Code, Cursor, the Inspector, ...) checks structuredContent against
    # the tool's output schema even when isError is set: a {"error": ...} that the schema did not admit
    # became "MCP error -32602: Structured content does not match the tool's output schema", and the
    # user never saw the error's message.
    bad = tmp_path / "catalog"
    shutil.copytree(CATALOG, bad)
    (bad / "skills" / "analysis.yaml").write_text("id: skill.analysis\ndescription: [unclosed\n")
    arguments = {
        "list_skills": {},
        "invoke_skill": {"skill_id": "skill.analysis", "payload": {"data": "x"}},
        "explain_route": {"skill_id": "skill.analysis", "payload": {"data": "x"}},
        "summarize_usage": {},
        "daily_usage": {},
        "query_runs": {},
        "check_budget": {},
        "search_usage": {"pattern": "x"},
        "continue_paused": {"paused_id": "paused_0123456789abcdef"},
    }
    async with Client(build_server(catalog=bad, db=tmp_path / "l.db", env=ENV)) as c:
        tools = {t.name: t for t in (await c.list_tools()).tools}
        assert set(tools) == set(arguments)
        for name, args in arguments.items():
            result = await c.call_tool(name, args)
            assert error_of(result)["type"] == "catalog_error", name
            jsonschema.Draft202012Validator(tools[name].output_schema).validate(result.structured_content)
            # and the schema still holds a result to every field it promises
            schema = tools[name].output_schema
            assert not jsonschema.Draft202012Validator(schema).is_valid({"unexpected": 1}), name


async def test_unexpected_exceptions_get_a_generic_message_and_a_logged_traceback(
    client: Client, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    from magsag_mcp.service import Service

    async def boom(self: Service, *a: Any, **k: Any) -> Any:
        raise RuntimeError(f"bug with {SECRET} inside")

    monkeypatch.setattr(Service, "check_budget", boom)
    with caplog.at_level(logging.ERROR, logger="magsag_mcp.mcp"):
        err = error_of(await client.call_tool("check_budget", {}))
    assert err == {"type": "internal_error", "message": err["message"]} and "server's log" in err["message"]
    record = next(r for r in caplog.records if r.name == "magsag_mcp.mcp")
    # the traceback is logged, already redacted (the record's exc_info becomes its redacted exc_text,
    # so no handler the application installs can format the original)
    assert "Traceback" in record.exc_text and "RuntimeError: bug with [REDACTED] inside" in record.exc_text
    assert SECRET not in record.exc_text and record.exc_info is None


def test_the_stderr_log_redacts_secrets_even_in_tracebacks():
    from magsag_mcp.errors import register_secret
    from magsag_mcp.mcp_server.__main__ import RedactingFormatter

    register_secret(SECRET)
    try:
        raise RuntimeError(f"failed with {SECRET}")
    except RuntimeError:
        record = logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "call failed", None, exc_info=__import__("sys").exc_info()
        )
    text = RedactingFormatter("%(message)s").format(record)
    assert "Traceback" in text and SECRET not in text and "[REDACTED]" in text


def test_the_stderr_log_cannot_be_forged_nor_drive_the_terminal_from_a_callers_names():
    from magsag_mcp.mcp_server.__main__ import RedactingFormatter

    # A failed call is logged at INFO with its message, which names the run and the agent the MCP client
    # chose: a line break in one wrote a log record of its own, an escape sequence went to the terminal.
    message = (
        "invoke_skill failed: budget_exceeded: limit for agent a\n2026-12-01 CRITICAL x: forged\x1b]52;c;aGk=\x07\r"
    )
    record = logging.LogRecord("magsag_mcp.mcp", logging.INFO, __file__, 1, message, None, None)
    text = RedactingFormatter("%(levelname)s %(name)s: %(message)s").format(record)
    # one line: the break written as JSON writes it (see test_mcp_call_log for a message of lines of its own)
    assert text == (
        "INFO magsag_mcp.mcp: invoke_skill failed: budget_exceeded: limit for agent a\\n2026-12-01 CRITICAL x: "
        "forged\\x1b]52;c;aGk=\\x07\\r"
    )
    assert not any(c in text for c in "\x1b\x07\r")
    try:
        raise RuntimeError("bug")
    except RuntimeError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, __import__("sys").exc_info())
    lines = RedactingFormatter("%(message)s").format(record).split("\n")
    assert lines[0] == "failed" and all(line.startswith("    ") for line in lines[1:])  # the traceback, indented


async def test_provider_keys_never_reach_a_tool_result(db: Path):
    env = {**ENV, "OPENAI_API_KEY": SECRET, "OPENAI_BASE_URL": CLOSED}
    async with Client(build_server(catalog=CATALOG, db=db, env=env)) as c:
        # A closed loopback port: the OpenAI provider is configured (with the key) and the call fails.
        result = await c.call_tool(
            "invoke_skill",
            {
                "skill_id": "skill.analysis",
                "payload": {"data": SECRET},
                "model_config": {"model": "openai:gpt-4o"},
            },
        )
        error_of(result)
        plan = await c.call_tool("explain_route", {"skill_id": "skill.analysis", "payload": {"data": "x"}})
        assert SECRET not in plan.content[0].text


async def test_a_search_for_a_key_does_not_echo_the_key_in_its_result(db: Path):
    # search_usage answers with the pattern it searched for: one holding the server's own API key (an operator
    # checking the ledger never kept it) came back whole in the result, where every error quoting a caller's text
    # redacts it (an invalid pattern holding the key is quoted "[REDACTED]").
    async with Client(build_server(catalog=CATALOG, db=db, env={**ENV, "OPENAI_API_KEY": SECRET})) as c:
        result = await c.call_tool("search_usage", {"pattern": SECRET})
        assert not result.is_error and SECRET not in str(result)
        assert result.structured_content["pattern"] == "[REDACTED]"
        assert (await c.call_tool("search_usage", {"pattern": "sk-[a-z]+"})).structured_content["pattern"] == (
            "sk-[a-z]+"
        )



async def test_an_answer_quoting_the_key_it_was_sent_with_reaches_the_client_without_it(db: Path):
    # An answer is passed on as it came, and was not looked at for keys: a server echoing the request's headers in its
    # answer (a gateway's debug mode, a test server) gave the operator's key whole to the MCP client, in the text and in
    # a tool call's arguments. The keys the process sends are removed; a token in the answer it never sent (code
    # showing a placeholder key or a bearer token) is the answer's own and is kept.
    from aiohttp import web
    from aiohttp.test_utils import TestServer

    own = "sk-example-0000000000000000EXAMPLE"

    async def answer(request: web.Request) -> web.Response:
        said = f"headers: {request.headers['Authorization']}; example: api_key = '{own}'; changeme"
        call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": json.dumps({"k": said})}}
        message = {"role": "assistant", "content": said, "tool_calls": [call]}
        return web.json_response({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o",
            "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
        })  # fmt: skip

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    # (a short key is a word as often as a key: a local server's "changeme" is not removed from an answer using it)
    env = {**ENV, "OPENAI_API_KEY": SECRET, "OPENAI_BASE_URL": str(server.make_url("/v1"))}
    env["MAGSAG_LOCAL_LLM_API_KEY"] = "changeme"
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    try:
        async with Client(build_server(catalog=CATALOG, db=db, env=env)) as c:
            args = {
                "skill_id": "skill.analysis",
                "payload": {"data": "x"},
                "model_config": {"model": "openai:gpt-4o", "tools": [tool]},
            }
            result = await c.call_tool("invoke_skill", args)
    finally:
        await server.close()
    assert not result.is_error, result.content[0].text
    out = result.structured_content
    assert SECRET not in result.content[0].text and SECRET not in json.dumps(out)
    assert out["output"] == f"headers: Bearer [REDACTED]; example: api_key = '{own}'; changeme"
    assert out["tool_calls"][0]["arguments"] == {"k": out["output"]}
    assert json.loads(result.content[0].text) == out


def test_the_stderr_logs_times_are_utc_with_their_offset_whatever_the_machines_zone(monkeypatch):
    import time as clock

    from magsag_mcp.mcp_server.__main__ import configure_logging

    # The ledger, its exports and every tool's times are UTC with their offset; the log line's time was the machine's
    # own, with none, so on a server in Kathmandu a call's log line read 5:45 hours off its record in the ledger.
    root = logging.getLogger()
    kept_handlers, kept_level = list(root.handlers), root.level
    monkeypatch.setenv("TZ", "Asia/Kathmandu")
    clock.tzset()
    try:
        configure_logging("INFO")
        formatter = root.handlers[-1].formatter
        record = logging.LogRecord("magsag_mcp.mcp", logging.INFO, __file__, 1, "serving", None, None)
        record.created, record.msecs = 1764460800.25, 250.0  # 2025-11-30T00:00:00.250Z
        assert formatter.format(record) == "2025-11-30T00:00:00.250+00:00 INFO magsag_mcp.mcp: serving"
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in kept_handlers:
            root.addHandler(handler)
        root.setLevel(kept_level)
        monkeypatch.undo()
        clock.tzset()
