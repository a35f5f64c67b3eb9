"""A local base URL the call refuses (a ``user:password@`` before its host, a ``?token=`` query) is asked nothing
before the call refuses it: ``/api/show`` (where the server runs the model, see providers/local_reach.py) was asked
first, by the call and by ``explain``, and sent the URL's user:password as a Basic credential (over plain http, the
very thing the refusal says it keeps from being sent) or the query's token inside a path that was no path
(``/v1?token=<token>/api/show``); and the server's answer then judged the target, which was refused as "off this
machine" by an answer got with the credential, where its true fault is its base URL. The loopback server is
test_local_reach's, answering as Ollama does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.key_echo_helpers import ledger_bytes
from tests.test_local_reach import SHOW_CLOUD
from tests.test_local_reach import ollama as ollama  # (the fixture)
from tests.test_local_reach import residency_catalog as residency_catalog  # (the fixture: pii_processing local:*)

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("restored_secrets")]

SKILL = "skill.pii-redaction"
#: a password, a token: what the URL carries that must go nowhere
SECRET = "Zq8Wx3Lk9Vb2Nm7Tc4Rf6Yh1"


def _base(root: str, shape: str) -> str:
    host = root.partition("//")[2]
    return {"userinfo": f"http://user:{SECRET}@{host}", "query": f"{root}/v1?token={SECRET}"}[shape]


@pytest.mark.parametrize("given", ["call", "environment"])
@pytest.mark.parametrize("shape", ["userinfo", "query"])
async def test_a_refused_local_base_url_is_asked_nothing_and_said_refused_for_it(
    ollama, residency_catalog: Path, tmp_path: Path, shape: str, given: str, caplog: pytest.LogCaptureFixture
):
    import logging

    from magsag_mcp import errors as E
    from magsag_mcp.service import Service

    caplog.set_level(logging.DEBUG, logger="magsag_mcp")
    server = await ollama({"mybot": SHOW_CLOUD})
    base = _base(server.url, shape)
    config: dict[str, object] = {"provider": "local", "model": "mybot"}
    if given == "call":
        env, config["base_url"] = {"OLLAMA_BASE_URL": server.url}, base
    else:
        env = {"MAGSAG_LOCAL_LLM_BASE_URL": base if shape == "query" else base + "/v1"}
    payload = {"text": "Ann called.", "model_config": config}
    db = tmp_path / "l.db"
    async with Service.open(catalog=residency_catalog, db=db, env=env) as svc:
        explained = await svc.explain_asking(SKILL, payload)
        with pytest.raises(E.AllTargetsFailed) as failed:
            await svc.invoke_skill(SKILL, payload)
    assert server.paths == []  # (neither explain nor the call sent the URL anything)
    [target] = explained["targets"]
    assert "would be sent beside the key" in target["unavailable"] or "?query" in target["unavailable"]
    # refused for its URL, not judged by what a server said when asked with the credential
    assert "off this machine" not in json.dumps(explained) and "off this machine" not in failed.value.message
    assert failed.value.details["last_error_type"] == "not_configured"
    said = json.dumps(explained) + failed.value.message + json.dumps(failed.value.details, default=str) + caplog.text
    assert SECRET not in said
    assert SECRET.encode() not in ledger_bytes(db)
