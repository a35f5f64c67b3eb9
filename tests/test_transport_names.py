"""The transport where a host's name does not resolve, or its lookup never ends: the error names the base URL or the
proxy and the settings to check, and is retried only where the lookup failed for now (split from test_transport.py)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

import aiohttp
import pytest

from magsag_mcp import errors as E
from magsag_mcp.transport import Timeouts, Transport
from tests.test_transport import AUTH, CHAT

pytestmark = pytest.mark.anyio


class _NoDNS(aiohttp.abc.AbstractResolver):
    """A resolver on a network without DNS for the outside (a proxy-only network), and no network needed."""

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET):  # type: ignore[override]
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    async def close(self) -> None:
        pass


def _without_dns() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(resolver=_NoDNS()))


async def test_a_name_that_does_not_resolve_points_at_the_base_url_and_the_proxy_settings():
    transport = Transport(session_factory=_without_dns, env={})
    try:
        with pytest.raises(E.ProviderConnectionError) as info:
            await transport.post_json("https://api.openai.example/v1/chat/completions", CHAT, headers=AUTH)
    finally:
        await transport.aclose()
    message = info.value.message
    assert message.startswith("could not reach https://api.openai.example: its name does not resolve (")
    assert "base URL" in message and "HTTPS_PROXY" in message and not info.value.maybe_billed


async def test_a_proxy_whose_name_does_not_resolve_is_named():
    transport = Transport(
        session_factory=_without_dns, env={"HTTPS_PROXY": "http://u:pw-9f8e7d@proxy.corp.example:3128"}
    )
    try:
        with pytest.raises(E.ProviderConnectionError) as info:
            await transport.post_json("https://api.openai.example/v1/chat/completions", CHAT, headers=AUTH)
    finally:
        await transport.aclose()
    message = info.value.message
    assert "the name of the proxy http://proxy.corp.example:3128 (from HTTPS_PROXY) does not resolve" in message
    assert "pw-9f8e7d" not in message and not info.value.maybe_billed


class _SilentDNS(aiohttp.abc.AbstractResolver):
    """A resolver that never answers: a VPN that dropped, a DNS server that answers no one."""

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET):  # type: ignore[override]
        await asyncio.Event().wait()

    async def close(self) -> None:
        pass


async def test_a_name_lookup_that_never_ends_fails_at_the_connect_timeout(monkeypatch):
    # before, aiohttp's sock_connect did not cover the lookup: the call hung until its deadline, minutes
    # later, reported "no complete answer" and counted the attempt as maybe billed
    from magsag_mcp import resolver

    monkeypatch.setattr(resolver, "_default_resolver", _SilentDNS)
    transport = Transport(timeouts=Timeouts(connect=0.05, read=5.0), env={})
    try:
        with pytest.raises(E.ProviderConnectionError) as info:
            await transport.post_json("https://api.openai.example/v1/chat/completions", CHAT, headers=AUTH)
    finally:
        await transport.aclose()
    message = info.value.message
    assert "its name does not resolve (no answer from DNS within the connect timeout of 0.05s" in message
    assert "MAGSAG_CONNECT_TIMEOUT" in message and not info.value.maybe_billed


class _TemporaryDNSFailure(_NoDNS):
    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET):  # type: ignore[override]
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")


async def test_a_name_that_does_not_exist_is_not_retried_but_a_lookup_that_failed_for_now_is():
    # "Name or service not known" is a mistyped host or a network without DNS for the outside: it fails the
    # same way on every try, and was retried with the backoff slept between. A resolver that could not answer
    # for now ("Temporary failure in name resolution") may answer on the next try.
    def session(resolver: type[aiohttp.abc.AbstractResolver]) -> Callable[[], aiohttp.ClientSession]:
        return lambda: aiohttp.ClientSession(connector=aiohttp.TCPConnector(resolver=resolver()))

    errors = []
    for resolver in (_NoDNS, _TemporaryDNSFailure):
        transport = Transport(session_factory=session(resolver), env={})
        try:
            with pytest.raises(E.ProviderConnectionError) as info:
                await transport.post_json("https://api.openai.example/v1/chat/completions", CHAT, headers=AUTH)
        finally:
            await transport.aclose()
        errors.append(info.value)
    assert [(e.retryable, e.moves_on) for e in errors] == [(False, True), (True, True)]
    assert "does not resolve (Name or service not known)" in errors[0].message
