"""A run's row says when its first call began and its last call ended, whichever of its calls is recorded first:
calls of one run made at once (a MAG fanning out, a long-lived Magsag's threads, two processes given one
``--run-id``) are recorded in the order they end, not the order they began."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import anyio
import pytest

from magsag_mcp.service import Service
from tests.conftest import CATALOG

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("fake_scripts")]
ENV = {"MAGSAG_PROVIDER": "fake"}
CALL = {"data": "x"}


async def test_a_run_begins_with_its_first_call_though_a_later_one_is_recorded_first(tmp_path: Path):
    # Before: the run's row took started_at from the first call *recorded*: a slow call begun first and a quick
    # one begun after it and done first gave the run the quick call's start, later than the slow call's attempt.
    # `data query --until T` (and query_runs) then left the run out for a T between the two, while summarize
    # --until T counted the slow call's spend in it.
    db = tmp_path / "l.db"
    reached, release = anyio.Event(), anyio.Event()

    async def hold(event: str, data: dict[str, Any]) -> None:
        if event == "delta":  # the answer is in, not yet recorded
            reached.set()
            await release.wait()

    async with await Service.open(catalog=CATALOG, db=db, env=ENV) as svc:
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: svc.invoke_skill("skill.analysis", CALL, run_id="shared", progress=hold))
            await reached.wait()
            await svc.invoke_skill("skill.analysis", CALL, run_id="shared")  # begun after, recorded first
            release.set()
        with sqlite3.connect(db) as conn:
            (run_start,) = conn.execute("SELECT started_at FROM runs WHERE run_id = 'shared'").fetchone()
            first, second = (t for (t,) in conn.execute("SELECT started_at FROM attempts ORDER BY started_at"))
        assert run_start <= first < second
        until = (first + second) / 2
        runs = await svc.query_runs({"until": until})
        assert [r["run_id"] for r in runs] == ["shared"]
        summary = await svc.summarize({"until": until})
        assert summary["totals"]["calls"] == 1


async def test_a_run_ends_with_its_last_call_though_an_earlier_one_is_recorded_last(tmp_path: Path):
    # Before: each record set the run's ended_at to its own call's end: a call recorded late (a record the ledger
    # refused and kept, another process's) moved the run's end back before calls it had recorded already.
    from magsag_mcp.ledger import Ledger
    from magsag_mcp.records import AttemptRecord, RunRecord

    def call(start: float, end: float) -> tuple[RunRecord, list[AttemptRecord]]:
        run = RunRecord("shared", None, "s", start, ended_at=end, status="ok")
        attempt = AttemptRecord("shared", start, "fake", "m", "s", None, "ok", fallback_position=0, attempt_number=1)
        return run, [attempt]

    async with Ledger(tmp_path / "l.db") as ledger:
        await ledger.record_call(*call(1_000_100.0, 1_000_300.0))
        await ledger.record_call(*call(1_000_000.0, 1_000_200.0))  # begun first and ended before, recorded last
    with sqlite3.connect(tmp_path / "l.db") as conn:
        row = conn.execute("SELECT started_at, ended_at, calls FROM runs WHERE run_id = 'shared'").fetchone()
    assert row == (1_000_000.0, 1_000_300.0, 2)
