"""A name that does not resolve is not looked up again by every call for a few seconds
(resolver.FAILED_LOOKUP_KEPT_S): aiohttp's cache keeps answers, not failures, and each call to a mistyped host, or to
one a VPN no longer resolves, paid its lookup (up to the connect timeout, one that gets no answer). The resolver asked
is the seam a test gives: one counting each lookup and failing it as the system's does."""

from __future__ import annotations

import socket

import aiohttp
import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from magsag_mcp.errors import ProviderConnectionError
from magsag_mcp.resolver import FAILED_LOOKUP_KEPT_S, BoundedResolver
from magsag_mcp.transport import Transport

pytestmark = pytest.mark.anyio


class NoSuchName(AbstractResolver):
    """DNS answering that no name exists (EAI_NONAME), as getaddrinfo does for a mistyped host; each lookup counted."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.asked.append(host)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    async def close(self) -> None:
        pass


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_name_that_does_not_resolve_is_looked_up_once_for_a_while():
    dns, clock = NoSuchName(), Clock()
    resolver = BoundedResolver(5.0, "5 s", inner=dns, clock=clock)
    transport = Transport(
        session_factory=lambda: aiohttp.ClientSession(connector=aiohttp.TCPConnector(resolver=resolver)), env={}
    )
    try:
        errors = []
        for _ in range(3):
            with pytest.raises(ProviderConnectionError) as info:
                await transport.post_json("http://ollama-box.invalid:11434/v1/responses", {}, headers={})
            errors.append(info.value)
        assert dns.asked == ["ollama-box.invalid"], dns.asked  # (was one lookup a call)
        # said as before, a name that does not resolve, not retried (the fix is the configuration's), and how long
        # the failure is kept
        for error in errors:
            assert "its name does not resolve" in error.message, error.message
            assert f"kept {FAILED_LOOKUP_KEPT_S:g}s, not looked up again meanwhile" in error.message, error.message
            assert error.retryable is False and error.reached is False
        # after a while, looked up again: a name fixed (a VPN back, /etc/hosts edited) is seen
        clock.now += FAILED_LOOKUP_KEPT_S
        with pytest.raises(ProviderConnectionError):
            await transport.post_json("http://ollama-box.invalid:11434/v1/responses", {}, headers={})
        assert dns.asked == ["ollama-box.invalid"] * 2
    finally:
        await transport.aclose()


async def test_another_name_and_an_answer_are_not_kept_as_a_failure():
    class Mixed(NoSuchName):
        async def resolve(
            self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
        ) -> list[ResolveResult]:
            self.asked.append(host)
            if host == "bad.invalid":
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            return [{"hostname": host, "host": "127.0.0.1", "port": port, "family": family, "proto": 0, "flags": 0}]

    dns = Mixed()
    resolver = BoundedResolver(5.0, "5 s", inner=dns, clock=Clock())
    with pytest.raises(socket.gaierror) as info:
        await resolver.resolve("bad.invalid", 80)
    assert info.value.errno == socket.EAI_NONAME
    for _ in range(2):
        assert (await resolver.resolve("good.example", 80))[0]["host"] == "127.0.0.1"
    assert dns.asked == ["bad.invalid", "good.example", "good.example"]


async def test_a_failure_for_now_is_looked_up_again_by_the_retry():
    # EAI_AGAIN, said at once ("Temporary failure in name resolution": a network coming up): the transport retries
    # it, a later try getting past it; kept, each retry within 10 s met the kept failure, after its backoff's sleep
    class ForNow(NoSuchName):
        async def resolve(
            self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
        ) -> list[ResolveResult]:
            self.asked.append(host)
            if len(self.asked) == 1:
                raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
            return [{"hostname": host, "host": "127.0.0.1", "port": port, "family": family, "proto": 0, "flags": 0}]

    dns = ForNow()
    resolver = BoundedResolver(5.0, "5 s", inner=dns, clock=Clock())
    with pytest.raises(socket.gaierror) as info:
        await resolver.resolve("api.example", 443)
    assert info.value.errno == socket.EAI_AGAIN and "kept" not in str(info.value)
    assert (await resolver.resolve("api.example", 443))[0]["host"] == "127.0.0.1"
    assert dns.asked == ["api.example"] * 2
