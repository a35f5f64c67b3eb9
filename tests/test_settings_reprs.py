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


def test_a_targets_repr_holds_neither_its_credential_params_nor_its_urls_credentials():
    # a routing file's target carries a gateway's key in a param (api_key, gateway_auth) or its base URL: the
    # generated repr showed them whole wherever a target was printed
    from magsag_mcp.targets import TargetSpec
    from magsag_mcp.types import Target

    target = Target(
        "compat",
        "gpt-4o",
        "https://me:Gw4yPassw0rd-31@gw.example.com/v1/Tk9QmZx4Lp8Rv2Nt6Wb0?sig=Sg7Hd3Jf5Kq1",
        (("api_key", "gwKey-Zr7Yq3Xw9Vu5Ts1Rp8"), ("gateway", {"password": "Nested-Pw-6Lk2"}), ("temperature", 0.2)),
    )
    shown = repr(target)
    secrets = ("Gw4yPassw0rd-31", "Tk9QmZx4Lp8Rv2Nt6Wb0", "Sg7Hd3Jf5Kq1", "gwKey-Zr7Yq3Xw9Vu5Ts1Rp8", "Nested-Pw-6Lk2")
    for secret in secrets:
        assert secret not in shown, secret
    # the rest as the generated repr wrote it
    assert shown == (
        "Target(provider='compat', model='gpt-4o', base_url='https://[REDACTED]@gw.example.com/v1/[REDACTED]?[REDACTED]'"
        ", params=(('api_key', '[REDACTED]'), ('gateway', {'password': '[REDACTED]'}), ('temperature', 0.2)))"
    )
    assert repr(Target("openai", "gpt-4o")) == "Target(provider='openai', model='gpt-4o', base_url=None, params=())"
    spec = TargetSpec(model="gpt-4o", params={"api_key": "gwKey-Zr7Yq3Xw9Vu5Ts1Rp8"})
    assert "gwKey-Zr7Yq3Xw9Vu5Ts1Rp8" not in repr(spec)


def test_a_tool_calls_target_arguments_reprs_hold_no_credential_param():
    # the caller's model_config and its fallbacks, as the MCP tool's arguments are read: params may carry a key
    from magsag_mcp.mcp_server.models import ModelConfigArg, TargetArg

    key = "gwKey-Pm3Lk7Jh1Gf5Dd9Ss2"
    config = ModelConfigArg(
        model="gpt-4o", params={"api_key": key}, fallbacks=[TargetArg(model="m", params={"gateway_auth": key})]
    )
    assert key not in repr(config) and "model='gpt-4o'" in repr(config)
