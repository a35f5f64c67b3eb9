"""Stopping mid-call loses nothing: closing the service, Ctrl-C in a script, SIGTERM on the CLI or server.

A call already sent may be billed, so however the process is stopped, the call in flight is cancelled,
recorded as ``cancelled`` with its cost unknown (bounded by its reservation), and its budget
reservation released. Each case runs against the spec-checking loopback OpenAI, which never answers.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from magsag_mcp.api import Magsag
from magsag_mcp.service import Service
from tests.fakes import openai_replies as R
from tests.fakes.openai_server import DEFAULT_KEY, FakeOpenAI

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parent.parent
PAYLOAD = {"data": "numbers", "model_config": {"provider": "openai", "model": "gpt-4o"}}


def env_for(fake: FakeOpenAI) -> dict[str, str]:
    return {"OPENAI_BASE_URL": fake.url + "/v1", "OPENAI_API_KEY": DEFAULT_KEY, "MAGSAG_RETRY_MAX_DELAY": "0.01"}


def ledger_state(db: Path) -> tuple[list[tuple], list[tuple], int]:
    conn = sqlite3.connect(db)
    try:
        runs = conn.execute("SELECT status FROM runs").fetchall()
        attempts = conn.execute("SELECT outcome, error_class, cost_pusd, cost_bound_pusd > 0 FROM attempts").fetchall()
        held = conn.execute("SELECT COUNT(*) FROM budget_reservations").fetchone()[0]
    finally:
        conn.close()
    return runs, attempts, held


CANCELLED = ([("cancelled",)], [("error", "cancelled", None, 1)], 0)


async def until_sent(fake: FakeOpenAI, count: int = 1) -> None:
    with anyio.fail_after(60):  # a hang guard, not a timing assertion
        while len(fake.requests) < count:
            await anyio.sleep(0.01)


LOCKED = "the ledger at l.db stayed locked for 30s by another process"
DISK_FULL = "ledger error at l.db: database or disk is full"


def ledger_refuses_first_record(
    svc: Service, message: str = LOCKED, after_write: Callable[[], Awaitable[None]] | None = None
) -> None:
    """``svc``'s ledger refuses the first record with a LedgerError saying ``message`` (the service keeps
    it, to write later) and writes every other; ``after_write`` runs after each write that succeeded."""
    from magsag_mcp.errors import LedgerError

    real = svc.ledger.record_call
    refusals = iter([True])

    async def record_call(*args, **kw):
        if next(refusals, False):
            raise LedgerError(message, db="l.db")
        await real(*args, **kw)
        if after_write is not None:
            await after_write()

    svc.ledger.record_call = record_call  # type: ignore[method-assign]


async def test_closing_the_service_cancels_and_records_the_calls_in_flight(fake_openai: FakeOpenAI, tmp_path: Path):
    fake_openai.queue(R.Reply(hang=True), R.Reply(hang=True))
    svc = await Service.open(db=tmp_path / "l.db", env=env_for(fake_openai))
    ended: list[str] = []

    async def caller(run_id: str) -> None:
        try:
            await svc.invoke_skill("skill.analysis", PAYLOAD, run_id=run_id, agent="a")
        except anyio.get_cancelled_exc_class():
            ended.append(run_id)
            raise

    async with anyio.create_task_group() as tg:
        tg.start_soon(caller, "r-1")
        tg.start_soon(caller, "r-2")
        await until_sent(fake_openai, 2)
        await svc.aclose()
    assert sorted(ended) == ["r-1", "r-2"]
    runs, attempts, held = ledger_state(tmp_path / "l.db")
    assert runs == [("cancelled",)] * 2 and attempts == [("error", "cancelled", None, 1)] * 2 and held == 0


async def test_closing_a_magsag_mid_call_records_the_call(fake_openai: FakeOpenAI, tmp_path: Path):
    """What Ctrl-C does to a script: the caller's thread is interrupted, and ``with Magsag()`` closes."""
    fake_openai.queue(R.Reply(hang=True))
    outcome: list[BaseException] = []

    def blocking() -> None:
        mg = Magsag(db=tmp_path / "l.db", env=env_for(fake_openai), agent="a")
        box.append(mg)
        try:
            mg.skills.invoke("skill.analysis", PAYLOAD)
        except BaseException as exc:  # whatever the interrupted call raised
            outcome.append(exc)

    box: list[Magsag] = []
    worker = threading.Thread(target=blocking)
    worker.start()
    await until_sent(fake_openai)
    await anyio.to_thread.run_sync(box[0].close)
    await anyio.to_thread.run_sync(worker.join, 60)
    assert len(outcome) == 1  # the call did not return an answer
    assert ledger_state(tmp_path / "l.db") == CANCELLED


async def test_a_second_close_of_a_magsag_waits_for_the_first(fake_openai: FakeOpenAI, tmp_path: Path):
    """README: "a second close waits for the first". A Magsag's second close (another thread, a second
    task's aclose) returned at once while the first was still cancelling and recording the call in flight."""
    fake_openai.queue(R.Reply(hang=True))
    mg = await anyio.to_thread.run_sync(lambda: Magsag(db=tmp_path / "l.db", env=env_for(fake_openai), agent="a"))
    real_aclose = mg.service.aclose
    closing, go_on, finished = threading.Event(), threading.Event(), threading.Event()

    async def held_aclose(*args: object, **kwargs: object) -> None:
        closing.set()
        await anyio.to_thread.run_sync(go_on.wait)
        await real_aclose(*args, **kwargs)
        finished.set()

    outcome: list[BaseException] = []

    def call() -> None:
        try:
            mg.skills.invoke("skill.analysis", PAYLOAD)
        except BaseException as exc:  # whatever the cancelled call raised
            outcome.append(exc)

    mg.service.aclose = held_aclose  # type: ignore[method-assign]
    caller = threading.Thread(target=call)
    caller.start()
    await until_sent(fake_openai)
    first = threading.Thread(target=mg.close)
    first.start()
    assert await anyio.to_thread.run_sync(closing.wait, 60)  # a hang guard
    seen: list[bool] = []
    second = threading.Thread(target=lambda: (mg.close(), seen.append(finished.is_set())))
    second.start()
    # the first close goes on once the second returned (as it did at once before) or after this wait
    await anyio.to_thread.run_sync(second.join, 0.5)
    go_on.set()
    for thread in (second, first, caller):
        await anyio.to_thread.run_sync(thread.join, 60)
    assert seen == [True] and len(outcome) == 1
    assert ledger_state(tmp_path / "l.db") == CANCELLED


def _env(fake: FakeOpenAI, db: Path) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("MAGSAG_", "OPENAI_"))}
    return {**keep, **env_for(fake), "MAGSAG_DB": str(db), "PYTHONPATH": str(ROOT)}


def sigint_by_default() -> None:
    """In the child: Ctrl-C's default, whatever this process has. A suite run in the background of a
    non-interactive shell (``./.ci/run &``) has SIGINT ignored, and its children inherit that: the SIGINT
    a test sends is then ignored, as it must be for a background job, and the test waits in vain."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


async def signal_magsag_invoke(
    fake: FakeOpenAI, db: Path, sig: signal.Signals, preexec_fn: Callable[[], object]
) -> int | None:
    """Runs ``magsag invoke`` (its ledger at ``db``, ``preexec_fn`` setting its signals up), sends it ``sig``
    once its call reached ``fake``, and returns its exit code."""
    cli = "import sys; from magsag_mcp.cli import main; sys.exit(main(sys.argv[1:]))"
    argv = [sys.executable, "-c", cli, "invoke", "skill.analysis", "--payload", json.dumps(PAYLOAD)]
    proc = subprocess.Popen(
        argv, env=_env(fake, db), stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=preexec_fn
    )
    try:
        await until_sent(fake)
        proc.send_signal(sig)
        return await anyio.to_thread.run_sync(lambda: proc.wait(60))
    finally:
        proc.kill()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_a_signal_stops_magsag_invoke_and_the_call_is_recorded(
    fake_openai: FakeOpenAI, tmp_path: Path, sig: signal.Signals
):
    fake_openai.queue(R.Reply(hang=True))
    code = await signal_magsag_invoke(fake_openai, tmp_path / "l.db", sig, sigint_by_default)
    assert code == 128 + sig
    assert ledger_state(tmp_path / "l.db") == CANCELLED


async def test_sigterm_stops_magsag_invoke_started_with_sigint_ignored(fake_openai: FakeOpenAI, tmp_path: Path):
    """A script's background job (``magsag invoke ... &``) starts with SIGINT ignored, so that the terminal's
    Ctrl-C does not reach it. SIGTERM, turned into a SIGINT, was then dropped too: the call ran on to its
    deadline. SIGTERM then stopped it as it stops any program, and the call in flight went unrecorded,
    its reservation held until it expired. Now it stops as Ctrl-C would: the call recorded, exit 143."""
    fake_openai.queue(R.Reply(hang=True))
    code = await signal_magsag_invoke(
        fake_openai, tmp_path / "l.db", signal.SIGTERM, lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)
    )
    assert code == 128 + signal.SIGTERM
    assert ledger_state(tmp_path / "l.db") == CANCELLED


async def test_sigterm_stops_the_stdio_server_and_the_call_in_flight_is_recorded(
    fake_openai: FakeOpenAI, tmp_path: Path
):
    """An MCP client stops a stdio server with SIGTERM when closing stdin was not enough; the SDK's
    stdio loop would otherwise wait for stdin to close, and Python's default would lose the call."""
    fake_openai.queue(R.Reply(hang=True))
    db = tmp_path / "l.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "magsag_mcp", "--db", str(db)],
        env=_env(fake_openai, db),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None

    def send(message: dict) -> None:
        proc.stdin.write(json.dumps({"jsonrpc": "2.0", **message}).encode() + b"\n")
        proc.stdin.flush()

    try:
        client = {"name": "t", "version": "1"}
        send(
            {
                "id": 0,
                "method": "initialize",
                "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": client},
            }
        )
        assert "result" in json.loads(await anyio.to_thread.run_sync(proc.stdout.readline))
        send({"method": "notifications/initialized"})
        arguments = {"skill_id": "skill.analysis", "payload": PAYLOAD}
        send({"id": 1, "method": "tools/call", "params": {"name": "invoke_skill", "arguments": arguments}})
        await until_sent(fake_openai)
        proc.send_signal(signal.SIGTERM)  # stdin stays open: the signal alone must stop it
        code = await anyio.to_thread.run_sync(lambda: proc.wait(60))
    finally:
        proc.kill()
    assert code == 128 + signal.SIGTERM
    assert ledger_state(db) == CANCELLED


@pytest.mark.parametrize("stdin", ["closed", "open"])
async def test_a_stdio_client_gone_mid_call_stops_the_server_cleanly_and_the_call_is_recorded(
    fake_openai: FakeOpenAI, tmp_path: Path, stdin: str
):
    """A client that exits or crashes mid-call closes its ends of both pipes. The server answered the call in flight
    ("Connection closed") or sent its progress into the closed stdout: the write failed with BrokenPipeError, which
    ended the server with exit status 1 and a 40-line exception group in its log, as if it had crashed. A client
    that stopped reading (its stdin left open) ended it so at the next heartbeat. Now the server stops as when stdin
    closes: the call recorded as cancelled, its reservation released, exit 0, one line in the log."""
    fake_openai.queue(R.Reply(hang=True))
    db = tmp_path / "l.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "magsag_mcp", "--db", str(db)],
        env={**_env(fake_openai, db), "MAGSAG_MCP_LOG_LEVEL": "INFO"},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None

    def send(message: dict) -> None:
        proc.stdin.write(json.dumps({"jsonrpc": "2.0", **message}).encode() + b"\n")  # type: ignore[union-attr]
        proc.stdin.flush()  # type: ignore[union-attr]

    try:
        client = {"name": "t", "version": "1"}
        hello = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": client}
        send({"id": 0, "method": "initialize", "params": hello})
        assert "result" in json.loads(await anyio.to_thread.run_sync(proc.stdout.readline))
        send({"method": "notifications/initialized"})
        arguments = {"skill_id": "skill.analysis", "payload": PAYLOAD}
        params = {"name": "invoke_skill", "arguments": arguments, "_meta": {"progressToken": "p"}}
        send({"id": 1, "method": "tools/call", "params": params})
        await until_sent(fake_openai)
        proc.stdout.close()
        if stdin == "closed":
            proc.stdin.close()
        else:  # the heartbeat (5 s) is what meets the closed pipe; the process then ends when stdin closes
            with anyio.fail_after(60):  # a hang guard
                while ledger_state(db)[0] != [("cancelled",)]:
                    await anyio.sleep(0.1)
            proc.stdin.close()
        code = await anyio.to_thread.run_sync(lambda: proc.wait(60))
        log = proc.stderr.read().decode()
    finally:
        proc.kill()
    assert code == 0, log
    assert "Traceback" not in log and "BrokenPipeError" not in log, log
    assert "the client closed the connection" in log, log
    assert ledger_state(db) == CANCELLED


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_a_signal_stops_the_http_server_and_the_call_in_flight_is_recorded(
    fake_openai: FakeOpenAI, tmp_path: Path, sig: signal.Signals
):
    """A long-running HTTP server stopped (systemd, docker, Ctrl-C) with a call in flight. Before, uvicorn
    waited for every open connection to finish first, so the server did not exit while the call ran; the
    process manager's SIGKILL then lost the call (perhaps billed) and left its reservation held."""
    import socket

    from mcp.client import Client
    from mcp.client.streamable_http import streamable_http_client

    fake_openai.queue(R.Reply(hang=True))
    db = tmp_path / "l.db"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    argv = [sys.executable, "-m", "magsag_mcp", "--transport", "http", "--port", str(port), "--db", str(db)]
    proc = subprocess.Popen(argv, env=_env(fake_openai, db), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    code: int | None = None
    try:
        with anyio.fail_after(60):  # a hang guard
            while True:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                        break
                except OSError:
                    assert proc.poll() is None, proc.stderr.read().decode()  # type: ignore[union-attr]
                    await anyio.sleep(0.05)

        answers: list[object] = []

        async def call() -> None:
            async with Client(streamable_http_client(f"http://127.0.0.1:{port}/mcp")) as client:
                try:
                    answers.append(
                        await client.call_tool("invoke_skill", {"skill_id": "skill.analysis", "payload": PAYLOAD})
                    )
                except Exception as exc:  # the server ended the request: the client must hear of it
                    answers.append(exc)

        async with anyio.create_task_group() as tg:
            tg.start_soon(call)
            await until_sent(fake_openai)
            proc.send_signal(sig)
            try:
                code = await anyio.to_thread.run_sync(lambda: proc.wait(60))
            except subprocess.TimeoutExpired:
                code = None  # still running: what a process manager would SIGKILL
            tg.cancel_scope.cancel()
    finally:
        proc.kill()
        proc.communicate()
    assert code is not None, "the server did not exit on the signal while a call was in flight"
    assert ledger_state(db) == CANCELLED
    # the client is told the call ended (an error), rather than left waiting on a closed server
    assert len(answers) == 1 and (isinstance(answers[0], Exception) or getattr(answers[0], "is_error", False))


async def test_a_paid_answer_the_ledger_refused_travels_with_the_error_and_is_recorded_later(
    fake_openai: FakeOpenAI, tmp_path: Path
):
    """Locked past its timeout or a full disk: the call cannot be made durable, so it raises, but the
    answer is not thrown away, and the spend is written once the ledger takes writes again."""
    from magsag_mcp.errors import LedgerError

    fake_openai.queue(R.reply("the paid answer"), R.reply("second"))
    svc = await Service.open(db=tmp_path / "l.db", env=env_for(fake_openai))
    ledger_refuses_first_record(svc)
    try:
        with pytest.raises(LedgerError) as info:
            await svc.invoke_skill("skill.analysis", PAYLOAD, run_id="r-refused", agent="a")
        assert info.value.result.output == "the paid answer"
        assert "calling again would pay twice" in info.value.message
        assert ledger_state(tmp_path / "l.db")[:2] == ([], [])
        await svc.invoke_skill("skill.analysis", PAYLOAD, run_id="r-next", agent="a")
    finally:
        await svc.aclose()
    conn = sqlite3.connect(tmp_path / "l.db")
    recorded = conn.execute("SELECT run_id, status FROM runs ORDER BY rowid").fetchall()
    held = conn.execute("SELECT COUNT(*) FROM budget_reservations").fetchone()[0]
    conn.close()
    assert recorded == [("r-refused", "ok"), ("r-next", "ok")] and held == 0


async def test_a_refused_record_is_written_when_the_service_closes(fake_openai: FakeOpenAI, tmp_path: Path):
    from magsag_mcp.errors import LedgerError

    fake_openai.queue(R.reply("answer"))
    svc = await Service.open(db=tmp_path / "l.db", env=env_for(fake_openai))
    ledger_refuses_first_record(svc, DISK_FULL)
    with pytest.raises(LedgerError):
        await svc.invoke_skill("skill.analysis", PAYLOAD, run_id="r-full", agent="a")
    await svc.aclose()
    runs, attempts, held = ledger_state(tmp_path / "l.db")
    assert runs == [("ok",)] and len(attempts) == 1 and held == 0


async def test_a_failed_call_whose_record_the_ledger_refuses_raises_its_own_error(
    fake_openai: FakeOpenAI, tmp_path: Path
):
    """A call that failed (here the vendor does not know the model) and whose record the ledger then refused (locked
    past its timeout, a full disk) raised the ledger's LedgerError in place of its own error: the caller (an MCP
    client, `magsag invoke`, an agent) was told the ledger was locked, not what to fix, and called again in vain.
    The call's own error is raised, the refusal in it (``record_error``); the record is kept and written later."""
    from magsag_mcp.errors import LedgerError, MagsagError

    fake_openai.queue(R.model_not_found("gpt-4o"), R.reply("second"))
    svc = await Service.open(db=tmp_path / "l.db", env=env_for(fake_openai))
    ledger_refuses_first_record(svc)
    try:
        with pytest.raises(MagsagError) as info:
            await svc.invoke_skill("skill.analysis", PAYLOAD, run_id="r-failed", agent="a")
        assert not isinstance(info.value, LedgerError), info.value
        assert "gpt-4o" in info.value.message and info.value.to_dict()["run_id"] == "r-failed"
        refusal = info.value.to_dict()["record_error"]
        assert refusal["type"] == "ledger_error" and LOCKED in refusal["message"]
        await svc.invoke_skill("skill.analysis", PAYLOAD, run_id="r-next", agent="a")
    finally:
        await svc.aclose()
    conn = sqlite3.connect(tmp_path / "l.db")
    recorded = conn.execute("SELECT run_id, status FROM runs ORDER BY rowid").fetchall()
    conn.close()
    assert recorded == [("r-failed", "error"), ("r-next", "ok")]


async def test_a_call_on_a_closed_service_is_refused_before_anything_is_sent(
    fake_openai: FakeOpenAI, catalog_copy: Path, tmp_path: Path
):
    """Without a budget limit nothing asks the ledger before the request: the call was sent (and paid), a
    new HTTP session opened that nobody closes, and the record was kept 'for when the service closes',
    which had already happened."""
    from magsag_mcp.errors import ConfigError

    (catalog_copy / "policies" / "model_governance.yaml").unlink()  # no limit: no reservation to refuse it
    fake_openai.queue(R.reply("paid for nothing"))
    svc = await Service.open(catalog=catalog_copy, db=tmp_path / "l.db", env=env_for(fake_openai))
    await svc.aclose()
    with pytest.raises(ConfigError, match="closed"):
        await svc.invoke_skill("skill.analysis", PAYLOAD, run_id="r-late", agent="a")
    assert fake_openai.requests == []


async def test_a_probe_of_a_closed_service_is_refused_and_opens_no_http_session(
    fake_openai: FakeOpenAI, tmp_path: Path
):
    """Closing closed the service's HTTP sessions, and a probe made after it (``magsag doctor --probe``'s, a health
    check kept after its service) opened a new one, which nothing closed: asyncio's "Unclosed client session" and
    "Unclosed connector" warnings at exit, and a pooled connection left open. It is refused as a call is."""
    from magsag_mcp.errors import ConfigError

    svc = await Service.open(db=tmp_path / "l.db", env=env_for(fake_openai))
    await svc.aclose()
    with pytest.raises(ConfigError, match="closed"):
        await svc.probe()
    assert svc.transport._sessions == {} and fake_openai.requests == []


async def test_a_delegated_call_that_finds_its_tree_while_the_service_closes_is_refused(
    fake_openai: FakeOpenAI, catalog_copy: Path, tmp_path: Path
):
    """A delegated call first reads the ledger for its run's tree, before it counts as in flight. A close that
    began meanwhile neither cancelled nor waited for it: the call went on after the close, sent its request on a
    new HTTP session (and was billed), and its record met a closed ledger: the spend was never recorded."""
    from magsag_mcp.errors import ConfigError

    (catalog_copy / "policies" / "model_governance.yaml").unlink()  # no limit: nothing asks the ledger first
    fake_openai.queue(R.reply("paid after the close"))
    svc = await Service.open(catalog=catalog_copy, db=tmp_path / "l.db", env=env_for(fake_openai))
    real, reading, go_on = svc._top_run, anyio.Event(), anyio.Event()

    async def top_run(run_id: str, parent_run_id: str) -> str:
        top = await real(run_id, parent_run_id)
        reading.set()  # the tree read; the close comes before the call goes on
        await go_on.wait()
        return top

    svc._top_run = top_run  # type: ignore[method-assign]
    refused: list[BaseException] = []

    async def delegated() -> None:
        try:
            await svc.invoke_skill("skill.analysis", PAYLOAD, run_id="r-child", parent_run_id="r-top")
        except Exception as exc:
            refused.append(exc)

    with anyio.fail_after(30):  # a hang guard
        async with anyio.create_task_group() as tg:
            tg.start_soon(delegated)
            await reading.wait()
            await svc.aclose()
            go_on.set()
    assert len(refused) == 1 and isinstance(refused[0], ConfigError) and "closed" in refused[0].message
    assert fake_openai.requests == []


async def test_a_call_started_while_the_service_closes_is_refused(fake_openai: FakeOpenAI, tmp_path: Path):
    """Closing cancels the calls in flight and waits for their records. A call that began meanwhile was
    not cancelled: it was sent (the vendor may bill it) and closing went on waiting for it, for the
    whole grace period, before closing the ledger under it."""
    from magsag_mcp.errors import ConfigError

    fake_openai.queue(R.Reply(hang=True), R.Reply(hang=True))
    svc = await Service.open(db=tmp_path / "l.db", env=env_for(fake_openai))
    real = svc.ledger.record_call
    recording, go_on = anyio.Event(), anyio.Event()

    async def record_call(run, *args, **kw):
        if run.run_id == "r-1":  # closing waits here, for the cancelled call's record
            recording.set()
            await go_on.wait()
        await real(run, *args, **kw)

    svc.ledger.record_call = record_call  # type: ignore[method-assign]

    async def first() -> None:
        with pytest.raises(anyio.get_cancelled_exc_class()):
            await svc.invoke_skill("skill.analysis", PAYLOAD, run_id="r-1", agent="a")

    late: list[BaseException] = []
    with anyio.fail_after(30):  # a hang guard
        async with anyio.create_task_group() as tg:
            tg.start_soon(first)
            await until_sent(fake_openai)
            tg.start_soon(svc.aclose, 60.0)
            await recording.wait()
            with anyio.move_on_after(2):  # before, the call was sent and hung there
                try:
                    await svc.invoke_skill("skill.analysis", PAYLOAD, run_id="r-2", agent="a")
                except ConfigError as exc:
                    late.append(exc)
            go_on.set()
    assert len(late) == 1 and "closed" in late[0].message
    assert len(fake_openai.requests) == 1
    assert ledger_state(tmp_path / "l.db") == CANCELLED


async def test_a_cancelled_call_whose_record_the_ledger_refused_is_still_cancelled(
    fake_openai: FakeOpenAI, tmp_path: Path
):
    """The caller gave up (a timeout in its code, a client's cancel) and the ledger refused the record: the
    LedgerError replaced the cancellation, so the caller's move_on_after raised instead of timing out (and a
    task cancelled by its task group ended in an error). The record is kept and written at close."""
    fake_openai.queue(R.Reply(hang=True))
    svc = await Service.open(db=tmp_path / "l.db", env=env_for(fake_openai))
    ledger_refuses_first_record(svc)
    try:
        with anyio.fail_after(30):  # a hang guard
            with anyio.CancelScope() as scope:  # the caller gives up once the request is in flight
                async with anyio.create_task_group() as tg:
                    tg.start_soon(fake_openai.cancel_once_received, scope)
                    await svc.invoke_skill("skill.analysis", PAYLOAD, run_id="r-1", agent="a")
        assert scope.cancelled_caught
    finally:
        await svc.aclose()
    assert ledger_state(tmp_path / "l.db") == CANCELLED


async def test_a_service_closed_inside_a_cancelled_scope_still_closes_its_ledger(
    fake_openai: FakeOpenAI, tmp_path: Path
):
    """``with move_on_after(...): async with await Service.open() as svc: ...``: the timeout cancels the
    call, and then ``aclose`` runs inside the cancelled scope. Its first wait raised there, which cancelled
    the ledger's writer task and left both SQLite connections (and their threads) open."""
    fake_openai.queue(R.Reply(hang=True))
    before = set(threading.enumerate())

    async def time_out(scope: anyio.CancelScope) -> None:
        # the timeout, once the call is under way: a fixed 0.3 s could land in Service.open on a loaded machine
        await until_sent(fake_openai)
        scope.cancel()

    with anyio.fail_after(30):  # a hang guard
        with anyio.CancelScope() as scope:
            async with await Service.open(db=tmp_path / "l.db", env=env_for(fake_openai)) as svc:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(time_out, scope)
                    await svc.invoke_skill("skill.analysis", PAYLOAD, run_id="r-1", agent="a")
    assert scope.cancelled_caught
    assert ledger_state(tmp_path / "l.db") == CANCELLED
    left = [t for t in set(threading.enumerate()) - before if "connection_worker" in t.name]
    for thread in left:
        await anyio.to_thread.run_sync(thread.join, 5)
    assert [t for t in left if t.is_alive()] == []


async def test_a_kept_record_is_written_when_the_service_closes_inside_a_cancelled_scope(
    fake_openai: FakeOpenAI, tmp_path: Path
):
    """A paid call's record that the ledger refused is kept to be written at close; closing inside a
    cancelled scope (a timeout around ``async with``) skipped it: the spend was lost and its budget
    reservation stayed held."""
    from magsag_mcp.errors import LedgerError

    fake_openai.queue(R.reply("answer"))
    svc = await Service.open(db=tmp_path / "l.db", env=env_for(fake_openai))
    ledger_refuses_first_record(svc, DISK_FULL)
    with pytest.raises(LedgerError):
        await svc.invoke_skill("skill.analysis", PAYLOAD, run_id="r-full", agent="a")
    with anyio.CancelScope() as scope:
        scope.cancel()
        await svc.aclose()
    runs, attempts, held = ledger_state(tmp_path / "l.db")
    assert runs == [("ok",)] and len(attempts) == 1 and held == 0


def recorded_calls(db: Path) -> tuple[list[tuple], int]:
    """(run_id, calls, attempts) of each run, and the reservations still held."""
    conn = sqlite3.connect(db)
    try:
        runs = conn.execute(
            "SELECT run_id, calls, (SELECT COUNT(*) FROM attempts a WHERE a.run_id = runs.run_id) FROM runs"
            " ORDER BY run_id"
        ).fetchall()
        held = conn.execute("SELECT COUNT(*) FROM budget_reservations").fetchone()[0]
    finally:
        conn.close()
    return runs, held


async def refuse_first_record(svc: Service, after_write: Callable[[], Awaitable[None]]) -> None:
    """A call whose record the ledger refuses (kept to be written later); ``after_write`` runs after each
    write from then on, before the caller's wait for it returns."""
    from magsag_mcp.errors import LedgerError

    ledger_refuses_first_record(svc, after_write=after_write)
    with pytest.raises(LedgerError):
        await svc.invoke_skill("skill.analysis", PAYLOAD, run_id="r-kept", agent="a")


async def test_a_kept_record_is_written_once_when_calls_record_together(fake_openai: FakeOpenAI, tmp_path: Path):
    """Each call's record first writes the records the ledger refused earlier. Two calls recording at
    once both wrote the same kept record (it left the list only once written): its spend counted twice."""
    fake_openai.queue(R.reply("kept"), R.reply("one"), R.reply("two"))
    svc = await Service.open(db=tmp_path / "l.db", env=env_for(fake_openai))
    try:
        await refuse_first_record(svc, lambda: anyio.sleep(0.2))  # the other call records meanwhile
        async with anyio.create_task_group() as tg:
            for run_id in ("r-1", "r-2"):
                tg.start_soon(
                    lambda run_id=run_id: svc.invoke_skill("skill.analysis", PAYLOAD, run_id=run_id, agent="a")
                )
    finally:
        await svc.aclose()
    assert recorded_calls(tmp_path / "l.db") == ([("r-1", 1, 1), ("r-2", 1, 1), ("r-kept", 1, 1)], 0)


async def test_a_call_cancelled_while_a_kept_record_is_written_is_recorded_once(
    fake_openai: FakeOpenAI, tmp_path: Path
):
    """A call answered (and paid), then cancelled while its record first wrote the kept one: the kept
    record stayed on the list although written (written again at close: counted twice), and the call's
    own record was never written (its spend lost, its reservation held until it expired)."""
    fake_openai.queue(R.reply("kept"), R.reply("paid"))
    svc = await Service.open(db=tmp_path / "l.db", env=env_for(fake_openai))
    try:
        # the write is done; the caller is cancelled before its wait for the writer returns
        await refuse_first_record(svc, lambda: anyio.sleep(5))
        with anyio.move_on_after(1) as scope:
            await svc.invoke_skill("skill.analysis", PAYLOAD, run_id="r-1", agent="a")
        assert scope.cancelled_caught
    finally:
        await svc.aclose()
    assert recorded_calls(tmp_path / "l.db") == ([("r-1", 1, 1), ("r-kept", 1, 1)], 0)


async def test_a_server_closing_its_service_opens_no_other_meanwhile(fake_openai: FakeOpenAI, tmp_path: Path):
    """On SIGTERM the stdio server closes its service (the calls in flight cancelled, their records awaited)
    and then ends the process. A request arriving meanwhile opened a second service and sent its call, which
    the exit then cut: unrecorded, its reservation held until it expired."""
    from magsag_mcp.errors import ConfigError
    from magsag_mcp.mcp_server.state import ServerState

    fake_openai.queue(R.Reply(hang=True), R.Reply(hang=True))
    state = ServerState(db=tmp_path / "l.db", env=env_for(fake_openai))
    async with state.running():
        svc = await state.service()
        real = svc.ledger.record_call
        recording, go_on = anyio.Event(), anyio.Event()

        async def record_call(*args, **kw):
            recording.set()  # closing waits here, for the cancelled call's record
            await go_on.wait()
            await real(*args, **kw)

        svc.ledger.record_call = record_call  # type: ignore[method-assign]

        async def first() -> None:
            with pytest.raises(anyio.get_cancelled_exc_class()):
                await svc.invoke_skill("skill.analysis", PAYLOAD, run_id="r-1", agent="a")

        with anyio.fail_after(30):  # a hang guard
            async with anyio.create_task_group() as tg:
                tg.start_soon(first)
                await until_sent(fake_openai)
                tg.start_soon(state.close)
                await recording.wait()
                try:
                    with pytest.raises(ConfigError, match="shutting down"):
                        await state.service()
                finally:
                    go_on.set()
    assert ledger_state(tmp_path / "l.db") == CANCELLED
    async with state.running():  # a server run again (a new stdio session) opens a service again
        assert (await state.service()) is not svc


async def test_two_closes_at_once_do_not_wait_out_the_grace(fake_openai: FakeOpenAI, tmp_path: Path):
    """A service closed twice at once (a signal handler and ``async with``): the second close replaced the
    event the first waited on, so the first waited for the whole grace period (30 s by default)."""
    fake_openai.queue(R.Reply(hang=True))
    svc = await Service.open(db=tmp_path / "l.db", env=env_for(fake_openai))

    async def caller() -> None:
        with pytest.raises(anyio.get_cancelled_exc_class()):
            await svc.invoke_skill("skill.analysis", PAYLOAD, run_id="r-1", agent="a")

    with anyio.fail_after(20):  # well short of the grace
        async with anyio.create_task_group() as tg:
            tg.start_soon(caller)
            await until_sent(fake_openai)
            tg.start_soon(svc.aclose, 30.0)
            tg.start_soon(svc.aclose, 30.0)
    assert ledger_state(tmp_path / "l.db") == CANCELLED


def test_invoke_with_sigint_ignored_runs_where_the_loop_takes_no_signal_handlers(monkeypatch):
    """Windows' event loops take no signal handlers: watching for SIGTERM there must not fail the call
    it watches (before, the watcher's NotImplementedError ended the task group, and the call with it)."""
    import contextlib
    import signal

    import anyio

    from magsag_mcp import signals

    @contextlib.contextmanager
    def no_handlers(*signums):
        raise NotImplementedError
        yield  # pragma: no cover

    monkeypatch.setattr(anyio, "open_signal_receiver", no_handlers)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:

        async def call() -> str:
            await anyio.sleep(0)
            return "answer"

        assert anyio.run(signals.stopped_by_sigterm, call) == "answer"
    finally:
        signal.signal(signal.SIGINT, previous)


def test_sigterm_is_watched_for_from_the_first_line_of_what_stopped_by_sigterm_runs():
    """A background job (SIGINT ignored): the watcher for SIGTERM was a task that began at the first await of what it
    watched, and a SIGTERM before it (an export making its --output's temporary file) killed the process on the spot:
    the file was left beside its target. It is watched for from the moment the watched function begins."""
    script = (
        "import os, signal, sys, anyio\n"
        "from magsag_mcp.signals import stopped_by_sigterm, exit_status\n"
        "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
        "async def watched():\n"
        "    os.kill(os.getpid(), signal.SIGTERM)  # before its first await\n"
        "    await anyio.sleep(60)\n"
        "try:\n"
        "    anyio.run(stopped_by_sigterm, watched)\n"
        "except KeyboardInterrupt:\n"
        "    print('stopped')\n"
        "    sys.exit(exit_status())\n"
    )
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, "-c", script], env={**os.environ, "PYTHONPATH": str(root)}, capture_output=True, timeout=60
    )
    assert (done.returncode, done.stdout) == (143, b"stopped\n"), done.stderr.decode(errors="replace")


async def _batch_in_the_writers_thread(ledger: Any) -> tuple[Any, threading.Event]:
    """A write submitted to ``ledger`` and running in its writer's thread, held there until the event is set:
    (the write's future, the event)."""
    import asyncio

    started, release = threading.Event(), threading.Event()

    def slow_insert(conn: sqlite3.Connection) -> int:
        started.set()
        release.wait(60)
        insert = "INSERT INTO events (run_id, agent, at, event, data) VALUES ('r', NULL, 0, 'e', NULL)"
        return conn.execute(insert).lastrowid

    write = asyncio.ensure_future(ledger.submit(slow_insert))
    await anyio.to_thread.run_sync(started.wait, 60)
    return write, release


async def test_a_ledger_writer_cancelled_mid_batch_hands_its_callers_what_the_batch_did(tmp_path: Path):
    # asyncio.run ending (an error, Ctrl-C) cancels every task left, the ledger's writer among them, maybe
    # while a batch is in its thread, which commits regardless. Before: the batch's callers were told it
    # failed (a LedgerError), so a reservation it made was held until it expired and a record was kept to be
    # written again; and later writes, by the calls recording themselves as they stopped, found no writer.
    import asyncio

    from magsag_mcp.ledger import Ledger

    async with Ledger(tmp_path / "l.db") as ledger:
        write, release = await _batch_in_the_writers_thread(ledger)
        ledger._task.cancel()  # as asyncio.run's end does (the batch's own future is cancelled with it)
        await asyncio.sleep(0)
        release.set()
        assert await write == 1
        count = await ledger.submit(lambda conn: conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])
        assert count == 1  # a writer again, for the writes that come after


async def test_a_ledger_writer_cancelled_again_while_its_batch_ends_still_hands_back_what_it_did(tmp_path: Path):
    # A second cancel while the writer waits for the batch in its thread (a shutdown that cancels every task and
    # then asyncio.run's end doing it again, Ctrl-C twice): the batch commits regardless, but its callers were told
    # it failed: a reservation it made was held until it expired, and a record kept to be written again, its cost
    # counted twice.
    import asyncio

    from magsag_mcp.ledger import Ledger

    async with Ledger(tmp_path / "l.db") as ledger:
        write, release = await _batch_in_the_writers_thread(ledger)
        for _ in range(3):  # each while the batch is still in the writer's thread
            ledger._task.cancel()
            for _ in range(5):
                await asyncio.sleep(0)
        release.set()
        assert await write == 1
        count = await ledger.submit(lambda conn: conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])
        assert count == 1


async def test_a_paid_call_cancelled_while_a_locked_ledger_refuses_its_record_keeps_the_record(
    fake_openai: FakeOpenAI, tmp_path: Path
):
    """The answer came (and was paid) while another process held the ledger's write lock (a prune's VACUUM,
    a long migration): the record waits in the writer's queue, and the client, seeing nothing, cancels. The
    queued write then failed with nobody to hear it: the record was not kept to be written later, so the spend
    was lost (its reservation left to expire into an attempt of unknown cost). Now it is kept, as when the
    caller is still there, and written at close."""
    fake_openai.queue(R.reply("paid"))
    svc = await Service.open(db=tmp_path / "l.db", env=env_for(fake_openai))
    await svc.ledger._writer.execute("PRAGMA busy_timeout = 200")  # the other process's lock outlasts it
    other = sqlite3.connect(tmp_path / "l.db", isolation_level=None)

    def progress(event: str, data: dict) -> None:
        if event == "attempt":  # admitted, the request about to go: the other process takes the write lock
            other.execute("BEGIN IMMEDIATE")

    try:
        with anyio.fail_after(60):  # a hang guard
            scope = anyio.CancelScope()  # the client's cancel

            async def call() -> None:
                with scope:
                    await svc.invoke_skill("skill.analysis", PAYLOAD, run_id="r-locked", agent="a", progress=progress)

            async with anyio.create_task_group() as tg:
                tg.start_soon(call)
                while not svc.ledger._batch_in_flight:  # answered: its record waits for the lock
                    await anyio.sleep(0.01)
                scope.cancel()
            assert scope.cancelled_caught
            while svc.ledger._batch_in_flight:  # the batch fails once the busy timeout passes
                await anyio.sleep(0.01)
        other.execute("ROLLBACK")
    finally:
        other.close()
        await svc.aclose()
    runs, attempts, held = ledger_state(tmp_path / "l.db")
    assert runs == [("ok",)] and [a[:2] for a in attempts] == [("ok", None)] and held == 0


@pytest.mark.parametrize("lock_kept", [False, True])
async def test_a_paid_call_cancelled_by_the_close_while_its_record_waits_for_a_locked_ledger_is_recorded(
    fake_openai: FakeOpenAI, tmp_path: Path, lock_kept: bool
):
    """The answer came (and was paid) while another process held the ledger's write lock; the service closed (a
    SIGTERM) while the record waited in the writer's queue. Closing cancelled the call, wrote the kept records
    (none yet) and then let the queued write fail: the record was put back on the kept list after its last
    write, and lost, the log saying it was "kept, to be written ... at close". Now the close lets the queued
    writes end first, then writes what they left kept; when the lock outlasts that write too, the close's error
    names the run it lost."""
    import asyncio

    from magsag_mcp.errors import LedgerError

    fake_openai.queue(R.reply("paid"))
    svc = await Service.open(db=tmp_path / "l.db", env=env_for(fake_openai))
    await svc.ledger._writer.execute("PRAGMA busy_timeout = 200")  # the other process's lock outlasts it
    other = sqlite3.connect(tmp_path / "l.db", isolation_level=None)

    def progress(event: str, data: dict) -> None:
        if event == "attempt":  # admitted, the request about to go: the other process takes the write lock
            other.execute("BEGIN IMMEDIATE")

    async def lets_go_once_the_write_failed() -> None:
        while svc.ledger._batch_in_flight:
            await anyio.sleep(0.01)
        if not lock_kept:
            other.execute("ROLLBACK")

    lost: list[LedgerError] = []

    try:
        with anyio.fail_after(60):  # a hang guard
            call = asyncio.ensure_future(
                svc.invoke_skill("skill.analysis", PAYLOAD, run_id="r-locked", agent="a", progress=progress)
            )
            while not svc.ledger._batch_in_flight:  # answered: its record waits for the lock
                await anyio.sleep(0.01)
            async with anyio.create_task_group() as tg:
                tg.start_soon(lets_go_once_the_write_failed)
                try:
                    await svc.aclose()
                except LedgerError as exc:
                    lost.append(exc)
            with pytest.raises(asyncio.CancelledError):
                await call
    finally:
        if other.in_transaction:
            other.execute("ROLLBACK")
        other.close()
    runs, attempts, held = ledger_state(tmp_path / "l.db")
    if lock_kept:
        assert runs == [] and [r["run_id"] for r in lost[0].details["lost_runs"]] == ["r-locked"]
        assert "r-locked" in lost[0].message
    else:
        assert not lost and runs == [("ok",)] and [a[:2] for a in attempts] == [("ok", None)] and held == 0


async def test_a_close_cut_short_by_the_callers_timeout_still_closes_the_ledger(fake_openai: FakeOpenAI, tmp_path):
    """``async with asyncio.timeout(5): await svc.aclose()``: the timeout came while the close waited for a cancelled
    call's record, and ended the close there: its HTTP sessions and ledger connections (and their threads) stayed
    open, a record it kept (another cancelled call's, which the ledger had refused) was never written, and a second
    aclose() returned at once, closing nothing. Now a close cut short ends its wait as its grace would, and closes
    what it holds, writing what it kept, before the cancellation goes on."""
    import asyncio

    from magsag_mcp.errors import LedgerError

    fake_openai.queue(R.Reply(hang=True), R.Reply(hang=True))
    svc = await Service.open(db=tmp_path / "l.db", env=env_for(fake_openai))
    real, slow, go_on = svc.ledger.record_call, asyncio.Event(), asyncio.Event()
    refusals = iter([True])

    async def record_call(run, *args, **kw):
        if run.run_id == "r-slow":  # the close waits here, for this cancelled call's record
            slow.set()
            await go_on.wait()
        elif next(refusals, False):  # the other's is refused (a locked ledger), and kept to be written at close
            await slow.wait()
            raise LedgerError("the ledger at l.db stayed locked for 30s by another process", db="l.db")
        await real(run, *args, **kw)

    svc.ledger.record_call = record_call  # type: ignore[method-assign]
    calls = [
        asyncio.ensure_future(svc.invoke_skill("skill.analysis", PAYLOAD, run_id=run_id, agent="a"))
        for run_id in ("r-slow", "r-kept")
    ]
    await until_sent(fake_openai, 2)
    closing = asyncio.ensure_future(svc.aclose())
    await slow.wait()
    while not svc._kept.pending:  # r-kept's record refused, and kept
        await asyncio.sleep(0.01)
    closing.cancel()  # the caller's timeout
    with pytest.raises(asyncio.CancelledError):
        await closing
    go_on.set()
    for call in calls:
        with pytest.raises(asyncio.CancelledError):
            await call
    await svc.aclose()
    assert svc.ledger._writer is None and svc.ledger._reader is None and svc.transport._sessions == {}
    assert ledger_state(tmp_path / "l.db")[0] == [("cancelled",)]  # r-kept's; r-slow's was left behind


async def test_a_bug_building_the_result_whose_record_the_ledger_refuses_raises_the_bug(
    fake_openai: FakeOpenAI, tmp_path: Path, monkeypatch
):
    """A bug while the answer's result was built (af5d04f records the run failed for it) whose record the ledger then
    refused raised the ledger's LedgerError in place of the bug: the traceback pointed at a locked ledger, the bug
    was only its __context__, unlike a bug anywhere else in the call (c63c758). The bug goes on; the record is kept
    and written with the next call, failed, with the answer's attempt at its cost."""
    import magsag_mcp.service as service_module
    from magsag_mcp.errors import LedgerError, MagsagError

    def broken(*args: object, **kwargs: object) -> list[str]:
        raise TypeError("a warning that could not be built")

    fake_openai.queue(R.reply("paid"), R.reply("second"))
    svc = await Service.open(db=tmp_path / "l.db", env=env_for(fake_openai))
    ledger_refuses_first_record(svc)
    try:
        monkeypatch.setattr(service_module, "result_warnings", broken)
        # the bug, as the tree's error naming it (kind error, tests/test_our_bugs.py), from the TypeError
        with pytest.raises(MagsagError, match="could not be built") as info:
            await svc.invoke_skill("skill.analysis", PAYLOAD, run_id="r-bug", agent="a")
        assert not isinstance(info.value, LedgerError) and isinstance(info.value.__cause__, TypeError)
        assert "record_error" in info.value.details  # (the ledger's refusal, in the bug's error)
        monkeypatch.undo()
        await svc.invoke_skill("skill.analysis", PAYLOAD, run_id="r-next", agent="a")
    finally:
        await svc.aclose()
    conn = sqlite3.connect(tmp_path / "l.db")
    recorded = conn.execute("SELECT run_id, status, error_class FROM runs ORDER BY rowid").fetchall()
    attempts = conn.execute("SELECT run_id, outcome FROM attempts ORDER BY rowid").fetchall()
    conn.close()
    assert recorded == [("r-bug", "error", "error"), ("r-next", "ok", None)]
    assert attempts == [("r-bug", "ok"), ("r-next", "ok")]
