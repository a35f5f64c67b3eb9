"""The connects in flight to each host, per event loop: where one has timed out and the host is taken as down for
callers connecting within as long (:mod:`.providers.local_down`), the others still connecting to it, each waiting
its own connect timeout, are told (:func:`give_up`) and stop, failing as their own connect timeout would have.

The transport (:mod:`.transport`) passes each request a :class:`Connect` as aiohttp's ``trace_request_ctx``; the
trace config :data:`TRACE`, on every session the transport uses (its own or a test's, whatever connector it has),
marks when its connection begins and ends being made. A pooled connection reused makes none, and is never stopped.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

import aiohttp

#: (event loop, origin) -> the connects being made to it
_CONNECTING: dict[tuple[asyncio.AbstractEventLoop, str], set[Connect]] = {}
#: (event loop, origin) -> the loop's time its last connection was made (most recent)
_CONNECTED_AT: dict[tuple[asyncio.AbstractEventLoop, str], float] = {}
#: the most origins kept in :data:`_CONNECTED_AT` (a process names few hosts)
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


class Connect:
    """One request's connection, while it is being made: its task, where it goes and within how long it connects;
    ``given_up``: why it was told to stop (a verdict on its host), None until then."""

    __slots__ = ("url", "connect_s", "task", "key", "given_up")

    def __init__(self, url: str, connect_s: float) -> None:
        self.url = url
        self.connect_s = connect_s
        self.task: asyncio.Task[Any] | None = None
        self.key: tuple[asyncio.AbstractEventLoop, str] | None = None
        self.given_up: str | None = None

    def begin(self) -> None:
        loop = asyncio.get_running_loop()
        self.task = asyncio.current_task()
        self.key = (loop, origin(self.url))
        _CONNECTING.setdefault(self.key, set()).add(self)

    def made(self) -> None:
        key = self.key
        if key is None:
            return
        self.end()
        if key not in _CONNECTED_AT and len(_CONNECTED_AT) >= KEPT:
            _CONNECTED_AT.clear()
        _CONNECTED_AT[key] = key[0].time()

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
    loop = asyncio.get_running_loop()
    made = _CONNECTED_AT.get((loop, origin(url)))
    return made is not None and made >= since


async def _began(session: Any, context: Any, params: Any) -> None:
    if isinstance(connect := context.trace_request_ctx, Connect):
        connect.begin()


async def _made(session: Any, context: Any, params: Any) -> None:
    if isinstance(connect := context.trace_request_ctx, Connect):
        connect.made()


#: the trace config every session of the transport carries
TRACE = aiohttp.TraceConfig()
TRACE.on_connection_create_start.append(_began)
TRACE.on_connection_create_end.append(_made)
TRACE.freeze()


def watch(session: Any) -> None:
    """Have ``session`` (the transport's own, or a test's) mark its connects (:data:`TRACE`)."""
    configs = getattr(session, "trace_configs", None)
    if isinstance(configs, list) and TRACE not in configs:
        configs.append(TRACE)
