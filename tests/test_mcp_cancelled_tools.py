"""A client cancelling any tool's call (notifications/cancelled, through the SDK's in-memory client): one line in the
server's log, naming the tool and its time, and what the call held let go. Only invoke_skill's was said before; a
client timing out on a slow ledger read, or on a service still opening, left no trace. An invoke_skill call cancelled
before the service recorded it names no run: the run id it was given was one the ledger does not hold."""

from __future__ import annotations

import functools
import json
import logging
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.client import Client

from magsag_mcp.mcp_server import build_server
from magsag_mcp.mcp_server.log_format import JsonFormatter
from magsag_mcp.mcp_server.server import server_state
from magsag_mcp.service import Service
from tests.mcp_tools_helpers import CATALOG, ENV

pytestmark = pytest.mark.anyio

#: every tool but invoke_skill, with arguments it takes
TOOL_CALLS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("list_skills", {}),
    ("explain_route", {"skill_id": "skill.analysis", "payload": {"data": "x"}}),
    ("summarize_usage", {}),
    ("daily_usage", {}),
    ("query_runs", {}),
    ("search_usage", {"pattern": "overloaded"}),
    ("check_budget", {"agent": "ana"}),
)


def _cancelled_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "magsag_mcp.mcp" and getattr(r, "outcome", None) == "cancelled"]


@pytest.fixture
def open_held(monkeypatch: pytest.MonkeyPatch) -> anyio.Event:
    """The service's first open waits (a hung volume) until its call is cancelled; the next opens as ever. The event is
    set once the first open waits."""
    waiting = anyio.Event()
    real_open = Service.open
    first = [True]

    async def open_after_a_hang(*args: Any, **kwargs: Any) -> Service:
        if first[0]:
            first[0] = False
            waiting.set()
            await anyio.sleep_forever()
        return await real_open(*args, **kwargs)

    monkeypatch.setattr(Service, "open", open_after_a_hang)
    return waiting


async def _cancel_while_opening(client: Client, waiting: anyio.Event, name: str, args: dict[str, Any]) -> None:
    with anyio.fail_after(60):  # a hang guard, not a timing assertion
        async with anyio.create_task_group() as tg:
            tg.start_soon(functools.partial(client.call_tool, name, args))
            await waiting.wait()
            tg.cancel_scope.cancel()  # the SDK sends notifications/cancelled for the request


async def _wait_for_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    with anyio.fail_after(60):  # (said as the server's handler unwinds)
        while not _cancelled_lines(caplog):
            await anyio.sleep(0.01)
    return _cancelled_lines(caplog)


@pytest.mark.parametrize(("name", "args"), TOOL_CALLS, ids=[name for name, _ in TOOL_CALLS])
async def test_a_cancelled_call_of_any_tool_is_one_line_and_lets_go_of_the_service_open(
    db: Path, caplog: pytest.LogCaptureFixture, open_held: anyio.Event, name: str, args: dict[str, Any]
):
    server = build_server(catalog=CATALOG, db=db, env=ENV)
    with caplog.at_level(logging.INFO, logger="magsag_mcp.mcp"):
        async with Client(server) as client:
            await _cancel_while_opening(client, open_held, name, args)
            [record] = await _wait_for_lines(caplog)
            assert not server_state(server)._lock.locked()  # the open's lock let go with the call
            with anyio.fail_after(60):  # the same call again opens the service and answers (a hang guard)
                again = await client.call_tool(name, args)
    assert not again.is_error, again.content
    assert record.levelno == logging.INFO
    message = record.getMessage()
    assert message.startswith(f"{name} cancelled: after ") and message.endswith(" ms"), message
    entry = json.loads(JsonFormatter().format(record))
    assert entry["tool"] == name and entry["outcome"] == "cancelled" and isinstance(entry["latency_ms"], int)
    assert "run_id" not in entry


async def test_an_invoke_skill_cancelled_before_it_was_recorded_names_no_run(
    db: Path, caplog: pytest.LogCaptureFixture, open_held: anyio.Event
):
    """Cancelled while the service opened, the call was never recorded, and its line named the run id made for it (or
    the one it named), which no query finds: it names none now, and says why."""
    args = {"skill_id": "skill.analysis", "payload": {"data": "x"}, "agent": "bob", "run_id": "r-never"}
    with caplog.at_level(logging.INFO, logger="magsag_mcp.mcp"):
        async with Client(build_server(catalog=CATALOG, db=db, env=ENV)) as client:
            await _cancel_while_opening(client, open_held, "invoke_skill", args)
            [record] = await _wait_for_lines(caplog)
            runs = (await client.call_tool("query_runs", {"filters": {"agent": "bob"}})).structured_content
    assert runs is not None and runs["runs"] == []  # the ledger holds no run of it: the line names none
    message = record.getMessage()
    assert message.startswith("invoke_skill cancelled: skill skill.analysis, run (none), agent bob, after "), message
    assert "before it was recorded" in message and "r-never" not in message
    entry = json.loads(JsonFormatter().format(record))
    assert {k: entry[k] for k in ("tool", "outcome", "skill", "run_id", "agent")} == {
        "tool": "invoke_skill",
        "outcome": "cancelled",
        "skill": "skill.analysis",
        "run_id": None,
        "agent": "bob",
    }


@pytest.mark.parametrize("with_progress", [False, True], ids=["plain", "progress"])
async def test_an_invoke_skill_cancelled_once_recorded_ok_is_said_answered_as_the_ledger_holds_it(
    db: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, with_progress: bool
):
    """A call whose answer's record was handed to the ledger as ok, cancelled while it waited for the write's end (a
    group commit shared with other calls; with progress, its heartbeat's stop after it): its line said "cancelled" of
    a run the ledger holds as ok. It says answered now, as the ledger does, and that its client cancelled. Nothing is
    shielded: the cancel unwinds the call at once (a hung volume's write holds no client's cancel). The write is held
    here, once made, until the client's cancel has reached the server."""
    from mcp.shared import jsonrpc_dispatcher

    cancel_arrived, committed = anyio.Event(), anyio.Event()
    real_request_id = jsonrpc_dispatcher.cancelled_request_id_from_params

    def noted(params: Any) -> Any:
        cancel_arrived.set()  # (the dispatcher cancels the call's scope on its return, in the same step)
        return real_request_id(params)

    monkeypatch.setattr(jsonrpc_dispatcher, "cancelled_request_id_from_params", noted)
    server = build_server(catalog=CATALOG, db=db, env=ENV)
    args = {"skill_id": "skill.analysis", "payload": {"data": "x", "model_config": {"model": "fake:echo"}}}
    args |= {"agent": "bob", "run_id": "r-ok"}
    with caplog.at_level(logging.INFO, logger="magsag_mcp.mcp"):
        async with Client(server) as client:
            ledger = (await server_state(server).service()).ledger
            real_record = ledger.record_call

            async def held_once_written(*a: Any, **k: Any) -> Any:
                written = await real_record(*a, **k)
                committed.set()
                with anyio.fail_after(60):  # a hang guard: the cancel cuts this wait (not a timing assertion)
                    await cancel_arrived.wait()
                    await anyio.sleep_forever()
                return written

            monkeypatch.setattr(ledger, "record_call", held_once_written)

            async def progressed(*_: Any) -> None:
                pass

            call = functools.partial(
                client.call_tool, "invoke_skill", args, progress_callback=progressed if with_progress else None
            )
            with anyio.fail_after(60):  # hang guards, not timing assertions
                async with anyio.create_task_group() as tg:
                    tg.start_soon(call)
                    await committed.wait()
                    tg.cancel_scope.cancel()  # the SDK sends notifications/cancelled for the request
                while not [r for r in caplog.records if getattr(r, "outcome", None) in ("ok", "cancelled")]:
                    await anyio.sleep(0.01)  # (its line, said as the server's handler unwinds)
            monkeypatch.setattr(ledger, "record_call", real_record)
            runs = (await client.call_tool("query_runs", {"filters": {"agent": "bob"}})).structured_content
    assert runs is not None and [(r["run_id"], r["status"]) for r in runs["runs"]] == [("r-ok", "ok")]
    lines = [r for r in caplog.records if r.name == "magsag_mcp.mcp" and getattr(r, "tool", None) == "invoke_skill"]
    assert [(r.outcome, r.run_id) for r in lines] == [("ok", "r-ok")], [r.getMessage() for r in lines]
    message = lines[0].getMessage()
    assert message.startswith("invoke_skill answered: skill skill.analysis, run r-ok, agent bob, fake echo"), message
    assert message.endswith(
        "(its record handed to the ledger as ok; its client cancelled before the answer reached it)"
    ), message
    entry = json.loads(JsonFormatter().format(lines[0]))
    assert entry["outcome"] == "ok" and entry["client_cancelled"] is True and entry["cost_usd"] is not None


async def test_an_invoke_skill_cancelled_once_its_ok_record_is_queued_whose_write_then_fails_claims_no_record(
    db: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
):
    """Cancelled while its ok record waited in the group commit, which then failed (a full disk): the line said
    "recorded ok" of a record the ledger had refused (kept in memory, written with the next record). It says what was
    known when it was said, that the record was handed to the ledger as ok, and the WARNING naming the run follows;
    the next call's record writes it, ok."""
    import sqlite3
    import threading

    server = build_server(catalog=CATALOG, db=db, env=ENV)
    args = {"skill_id": "skill.analysis", "payload": {"data": "x", "model_config": {"model": "fake:echo"}}}
    queued, go = threading.Event(), threading.Event()
    with caplog.at_level(logging.INFO):
        async with Client(server) as client:
            ledger = (await server_state(server).service()).ledger
            real_record, real_apply = ledger.record_call, ledger._apply_batch

            def full_disk(conn: Any, fns: Any, durable: Any, outcome: list[Any], unsynced: Any) -> Any:
                queued.set()
                go.wait(60)  # (a hang guard)
                exc = sqlite3.OperationalError("database or disk is full")
                outcome.append(exc)
                raise exc

            async def queued_to_a_full_disk(*a: Any, **k: Any) -> Any:
                monkeypatch.setattr(ledger, "_apply_batch", full_disk)
                return await real_record(*a, **{**k, "alone": False})  # (the group commit, not inline)

            monkeypatch.setattr(ledger, "record_call", queued_to_a_full_disk)
            call = functools.partial(client.call_tool, "invoke_skill", {**args, "agent": "bob", "run_id": "r-full"})
            with anyio.fail_after(60):  # hang guards, not timing assertions
                async with anyio.create_task_group() as tg:
                    tg.start_soon(call)
                    while not queued.is_set():
                        await anyio.sleep(0.01)
                    tg.cancel_scope.cancel()  # the SDK sends notifications/cancelled for the request
                while not [r for r in caplog.records if getattr(r, "run_id", None) == "r-full"]:
                    await anyio.sleep(0.01)  # (its line, said as the server's handler unwinds)
                go.set()
                await ledger.settled()
            monkeypatch.setattr(ledger, "_apply_batch", real_apply)
            monkeypatch.setattr(ledger, "record_call", real_record)
            await client.call_tool("invoke_skill", {**args, "agent": "bob", "run_id": "r-next"})
            runs = (await client.call_tool("query_runs", {"filters": {"agent": "bob"}})).structured_content
    assert runs is not None and sorted((r["run_id"], r["status"]) for r in runs["runs"]) == [
        ("r-full", "ok"),
        ("r-next", "ok"),
    ]
    lines = [r for r in caplog.records if r.name == "magsag_mcp.mcp" and getattr(r, "run_id", None) == "r-full"]
    message = lines[0].getMessage()
    assert len(lines) == 1 and lines[0].outcome == "ok", [r.getMessage() for r in lines]
    assert "recorded ok" not in message, message
    assert message.endswith(
        "(its record handed to the ledger as ok; its client cancelled before the answer reached it)"
    ), message
    refused = [r.getMessage() for r in caplog.records if "refused after its caller was cancelled" in r.getMessage()]
    assert len(refused) == 1 and "run r-full" in refused[0] and "kept" in refused[0], refused


async def test_an_invoke_skill_whose_ok_record_the_ledger_refused_cancelled_in_its_heartbeats_stop_claims_no_record(
    db: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
):
    """With progress on, the ledger refused the call's ok record (told handed to the ledger as ok just before it was
    written), and the client's cancel came while the heartbeat stopped: the cancel replaced the refusal, and the line
    said "answered ... handed to the ledger as ok" of a record the ledger had refused. The answer kept for that line is
    forgotten once the service raises: the line says cancelled. The heartbeat's stop is held here, shielded, until the
    client has cancelled (the in-memory client runs the server's handler in its own task: the cancel is its scope's)."""
    from magsag_mcp.errors import LedgerError
    from magsag_mcp.mcp_server.progress import ProgressBridge

    stopping, cancelled = anyio.Event(), anyio.Event()

    async def heartbeat_slow_to_stop(self: ProgressBridge) -> None:
        try:
            await anyio.sleep_forever()
        finally:
            with anyio.CancelScope(shield=True), anyio.fail_after(60):  # (a hang guard, not a timing assertion)
                stopping.set()
                await cancelled.wait()

    monkeypatch.setattr(ProgressBridge, "_heartbeat", heartbeat_slow_to_stop)
    server = build_server(catalog=CATALOG, db=db, env=ENV)
    args = {"skill_id": "skill.analysis", "payload": {"data": "x", "model_config": {"model": "fake:echo"}}}
    args |= {"agent": "bob", "run_id": "r-refused"}
    with caplog.at_level(logging.INFO, logger="magsag_mcp.mcp"):
        async with Client(server) as client:
            ledger = (await server_state(server).service()).ledger
            real_record = ledger.record_call

            async def refused(*a: Any, **k: Any) -> Any:  # once: the record, kept, is written as the service closes
                monkeypatch.setattr(ledger, "record_call", real_record)
                raise LedgerError("the ledger is read-only: attempt to write a readonly database", db=str(db))

            monkeypatch.setattr(ledger, "record_call", refused)

            async def progressed(*_: Any) -> None:
                pass

            call = functools.partial(client.call_tool, "invoke_skill", args, progress_callback=progressed)
            with anyio.fail_after(60):  # hang guards, not timing assertions
                async with anyio.create_task_group() as tg:
                    tg.start_soon(call)
                    await stopping.wait()  # the service raised the ledger's refusal; the heartbeat is stopping
                    tg.cancel_scope.cancel()  # the client's cancel, while the heartbeat's stop is awaited
                    cancelled.set()
                while not [r for r in caplog.records if getattr(r, "run_id", None) == "r-refused"]:
                    await anyio.sleep(0.01)  # (its line, said as the server's handler unwinds)
    lines = [r for r in caplog.records if r.name == "magsag_mcp.mcp" and getattr(r, "tool", None) == "invoke_skill"]
    assert [r.outcome for r in lines] == ["cancelled"], [r.getMessage() for r in lines]
    message = lines[0].getMessage()
    assert "handed to the ledger" not in message and "answered" not in message, message
    assert message.startswith("invoke_skill cancelled: skill skill.analysis, run r-refused, agent bob"), message
