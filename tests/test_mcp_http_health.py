"""The HTTP server's health probes, /healthz (liveness) and /readyz (readiness), for a container's HEALTHCHECK, a
Kubernetes probe or a load balancer: before them every path but /mcp got 404, and a probe had nothing to ask but the
MCP endpoint (a POST with a JSON-RPC body, the token and a session). Through real servers on loopback ports: the
command, and serve_http (or the app under uvicorn) in this process where a test holds the server in a state."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import anyio
import pytest

from magsag_mcp.mcp_server import build_server
from magsag_mcp.mcp_server import health as health_module
from magsag_mcp.mcp_server.health import NOT_OPEN, READ_ONLY, SHUTTING_DOWN, UNREADABLE, not_answering
from magsag_mcp.mcp_server.http import http_app, serve_http
from magsag_mcp.mcp_server.server import server_state
from tests.mcp_http_helpers import HEADERS, INIT, uvicorn_on
from tests.shutdown_helpers import until_serving

pytestmark = pytest.mark.anyio
CATALOG = Path(__file__).resolve().parent.parent / "catalog"
#: a token and a key set on the server, which no answer may carry
TOKEN = "Tq4xM9bZ2wKr7nPv5sJhA3"
KEY = "sk-Qz7vN2mR8kLx4pW9tB6yH3jD5fG1cV"
#: a Host no allow-list holds: kubelet's probe sends the pod's address, which the server cannot know
POD_HOST = "10.42.7.19:8765"


async def fetch(method: str, url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, dict[str, str]]:
    async with aiohttp.ClientSession() as http:
        async with http.request(method, url, headers=headers) as resp:
            return resp.status, await resp.read(), dict(resp.headers)


def offline_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAGSAG_", "OPENAI_", "ANTHROPIC_", "GEMINI_"))}
    env.update(MAGSAG_PROVIDER="fake", MAGSAG_DB=str(tmp / "ledger.db"), OPENAI_API_KEY=KEY)
    return env


def loopback_listener() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


@asynccontextmanager
async def under_uvicorn(app) -> AsyncIterator[str]:
    """``app`` served by uvicorn in this process (its lifespan on) on a free loopback port: the base URL."""
    sock = loopback_listener()
    async with uvicorn_on(app, sock):
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()


async def test_the_command_answers_probes_without_the_token_for_any_host_and_guards_mcp_as_before(tmp_path: Path):
    env = offline_env(tmp_path)
    env["MAGSAG_MCP_TOKEN"] = TOKEN
    argv = [sys.executable, "-m", "magsag_mcp", "--transport", "http", "--port", "0", "--catalog", str(CATALOG)]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    answers: list[bytes] = []
    try:
        url, _ = await until_serving(proc)
        base = url.removesuffix("/mcp")
        port = urlsplit(url).port
        for host in (None, POD_HOST, "evil.example"):
            headers = None if host is None else {"Host": host, "Origin": "http://evil.example"}
            status, body, said = await fetch("GET", f"{base}/healthz", headers)
            assert (status, json.loads(body)) == (200, {"status": "ok"}), host
            assert said["Content-Type"] == "application/json" and said["Cache-Control"] == "no-store"
            answers.append(body)
            status, body, said = await fetch("GET", f"{base}/readyz", headers)
            assert (status, json.loads(body)) == (200, {"status": "ready"}), (host, body)
            answers.append(body)
        for path in ("/healthz", "/readyz"):
            status, body, said = await fetch("HEAD", base + path, {"Host": POD_HOST})
            assert status == 200 and body == b"" and int(said["Content-Length"]) > 0
            for method in ("POST", "PUT", "DELETE"):
                status, body, said = await fetch(method, base + path)
                assert status == 405 and said["Allow"] == "GET, HEAD", (method, path)
                assert "GET or HEAD" in json.loads(body)["reason"]
                answers.append(body)

        # the MCP path keeps its checks: the token, then the Host
        async with aiohttp.ClientSession() as http:
            async with http.post(url, json=INIT, headers=HEADERS) as resp:
                assert resp.status == 401
            bearer = {**HEADERS, "Authorization": f"Bearer {TOKEN}"}
            async with http.post(url, json=INIT, headers={**bearer, "Host": POD_HOST}) as resp:
                assert resp.status == 421 and "--allow-host" in await resp.text()
            async with http.post(url, json=INIT, headers=bearer) as resp:
                assert resp.status == 200
            # another path is still told the URL that serves MCP (with the token: without it, 401 comes first)
            async with http.get(f"{base}/health", headers=bearer) as resp:
                said_404 = await resp.json()
                assert resp.status == 404
        assert f"point the client at http://127.0.0.1:{port}/mcp" in said_404["error"]["message"], said_404
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=60)
    for body in answers:
        for secret in (TOKEN, KEY, str(tmp_path), str(CATALOG)):
            assert secret.encode() not in body, (secret, body)
    assert TOKEN.encode() not in err and KEY.encode() not in err and out == b""
    # the probes answered 200 are left out of the access log; a refused one and the MCP requests are in it
    assert b'"GET /healthz' not in err and b'"HEAD /readyz' not in err, err.decode()
    assert b'"POST /healthz HTTP/1.1" 405' in err and b'"POST /mcp HTTP/1.1" 200' in err, err.decode()


def _documented_probes() -> tuple[str, list[str]]:
    """docs/mcp.md's HEALTHCHECK command and the paths its pod probes ask."""
    import re

    text = " ".join((CATALOG.parent / "docs" / "mcp.md").read_text().split())
    section = text[text.index("## Health checks") : text.index("## The tools in detail")]
    command = re.search(r"`HEALTHCHECK CMD python -c \"(.+?)\"`", section)
    assert command is not None, section
    return command[1], re.findall(r"Probe: \{httpGet: \{path: (/\w+), port: 8765\}", section)


async def test_the_documented_healthcheck_and_probes_ask_what_the_server_answers(tmp_path: Path):
    code, paths = _documented_probes()
    assert paths == ["/healthz", "/readyz"]
    server = build_server(catalog=CATALOG, db=tmp_path / "ledger.db", env={"MAGSAG_PROVIDER": "fake"})
    async with under_uvicorn(http_app(server, host="127.0.0.1", port=0, token=TOKEN)) as base:
        port = urlsplit(base).port
        check = await anyio.run_process([sys.executable, "-c", code.replace(":8765/", f":{port}/")], check=False)
        assert check.returncode == 0, check.stderr
        for path in paths:
            status, _, _ = await fetch("GET", base + path)
            assert status == 200, path
    stopped = await anyio.run_process([sys.executable, "-c", code.replace(":8765/", f":{port}/")], check=False)
    assert stopped.returncode != 0  # the check fails once nothing answers: Docker marks the container unhealthy


async def test_readiness_is_503_from_sigterm_until_the_listener_closes(tmp_path: Path):
    """serve_http closes the service (its calls in flight cancelled and recorded) before uvicorn closes its listener:
    a balancer probing meanwhile is told the server is shutting down, and drains it; liveness stays 200 (a failed
    liveness probe restarts a process that is recording its calls). The close is held open here to probe it."""
    server = build_server(catalog=CATALOG, db=tmp_path / "ledger.db", env={"MAGSAG_PROVIDER": "fake"})
    state = server_state(server)
    listener = loopback_listener()
    base = f"http://127.0.0.1:{listener.getsockname()[1]}"
    closing, release = anyio.Event(), anyio.Event()
    signals: list[int] = []
    stopped_by: list[int | None] = []
    # serve_http returns the signal that stopped it, for the process to end by (magsag-mcp's main); it raises none
    # again itself: the handler it found (this one, not the default's) is not called
    previous = signal.signal(signal.SIGTERM, lambda sig, frame: signals.append(sig))

    async def serve() -> None:
        stopped_by.append(await serve_http(server, host="127.0.0.1", listeners=[listener], token=TOKEN))

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(serve)
            with anyio.fail_after(60):  # hang guards, not timing assertions
                while True:
                    try:
                        status, body, _ = await fetch("GET", f"{base}/readyz")
                        break
                    except aiohttp.ClientConnectionError:  # (bound, not yet accepting)
                        await anyio.sleep(0.01)
                assert (status, json.loads(body)) == (200, {"status": "ready"})
                service = await state.service()
                really_close = service.aclose

                async def held_close(grace: float = 30.0) -> None:
                    closing.set()
                    await release.wait()
                    await really_close(grace)

                service.aclose = held_close  # type: ignore[method-assign]
                os.kill(os.getpid(), signal.SIGTERM)
                await closing.wait()
                status, body, said = await fetch("GET", f"{base}/readyz", {"Host": POD_HOST})
                assert status == 503 and said["Content-Type"] == "application/json"
                assert json.loads(body) == {"status": "not ready", "reason": SHUTTING_DOWN}
                status, _, _ = await fetch("HEAD", f"{base}/readyz")
                assert status == 503
                status, body, _ = await fetch("GET", f"{base}/healthz")
                assert (status, json.loads(body)) == (200, {"status": "ok"})
                release.set()
    finally:
        release.set()
        signal.signal(signal.SIGTERM, previous)
        listener.close()
        # sse_starlette hooks uvicorn's signal handler and sets a process-wide flag that ends every SSE stream after
        # it: a process stopping wants that, the servers the next tests start in this process do not
        from sse_starlette.sse import AppStatus

        AppStatus.should_exit = False
    assert (signals, stopped_by) == ([], [signal.SIGTERM])
    with pytest.raises(aiohttp.ClientConnectionError):  # stopped: the listener closed
        await fetch("GET", f"{base}/healthz")


async def test_readiness_opens_a_lazily_opened_service_and_says_when_it_cannot(tmp_path: Path, caplog, monkeypatch):
    """The app under another server than serve_http opens its service on first use: the first readiness probe opens
    it. A service that cannot open is not ready, said without the setting's value or a path (the log has them)."""
    # the probe waits this long for the open and the read: a hang guard, so that a loaded machine's slow open fails
    # nothing (the probe answered 200 only once both were done)
    monkeypatch.setattr(health_module, "READY_READ_SECONDS", 60.0)
    db = tmp_path / "ledger.db"
    server = build_server(catalog=CATALOG, db=db, env={"MAGSAG_PROVIDER": "fake"})
    async with under_uvicorn(http_app(server, host="127.0.0.1", port=0, token=None)) as base:
        assert server_state(server)._service is None
        status, body, _ = await fetch("GET", f"{base}/readyz")
        assert (status, json.loads(body)) == (200, {"status": "ready"})
        assert server_state(server)._service is not None

    env = {"MAGSAG_PROVIDER": "fake", "MAGSAG_MAX_RETRIES": "abc"}
    server = build_server(catalog=CATALOG, db=db, env=env)
    async with under_uvicorn(http_app(server, host="127.0.0.1", port=0, token=None)) as base:
        with caplog.at_level(logging.WARNING, logger="magsag_mcp.mcp"):
            for _ in range(2):
                status, body, _ = await fetch("GET", f"{base}/readyz")
                assert (status, json.loads(body)) == (503, {"status": "not ready", "reason": NOT_OPEN})
        status, _, _ = await fetch("GET", f"{base}/healthz")  # alive: restarting it would not fix a setting
        assert status == 200
    assert "abc" not in body.decode() and str(tmp_path) not in body.decode()
    said = [r.getMessage() for r in caplog.records if "readiness probe" in r.getMessage()]
    assert len(said) == 1 and "MAGSAG_MAX_RETRIES='abc' is not a number" in said[0], said  # logged once


async def test_readiness_says_a_ledger_that_cannot_be_written(tmp_path: Path, monkeypatch, caplog):
    """A ledger on a read-only volume opens for reading, and every call is then refused: not ready."""
    from magsag_mcp.ledger import Ledger, opening

    db = tmp_path / "ledger.db"
    async with Ledger(db):
        pass
    # the writability check says no, as for a user without write permission (the suite runs as root: see
    # test_ledger_read_only.py)
    monkeypatch.setattr(opening, "file_writable", lambda path: False)
    server = build_server(catalog=CATALOG, db=db, env={"MAGSAG_PROVIDER": "fake"})
    async with under_uvicorn(http_app(server, host="127.0.0.1", port=0, token=None)) as base:
        with caplog.at_level(logging.WARNING, logger="magsag_mcp.mcp"):
            status, body, _ = await fetch("GET", f"{base}/readyz")
    assert (status, json.loads(body)) == (503, {"status": "not ready", "reason": READ_ONLY})
    assert str(db) in caplog.text and str(db).encode() not in body


async def test_readiness_says_a_ledger_that_does_not_answer(tmp_path: Path, monkeypatch):
    """A ledger whose read never returns (a hung network volume) is not ready once the bound has passed, rather than
    a probe left waiting with no reason; one whose read fails says so."""
    from magsag_mcp.errors import LedgerError

    monkeypatch.setattr(health_module, "READY_READ_SECONDS", 0.05)  # the read below never answers: any bound is met
    monkeypatch.setattr(health_module, "READY_ANSWER_SECONDS", 0)  # each probe its own answer: one per read below
    server = build_server(catalog=CATALOG, db=tmp_path / "ledger.db", env={"MAGSAG_PROVIDER": "fake"})
    async with under_uvicorn(http_app(server, host="127.0.0.1", port=0, token=None)) as base:
        ledger = (await server_state(server).service()).ledger

        async def hung(fn, *, snapshot: bool = True):
            await anyio.sleep_forever()

        async def failing(fn, *, snapshot: bool = True):
            raise LedgerError(f"the ledger at {ledger.path} is not open")

        for read, reason in ((hung, not_answering(0.05)), (failing, UNREADABLE)):
            monkeypatch.setattr(ledger, "read", read)
            status, body, _ = await fetch("GET", f"{base}/readyz")
            assert (status, json.loads(body)) == (503, {"status": "not ready", "reason": reason})
        monkeypatch.undo()
        monkeypatch.setattr(health_module, "READY_ANSWER_SECONDS", 0)  # (the failed read's answer stands no longer)
        status, _, _ = await fetch("GET", f"{base}/readyz")
        assert status == 200


async def test_readiness_says_a_service_still_opening_at_once_and_leaves_the_open_to_go_on(tmp_path: Path, monkeypatch):
    """The app under another server than serve_http opens its service on the first probe: an open that does not end
    (a hung volume under the ledger) held each probe without bound, with no reason given and its connection held after
    the prober gave up. Now a probe says the service is still opening once its bound has passed, and the open, not cut
    by the probe's end, is done for the next probe."""
    from magsag_mcp.service import Service

    monkeypatch.setattr(health_module, "READY_READ_SECONDS", 0.05)  # the open below waits on the test: any bound passes
    monkeypatch.setattr(health_module, "READY_ANSWER_SECONDS", 0)  # each probe its own answer (none stands)
    release = anyio.Event()
    opens: list[object] = []
    plain_open = Service._open.__func__

    async def held_open(cls, *args, **kwargs):
        opens.append(args)
        await release.wait()
        return await plain_open(cls, *args, **kwargs)

    monkeypatch.setattr(Service, "_open", classmethod(held_open))
    server = build_server(catalog=CATALOG, db=tmp_path / "ledger.db", env={"MAGSAG_PROVIDER": "fake"})
    async with under_uvicorn(http_app(server, host="127.0.0.1", port=0, token=None)) as base:
        for _ in range(2):
            with anyio.fail_after(60):  # a hang guard: before, the probe waited for the open without end
                status, body, _ = await fetch("GET", f"{base}/readyz")
            assert (status, json.loads(body)) == (503, {"status": "not ready", "reason": health_module.OPENING})
        assert len(opens) == 1  # the second probe waited on the first one's open, not on one of its own
        release.set()
        with anyio.fail_after(60):
            await server_state(server).service()  # the open the probes left went on: this waits for it to end
        assert len(opens) == 1
        monkeypatch.setattr(health_module, "READY_READ_SECONDS", 60.0)  # a hang guard for the read, not a speed test
        status, body, _ = await fetch("GET", f"{base}/readyz")
        assert (status, json.loads(body)) == (200, {"status": "ready"})


async def test_a_probe_storm_is_one_ledger_read_while_an_answer_stands(tmp_path: Path, monkeypatch):
    """Each readiness probe read the ledger: a storm of probes (balancers, monitors) was as many reads of the ledger
    the calls write to. Probes arriving while an answer is worked out share it, and the answer stands for
    READY_ANSWER_SECONDS after (the clock is the test's: no assertion is about time); a stop is said at once."""
    clock = [1000.0]
    monkeypatch.setattr(health_module, "monotonic", lambda: clock[0], raising=False)
    monkeypatch.setattr(health_module, "READY_READ_SECONDS", 60.0)  # a hang guard for the read, not a speed test
    server = build_server(catalog=CATALOG, db=tmp_path / "ledger.db", env={"MAGSAG_PROVIDER": "fake"})
    async with under_uvicorn(http_app(server, host="127.0.0.1", port=0, token=None)) as base:
        ledger = (await server_state(server).service()).ledger
        real_read = ledger.read
        reads: list[object] = []
        reading, go_on = anyio.Event(), anyio.Event()

        async def counted(fn, *, snapshot: bool = True):
            reads.append(fn)
            reading.set()
            await go_on.wait()  # held a while: the probes of the storm arriving meanwhile wait on it
            return await real_read(fn, snapshot=snapshot)

        monkeypatch.setattr(ledger, "read", counted)
        answers: list[tuple[int, bytes]] = []

        async def probe() -> None:
            status, body, _ = await fetch("GET", f"{base}/readyz")
            answers.append((status, body))

        with anyio.fail_after(60):  # a hang guard
            async with anyio.create_task_group() as tg:
                for _ in range(20):
                    tg.start_soon(probe)
                await reading.wait()
                for _ in range(20):  # the loop to the other probes' requests meanwhile (arrived later, they are
                    await anyio.sleep(0.01)  # answered by the answer that stands)
                go_on.set()
            assert len(reads) == 1 and answers == [(200, b'{"status": "ready"}')] * 20
            for _ in range(5):  # the answer stands: no read
                await probe()
            assert len(reads) == 1
            clock[0] += health_module.READY_ANSWER_SECONDS  # it no longer stands: the next probe reads again
            await probe()
            assert len(reads) == 2 and answers[-1][0] == 200
            server_state(server)._closed = True  # a stop begun (SIGTERM): said at once, whatever answer stands
            status, body, _ = await fetch("GET", f"{base}/readyz")
            server_state(server)._closed = False
    assert (status, json.loads(body)) == (503, {"status": "not ready", "reason": SHUTTING_DOWN})
    assert len(reads) == 2


def test_the_access_log_filter_drops_only_probes_answered_2xx():
    def record(args: object) -> logging.LogRecord:
        return logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d', args, None)

    quiet = health_module.QUIET_PROBES
    assert not quiet.filter(record(("127.0.0.1:50312", "GET", "/healthz", "1.1", 200)))
    assert not quiet.filter(record(("127.0.0.1:50312", "HEAD", "/readyz?verbose=1", "1.1", 204)))
    assert not quiet.filter(record(("127.0.0.1:50312", "GET", "/healthz", "1.1", 299)))  # (2xx to its last)
    for kept in (
        ("127.0.0.1:50312", "GET", "/readyz", "1.1", 503),  # a probe refused says something
        ("127.0.0.1:50312", "GET", "/healthz", "1.1", 300),
        ("127.0.0.1:50312", "GET", "/healthz", "1.1", 199),
        ("127.0.0.1:50312", "POST", "/mcp", "1.1", 200),
    ):
        assert quiet.filter(record(kept)), kept
    # a record of another shape on that logger (no arguments, or a mapping of them) is kept, not raised on
    plain = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, "access log opened", (), None)
    assert quiet.filter(plain)
    assert quiet.filter(record(("127.0.0.1:50312", "GET", "/healthz", "1.1")))


async def test_readiness_while_shutting_down_is_said_at_once_without_a_look_at_the_token_files(tmp_path: Path):
    """A readiness probe looked at the token files first, shutting down or not: a file whose look waited (a hung
    mount, up to its bound) held the answer a balancer drains the server by. Shutting down is said at once now."""
    from magsag_mcp.mcp_server.health import HealthMiddleware

    class HungFile:
        looks = 0
        warning = None

        async def fresh(self) -> None:
            self.looks += 1
            await anyio.sleep_forever()

    async def app(scope, receive, send) -> None:
        raise AssertionError("a probe is answered by the middleware")

    server = build_server(catalog=CATALOG, db=tmp_path / "ledger.db", env={"MAGSAG_PROVIDER": "fake"})
    state = server_state(server)
    hung = HungFile()
    health = HealthMiddleware(app, state, [hung])  # type: ignore[list-item]
    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    state._closed = True  # a stop begun (SIGTERM)
    try:
        with anyio.fail_after(60):  # a hang guard: the look never ends
            await health({"type": "http", "path": "/readyz", "method": "GET"}, None, send)  # type: ignore[arg-type]
    finally:
        state._closed = False
    assert hung.looks == 0 and sent[0]["status"] == 503
    assert json.loads(sent[1]["body"]) == {"status": "not ready", "reason": SHUTTING_DOWN}


async def test_readiness_answers_from_the_last_look_at_the_token_files_and_looks_again_unwaited(tmp_path: Path):
    """A readiness probe waited for its look at the token files, a stat and a read of ~5 s each on a slow mount: ~10 s,
    past any probe's timeout. It answers at once with what the last look found, the look under way in the background
    (one at a time: a second probe starts none), and a probe after it ends says what it found."""
    from magsag_mcp.mcp_server.health import HealthMiddleware

    class SlowFile:
        looks = 0
        warning: str | None = "the file MAGSAG_MCP_TOKENS_FILE names cannot be found now (the last look's)"

        def __init__(self) -> None:
            self.release = anyio.Event()

        async def fresh(self) -> None:
            self.looks += 1
            await self.release.wait()  # a stat and a read on a slow mount
            self.warning = None  # this look found it put right

    async def app(scope, receive, send) -> None:
        raise AssertionError("a probe is answered by the middleware")

    server = build_server(catalog=CATALOG, db=tmp_path / "ledger.db", env={"MAGSAG_PROVIDER": "fake"})
    state = server_state(server)
    await state.service()
    slow = SlowFile()
    health = HealthMiddleware(app, state, [slow])  # type: ignore[list-item]

    async def readiness() -> tuple[int, dict]:
        sent: list[dict] = []

        async def send(message: dict) -> None:
            sent.append(message)

        with anyio.fail_after(60):  # a hang guard: before, the probe waited for the look, which ends when released
            await health({"type": "http", "path": "/readyz", "method": "GET"}, None, send)  # type: ignore[arg-type]
        return sent[0]["status"], json.loads(sent[1]["body"])

    try:
        assert await readiness() == (200, {"status": "ready", "warnings": [SlowFile.warning]})
        assert slow.looks == 1  # the look began, unwaited
        assert await readiness() == (200, {"status": "ready", "warnings": [SlowFile.warning]})
        assert slow.looks == 1  # one under way: no second
        slow.release.set()
        with anyio.fail_after(60):  # a hang guard
            while health._looks:
                await anyio.sleep(0.01)
        assert await readiness() == (200, {"status": "ready"})  # what the look found
    finally:
        slow.release.set()
        await state.close()


async def test_a_look_at_the_token_files_that_ends_at_once_is_said_by_the_probe_that_began_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The probe stopped waiting for its look (a slow mount's took ~10 s) and said what the look before found: a file
    refused or gone in a quiet hour was said only by the probe after, a probe period late, when a healthy disk's look
    (a stat and a read, off the loop) ends at once. The probe waits a little for it, and says what it found."""
    from magsag_mcp.mcp_server import health as health_module
    from magsag_mcp.mcp_server.health import HealthMiddleware

    # (the wait's bound made long: the test holds that the probe waits, not how fast a thread answers)
    monkeypatch.setattr(health_module, "PROBE_LOOK_SECONDS", 30.0)

    class GoneFile:
        looks = 0
        warning: str | None = None  # the last look found it

        async def fresh(self) -> None:
            self.looks += 1
            await anyio.to_thread.run_sync(lambda: None)  # its stat, off the loop, on a healthy disk
            self.warning = "the file MAGSAG_MCP_TOKENS_FILE names cannot be found now"

    async def app(scope, receive, send) -> None:
        raise AssertionError("a probe is answered by the middleware")

    server = build_server(catalog=CATALOG, db=tmp_path / "ledger.db", env={"MAGSAG_PROVIDER": "fake"})
    state = server_state(server)
    await state.service()
    gone = GoneFile()
    health = HealthMiddleware(app, state, [gone])  # type: ignore[list-item]

    async def ready_as_last_read() -> None:  # the readiness answer a probe a moment before worked out, reused
        return None

    health.not_ready = ready_as_last_read  # type: ignore[method-assign]
    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    try:
        await health({"type": "http", "path": "/readyz", "method": "GET"}, None, send)  # type: ignore[arg-type]
        assert gone.looks == 1 and sent[0]["status"] == 200
        assert json.loads(sent[1]["body"]) == {"status": "ready", "warnings": [gone.warning]}
    finally:
        await state.close()
