"""What a call keeps alive for the cyclic collector to walk (see benchmarks/ROUNDS.md, the thirty-second round, and
``python -m benchmarks.gc_in_flight``): each object here was held past its use, and at 200 callers every young
collection walked it and promoted it. Each test disables the collector, so that what is freed is freed by its
reference count, as it is between collections."""

from __future__ import annotations

import asyncio
import gc
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
