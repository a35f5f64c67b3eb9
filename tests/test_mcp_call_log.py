"""The server logs one line for each invoke_skill call, answered or failed, naming its skill, run, agent, the model
that answered, its cost and time (fields of the line with --log-format json), and nothing of the prompt or answer:
an operator of a shared server had no line at all for a call that answered, and a failure's named no run to find
it by in the ledger."""

from __future__ import annotations

import functools
import json
import logging
import re
from pathlib import Path

import anyio
import pytest
from mcp.client import Client

from magsag_mcp.mcp_server import build_server
from magsag_mcp.mcp_server.log_format import JsonFormatter, RedactingFormatter
from tests.fakes import openai_replies as R
from tests.fakes.openai_server import DEFAULT_KEY, FakeOpenAI
from tests.mcp_tools_helpers import CATALOG, error_of

pytestmark = pytest.mark.anyio

PROMPT = "quarterly numbers 4711"
ARGS = {
    "skill_id": "skill.analysis",
    "payload": {"data": PROMPT, "model_config": {"provider": "openai", "model": "gpt-4o"}},
}


def _env(fake: FakeOpenAI) -> dict[str, str]:
    return {"OPENAI_BASE_URL": fake.url + "/v1", "OPENAI_API_KEY": DEFAULT_KEY, "MAGSAG_MAX_RETRIES": "0"}


def _call_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "magsag_mcp.mcp" and getattr(r, "tool", None) == "invoke_skill"]


async def test_each_answered_call_is_one_line_with_its_run_agent_model_cost_and_time(
    fake_openai: FakeOpenAI, db: Path, caplog: pytest.LogCaptureFixture
):
    fake_openai.queue(R.Reply(text="fine", usage=R.tokens(1000, 100)))
    fake_openai.queue(R.Reply(text="fine again"))
    with caplog.at_level(logging.INFO, logger="magsag_mcp.mcp"):
        async with Client(build_server(catalog=CATALOG, db=db, env=_env(fake_openai))) as client:
            first = (await client.call_tool("invoke_skill", {**ARGS, "agent": "ops-team"})).structured_content
            await client.call_tool("invoke_skill", ARGS)
    lines = _call_lines(caplog)
    assert len(lines) == 2, [r.getMessage() for r in caplog.records]
    assert first is not None
    record = lines[0]
    assert record.levelno == logging.INFO
    text = RedactingFormatter("%(message)s").format(record)
    assert text == (
        f"invoke_skill answered: skill skill.analysis, run {first['run_id']}, agent ops-team, openai "
        f"{first['model']}, cost {first['cost_usd']} USD, {round(first['latency_ms'])} ms"
    )
    entry = json.loads(JsonFormatter().format(record))
    assert {k: entry[k] for k in ("tool", "outcome", "skill", "run_id", "agent", "provider", "model", "cost_usd")} == {
        "tool": "invoke_skill",
        "outcome": "ok",
        "skill": "skill.analysis",
        "run_id": first["run_id"],
        "agent": "ops-team",
        "provider": "openai",
        "model": first["model"],
        "cost_usd": first["cost_usd"],
    }
    assert entry["latency_ms"] == round(first["latency_ms"])
    # a call naming no agent says so; neither line holds the prompt or the answer
    assert "agent (none)," in lines[1].getMessage() and json.loads(JsonFormatter().format(lines[1]))["agent"] is None
    for line in lines:
        assert PROMPT not in JsonFormatter().format(line) and "fine" not in JsonFormatter().format(line)


async def test_a_failed_call_names_its_run_and_the_pinned_agent(
    fake_openai: FakeOpenAI, db: Path, caplog: pytest.LogCaptureFixture
):
    fake_openai.queue(R.error(400, "bad things"))
    with caplog.at_level(logging.INFO, logger="magsag_mcp.mcp"):
        async with Client(build_server(catalog=CATALOG, db=db, env=_env(fake_openai), agent="research-bot")) as client:
            err = error_of(await client.call_tool("invoke_skill", ARGS))
    [record] = _call_lines(caplog)
    assert err["run_id"]
    message = record.getMessage()
    assert message.startswith(f"invoke_skill failed: {err['type']}: ")
    assert message.endswith(f" (skill skill.analysis, run {err['run_id']}, agent research-bot)")
    entry = json.loads(JsonFormatter().format(record))
    assert {k: entry[k] for k in ("tool", "outcome", "error_type", "skill", "run_id", "agent")} == {
        "tool": "invoke_skill",
        "outcome": "error",
        "error_type": err["type"],
        "skill": "skill.analysis",
        "run_id": err["run_id"],
        "agent": "research-bot",
    }


async def test_a_refused_call_names_the_run_it_was_recorded_under(db: Path, caplog: pytest.LogCaptureFixture):
    """Refused before anything is sent (a skill the catalog lacks), the call is still recorded, and its line names that
    record's run."""
    with caplog.at_level(logging.INFO, logger="magsag_mcp.mcp"):
        async with Client(build_server(catalog=CATALOG, db=db, env={})) as client:
            err = error_of(await client.call_tool("invoke_skill", {**ARGS, "skill_id": "skill.nope"}))
    [record] = _call_lines(caplog)
    assert err["run_id"] and record.getMessage().endswith(f" (skill skill.nope, run {err['run_id']}, agent (none))")
    assert json.loads(JsonFormatter().format(record))["error_type"] == err["type"]


@pytest.mark.usefixtures("fake_scripts")
async def test_a_cancelled_call_is_one_line_naming_the_run_the_ledger_records_it_under(
    catalog_copy: Path, db: Path, caplog: pytest.LogCaptureFixture
):
    """A client that cancels its call (notifications/cancelled, the SDK's in-memory client) left no line at all: the
    line says cancelled, with the same fields, and the run it names is the one the ledger holds, cancelled. The call
    names no run: the line's is the one made for it."""
    from tests.governance_helpers import prices
    from tests.mcp_tools_helpers import ENV

    prices(catalog_copy, '"fake:*": {input: 100, output: 100}\n')  # priced: its worst case is reserved while in flight
    slow = {"model": "fake:slow", "params": {"latency_ms": 600_000}, "max_tokens": 1000}  # never answers meanwhile
    args = {"skill_id": "skill.analysis", "payload": {"data": PROMPT}, "agent": "bob", "model_config": slow}
    with caplog.at_level(logging.INFO, logger="magsag_mcp.mcp"):
        async with Client(build_server(catalog=catalog_copy, db=db, env=ENV)) as client:
            with anyio.fail_after(60):  # a hang guard, not a timing assertion
                async with anyio.create_task_group() as tg:
                    tg.start_soon(functools.partial(client.call_tool, "invoke_skill", args))
                    while True:  # until the call is in flight: its worst case reserved
                        await anyio.sleep(0.01)
                        status = (await client.call_tool("check_budget", {"agent": "bob"})).structured_content
                        if any(lim["reserved_usd"] != "0" for lim in status["limits"]):
                            break
                    tg.cancel_scope.cancel()  # the SDK sends notifications/cancelled for the request
                while not _call_lines(caplog):  # said as the server's handler unwinds
                    await anyio.sleep(0.01)
            [record] = _call_lines(caplog)
            runs = (await client.call_tool("query_runs", {"filters": {"agent": "bob"}})).structured_content
            after = (await client.call_tool("check_budget", {"agent": "bob"})).structured_content
    [run] = runs["runs"]
    assert run["status"] == "cancelled" and [a["error_class"] for a in run["attempts"]] == ["cancelled"]
    assert all(lim["reserved_usd"] == "0" for lim in after["limits"]), after  # its reservation released
    assert re.fullmatch(r"run-[0-9a-f]{16}", run["run_id"])  # the tool's run id is the service's in shape
    assert record.levelno == logging.INFO
    message = record.getMessage()
    assert message.startswith(f"invoke_skill cancelled: skill skill.analysis, run {run['run_id']}, agent bob, after ")
    entry = json.loads(JsonFormatter().format(record))
    assert {k: entry[k] for k in ("tool", "outcome", "skill", "run_id", "agent")} == {
        "tool": "invoke_skill",
        "outcome": "cancelled",
        "skill": "skill.analysis",
        "run_id": run["run_id"],
        "agent": "bob",
    }
    assert isinstance(entry["latency_ms"], int) and PROMPT not in JsonFormatter().format(record)


async def test_a_failure_whose_message_spans_lines_is_one_line_of_the_text_log(
    catalog_copy: Path, db: Path, caplog: pytest.LogCaptureFixture
):
    """A call whose targets one policy forbade says them a line each and the shared refusal beneath
    (skipped_said): the text log wrote those lines as they were, indented, so the line naming the call's run was
    the record's last, without its time, level or logger, and a tool reading a record a line (grep, a collector)
    lost the rest. The message is one line of the log, its breaks written as JSON writes them; a traceback keeps
    its own lines, indented."""
    from magsag_mcp.mcp_server.log_format import TEXT_LINE

    (catalog_copy / "policies" / "model_governance.yaml").write_text(
        "policies:\n  - name: production_models\n    allowed_models: [gpt-4o-mini-2024-07-18]\n"
    )
    with caplog.at_level(logging.INFO, logger="magsag_mcp.mcp"):
        async with Client(build_server(catalog=catalog_copy, db=db, env={})) as client:
            err = error_of(await client.call_tool("invoke_skill", {**ARGS, "payload": {"data": PROMPT}}))
    assert err["type"] == "policy_denied" and "\n  each: policy 'production_models' forbids it" in err["message"]
    [record] = _call_lines(caplog)
    text = RedactingFormatter(TEXT_LINE).format(record)
    assert text.splitlines() == [text], text
    assert " INFO magsag_mcp.mcp: invoke_skill failed: policy_denied: skill.analysis: every target failed:\\n- " in text
    assert "\\n  each: policy 'production_models' forbids it" in text
    assert text.endswith(f" (skill skill.analysis, run {err['run_id']}, agent (none))"), text
    # nor can a line or paragraph separator (a line break to Python's splitlines and to a JavaScript reader) split it
    separated = logging.makeLogRecord({**vars(record), "msg": record.getMessage() + "\u2028forged\u2029", "args": None})
    said = RedactingFormatter(TEXT_LINE).format(separated)
    assert said.splitlines() == [said] and said.endswith("agent (none))\\u2028forged\\u2029"), said


async def test_an_empty_agent_is_logged_as_none_as_it_is_recorded(
    fake_openai: FakeOpenAI, db: Path, caplog: pytest.LogCaptureFixture
):
    """`"agent": ""` (a client filling every optional field) names no agent: the service records the call under none
    (as check_budget reads it), and its lines said "agent ," (the JSON field "") for a call the ledger holds as
    agent-less, which an operator reading the log could not match to the ledger's rows."""
    fake_openai.queue(R.Reply(text="fine"))
    with caplog.at_level(logging.INFO, logger="magsag_mcp.mcp"):
        async with Client(build_server(catalog=CATALOG, db=db, env=_env(fake_openai))) as client:
            answered = (await client.call_tool("invoke_skill", {**ARGS, "agent": ""})).structured_content
            err = error_of(await client.call_tool("invoke_skill", {**ARGS, "skill_id": "skill.nope", "agent": ""}))
            [run] = (
                await client.call_tool("query_runs", {"filters": {"run_id": answered["run_id"]}})
            ).structured_content["runs"]
    assert run["agent"] is None
    ok_line, failed_line = _call_lines(caplog)
    assert f"run {answered['run_id']}, agent (none)," in ok_line.getMessage()
    assert failed_line.getMessage().endswith(f" (skill skill.nope, run {err['run_id']}, agent (none))")
    for line in (ok_line, failed_line):
        assert json.loads(JsonFormatter().format(line))["agent"] is None
