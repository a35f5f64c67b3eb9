"""Name lookups, and the tunnel through a proxy, bounded by the connect timeout.

aiohttp bounds each socket's connect with ``sock_connect``, but not the DNS lookup before it (only its
``connect`` timeout would, and that also bounds the wait for a free pooled connection, which a busy
service must be allowed). A lookup that hangs (a VPN that dropped, a resolver that answers no one) then
held the call until its deadline, minutes later, which reported "no complete answer" and counted the
attempt as maybe billed although nothing had been sent, and left no time for the next target.

The same held for an ``https`` request through a proxy (``HTTPS_PROXY``): aiohttp bounds the TCP connect to the
proxy and the TLS handshake through the tunnel, but not the wait for the proxy's answer to ``CONNECT`` (it reads
that answer without a timeout). A proxy that accepted the connection and never answered (one that drops what
it does not allow, a dead upstream) held the call until its deadline, whatever the connect timeout said.
:class:`BoundedConnector` opens the whole tunnel within the connect timeout.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from . import read_timer
from .deadline import attempt_in_force

#: the most failed lookups kept (a process names few hosts; a caller's ever new base URLs are not kept for)
KEPT_FAILURES = 1024

__all__ = ["BoundedConnector", "BoundedResolver", "NameLookupTimeout", "ProxyTunnelTimeout"]


class NameLookupTimeout(socket.gaierror):
    """A lookup cut at the connect timeout: no answer from DNS, not a name that does not exist. Converted
    to :class:`~magsag_mcp.errors.NameLookupTimeoutError`, which is not retried while another target is
    left, as a connect timeout is not."""


def _default_resolver() -> AbstractResolver:
    """aiohttp's default resolver: aiodns's where it is installed (aiohttp[speedups]), else the system's in a thread.
    aiodns before 3.3 (or one whose c-ares has no event thread) refuses Windows' default event loop ("aiodns needs a
    SelectorEventLoop on Windows"), and every call failed there before it was sent: the system's resolver is used."""
    try:
        return aiohttp.DefaultResolver()
    except RuntimeError:
        return aiohttp.ThreadedResolver()


#: how long a lookup that failed (a name that does not exist, or no answer from DNS in time) is answered with its
#: failure, without asking DNS again: aiohttp's cache keeps answers, not failures, and a call a second to a mistyped
#: or unreachable host (a cascade's, a local server whose name a VPN resolves) paid a lookup (up to the connect
#: timeout) each. Seconds, so a name fixed (a VPN back, /etc/hosts edited) is looked up again soon after.
FAILED_LOOKUP_KEPT_S = 10.0


class BoundedResolver(AbstractResolver):
    """aiohttp's default resolver, failing a lookup that takes longer than ``timeout`` seconds the way a
    name that does not resolve fails (a ``socket.gaierror``, :class:`NameLookupTimeout`: aiohttp reports it
    as a DNS error). A failed lookup is kept :data:`FAILED_LOOKUP_KEPT_S` (its words say so), the next ones of the
    name meanwhile failing at once. ``inner``: the resolver asked (aiohttp's default; the seam a test gives its
    own), ``clock``: what a failure's keeping is timed by."""

    def __init__(
        self,
        timeout: float,
        described: str,
        inner: AbstractResolver | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._inner = inner or _default_resolver()
        self._timeout = timeout
        self._described = described
        self._clock = clock
        #: (host, port, family) -> (the failure, until when it is answered with it)
        self._failed: dict[tuple[str, int, int], tuple[OSError, float]] = {}

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        key = (host, port, int(family))
        if self._failed:
            kept = self._failed.get(key)
            if kept is not None:
                if self._clock() < kept[1]:
                    raise type(kept[0])(kept[0].errno, kept[0].strerror)  # (a new one: each raise grows a traceback)
                del self._failed[key]
        try:
            async with asyncio.timeout(self._timeout):
                return await self._inner.resolve(host, port, family)
        except TimeoutError:
            failure: OSError = NameLookupTimeout(socket.EAI_AGAIN, f"no answer from DNS within {self._described}")
        except OSError as exc:  # (the system's resolver: a gaierror; aiodns's, an OSError with its words)
            if _for_now(exc):
                raise
            failure = exc
        raise self._keep(key, failure)

    def _keep(self, key: tuple[str, int, int], failure: OSError) -> OSError:
        """Answer ``failure`` for ``key`` for :data:`FAILED_LOOKUP_KEPT_S`: the failure to raise, its words saying
        so (a name fixed meanwhile is seen only after that)."""
        if len(self._failed) >= KEPT_FAILURES:
            self._failed.clear()
        said = f"{failure.strerror or failure}; kept {FAILED_LOOKUP_KEPT_S:g}s, not looked up again meanwhile"
        kept = type(failure)(failure.errno, said)
        self._failed[key] = (kept, self._clock() + FAILED_LOOKUP_KEPT_S)
        return kept

    async def close(self) -> None:
        await self._inner.close()


def _for_now(exc: OSError) -> bool:
    """Whether the system's resolver said at once that it could not answer for now (``EAI_AGAIN``, "Temporary failure
    in name resolution": a network coming up, a DNS server restarting). Not kept: found at once, it costs no wait, and
    the transport retries it (a later try may get past it), each retry a lookup answered with the kept failure and a
    backoff slept for nothing. Its lookup cut at the connect timeout (:class:`NameLookupTimeout`) is kept."""
    return isinstance(exc, socket.gaierror) and exc.errno == socket.EAI_AGAIN


class ProxyTunnelTimeout(TimeoutError):
    """The tunnel through a proxy (its TCP connect, its answer to ``CONNECT``, the TLS handshake through it) not
    opened within the connect timeout. aiohttp reports it as a connect timeout, this as its cause."""


class BoundedConnector(aiohttp.TCPConnector):
    """aiohttp's connector, opening a connection through a proxy within the connect timeout (``sock_connect``), the
    proxy's answer to ``CONNECT`` included (see the module's docstring). Its connections time their reads with one
    timer each (:mod:`~magsag_mcp.read_timer`) where this aiohttp has every part that relies on, else as aiohttp does.
    ``handler``: aiohttp's protocol class, as this aiohttp has it (the seam a test gives one lacking a part)."""

    def __init__(self, *, handler: type | None = read_timer.AIOHTTP_HANDLER, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        one_timer = read_timer.handler_factory(self, handler)
        if one_timer is not None:
            self._factory = one_timer  # type: ignore[assignment]  # (aiohttp's private seam, typed as its own partial)

    # The attempt under way (:class:`~.sends.Sends`) is marked as waiting for a connection, then as given one: stopped
    # before (the pool full of other calls' requests, a connection still being opened), none of its request had left,
    # and nothing can be billed for it (a caller cancelling then was recorded as "the provider may still bill it", at
    # its worst case). Marked where aiohttp waits or opens a connection, not around ``connect``: a request given a
    # pooled connection (most are) goes through neither, and a wrapper around ``connect`` was one coroutine more on
    # every request (some 3,500 instructions). A pooled connection taken at once is not marked at all: the attempt's
    # ``connecting`` stays False, and a request handed to aiohttp counts as having left (``Sends.left``). An aiohttp
    # without these methods marks nothing: every request handed to it counts as having left, as before.

    async def _wait_for_available_connection(self, key: Any, traces: Any) -> None:
        sends = attempt_in_force()
        if sends is None:
            return await super()._wait_for_available_connection(key, traces)  # type: ignore[misc]
        sends.connecting = True
        await super()._wait_for_available_connection(key, traces)  # type: ignore[misc]
        # a slot free: aiohttp takes a pooled connection at once (no await between) or opens one (marked below); until
        # then the request counts as having left, never the other way round
        sends.connecting = False
        return None

    async def _create_connection(self, req: Any, traces: Any, timeout: aiohttp.ClientTimeout) -> Any:
        sends = attempt_in_force()
        if sends is None:
            return await super()._create_connection(req, traces, timeout)
        sends.connecting = True
        proto = await super()._create_connection(req, traces, timeout)
        sends.connected = True
        return proto

    async def _create_proxy_connection(self, req: Any, traces: Any, timeout: aiohttp.ClientTimeout) -> Any:
        seconds = timeout.sock_connect
        if seconds is None:
            return await super()._create_proxy_connection(req, traces, timeout)
        try:
            async with asyncio.timeout(seconds):
                return await super()._create_proxy_connection(req, traces, timeout)
        except TimeoutError:
            raise ProxyTunnelTimeout() from None
