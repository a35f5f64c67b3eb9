"""Behind a corporate proxy: HTTPS_PROXY / HTTP_PROXY / NO_PROXY are honoured, loopback never proxied,
proxy credentials go to the proxy only and never into a message. Proxies here are loopback servers."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from magsag_mcp import errors as E
from magsag_mcp.proxies import ProxySettings
from magsag_mcp.service import Service
from magsag_mcp.transport import Timeouts, Transport
from tests.fakes.openai_server import DEFAULT_KEY, FakeOpenAI

pytestmark = pytest.mark.anyio

CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
SHORT = Timeouts(connect=2.0, read=5.0, from_settings=False)


@pytest.fixture
async def http_proxy() -> AsyncIterator[tuple[str, list[tuple[str, dict[str, str]]]]]:
    """A forward proxy for plain-http targets: it answers the absolute-form request itself."""
    seen: list[tuple[str, dict[str, str]]] = []

    async def forward(request: web.Request) -> web.Response:
        seen.append((str(request.url), dict(request.headers)))
        return web.json_response({"choices": [{"message": {"content": "through the proxy"}}]})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", forward)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield f"127.0.0.1:{server.port}", seen
    await server.close()


@pytest.fixture
async def connect_proxy() -> AsyncIterator[tuple[int, list[bytes]]]:
    """A proxy that refuses every CONNECT with 407, recording what it was sent."""
    seen: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1], seen
    server.close()
    await server.wait_closed()


async def test_http_proxy_carries_the_request_and_its_credentials_go_to_the_proxy_only(
    http_proxy, tmp_path, monkeypatch
):
    address, seen = http_proxy
    # a ~/.netrc with a default entry: aiohttp's trust_env would add it as Authorization to every host
    netrc = tmp_path / "netrc"
    netrc.write_text("default login netrc-user password netrc-secret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    transport = Transport(env={"HTTP_PROXY": f"http://corp%40user:s3cr%3At@{address}"}, timeouts=SHORT)
    try:
        resp = await transport.post_json("http://vendor.example/v1/chat/completions", CHAT, headers={"x-api-key": "k"})
    finally:
        await transport.aclose()
    assert resp.status == 200 and resp.json()["choices"][0]["message"]["content"] == "through the proxy"
    [(url, headers)] = seen
    assert url == "http://vendor.example/v1/chat/completions"
    assert headers["Proxy-Authorization"] == "Basic " + base64.b64encode(b"corp@user:s3cr:t").decode()
    assert "Authorization" not in headers and headers["x-api-key"] == "k"


async def test_a_proxy_that_refuses_connect_is_named_without_its_credentials(connect_proxy):
    port, seen = connect_proxy
    transport = Transport(env={"https_proxy": f"http://me:hunter2pass@127.0.0.1:{port}"}, timeouts=SHORT)
    try:
        with pytest.raises(E.ProviderConnectionError) as info:
            await transport.post_json("https://api.vendor.example/v1/x", CHAT, headers={"x-api-key": "k"})
        with pytest.raises(E.ProviderConnectionError):
            async with transport.stream_sse("https://api.vendor.example/v1/x", CHAT, headers={}):
                pass
    finally:
        await transport.aclose()
    assert seen[0].startswith(b"CONNECT api.vendor.example:443 ")
    assert b"Proxy-Authorization: Basic " + base64.b64encode(b"me:hunter2pass") in seen[0]
    message = info.value.message
    assert f"the proxy http://127.0.0.1:{port} (from https_proxy) answered HTTP 407" in message
    assert "NO_PROXY" in message and "hunter2pass" not in message and "me:" not in message
    assert not info.value.maybe_billed  # the vendor was never reached
    # refused for its credentials, it refuses them again on every try: the next target is tried without a wait
    assert not info.value.retryable and info.value.moves_on
    assert "hunter2pass" not in E.redact("proxy login me:hunter2pass failed")  # known to redact() from now on


async def test_a_dead_proxy_is_named_and_never_billed(refused_port: int):
    port = refused_port
    transport = Transport(env={"HTTPS_PROXY": f"http://u:topsecretpw@127.0.0.1:{port}"}, timeouts=SHORT)
    try:
        with pytest.raises(E.ProviderConnectionError) as info:
            await transport.post_json("https://api.vendor.example/v1/x", CHAT, headers={})
    finally:
        await transport.aclose()
    assert f"the proxy http://127.0.0.1:{port} (from HTTPS_PROXY) could not be reached" in info.value.message
    assert "topsecretpw" not in info.value.message and not info.value.maybe_billed


async def test_loopback_is_never_proxied(fake_openai: FakeOpenAI, refused_port: int):
    dead = f"http://127.0.0.1:{refused_port}"
    transport = Transport(env={"HTTP_PROXY": dead, "HTTPS_PROXY": dead, "NO_PROXY": ""}, timeouts=SHORT)
    try:
        resp = await transport.post_json(
            fake_openai.url + "/v1/chat/completions", CHAT, headers={"Authorization": f"Bearer {DEFAULT_KEY}"}
        )
    finally:
        await transport.aclose()
    assert resp.status == 200


@pytest.mark.parametrize(
    ("url", "no_proxy", "proxied"),
    [
        ("https://api.openai.com/v1", "", True),
        ("https://api.openai.com/v1", "openai.com", False),
        ("https://api.openai.com/v1", ".openai.com", False),
        ("https://api.openai.com/v1", "*.openai.com", False),
        ("https://notopenai.com/v1", "openai.com", True),
        ("https://api.openai.com/v1", "api.openai.com:443", False),
        ("https://api.openai.com/v1", "api.openai.com:8443", True),
        ("https://API.OpenAI.com./v1", "api.openai.com", False),
        ("http://10.1.2.3:11434/v1", "10.0.0.0/8", False),
        ("http://10.1.2.3:11434/v1", "10.1.2.3", False),
        ("http://192.168.1.2/v1", "10.0.0.0/8, example.com", True),
        ("https://x.example.com/v1", "foo.com example.com", False),
        ("http://[fd00::1]:8000/v1", "fd00::/8", False),
        # the network's address in brackets, as a URL writes its host: its /8 was dropped, the entry covering
        # fd00:: alone, and the rest of the network went through the proxy
        ("http://[fd00::1]:8000/v1", "[fd00::]/8", False),
        ("http://[fd01::1]:8000/v1", "[fd00::]/16", True),
        ("https://anything.example/v1", "*", False),
        ("http://localhost:11434/v1", "", False),
        ("http://gpu.localhost:11434/v1", "", False),
        ("http://127.0.0.2:8080/v1", "", False),
        ("http://[::1]:8080/v1", "", False),
        ("http://0.0.0.0:8000/v1", "", False),  # as vLLM and uvicorn print where they listen
    ],
)
def test_no_proxy_matching(url: str, no_proxy: str, proxied: bool):
    env = {"HTTPS_PROXY": "http://proxy.corp:3128", "HTTP_PROXY": "http://proxy.corp:3128", "NO_PROXY": no_proxy}
    assert (ProxySettings(env).for_url(url) is not None) is proxied


def test_which_variable_names_the_proxy():
    assert ProxySettings({}).for_url("https://api.openai.com") is None
    both = ProxySettings({"https_proxy": "http://low:1", "HTTPS_PROXY": "http://up:2"}).for_url("https://a.example")
    assert both is not None and (both.url, both.source) == ("http://low:1", "https_proxy")
    bare = ProxySettings({"HTTPS_PROXY": "proxy.corp:3128"}).for_url("https://a.example")
    assert bare is not None and bare.url == "http://proxy.corp:3128" and bare.authorization is None
    # an https target uses HTTPS_PROXY only, an http one HTTP_PROXY only
    assert ProxySettings({"HTTP_PROXY": "http://p:1"}).for_url("https://a.example") is None
    assert ProxySettings({"HTTPS_PROXY": "http://p:1"}).for_url("http://a.example") is None
    # httpoxy: under CGI, HTTP_PROXY comes from the request's Proxy: header
    assert ProxySettings({"HTTP_PROXY": "http://evil:1", "REQUEST_METHOD": "POST"}).for_url("http://a.example") is None


def test_a_proxy_magsag_cannot_use_is_named_without_its_value():
    settings = ProxySettings({"HTTPS_PROXY": "socks5://user:sockspw@127.0.0.9:1080", "NO_PROXY": "internal.example"})
    with pytest.raises(E.ConfigError, match=r"HTTPS_PROXY names a socks5:// proxy.*NO_PROXY") as info:
        settings.for_url("https://api.openai.com/v1")
    assert "sockspw" not in info.value.message and "127.0.0.9" not in info.value.message
    assert settings.for_url("https://internal.example/v1") is None  # only the calls that would use it fail


async def test_the_service_takes_its_proxies_from_its_environment(tmp_path: Path):
    env = {"HTTPS_PROXY": "http://proxy.corp:3128"}
    service = await Service.open(db=tmp_path / "ledger.db", env=env)
    try:
        proxy = service.transport.proxies.for_url("https://api.anthropic.com/v1/messages")
        assert proxy is not None and proxy.url == "http://proxy.corp:3128"
    finally:
        await service.aclose()


# --- a token given as the proxy URL's user, with no password -------------------------------------------------


@pytest.fixture
async def echoing_proxy() -> AsyncIterator[int]:
    """A forward proxy that refuses every request with 407 and quotes the credentials it was sent, as a
    careless proxy's error page does."""

    async def refuse(request: web.Request) -> web.Response:
        sent = request.headers.get("Proxy-Authorization", "").removeprefix("Basic ")
        user = base64.b64decode(sent).decode().partition(":")[0] if sent else "-"
        body = {"error": {"message": f"proxy user {user} is not allowed (Proxy-Authorization: Basic {sent})"}}
        return web.json_response(body, status=407)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", refuse)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield server.port
    await server.close()


@pytest.mark.parametrize(
    "userinfo, token",
    [
        ("ghp_UserTok3nNoPassw0rd1", "ghp_UserTok3nNoPassw0rd1"),
        ("ghp_UserTok3n:", "ghp_UserTok3n"),  # an empty password
        ("ghp%5FPctEncodedTok3n", "ghp_PctEncodedTok3n"),  # percent-encoded in the URL
    ],
)
async def test_a_token_as_the_proxy_user_never_appears_in_a_message(echoing_proxy: int, userinfo: str, token: str):
    from magsag_mcp.providers.openai import OpenAIProvider
    from magsag_mcp.types import LLMRequest, Message, Target

    transport = Transport(env={"HTTP_PROXY": f"http://{userinfo}@127.0.0.1:{echoing_proxy}"}, timeouts=SHORT)
    provider = OpenAIProvider({"OPENAI_API_KEY": DEFAULT_KEY}, transport)
    try:
        with pytest.raises(E.MagsagError) as info:
            await provider.complete(
                LLMRequest(messages=[Message("user", "hi")]),
                Target("openai", "gpt-4o", base_url="http://vendor.example/v1"),
            )
    finally:
        await transport.aclose()
    err = info.value
    assert "proxy user [REDACTED] is not allowed" in err.message  # the proxy's answer is shown, not the token
    for text in (str(err), err.message, json.dumps(err.to_dict())):
        assert token not in text and userinfo.rstrip(":") not in text
        assert base64.b64encode(f"{token}:".encode()).decode() not in text


def test_a_token_as_the_proxy_user_is_redacted_in_logs_even_when_the_proxy_cannot_be_used(caplog):
    # a socks5:// proxy, or a port that is no port, is never parsed into a Proxy: its token is still known
    ProxySettings({"HTTPS_PROXY": "socks5://ghp_SocksUserTok3n@127.0.0.9:1080"})
    ProxySettings({"HTTP_PROXY": "http://ghp_BadPortUserTok3n@proxy.corp:99999"})
    log = E.redacting_logger("magsag_mcp.service")
    with caplog.at_level(logging.WARNING, logger="magsag_mcp.service"):
        log.warning("proxy refused %s and %s", "ghp_SocksUserTok3n", "ghp_BadPortUserTok3n")
    assert "ghp_" not in caplog.text and caplog.text.count("[REDACTED]") == 2


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
async def test_a_proxy_that_never_answers_connect_fails_at_the_connect_timeout(stream: bool):
    # A proxy that takes the connection and never answers CONNECT (one that drops what it does not allow, a dead
    # upstream): aiohttp waits for that answer with no timeout, so the call hung until its deadline (300 s by
    # default), whatever MAGSAG_CONNECT_TIMEOUT said, and left no time for the next target.
    held: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        await reader.read()  # (until the client gives up and closes)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    timeouts = Timeouts(connect=0.3, read=30.0, from_settings=True)
    transport = Transport(env={"HTTPS_PROXY": f"http://u:pr0xysecret@127.0.0.1:{port}"}, timeouts=timeouts)
    try:
        with pytest.raises(E.ProviderTimeoutError) as info:
            # (the hang this test is about, cut short: a TimeoutError, not the error below; the deadline it hung
            # until is 300 s)
            async with asyncio.timeout(60):
                if stream:
                    async with transport.stream_sse("https://api.vendor.example/v1/x", CHAT, headers={}):
                        pass
                else:
                    await transport.post_json("https://api.vendor.example/v1/x", CHAT, headers={})
    finally:
        await transport.aclose()
        server.close()
        for writer in held:
            writer.close()
    message = info.value.message
    assert f"the proxy http://127.0.0.1:{port} (from HTTPS_PROXY) did not open a tunnel" in message
    assert "the connect timeout of 0.3s (MAGSAG_CONNECT_TIMEOUT)" in message and "NO_PROXY" in message
    assert "pr0xysecret" not in message
    assert not info.value.maybe_billed and not info.value.reached  # the vendor was never reached
    assert info.value.moves_on


@pytest.mark.usefixtures("restored_secrets")
def test_a_proxy_user_of_words_is_no_secret_its_password_and_a_token_as_user_are():
    # the user name registered as a secret took its word out of every message and record ("the [REDACTED] said")
    ProxySettings({"HTTPS_PROXY": "http://operator:s3cretPassw0rd@proxy.corp:3128"})
    assert E.redact("the operator said: s3cretPassw0rd") == "the operator said: [REDACTED]"
    assert E.redact(base64.b64encode(b"operator:s3cretPassw0rd").decode()) == "[REDACTED]"
    ProxySettings({"HTTP_PROXY": "http://acct-7f3a9b2c:hunter2pass@proxy.corp:3128"})  # a user holding an id
    assert E.redact("user acct-7f3a9b2c refused") == "user [REDACTED] refused"


@pytest.mark.parametrize(
    "value",
    [
        "http://corp-user:Xy7pQ2mN/rest9Kz@proxy.corp.example:8080",  # a password with an unencoded "/"
        "http://corp-user:Xy7pQ2mN@proxy.corp.example:80Xy7pQ2mN",
    ],
)
def test_an_unusable_proxy_urls_error_carries_no_part_of_it_in_its_chain(value: str):
    # urlsplit's ValueError, quoting what it read as the port (a password's start, before an unencoded "/"), stayed the
    # ConfigError's __context__ ("from None" only hides it from tracebacks): any code walking the chain (an error
    # reporter, a caller's own logging of err.__context__) got it
    with pytest.raises(E.ConfigError, match="not a usable proxy URL") as caught:
        ProxySettings({"HTTPS_PROXY": value}).for_url("https://api.openai.com/v1")
    chain: list[BaseException] = []
    error: BaseException | None = caught.value
    while error is not None and error not in chain:
        chain.append(error)
        error = error.__cause__ or error.__context__
    assert all("Xy7pQ2mN" not in f"{link!s} {link!r} {link.args!r}" for link in chain), chain


@pytest.mark.usefixtures("restored_secrets")
@pytest.mark.parametrize("password", ["12/x9Secretpart", "Xy7pQ2mN/rest9Kz", "4711?q8Zr#Lw3pT"])
def test_a_proxy_password_holding_an_unencoded_slash_is_kept_out_of_messages_and_refused_with_its_fix(password: str):
    # Before: its credentials were looked for up to the first "/", where no "@" stood: none was registered, and a
    # text quoting the variable showed the password; and "http://alice:12/x9...@proxy" was a proxy at host alice, port
    # 12 (the password's start), shown so by doctor, every request sent there
    value = f"http://alice:{password}@proxy.corp.example:8080"
    settings = ProxySettings({"HTTPS_PROXY": value})
    assert password not in E.redact(f"proxy said: {value}") and password not in E.redact(f"pw {password}.")
    with pytest.raises(E.ConfigError, match="user:password holds a /, \\? or # written as it is") as caught:
        settings.for_url("https://api.openai.com/v1")
    assert "%2F" in caught.value.message and password[:2] not in caught.value.message.replace("%2F", "")
    assert "not a usable proxy URL" in settings.describe()["https"]
    assert password[:2] not in str(settings.describe())
