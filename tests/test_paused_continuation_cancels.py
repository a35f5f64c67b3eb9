"""A continuation of a paused call cancelled (paused_calls.py): before its request is sent, mid-stream, and after its
answer's record was handed to the ledger as ok. At each point the paused call stays held by its paused_id and is
continued again to the end; the one cancelled after its record was handed on lost the turn (its paused call let go,
and its own answer, paid, never reached the caller: nothing anyone could continue), and is said in a warning."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from aiohttp import web

from magsag_mcp import errors as E
from magsag_mcp.service import Service
from tests.providers.fakes import FakeAnthropic

pytestmark = pytest.mark.anyio
KEY = "sk-p4u5-c4nc-3l5d"
MODEL = "claude-opus-4-6"
SEARCHED = {"searched": "weather in Oslo", "finish": "pause_turn"}
PAUSED = {"pause_continuations": 0}  # (each call leaves its turn paused where it pauses)


class _CutMidStream(FakeAnthropic):
    """The fake, streaming the second request's answer (the continuation) half way, then holding it open: the caller
    cancels with the answer part read."""

    def __init__(self, cut: bool) -> None:
        super().__init__(KEY)
        self.cut = cut
        self.streaming = asyncio.Event()

    async def send_events(self, request: web.Request, events: list[Any], cut: bool, **kw: Any) -> web.StreamResponse:
        if not self.cut or len(self.requests) != 2:
            return await super().send_events(request, events, cut, **kw)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", **self.id_headers})
        await resp.prepare(request)
        for name, data in events[: len(events) // 2]:
            await resp.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
        self.streaming.set()
        await asyncio.Event().wait()  # (never finished: the server's close ends it)
        return resp


def _rows(db: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT outcome, error_class, attempt_number FROM attempts ORDER BY id").fetchall()


def _write_waited_for(svc: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ledger's write of a call's record waited for, as a group commit shared with other calls is: a cancel told as
    the record is handed on lands there (the write made)."""
    real_record = svc.ledger.record_call

    async def waited_for(*a: Any, **k: Any) -> Any:
        written = await real_record(*a, **k)
        await anyio.lowlevel.checkpoint()
        return written

    monkeypatch.setattr(svc.ledger, "record_call", waited_for)


async def _continued_after_a_cancel(svc: Service, paused_id: str, cancel_at: str, fake: Any) -> None:
    """``svc.continue_paused(paused_id)`` cancelled at ``cancel_at``."""
    scope = anyio.CancelScope()

    def recorded_ok(_: Any) -> None:
        if cancel_at == "after record handed on":
            scope.cancel()

    def progress(event: str, _: Any) -> None:
        # told before the attempt is admitted and sent: the cancel lands at the first wait after, for the answer (no
        # await before suspends: a pooled connection's request is written first)
        if event == "attempt" and cancel_at == "before the answer":
            scope.cancel()

    async def go() -> None:
        with scope:
            await svc.continue_paused(paused_id, recorded_ok=recorded_ok, progress=progress)
            raise AssertionError("the continuation returned: it was to be cancelled")

    if cancel_at == "mid-stream":
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(go)
            await fake.streaming.wait()
            scope.cancel()
    else:
        await go()
    assert scope.cancelled_caught


@pytest.mark.parametrize("cancel_at", ["before the answer", "mid-stream", "after record handed on"])
async def test_a_cancelled_continuation_leaves_the_paused_call_continuable(
    catalog, tmp_path, serve, cancel_at, caplog, monkeypatch
):
    fake = _CutMidStream(cut=cancel_at == "mid-stream")
    # the first call's turn paused; the cancelled continuation's answer paused again (where it is answered)
    steps = [{**SEARCHED, "text": "Searching. "}]
    if cancel_at != "after record handed on":
        steps.append({"text": "Never whole."})
    elif cancel_at == "after record handed on":
        steps.append({**SEARCHED, "text": "Lost. "})
    fake.queue(*steps, {"text": "Rain."})
    env = {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": await serve(fake)}
    db = tmp_path / "ledger.db"
    config = {"provider": "anthropic", "model": MODEL, "max_tokens": 2000, "stream": True}
    async with await Service.open(catalog=catalog, db=db, env=env) as svc:
        paused = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": config}, context=PAUSED)
        assert paused.paused_call is not None
        paused_id = paused.paused_call.id
        _write_waited_for(svc, monkeypatch)
        with caplog.at_level(logging.WARNING, logger="magsag_mcp.service"):
            await _continued_after_a_cancel(svc, paused_id, cancel_at, fake)
        # still held, and not taken: continued again, to the end
        assert svc.held_paused(paused_id) is paused and paused.paused_taken is None
        done = await svc.continue_paused(paused_id)
        assert done.text == "Searching. Rain." and done.finish_reason == "stop" and done.run_id == paused.run_id
        with pytest.raises(E.InputError, match="is held by this process"):  # (continued: let go)
            svc.held_paused(paused_id)
    assert len(fake.requests) == 3 and fake.violations == []
    rows = _rows(db)
    lost = [w.getMessage() for w in caplog.records if "was cancelled after its answer was recorded" in w.getMessage()]
    # each continuation numbers on past the run's attempts on the target, the cancelled one's too (numbered 2 again,
    # the ledger held two attempts 2 of one run), each saying it continues the paused call's attempt 1
    if cancel_at != "after record handed on":
        assert rows == [("ok", None, 1), ("error", "cancelled", 2), ("ok", None, 3)] and lost == []
    else:
        # the lost answer stays recorded as ok (paid), and is said, naming the paused call continuable again
        assert rows == [("ok", None, 1), ("ok", None, 2), ("ok", None, 3)]
        [said] = lost
        assert paused_id in said and paused.run_id in said and "can be continued again" in said


async def test_the_turn_of_a_continuation_cancelled_after_its_record_is_not_held_under_an_id_no_one_got(
    catalog, tmp_path, serve, monkeypatch
):
    # its answer paused again, held under a new paused_id that reached no caller: let go, the first still held
    fake = FakeAnthropic(KEY).queue({**SEARCHED, "text": "One. "}, {**SEARCHED, "text": "Two. "})
    env = {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": await serve(fake)}
    config = {"provider": "anthropic", "model": MODEL, "max_tokens": 2000, "stream": False}
    answers: list[Any] = []
    async with await Service.open(catalog=catalog, db=tmp_path / "ledger.db", env=env) as svc:
        paused = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": config}, context=PAUSED)
        assert paused.paused_call is not None
        _write_waited_for(svc, monkeypatch)
        with anyio.CancelScope() as scope:

            def recorded_ok(result: Any) -> None:
                answers.append(result)
                scope.cancel()

            await svc.continue_paused(paused.paused_call.id, recorded_ok=recorded_ok, continuations=0)
        [lost] = answers
        assert lost.paused_call is not None and lost.text == "One. Two. "
        with pytest.raises(E.InputError, match="is held by this process"):
            svc.held_paused(lost.paused_call.id)
        assert svc.held_paused(paused.paused_call.id) is paused
