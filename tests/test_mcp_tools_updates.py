"""What an MCP tool call says while it runs, through the SDK's in-memory client: progress for each attempt
and fallback, log levels per session, the wait and the streamed text's heartbeat, a result with half a surrogate
pair, and a misspelt context key."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.client import Client

from magsag_mcp.mcp_server import build_server
from tests.mcp_tools_helpers import CATALOG, CLOSED, ENV, SECRET, error_of

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("fake_scripts")]


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


# --- progress and logging ------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")  # logging/setLevel, on purpose
async def test_progress_reports_each_attempt_and_fallback_and_logging_level_filters(db: Path):
    logs: list[Any] = []

    async def on_log(params: Any) -> None:
        logs.append(params)

    # The handshake era (what desktop clients speak): progress tokens and logging/setLevel.
    async with Client(build_server(catalog=CATALOG, db=db, env=ENV), mode="legacy", logging_callback=on_log) as c:
        await c.set_logging_level("warning")
        progress: list[tuple[float, str | None]] = []

        async def on_progress(value: float, total: float | None, message: str | None) -> None:
            progress.append((value, message))

        args = {
            "skill_id": "skill.analysis",
            "payload": {"data": "x"},
            # a server error is retried on its target before the fallback (an overload goes to the fallback first)
            "model_config": {"model": "fake:fail-server_error", "fallbacks": ["fake:good"]},
        }
        result = await c.call_tool("invoke_skill", args, progress_callback=on_progress)
        assert not result.is_error
        messages = [m for _, m in progress]
        assert messages[:2] == ["starting", "calling fake:fail-server_error (candidate 1, try 1)"]
        assert any(m.startswith("retrying fake:fail-server_error") for m in messages)
        assert "falling back to fake:good (candidate 2 of 2)" in messages
        assert "calling fake:good (candidate 2, try 1)" in messages
        assert any(m.startswith("streaming:") for m in messages)
        assert [v for v, _ in progress] == sorted({v for v, _ in progress})  # strictly increasing
        assert {p.level for p in logs} == {"warning"}  # info (attempts) and notice (retries) filtered out

        logs.clear()
        await c.set_logging_level("debug")
        await c.call_tool("invoke_skill", args, progress_callback=on_progress)
        assert {"debug", "info", "notice", "warning"} <= {p.level for p in logs}
        assert all(p.logger == "magsag" for p in logs)

        logs.clear()
        progress.clear()
        # no progress token: no progress, but the log messages its level asks for (tests/test_mcp_client_logging.py)
        await c.call_tool("invoke_skill", args)
        assert progress == [] and {"debug", "info", "notice", "warning"} <= {p.level for p in logs}


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_a_call_that_waits_long_says_so_and_its_failures_stay_tool_errors(db: Path, mode: str, monkeypatch):
    # A client times a request out unless progress restarts the clock (the MCP Inspector after 10 s; the spec's
    # advice). A slow model (a reasoning model, a long prompt's first token) or a vendor's Retry-After kept the
    # call silent after its "calling ..." for as long as it took: such a client cancelled a call being paid for.
    # Now a call that has said nothing for a while says it is still waiting, and on what.
    from magsag_mcp.mcp_server import progress as progress_module

    monkeypatch.setattr(progress_module, "HEARTBEAT_SECONDS", 0.01)
    heard = anyio.Event()
    progress: list[tuple[float, str | None]] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, message))
        if message and message.startswith("still waiting"):
            heard.set()

    slow = {"model": "fake:slow", "params": {"latency_ms": 600_000}}
    args = {"skill_id": "skill.analysis", "payload": {"data": "x"}, "run_id": "r-slow", "model_config": slow}
    async with Client(build_server(catalog=CATALOG, db=db, env=ENV), mode=mode) as c:
        with anyio.fail_after(60):  # a hang guard, not a timing assertion
            async with anyio.create_task_group() as tg:
                tg.start_soon(functools.partial(c.call_tool, "invoke_skill", args, progress_callback=on_progress))
                await heard.wait()
                tg.cancel_scope.cancel()
        messages = [m for _, m in progress]
        assert messages[:2] == ["starting", "calling fake:slow (candidate 1, try 1)"]
        assert messages[-1].startswith("still waiting after ") and messages[-1].endswith(
            ": calling fake:slow (candidate 1, try 1)"
        )
        assert [v for v, _ in progress] == sorted({v for v, _ in progress})  # strictly increasing
        runs = (await c.call_tool("query_runs", {"filters": {"run_id": "r-slow"}})).structured_content["runs"]
        assert [r["status"] for r in runs] == ["cancelled"]  # the cancelled call was recorded
        # a failure of a call that beats is the tool error it is, not an internal error
        failing = {**args, "run_id": None, "model_config": {"model": "fake:fail-bad_request"}}
        err = error_of(await c.call_tool("invoke_skill", failing, progress_callback=on_progress))
        assert err["type"] == "all_targets_failed"


async def test_an_in_process_client_of_the_2026_era_gets_progress_for_its_callback(db: Path):
    # The SDK's in-process client (Client(server), 2026-07-28 by default) sends no progress token: the SDK
    # hands the server's progress straight to the caller's callback. Before, the server looked for a token
    # only, so such a caller got no progress at all (and its call was not streamed).
    progress: list[tuple[float, str | None]] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, message))

    args = {
        "skill_id": "skill.analysis",
        "payload": {"data": "x"},
        "model_config": {"model": "fake:fail-overloaded", "fallbacks": ["fake:good"]},
    }
    async with Client(build_server(catalog=CATALOG, db=db, env=ENV)) as c:
        result = await c.call_tool("invoke_skill", args, progress_callback=on_progress)
        assert not result.is_error
        messages = [m for _, m in progress]
        assert messages[:2] == ["starting", "calling fake:fail-overloaded (candidate 1, try 1)"]
        assert "falling back to fake:good (candidate 2 of 2)" in messages
        assert messages[-1].startswith("streaming:")  # the answer came streamed, and nothing after it
        assert [v for v, _ in progress] == sorted({v for v, _ in progress})  # strictly increasing

        progress.clear()
        await c.call_tool("invoke_skill", args)  # no callback: nothing reported
        assert progress == []


async def test_a_tool_caller_cannot_point_the_operators_key_elsewhere(keyed: Client):
    # Without this check, base_url would carry OPENAI_API_KEY to whatever host the caller names.
    result = await keyed.call_tool(
        "invoke_skill",
        {
            "skill_id": "skill.analysis",
            "payload": {"data": "x"},
            "model_config": {"model": "openai:gpt-4o", "base_url": "https://collector.example.net/v1"},
        },
    )
    err = error_of(result)
    assert err["type"] == "invalid_payload" and "MAGSAG_ALLOWED_BASE_URLS" in err["message"]
    assert SECRET not in str(result)


@pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")  # logging/setLevel, on purpose
async def test_log_levels_are_per_client_session(db: Path):
    # One server, two clients (as over streamable HTTP): one asks for debug, the other for errors only.
    server = build_server(catalog=CATALOG, db=db, env=ENV)
    chatty: list[Any] = []
    quiet: list[Any] = []

    async def on_chatty(params: Any) -> None:
        chatty.append(params)

    async def on_quiet(params: Any) -> None:
        quiet.append(params)

    args = {
        "skill_id": "skill.analysis",
        "payload": {"data": "x"},
        "model_config": {"model": "fake:fail-overloaded", "fallbacks": ["fake:good"]},
    }

    async def ignore(value: float, total: float | None, message: str | None) -> None:
        return None

    async with (
        Client(server, mode="legacy", logging_callback=on_chatty) as a,
        Client(server, mode="legacy", logging_callback=on_quiet) as b,
    ):
        await a.set_logging_level("debug")
        await b.set_logging_level("error")
        await a.call_tool("invoke_skill", args, progress_callback=ignore)
        await b.call_tool("invoke_skill", args, progress_callback=ignore)
    assert {"debug", "info"} <= {p.level for p in chatty}
    assert quiet == []


def test_a_result_with_half_a_surrogate_pair_is_still_sent():
    # A vendor's text answer may carry "\ud83d" (an emoji cut in two; JSON escapes it). The result could not be
    # serialized as UTF-8: the client, its call paid for, got no answer at all. It goes with U+FFFD instead.
    from pydantic import BaseModel

    from magsag_mcp.mcp_server.tool_results import ok_result

    class Out(BaseModel):
        output: str
        trace: dict[str, Any]

    result = ok_result(Out(output="half \ud83d of it", trace={"warnings": ["x\udc00"], "ok": "😀"}))
    sent = json.loads(result.model_dump_json(by_alias=True))
    assert sent["structuredContent"] == {"output": "half \ufffd of it", "trace": {"warnings": ["x\ufffd"], "ok": "😀"}}
    assert json.loads(sent["content"][0]["text"]) == sent["structuredContent"]


class StubContext:
    """What ProgressBridge asks of the SDK's Context: each progress message it reports, and an event set once it has
    reported ``until`` of them."""

    class request_context:
        protocol_version, session, meta = "2025-06-18", None, None

    def __init__(self, until: int) -> None:
        self.said: list[str] = []
        self.until = until
        self.heard = anyio.Event()

    async def report_progress(self, progress: float, total: float | None, message: str) -> None:
        self.said.append(message)
        if len(self.said) >= self.until:
            self.heard.set()

    async def log(self, *args: Any, **kwargs: Any) -> None:
        pass


async def test_a_slow_stream_s_heartbeat_says_how_much_came_not_that_the_call_is_waiting(monkeypatch):
    # Streamed text is reported once per DELTA_STEP characters. A slow model (a local one at a few tokens a
    # second) delivers less than that between heartbeats, which said "still waiting ...: calling ..." while the
    # answer was coming in. The heartbeat now reports what has come.
    from magsag_mcp.mcp_server import progress as progress_module

    monkeypatch.setattr(progress_module, "HEARTBEAT_SECONDS", 0.01)
    ctx = StubContext(until=4)
    bridge = progress_module.ProgressBridge(ctx, progress_module.ClientLog())  # type: ignore[arg-type]
    with anyio.fail_after(60):  # a hang guard, not a timing assertion
        async with bridge.beating():
            await bridge("attempt", {"target": "local:llama3.1", "position": 0, "try": 1})
            await bridge("delta", {"chars": 12, "text": "The answer i"})
            await bridge("delta", {"chars": 40, "text": "s coming in slowly, a few words a se"})
            await ctx.heard.wait()
    assert ctx.said[:4] == [
        "starting",
        "calling local:llama3.1 (candidate 1, try 1)",
        "streaming: 12 characters received",
        "streaming: 40 characters received",
    ]
    assert all(m.startswith("still waiting after ") for m in ctx.said[4:])  # and nothing new came after it


async def test_a_call_that_began_beating_late_is_not_failed_by_its_heartbeat(monkeypatch):
    # The bridge is made before the service opens (the first call opens it: the catalog, the ledger and its
    # migrations, a write lock another process holds), and a report may wait on a client slow to read. Either
    # longer than a heartbeat made the heartbeat's next wait negative: anyio refused it (ValueError), the task
    # group cancelled the call being paid for, and the client got an internal error.
    from magsag_mcp.mcp_server import progress as progress_module

    monkeypatch.setattr(progress_module, "HEARTBEAT_SECONDS", 0.01)
    ctx = StubContext(until=2)
    bridge = progress_module.ProgressBridge(ctx, progress_module.ClientLog())  # type: ignore[arg-type]
    await anyio.sleep(0.05)  # the service opening: longer than a heartbeat
    with anyio.fail_after(60):  # a hang guard, not a timing assertion
        async with bridge.beating():
            await ctx.heard.wait()
    assert ctx.said[0] == "starting"
    assert ctx.said[1].startswith("still waiting after ") and ctx.said[1].endswith(": starting")


async def test_a_resend_is_said_in_progress_and_is_what_the_heartbeat_then_waits_on(monkeypatch):
    # A target that refused a setting (a strict tool's schema, a temperature) is sent the call again without it:
    # progress said nothing of it, and the heartbeat went on saying the call waited on its first try.
    from magsag_mcp.mcp_server import progress as progress_module

    monkeypatch.setattr(progress_module, "HEARTBEAT_SECONDS", 0.01)
    ctx = StubContext(until=4)
    bridge = progress_module.ProgressBridge(ctx, progress_module.ClientLog())  # type: ignore[arg-type]
    with anyio.fail_after(60):  # a hang guard, not a timing assertion
        async with bridge.beating():
            await bridge("attempt", {"target": "openai:gpt-4o", "position": 0, "try": 1})
            reason = "refused 'temperature' (Unsupported value): sending it again without it"
            await bridge("resend", {"target": "openai:gpt-4o", "reason": reason})
            await ctx.heard.wait()
    said = "openai:gpt-4o refused 'temperature' (Unsupported value): sending it again without it"
    assert ctx.said[:3] == ["starting", "calling openai:gpt-4o (candidate 1, try 1)", said]
    assert ctx.said[3].startswith("still waiting after ") and ctx.said[3].endswith(f": {said}")


async def test_a_restart_of_the_streamed_text_is_said_and_the_text_after_it_counted_from_its_start():
    # A local reasoning model's thinking that its chat template opened is known for thinking only at its end: the
    # service then says the text streamed was not the answer ("restart"), and the answer's text streams from its start.
    from magsag_mcp.mcp_server import progress as progress_module

    ctx = StubContext(until=99)
    bridge = progress_module.ProgressBridge(ctx, progress_module.ClientLog())  # type: ignore[arg-type]
    await bridge("attempt", {"target": "local:deepseek-r1", "position": 0, "try": 1})
    await bridge("delta", {"chars": 900, "text": "t" * 900})
    await bridge("restart", {"chars": 900, "reason": "the model's inline thinking, which the answer leaves out"})
    await bridge("delta", {"chars": 600, "text": "a" * 600})
    assert ctx.said[1:] == [
        "streaming: 900 characters received",
        "streaming: the 900 characters received were not the answer (the model's inline thinking, which the answer "
        "leaves out); it starts again",
        "streaming: 600 characters received",
    ]


async def test_one_character_streamed_is_said_in_the_singular():
    # "streaming: 1 characters received", as `magsag demo` prints the progress of a call whose answer began
    from magsag_mcp.mcp_server import progress as progress_module

    ctx = StubContext(until=99)
    bridge = progress_module.ProgressBridge(ctx, progress_module.ClientLog())  # type: ignore[arg-type]
    await bridge("attempt", {"target": "local:deepseek-r1", "position": 0, "try": 1})
    await bridge("delta", {"chars": 1, "text": "t"})
    await bridge("restart", {"chars": 1, "reason": "the model's inline thinking, which the answer leaves out"})
    assert ctx.said[1:] == [
        "streaming: 1 character received",
        "streaming: the 1 character received was not the answer (the model's inline thinking, which the answer "
        "leaves out); it starts again",
    ]


async def test_a_misspelt_context_key_is_refused_in_the_words_the_cli_and_python_use(client: Client, db: Path):
    """invoke_skill refused context={"preferred_modle": ...} where `magsag invoke --context` and skills.invoke sent the
    call and warned after it was paid for. All three refuse it now, each naming the key and the one it means alike."""
    from magsag_mcp.errors import PayloadError
    from magsag_mcp.service import Service

    arguments = {"skill_id": "skill.analysis", "payload": {"data": "x"}, "context": {"preferred_modle": "m"}}
    err = error_of(await client.call_tool("invoke_skill", arguments))
    assert "unknown argument 'context.preferred_modle' (did you mean 'preferred_model'?)" in err["message"]
    async with Service.open(catalog=CATALOG, db=db, env=ENV) as service:  # what the CLI and the Python API call
        with pytest.raises(PayloadError) as refused:
            await service.invoke_skill("skill.analysis", {"data": "x"}, context={"preferred_modle": "m"})
    assert refused.value.message.startswith("unknown context key 'preferred_modle' (did you mean 'preferred_model'?)")


async def test_llm_overrides_written_in_the_payload_is_pointed_at_the_argument_mcp_takes(client: Client):
    # The warning said "a call's llm_overrides goes in context['llm_overrides']": an MCP client that wrote it there
    # was refused (invoke_skill's context takes preferred_model, tier and data_class; its keys go in model_config)
    args = {"skill_id": "skill.analysis", "payload": {"data": "x", "llm_overrides": {"model": "fake:y"}}}
    result = await client.call_tool("invoke_skill", args)
    assert not result.is_error, result.content[0].text
    said = [w for w in result.structured_content["warnings"] if "'llm_overrides'" in w]
    assert said and "invoke_skill's: its model_config argument" in said[0], said
    # and the fix it names is taken
    fixed = {"skill_id": "skill.analysis", "payload": {"data": "x"}, "model_config": {"model": "fake:y"}}
    assert (await client.call_tool("invoke_skill", fixed)).structured_content["model"] == "y"


async def test_an_empty_data_class_is_refused_with_both_fixes(client: Client):
    # An empty tier or preferred_model (a form's field left blank) says nothing; an empty data_class is refused, as a
    # class the caller meant and lost would send its data wherever routing goes. The refusal named only one fix
    # ("must be a data class name such as 'pii_processing'"): the client that meant none was not told to leave it out
    args = {"skill_id": "skill.analysis", "payload": {"data": "x"}, "context": {"data_class": ""}}
    err = error_of(await client.call_tool("invoke_skill", args))
    assert err["type"] == "invalid_payload", err
    assert err["message"].endswith("such as 'pii_processing'; leave it out to declare none"), err["message"]
