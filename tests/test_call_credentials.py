"""A call's own credential params (``model_config.params.api_key``) are kept out of that call's messages and
records, and out of no one else's: whatever a caller writes there is no secret of the process's."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from magsag_mcp import errors as E
from magsag_mcp.errors import redact
from magsag_mcp.service import Service
from tests.conftest import CATALOG

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("restored_secrets")]


def _stored(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT * FROM attempts").fetchall() + conn.execute("SELECT * FROM runs").fetchall()
    return json.dumps(rows, default=str)


@pytest.mark.parametrize("tool", ["explain", "invoke"])
async def test_a_callers_credential_param_does_not_make_a_skill_or_model_name_a_secret_for_every_caller(
    tmp_path: Path, tool: str
):
    # One call (even to the read-only explain_route) giving params {"api_key": "skill.document-analysis"} made the
    # text a secret of the process: every later call of that skill, by any MCP client, was refused ("skill_id
    # '[REDACTED]' holds what looks like an API key") until the server restarted, and so was a model of that name.
    poison = {"data": "x", "model_config": {"model": "fake:echo", "params": {"api_key": "skill.document-analysis"}}}
    async with await Service.open(catalog=CATALOG, db=tmp_path / "l.db", env={"MAGSAG_PROVIDER": "fake"}) as svc:
        if tool == "explain":
            assert svc.explain("skill.analysis", poison)["targets"][0]["params"] == {"api_key": "[REDACTED]"}
        else:
            await svc.invoke_skill("skill.analysis", poison)
        result = await svc.invoke_skill("skill.document-analysis", {"document": "a report"})
        assert result.to_dict()["output"]
        named = await svc.invoke_skill(
            "skill.analysis", {"data": "x", "model_config": {"model": "fake:skill.document-analysis"}}
        )
        assert named.model == "skill.document-analysis"
    assert redact("skill.document-analysis") == "skill.document-analysis"


async def test_a_callers_credential_param_echoed_by_the_server_is_kept_out_of_its_error_and_the_ledger(
    tmp_path: Path,
):
    # Kept out of the call's own messages still, on a route resolved afresh and on the one cached from it.
    secret = "gw-call-credential-7Qx2Ab9"
    server = await _echoing_gateway()
    base = str(server.make_url("/v1"))
    payload = {
        "data": "x",
        "model_config": {
            "provider": "local",
            "model": "llama3.1:70b",
            "base_url": base,
            "params": {"gateway_auth": secret},
        },
    }
    said = []
    try:
        async with await Service.open(catalog=CATALOG, db=tmp_path / "l.db", env={}) as svc:
            for _ in range(2):  # the second call's route is the first's, from the cache
                with pytest.raises(E.MagsagError) as info:
                    await svc.invoke_skill("skill.analysis", payload)
                said.append(json.dumps(info.value.to_dict()))
    finally:
        await server.close()
    for text in said:
        assert "Extra inputs are not permitted" in text and secret not in text
    assert secret not in _stored(tmp_path / "l.db")
    assert redact(secret) == secret  # the caller's, for its call alone


async def test_a_callers_base_url_path_does_not_make_a_model_name_a_secret_for_every_caller(tmp_path: Path):
    # A segment of a call's base_url shaped like a token (16 characters or more mixing digits and letters) was made a
    # secret of the process when the request was built: a base_url of http://localhost:11434/v1/<a model's name>
    # (allowed over HTTP too, below the local server's configured /v1) had every later call naming that model
    # refused as holding a key, by every client, until the server restarted.
    from aiohttp import web
    from aiohttp.test_utils import TestServer

    token = "Gw7Qx2AbCd9Ef3Gh5"
    seen: list[str] = []

    async def refuse(request: web.Request) -> web.Response:
        seen.append(request.path)
        return web.Response(text=f"Cannot POST {request.path}", status=404)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", refuse)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        async with await Service.open(catalog=CATALOG, db=tmp_path / "l.db", env={}) as svc:
            for segment in ("claude-3-5-sonnet-20241022", token):
                base = str(server.make_url(f"/v1/{segment}"))
                mc = {"provider": "local", "model": "llama3.1:70b", "base_url": base}
                with pytest.raises(E.MagsagError) as info:
                    await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": mc})
                # the call's own path is still hidden in its own error (a server echoing the path it was asked)
                assert segment not in json.dumps(info.value.to_dict())
            plan = svc.explain("skill.analysis", {"data": "x", "model_config": {"model": "claude-3-5-sonnet-20241022"}})
            assert plan["targets"][0]["label"] == "anthropic:claude-3-5-sonnet-20241022"
    finally:
        await server.close()
    assert any("claude-3-5-sonnet-20241022" in path for path in seen)
    assert redact("claude-3-5-sonnet-20241022") == "claude-3-5-sonnet-20241022"


def test_a_calls_key_holding_a_key_of_the_process_is_removed_whole():
    # The process's keys were replaced first and a call's after them: a call's key built on one the process knows (a
    # gateway's "<vendor key>:<tenant token>") lost only that part, and the rest of it stayed in the message
    from magsag_mcp.redaction import call_scoped, register_call_secret, register_secret

    inner = "Pk3vW9xQ2mL7nB4cR8tY"
    register_secret(inner)
    outer = f"{inner}:tenant-Hs6Jd2Kf9Lq4Zx7C"

    @call_scoped
    def said() -> str:
        register_call_secret(outer)
        return redact(f"refused the key {outer} for this tenant")

    assert said() == "refused the key [REDACTED] for this tenant"


@pytest.mark.parametrize(
    "params",
    [{"gateway": {"password": "letmein"}}, {"routes": [{"name": "a", "api_key": "letmein"}]}],
    ids=["under-a-param", "in-a-list"],
)
async def test_a_credential_param_under_another_is_not_shown_by_explain_route_or_in_a_trace(
    tmp_path: Path, params: dict
):
    # Masked by its name at the top only: a short credential under another param (too short to be told from a
    # setting, so never known to redact()) was shown whole by explain_route and in every result's trace
    payload = {"data": "x", "model_config": {"model": "fake:echo", "params": params}}
    async with await Service.open(catalog=CATALOG, db=tmp_path / "l.db", env={"MAGSAG_PROVIDER": "fake"}) as svc:
        explained = json.dumps(svc.explain("skill.analysis", payload))
        result = json.dumps((await svc.invoke_skill("skill.analysis", payload)).to_dict())
    for shown in (explained, result):
        assert "letmein" not in shown and "[REDACTED]" in shown


async def test_a_callers_credential_in_a_record_the_ledger_refused_stays_out_when_a_later_call_writes_it(
    tmp_path: Path,
):
    # A failed call's record the ledger refused (locked) is kept and written by the next call (c63c758), whose task
    # no longer knows the first call's credentials (call_scoped forgot them): what the record holds must have been
    # redacted in the first call's own context, or the echoed credential reached the ledger with the later write.
    secret = "gw-call-credential-8Rk3Cd0"
    server = await _echoing_gateway()
    payload = {
        "data": "x",
        "model_config": {
            "provider": "local",
            "model": "llama3.1:70b",
            "base_url": str(server.make_url("/v1")),
            "params": {"gateway_auth": secret},
        },
    }
    try:
        async with await Service.open(catalog=CATALOG, db=tmp_path / "l.db", env={}) as svc:
            real, refusals = svc.ledger.record_call, iter([True])

            async def record_call(*args, **kw):
                if next(refusals, False):
                    raise E.LedgerError("the ledger at l.db stayed locked for 30s by another process")
                await real(*args, **kw)

            svc.ledger.record_call = record_call  # type: ignore[method-assign]
            with pytest.raises(E.MagsagError) as info:
                await svc.invoke_skill("skill.analysis", payload, run_id="r-secret")
            assert "record_error" in info.value.details and secret not in json.dumps(info.value.to_dict())
            await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": {"model": "fake:echo"}}, run_id="r2")
    finally:
        await server.close()
    stored = _stored(tmp_path / "l.db")
    assert "r-secret" in stored and "Extra inputs are not permitted" in stored
    assert secret not in stored


async def _echoing_gateway() -> Any:
    """A loopback OpenAI-compatible gateway that refuses every request with a 400 quoting the request's own
    ``gateway_auth`` (as vLLM's "Extra inputs are not permitted" does): a caller's credential echoed back."""
    from aiohttp import web
    from aiohttp.test_utils import TestServer

    async def refuse(request: web.Request) -> web.Response:
        body = await request.json()
        said = f"Extra inputs are not permitted: gateway_auth={body.get('gateway_auth')!r}"
        return web.json_response(
            {"object": "error", "message": said, "type": "BadRequestError", "code": 400}, status=400
        )

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", refuse)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server
