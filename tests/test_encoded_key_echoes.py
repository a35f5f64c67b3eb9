"""A key the process sent, quoted back re-encoded in a vendor's or a gateway's refusal
(:mod:`magsag_mcp.key_encodings`): base64 of ``Bearer <key>`` wrapped as MIME writes it (76 columns, a line holding a
few of its characters), its characters as HTML references without their ``;``, or percent-encoded. The refusal
reaches the MCP client and the ledger without it. A model's answer is not decoded (docs/configuration.md says why):
an image's base64 in it is returned as it was, never decoded."""

from __future__ import annotations

import base64
import json
import logging
import random
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from magsag_mcp import key_encodings
from magsag_mcp.redaction import redact, register_secret
from tests.key_echo_helpers import KEYS, MODELS, error_body, gateway, invoke_and_search, key_env, ledger_bytes, sent_key

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("restored_secrets")]


def _mime(key: str) -> str:
    """A gateway quoting the request's headers as MIME writes base64 (lines of 76), a note of its own before them: as
    long as puts the last 4 to 11 of the key's encoded characters alone on a line."""
    for note in range(80):
        encoded = base64.b64encode(f'{{"note": "{"x" * note}", "authorization": "Bearer {key}"}}'.encode()).decode()
        if 4 <= _key_chars(encoded, key)[1] % 76 < 12:
            return "\n".join(encoded[at : at + 76] for at in range(0, len(encoded), 76))
    raise AssertionError("no note's length puts the key's end so")


def _key_chars(encoded: str, key: str) -> tuple[int, int]:
    """Where the characters encoding ``key``'s bytes start and end in ``encoded``."""
    start = base64.b64decode(encoded).decode().index(key)
    return 4 * (start // 3), -(-4 * (start + len(key)) // 3)


ENCODINGS: dict[str, Callable[[str], str]] = {
    "mime-base64": _mime,
    "html-references-without-semicolons": lambda key: "".join(f"&#{ord(c)}" for c in key),
    "percent": lambda key: "".join(f"%{ord(c):02X}" for c in key),
}


@pytest.fixture
async def encoding_gateway() -> AsyncIterator[dict[str, Any]]:
    """A loopback gateway refusing every request in its vendor's error shape, quoting the key it was sent as
    ``state["encoding"]`` writes it."""
    state: dict[str, Any] = {"encoding": "mime-base64", "family": "openai", "sent": []}

    async def answer(request: web.Request) -> web.Response:
        key = sent_key(request)
        state["sent"].append(key)
        said = f"upstream refused the request:\n{ENCODINGS[state['encoding']](key)}\n(401)"
        return web.json_response(error_body(state["family"], 401, said), status=401)

    async with gateway(answer, state):
        yield state


@pytest.mark.parametrize("encoding", list(ENCODINGS))
@pytest.mark.parametrize("family", ["openai", "anthropic", "google", "local"])
async def test_a_key_quoted_back_re_encoded_reaches_no_result_ledger_or_log(
    encoding_gateway: dict[str, Any], tmp_path: Path, caplog: pytest.LogCaptureFixture, family: str, encoding: str
):
    key, db = KEYS[family], tmp_path / "ledger.db"
    encoding_gateway.update(family=family, encoding=encoding)
    caplog.set_level(logging.DEBUG)
    result, hits, _ = await invoke_and_search(db, key_env(family, encoding_gateway["url"]), MODELS[family])
    assert encoding_gateway["sent"] and encoding_gateway["sent"][0] == key
    said = result.content[0].text
    assert result.is_error and "upstream refused the request:" in said and "[REDACTED]" in said, said
    assert hits.structured_content["hits"], hits.content[0].text  # the refusal was recorded
    stored = ledger_bytes(db).decode("utf-8", "replace")
    for text in (said, json.dumps(result.structured_content), hits.content[0].text, caplog.text, stored):
        assert key not in text and not any(part in text for part in _encoded_parts(encoding, key)), text


def _encoded_parts(encoding: str, key: str) -> list[str]:
    """What of the key ``encoding`` writes: each of its lines' part holding the key's encoded characters (base64; 4 of
    them or more), or the whole of it."""
    written = ENCODINGS[encoding](key)
    if encoding != "mime-base64":
        return [written]
    joined = written.replace("\n", "")
    start, end = _key_chars(joined, key)
    parts = [joined[max(start, at) : min(end, at + 76)] for at in range(0, len(joined), 76)]
    return [part for part in parts if len(part) >= 4]


def test_a_models_answer_is_not_decoded(monkeypatch: pytest.MonkeyPatch):
    # an answer's base64 (an image it made, embeddings) is its own: decoded at each alignment for a key no model was
    # given, it cost every answer as much as an error's body of its size (see docs/configuration.md)
    key = KEYS["openai"]
    register_secret(key)
    decoded: list[bytes] = []
    real = key_encodings._decoded
    monkeypatch.setattr(key_encodings, "_decoded", lambda word: decoded.append(word) or real(word))
    image = base64.b64encode(random.Random(5).randbytes(30_000)).decode()
    answer = f"Here is the picture: data:image/png;base64,{image}\n\nand the key as sent: {key}"
    assert redact(answer, answer=True) == answer.replace(key, "[REDACTED]")
    assert decoded == []
