"""genai-prices' data, loaded off the event loop: :func:`start_loading` when a service opens, :func:`loaded` before
a call's first price.

The first price lookup of a process imports genai-prices (its package imports an HTTP client for its price updates)
and builds its bundled snapshot of every vendor's models: some 100 to 200 ms of Python on a loaded machine, seconds
under ``python -X dev``. Done where it is first needed (a call's budget reservation, its price), it held the event
loop that long: every other request of an MCP server, every other task of a library user's async app. Here it is
done in a worker thread, started as the service's open ends (so that it runs while the first request is read and
begins; not beside the ledger's open, which it slowed down: both want the GIL), and the first call that prices awaits
it rather than loading it a second time on the loop.

Once per process, whichever loop started it: genai-prices' snapshot is the process's. A load that fails is left to
the lookup, which loads again on its own and raises what it raises, converted where every error is. A custom snapshot
(``set_custom_snapshot``, ``UpdatePrices``) still wins: genai-prices reads which snapshot is current at each lookup,
and the lookup runs after the load, not inside it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading

import anyio

#: the load under way or done, once a service has started it (None: never started in this process, or the last
#: one never ran: see :func:`_never_ran`)
_loading: concurrent.futures.Future[None] | None = None
#: the loop whose worker thread runs it
_loop: asyncio.AbstractEventLoop | None = None
#: whether a load is under way: what a call reads before it prices, a global's read where a call of :func:`loaded`
#: is a coroutine's (every call of the service asks; the load runs once)
under_way = False
#: two services opened at once on two loops' threads start one load between them
_starting = threading.Lock()
#: the tasks that run a load in a worker thread: an event loop holds its tasks only weakly
_tasks: set[asyncio.Task[None]] = set()


def _load(done: concurrent.futures.Future[None]) -> None:
    """What the first lookup loads (see :func:`~.rates.genai_model`): genai-prices' modules, and its current
    snapshot, which is the bundled one unless a custom one was set before."""
    global under_way, _loop
    with _starting:  # (the one lock: a load starts here, or is given up on in _never_ran, never both)
        if done.done():  # given up on, its loop closed as this thread started
            return
        done.set_running_or_notify_cancel()  # running: whatever becomes of its loop now, it is set below
    try:
        from genai_prices import data_snapshot

        data_snapshot.get_snapshot()
    except BaseException as exc:  # (the lookup loads again, and raises it where errors are converted)
        failed: BaseException | None = exc
    else:
        failed = None
    # no longer under way before ``done`` says so: a caller it wakes reads under_way False, as every later call does
    # (the loop not held once it is done: a Magsag's closes with it)
    under_way, _loop = False, None
    if failed is None:
        done.set_result(None)
    else:
        done.set_exception(failed)


async def _load_off_loop(done: concurrent.futures.Future[None]) -> None:
    await anyio.to_thread.run_sync(_load, done)


def _never_ran(done: concurrent.futures.Future[None], why: str) -> None:
    """Forget ``done``, a load that never started and never will: the callers awaiting it are let go (their lookups
    load on their own), and the next service to open starts another."""
    global _loading, _loop, under_way
    with _starting:
        if done.running() or done.done():  # started after all (see _load)
            return
        done.set_exception(RuntimeError(f"genai-prices' data was not loaded: {why}"))
        if _loading is done:
            _loading, _loop, under_way = None, None, False


def _ended(done: concurrent.futures.Future[None]) -> None:
    """A load's task has ended: its worker thread ran (and set ``done``: the task waits for it, cancelled or not),
    or the task was cancelled before it started (its loop ended at once)."""
    _never_ran(done, "its loop ended before the load started")


def start_loading() -> None:
    """Start loading genai-prices' data in a worker thread of the running loop, unless a load was started in this
    process already. Returns at once: an open does not wait for it."""
    global _loading, _loop, under_way
    with _starting:
        if _loading is not None:
            return
        loading = _loading = concurrent.futures.Future()
        _loop, under_way = asyncio.get_running_loop(), True
        task = _loop.create_task(_load_off_loop(loading), name="magsag price data")
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)
    task.add_done_callback(lambda _: _ended(loading))


def _forget_in_child() -> None:
    """In the child of a fork: no load under way. The parent's worker thread is not the child's (a fork copies
    only the thread that forked), and a load it was running never ends here: every call of the child's services
    (a pre-forking server's workers) awaited it for ever. The next service the child opens starts a load of its
    own (genai-prices' snapshot, if the parent had loaded it, is the child's copy: found at once). The lock is a new
    one: the parent's may have been held, by a thread that is not the child's, as it forked."""
    global _loading, _loop, under_way, _starting, _tasks
    _starting = threading.Lock()
    _loading, _loop, under_way, _tasks = None, None, False, set()


os.register_at_fork(after_in_child=_forget_in_child)


async def loaded() -> None:
    """Return once a load :func:`start_loading` started is done (at once when none was, or it is done), leaving the
    loop to the other tasks meanwhile. Cancelling the caller does not stop the load, which another call awaits."""
    done, loop = _loading, _loop
    if done is None or done.done():
        return
    if not done.running() and loop is not None and not loop.is_running():
        # its loop was closed with the task not yet run, and not cancelled (loop.close() alone): nothing will run
        # it, and every call of every later service waited for it for ever. Or that loop stopped, not closed (its
        # run_until_complete returned as the open did): it runs the task when it runs again, if ever, and every call
        # on any other loop waited for it until then. Given up (the lookup loads on its own); the task, run later,
        # finds it given up and loads nothing
        _never_ran(done, "its loop stopped before the load started")
        return
    try:
        await asyncio.shield(asyncio.wrap_future(done))
    except Exception:  # (the lookup loads on its own, and its error is the call's)
        pass
