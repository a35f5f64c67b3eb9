"""A Service dropped without ``aclose()`` (an async script's ``svc = await Service.open()`` that forgot to close it, a
helper's local service): its garbage collection says so, once, with the fix, and closes what it held.

Before, nothing of the service's own said anything: the ledger's writer task was destroyed pending ("Task was
destroyed but it is pending!" in the log, with no word of the service), aiosqlite warned of two connections deleted
unclosed, and a record the ledger had refused earlier (kept in memory to be written at close) was lost with it."""

from __future__ import annotations

import gc
import logging
import warnings
from pathlib import Path

import anyio
import pytest

from magsag_mcp.service import Service

pytestmark = pytest.mark.anyio


def _earlier_garbage_collected() -> None:
    """What earlier tests left in reference cycles, collected now, before the warnings are caught: a full collection
    frees every object of the heap it finds unreachable, not only this test's, so an unclosed file or a pending task
    of another test's, left in a cycle until then, was warned of (or logged as destroyed) here, and the test counted
    it as the object's under test whenever no full collection had come between (shown: a test leaving an unclosed
    file in a cycle of the oldest generation, run before these, failed the first one with two warnings)."""
    gc.collect()


async def _dropped_and_closed(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> list[warnings.WarningMessage]:
    svc = await Service.open(db=tmp_path / "l.db", env={})
    ledger = svc.ledger
    caplog.set_level(logging.ERROR, logger="asyncio")
    _earlier_garbage_collected()
    caplog.clear()  # (an earlier test's pending task, destroyed by that collection, is no record of this one's)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del svc
        gc.collect()
        with anyio.fail_after(60):  # a hang guard: the close is scheduled on this loop
            while ledger._writer is not None or ledger._task is not None:
                await anyio.sleep(0.01)
        gc.collect()
    return [w for w in caught if issubclass(w.category, ResourceWarning)]


async def test_a_service_dropped_unclosed_says_so_with_the_fix_and_closes_its_ledger(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    resource_warnings = await _dropped_and_closed(tmp_path, caplog)
    messages = [str(w.message) for w in resource_warnings]
    assert len(messages) == 1, messages  # the service's own, and none of aiosqlite's for its connections
    assert "Service" in messages[0] and "aclose()" in messages[0] and str(tmp_path / "l.db") in messages[0]
    assert not [r for r in caplog.records if "destroyed" in r.getMessage()], caplog.text


async def test_a_service_closed_is_said_nothing_of_when_collected(tmp_path: Path):
    svc = await Service.open(db=tmp_path / "l.db", env={})
    await svc.aclose()
    _earlier_garbage_collected()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del svc
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]


def test_a_magsag_dropped_unclosed_says_so_with_the_fix_and_is_closed(tmp_path: Path):
    """A Magsag left to the garbage collector is closed then (docs/money-records-budgets.md says so), but said nothing
    of it: an agent process that opened one per task and never closed any could not tell its closes ran whenever a
    collection did. Now that collection warns as an unclosed file does (a ResourceWarning, hidden unless warnings are
    on), with the fix; a Magsag closed as asked is said nothing of."""
    from magsag_mcp.api import Magsag

    mg = Magsag(db=tmp_path / "l.db", env={})
    closed = mg._closed
    _earlier_garbage_collected()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del mg
        gc.collect()
        assert closed.wait(60)  # a hang guard: the close runs as it is collected
    messages = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert len(messages) == 1, messages
    assert "Magsag" in messages[0] and "close()" in messages[0] and "with Magsag(" in messages[0]

    mg = Magsag(db=tmp_path / "l.db", env={})
    _earlier_garbage_collected()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mg.close()
        del mg
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]


async def test_a_service_dropped_with_warnings_made_errors_is_still_closed(tmp_path: Path):
    # Under `python -W error` (a test suite's warnings made errors) the service's ResourceWarning raises in the
    # collector's call, which reports it as unraisable. Before, raised before its close was scheduled, it kept the
    # close from running: the ledger's writer and connections were left open, and the records kept for the close lost.
    import sys

    svc = await Service.open(db=tmp_path / "l.db", env={})
    ledger = svc.ledger
    _earlier_garbage_collected()
    unraised: list[BaseException | None] = []
    hook = sys.unraisablehook  # (pytest's, which would fail the test on the warning this test expects)
    sys.unraisablehook = lambda unraisable: unraised.append(unraisable.exc_value)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", ResourceWarning)
            del svc
            gc.collect()
        with anyio.fail_after(60):  # a hang guard: the close is scheduled on this loop
            while ledger._writer is not None or ledger._task is not None:
                await anyio.sleep(0.01)
    finally:
        sys.unraisablehook = hook
    assert [type(e) for e in unraised] == [ResourceWarning] and "Service" in str(unraised[0]), unraised


def test_a_service_left_unclosed_as_asyncio_runs_main_to_its_end_is_closed_before_its_loop_is(tmp_path: Path):
    # `svc = await Service.open()` in the main() asyncio.run runs, never closed: dropped as main() returns, its close
    # was scheduled as a task, and asyncio.run cancelled it with the other tasks left before it had begun. Before:
    # nothing of the close ran (aiohttp warned of its sessions, the ledger's connections stayed open and their two
    # threads ran on, printing "Event loop is closed" once they were stopped). Now it runs as the loop shuts down.
    import asyncio
    import threading

    held: dict[str, object] = {}

    async def main() -> None:
        svc = await Service.open(db=tmp_path / "l.db", env={})
        held["ledger"] = svc.ledger
        await svc.log_event(None, None, "ran", {})

    _earlier_garbage_collected()
    before = set(threading.enumerate())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        asyncio.run(main())
        gc.collect()
    ledger = held["ledger"]
    assert ledger._writer is None and ledger._reader is None and ledger._task is None  # type: ignore[attr-defined]
    assert {t for t in set(threading.enumerate()) - before if t.is_alive()} == set()
    messages = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert len(messages) == 1 and "a magsag Service" in messages[0], messages  # the service's own, and no other


def test_a_service_dropped_after_its_loop_shut_its_generators_down_is_closed_under_warnings_made_errors(tmp_path: Path):
    # The close's fallback, an async generator of the loop's, is one more generator to a loop that has shut its
    # generators down (asyncio.run's last steps; a loop run by hand), and the loop warns of it: under -W error that
    # warning raised where the close was being scheduled, and no close was. The task alone closes it then.
    import asyncio
    import sys

    held: dict[str, object] = {}
    unraised: list[BaseException | None] = []

    async def main() -> None:
        svc = await Service.open(db=tmp_path / "l.db", env={})
        held["ledger"] = ledger = svc.ledger
        with warnings.catch_warnings():
            warnings.simplefilter("error", ResourceWarning)
            del svc
            gc.collect()
            with anyio.fail_after(60):  # a hang guard: the close is scheduled on this loop
                while ledger._writer is not None or ledger._task is not None:
                    await anyio.sleep(0.01)

    _earlier_garbage_collected()
    hook = sys.unraisablehook  # (pytest's, which would fail the test on the warning the service gives)
    sys.unraisablehook = lambda unraisable: unraised.append(unraisable.exc_value)
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(main())
    finally:
        loop.close()
        sys.unraisablehook = hook
    assert held["ledger"]._reader is None  # type: ignore[attr-defined]
    assert [type(e) for e in unraised] == [ResourceWarning] and "a magsag Service" in str(unraised[0])
    # and nothing of it kept for ever: its fallback, never begun, had no end to let it go (the service's parts held)
    from magsag_mcp import service_lifecycle

    assert not [c for c in service_lifecycle._DROPPED_FALLBACKS if c.parts[1] is held["ledger"]]


def test_a_dropped_services_close_cut_short_by_asyncio_runs_end_is_run_to_its_end(tmp_path: Path):
    # Dropped a little before main() returned, its close task had begun (here: its HTTP sessions' close under way) when
    # asyncio.run cancelled the tasks left; the fallback, seeing it begun, did nothing. Before: the ledger's connections
    # stayed open, their threads ran on (printing "Event loop is closed"), and the records kept for the close were lost.
    import asyncio
    import threading

    held: dict[str, object] = {}

    async def main() -> None:
        svc = await Service.open(db=tmp_path / "l.db", env={})
        held["ledger"] = svc.ledger
        await svc.log_event(None, None, "ran", {})
        transport = svc.transport
        real_aclose = transport.aclose
        begun = asyncio.Event()

        async def aclose_held_up_the_first_time() -> None:
            if not begun.is_set():
                begun.set()
                await asyncio.Event().wait()  # under way as main() returns: cancelled there
            await real_aclose()
            held["sessions closed"] = True

        transport.aclose = aclose_held_up_the_first_time  # type: ignore[method-assign]
        del svc
        gc.collect()
        await begun.wait()

    _earlier_garbage_collected()
    before = set(threading.enumerate())
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        asyncio.run(main())
        gc.collect()
    ledger = held["ledger"]
    assert ledger._writer is None and ledger._reader is None and ledger._task is None  # type: ignore[attr-defined]
    assert {t for t in set(threading.enumerate()) - before if t.is_alive() and "price" not in t.name} == set()
    assert held.get("sessions closed")  # the whole close ran, not only the ledger's part in its `finally`
