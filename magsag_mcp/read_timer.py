"""aiohttp's read timeout (``sock_read``, MAGSAG_READ_TIMEOUT) kept by one timer a connection, not two a request.

aiohttp bounds each wait for an answer's bytes with a loop timer of the connection's protocol: armed when the request
has been written, cancelled and armed again whenever bytes come, cancelled when the answer has ended. On the calls'
path that is two handles a request, each made, pushed on the loop's heap (compared through a Python ``__lt__``),
cancelled and swept off it later, for a timeout of minutes that almost never passes; a streamed answer armed one
more for every chunk it came in.

:class:`ReadTimerHandler` keeps aiohttp's rule, and moves when the wait is due instead of the timer: the wait under
way times out ``sock_read`` seconds after the request was written or its last bytes came; an answer that has ended,
reading paused by the client (its buffer full) or a connection gone time nothing. Its one timer stays armed across the
requests of a pooled connection; when it fires it times out a wait due by then, or arms itself again at when the wait
is due now (one arming every ``sock_read`` seconds of a connection in use). A shorter timeout than the timer's (a
probe's, on a connection a call had) arms it earlier. Closing the connection cancels it.

This reaches into aiohttp's ``ResponseHandler`` (its timer's methods, its connector's ``_factory``): where an
aiohttp lacks them, :data:`FITS` is false and its own handler is used as it comes.
"""

from __future__ import annotations

import asyncio
import math
from contextvars import Context

from aiohttp.client_proto import ResponseHandler

__all__ = ["FITS", "ReadTimerHandler"]

#: whether this aiohttp's handler times its reads the way this module replaces (3.10 to 3.14 do)
FITS = all(
    callable(getattr(ResponseHandler, name, None))
    for name in ("_reschedule_timeout", "_drop_timeout", "start_timeout", "_on_read_timeout", "close", "abort")
)


class ReadTimerHandler(ResponseHandler):
    """aiohttp's protocol of a connection, its read timeout kept by one timer (see the module's docstring)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        #: when the wait under way times out (the loop's clock); None while no wait is timed
        self._read_due: float | None = None
        #: when the armed timer (``_read_timeout_handle``) fires; inf while none is armed
        self._read_timer_at = math.inf

    def _reschedule_timeout(self) -> None:
        """A wait starts (the request written) or goes on (bytes came): it is due ``sock_read`` seconds from now."""
        timeout = self._read_timeout
        if not timeout:
            self._read_due = None
            return
        due = self._loop.time() + timeout
        self._read_due = due
        if due < self._read_timer_at:
            self._arm(due)

    def _drop_timeout(self) -> None:
        """Nothing is waited for now (the answer ended, reading paused): the timer, left armed, finds nothing due."""
        self._read_due = None

    def _arm(self, when: float) -> None:
        if self._read_timeout_handle is not None:
            self._read_timeout_handle.cancel()
        # in a context of its own: armed during a call, the timer outlives it, and would keep its context (its
        # credentials among its variables) for as long as it stays armed
        self._read_timeout_handle = self._loop.call_at(when, self._read_timer_fired, context=Context())
        self._read_timer_at = when

    def _read_timer_fired(self) -> None:
        at = self._read_timer_at
        self._read_timeout_handle, self._read_timer_at = None, math.inf
        due = self._read_due
        if due is None:
            return
        # the loop runs a timer once its time is within the clock's resolution of it: a wait due by the timer's own
        # time is due (else one due a hair later was armed again, and again, until the clock passed it)
        if due <= max(at, self._loop.time()):
            self._read_due = None
            self._on_read_timeout()
        else:
            self._arm(due)

    def _cancel_read_timer(self) -> None:
        self._read_due = None
        if self._read_timeout_handle is not None:
            self._read_timeout_handle.cancel()
            self._read_timeout_handle, self._read_timer_at = None, math.inf

    # A connection closed or lost waits for nothing more: its timer goes with it (left armed, it would keep the
    # protocol, and through it the connection's buffers, until it fired).

    def close(self) -> None:
        super().close()
        self._cancel_read_timer()

    def abort(self) -> None:
        super().abort()
        self._cancel_read_timer()

    def connection_lost(self, exc: BaseException | None) -> None:
        super().connection_lost(exc)
        self._cancel_read_timer()
