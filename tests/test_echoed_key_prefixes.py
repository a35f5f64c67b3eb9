"""A vendor or gateway that shows only the START of the key it refused (the first 12 to 20 characters of a bearer
token in a 401, a key cut inside a 429's message): that start is the key's, and stays out of the error, the MCP
result, the ledger file and the logs, for every provider family and a key of any shape (``AIza...``, Azure's 32 hex
digits, a gateway's key with no prefix at all)."""

from __future__ import annotations

import contextvars
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from magsag_mcp.errors import InputError
from magsag_mcp.redaction import PREFIX_SHOWN, redact, register_call_secret, register_secret
from magsag_mcp.service import Service
from tests.key_echo_helpers import (
    KEYS,
    MODELS,
    error_body,
    gateway,
    invoke_and_search,
    key_env,
    ledger_bytes,
    made_up_key,
    sent_key,
)

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("restored_secrets")]


@pytest.fixture
async def echoing() -> AsyncIterator[dict[str, Any]]:
    """A loopback vendor answering every request with ``state["status"]``, its body quoting the start of the key
    it was sent (``state["shown"]`` characters of it), as a gateway's refusal does."""
    state: dict[str, Any] = {"status": 401, "shown": 12, "family": "openai", "sent": []}

    async def answer(request: web.Request) -> web.Response:
        key = sent_key(request)
        state["sent"].append(key)
        start = key[: state["shown"]]
        said = f"Invalid credentials: the key {start}... was refused (key={start}, prefix '{start}')"
        return web.json_response(error_body(state["family"], state["status"], said), status=state["status"])

    async with gateway(answer, state):
        yield state


@pytest.mark.parametrize("shown", [PREFIX_SHOWN, 20])
@pytest.mark.parametrize("status", [401, 400, 429, 500])
@pytest.mark.parametrize("family", sorted(KEYS))
async def test_the_start_of_a_key_a_vendor_echoes_reaches_no_result_ledger_or_log(
    echoing: dict[str, Any], tmp_path: Path, caplog: pytest.LogCaptureFixture, family: str, status: int, shown: int
):
    echoing.update(family=family, status=status, shown=shown)
    key, db = KEYS[family], tmp_path / "ledger.db"
    caplog.set_level(logging.DEBUG)
    result, hits, runs = await invoke_and_search(db, key_env(family, echoing["url"]), MODELS[family], with_runs=True)
    assert echoing["sent"] and echoing["sent"][0] == key  # the vendor was sent the key, and echoed its start
    start = key[:shown]
    said = result.content[0].text
    assert result.is_error and "Invalid credentials: the key [REDACTED]" in said, said
    for text in (said, str(result.structured_content), runs.content[0].text, hits.content[0].text, caplog.text):
        assert start not in text
        assert key[:PREFIX_SHOWN] not in text
    assert hits.structured_content["hits"], hits.content[0].text  # the refusal was recorded, its start removed
    assert key[:PREFIX_SHOWN].encode() not in ledger_bytes(db)


def test_a_known_keys_start_is_removed_wherever_it_stands_and_as_far_as_it_goes():
    key = "Hx4Tq9Lw2Zr7Nb5Vc8Mk1Pj6Fd3Gs0Ya"  # a gateway's key: no prefix, nothing shaped like a key
    register_secret(key)
    assert redact(f"token {key[:12]}… refused") == "token [REDACTED]… refused"
    assert redact(f"got '{key[:20]}', '{key[:14]}x'") == "got '[REDACTED]', '[REDACTED]x'"
    assert redact(f"{key}{key[:12]}") == "[REDACTED][REDACTED]"
    # fewer characters than PREFIX_SHOWN are no start of it that is removed: as many happen in words and ids
    assert redact(f"id {key[: PREFIX_SHOWN - 1]}") == f"id {key[: PREFIX_SHOWN - 1]}"


def test_a_short_known_secret_is_removed_whole_only():
    register_secret("pw-Ab3dE9")  # a proxy's password: its start is no key, and would take words with it
    assert redact("pw-Ab3dE9 and pw-Ab3d") == "[REDACTED] and pw-Ab3d"


def test_the_start_of_a_key_the_call_gave_is_removed_in_that_call():
    key = "Rk8Vn3Bx6Qm1Zt4Wc7Ly0Pd9Hs2Jf5Ga"

    def call() -> str:
        register_call_secret(key)
        return redact(f"gateway: bearer {key[:16]}... is not allowed")

    assert key[:12] not in contextvars.copy_context().run(call)


def test_a_jwt_sharing_a_known_jwts_header_is_removed_whole():
    # Entra ID tokens share their header: the start of a known one is the start of every other. Removing that start
    # first cut another token so that the JWT pattern no longer matched it, and its claims and signature stayed.
    header = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9"
    known = f"{header}.eyJvaWQiOiIxMjM0NTY3OCJ9.c2lnbmF0dXJlLW9mLWtub3du"
    register_secret(known)
    other = f"{header}.eyJvaWQiOiJvdGhlci11c2VyIn0.c2lnbmF0dXJlLW9mLW90aGVy"
    assert redact(f"token {other} expired") == "token [REDACTED] expired"


async def test_a_name_holding_the_start_of_a_known_key_is_refused_before_it_is_recorded(tmp_path: Path):
    # The start of a key is removed from every message (see above): a run id or agent holding it (a key pasted cut
    # short) was taken, and recorded as given, in a column every reading of the ledger shows
    key = made_up_key("AIzaSy", 39)
    db = tmp_path / "l.db"
    async with Service.open(db=db, env={"MAGSAG_PROVIDER": "fake", "GEMINI_API_KEY": key}) as svc:
        for names in ({"run_id": f"job-{key[:14]}"}, {"agent": key[:PREFIX_SHOWN]}):
            with pytest.raises(InputError, match="holds what looks like an API key"):
                await svc.invoke_skill("skill.analysis", {"data": "x"}, **names)
        ok = await svc.invoke_skill("skill.analysis", {"data": "x"}, run_id=f"job-{key[: PREFIX_SHOWN - 1]}")
    assert key[:PREFIX_SHOWN].encode() not in ledger_bytes(db) and ok.run_id.startswith("job-AIza")
