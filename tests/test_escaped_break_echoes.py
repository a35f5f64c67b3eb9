"""A known key cut by a line break that JSON's other escape writes (``\\u000a``, six characters: RFC 8259 lets an
encoder write a line break, a carriage return or a tab so) in a vendor's body a gateway quotes as a string, so that
it stays escaped in the message. Only ``\\n`` was taken for a break: the side of the key that held no 12-character
piece of it (up to 11 characters) stayed in the error, the MCP result, the ledger and the logs."""

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

BREAKS = ["\\u000a", "\\u000A", "\\u000d\\u000a", "\\u0009", "\\u000a    "]


@pytest.fixture
async def wrapping_gateway() -> AsyncIterator[dict[str, Any]]:
    """A loopback gateway refusing every request in its vendor's error shape, its message quoting the upstream's
    JSON body as a string (the key in it cut at ``state["at"]`` by ``state["brk"]``), as a proxy wrapping an
    upstream's refusal does."""
    state: dict[str, Any] = {"at": 8, "brk": BREAKS[0], "family": "openai", "sent": []}

    async def answer(request: web.Request) -> web.Response:
        key = sent_key(request)
        state["sent"].append(key)
        at = state["at"] % len(key)
        upstream = '{"error": {"message": "the key ' + key[:at] + state["brk"] + key[at:] + ' was refused"}}'
        said = f"upstream answered 401: {upstream}"
        return web.json_response(error_body(state["family"], 401, said), status=401)

    async with gateway(answer, state):
        yield state


@pytest.mark.parametrize("brk", ["\\u000a", "\\u000d\\u000a"])
@pytest.mark.parametrize("at", [5, -7])
@pytest.mark.parametrize("family", sorted(KEYS))
async def test_a_key_cut_by_a_json_unicode_escaped_break_reaches_no_result_ledger_or_log(
    wrapping_gateway: dict[str, Any],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    family: str,
    at: int,
    brk: str,
):
    key, db = KEYS[family], tmp_path / "ledger.db"
    wrapping_gateway.update(family=family, at=at, brk=brk)
    caplog.set_level(logging.DEBUG)
    result, hits, _ = await invoke_and_search(db, key_env(family, wrapping_gateway["url"]), MODELS[family])
    assert wrapping_gateway["sent"] and wrapping_gateway["sent"][0] == key
    said = result.content[0].text
    assert result.is_error and 'upstream answered 401: {"error": {"message": "the key [REDACTED] was refused' in said
    assert hits.structured_content["hits"], hits.content[0].text  # the refusal was recorded
    cut = at % len(key)
    for text in (said, json.dumps(result.structured_content), hits.content[0].text, caplog.text):
        assert pieces(key, text) == [] and sides_left(key, cut, text) == [], text
    stored = ledger_bytes(db).decode("utf-8", "replace")
    assert pieces(key, stored) == [] and sides_left(key, cut, stored) == []


@pytest.mark.parametrize("brk", BREAKS)
def test_a_known_key_cut_anywhere_by_a_json_unicode_escaped_break_is_removed_on_both_sides(brk: str):
    key = "e9e27965527bd0cbf5823e67b4452f88"  # Azure's shape: 32 hex digits, nothing shaped like a key
    register_secret(key)
    for at in range(1, len(key)):
        text = f"key {key[:at]}{brk}{key[at:]} refused"
        assert redact(text) == "key [REDACTED] refused", (at, redact(text))
        # quoted again (a log line's %r, an event's JSON of the message): its backslash doubled
        quoted = redact(json.dumps(text))
        assert quoted == '"key [REDACTED] refused"', (at, quoted)


def test_the_text_around_a_json_unicode_escaped_break_after_a_key_is_kept():
    key = "vdb9Z66Ys4faGOlprUPBxJrIeKA0FywWZ"
    register_secret(key)
    assert redact(f"key {key[:20]}\\u000anext line") == "key [REDACTED]\\u000anext line"
    # a line starting with the key's next character or two is another line's text
    assert redact(f"{key[:16]}\\u000a{key[16:18]}ok") == f"[REDACTED]\\u000a{key[16:18]}ok"
    # no piece of a known key: an escaped break and what is around it come through as they were
    for text in (
        '{"error": {"message": "Invalid request.\\u000aSee the docs\\u0009for details"}}',
        'upstream answered 400: {\\u000a  \\"error\\": \\"model not found\\"\\u000a}',
    ):
        assert redact(text) == text
