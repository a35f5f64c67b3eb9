"""A Magsag's life in a real process: left open at exit, interrupted mid-call (Ctrl-C), and its errors
crossing a process boundary. These run in a child interpreter: exit and signals are what they test."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

CATALOG = Path(__file__).resolve().parent.parent / "catalog"
ROOT = Path(__file__).resolve().parent.parent


def _run_child(source: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(source))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAGSAG_", "OPENAI_", "ANTHROPIC_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    # the timeout is a hang guard only: before the fix the child never exited
    return subprocess.run(
        [sys.executable, str(script), str(CATALOG), str(tmp_path / "l.db")],
        env=env, capture_output=True, text=True, timeout=90,
        # Ctrl-C's default in the child, whatever the suite has: run in the background of a non-interactive
        # shell (`./.ci/run &`), it has SIGINT ignored, the child inherits that, and its SIGINT does nothing
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip


def _statuses(db: Path) -> list[str]:
    conn = sqlite3.connect(db)
    try:
        return sorted(status for (status,) in conn.execute("SELECT status FROM runs"))
    finally:
        conn.close()


def test_a_script_that_never_closes_its_magsag_still_exits(tmp_path: Path):
    # Before: `mg = Magsag()` without `with` or close() hung the interpreter at exit for ever (the
    # portal's generator, finalised at shutdown, waited for an event loop whose thread was frozen).
    proc = _run_child(
        """
        import sys
        from magsag_mcp import Magsag

        mg = Magsag(catalog=sys.argv[1], db=sys.argv[2], env={"MAGSAG_PROVIDER": "fake"})
        mg.skills.invoke("skill.analysis", {"data": "x", "model_config": {"model": "fake:echo"}})
        """,
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert _statuses(tmp_path / "l.db") == ["ok"]


def test_a_script_that_never_closes_its_async_service_still_exits(tmp_path: Path):
    # docs/python.md: `await Service.open()`. Before: a script that never reached `await service.aclose()` (it
    # forgot, or an error was raised before it) printed its result or its traceback and then hung at exit
    # for ever, waiting for the ledger's SQLite threads, which only a close stops. Now it exits, its
    # calls recorded as they were made.
    proc = _run_child(
        """
        import asyncio, sys
        from magsag_mcp import Service

        async def main():
            service = await Service.open(catalog=sys.argv[1], db=sys.argv[2], env={"MAGSAG_PROVIDER": "fake"})
            await service.invoke_skill("skill.analysis", {"data": "x", "model_config": {"model": "fake:echo"}})
            await service.invoke_skill("skill.no-such-skill", {"data": "x"})

        asyncio.run(main())
        """,
        tmp_path,
    )
    assert proc.returncode == 1 and "UnknownSkillError" in proc.stderr, proc.stderr
    assert _statuses(tmp_path / "l.db") == ["error", "ok"]


def test_calls_in_flight_when_an_async_script_stops_are_recorded_and_release_their_budget(tmp_path: Path):
    # An asyncio program whose main raised (or was stopped by Ctrl-C) with calls in flight, its service not
    # closed: asyncio.run cancels every task left, the ledger's writer with the calls. Before: the calls,
    # recording themselves as they stopped, found the writer gone ("record not yet written: the ledger ...
    # is not open"), so none was recorded and each held its budget reservation until it expired (a lone
    # call, written inline, was). Now a writer is started for their records: all are recorded, none held.
    proc = _run_child(
        """
        import asyncio, sys
        from magsag_mcp import Service

        async def main():
            service = await Service.open(catalog=sys.argv[1], db=sys.argv[2], env={"MAGSAG_PROVIDER": "fake"})
            slow = {"provider": "fake", "model": "slow", "params": {"latency_ms": 600000}}
            for _ in range(20):
                asyncio.create_task(service.invoke_skill("skill.analysis", {"data": "y", "model_config": slow}))
            while len(service._calls) < 20:
                await asyncio.sleep(0.01)
            raise RuntimeError("the application failed")

        asyncio.run(main())
        """,
        tmp_path,
    )
    assert proc.returncode == 1 and "the application failed" in proc.stderr, proc.stderr
    assert "not yet written" not in proc.stderr
    assert _statuses(tmp_path / "l.db") == ["cancelled"] * 20
    conn = sqlite3.connect(tmp_path / "l.db")
    try:
        assert conn.execute("SELECT COUNT(*) FROM budget_reservations").fetchone() == (0,)
    finally:
        conn.close()


def test_a_call_in_flight_when_the_script_exits_is_recorded_as_cancelled(tmp_path: Path):
    # Before: the call in a daemon thread vanished with the process: no record of what it spent, and its
    # reservation held the budget until it expired. Now the Magsag is closed at exit, as `with` would.
    proc = _run_child(
        """
        import sys, threading, time
        from magsag_mcp import Magsag

        mg = Magsag(catalog=sys.argv[1], db=sys.argv[2], env={"MAGSAG_PROVIDER": "fake"})
        slow = {"provider": "fake", "model": "slow", "params": {"latency_ms": 600000}}
        worker = threading.Thread(
            target=lambda: mg.skills.invoke("skill.analysis", {"data": "y", "model_config": slow}), daemon=True
        )
        worker.start()
        while not mg.service._calls:
            time.sleep(0.01)
        """,
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert _statuses(tmp_path / "l.db") == ["cancelled"]


def test_ctrl_c_during_a_sync_call_cancels_the_call(tmp_path: Path):
    # Ctrl-C in a script, or "interrupt kernel" in Jupyter, while skills.invoke waits. Before: the
    # KeyboardInterrupt reached the caller, but the call went on on the Magsag's loop, was paid for and
    # its answer thrown away (running the cell again paid twice). Now the call is cancelled with its
    # caller, and recorded as cancelled, before anything else happens.
    proc = _run_child(
        """
        import os, signal, sqlite3, sys, threading, time
        from magsag_mcp import Magsag

        mg = Magsag(catalog=sys.argv[1], db=sys.argv[2], env={"MAGSAG_PROVIDER": "fake"})

        def interrupt_once_in_flight():
            while not mg.service._calls:
                time.sleep(0.01)
            os.kill(os.getpid(), signal.SIGINT)

        threading.Thread(target=interrupt_once_in_flight, daemon=True).start()
        slow = {"provider": "fake", "model": "slow", "params": {"latency_ms": 600000}}
        try:
            mg.skills.invoke("skill.analysis", {"data": "x", "model_config": slow})
        except KeyboardInterrupt:
            print("interrupted")
        guard = time.monotonic() + 30  # a hang guard: before the fix the call stayed in flight for 10 minutes
        while mg.service._calls and time.monotonic() < guard:
            time.sleep(0.01)
        db = sqlite3.connect(sys.argv[2])
        print("in flight" if mg.service._calls else "done", db.execute("SELECT status FROM runs").fetchall())
        mg.close()
        """,
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[:2] == ["interrupted", "done [('cancelled',)]"]


def test_ctrl_c_landing_as_a_sync_call_is_scheduled_cancels_the_call(tmp_path: Path):
    # Ctrl-C delivered in the instant between the call being handed to the Magsag's loop and the caller
    # waiting for it (it happened under load, to the test above). Before: the KeyboardInterrupt left before
    # the caller held the call's future, so nothing cancelled the call: it went on for its whole length on
    # the loop, paid for and thrown away. Here the interrupt lands there every time.
    proc = _run_child(
        """
        import sqlite3, sys, threading, time
        from magsag_mcp import Magsag

        mg = Magsag(catalog=sys.argv[1], db=sys.argv[2], env={"MAGSAG_PROVIDER": "fake"})
        home = mg.bridge.token.native_token
        schedule = home.call_soon_threadsafe
        armed = [True]

        def scheduled_then_interrupted(*args, **kwargs):
            handle = schedule(*args, **kwargs)
            if armed and threading.current_thread() is threading.main_thread():
                armed.clear()
                while not mg.service._calls:  # the call is under way on the loop
                    time.sleep(0.01)
                raise KeyboardInterrupt  # as the signal handler raises it, at this point
            return handle

        home.call_soon_threadsafe = scheduled_then_interrupted
        slow = {"provider": "fake", "model": "slow", "params": {"latency_ms": 600000}}
        try:
            mg.skills.invoke("skill.analysis", {"data": "x", "model_config": slow})
        except KeyboardInterrupt:
            print("interrupted")
        guard = time.monotonic() + 30  # a hang guard: before the fix the call stayed in flight for 10 minutes
        while mg.service._calls and time.monotonic() < guard:
            time.sleep(0.01)
        db = sqlite3.connect(sys.argv[2])
        print("in flight" if mg.service._calls else "done", db.execute("SELECT status FROM runs").fetchall())
        mg.close()
        """,
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[:2] == ["interrupted", "done [('cancelled',)]"]


def _roundtrip(err: BaseException) -> BaseException:
    import pickle

    return pickle.loads(pickle.dumps(err))


def test_errors_cross_a_process_boundary_with_their_class_and_fields(tmp_path: Path, fake_scripts: None):
    # A ProcessPoolExecutor (or multiprocessing, joblib, Celery) pickles a worker's exception. Before:
    # a call that ran out of targets (AllTargetsFailed[RateLimitError]) could not be pickled, so the
    # caller got a PicklingError instead of the RateLimitError the guide catches; a PolicyDenied or a
    # BudgetExceeded could not be unpickled and broke the whole pool (BrokenProcessPool).
    from magsag_mcp import AllTargetsFailed, BudgetExceeded, Magsag, PolicyDenied, RateLimitError
    from magsag_mcp.providers.fake import script

    script("rl", *[RateLimitError("slow down", status=429, retry_after=0.001)] * 3)
    env = {"MAGSAG_RETRY_BASE_DELAY": "0.001"}
    with Magsag(catalog=CATALOG, db=tmp_path / "l.db", env=env) as mg:
        try:
            mg.skills.invoke("skill.analysis", {"data": "x", "model_config": {"model": "fake:rl"}})
        except RateLimitError as exc:
            raised = exc
    copy = _roundtrip(raised)
    assert isinstance(copy, RateLimitError) and isinstance(copy, AllTargetsFailed)
    assert type(copy) is type(raised)
    assert (copy.message, copy.status, copy.retry_after, copy.provider, copy.model) == (
        raised.message, 429, 0.001, "fake", "rl",
    )  # fmt: skip
    assert [a.to_dict() for a in copy.attempts] == [a.to_dict() for a in raised.attempts]
    assert isinstance(copy.last_error, RateLimitError) and copy.to_dict() == raised.to_dict()
    assert str(copy) == str(raised)

    for err in (
        PolicyDenied("gpt-4 is not allowed", policy="production_models"),
        BudgetExceeded("over the run limit", policy="cost_limits", limit_usd="5"),
        AllTargetsFailed.build("all failed", attempts=[], last_error=PolicyDenied("no", policy="p")),
    ):
        copy = _roundtrip(err)
        assert type(copy) is type(err) and copy.policy == err.policy and copy.to_dict() == err.to_dict()


def test_sending_a_magsag_to_another_process_says_to_make_one_there(tmp_path: Path, fake_scripts: None):
    # multiprocessing with 'spawn' (the default on macOS and Windows) or a ProcessPoolExecutor pickles what
    # it is given. Before: "TypeError: cannot pickle 'sqlite3.Connection' object" (or 'generator').
    import pickle

    import pytest

    from magsag_mcp import ConfigError, Magsag

    with Magsag(catalog=CATALOG, db=tmp_path / "l.db", env={"MAGSAG_PROVIDER": "fake"}) as mg:
        for thing in (mg, mg.skills, mg.runner, mg.obs, mg.registry, mg.service):
            with pytest.raises(ConfigError, match=r"make a new Magsag\(\) in each process") as info:
                pickle.dumps(thing)
            assert info.value.message.startswith(f"a {type(thing).__name__} cannot be sent to another process")
        import copy

        copied = copy.copy(mg.skills)  # a shallow copy in the same process still works, as before
        assert copied.invoke("skill.analysis", {"data": "x", "model_config": {"model": "fake:echo"}})["model"] == "echo"


def test_a_deep_copy_of_what_holds_a_magsag_shares_it(tmp_path: Path, fake_scripts: None):
    # Agent code keeps its dependencies in a dataclass or a pydantic model and copies it deeply (asdict(),
    # model_copy(deep=True), a framework snapshotting its state). Before: the copy raised "a Skills cannot be
    # sent to another process ... make a new Magsag() in each process", though nothing left the process.
    import copy
    import dataclasses

    from magsag_mcp import Magsag

    @dataclasses.dataclass
    class Deps:
        skills: object
        obs: object
        settings: dict

    with Magsag(catalog=CATALOG, db=tmp_path / "l.db", env={"MAGSAG_PROVIDER": "fake"}) as mg:
        deps = Deps(mg.skills, mg.obs, {"tier": "economy"})
        as_dict = dataclasses.asdict(deps)
        clone = copy.deepcopy(deps)
        assert as_dict["skills"] is mg.skills and clone.obs is mg.obs and clone.settings is not deps.settings
        for thing in (mg, mg.runner, mg.registry, mg.service):
            assert copy.deepcopy([thing])[0] is thing
        result = as_dict["skills"].invoke("skill.analysis", {"data": "x", "model_config": {"model": "fake:echo"}})
        assert result["model"] == "echo"


def test_a_magsag_opened_in_a_late_atexit_hook_and_left_open_lets_the_script_exit(tmp_path: Path):
    # An exit hook of the user's, registered before magsag's own (atexit runs them last registered first), runs after
    # magsag's: nothing of magsag's runs after it to close a Magsag it opens and leaves open (a hook registered while
    # the hooks run is not run). Before: the portal's generator, collected as the interpreter finalised, waited for
    # the loop's thread, frozen by then, and the script hung for ever. Now it exits, the call it made recorded, and a
    # warning says what was not done and the fix.
    proc = _run_child(
        """
        import atexit, sys
        from magsag_mcp import Magsag

        def late():
            global mg  # kept past the hook, as a module's own Magsag would be
            mg = Magsag(catalog=sys.argv[1], db=sys.argv[2], env={"MAGSAG_PROVIDER": "fake"})
            mg.skills.invoke("skill.analysis", {"data": "x", "model_config": {"model": "fake:echo"}})

        atexit.register(late)
        with Magsag(catalog=sys.argv[1], db=sys.argv[2], env={"MAGSAG_PROVIDER": "fake"}):
            pass  # magsag's own exit hook registered, after the user's
        """,
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert _statuses(tmp_path / "l.db") == ["ok"]
    assert "RuntimeWarning: a Magsag opened while the interpreter was exiting" in proc.stderr, proc.stderr
    assert "with Magsag() as mg:" in proc.stderr, proc.stderr


def test_a_magsag_opened_in_a_late_atexit_hook_is_closed_there_by_with_or_by_the_collector(tmp_path: Path):
    # Once weakref's exit hook has run, a weakref finaliser called does nothing. Before: close() ran the Magsag's
    # close through its finaliser, so a Magsag opened in an exit hook run after magsag's own and closed there
    # (`with Magsag() as mg:`, as the warning above asks) closed nothing and waited for its close for ever: the
    # script hung. One dropped in that hook is closed by the collector, as it is before the hooks.
    proc = _run_child(
        """
        import atexit, gc, sys, threading
        from magsag_mcp import Magsag

        def late():
            # the threads started here and still alive, by identity: a count's difference also moved when a thread
            # of the first Magsag's ended meanwhile (the worker that loaded genai-prices' data off its loop)
            before = set(threading.enumerate())
            with Magsag(catalog=sys.argv[1], db=sys.argv[2], env={"MAGSAG_PROVIDER": "fake"}) as mg:
                mg.skills.invoke("skill.analysis", {"data": "x", "model_config": {"model": "fake:echo"}})
            print("closed, threads left", len(set(threading.enumerate()) - before), flush=True)
            dropped = Magsag(catalog=sys.argv[1], db=sys.argv[2], env={"MAGSAG_PROVIDER": "fake"})
            dropped.skills.invoke("skill.analysis", {"data": "y", "model_config": {"model": "fake:echo"}})
            del dropped
            gc.collect()  # closed here: its event loop's thread and the ledger's have ended when it returns
            print("dropped, threads left", len(set(threading.enumerate()) - before), flush=True)

        atexit.register(late)
        with Magsag(catalog=sys.argv[1], db=sys.argv[2], env={"MAGSAG_PROVIDER": "fake"}):
            pass  # magsag's own exit hook registered, after the user's
        """,
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "closed, threads left 0\ndropped, threads left 0\n"
    assert "Warning" not in proc.stderr, proc.stderr
    assert _statuses(tmp_path / "l.db") == ["ok", "ok"]
