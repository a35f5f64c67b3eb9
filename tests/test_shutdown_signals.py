"""Stopping mid-call by a signal loses nothing: Ctrl-C or SIGTERM stops Magsag.invoke in a script, the stdio
server (and a client gone from it) and the HTTP server, and the call in flight is recorded as cancelled. The
processes signalled are children, against the spec-checking loopback OpenAI, which never answers."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from tests.fakes import openai_replies as R
from tests.fakes.openai_server import FakeOpenAI
from tests.shutdown_helpers import CANCELLED, PAYLOAD, env_for, ledger_state, until_sent, until_serving

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parent.parent

#: SIGHUP: the terminal a command runs in closing (an ssh session dropped); Python's default ended it on the spot, the
#: call in flight unrecorded and its reservation held, as the servers' was before they took it (7c31cf1a)
STOPPING_SIGNALS = [signal.SIGTERM, signal.SIGINT, *([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])]


def _env(fake: FakeOpenAI, db: Path) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("MAGSAG_", "OPENAI_"))}
    return {**keep, **env_for(fake), "MAGSAG_DB": str(db), "PYTHONPATH": str(ROOT)}


def _ended(proc: subprocess.Popen[bytes]) -> None:
    """The child killed if it still runs, reaped, and its pipes closed: left to the collector, each was a
    ResourceWarning in whichever test ran then (an error under -W error::ResourceWarning)."""
    proc.kill()
    proc.wait()
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        if pipe is not None:
            with contextlib.suppress(OSError):  # (a write still buffered for a child gone)
                pipe.close()


def sigint_by_default() -> None:
    """In the child: Ctrl-C's default, whatever this process has. A suite run in the background of a
    non-interactive shell (``./.ci/run &``) has SIGINT ignored, and its children inherit that: the SIGINT
    a test sends is then ignored, as it must be for a background job, and the test waits in vain."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


async def signal_magsag_invoke(
    fake: FakeOpenAI, db: Path, sig: signal.Signals, preexec_fn: Callable[[], object], *options: str
) -> int | None:
    """Runs ``magsag invoke`` (its ledger at ``db``, ``preexec_fn`` setting its signals up), sends it ``sig``
    once its call reached ``fake``, and returns its exit code."""
    return (await stopped_invoke(fake, db, sig, preexec_fn, *options))[0]


async def stopped_invoke(
    fake: FakeOpenAI, db: Path, sig: signal.Signals, preexec_fn: Callable[[], object], *options: str
) -> tuple[int | None, str]:
    """:func:`signal_magsag_invoke`'s run (``options`` added to its command line): its exit code and its stderr."""
    cli = "import sys; from magsag_mcp.cli import main; sys.exit(main(sys.argv[1:]))"
    argv = [sys.executable, "-c", cli, "invoke", "skill.analysis", "--payload", json.dumps(PAYLOAD), *options]
    proc = subprocess.Popen(
        argv, env=_env(fake, db), stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=preexec_fn
    )
    try:
        await until_sent(fake)
        proc.send_signal(sig)
        _, err = await anyio.to_thread.run_sync(lambda: proc.communicate(timeout=60))
        return proc.returncode, err.decode()
    finally:
        _ended(proc)


@pytest.mark.parametrize("sig", STOPPING_SIGNALS, ids=lambda sig: sig.name)
async def test_magsag_invoke_stopped_names_the_run_it_recorded(
    fake_openai: FakeOpenAI, tmp_path: Path, sig: signal.Signals
):
    """Stopped mid-call, ``magsag invoke`` printed no result, and nothing said which run held the cancelled call
    (found then only by its time): stderr names the run, the one the ledger recorded, and how to look it up."""
    fake_openai.queue(R.Reply(hang=True))
    code, err = await stopped_invoke(fake_openai, tmp_path / "l.db", sig, sigint_by_default)
    assert code == 128 + sig
    with contextlib.closing(sqlite3.connect(tmp_path / "l.db")) as conn:
        ((run_id, status),) = conn.execute("SELECT run_id, status FROM runs").fetchall()
    assert status == "cancelled"
    assert f"run_id: {run_id}" in err and f"magsag data query --run-id {run_id}" in err


async def test_magsag_invoke_stopped_names_the_run_given(fake_openai: FakeOpenAI, tmp_path: Path):
    fake_openai.queue(R.Reply(hang=True))
    code, err = await stopped_invoke(
        fake_openai, tmp_path / "l.db", signal.SIGINT, sigint_by_default, "--run-id", "nightly-Qz3v"
    )
    assert code == 128 + signal.SIGINT
    assert "run_id: nightly-Qz3v (" in err
    assert ledger_state(tmp_path / "l.db") == CANCELLED


@pytest.mark.parametrize("sig", STOPPING_SIGNALS, ids=lambda sig: sig.name)
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
        _ended(proc)
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
        _ended(proc)
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

    from mcp.client import Client
    from mcp.client.streamable_http import streamable_http_client

    fake_openai.queue(R.Reply(hang=True))
    db = tmp_path / "l.db"
    argv = [sys.executable, "-m", "magsag_mcp", "--transport", "http", "--port", "0", "--db", str(db)]
    proc = subprocess.Popen(argv, env=_env(fake_openai, db), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    code: int | None = None
    try:
        url, _ = await until_serving(proc)

        answers: list[object] = []

        async def call() -> None:
            async with Client(streamable_http_client(url)) as client:
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
        _ended(proc)
    assert code is not None, "the server did not exit on the signal while a call was in flight"
    assert ledger_state(db) == CANCELLED
    # the client is told the call ended (an error), rather than left waiting on a closed server
    assert len(answers) == 1 and (isinstance(answers[0], Exception) or getattr(answers[0], "is_error", False))


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
