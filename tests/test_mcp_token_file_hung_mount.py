"""A token file's look (a stat) on a mount that hangs (NFS, a FUSE driver): the stat ran on the event loop, so every
client's request waited on it. It runs in a worker thread now, waited for a bounded time, the tokens in force kept
meanwhile and the hang said once; no second stat is started while one hangs. The stat is made to hang by a patched
``os.stat`` (the token file's path alone) that waits on an event: no assertion is about time."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import anyio
import pytest

from magsag_mcp.mcp_server import token_reload
from magsag_mcp.mcp_server.client_tokens import TOKENS_FILE_ENV, parse_client_tokens
from magsag_mcp.mcp_server.metrics_endpoint import MetricsSetting
from magsag_mcp.mcp_server.token_reload import ReloadedTokens, TokenFile, Tokens
from tests.test_mcp_http_client_tokens import OPS_TOKEN, TOKENS

pytestmark = pytest.mark.anyio
#: a hang guard, not a timing assertion
PATIENCE = 90


class HungStat:
    """``os.stat`` of ``path`` waits until :attr:`go_on` is set (its answers, whether it was let go or gave up, in
    :attr:`let_go`); every other path's is the real one."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self.real = os.stat
        self.entered = threading.Event()
        self.go_on = threading.Event()
        self.let_go: list[bool] = []
        self.calls = 0

    def __call__(self, path: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        if os.fspath(path) == self.path:
            self.calls += 1
            self.entered.set()
            self.let_go.append(self.go_on.wait(PATIENCE))
        return self.real(path, *args, **kwargs)


def _reloaded(tmp_path: Path) -> tuple[ReloadedTokens, Tokens, Path]:
    named = tmp_path / "tokens"
    named.write_text(TOKENS)
    start = Tokens(None, parse_client_tokens(named.read_bytes()))
    reloaded = ReloadedTokens(TokenFile(TOKENS_FILE_ENV, str(named)), start, "127.0.0.1", None, MetricsSetting())
    named.write_text(f"ops-team {OPS_TOKEN}\n")  # a new version, which a look that answers takes
    return reloaded, start, named


async def test_a_look_whose_stat_hangs_leaves_the_loop_to_the_other_requests(tmp_path: Path, monkeypatch):
    """While the stat hangs, the loop runs on: another task sees it hang and lets it go (on the loop, the stat held
    the loop until it gave up, and no task could)."""
    monkeypatch.setattr(token_reload, "CHECK_SECONDS", 0)
    monkeypatch.setattr(token_reload, "SETTLE_SECONDS", 0)
    monkeypatch.setattr(token_reload, "LOOK_SECONDS", 3600, raising=False)  # (no bound reached: the stat answers)
    reloaded, start, named = _reloaded(tmp_path)
    hung = HungStat(named)
    monkeypatch.setattr(os, "stat", hung)
    async with anyio.create_task_group() as tg:
        tg.start_soon(reloaded.fresh)
        with anyio.fail_after(PATIENCE + 5):  # a hang guard
            while not hung.entered.is_set():
                await anyio.sleep(0.01)
        hung.go_on.set()  # from the loop, while the stat waits
    assert hung.let_go == [True]  # let go by the other task: the loop ran while it hung
    assert [client.agent for client in reloaded.current.clients] == ["ops-team"]


async def test_a_hung_stat_keeps_the_tokens_is_said_once_and_is_not_piled_on(
    tmp_path: Path, monkeypatch, caplog: pytest.LogCaptureFixture
):
    """A look waits LOOK_SECONDS for the stat (set tiny here: the stat cannot answer before it is let go), then keeps
    the tokens in force; the looks after it start no other stat while it hangs (each would be a thread stuck on the
    mount); the hang is logged once and the probes warn of it; once the stat returns the next look takes the file."""
    monkeypatch.setattr(token_reload, "CHECK_SECONDS", 0)
    monkeypatch.setattr(token_reload, "SETTLE_SECONDS", 0)
    monkeypatch.setattr(token_reload, "LOOK_SECONDS", 0.01, raising=False)
    reloaded, start, named = _reloaded(tmp_path)
    hung = HungStat(named)
    monkeypatch.setattr(os, "stat", hung)
    caplog.set_level(logging.INFO, logger="magsag_mcp.mcp")
    try:
        with anyio.fail_after(PATIENCE - 5):  # a hang guard: on the loop, the stat held it until it gave up
            for _ in range(4):
                assert await reloaded.fresh() is start
        # (a loaded machine's worker may begin the stat after the looks gave up on it: it hangs once it has)
        assert await anyio.to_thread.run_sync(hung.entered.wait, PATIENCE)
        assert hung.calls == 1 and hung.let_go == []  # one stat, still hung
        hangs = [r for r in caplog.records if "did not answer a look" in r.getMessage()]
        assert len(hangs) == 1 and hangs[0].levelno == logging.WARNING
        assert OPS_TOKEN not in hangs[0].getMessage()
        assert reloaded.warning is not None and "did not answer a look" in reloaded.warning
    finally:
        hung.go_on.set()
    with anyio.fail_after(PATIENCE):  # the stat returns in its thread; a look after it takes the new version
        while reloaded.current is start:
            await anyio.sleep(0.01)
            await reloaded.fresh()
    assert [client.agent for client in reloaded.current.clients] == ["ops-team"]
    assert hung.let_go[0] is True and reloaded.warning is None
    assert any("answers a look again" in r.getMessage() for r in caplog.records)


async def test_a_look_cancelled_before_its_stat_began_does_not_stop_every_look_after(tmp_path: Path, monkeypatch):
    """A look marks its stat under way, then hands it to a thread; cut before the thread began it (its request
    cancelled at the hand-over, or LOOK_SECONDS spent waiting for a free worker of anyio's pool), the stat never ran,
    so nothing cleared the mark: every look after it found a stat "under way" and returned, and the file was never
    looked at again (a token revoked there kept working). The stat is begun before the look can be cut now."""
    monkeypatch.setattr(token_reload, "CHECK_SECONDS", 0)
    monkeypatch.setattr(token_reload, "SETTLE_SECONDS", 0)
    reloaded, start, named = _reloaded(tmp_path)
    with anyio.CancelScope() as scope:
        scope.cancel()  # the look's request is cut as its look hands the stat over
        await reloaded.fresh()
    with anyio.fail_after(PATIENCE):  # a hang guard: before, no look ever took the file
        while reloaded.current is start:
            await anyio.sleep(0.01)
            await reloaded.fresh()
    assert [client.agent for client in reloaded.current.clients] == ["ops-team"]


def test_a_stat_that_hangs_does_not_hold_the_interpreter_s_exit(tmp_path: Path):
    """Ctrl-C stops the server (exit 130) by returning from main: the interpreter's exit then joins every non-daemon
    thread, and anyio's workers are such, so a stat hung on its mount held the exit for as long as the mount hung
    (forever, for a hard NFS mount), the process still up though its server had stopped. A process here looks once with
    a stat that never answers, then ends its loop and returns."""
    named = tmp_path / "tokens"
    named.write_text(TOKENS)
    script = f"""
import os, threading, anyio
from magsag_mcp.mcp_server import token_reload
from magsag_mcp.mcp_server.client_tokens import TOKENS_FILE_ENV, parse_client_tokens
from magsag_mcp.mcp_server.metrics_endpoint import MetricsSetting
from magsag_mcp.mcp_server.token_reload import ReloadedTokens, TokenFile, Tokens

named = {str(named)!r}
token_reload.CHECK_SECONDS = 0
token_reload.LOOK_SECONDS = 0.01
start = Tokens(None, parse_client_tokens(open(named, "rb").read()))
reloaded = ReloadedTokens(TokenFile(TOKENS_FILE_ENV, named), start, "127.0.0.1", None, MetricsSetting())
entered, real_stat = threading.Event(), os.stat

def hung_stat(path, *args, **kwargs):
    if os.fspath(path) == named:
        entered.set()
        threading.Event().wait()  # a hard mount that never answers
    return real_stat(path, *args, **kwargs)

os.stat = hung_stat

async def main():
    await reloaded.fresh()
    assert await anyio.to_thread.run_sync(entered.wait, {PATIENCE})

anyio.run(main)
print("returned", flush=True)
"""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    try:  # a hang guard, not a timing assertion: before, the process never ended
        done = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=PATIENCE + 30
        )
    except subprocess.TimeoutExpired as hung:
        raise AssertionError(f"the process did not end while its stat hung: {hung.stdout!r} {hung.stderr!r}") from None
    assert done.returncode == 0 and done.stdout == "returned\n", done.stderr


async def test_a_read_that_hangs_keeps_the_tokens_is_said_once_and_is_not_piled_on(
    tmp_path: Path, monkeypatch, caplog: pytest.LogCaptureFixture
):
    """The stat answered, then the read of the new version hung (a mount that hung after it): it was a worker's,
    waited for without end, so the request that found the change hung, and no look after it began (the file was
    never looked at again). It is bounded as the stat is now: the tokens in force kept, said once, one read at a time,
    and the next look after it returns takes the file. The read is made to hang by a patched ``_load``."""
    monkeypatch.setattr(token_reload, "CHECK_SECONDS", 0)
    monkeypatch.setattr(token_reload, "SETTLE_SECONDS", 0)
    monkeypatch.setattr(token_reload, "LOOK_SECONDS", 0.01, raising=False)
    reloaded, start, _ = _reloaded(tmp_path)
    entered, go_on, calls = threading.Event(), threading.Event(), [0]
    real_load = ReloadedTokens._load

    def hung_load(self: ReloadedTokens, beside: Any) -> Tokens:
        calls[0] += 1
        entered.set()
        go_on.wait(PATIENCE)
        return real_load(self, beside)

    monkeypatch.setattr(ReloadedTokens, "_load", hung_load)
    caplog.set_level(logging.INFO, logger="magsag_mcp.mcp")
    try:
        with anyio.fail_after(PATIENCE - 5):  # a hang guard
            for _ in range(4):
                assert await reloaded.fresh() is start
        assert await anyio.to_thread.run_sync(entered.wait, PATIENCE)
        assert calls[0] == 1  # one read, still hung
        hangs = [r for r in caplog.records if "did not answer a look (its read)" in r.getMessage()]
        assert len(hangs) == 1 and hangs[0].levelno == logging.WARNING
        assert reloaded.warning is not None and "did not answer a look" in reloaded.warning
    finally:
        go_on.set()
    with anyio.fail_after(PATIENCE):  # the read returns in its thread; a look after it takes the new version
        while reloaded.current is start:
            await anyio.sleep(0.01)
            await reloaded.fresh()
    assert [client.agent for client in reloaded.current.clients] == ["ops-team"]
    assert reloaded.warning is None


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX's")
async def test_a_fifo_put_at_the_path_is_refused_at_once_and_the_tokens_kept(
    tmp_path: Path, monkeypatch, caplog: pytest.LogCaptureFixture
):
    """A FIFO at the token file's path (a process's output named by mistake): its read's open waited for a writer, for
    ever, in the request that found the change. Refused at once now, naming what is wrong; the tokens in force kept."""
    monkeypatch.setattr(token_reload, "CHECK_SECONDS", 0)
    monkeypatch.setattr(token_reload, "SETTLE_SECONDS", 0)
    reloaded, start, named = _reloaded(tmp_path)
    named.unlink()
    os.mkfifo(named)
    caplog.set_level(logging.INFO, logger="magsag_mcp.mcp")
    with anyio.fail_after(PATIENCE):  # a hang guard
        assert await reloaded.fresh() is start
    refused = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(refused) == 1 and "is not a regular file (a FIFO" in refused[0], refused
    assert reloaded.warning is not None and "refused" in reloaded.warning


async def test_a_read_slower_than_a_look_waits_is_still_taken_so_a_revoked_token_stops_working(
    tmp_path: Path, monkeypatch
):
    """Every read of the new version (a token left out: revoked) ends only after its look has stopped waiting (a slow
    mount, a secret manager's FUSE driver fetching each read): each outcome was dropped and the next look read again,
    as slowly, so the revoked token worked for ever. The next look takes the read that ended, for the version its stat
    still finds. The read is made to outlast its look by a patched ``_load`` that waits until that look has returned."""
    monkeypatch.setattr(token_reload, "CHECK_SECONDS", 0)
    monkeypatch.setattr(token_reload, "SETTLE_SECONDS", 0)
    monkeypatch.setattr(token_reload, "LOOK_SECONDS", 0.01, raising=False)
    reloaded, start, _ = _reloaded(tmp_path)
    look_over, read_over, reads = threading.Event(), threading.Event(), [0]
    real_load = ReloadedTokens._load

    def slow_load(self: ReloadedTokens, beside: Any) -> Tokens:
        reads[0] += 1
        look_over.wait(PATIENCE)  # (ends after the look that began it stopped waiting for it)
        try:
            return real_load(self, beside)
        finally:
            read_over.set()

    monkeypatch.setattr(ReloadedTokens, "_load", slow_load)
    with anyio.fail_after(PATIENCE):  # hang guards, not timing assertions
        for _ in range(3):
            look_over.clear()
            assert await reloaded.fresh() is start or reloaded.current is not start
            if reloaded.current is not start:
                break
            look_over.set()  # the look has returned: its read ends now, after it
            assert await anyio.to_thread.run_sync(read_over.wait, PATIENCE)
            read_over.clear()
            while reloaded._stat_pending:  # (its thread's last step, after _load returned)
                await anyio.sleep(0.01)
    assert [client.agent for client in reloaded.current.clients] == ["ops-team"]
    assert reads[0] == 1  # the read that ended was taken, not made again
