"""What a call keeps alive for the cyclic collector to walk (see benchmarks/ROUNDS.md, the thirty-second round, and
``python -m benchmarks.gc_in_flight``): each object here was held past its use, and at 200 callers every young
collection walked it and promoted it. Each test disables the collector, so that what is freed is freed by its
reference count, as it is between collections."""

from __future__ import annotations

import asyncio
import gc
import inspect
import sqlite3
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest

from magsag_mcp.ledger import Ledger

pytestmark = pytest.mark.anyio


@pytest.fixture
def collector_off() -> Iterator[None]:
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


class _Write:
    """A queued write the test can watch through a weak reference."""

    def __init__(self, result: int) -> None:
        self.result = result
        self.rows = [[result]]  # what a record's write holds: its rows

    def __call__(self, conn: sqlite3.Connection) -> int:
        return self.result


async def test_a_written_batch_is_freed_when_its_callers_have_their_results(tmp_path: Path, collector_off: None):
    # The writer's loop held its last batch (each write, its future and its result) while it waited for the next,
    # and aiosqlite's thread the list of writes it ran last until it ran another: with every call waiting on its
    # provider, the batch of their reservations stayed alive for the collector to walk.
    async with Ledger(tmp_path / "l.db") as ledger:
        writes = [_Write(n) for n in range(3)]
        watched = [weakref.ref(w) for w in writes]
        assert await asyncio.gather(*(ledger.submit(w, durable=False) for w in writes)) == [0, 1, 2]
        del writes
        await asyncio.sleep(0)  # the writer back waiting for the next batch
        assert [ref() for ref in watched] == [None, None, None]
        assert await ledger.submit(_Write(7)) == 7  # and the ledger writes on


@pytest.mark.usefixtures("fake_scripts")
async def test_a_call_that_skips_nothing_makes_no_list_for_skips():
    # CascadeState made two empty lists a call (skipped, too_long) that lived as long as the call: most calls skip
    # nothing. They are made at the first entry now; the trace still shows a list.
    import dataclasses

    from magsag_mcp.cascade_report import CascadeState
    from tests.cascade_helpers import make, plan

    fresh = CascadeState([])
    lists = [f.name for f in dataclasses.fields(fresh) if isinstance(getattr(fresh, f.name), list)]
    assert lists == ["attempts"]
    cascade, _ = make()
    out = await cascade.run(plan({"model": "fake:a"}), run_id="r", agent=None)
    assert out.trace["skipped"] == [] and isinstance(out.trace["skipped"], list)


def _frames_awaited(task: asyncio.Task) -> dict[str, object]:
    """The coroutines of magsag_mcp a task is waiting in, by function name (the innermost of a name kept), down the
    chain of awaits from the task's own coroutine."""
    found: dict[str, object] = {}
    coro = task.get_coro()
    while coro is not None and hasattr(coro, "cr_frame"):
        if coro.cr_frame is not None and "/magsag_mcp/" in coro.cr_code.co_filename:
            found[coro.cr_code.co_qualname] = coro
        coro = coro.cr_await
    return found


async def test_an_attempt_waiting_for_its_answer_holds_no_empty_note_list_pin_set_or_deadline_exit(
    fake_openai, tmp_path: Path
):
    # What an attempt held while it waited for the upstream's answer, each for the whole request: at 200 callers every
    # young collection walked and promoted it (benchmarks/ROUNDS.md, the fiftieth round). The refused settings' notes
    # and the tool names' notes were empty lists on nearly every call; the plan's pinned settings an empty frozenset
    # made anew for each call; `async with` around the request held the deadline's bound __aexit__ on the cascade's
    # stack (gc.get_referents of a coroutine sees its stack as the collector does).
    from magsag_mcp.deadline import Deadline
    from magsag_mcp.routing import NONE_PINNED
    from magsag_mcp.service import Service
    from tests.fakes import openai_replies as R
    from tests.fakes.openai_server import DEFAULT_KEY

    fake_openai.queue(R.Reply(hang=True))
    env = {"OPENAI_BASE_URL": fake_openai.url + "/v1", "OPENAI_API_KEY": DEFAULT_KEY}
    svc = await Service.open(catalog=Path(__file__).resolve().parent.parent / "catalog", db=tmp_path / "l.db", env=env)
    try:
        payload = {"data": "Quarterly revenue rose 8%.", "model_config": {"provider": "openai", "model": "gpt-4o"}}
        call = asyncio.ensure_future(svc.invoke_skill("skill.analysis", payload, agent="a"))
        while not fake_openai.requests:
            await asyncio.sleep(0.001)
        frames = _frames_awaited(call)
        waiting = ["Cascade.run", "RefusedSettings.call_fitted", "HTTPProvider.call"]
        assert all(name in frames for name in waiting), sorted(frames)
        fitted = frames["RefusedSettings.call_fitted"].cr_frame.f_locals  # type: ignore[attr-defined]
        assert fitted["notes"] == () and not gc.is_tracked(fitted["notes"])
        sent = frames["HTTPProvider.call"].cr_frame.f_locals  # type: ignore[attr-defined]
        assert sent["renamed"] == () and not gc.is_tracked(sent["renamed"])
        run = frames["Cascade.run"]
        assert run.cr_frame.f_locals["plan"].pinned is NONE_PINNED  # type: ignore[attr-defined]
        held = [o for o in gc.get_referents(run) if inspect.ismethod(o) and isinstance(o.__self__, Deadline)]
        assert held == []
        assert any(isinstance(o, Deadline) for o in gc.get_referents(run))  # (the attempt's deadline itself is held)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
    finally:
        fake_openai.release()
        await svc.aclose()


async def test_a_first_attempts_reservation_waits_with_no_list_of_earlier_attempts(
    fake_openai, tmp_path: Path, monkeypatch
):
    # Governance.admit copied the cascade's tuple of the call's earlier admissions into a list, read only, and held it
    # while the reservation waited for the group commit: for a first attempt (most) an empty list the young
    # collections walked and promoted at 200 callers. The tuple itself is read now: the empty tuple, no object at all.
    from magsag_mcp.governance import Governance
    from magsag_mcp.service import Service
    from tests.fakes.openai_server import DEFAULT_KEY

    seen: list[object] = []
    reserve = Governance._reserve

    async def watched(self: Governance, op: object, prior: object) -> int:
        seen.append(prior)
        return await reserve(self, op, prior)  # type: ignore[arg-type]

    monkeypatch.setattr(Governance, "_reserve", watched)
    env = {"OPENAI_BASE_URL": fake_openai.url + "/v1", "OPENAI_API_KEY": DEFAULT_KEY}
    svc = await Service.open(catalog=Path(__file__).resolve().parent.parent / "catalog", db=tmp_path / "l.db", env=env)
    try:
        payload = {"data": "Quarterly revenue rose 8%.", "model_config": {"provider": "openai", "model": "gpt-4o"}}
        await svc.invoke_skill("skill.analysis", payload, agent="a")
    finally:
        await svc.aclose()
    assert seen and seen[0] == () and not gc.is_tracked(seen[0])
