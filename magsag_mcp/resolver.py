"""Name lookups bounded by the connect timeout.

aiohttp bounds each socket's connect with ``sock_connect``, but not the DNS lookup before it (only its
``connect`` timeout would, and that also bounds the wait for a free pooled connection, which a busy
service must be allowed). A lookup that hangs (a VPN that dropped, a resolver that answers no one) then
held the call until its deadline, minutes later, which reported "no complete answer" and counted the
attempt as maybe billed although nothing had been sent, and left no time for the next target.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver

__all__ = ["BoundedResolver", "NameLookupTimeout"]


class NameLookupTimeout(socket.gaierror):
    """A lookup cut at the connect timeout: no answer from DNS, not a name that does not exist. Converted
    to :class:`~magsag_mcp.errors.NameLookupTimeoutError`, which is not retried while another target is
    left, as a connect timeout is not."""


def _default_resolver() -> AbstractResolver:
    return aiohttp.DefaultResolver()


class BoundedResolver(AbstractResolver):
    """aiohttp's default resolver, failing a lookup that takes longer than ``timeout`` seconds the way a
    name that does not resolve fails (a ``socket.gaierror``, :class:`NameLookupTimeout`: aiohttp reports it
    as a DNS error)."""

    def __init__(self, timeout: float, described: str) -> None:
        self._inner = _default_resolver()
        self._timeout = timeout
        self._described = described

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET) -> list[Any]:  # type: ignore[override]
        try:
            async with asyncio.timeout(self._timeout):
                return await self._inner.resolve(host, port, family)
        except TimeoutError:
            raise NameLookupTimeout(socket.EAI_AGAIN, f"no answer from DNS within {self._described}") from None

    async def close(self) -> None:
        await self._inner.close()
