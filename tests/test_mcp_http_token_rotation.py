"""A token file changed under a running HTTP server is re-read: rotation without a restart. MAGSAG_MCP_TOKENS_FILE and
MAGSAG_MCP_TOKEN_FILE were read at the start only, so rotating a leaked token meant a restart, which cancels every
call in flight. Each test waits for the change to be seen by polling with a generous hang guard (the server looks at
the file at most once a second, and reads a version once it has settled): no assertion is about time."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import httpx2
import pytest

from magsag_mcp.mcp_server import build_server
from magsag_mcp.mcp_server.bearer import BearerTokenMiddleware
from magsag_mcp.mcp_server.client_tokens import TOKENS_FILE_ENV, parse_client_tokens
from magsag_mcp.mcp_server.http import http_app
from magsag_mcp.mcp_server.metrics_endpoint import MetricsSetting
from magsag_mcp.mcp_server.token_reload import ReloadedTokens, TokenFile, Tokens
from magsag_mcp.mcp_server.token_setting import TOKEN_FILE_ENV
from tests.shutdown_helpers import until_serving
from tests.test_mcp_http import held_port, offline_env, post, serving
from tests.test_mcp_http_client_tokens import CALL, CATALOG, ENV, OPS_TOKEN, RESEARCH_TOKEN, TOKENS, client

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("fake_scripts")]
NEW_TOKEN = "Vb6nM3kQ9wZ2xR7tLp4Jc8"
#: a hang guard, not a timing assertion: the change is seen in a second or two
PATIENCE = 60
THE_FILE = "the file MAGSAG_MCP_TOKENS_FILE names"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def until(seen: Callable[[], Awaitable[bool]]) -> None:
    """Poll ``seen`` (each poll a request, which is when the server looks at its file) until it holds."""
    with anyio.fail_after(PATIENCE):
        while not await seen():
            await anyio.sleep(0.1)


async def status_of(url: str, token: str) -> int:
    return (await post(url, bearer(token)))[0]


def tokens_app(tmp_path: Path, named: Path, port: int, host: str = "127.0.0.1", server=None):
    """``server``: the MCP server to serve (a test that opens its service first); one of its own when not given."""
    if server is None:
        server = build_server(catalog=CATALOG, db=tmp_path / "l.db", env=ENV)
    clients = parse_client_tokens(named.read_bytes())
    return http_app(
        server,
        host=host,
        port=port,
        token=None,
        clients=clients,
        token_file=TokenFile(TOKENS_FILE_ENV, str(named)),
    )


async def test_a_client_token_is_rotated_without_a_restart(tmp_path: Path, caplog):
    """The steps docs/mcp.md gives: a new line beside the old for the same agent, the client moved to it, the old
    line removed. The old token is refused (401) once the file without it is seen; the new one's calls are its
    agent's."""
    caplog.set_level(logging.INFO)
    named = tmp_path / "tokens"
    named.write_text(TOKENS)
    port = held_port()
    async with serving(tokens_app(tmp_path, named, port), port) as url:
        assert await status_of(url, RESEARCH_TOKEN) == 200
        assert await status_of(url, NEW_TOKEN) == 401
        named.write_text(TOKENS + f"research-bot {NEW_TOKEN}\n")  # in place, as Docker's bind-mounted secret changes

        async def new_taken() -> bool:
            return await status_of(url, NEW_TOKEN) == 200

        await until(new_taken)
        assert await status_of(url, RESEARCH_TOKEN) == 200  # both, while clients move
        async with client(url, NEW_TOKEN) as moved:
            assert not (await moved.call_tool("invoke_skill", CALL)).is_error
            runs = (await moved.call_tool("query_runs", {})).structured_content["runs"]
            assert [r["agent"] for r in runs] == ["research-bot"]

        named.write_text(f"ops-team {OPS_TOKEN}\nresearch-bot {NEW_TOKEN}\n")

        async def old_refused() -> bool:
            return await status_of(url, RESEARCH_TOKEN) == 401

        await until(old_refused)
        status, body, _ = await post(url, bearer(RESEARCH_TOKEN))
        assert "is not one of the server's client tokens" in json.loads(body)["error"]["message"]
        assert await status_of(url, NEW_TOKEN) == 200 and await status_of(url, OPS_TOKEN) == 200
    said = [r.getMessage() for r in caplog.records if "changed" in r.getMessage()]
    assert any("client tokens now (2 before)" in line and "3 client tokens now" in line for line in said), said
    assert any("2 client tokens now (3 before)" in line for line in said), said
    for token in (RESEARCH_TOKEN, OPS_TOKEN, NEW_TOKEN):
        assert token not in caplog.text


@pytest.mark.parametrize(
    "bad, said",
    [
        (f"ops-team {OPS_TOKEN}\nresearch-bot {OPS_TOKEN}\n", f"line 2 of {THE_FILE} has the token line 1 has"),
        (f"ops-team {OPS_TOKEN}\nresearch-bot Kp3x9Wq\n", f"line 2 of {THE_FILE} has a token of 7 characters"),
        ("# every line removed by mistake\n", "has no entry"),
    ],
    ids=["a shared token", "a short token", "no entry"],
)
async def test_a_bad_new_version_is_kept_out_and_said_once(tmp_path: Path, caplog, bad: str, said: str):
    """Each of the start's refusals (here beyond loopback: a short token too) keeps the tokens the server has, and
    is logged once at ERROR naming the file and the line, never a token, however many requests come after it."""
    caplog.set_level(logging.INFO)
    named = tmp_path / "tokens"
    named.write_text(TOKENS)
    port = held_port()
    # bound to loopback, checked as a server beyond it is (the length check is the host's)
    async with serving(tokens_app(tmp_path, named, port, host="0.0.0.0"), port) as url:
        named.write_text(bad)

        def refusals() -> list[logging.LogRecord]:
            return [r for r in caplog.records if "new version is refused" in r.getMessage()]

        async def refused() -> bool:
            assert await status_of(url, RESEARCH_TOKEN) == 200  # the old tokens serve meanwhile
            return bool(refusals())

        await until(refused)
        # more looks at the file, each finding the version it read: no second line
        looks = 0

        async def looked_again() -> bool:
            nonlocal looks
            looks += 1
            return await status_of(url, RESEARCH_TOKEN) == 200 and looks > 30

        await until(looked_again)
        assert await status_of(url, OPS_TOKEN) == 200
        [record] = refusals()
        assert record.levelno == logging.ERROR
        message = record.getMessage()
        assert f"MAGSAG_MCP_TOKENS_FILE={str(named)!r} changed, and its new version is refused" in message, message
        assert said in message and "keeps the tokens it has" in message, message

        named.write_text(TOKENS)  # put right: the same tokens again, said so

        async def fixed() -> bool:
            await post(url, bearer(OPS_TOKEN))
            return "holds the tokens the server has again" in caplog.text

        await until(fixed)
    for token in (RESEARCH_TOKEN, OPS_TOKEN, "Kp3x9Wq"):
        assert token not in caplog.text


async def test_a_deleted_file_keeps_the_tokens_and_says_so_once(tmp_path: Path, caplog):
    caplog.set_level(logging.INFO)
    named = tmp_path / "tokens"
    named.write_text(TOKENS)
    port = held_port()
    async with serving(tokens_app(tmp_path, named, port), port) as url:
        named.unlink()

        def gone() -> list[logging.LogRecord]:
            return [r for r in caplog.records if "cannot be found now" in r.getMessage()]

        async def said_gone() -> bool:
            assert await status_of(url, OPS_TOKEN) == 200
            return bool(gone())

        await until(said_gone)
        for _ in range(20):
            assert await status_of(url, RESEARCH_TOKEN) == 200
        [record] = gone()
        assert record.levelno == logging.ERROR and "keeps the tokens it has" in record.getMessage()
        named.write_text(f"research-bot {NEW_TOKEN}\n")  # back, with a new token alone

        async def back() -> bool:
            return await status_of(url, NEW_TOKEN) == 200

        await until(back)
        assert await status_of(url, RESEARCH_TOKEN) == 401 and await status_of(url, OPS_TOKEN) == 401


def kubernetes_secret(folder: Path, version: str, content: str) -> None:
    """A secret volume as kubelet's atomic writer keeps it: the files in a folder of their version's, ``..data`` a link
    to it, each file's name a link through ``..data``; a change writes a new version's folder and swaps the link
    (a rename: no moment without one)."""
    (folder / version).mkdir()
    (folder / version / "mcp_token").write_text(content)
    staged = folder / "..data_tmp"
    staged.symlink_to(version)
    os.replace(staged, folder / "..data")
    if not (folder / "mcp_token").is_symlink():
        (folder / "mcp_token").symlink_to("..data/mcp_token")


@pytest.mark.skipif(sys.platform == "win32", reason="a Kubernetes secret volume's links")
async def test_the_command_takes_a_kubernetes_secret_s_new_token_and_metrics_follow(tmp_path: Path):
    """MAGSAG_MCP_TOKEN_FILE naming a mounted secret, rotated by kubelet's link swap: the path's own file is a link
    that never changes, so the server stats through it. The old token is refused at /mcp and at /metrics (the scrape
    token is the server's here), the new one taken by both."""
    secret = tmp_path / "secret"
    secret.mkdir()
    kubernetes_secret(secret, "..2026_12_06_14_00_00.1", RESEARCH_TOKEN + "\n")
    env = {**offline_env(tmp_path), TOKEN_FILE_ENV: str(secret / "mcp_token")}
    argv = [sys.executable, "-m", "magsag_mcp", "--transport", "http", "--port", "0", "--catalog", str(CATALOG)]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    logged: list[bytes] = []
    drain = None
    try:
        url, _ = await until_serving(proc)
        # its log read as it comes: a pipe left full would stop the server at its next line
        drain = threading.Thread(target=lambda: logged.extend(iter(proc.stderr.readline, b"")), daemon=True)  # type: ignore[union-attr]
        drain.start()
        metrics_url = url.replace("/mcp", "/metrics")
        async with httpx2.AsyncClient() as http:

            async def scrape(token: str) -> int:
                return (await http.get(metrics_url, headers=bearer(token))).status_code

            assert await status_of(url, RESEARCH_TOKEN) == 200 and await scrape(RESEARCH_TOKEN) == 200
            kubernetes_secret(secret, "..2026_12_06_15_00_00.2", NEW_TOKEN + "\n")

            async def rotated() -> bool:
                return await status_of(url, NEW_TOKEN) == 200

            await until(rotated)
            assert await status_of(url, RESEARCH_TOKEN) == 401
            assert await scrape(RESEARCH_TOKEN) == 401 and await scrape(NEW_TOKEN) == 200
            # a token too short to serve beyond loopback is fine here; a blank file is not: kept out
            kubernetes_secret(secret, "..2026_12_06_16_00_00.3", "\n")
            async def refused() -> bool:
                assert await status_of(url, NEW_TOKEN) == 200
                return any(b"new version is refused" in line for line in logged)

            await until(refused)
            [line] = [line for line in logged if b"new version is refused" in line]
            assert b"MAGSAG_MCP_TOKEN_FILE=" in line and b"is empty; write the token in it" in line, line
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    if drain is not None:
        drain.join(timeout=60)
    err = b"".join(logged)
    assert RESEARCH_TOKEN.encode() not in err and NEW_TOKEN.encode() not in err


async def test_a_request_let_through_runs_on_after_its_token_is_rotated_out(tmp_path: Path):
    """The gate checks a request when it comes: one let through before the change (a call in flight) runs to its
    end after its token is gone; the next request with that token is refused."""
    named = tmp_path / "tokens"
    named.write_text(TOKENS)
    entered, release = anyio.Event(), anyio.Event()
    finished: list[str] = []

    async def slow_call(scope, receive, send) -> None:
        entered.set()
        await release.wait()
        finished.append(scope.get("magsag.agent"))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"done"})

    start = Tokens(None, parse_client_tokens(named.read_bytes()))
    reloaded = ReloadedTokens(TokenFile(TOKENS_FILE_ENV, str(named)), start, "127.0.0.1", None, MetricsSetting())
    gate = BearerTokenMiddleware(slow_call, clients=start.clients, reloaded=reloaded)

    async def request(token: str, answers: list[int]) -> None:
        scope = {"type": "http", "path": "/mcp", "headers": [(b"authorization", f"Bearer {token}".encode())]}

        async def send(message) -> None:
            if message["type"] == "http.response.start":
                answers.append(message["status"])

        async def receive():
            return {"type": "http.request", "body": b""}

        await gate(scope, receive, send)

    in_flight: list[int] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(request, RESEARCH_TOKEN, in_flight)
        await entered.wait()
        named.write_text(f"ops-team {OPS_TOKEN}\n")
        strangers: list[int] = []
        with anyio.fail_after(PATIENCE):  # requests with a token no file holds, until one has seen the change
            while reloaded.current is start:
                await anyio.sleep(0.1)
                await request("Xb5nQ8wZ2kM7vR3tYu", strangers)
        later: list[int] = []
        await request(RESEARCH_TOKEN, later)
        assert later == [401] and in_flight == []
        release.set()
    assert in_flight == [200] and finished == ["research-bot"]


async def test_a_look_cut_short_by_its_requests_end_leaves_the_change_to_the_next(tmp_path: Path, monkeypatch):
    """The request that found the change waits for its read; gone meanwhile (its client disconnected: cancelled),
    the change is still applied, by a look once the read in its thread has run to its end: never taken as read and
    left unapplied. The pauses (CHECK_SECONDS, SETTLE_SECONDS) are set to none here: each look is the call
    made."""
    from magsag_mcp.mcp_server import token_reload

    monkeypatch.setattr(token_reload, "CHECK_SECONDS", 0)
    monkeypatch.setattr(token_reload, "SETTLE_SECONDS", 0)
    named = tmp_path / "tokens"
    named.write_text(TOKENS)
    start = Tokens(None, parse_client_tokens(named.read_bytes()))
    reloaded = ReloadedTokens(TokenFile(TOKENS_FILE_ENV, str(named)), start, "127.0.0.1", None, MetricsSetting())
    named.write_text(f"ops-team {OPS_TOKEN}\n")
    reading, go_on = threading.Event(), threading.Event()
    real = reloaded._load

    def slow_load(beside: Tokens | None) -> Tokens:
        reading.set()
        go_on.wait(PATIENCE)
        return real(beside)

    monkeypatch.setattr(reloaded, "_load", slow_load)
    with anyio.CancelScope() as request:
        async with anyio.create_task_group() as tg:
            tg.start_soon(reloaded.fresh)
            await anyio.to_thread.run_sync(reading.wait, PATIENCE)
            request.cancel()
            go_on.set()
    monkeypatch.setattr(reloaded, "_load", real)
    # (the read runs on in its thread, one at a time: a look while it does keeps the tokens; the first after it ends
    # takes the file, which was not taken as read)
    with anyio.fail_after(PATIENCE):  # a hang guard
        while reloaded.current is start:
            await anyio.sleep(0.01)
            await reloaded.fresh()
    assert [client.agent for client in reloaded.current.clients] == ["ops-team"]


async def test_the_file_is_read_only_when_it_changed_and_has_settled(tmp_path: Path, monkeypatch):
    """A look is a stat: the file is read at the first look (the start's read may be of an older version) and then
    only for a version not read yet, once it has been left alone SETTLE_SECONDS (set to an hour here, so that a file
    just written is surely within it, with no clock in the assertions; CHECK_SECONDS to none: each call looks)."""
    from magsag_mcp.mcp_server import token_reload

    monkeypatch.setattr(token_reload, "CHECK_SECONDS", 0)
    monkeypatch.setattr(token_reload, "SETTLE_SECONDS", 3600)
    named = tmp_path / "tokens"
    named.write_text(TOKENS)
    an_hour_and_more_ago = named.stat().st_mtime - 7200
    os.utime(named, (an_hour_and_more_ago, an_hour_and_more_ago))
    start = Tokens(None, parse_client_tokens(named.read_bytes()))
    reloaded = ReloadedTokens(TokenFile(TOKENS_FILE_ENV, str(named)), start, "127.0.0.1", None, MetricsSetting())
    reads: list[Tokens] = []
    real = reloaded._load

    def counted(beside: Tokens | None) -> Tokens:
        reads.append(real(beside))
        return reads[-1]

    monkeypatch.setattr(reloaded, "_load", counted)
    for _ in range(5):
        assert await reloaded.fresh() is start
    assert len(reads) == 1  # the first look's, the same tokens: kept as they were
    named.write_text(f"ops-team {OPS_TOKEN}\n")  # just written: perhaps still being written
    for _ in range(5):
        assert await reloaded.fresh() is start
    assert len(reads) == 1
    os.utime(named, (an_hour_and_more_ago, an_hour_and_more_ago))  # left alone since
    assert [client.agent for client in (await reloaded.fresh()).clients] == ["ops-team"]
    for _ in range(5):
        await reloaded.fresh()
    assert len(reads) == 2
