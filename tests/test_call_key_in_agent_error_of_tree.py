"""`magsag run` of an agent whose own code raises an error of magsag's tree (an ``InputError``, as an agent refusing
what it got says it) quoting the answer of its call, the answer echoing the credential that call gave itself (its
``params.api_key``): the error's message was redacted as it was made, after the call had forgotten its credential, and
``magsag run`` printed it (the JSON error) and recorded the run with the credential whole, where an agent's exception
outside the tree loses it."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.key_echo_helpers import CATALOG, gateway
from tests.test_call_key_echoed_in_answer import _AGENT, _CALL_KEY, _PAYLOAD, _PROCESS_KEY, _echoing

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("restored_secrets")]

_RAISING_CODE = '''import json

from magsag_mcp.errors import InputError


def run(payload, *, registry=None, skills=None, runner=None, obs=None):
    result = skills.invoke("skill.analysis", json.loads(payload["call"]))
    raise InputError(f"the analysis is not what was asked: {result['output']}", answer=result["output"])
'''


async def test_a_calls_own_key_in_an_agents_error_of_the_tree_is_neither_printed_nor_recorded(
    cli_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    import anyio

    from magsag_mcp.cli import main

    catalog = cli_env / "catalog"
    shutil.copytree(CATALOG, catalog)
    (catalog / "agents" / "key-echo-mag.yaml").write_text(_AGENT)
    (catalog / "agents" / "key_echo_mag.py").write_text(_RAISING_CODE)
    seen: list[str] = []
    state: dict[str, Any] = {}
    db = cli_env / "ledger.db"
    monkeypatch.setenv("OPENAI_API_KEY", _PROCESS_KEY)
    monkeypatch.setenv("MAGSAG_MAX_RETRIES", "0")
    monkeypatch.setenv("MAGSAG_CATALOG", str(catalog))
    monkeypatch.setenv("MAGSAG_DB", str(db))
    async with gateway(_echoing(seen), state):
        monkeypatch.setenv("OPENAI_BASE_URL", state["url"] + "/v1")
        argv = ["run", "key-echo-mag", "--payload", json.dumps({"call": json.dumps(_PAYLOAD)})]
        code = await anyio.to_thread.run_sync(main, argv)
    out = capsys.readouterr()
    assert seen == [_CALL_KEY] and code != 0, out.err
    assert _CALL_KEY not in out.out + out.err and _CALL_KEY[8:24] not in out.out + out.err, out.err
    error = json.loads(out.err)["error"]
    assert error["type"] == "input_error" and "you sent [REDACTED]" in error["message"], error
    assert "you sent [REDACTED]" in error["answer"], error
    ledger = b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))
    assert _CALL_KEY.encode() not in ledger and _CALL_KEY[8:24].encode() not in ledger
    with sqlite3.connect(db) as conn:
        (said,) = conn.execute("SELECT error_message FROM runs WHERE agent = 'key-echo-mag'").fetchone()
    assert "you sent [REDACTED]" in said, said
