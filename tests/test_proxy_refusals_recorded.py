"""A request the proxy settings refuse (a NO_PROXY entry that covers nothing, which may have been meant for the
target's host; a proxy magsag cannot use) is that target's refusal: recorded as its attempt (not_configured, nothing
sent), and the call moves on down its chain to a target the settings let through. Before, the transport raised the
refusal as the request was made: the whole call stopped with a ConfigError, the next target untried and no attempt in
the ledger (the run alone said config_error). Such an attempt is recorded as a target not configured is: skipped."""

from __future__ import annotations

from pathlib import Path

import pytest

from magsag_mcp import AllTargetsFailed, Magsag
from magsag_mcp.loopback import LoopbackUpstream

#: a host the refusal is about: nothing is sent to it (no server is there), the refusal comes first
UNREACHED = "http://10.1.2.3:9/v1"


def _invoke(tmp_path: Path, proxy_env: dict[str, str], payload: dict) -> tuple[object, list[dict]]:
    with LoopbackUpstream().running() as up:
        env = {**up.env(), **proxy_env, "OPENAI_BASE_URL": UNREACHED, "MAGSAG_RETRY_BASE_DELAY": "0.001"}
        with Magsag(db=tmp_path / "l.db", env=env) as mg:
            try:
                outcome: object = mg.skills.invoke("skill.analysis", payload)
            except AllTargetsFailed as exc:
                outcome = exc
            (run,) = mg.query_runs()["runs"]
            return outcome, run["attempts"]


@pytest.mark.parametrize(
    ("proxy_env", "said"),
    [
        ({"HTTP_PROXY": "http://proxy.corp:3128", "NO_PROXY": "10.0.0.0/99"}, "NO_PROXY entry '10.0.0.0/99'"),
        ({"HTTP_PROXY": "socks5://proxy.corp:1080"}, "HTTP_PROXY names a socks5:// proxy"),
    ],
)
def test_a_target_the_proxy_settings_refuse_is_recorded_and_the_call_moves_on(tmp_path: Path, proxy_env, said):
    result, attempts = _invoke(tmp_path, proxy_env, {"data": "Q3 revenue"})
    assert isinstance(result, dict) and (result["provider"], result["model"]) == (
        "anthropic",
        "claude-3-5-sonnet-20241022",
    )
    assert Path(result["run_id"]) and result["output"].startswith("loopback answer")
    (warning,) = result["warnings"]
    assert warning.startswith("skipped openai:gpt-4o: not configured: openai: ") and said in warning
    refused, answered = attempts
    assert (refused["provider"], refused["model"], refused["outcome"]) == ("openai", "gpt-4o", "skipped")
    assert refused["error_message"].startswith("not configured: openai: ") and said in refused["error_message"]
    assert refused["cost_usd"] == "0" and refused["input_tokens"] == 0
    assert (answered["provider"], answered["outcome"]) == ("anthropic", "ok")


def test_a_call_whose_only_target_the_proxy_settings_refuse_fails_recorded_naming_the_fix(tmp_path: Path):
    proxy_env = {"HTTP_PROXY": "http://proxy.corp:3128", "NO_PROXY": "10.0.0.0/99"}
    payload = {"data": "Q3 revenue", "model_config": {"provider": "openai", "model": "gpt-4o"}}
    error, attempts = _invoke(tmp_path, proxy_env, payload)
    assert isinstance(error, AllTargetsFailed)
    assert "write an address, a slash and a prefix length" in str(error) and "10.0.0.0/99" in str(error)
    ((provider, model, outcome, message),) = [
        (a["provider"], a["model"], a["outcome"], a["error_message"]) for a in attempts
    ]
    assert (provider, model, outcome) == ("openai", "gpt-4o", "skipped") and message.startswith("not configured: ")
