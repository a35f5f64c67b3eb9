"""The sync Python API called from the caller's threads: what a call hands in runs on the thread that made
the call, as an async call's runs on the caller's loop (test_python_api_async.py)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest

from magsag_mcp import Magsag
from magsag_mcp import errors as E
from magsag_mcp.providers.fake import script

CATALOG = Path(__file__).resolve().parent.parent / "catalog"
ENV = {"MAGSAG_PROVIDER": "fake", "MAGSAG_RETRY_BASE_DELAY": "0", "MAGSAG_MAX_RETRIES": "0"}


def test_a_sync_calls_progress_callback_runs_on_the_calling_thread_where_the_sync_api_works(
    tmp_path: Path, fake_scripts: None
):
    # The guide logs each fallback with obs.log. Before: invoke's callback ran on the Magsag's own loop
    # thread, where obs.log was refused ("a synchronous magsag call was made on the event loop's own
    # thread ... use the async form"), and the call failed with that, after its first target was paid.
    script("a", E.ServerError("boom", status=500))
    script("b", "answer")
    threads: set[int] = set()
    with Magsag(catalog=CATALOG, db=tmp_path / "l.db", env=ENV) as mg:

        def on_progress(event: str, data: dict) -> None:
            threads.add(threading.get_ident())
            if event == "fallback":
                mg.obs.log("fallback", data)

        mc = {"model": "fake:a", "fallbacks": ["fake:b"], "stream": True}
        result = mg.skills.invoke("skill.analysis", {"data": "x", "model_config": mc}, progress=on_progress)
    assert result["model"] == "b"
    assert threads == {threading.get_ident()}
    events = sqlite3.connect(tmp_path / "l.db").execute("SELECT event FROM events").fetchall()
    assert events == [("fallback",)]


def test_a_slow_progress_callback_holds_only_its_own_call(tmp_path: Path, fake_scripts: None):
    # Before: a callback that took its time (a print to a slow terminal, a socket write) ran on the loop
    # every call of the Magsag shares, and another thread's calls waited for it: here the other thread's
    # obs.log could not be made until the callback returned, and the callback waits for it.
    other_done = threading.Event()
    waited: list[bool] = []
    with Magsag(catalog=CATALOG, db=tmp_path / "l.db", env=ENV) as mg:

        def on_progress(event: str, data: dict) -> None:
            if event == "attempt":
                other = threading.Thread(target=lambda: (mg.obs.log("meanwhile", {}), other_done.set()))
                other.start()
                waited.append(other_done.wait(60))  # a hang guard: before, it ran out
                other.join(60)

        result = mg.skills.invoke("skill.analysis", {"data": "x"}, progress=on_progress)
    assert waited == [True]
    assert result["output"]


def test_what_a_sync_progress_callback_raises_stops_the_call_and_reaches_the_caller(tmp_path: Path, fake_scripts: None):
    class Stop(Exception):
        pass

    def on_progress(event: str, data: dict) -> None:
        if event == "delta":
            raise Stop("enough")

    async def async_progress(event: str, data: dict) -> None:
        seen.append(event)

    seen: list[str] = []
    with Magsag(catalog=CATALOG, db=tmp_path / "l.db", env=ENV) as mg:
        payload = {"data": "x", "model_config": {"model": "fake:echo", "stream": True}}
        with pytest.raises(Stop, match="enough"):
            mg.skills.invoke("skill.analysis", payload, progress=on_progress)
        # an async callback given to the sync call is still awaited (on the Magsag's loop)
        assert mg.skills.invoke("skill.analysis", payload, progress=async_progress)["model"] == "echo"
        assert mg.check_budget()["status"] == "ok"
    assert "attempt" in seen and "delta" in seen
    rows = sqlite3.connect(tmp_path / "l.db").execute("SELECT outcome, error_class FROM attempts ORDER BY id")
    assert rows.fetchall() == [("error", "cancelled"), ("ok", None)]  # the first call's attempt, recorded


def test_a_progress_callback_that_returns_a_value_is_not_awaited(tmp_path: Path, fake_scripts: None):
    # A log file's write as the callback (progress=lambda e, d: log.write(...)) returns the count it wrote.
    # Before: that int was awaited, and the call failed with "TypeError: object int can't be used in 'await'
    # expression" at its first event (mid-stream, after the vendor was paid). Now a value that is not
    # awaitable is the callback's own business, as a sync callback's return value is anywhere else.
    written: list[str] = []

    def write(text: str) -> int:
        written.append(text)
        return len(text)

    payload = {"data": "x", "model_config": {"model": "fake:echo", "stream": True}}
    with Magsag(catalog=CATALOG, db=tmp_path / "l.db", env=ENV) as mg:
        result = mg.skills.invoke("skill.analysis", payload, progress=lambda event, data: write(event))
        assert result["model"] == "echo"

        async def main() -> dict:
            return await mg.skills.ainvoke("skill.analysis", payload, progress=lambda event, data: write(event))

        assert asyncio.run(main())["model"] == "echo"
    assert written.count("attempt") == 2 and "delta" in written


def test_a_sync_progress_callback_that_raises_stopiteration_fails_the_call_and_does_not_hang_it(
    tmp_path: Path, fake_scripts: None
):
    # A callback that takes the next item of an exhausted iterator (next(it)) raises StopIteration. Before: that
    # was handed to the call's asyncio future, which refuses it ("TypeError: StopIteration interacts badly with
    # generators", logged on the loop), so the call never learnt of it and invoke waited for ever. Now, as in a
    # coroutine (PEP 479), it is a RuntimeError that stops the call and reaches the caller.
    exhausted = iter(())
    outcome: list[BaseException] = []

    def call(mg: Magsag) -> None:
        try:
            mg.skills.invoke("skill.analysis", {"data": "x"}, progress=lambda event, data: next(exhausted))
        except BaseException as exc:
            outcome.append(exc)

    with Magsag(catalog=CATALOG, db=tmp_path / "l.db", env=ENV) as mg:
        caller = threading.Thread(target=call, args=(mg,))
        caller.start()
        caller.join(60)  # a hang guard: before, it ran out
        hung = caller.is_alive()
        assert mg.check_budget()["status"] == "ok"
    caller.join(60)
    assert not hung
    assert isinstance(outcome[0], RuntimeError) and "StopIteration" in str(outcome[0])
    assert isinstance(outcome[0].__cause__, StopIteration)


def test_explain_from_many_threads_while_the_named_routes_are_full_never_fails(tmp_path: Path, monkeypatch):
    # skills.explain runs on the calling thread, and plans through the service's cache of the routes calls name
    # (1,024 kept, the oldest dropped when a new one comes). Two threads dropping the oldest at once: the second
    # found it gone, and its explain failed with a KeyError naming the route. (A cache of 4 here, and threads
    # switched as often as the interpreter can, so that they meet there within a few thousand plans.)
    import sys

    from magsag_mcp import routing

    monkeypatch.setattr(routing, "NAMED_ROUTES_KEPT", 4)
    failures: list[BaseException] = []
    with Magsag(catalog=CATALOG, db=tmp_path / "l.db", env=ENV) as mg:

        def explains(i: int) -> None:
            for j in range(3000):
                try:
                    payload = {"data": "x", "model_config": {"model": f"fake:m{(i * 7 + j) % 50}"}}
                    mg.skills.explain("skill.analysis", payload)
                except Exception as exc:
                    failures.append(exc)
                    return

        interval = sys.getswitchinterval()
        sys.setswitchinterval(1e-6)
        try:
            threads = [threading.Thread(target=explains, args=(i,)) for i in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        finally:
            sys.setswitchinterval(interval)
        assert len(mg.service._named_routes) <= 4
    assert failures == []
