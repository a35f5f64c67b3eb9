"""A credential's label written with JSON's ``\\u`` escapes, as encoders write them by default: Go's
``encoding/json`` an ``&`` as ``\\u0026`` (a Go gateway, Ollama), Gson an ``=`` as ``\\u003d``. A body quoted as text
keeps them (an upstream's JSON quoted in a gateway's message), and a URL's ``\\u0026sig\\u003d<value>`` in it was no
label: the value stayed in the error, the MCP result, the ledger and the logs."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from magsag_mcp.redaction import holds_secret, redact
from tests.key_echo_helpers import MODELS, error_body, gateway, invoke_and_search, key_env, ledger_bytes

pytestmark = pytest.mark.anyio

#: a credential of no shape a pattern knows (an Azure Storage SAS signature, a gateway's token): its label alone
#: says it is one
VALUE = "kry67hsEF7svReosl0Ag4mNbu5hJaV4y"


@pytest.mark.parametrize(
    "text",
    [
        f"GET https://store.example/x?sv=2024-01-01\\u0026sig={VALUE} was denied",
        f"GET https://store.example/x?sv=2024-01-01\\u0026sig\\u003d{VALUE} was denied",
        f"GET https://gw.example/v1/models?key\\u003d{VALUE} was denied",
        f"GET https://gw.example/v1/models?a=1\\\\u0026access_token\\\\u003d{VALUE} was denied",  # (quoted again)
        f"request carried api_key\\u003d{VALUE} was denied",
        f"headers: x-api-key\\u003d{VALUE} was denied",
    ],
)
def test_a_credential_after_a_json_escaped_label_is_removed(text: str):
    said = redact(text)
    assert VALUE[:8] not in said and VALUE[-8:] not in said, said
    assert said.endswith(" was denied") and "[REDACTED]" in said, said
    assert holds_secret(text.removesuffix(" was denied"))


def test_json_escaped_ampersands_and_equals_signs_elsewhere_are_kept():
    for text in (
        '{"error": "R\\u0026D quota\\u003d100 requests per key exceeded"}',
        "Tom \\u0026 Jerry: the token count\\u003d4096 is over the limit",
        "GET https://h.example/v1?model=gpt-4o\\u0026stream\\u003dtrue failed: the key is invalid",
    ):
        assert redact(text) == text


@pytest.fixture
async def go_gateway() -> AsyncIterator[dict[str, Any]]:
    """A loopback gateway refusing every request, its message quoting the upstream's JSON body (which a Go encoder
    wrote: ``&`` as ``\\u0026``) as a string."""
    state: dict[str, Any] = {"family": "local"}

    async def answer(request: web.Request) -> web.Response:
        upstream = '{"error":"GET https://store.example/x?sv=2024-01-01\\u0026sig=' + VALUE + ' was denied"}'
        return web.json_response(error_body(state["family"], 403, f"upstream answered 403: {upstream}"), status=403)

    async with gateway(answer, state):
        yield state


@pytest.mark.parametrize("family", ["local", "openai"])
async def test_a_credential_in_a_go_encoded_url_a_gateway_quotes_reaches_no_result_ledger_or_log(
    go_gateway: dict[str, Any], tmp_path: Path, caplog: pytest.LogCaptureFixture, family: str
):
    db = tmp_path / "ledger.db"
    go_gateway["family"] = family
    caplog.set_level(logging.DEBUG)
    result, hits, _ = await invoke_and_search(db, key_env(family, go_gateway["url"]), MODELS[family], "denied")
    said = result.content[0].text
    assert result.is_error and "\\u0026sig=[REDACTED] was denied" in said, said
    assert hits.structured_content["hits"], hits.content[0].text  # the refusal was recorded
    for text in (said, json.dumps(result.structured_content), hits.content[0].text, caplog.text):
        assert VALUE[:8] not in text and VALUE[-8:] not in text, text
    stored = ledger_bytes(db).decode("utf-8", "replace")
    assert VALUE[:8] not in stored and VALUE[-8:] not in stored
