"""aiohttp's read timeout (``sock_read``, MAGSAG_READ_TIMEOUT) kept by one timer a connection, not two a request.

aiohttp bounds each wait for an answer's bytes with a loop timer of the connection's protocol: armed when the request
has been written, cancelled and armed again whenever bytes come, cancelled when the answer has ended. On the calls'
path that is two handles a request, each made, pushed on the loop's heap (compared through a Python ``__lt__``),
cancelled and swept off it later, for a timeout of minutes that almost never passes; a streamed answer armed one
more for every chunk it came in.

:class:`OneReadTimer` keeps aiohttp's rule, and moves when the wait is due instead of the timer: the wait under
way times out ``sock_read`` seconds after the request was written or its last bytes came; an answer that has ended,
reading paused by the client (its buffer full) or a connection gone time nothing. Its one timer stays armed across the
requests of a pooled connection; when it fires it times out a wait due by then, or arms itself again at when the wait
is due now (one arming every ``sock_read`` seconds of a connection in use). A shorter timeout than the timer's (a
probe's, on a connection a call had) arms it earlier. Closing the connection cancels it.

This reaches into aiohttp's private parts: its ``ResponseHandler`` (where aiohttp keeps it, its timer's methods and
attributes, the constructor taking the loop) and its connector's ``_factory`` and ``_loop``. ``aiohttp>=3.10`` is all
the project pins, and a release may move or rename any of them: :func:`handler_factory` checks every one for the
connector at hand (:func:`missing` names what is not there), and where one is missing the connector keeps aiohttp's
own handler, which times reads by the same ``sock_read`` (two timers a request again, nothing else lost). An aiohttp
without ``aiohttp.client_proto.ResponseHandler`` imports this module all the same (:data:`AIOHTTP_HANDLER` is None).
"""

from __future__ import annotations

import asyncio
import functools
import math
from collections.abc import Callable
from contextvars import Context
from typing import Any

#: aiohttp's protocol of a connection, where this aiohttp keeps it (None where it does not)
AIOHTTP_HANDLER: type | None
try:
    from aiohttp.client_proto import ResponseHandler as AIOHTTP_HANDLER
except ImportError:  # an aiohttp that moved or renamed it: its own handler is used (see handler_factory)
    AIOHTTP_HANDLER = None

__all__ = ["AIOHTTP_HANDLER", "FITS", "OneReadTimer", "handler_factory", "missing"]

#: the handler's methods this module overrides or calls: aiohttp arms its timer through ``start_timeout`` and
#: ``_reschedule_timeout``, cancels it through ``_drop_timeout``, and times out through ``_on_read_timeout``
_METHODS = (
    "_reschedule_timeout",
    "_drop_timeout",
    "start_timeout",
    "_on_read_timeout",
    "close",
    "abort",
    "connection_lost",
)
#: what each handler has from its constructor, read and written here
_ATTRIBUTES = ("_loop", "_read_timeout", "_read_timeout_handle")


def _class_lacks(handler: type | None) -> list[str]:
    if handler is None:
        return ["aiohttp.client_proto.ResponseHandler"]
    return [f"ResponseHandler.{name}()" for name in _METHODS if not callable(getattr(handler, name, None))]


def missing(handler: type | None, connector: Any) -> list[str]:
    """What the one timer relies on and ``handler`` (aiohttp's protocol class) or ``connector`` (its TCP connector)
    lacks: [] where every part is there. The connector's own protocol is made once to tell (a few attributes, no
    connection): the class it makes must be ``handler`` (an aiohttp that made another would lose what that one does),
    with the attributes its constructor sets."""
    lacks = _class_lacks(handler)
    loop = getattr(connector, "_loop", None)
    if not isinstance(loop, asyncio.AbstractEventLoop):
        lacks.append("the connector's _loop")
    factory = getattr(connector, "_factory", None)
    if not callable(factory):
        lacks.append("the connector's _factory")
    if lacks:
        return lacks
    try:
        made = factory()  # type: ignore[misc]
    except Exception as exc:  # (a factory that takes more than aiohttp's does now)
        return [f"the connector's _factory() ({type(exc).__name__})"]
    if type(made) is not handler:
        return [f"the connector's _factory() making {type(made).__name__}, not ResponseHandler"]
    return [f"ResponseHandler().{name}" for name in _ATTRIBUTES if not hasattr(made, name)]


def handler_factory(connector: Any, handler: type | None = AIOHTTP_HANDLER) -> Callable[[], Any] | None:
    """What makes ``connector``'s protocols with their reads timed by one timer, to set as its ``_factory``; None
    where this aiohttp lacks a part of what that relies on (:func:`missing`): the connector keeps its own."""
    if missing(handler, connector):
        return None
    return functools.partial(_one_timer_handler(handler), loop=connector._loop)  # type: ignore[arg-type]


@functools.cache
def _one_timer_handler(handler: type) -> type:
    """aiohttp's protocol class with its read timeout kept by one timer."""
    return type("ReadTimerHandler", (OneReadTimer, handler), {"__module__": __name__})


#: whether this aiohttp's handler class has the methods this replaces (3.10 to 3.14 do); the connector's parts are
#: checked as each is made (:func:`handler_factory`)
FITS = not _class_lacks(AIOHTTP_HANDLER)


class OneReadTimer:
    """Mixed before aiohttp's ``ResponseHandler`` (:func:`handler_factory`): its read timeout kept by one timer (see
    the module's docstring). A mixin, not a subclass, so that an aiohttp without that class imports this module."""

    # set by aiohttp's ResponseHandler (checked by missing())
    _loop: asyncio.AbstractEventLoop
    _read_timeout: float | None
    _read_timeout_handle: asyncio.TimerHandle | None

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)  # type: ignore[call-arg]
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
            self._on_read_timeout()  # type: ignore[attr-defined]
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
        super().close()  # type: ignore[misc]
        self._cancel_read_timer()

    def abort(self) -> None:
        super().abort()  # type: ignore[misc]
        self._cancel_read_timer()

    def connection_lost(self, exc: BaseException | None) -> None:
        super().connection_lost(exc)  # type: ignore[misc]
        self._cancel_read_timer()
