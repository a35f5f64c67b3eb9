"""A call's own credential (``model_config.params.api_key``) that the server echoes in its answer, the answer then
travelling in an error: the ledger refused the paid call's record, and the error carries the answer (``result``:
calling again would pay twice). MCP's tool error and the CLI's JSON error redact every string of it, but after the
call had forgotten its own credentials: the key the gateway echoed reached the MCP client and the terminal whole,
where the same answer returned as a result loses it (test_call_key_echoed_in_answer.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from magsag_mcp.errors import LedgerError
from tests.key_echo_helpers import CATALOG, gateway
from tests.test_call_key_echoed_in_answer import _CALL_KEY, _PAYLOAD, _PROCESS_KEY, _echoing

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("restored_secrets")]


def _refusing_records(monkeypatch: pytest.MonkeyPatch) -> None:
    """The ledger refuses every record of a call (a full disk): the answer travels in the call's error."""
    from magsag_mcp.service import Service

    async def refused(*_: Any, **__: Any) -> None:
        raise LedgerError("the ledger could not write the record: disk full")

    monkeypatch.setattr(Service, "_record", refused)


async def test_a_calls_own_key_in_the_paid_answer_an_mcp_error_carries_is_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from mcp.client import Client

    from magsag_mcp.mcp_server import build_server

    _refusing_records(monkeypatch)
    seen: list[str] = []
    state: dict[str, Any] = {}
    async with gateway(_echoing(seen), state):
        env = {"OPENAI_API_KEY": _PROCESS_KEY, "OPENAI_BASE_URL": state["url"] + "/v1", "MAGSAG_MAX_RETRIES": "0"}
        async with Client(build_server(catalog=CATALOG, db=tmp_path / "ledger.db", env=env)) as client:
            result = await client.call_tool("invoke_skill", {"skill_id": "skill.analysis", "payload": _PAYLOAD})
    assert seen == [_CALL_KEY]
    assert result.is_error, result
    error = result.structured_content["error"]
    assert error["type"] == "ledger_error" and "calling again would pay twice" in error["message"], error
    shown = json.dumps(result.structured_content) + "".join(getattr(c, "text", "") for c in result.content)
    assert _CALL_KEY not in shown and _CALL_KEY[8:24] not in shown, shown
    assert error["result"]["response_id"] == "resp-[REDACTED]"
    assert "you sent [REDACTED]" in error["result"]["text"]


async def test_a_calls_own_key_in_the_paid_answer_a_cli_error_carries_is_not_printed(
    cli_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    import anyio

    from magsag_mcp.cli import main

    _refusing_records(monkeypatch)
    seen: list[str] = []
    state: dict[str, Any] = {}
    monkeypatch.setenv("OPENAI_API_KEY", _PROCESS_KEY)
    monkeypatch.setenv("MAGSAG_MAX_RETRIES", "0")
    async with gateway(_echoing(seen), state):
        monkeypatch.setenv("OPENAI_BASE_URL", state["url"] + "/v1")
        argv = ["invoke", "skill.analysis", "--payload", json.dumps(_PAYLOAD)]
        code = await anyio.to_thread.run_sync(main, argv)
    out = capsys.readouterr()
    assert seen == [_CALL_KEY] and code != 0, out
    assert "calling again would pay twice" in out.err, out.err
    assert _CALL_KEY not in out.out + out.err and _CALL_KEY[8:24] not in out.out + out.err, out.err
    assert "you sent [REDACTED]" in out.err


async def test_a_calls_own_key_in_the_paid_answer_a_magsag_run_error_carries_is_not_printed(
    cli_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    # `magsag run`: the agent's call raised the ledger's error carrying the paid answer, as invoke returns answers (a
    # dict: Skills.invoke), its credentials gathered for the run (Runner.call_keys); the error was printed by the
    # CLI's handler with the keys of an InvokeResult it no longer was, none, and the echoed credential went out whole
    import shutil

    import anyio

    from magsag_mcp.cli import main
    from tests.test_call_key_echoed_in_answer import _AGENT, _AGENT_CODE

    catalog = cli_env / "catalog"
    shutil.copytree(CATALOG, catalog)
    (catalog / "agents" / "key-echo-mag.yaml").write_text(_AGENT)
    (catalog / "agents" / "key_echo_mag.py").write_text(_AGENT_CODE)
    _refusing_records(monkeypatch)
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
    assert seen == [_CALL_KEY] and code != 0, out
    assert "calling again would pay twice" in out.err, out.err
    assert _CALL_KEY not in out.out + out.err and _CALL_KEY[8:24] not in out.out + out.err, out.err
    error = json.loads(out.err)["error"]
    assert error["type"] == "ledger_error" and error["run_id"], error
    assert error["result"]["response_id"] == "resp-[REDACTED]" and "you sent [REDACTED]" in error["result"]["text"]
