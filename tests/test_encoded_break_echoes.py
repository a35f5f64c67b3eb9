"""A known key cut by a line break written as a URL or an HTML page writes it: ``%0A`` / ``%0D`` (a URL-encoded
query or form quoted in a gateway's message, any case of hex digit), ``<br>`` / ``<br/>`` (an HTML error page's text
wrapped at a column) or ``&#10;`` / ``&#xA;`` (a character reference). Only whitespace and JSON's escapes were taken
for a break: the side of the key that held no 12-character piece of it (up to 11 characters) stayed in the error,
the MCP result, the ledger and the logs."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from magsag_mcp.redaction import redact, register_secret
from tests.key_echo_helpers import KEYS, MODELS, error_body, gateway, invoke_and_search, key_env, ledger_bytes, sent_key
from tests.redaction_helpers import pieces, sides_left

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("restored_secrets")]

BREAKS = [
    "%0A", "%0a", "%0D%0A", "%0d%0a", "%09", "<br>", "<BR>", "<br/>", "<br />", "<br>\n    ", "&#10;", "&#13;&#10;",
    "&#xA;", "&#xa;", "&#x0A;", "&#xD;&#xA;",
]  # fmt: skip


@pytest.fixture
async def encoding_gateway() -> AsyncIterator[dict[str, Any]]:
    """A loopback gateway refusing every request in its vendor's error shape, its message quoting the key it was sent
    cut at ``state["at"]`` by ``state["brk"]`` (an encoded line break)."""
    state: dict[str, Any] = {"at": 8, "brk": BREAKS[0], "family": "openai", "sent": []}

    async def answer(request: web.Request) -> web.Response:
        key = sent_key(request)
        state["sent"].append(key)
        at = state["at"] % len(key)
        said = f"upstream answered 401: <p>the key {key[:at]}{state['brk']}{key[at:]} was refused</p>"
        return web.json_response(error_body(state["family"], 401, said), status=401)

    async with gateway(answer, state):
        yield state


@pytest.mark.parametrize("brk", ["%0A", "<br/>", "&#xA;"])
@pytest.mark.parametrize("at", [5, -7])
@pytest.mark.parametrize("family", sorted(KEYS))
async def test_a_key_cut_by_an_encoded_line_break_reaches_no_result_ledger_or_log(
    encoding_gateway: dict[str, Any],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    family: str,
    at: int,
    brk: str,
):
    key, db = KEYS[family], tmp_path / "ledger.db"
    encoding_gateway.update(family=family, at=at, brk=brk)
    caplog.set_level(logging.DEBUG)
    result, hits, _ = await invoke_and_search(db, key_env(family, encoding_gateway["url"]), MODELS[family])
    assert encoding_gateway["sent"] and encoding_gateway["sent"][0] == key
    said = result.content[0].text
    assert result.is_error and "upstream answered 401: <p>the key [REDACTED] was refused</p>" in said, said
    assert hits.structured_content["hits"], hits.content[0].text  # the refusal was recorded
    cut = at % len(key)
    for text in (said, json.dumps(result.structured_content), hits.content[0].text, caplog.text):
        assert pieces(key, text) == [] and sides_left(key, cut, text) == [], text
    stored = ledger_bytes(db).decode("utf-8", "replace")
    assert pieces(key, stored) == [] and sides_left(key, cut, stored) == []


@pytest.mark.parametrize("brk", BREAKS)
def test_a_known_key_cut_anywhere_by_an_encoded_line_break_is_removed_on_both_sides(brk: str):
    for key in ("5b8e1d4a7c0f3b6e9d2a5c8f1e4b7d0a", "Qv7Lx2Rm9Tc4Wz8Np3Hs6Kd1", "Xk9pQ2mZ7rT4vB8n"):
        register_secret(key)  # (Azure's 32 hex digits, a gateway's 24, a proxy's 16: its halves)
        for at in range(1, len(key)):
            said = redact(f"key {key[:at]}{brk}{key[at:]} refused")
            assert said == "key [REDACTED] refused", (key, at, said)


def test_the_text_around_an_encoded_line_break_is_kept():
    key = "Jd5Hf9GaWm4Xc8Vb2Nq6Lp0Zr3Ty7Ks1"
    register_secret(key)
    assert redact(f"key {key[:20]}%0Anext line") == "key [REDACTED]%0Anext line"
    assert redact(f"key {key[:20]}<br>next line") == "key [REDACTED]<br>next line"
    # a line starting with the key's next character or two is another line's text
    assert redact(f"{key[:16]}&#10;{key[16:18]}ok") == f"[REDACTED]&#10;{key[16:18]}ok"
    # no piece of a known key: encoded breaks and what is around them come through as they were
    for text in (
        "https://example.com/v1/chat?q=line%0Aline%0D%0A&model=gpt-4o",
        "<html><body>Invalid request.<br/>See the docs&#10;for details&#xA;(429: 1200 tokens)</body></html>",
        f"id {key[:11]}%0A{key[-4:]}",  # (fewer than 12 of its characters on each side, and 15 in all: a name's)
    ):
        assert redact(text) == text
