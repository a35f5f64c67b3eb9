"""The settings objects that hold a credential show none in their ``repr()``: the HTTP server's token, the scrape
token of ``/metrics`` and a proxy's ``Proxy-Authorization`` (the user and password, base64 and no cipher), as a
client's token (:class:`~magsag_mcp.mcp_server.client_tokens.ClientToken`) already did not. A repr is what a
debugger, a failed assertion, pytest's ``-l``, a crash reporter's frame locals and a ``%r`` in a log line print."""

from __future__ import annotations

import base64

import pytest

from magsag_mcp.mcp_server.gate_settings import gate_settings
from magsag_mcp.mcp_server.metrics_endpoint import metrics_setting
from magsag_mcp.proxies import ProxySettings

pytestmark = pytest.mark.usefixtures("restored_secrets")

SERVER_TOKEN = "srvTok-Qm4Zx8Lp2Rv6Nt0Wb3Yc7Hd1"
SCRAPE_TOKEN = "scrTok-Hk5Gf9Js3Ld7Pa1Ue4Wi8Oy2"


def test_the_gate_settings_repr_holds_neither_token():
    env = {"MAGSAG_MCP_TOKEN": SERVER_TOKEN, "MAGSAG_MCP_METRICS_TOKEN": SCRAPE_TOKEN}
    settings, refusals = gate_settings(env, "0.0.0.0", None)
    assert refusals == [] and settings.token == SERVER_TOKEN
    assert settings.metrics is not None and settings.metrics.token == SCRAPE_TOKEN
    shown = repr(settings) + repr(settings.metrics) + repr(metrics_setting(env))
    assert SERVER_TOKEN not in shown and SCRAPE_TOKEN not in shown
    assert "token_set_in='MAGSAG_MCP_TOKEN'" in shown  # (the rest is shown as before)


def test_a_proxys_repr_holds_no_credentials():
    proxy = ProxySettings({"HTTPS_PROXY": "http://alice:Pr0xyPassw0rd-77@proxy.corp:3128"}).for_url(
        "https://api.openai.com/v1"
    )
    assert proxy is not None and proxy.authorization is not None
    basic = base64.b64encode(b"alice:Pr0xyPassw0rd-77").decode()
    assert proxy.authorization == f"Basic {basic}"
    assert basic not in repr(proxy) and "Pr0xyPassw0rd" not in repr(proxy)
    assert "http://proxy.corp:3128" in repr(proxy)
