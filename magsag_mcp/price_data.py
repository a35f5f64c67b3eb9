"""genai-prices' data, loaded off the event loop: :func:`start_loading` when a service opens, :func:`loaded` before
a call's first price.

The first price lookup of a process imports genai-prices (its package imports an HTTP client for its price updates)
and builds its bundled snapshot of every vendor's models: some 100 to 200 ms of Python on a loaded machine, seconds
under ``python -X dev``. Done where it is first needed (a call's budget reservation, its price), it held the event
loop that long: every other request of an MCP server, every other task of a library user's async app. Here it is
done in a thread of its own, started as the service's open ends (so that it runs while the first request is read and
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
import functools
import os
import threading
import weakref

#: the load under way or done, once a service has started it (None: never started in this process)
_loading: concurrent.futures.Future[None] | None = None
#: the thread that runs it (None once a caller that awaited it has seen it end)
_thread: threading.Thread | None = None
#: whether a load is under way: what a call reads before it prices, a global's read where a call of :func:`loaded`
#: is a coroutine's (every call of the service asks; the load runs once)
under_way = False
#: two services opened at once on two loops' threads start one load between them
_starting = threading.Lock()


def _load(done: concurrent.futures.Future[None]) -> None:
    """What the first lookup loads (see :func:`~.genai_rates.genai_model`): genai-prices' modules, and its current
    snapshot, which is the bundled one unless a custom one was set before."""
    global under_way
    try:
        from genai_prices import data_snapshot

        data_snapshot.get_snapshot()
    except BaseException as exc:  # (the lookup loads again, and raises it where errors are converted)
        failed: BaseException | None = exc
    else:
        failed = None
    # no longer under way before ``done`` says so: a caller it wakes reads under_way False, as every later call does
    under_way = False
    if failed is None:
        done.set_result(None)
    else:
        done.set_exception(failed)


def start_loading() -> None:
    """Start loading genai-prices' data in a thread of its own, unless a load was started in this process already.
    Returns at once: an open does not wait for it.

    A thread of the process's, not a worker of the opening loop's pool: the load is the process's, and runs whatever
    becomes of that loop. As a task of the loop's, a load it had not begun when it stopped or closed (its open
    returning, a Magsag closed at once) never ran, and a Magsag's close left the loop's worker thread behind it,
    still ending the load. Not a daemon: the interpreter's exit waits for a load under
    way (some 200 ms at most) rather than stopping a thread in the middle of an import."""
    global _loading, _thread, under_way
    with _starting:
        if _loading is not None:
            return
        loading: concurrent.futures.Future[None] = concurrent.futures.Future()
        loading.set_running_or_notify_cancel()
        thread = threading.Thread(target=_load, args=(loading,), name="magsag price data")
        # set before the thread runs: it clears under_way as it ends, and a call that reads it True awaits _loading
        _loading, _thread, under_way = loading, thread, True
        try:
            thread.start()
        except RuntimeError as refused:
            # no thread to be had (a limit on threads reached; an exit hook on Python 3.12+): the lookup loads on its
            # own, as after a load that fails, and the next open tries again. Left started, the open raised it and
            # every later call of the process awaited a load no thread would end (set: a call that read under_way
            # True meanwhile, on another loop's thread, goes on)
            _loading, _thread, under_way = None, None, False
            loading.set_exception(refused)


def _forget_in_child() -> None:
    """In the child of a fork: no load under way. The parent's loading thread is not the child's (a fork copies
    only the thread that forked), and a load it was running never ends here: every call of the child's services
    (a pre-forking server's workers) awaited it for ever. The next service the child opens starts a load of its
    own (genai-prices' snapshot, if the parent had loaded it, is the child's copy: found at once). The lock is a new
    one: the parent's may have been held, by a thread that is not the child's, as it forked."""
    global _loading, _thread, under_way, _starting
    _starting = threading.Lock()
    _loading, _thread, under_way = None, None, False


# (Windows has no fork, and no os.register_at_fork: called unguarded, it made importing the package fail there)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_in_child)


async def loaded() -> None:
    """Return once a load :func:`start_loading` started is done (at once when none was, or it is done), leaving the
    loop to the other tasks meanwhile. Cancelling the caller does not stop the load, which another call awaits."""
    global _thread
    done = _loading
    if done is None or done.done():
        return
    # Woken through weak references, not asyncio.wrap_future: the done load is kept for the process, and with it every
    # callback it called (concurrent.futures keeps them), wrap_future's holding the loop that awaited it, with all that
    # loop held (its sessions, its tasks), until the process ended. A failed load wakes it as a done one does (the
    # lookup loads on its own, and its error is the call's); cancelling the caller does not stop the load
    loop = asyncio.get_running_loop()
    woken: asyncio.Future[None] = loop.create_future()
    done.add_done_callback(functools.partial(_wake, weakref.ref(loop), weakref.ref(woken)))
    await woken
    thread, _thread = _thread, None
    if thread is not None:
        # ended but for its last steps (``done`` is set as its last statement): joined, so that a program counting
        # its threads once the call returns (a Magsag closed) sees it gone; a wait of a few microseconds, once
        thread.join()


def _wake(
    loop: weakref.ref[asyncio.AbstractEventLoop],
    woken: weakref.ref[asyncio.Future[None]],
    _done: concurrent.futures.Future[None],
) -> None:
    """Wake the caller of :func:`loaded` awaiting ``woken`` on ``loop`` (called in the loading thread as the load
    ends, or at once in the caller's own where it ended meanwhile); nothing where either is gone."""
    running = loop()
    if running is None:
        return
    try:
        running.call_soon_threadsafe(_set_woken, woken)
    except RuntimeError:  # (its loop closed meanwhile: no one left to wake)
        pass


def _set_woken(woken: weakref.ref[asyncio.Future[None]]) -> None:
    waiting = woken()
    if waiting is not None and not waiting.done():  # (a caller cancelled meanwhile cancelled it)
        waiting.set_result(None)
