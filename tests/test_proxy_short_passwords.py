"""A proxy password shorter than redact() takes a secret alone (``HTTP_PROXY=http://user:pw@proxy``): known with its
user before it (``user:pw``, as the proxy URL and the ``Basic`` credential decoded write it; ``//u:p@`` for a tinier
one), it never leaves the process where it is shown as the proxy's credential: not in an error's message, a ledger's
record or a log line, whatever echoes it (a careless proxy's 407, a text quoting the variable). Before, none of it was
registered (a secret is 6 characters or more), and each of those showed it. Said alone ("the pw field") it is a word,
kept: known alone, ``pw`` or ``1234`` would go from every message, name and count. Proxies here are loopback
servers."""

from __future__ import annotations

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
from tests.fakes.openai_server import DEFAULT_KEY
from tests.pricing_audit import catalog_without_policies

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("restored_secrets")]

SHORT = Timeouts(connect=2.0, read=5.0, from_settings=False)


@pytest.fixture
async def quoting_proxy() -> AsyncIterator[int]:
    """A forward proxy that refuses every request with 407 and quotes the credentials it was sent, decoded, and the
    proxy URL they make, as a careless proxy's error page does."""

    async def refuse(request: web.Request) -> web.Response:
        sent = request.headers.get("Proxy-Authorization", "").removeprefix("Basic ")
        userinfo = base64.b64decode(sent).decode() if sent else "-"
        said = f"credentials {userinfo} refused; configure http://{userinfo}@{request.host} with a valid login"
        return web.json_response({"error": {"message": said}}, status=407)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", refuse)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield server.port
    await server.close()


# (user and password as the URL writes them, what must never show)
CASES = [
    ("alice", "pw", ("alice:pw", ":pw@")),
    # user:password of 3 characters, as short as a word: known as the URL shows it, //u:p@ (the proxy's "credentials
    # u:p refused" keeps it, as any text shorter than 6 characters is kept)
    ("u", "p", ("u:p@", ":p@")),
    ("corp%40bob", "p%3A1", ("corp@bob:p:1", "bob:p", ":p:1", "p%3A1@")),  # percent-encoded in the URL
]


@pytest.mark.parametrize(("user", "password", "never"), CASES)
async def test_a_short_proxy_password_echoed_by_the_proxy_never_reaches_the_error(
    quoting_proxy: int, user: str, password: str, never: tuple[str, ...]
):
    from magsag_mcp.providers.openai import OpenAIProvider
    from magsag_mcp.types import LLMRequest, Message, Target

    transport = Transport(env={"HTTP_PROXY": f"http://{user}:{password}@127.0.0.1:{quoting_proxy}"}, timeouts=SHORT)
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
    assert "refused; configure http:" in err.message and "with a valid login" in err.message  # the answer is shown
    for text in (str(err), err.message, json.dumps(err.to_dict())):
        assert all(piece not in text for piece in never), text


async def test_a_failed_call_through_the_proxy_is_recorded_without_its_short_password(
    quoting_proxy: int, tmp_path: Path
):
    env = {
        "OPENAI_API_KEY": DEFAULT_KEY,
        "OPENAI_BASE_URL": "http://vendor.example/v1",
        "HTTP_PROXY": f"http://alice:pw@127.0.0.1:{quoting_proxy}",
        "MAGSAG_RETRY_BASE_DELAY": "0.001",
    }
    payload = {"data": "Q3 revenue", "model_config": {"provider": "openai", "model": "gpt-4o"}}
    async with await Service.open(catalog=catalog_without_policies(tmp_path), db=tmp_path / "l.db", env=env) as svc:
        with pytest.raises(E.MagsagError) as failed:
            await svc.invoke_skill("skill.analysis", payload)
        [run] = await svc.query_runs(None)
    recorded = json.dumps(run)
    assert "refused; configure http:" in recorded  # the proxy's answer is recorded, its credential not
    for text in (recorded, json.dumps(failed.value.to_dict())):
        assert "alice:pw" not in text and ":pw@" not in text


def test_a_short_proxy_password_is_kept_out_of_logs_and_texts_quoting_the_variable_but_not_out_of_words(caplog):
    # a socks5:// proxy is never parsed into a Proxy: its credentials are known all the same
    ProxySettings({"HTTPS_PROXY": "socks5://alice:pw@127.0.0.9:1080", "HTTP_PROXY": "http://u:p@proxy.corp:3128"})
    log = E.redacting_logger("magsag_mcp.service")
    with caplog.at_level(logging.WARNING, logger="magsag_mcp.service"):
        log.warning("HTTPS_PROXY=%s HTTP_PROXY=%s", "socks5://alice:pw@127.0.0.9:1080", "http://u:p@proxy.corp:3128")
    assert ":pw@" not in caplog.text and "u:p@" not in caplog.text and caplog.text.count("[REDACTED]") == 2
    for quoted in ("http%3A%2F%2Falice%3Apw%40proxy", '{"proxy": "http:\\/\\/alice:pw@proxy"}', "login alice:pw"):
        assert "pw" not in E.redact(quoted).replace("proxy", ""), quoted
    for words in ("the pw field of alice", "a pw of 2 letters", "up: 3", "u:pa", "u:p is a pair"):
        assert E.redact(words) == words


@pytest.mark.parametrize(
    ("url", "userinfo"), [("http://u:p@proxy.corp:3128", "u:p"), ("http://:pw@proxy.corp:3128", ":pw")]
)
def test_the_basic_credential_of_a_tiny_user_and_password_is_kept_out_where_a_proxy_echoes_the_header(
    url: str, userinfo: str
):
    # the header's base64 of 3 bytes is 4 characters ('dTpw'), under what redact() takes alone: known with its
    # 'Basic ' before it, as the header writes it; 'dTpw' said alone is kept as any text under 6 characters is
    ProxySettings({"HTTP_PROXY": url})
    sent = base64.b64encode(userinfo.encode()).decode()
    assert len(sent) < 6
    said = E.redact(f"407: Proxy-Authorization: Basic {sent} refused")
    assert sent not in said and said.startswith("407: Proxy-Authorization: ")
    assert E.redact(f"the word {sent}") == f"the word {sent}"


def test_a_short_token_given_as_the_proxy_user_is_kept_out_of_the_url_shown():
    # http://TOKEN@host: the user is the token (no password), kept out of every message; shorter than 6 characters,
    # none of it was known, and an error quoting the proxy URL showed it (it is known as //TOKEN@, as the URL writes it)
    ProxySettings({"HTTPS_PROXY": "http://t0k@proxy.corp:3128"})
    said = E.redact("ClientProxyConnectionError(url='http://t0k@proxy.corp:3128')")
    assert "t0k" not in said and "proxy.corp:3128" in said
    sent = base64.b64encode(b"t0k:").decode()
    assert sent not in E.redact(f"Proxy-Authorization: Basic {sent}")
    assert E.redact("t0k is a word") == "t0k is a word"
