"""A credential a call gave itself (``model_config.params.api_key``, sent in the request's body) that the server
echoes in its answer: the answer
leaves the process (MCP's invoke_skill result, what ``magsag invoke`` prints) less it, as it does less a key of the
process's (invoke_result.shown_answer). The result was looked at for the process's keys alone, after the call had
forgotten its own: a gateway echoing the request's headers gave the caller's key to the MCP client's model and to
the terminal or CI log the CLI printed to."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.key_echo_helpers import CATALOG, gateway, ledger_bytes

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("restored_secrets")]

#: a gateway's key the caller gives in its call (never in the process's environment)
_CALL_KEY = "gwcall-Rt7Vx2Lq9Bn4Hd8Kz3Mw6Pf1"


def _echoing(request_seen: list[str]) -> Any:
    async def answer(request: web.Request) -> web.Response:
        key = (await request.json()).get("api_key", "")  # (a target's params go in the request's body)
        request_seen.append(key)
        said = json.dumps({"summary": f"you sent {key}", "key_points": [], "confidence": 0.5})
        return web.json_response(
            {
                "id": f"resp-{key}",
                "object": "chat.completion",
                "created": 1733500000,
                "model": "gpt-4o-2024-08-06",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": said}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8},
            }
        )

    return answer


#: the call's own target: the configured endpoint (the gateway), with a credential of the caller's in its params
_PAYLOAD = {"data": "x", "model_config": {"model": "openai:gpt-4o", "params": {"api_key": _CALL_KEY}}}
#: the process's own key
_PROCESS_KEY = "sk-proj-process0key0Ab12Cd34Ef56Gh78"


async def test_a_calls_own_key_echoed_in_the_answer_leaves_no_mcp_result(tmp_path: Path):
    from mcp.client import Client

    from magsag_mcp.mcp_server import build_server

    seen: list[str] = []
    state: dict[str, Any] = {}
    db = tmp_path / "ledger.db"
    async with gateway(_echoing(seen), state):
        env = {"OPENAI_API_KEY": _PROCESS_KEY, "OPENAI_BASE_URL": state["url"] + "/v1", "MAGSAG_MAX_RETRIES": "0"}
        async with Client(build_server(catalog=CATALOG, db=db, env=env)) as client:
            result = await client.call_tool("invoke_skill", {"skill_id": "skill.analysis", "payload": _PAYLOAD})
    assert seen == [_CALL_KEY]  # (the call's credential was sent)
    assert not result.is_error, result
    shown = json.dumps(result.structured_content) + "".join(getattr(c, "text", "") for c in result.content)
    assert _CALL_KEY not in shown and _CALL_KEY[8:24] not in shown, shown
    assert result.structured_content["response_id"] == "resp-[REDACTED]"
    assert "you sent [REDACTED]" in shown
    assert _CALL_KEY.encode() not in ledger_bytes(db)


async def test_a_calls_own_key_echoed_in_the_answer_is_not_printed_by_the_cli(
    cli_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    import anyio

    from magsag_mcp.cli import main

    seen: list[str] = []
    state: dict[str, Any] = {}
    monkeypatch.setenv("OPENAI_API_KEY", _PROCESS_KEY)
    monkeypatch.setenv("MAGSAG_MAX_RETRIES", "0")
    async with gateway(_echoing(seen), state):
        monkeypatch.setenv("OPENAI_BASE_URL", state["url"] + "/v1")
        argv = ["invoke", "skill.analysis", "--payload", json.dumps(_PAYLOAD)]
        code = await anyio.to_thread.run_sync(main, argv)
    out = capsys.readouterr()
    assert seen == [_CALL_KEY] and code == 0, out.err
    assert _CALL_KEY not in out.out + out.err and _CALL_KEY[8:24] not in out.out + out.err, out.out
    assert "you sent [REDACTED]" in out.out


_AGENT = '''id: key-echo-mag
kind: mag
description: Calls skill.analysis with a gateway credential of its own, and returns the answer.
entrypoint: key_echo_mag:run
skills: [skill.analysis]
'''
_AGENT_CODE = '''import json


def run(payload, *, registry=None, skills=None, runner=None, obs=None):
    result = skills.invoke("skill.analysis", json.loads(payload["call"]))
    return {"analysis": result["output"], "response_id": result["response_id"]}
'''


async def test_a_calls_own_key_echoed_in_an_agents_answer_is_not_printed_by_magsag_run(
    cli_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    # `magsag run` prints what the agent returns, looked at for the process's keys alone: the credential the agent's
    # call gave itself (its params.api_key), forgotten as that call ended, was printed whole as the gateway echoed it
    import shutil

    import anyio

    from magsag_mcp.cli import main

    catalog = cli_env / "catalog"
    shutil.copytree(CATALOG, catalog)
    (catalog / "agents" / "key-echo-mag.yaml").write_text(_AGENT)
    (catalog / "agents" / "key_echo_mag.py").write_text(_AGENT_CODE)
    seen: list[str] = []
    state: dict[str, Any] = {}
    monkeypatch.setenv("OPENAI_API_KEY", _PROCESS_KEY)
    monkeypatch.setenv("MAGSAG_MAX_RETRIES", "0")
    monkeypatch.setenv("MAGSAG_CATALOG", str(catalog))
    async with gateway(_echoing(seen), state):
        monkeypatch.setenv("OPENAI_BASE_URL", state["url"] + "/v1")
        argv = ["run", "key-echo-mag", "--payload", json.dumps({"call": json.dumps(_PAYLOAD)})]
        code = await anyio.to_thread.run_sync(main, argv)
    out = capsys.readouterr()
    assert seen == [_CALL_KEY] and code == 0, out.err
    assert _CALL_KEY not in out.out + out.err and _CALL_KEY[8:24] not in out.out + out.err, out.out
    printed = json.loads(out.out)
    assert printed["response_id"] == "resp-[REDACTED]" and "you sent [REDACTED]" in printed["analysis"], printed


def _echoing_as_model(request_seen: list[str]) -> Any:
    """A gateway naming the model that answered after the request's credential (its routing key), the answer's text
    its own: the model's name is the vendor's text too."""

    async def answer(request: web.Request) -> web.Response:
        key = (await request.json()).get("api_key", "")
        request_seen.append(key)
        said = json.dumps({"summary": "fine", "key_points": [], "confidence": 0.5})
        return web.json_response(
            {
                "id": "resp-1",
                "object": "chat.completion",
                "created": 1733500000,
                "model": f"gpt-4o@{key}",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": said}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8},
            }
        )

    return answer


async def test_a_calls_own_key_echoed_as_the_answers_model_leaves_no_mcp_result_or_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    # the model's name a vendor answers with is its text, as the answer's is: it was not looked at for a key, and the
    # server's log line of the call (written after the call forgot its own credentials) named it whole
    import logging

    from mcp.client import Client

    from magsag_mcp.mcp_server import build_server

    seen: list[str] = []
    state: dict[str, Any] = {}
    caplog.set_level(logging.INFO, logger="magsag_mcp.mcp")
    async with gateway(_echoing_as_model(seen), state):
        env = {"OPENAI_API_KEY": _PROCESS_KEY, "OPENAI_BASE_URL": state["url"] + "/v1", "MAGSAG_MAX_RETRIES": "0"}
        async with Client(build_server(catalog=CATALOG, db=tmp_path / "l.db", env=env)) as client:
            result = await client.call_tool("invoke_skill", {"skill_id": "skill.analysis", "payload": _PAYLOAD})
    assert seen == [_CALL_KEY] and not result.is_error, result
    shown = json.dumps(result.structured_content) + "".join(getattr(c, "text", "") for c in result.content)
    assert _CALL_KEY not in shown and _CALL_KEY[8:24] not in shown, shown
    assert result.structured_content["model"] == "gpt-4o@[REDACTED]"
    logged = [r for r in caplog.records if "invoke_skill answered" in r.getMessage()]
    assert logged, caplog.text
    assert _CALL_KEY not in caplog.text and _CALL_KEY[8:24] not in caplog.text, caplog.text
    assert "gpt-4o@[REDACTED]" in logged[0].getMessage()
