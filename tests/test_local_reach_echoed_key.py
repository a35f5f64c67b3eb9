"""A local server's ``/api/show`` answer is the server's word, asked with the local key in its headers: a server (or a
gateway before it) that echoes the key as the ``remote_host`` of a model made from a cloud one had the key recorded as
the host the prompt went to (the attempts' ``endpoint``, 0029's column), and from there shown by ``flow summarize``'s
``model_stats[M].off_machine`` and every ``flow gate`` message naming hosts, as the host of a key of hex digits, its
own text (a host is lower case, as such a key is). The host is recorded redacted. The server is test_local_reach's,
answering as Ollama does."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.key_echo_helpers import ledger_bytes
from tests.test_local_reach import SHOW_CLOUD
from tests.test_local_reach import ollama as ollama  # (the fixture)

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("restored_secrets")]

#: a gateway's key before the local server: 32 hex digits, a host's characters
KEY = "3f9a1c7e5b2d4a6f8e0c1b3d5f7a9c2e"


#: a gateway's key in both cases and with a "_", as many are: a host read from a URL is lower case, and the key
#: lowered was the key no more to redact(), the host recorded was the key but for its case
MIXED_KEY = "gwtok_Rt7Vx2Lq9Bn4Hd8Kz3Mw6Pf1"


@pytest.mark.parametrize(
    ("key", "echoed"),
    [
        (KEY, KEY),
        (KEY, f"https://{KEY}.ollama.com:443"),
        (KEY, f"{KEY.upper()}:443"),
        (MIXED_KEY, MIXED_KEY),
        (MIXED_KEY, f"https://user@{MIXED_KEY}.ollama.com:443/v1"),
    ],
)
async def test_a_key_echoed_as_the_remote_host_is_recorded_as_no_host(
    ollama, catalog_copy: Path, tmp_path: Path, key: str, echoed: str
):
    from magsag_mcp.service import Service

    governance = catalog_copy / "policies" / "model_governance.yaml"
    governance.write_text(governance.read_text().replace("allow_unpriced: false", "allow_unpriced: true"))
    server = await ollama({"llama3.1:70b": {**SHOW_CLOUD, "remote_host": echoed}})
    env = {"OLLAMA_BASE_URL": server.url, "MAGSAG_LOCAL_LLM_API_KEY": key}
    payload = {"text": "Ann called.", "model_config": {"provider": "local", "model": "llama3.1:70b"}}
    db = tmp_path / "l.db"
    async with Service.open(catalog=catalog_copy, db=db, env=env) as svc:
        await svc.invoke_skill("skill.pii-redaction", payload)
        summary = await svc.summarize()
    with sqlite3.connect(db) as conn:
        [(endpoint,)] = conn.execute("SELECT endpoint FROM attempts").fetchall()
    assert endpoint is not None and "[REDACTED]" in endpoint  # (still off this machine: a host not shown)
    shown = json.dumps(summary)
    lowered = key.lower()
    assert lowered not in shown.lower() and lowered[:16] not in shown.lower(), shown
    assert lowered.encode() not in ledger_bytes(db).lower()


async def test_a_remote_host_that_is_no_url_is_off_this_machine_not_a_failed_call(
    ollama, catalog_copy: Path, tmp_path: Path
):
    # urlsplit raises on an unbalanced [ ("http://[bad", Invalid IPv6 URL): raised out of the ask, it failed the call
    # as a bug of ours; the server said the model runs elsewhere, where, unreadably: off this machine, as a remote_host
    # naming no host is (Ollama's cloud)
    from magsag_mcp.service import Service

    governance = catalog_copy / "policies" / "model_governance.yaml"
    governance.write_text(governance.read_text().replace("allow_unpriced: false", "allow_unpriced: true"))
    server = await ollama({"llama3.1:70b": {**SHOW_CLOUD, "remote_host": "http://[bad"}})
    payload = {"text": "Ann called.", "model_config": {"provider": "local", "model": "llama3.1:70b"}}
    db = tmp_path / "l.db"
    async with Service.open(catalog=catalog_copy, db=db, env={"OLLAMA_BASE_URL": server.url}) as svc:
        answered = await svc.invoke_skill("skill.pii-redaction", payload)
    assert answered.result.text == "[NAME] called."
    assert [a.endpoint for a in answered.attempts] == ["ollama.com"]
