"""The connects in flight to each host, per event loop: where one has timed out and the host is taken as down for
callers connecting within as long (:mod:`.providers.local_down`), the others still connecting to it, each waiting
its own connect timeout, are told (:func:`give_up`) and stop, failing as a connect timeout (:class:`ConnectGivenUp`).

Marked at the connector (:func:`watch`: the session's, the transport's own or a test's), around the making of a new
connection only: a request on a pooled connection, the hot path of every provider, pays nothing, and no aiohttp
trace config is set (one made every request build its traces and send its signals, every chunk of a stream too).
"""

from __future__ import annotations

import asyncio
import math
import weakref
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import aiohttp

#: (event loop, origin) -> the connects being made to it
_CONNECTING: dict[tuple[asyncio.AbstractEventLoop, str], set[Connect]] = {}
#: event loop -> origin -> the loop's time its last connection there was made (most recent); a loop's entry goes with
#: the loop (weakly keyed: held by the loop, a process running a loop per call, as ``anyio.run`` or ``asyncio.run`` in
#: a sync caller does, kept every closed loop and all it held alive until 4,096 of them)
_CONNECTED_AT: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, float]] = weakref.WeakKeyDictionary()
#: the most origins kept for one loop in :data:`_CONNECTED_AT` (a process names few hosts)
KEPT = 4096


def origin(url: str) -> str:
    """``url``'s scheme, host and port: where its connection goes."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None:
        port = 443 if parts.scheme == "https" else 80
    return f"{parts.scheme}://{(parts.hostname or '').lower()}:{port}"


class ConnectGivenUp(aiohttp.ConnectionTimeoutError):
    """A connect told to stop (:func:`give_up`): failed as its connect timeout would have; ``why``: what was found.
    aiohttp raises its own ConnectionTimeoutError from it (this one its cause)."""

    def __init__(self, why: str) -> None:
        super().__init__(f"Connection timeout to host (not waited out: {why})")
        self.why = why


def given_up(exc: BaseException) -> str | None:
    """Why the connect that failed with ``exc`` (aiohttp's failure) was told to stop, or None: it was not."""
    for failure in (exc, exc.__cause__):
        if isinstance(failure, ConnectGivenUp):
            return failure.why
    return None


class Connect:
    """One connection, while it is being made: its task, where it goes and within how long it connects;
    ``given_up``: why it was told to stop (a verdict on its host), None until then."""

    __slots__ = ("connect_s", "task", "key", "given_up")

    def __init__(self, url: str, connect_s: float) -> None:
        self.connect_s = connect_s
        self.task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        self.key: tuple[asyncio.AbstractEventLoop, str] | None = (loop, origin(url))
        self.given_up: str | None = None
        _CONNECTING.setdefault(self.key, set()).add(self)

    def made(self) -> None:
        key = self.key
        if key is None:
            return
        self.end()
        loop, where = key
        made_at = _CONNECTED_AT.get(loop)
        if made_at is None:
            made_at = _CONNECTED_AT[loop] = {}
        elif where not in made_at and len(made_at) >= KEPT:
            made_at.clear()
        made_at[where] = loop.time()

    def end(self) -> None:
        """No longer being made (made, failed, or the request gone)."""
        key, self.key = self.key, None
        if key is None:
            return
        connecting = _CONNECTING.get(key)
        if connecting is not None:
            connecting.discard(self)
            if not connecting:
                del _CONNECTING[key]

    def stopped_here(self) -> bool:
        """Whether the cancellation being handled is this connect's being told to stop (:func:`give_up`), and no
        one else's: it is then taken back (the task goes on, to fail as a connect timeout)."""
        if self.given_up is None or self.task is None:
            return False
        return self.task.uncancel() == 0


def give_up(url: str, connect_s: float, why: str) -> int:
    """Tell the connects in flight on this loop to ``url``'s host, each within ``connect_s`` or less (``why``: what
    was found), to stop: they fail at once as their own connect timeout would have. How many were told."""
    if not _CONNECTING:
        return 0
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # (a verdict said outside any loop: no connect of its is in flight)
        return 0
    connecting = _CONNECTING.get((loop, origin(url)))
    told = 0
    for connect in list(connecting or ()):
        if connect.given_up is None and connect.connect_s <= connect_s and connect.task is not None:
            if connect.task is asyncio.current_task():
                continue
            connect.given_up = why
            connect.end()
            connect.task.cancel()
            told += 1
    return told


def connected_since(url: str, since: float) -> bool:
    """Whether a connection to ``url``'s host was made on this loop at or after ``since`` (the loop's time)."""
    if not _CONNECTED_AT:
        return False
    made_at = _CONNECTED_AT.get(asyncio.get_running_loop())
    made = made_at.get(origin(url)) if made_at is not None else None
    return made is not None and made >= since


class _Watched:
    """A connector's ``_create_connection`` (what aiohttp awaits for each new connection, and only then), marking
    the connect in flight while it is made, and failing it as a connect timeout when it is told to stop."""

    __slots__ = ("create",)

    def __init__(self, create: Callable[..., Awaitable[Any]]) -> None:
        self.create = create

    async def __call__(self, req: Any, traces: Any, timeout: aiohttp.ClientTimeout) -> Any:
        connect_s = timeout.sock_connect
        connect = Connect(str(req.url), math.inf if connect_s is None else connect_s)
        try:
            made = await self.create(req, traces, timeout)
        except asyncio.CancelledError:
            # (asyncio closed the socket being connected, as for any cancel; aiohttp frees the connector's slot)
            connect.end()
            if connect.stopped_here():
                raise ConnectGivenUp(connect.given_up or "") from None
            raise
        except BaseException:
            connect.end()
            raise
        # (no await between the connection made and its mark gone: a verdict said after it does not stop it)
        connect.made()
        return made


def watch(session: Any) -> None:
    """Have ``session``'s connector (the transport's own, or a test's) mark its connects; once per connector."""
    connector = getattr(session, "connector", None)
    create = getattr(connector, "_create_connection", None)
    if create is None or isinstance(create, _Watched):
        return
    connector._create_connection = _Watched(create)  # type: ignore[union-attr]
