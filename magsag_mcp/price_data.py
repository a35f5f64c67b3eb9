"""genai-prices' data, loaded off the event loop: :func:`start_loading` when a service opens, :func:`loaded` before
a call's first price.

The first price lookup of a process imports genai-prices (its package imports an HTTP client for its price updates)
and builds its bundled snapshot of every vendor's models: some 100 to 200 ms of Python on a loaded machine, seconds
under ``python -X dev``. Done where it is first needed (a call's budget reservation, its price), it held the event
loop that long: every other request of an MCP server, every other task of a library user's async app. Here it is
done in a worker thread, started when the service opens (so that it runs beside the ledger's open and while the first
request is read), and the first call that prices awaits it rather than loading it a second time on the loop.

Once per process, whichever loop started it: genai-prices' snapshot is the process's. A load that fails is left to
the lookup, which loads again on its own and raises what it raises, converted where every error is. A custom snapshot
(``set_custom_snapshot``, ``UpdatePrices``) still wins: genai-prices reads which snapshot is current at each lookup,
and the lookup runs after the load, not inside it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading

import anyio

#: the load under way or done, once a service has started it (None: never started in this process)
_loading: concurrent.futures.Future[None] | None = None
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
    global under_way
    try:
        from genai_prices import data_snapshot

        data_snapshot.get_snapshot()
    except BaseException as exc:  # (the lookup loads again, and raises it where errors are converted)
        done.set_exception(exc)
    else:
        done.set_result(None)
    under_way = False


async def _load_off_loop(done: concurrent.futures.Future[None]) -> None:
    await anyio.to_thread.run_sync(_load, done)


def _ended(done: concurrent.futures.Future[None]) -> None:
    """A load's task has ended: the worker thread ran (and ``done`` is set: its task waits for it, cancelled or not),
    or the task was cancelled before it started (its loop ended at once), and nothing will set ``done``. Then the
    callers awaiting it are let go (their lookups load on their own), and the next service to open starts another."""
    global _loading, under_way
    if done.done():
        return
    with _starting:
        if _loading is done:
            _loading, under_way = None, False
    done.set_exception(RuntimeError("genai-prices' data was not loaded: its loop ended before the load started"))


def start_loading() -> None:
    """Start loading genai-prices' data in a worker thread of the running loop, unless a load was started in this
    process already. Returns at once: an open does not wait for it."""
    global _loading, under_way
    with _starting:
        if _loading is not None:
            return
        loading = _loading = concurrent.futures.Future()
        under_way = True
        task = asyncio.get_running_loop().create_task(_load_off_loop(loading), name="magsag price data")
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)
    task.add_done_callback(lambda _: _ended(loading))


async def loaded() -> None:
    """Return once a load :func:`start_loading` started is done (at once when none was, or it is done), leaving the
    loop to the other tasks meanwhile. Cancelling the caller does not stop the load, which another call awaits."""
    done = _loading
    if done is None or done.done():
        return
    try:
        await asyncio.shield(asyncio.wrap_future(done))
    except Exception:  # (the lookup loads on its own, and its error is the call's)
        pass
