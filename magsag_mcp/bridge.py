"""Sync code calling the async service: runs coroutines on the service's home event loop.

The service (its HTTP sessions, its ledger connection) lives on one asyncio loop. Synchronous agent
code in any other thread schedules its coroutine on that loop (a task started there thread-safely) and
blocks for the answer; async code on another loop awaits it there. A bridge refuses use
from a forked copy of the process, from the loop's own thread (it would block the loop) and after
its :class:`~magsag_mcp.api.Magsag` closed, each with the fix.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import inspect
import os
import queue
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio
import anyio.from_thread
import anyio.lowlevel

from .errors import ConfigError

try:
    import sniffio
except ImportError:  # anyio no longer needs it
    sniffio = None  # type: ignore[assignment]

T = TypeVar("T")


class ProcessBound:
    """An object that holds (or reaches) an event loop, HTTP sessions and ledger connections, which exist
    only in the process that made them: pickling it (multiprocessing with 'spawn', a process pool) is
    refused with the fix, not with a TypeError about whichever of its parts pickle met first."""

    def __copy__(self) -> Any:  # a shallow copy shares the loop and connections, as it did before
        clone = type(self).__new__(type(self))
        clone.__dict__.update(self.__dict__)
        return clone

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        # The handle itself, as deepcopy gives a function or a class: what holds one (an agent's settings
        # in a dataclass that asdict() copies, a pydantic model's deep copy) is copied around it, rather than
        # refused as if it were sent to another process (deepcopy goes through __reduce__ otherwise).
        return self

    def __reduce__(self) -> Any:
        raise ConfigError(
            f"a {type(self).__name__} cannot be sent to another process: its event loop and ledger connections "
            "stay in the process that made them; make a new Magsag() in each process (for example in a "
            "multiprocessing pool's initializer) and send only payloads and results"
        )


class LoopBound(ProcessBound):
    """An object whose ledger writer is a task of the event loop that made it: used from another loop (a
    second ``asyncio.run``), a write waited for ever, or raced the writer. Such use is refused with the fix."""

    _loop: asyncio.AbstractEventLoop

    def _bind_loop(self) -> None:
        self._loop = asyncio.get_running_loop()

    def _on_own_loop(self) -> None:
        if asyncio.get_running_loop() is not self._loop:
            gone = "has closed since" if self._loop.is_closed() else "runs elsewhere"
            raise ConfigError(
                f"this service was opened on another event loop, which {gone}, and its ledger writes on that "
                "loop only; open the service in the loop that uses it (`async with Service.open() as service:` "
                "inside the function asyncio.run runs), or use Magsag, whose calls may come from any loop or thread"
            )


class Bridge(ProcessBound):
    """Runs coroutines on the service's home loop from synchronous code in any other thread."""

    def __init__(self, token: Any) -> None:
        self.token = token
        self.loop_thread = threading.get_ident()
        #: the process whose event loop the token names (see check_process)
        self.pid = os.getpid()
        #: set when the Magsag that owns the loop closes (see check_open)
        self.closed = False

    def check_process(self) -> None:
        """Refuse use from a forked copy of the process that made this bridge: its event-loop thread
        does not exist there (threads do not survive fork), so a call would wait for ever, and the
        ledger's SQLite connections must not be used across a fork either."""
        if os.getpid() != self.pid:
            raise ConfigError(
                f"this Magsag was made in process {self.pid} and this is process {os.getpid()}, a fork of "
                "it: its event loop and ledger connections do not carry over to a child process; make a new "
                "Magsag() in each process (for example in a multiprocessing worker's initializer), or use "
                "multiprocessing.get_context('spawn')"
            )

    def check_open(self) -> None:
        """Refuse use after the owning :class:`Magsag` closed: its loop, connections and sessions are gone."""
        if self.closed:
            raise ConfigError(
                "this Magsag is closed: its event loop and ledger connection are gone; make a new Magsag() "
                "(or use this one only inside its `with` block, before close())"
            )

    def _closed_mid_call(self) -> ConfigError:
        return ConfigError(
            "this Magsag was closed while the call was in flight, so the call was cancelled (and recorded as "
            "cancelled, with what it spent); close a Magsag only once the threads and tasks using it are done"
        )

    @classmethod
    def here(cls) -> Bridge:
        """A bridge to the event loop running in this thread (call from async code)."""
        return cls(anyio.lowlevel.current_token())

    def run(
        self, fn: Callable[..., Awaitable[T]], *args: Any, caller: CallingThread | None = None, detached: bool = False
    ) -> T:
        """Run ``fn(*args)`` on the home loop and wait for it; ``caller``: the call's callbacks, run on this
        thread while it waits (see :class:`CallingThread`). ``detached``: no call of the agent run of this thread
        (see :class:`AgentRun`), which its cancellation neither refuses nor cancels: the record of its end."""
        self.check_process()
        self.check_open()  # first: a closed loop's thread id may since have been given to another thread
        if threading.get_ident() == self.loop_thread:
            raise ConfigError(
                "a synchronous magsag call was made on the event loop's own thread, where it would block "
                "the loop; in async code use the async form (await skills.ainvoke(...), await obs.alog(...))"
            )
        # Scheduled here, not with anyio.from_thread.run: from a worker thread of another loop (an agent
        # that Runner.arun runs), anyio tied the call to that loop's cancel scope, cancelled it from that
        # loop's thread (asyncio is not thread-safe), and the home loop saw it only when it next woke.
        # Such a call is cancelled with its agent run instead (AgentRun).
        run = None if detached else AgentRun.current()
        home = self.token.native_token
        try:
            if home.is_closed():
                raise anyio.RunFinishedError
            if run is not None and run.cancelled:
                raise concurrent.futures.CancelledError
            context = contextvars.copy_context()  # the call's async library is asyncio whatever the caller's
            if sniffio is not None:
                context.run(sniffio.current_async_library_cvar.set, "asyncio")
            # The future first, the call scheduled inside the try: a Ctrl-C that lands as the call is being
            # scheduled (asyncio.run_coroutine_threadsafe made the future only then) must cancel it too.
            fut: concurrent.futures.Future[T] = concurrent.futures.Future()
            try:
                coro = _awaited(fn, *args)
                try:
                    home.call_soon_threadsafe(_start_task, home, coro, fut, context=context)
                except RuntimeError:  # the loop closed since it was looked at: the call never began
                    coro.close()
                    if home.is_closed():
                        raise anyio.RunFinishedError from None
                    raise
                if run is not None:
                    run.add(fut)
                return fut.result() if caller is None else caller.wait(fut)
            except BaseException:
                # The caller stopped waiting (Ctrl-C, Jupyter's "interrupt kernel"): the call stops too,
                # and records itself as cancelled, rather than being paid for on the loop and thrown away.
                fut.cancel()
                raise
            finally:
                if run is not None:
                    run.discard(fut)
        except (concurrent.futures.CancelledError, asyncio.CancelledError, anyio.RunFinishedError):
            if self.closed:  # closing cancelled the call, or the loop finished before it started
                raise self._closed_mid_call() from None
            if run is not None and run.cancelled:
                raise concurrent.futures.CancelledError("the agent's run was cancelled by its caller") from None
            raise

    async def call(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Await ``fn(*args)`` on the home loop, from async code on any asyncio loop.

        On the home loop it is awaited in place. On another loop (a :class:`Magsag`, whose loop
        runs on its own thread, used inside ``asyncio.run``) it must not run where it is awaited:
        the service's HTTP sessions and ledger connection belong to the home loop, and using them
        from another loop hangs (and ``Magsag.close()`` with it). There the coroutine is scheduled
        on the home loop and the caller's loop awaits its result without blocking; cancelling the
        caller cancels the call on the home loop.
        """
        self.check_process()
        self.check_open()
        home = self.token.native_token  # the asyncio loop (the service runs on asyncio only)
        if awaiting_loop() is home:
            return await fn(*args)
        # Scheduled as run schedules it, not with asyncio.run_coroutine_threadsafe, which started the call even when
        # its caller had stopped waiting before the home loop took it up (asyncio.run ending, a timeout): it ran to
        # its first progress event, which the caller's loop, closed by then, failed with "Event loop is closed".
        fut: concurrent.futures.Future[T] = concurrent.futures.Future()
        ended: concurrent.futures.Future[None] = concurrent.futures.Future()
        coro = _awaited(fn, *args)
        try:
            home.call_soon_threadsafe(_start_task, home, coro, fut, ended)
        except RuntimeError:  # the loop closed since it was looked at: the call never began
            coro.close()
            self.check_open()  # the Magsag closed meanwhile: said as when it had closed before (as run says it)
            raise
        try:
            return await asyncio.wrap_future(fut)
        except asyncio.CancelledError:
            caller = asyncio.current_task()
            if self.closed and caller is not None and not caller.cancelling():
                raise self._closed_mid_call() from None  # the call was cancelled, not the caller's task
            if not ended.cancel():  # (cancelled, it had not begun, and will not: _start_task sees it)
                await _until_ended(ended, home)
            raise


def awaiting_loop() -> asyncio.AbstractEventLoop:
    """The asyncio loop awaiting an ``a*`` method here. Under another async library (trio, or anyio on trio's
    backend) none runs, and asyncio's own RuntimeError ("no running event loop") said nothing of what to do."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        raise ConfigError(
            "the a* methods (ainvoke, alog, asummarize, acheck_budget, ...) are awaited on an asyncio event loop, and "
            "none runs here (trio, or anyio on trio's backend): call the sync form on a worker thread, as "
            "`await anyio.to_thread.run_sync(lambda: mg.skills.invoke(skill_id, payload))` (the call is not "
            "cancelled with its caller), or run your program on asyncio"
        ) from None


def on_this_loop(callback: Callable[..., Any]) -> Callable[..., Awaitable[None]]:
    """``callback`` (sync or async) made to run on the loop running here, wherever it is then called.

    A caller's callback (an async call's ``progress``) writes to the caller's objects: a response, a
    websocket, an ``asyncio.Queue``, all bound to the caller's loop and not thread-safe. The call itself
    runs on the home loop (:meth:`Bridge.call`), so from there the callback is handed back to the caller's
    loop and awaited: what it raises (or its cancellation) travels back with it."""
    caller = awaiting_loop()

    async def call(*args: Any) -> None:
        if asyncio.get_running_loop() is caller:
            await _called(callback, *args)
            return
        coro = _called(callback, *args)
        try:
            handed = asyncio.run_coroutine_threadsafe(coro, caller)
        except RuntimeError:
            coro.close()
            if not caller.is_closed():
                raise
            # The caller's loop has closed with the call in flight (asyncio.run ended, a loop made by hand closed):
            # nobody awaits the call any more, so it stops as a cancelled one, recorded so, rather than failing on
            # "Event loop is closed" as if the caller's callback had raised it.
            raise asyncio.CancelledError("the caller's event loop has closed") from None
        await asyncio.wrap_future(handed)

    return call


_Delivery = tuple[Callable[..., Any], tuple[Any, ...], concurrent.futures.Future[Any]]


class CallingThread:
    """A synchronous call's callback (``skills.invoke(..., progress=...)``) run on the thread that made the
    call, which waits in :meth:`Bridge.run` meanwhile and runs each one as it comes, as an async call's
    runs on the caller's loop (:func:`on_this_loop`).

    Run on the home loop instead, a callback that used the sync API (``obs.log`` on a fallback) was refused
    as "made on the event loop's own thread" and failed the call, and one that took its time (a print to a
    slow terminal, a write to a socket) held every call of the ``Magsag``, from every thread, meanwhile."""

    def __init__(self) -> None:
        #: (callback, its arguments, the future its outcome goes to), and None once the call is done
        self._inbox: queue.SimpleQueue[_Delivery | None] = queue.SimpleQueue()

    @classmethod
    def taking(cls, options: dict[str, Any]) -> CallingThread | None:
        """The ``progress`` callback in ``options`` (replaced there) made to run on this thread, or None."""
        if options.get("progress") is None:
            return None
        here = cls()
        options["progress"] = here._forward(options["progress"])
        return here

    def _forward(self, callback: Callable[..., Any]) -> Callable[..., Awaitable[None]]:
        async def call(*args: Any) -> None:
            done: concurrent.futures.Future[Any] = concurrent.futures.Future()
            self._inbox.put((callback, args, done))
            maybe = await asyncio.wrap_future(done)  # what it raised is raised here, as on the home loop
            if maybe is not None and inspect.isawaitable(maybe):  # an async callback's: awaited here, on a loop
                await maybe  # (what a sync one returns, a file's write its count, is no awaitable: ignored)

        return call

    def wait(self, fut: concurrent.futures.Future[T]) -> T:
        """``fut``'s result, running the callbacks that come meanwhile. What one of them raises goes back to
        the call (which stops with it); a KeyboardInterrupt raises here (the caller cancels the call)."""
        fut.add_done_callback(lambda _: self._inbox.put(None))
        while (item := self._inbox.get()) is not None:
            callback, args, done = item
            if not done.set_running_or_notify_cancel():
                continue  # the call was cancelled meanwhile
            try:
                outcome = callback(*args)
            except StopIteration as exc:
                # an exhausted iterator's next(): an asyncio future refuses StopIteration (a TypeError on the loop,
                # and the call waited for ever), so, as in a coroutine (PEP 479), it is a RuntimeError
                error = RuntimeError(f"the progress callback raised StopIteration{f': {exc}' if str(exc) else ''}")
                error.__cause__ = exc
                done.set_exception(error)
            except Exception as exc:
                done.set_exception(exc)
            else:
                done.set_result(outcome)
        return fut.result()


async def _called(callback: Callable[..., Any], *args: Any) -> None:
    maybe = callback(*args)
    if maybe is not None and inspect.isawaitable(maybe):  # not what a sync callback returned (see emit)
        await maybe


class AgentRun:
    """The calls a synchronous agent makes from the worker thread :meth:`~magsag_mcp.api.Runner.arun` runs it
    on: when the awaiting task is cancelled, the call in flight is cancelled on the home loop (thread-safely)
    and the agent's next calls are refused, so that the agent stops spending when its caller gave up."""

    _local = threading.local()

    def __init__(self) -> None:
        self.cancelled = False
        self._lock = threading.Lock()
        self._calls: set[concurrent.futures.Future[Any]] = set()

    @classmethod
    def current(cls) -> AgentRun | None:
        """The agent run of the calling thread, if it is one that arun started."""
        return getattr(cls._local, "run", None)

    def run_here(self, fn: Callable[[], T]) -> T:
        """``fn()`` in this thread, its bridge calls part of this run."""
        self._local.run = self
        try:
            return fn()
        finally:
            self._local.run = None

    def add(self, fut: concurrent.futures.Future[Any]) -> None:
        with self._lock:
            self._calls.add(fut)
            cancelled = self.cancelled
        if cancelled:
            fut.cancel()

    def discard(self, fut: concurrent.futures.Future[Any]) -> None:
        with self._lock:
            self._calls.discard(fut)

    def cancel(self) -> None:
        with self._lock:
            self.cancelled = True
            calls = list(self._calls)
        for fut in calls:
            fut.cancel()  # the task on the home loop is cancelled there (call_soon_threadsafe)


def _start_task(
    loop: asyncio.AbstractEventLoop,
    coro: Any,
    fut: concurrent.futures.Future[Any],
    ended: concurrent.futures.Future[None] | None = None,
) -> None:
    """On the home loop: run ``coro`` as a task whose outcome goes to ``fut``, the future its caller waits on
    in another thread, and cancel the task when that future is cancelled (the caller stopped waiting). ``ended``
    is running once the task has begun (a caller that stopped waiting before cancels it instead, and the call is
    not begun), and set once the task is over, however it ended: what a caller that stopped waiting once the call
    had begun waits for, the call's unwinding (its record, its reservation given back) being done by then."""
    if ended is not None and not ended.set_running_or_notify_cancel():  # (atomic with the caller's cancel())
        coro.close()
        return
    if fut.cancelled():  # the caller stopped waiting before the call began: nothing is sent
        coro.close()
        if ended is not None:
            _set_ended(ended)
        return
    task = loop.create_task(coro)
    if ended is not None:
        task.add_done_callback(lambda _: _set_ended(ended))

    def caller_gone(f: concurrent.futures.Future[Any]) -> None:
        if f.cancelled():
            try:
                loop.call_soon_threadsafe(task.cancel)
            except RuntimeError:
                pass  # the loop closed meanwhile, and its tasks with it

    fut.add_done_callback(caller_gone)
    task.add_done_callback(lambda t: _settle(fut, t))


def _set_ended(ended: concurrent.futures.Future[None]) -> None:
    try:
        ended.set_result(None)
    except concurrent.futures.InvalidStateError:
        pass  # its caller stopped waiting for it (see _until_ended)


def _settle(fut: concurrent.futures.Future[Any], task: asyncio.Task[Any]) -> None:
    try:
        if task.cancelled():
            fut.cancel()
        elif task.exception() is not None:
            fut.set_exception(task.exception())
        else:
            fut.set_result(task.result())
    except concurrent.futures.InvalidStateError:
        pass  # cancelled by its caller meanwhile


#: the most a caller that cancelled an async call waits for the call to stop on the home loop (it records itself, and
#: gives its reservation back, within the ledger's lock timeout of 30 s): past it, the caller goes on all the same
UNWIND_WAIT_SECONDS = 60.0
#: how often that wait looks whether the home loop has closed, the call's end then never to be said
_LOOK_AGAIN_SECONDS = 0.5


async def _until_ended(ended: concurrent.futures.Future[None], home: asyncio.AbstractEventLoop) -> None:
    """Wait, on the caller's loop, for a call its caller cancelled to stop on the home loop: its cancellation goes
    there thread-safely, and the call records itself as cancelled and gives its reservation back as it unwinds.
    Raised at once, the caller's CancelledError came while the call was still "running" in the ledger, its worst
    case still reserved: the caller's next call (or ``acheck_budget``) met it held, where a :class:`Service`'s call,
    cancelled on its own loop, has unwound when its caller's await ends. A cancellation that comes again meanwhile
    (an anyio cancel scope's, delivered until its task leaves it) does not cut the wait short; nor does a closed home
    loop hold the caller, nor a call that takes past :data:`UNWIND_WAIT_SECONDS` to stop."""
    waited = asyncio.wrap_future(ended)
    loop = asyncio.get_running_loop()
    until = loop.time() + UNWIND_WAIT_SECONDS
    while not waited.done() and not home.is_closed() and (left := until - loop.time()) > 0:
        with anyio.CancelScope(shield=True):  # (anyio's scopes deliver no cancellation within a shielded one)
            try:
                await asyncio.wait({waited}, timeout=min(left, _LOOK_AGAIN_SECONDS))  # (a loop closed meanwhile)
            except asyncio.CancelledError:  # asyncio's own (task.cancel(), a timeout): once, and the wait goes on
                continue
    if not waited.done():
        waited.cancel()  # (nobody will read it: no "exception was never retrieved" at exit)


async def _awaited(fn: Callable[..., Awaitable[T]], *args: Any) -> T:
    # run_coroutine_threadsafe needs a coroutine object; fn may return any awaitable.
    return await fn(*args)


async def current_token() -> Any:
    return anyio.lowlevel.current_token()


async def loop_thread_id() -> int:
    asyncio.get_running_loop()
    return threading.get_ident()
