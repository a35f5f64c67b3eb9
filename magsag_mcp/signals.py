"""SIGTERM (and SIGHUP) stops a command the way Ctrl-C does, so a call in flight still records what it spent.

Hosts stop processes with SIGTERM: an MCP client after closing the server's stdin, Docker, systemd.
Python's default for it is to die on the spot, so a call already sent (and perhaps billed) would
leave no record and hold its budget reservation until it expired. Turned into SIGINT, it takes the
path Ctrl-C takes: ``asyncio``'s runner cancels the main task, synchronous code gets
``KeyboardInterrupt``, and each cancelled call records its attempts on the way out.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import stat
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack
from types import FrameType
from typing import Any, NoReturn, TypeVar

T = TypeVar("T")

#: the signal that stopped the process, if one did (for its exit status: 128 + the number; Ctrl-C's only where it
#: came during a write, see :func:`writing_output`, and 130 otherwise)
received: int | None = None
#: the file descriptor of the output a write is under way to (see :func:`writing_output`), while one is
_writing_to: int | None = None
#: whether SIGTERM or Ctrl-C sent the output to /dev/null (:func:`writing_output`): the command did not write it all
output_given_up = False


def sigterm_as_interrupt() -> None:
    """Handle SIGTERM as SIGINT from now on (only the main thread may set handlers), unless SIGINT is ignored."""
    if threading.current_thread() is not threading.main_thread():
        return
    # Started with SIGINT ignored (a script's background job, shielded from the terminal's Ctrl-C), a
    # SIGTERM turned into SIGINT would be dropped: the process would run on to its deadline. It keeps
    # SIGTERM's default then, stopping at once, except where a command watches for it itself while it
    # calls (stopped_by_sigterm: `magsag invoke`), recording the call in flight.
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        signal.signal(signal.SIGTERM, _interrupt)
        # SIGHUP too (the terminal a `magsag invoke` runs in closing: an ssh session dropped), as the servers take it
        # (server_stop_signals): Python's default ended the command on the spot, its call in flight (perhaps billed)
        # unrecorded and its reservation held; now the call is recorded as cancelled, exit status 129. Left ignored
        # under nohup, as the operator asked.
        hangup = getattr(signal, "SIGHUP", None)
        if hangup is not None and signal.getsignal(hangup) is not signal.SIG_IGN:
            signal.signal(hangup, _interrupt)


def server_stop_signals() -> tuple[signal.Signals, ...]:
    """The signals that stop a server (stdio's or HTTP's) the way SIGTERM does, its calls in flight cancelled and
    recorded: SIGINT, SIGTERM and, where there is one, SIGHUP. A terminal that closes hangs up the processes it ran
    (an ssh session ended with the server in its foreground; the terminal a coding agent's CLI ran in, with its stdio
    servers), and supervisors asked to reload send it (``systemctl reload`` with ``ExecReload=kill -HUP``,
    ``supervisorctl signal HUP``): Python's default ends the process on the spot, and the call in flight (perhaps
    billed) went unrecorded, its budget reservation held until it expired. A server started with SIGHUP ignored
    (``nohup``) keeps ignoring it: the operator asked for that."""
    hangup = getattr(signal, "SIGHUP", None)
    if hangup is None or signal.getsignal(hangup) is signal.SIG_IGN:
        return (signal.SIGINT, signal.SIGTERM)
    return (signal.SIGINT, signal.SIGTERM, hangup)


def end_by_signal(signum: int) -> NoReturn:
    """End the process by ``signum`` once it has done its exit work, as Python ends one that Ctrl-C stopped: its atexit
    hooks run (logging's flush, an OpenTelemetry provider's export of the spans and metrics it still holds), then the
    signal is raised again with its default action. A server stopped by SIGTERM or SIGHUP, its calls recorded, so
    ends by that signal (systemd counts it a clean stop; a container runtime shows 128 + its number) without losing
    what an exit hook writes. Called outside any event loop (a hook may run one of its own)."""
    atexit._run_exitfuncs()  # (the interpreter's own exit runs them so; each runs once: they are cleared after)
    with contextlib.suppress(OSError, ValueError):  # (not the main thread, or not a signal this system has)
        signal.signal(signum, signal.SIG_DFL)
        signal.raise_signal(signum)
    os._exit(128 + signum)  # where the signal's default did not end it (one the system ignores by default)


async def stopped_by_sigterm(fn: Callable[[], Awaitable[T]]) -> T:
    """``await fn()``; in a process started with SIGINT ignored (see :func:`sigterm_as_interrupt`), a
    SIGTERM meanwhile cancels it as Ctrl-C would, so the call in flight is recorded (``cancelled``) and
    its reservation released, and raises KeyboardInterrupt after (exit status 143). Elsewhere SIGTERM
    is already Ctrl-C, and this is only ``await fn()``."""
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.SIG_IGN
    ):
        return await fn()
    import anyio
    import anyio.abc

    outcome: list[T] = []
    failed: Exception | None = None
    async with anyio.create_task_group() as tg:

        async def watch(*, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
            global received
            with ExitStack() as stack:
                try:
                    signals = stack.enter_context(anyio.open_signal_receiver(signal.SIGTERM))
                except NotImplementedError:
                    task_status.started()
                    return  # an event loop without signal handlers (Windows): SIGTERM keeps its default
                task_status.started()
                async for signum in signals:
                    received = signum
                    tg.cancel_scope.cancel()
                    return

        # started, not started soon: its receiver is set before fn's first line (which, before its first await,
        # may make the file that a SIGTERM left to its default would leave behind: an export's --output)
        await tg.start(watch)
        try:
            outcome.append(await fn())
        except Exception as exc:  # raised as it is, not inside the task group's ExceptionGroup
            failed = exc
        tg.cancel_scope.cancel()
    if failed is not None:
        raise failed
    if not outcome:
        raise KeyboardInterrupt
    return outcome[0]


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt inside the block even where :func:`sigterm_as_interrupt` left it to its
    default (a process started with SIGINT ignored: a script's background job), for synchronous work that leaves a
    file it must remove on the way out (``data backup``'s copy beside FILE, which SIGTERM's default, dying on the spot,
    left behind). Python runs the handler once the C call under way returns (SQLite's backup of the whole ledger, or
    its wait for a lock): the work stops then, its ``finally`` clauses run, and the exit status is 143."""
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    ):
        yield  # SIGTERM is already Ctrl-C (sigterm_as_interrupt), or someone else's to handle
        return

    def stop(signum: int, frame: FrameType | None) -> None:
        global received
        received = signum
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def too_late_to_stop() -> Iterator[None]:
    """Ctrl-C (and SIGTERM, where it is taken as Ctrl-C) held off for the block, which reports work already done and
    committed (``data prune``'s deleted records): a Ctrl-C landing as the prune finished made it exit 130, its report
    printed or cut short, and a script read a prune that had deleted the records as one that stopped. The report is
    printed whole and the command's own status stands. A write blocked on a pipe whose reader stopped is still ended
    by the signal (:func:`writing_output` wraps this handler as any other): the report went nowhere then, which
    :data:`output_given_up` says (exit status 130 or 143). Only the main thread sets handlers; a signal ignored or
    left to the system's default (SIGTERM in a background job: the process ends) is left as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def held(signum: int, frame: FrameType | None) -> None:
        return None  # (the work is done: nothing is left to stop)

    previous: dict[int, Any] = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        handler = signal.getsignal(signum)
        if callable(handler):
            previous[signum] = handler
            signal.signal(signum, held)
    try:
        yield
    finally:
        for number, put_back in previous.items():
            if signal.getsignal(number) is held:  # a handler set meanwhile (by whom?) is left to it
                signal.signal(number, put_back)


def exit_status() -> int:
    """The exit status of a process stopped by a signal: 143 for SIGTERM, 129 for SIGHUP, 130 for Ctrl-C."""
    return 128 + (received or signal.SIGINT)


def taken() -> str:
    """The signal received, stopping work that needed no more than stopping (``data prune``'s vacuum, its records
    deleted already), named ("Ctrl-C", "SIGTERM") and forgotten: the command goes on to report and exit as it would
    have, its output written (a write after a signal was sent nowhere, see :func:`writing_output`)."""
    global received
    name = "Ctrl-C" if received in (None, signal.SIGINT) else signal.Signals(received).name
    received = None
    return name


@contextlib.contextmanager
def writing_output(fd: int) -> Iterator[None]:
    """Around a write to the process's output (``fd``: stdout's, or a named pipe's that ``--output`` names), which
    SIGTERM ends if it is blocked.

    A write into a pipe whose reader stopped reading (``magsag data query --format csv | consumer``, the consumer
    stuck or stopped) blocks while the pipe is full. SIGTERM interrupts it, and is taken as Ctrl-C, which asyncio's
    runner takes as "cancel the main task": at its next await, which the write, retried once the handler returned,
    never reached. The process waited on the pipe until it was killed. A pipe's (or a socket's) output is sent to
    /dev/null then, so that the write ends and the cancellation goes its way (an export's ledger closed, exit
    status 143, also where the command ended before an await took the cancellation: :data:`output_given_up`);
    what the pipe already holds is still read. A regular file's write ends by itself.

    Ctrl-C (SIGINT) had the same wait: asyncio's runner takes the first as "cancel the main task" and returns, the
    write blocked again, and only a second Ctrl-C (a KeyboardInterrupt raised in the write) stopped the export. So
    had SIGTERM where SIGINT is ignored (a background job), watched for by :func:`stopped_by_sigterm`, whose
    handler only wakes the event loop. For the length of the write, their handlers send the output nowhere first,
    then do what they did."""
    global _writing_to
    _writing_to = fd  # set before received is looked at: a SIGTERM after this line is the handler's to act on
    restore = _signals_end_the_write()
    try:
        if received is not None:  # arrived before this write began: it would block as well
            _output_nowhere(fd)
        yield
    finally:
        _writing_to = None
        restore()


def _signals_end_the_write() -> Callable[[], None]:
    """The handlers of SIGINT and SIGTERM (asyncio's runner's, Python's own, the event loop's that
    :func:`stopped_by_sigterm` watches with, :func:`_interrupt`) wrapped, until the returned function puts them back,
    so that either signal sends the output being written nowhere before it is handled. Only the main thread sets
    handlers; a signal ignored or left to the system's default is left as it is."""
    if threading.current_thread() is not threading.main_thread():
        return _nothing
    wrapped: list[tuple[int, Any, Any]] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        previous = signal.getsignal(signum)
        if not callable(previous):
            continue
        handler = _ending_the_write(previous)
        signal.signal(signum, handler)
        wrapped.append((signum, handler, previous))

    def restore() -> None:
        for signum, handler, previous in wrapped:
            if signal.getsignal(signum) is handler:  # a handler set meanwhile (by whom?) is left to it
                signal.signal(signum, previous)

    return restore


def _ending_the_write(previous: Callable[[int, FrameType | None], Any]) -> Callable[[int, FrameType | None], Any]:
    def handler(signum: int, frame: FrameType | None) -> Any:
        global received
        if received is None:  # the exit status's (the command may end before an await takes the cancellation)
            received = signum
        if _writing_to is not None:
            _output_nowhere(_writing_to)
        return previous(signum, frame)

    return handler


def _nothing() -> None:
    return None


def _output_nowhere(fd: int) -> None:
    """``fd`` pointed at /dev/null, if it is a pipe or a socket (whose write may wait on its reader for ever)."""
    global output_given_up
    with contextlib.suppress(OSError):
        mode = os.fstat(fd).st_mode
        if not stat.S_ISFIFO(mode) and not stat.S_ISSOCK(mode):
            return
        nowhere = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(nowhere, fd)
            output_given_up = True
        finally:
            os.close(nowhere)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    global received
    received = signum
    if _writing_to is not None:  # a write to the output is under way, perhaps blocked on a full pipe
        _output_nowhere(_writing_to)
    signal.raise_signal(signal.SIGINT)
