"""A known key holding ``/``, ``+`` or ``=`` (a base64 key: an Azure resource's, a gateway's) echoed escaped: in JSON
as ``\\/`` (PHP's and some Java encoders write every ``/`` so), in a URL as ``%2F``, ``%2B``, ``%3D`` (a query or a
form quoted in a gateway's message, hex in either case). The key was looked for only as it is: escaped, it stayed
whole in the error, the MCP result, the ledger and the logs."""

from __future__ import annotations

import contextvars
import json
import logging
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp import web

from magsag_mcp.key_pieces import pieces_of
from magsag_mcp.redaction import holds_secret, redact, register_call_secret, register_secret
from tests.key_echo_helpers import MODELS, error_body, gateway, invoke_and_search, key_env, ledger_bytes, made_up_key

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("restored_secrets")]

_BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
#: an Azure resource's key as base64 writes it: 44 characters, "=" at its end (drawn, so none is committed)
KEY = made_up_key("", 42, _BASE64) + "/="


def _escaped(key: str) -> dict[str, str]:
    """The key as each encoder writes it."""
    url = quote(key, safe="")
    return {
        "json": key.replace("/", "\\/"),
        "url": url,
        "url-lower": url.replace("%2F", "%2f").replace("%2B", "%2b").replace("%3D", "%3d"),
    }


def _left(key: str, text: str) -> list[str]:
    """Every run of 8 of the key's characters, as it is or escaped, that appears in ``text``."""
    forms = (key, *_escaped(key).values())
    return [form[i : i + 8] for form in forms for i in range(len(form) - 7) if form[i : i + 8] in text]


@pytest.fixture
async def escaping_gateway() -> AsyncIterator[dict[str, Any]]:
    """A loopback gateway refusing every request in its vendor's error shape, its message quoting the key it was sent
    as ``state["form"]`` writes it."""
    state: dict[str, Any] = {"form": "json", "sent": []}

    async def answer(request: web.Request) -> web.Response:
        key = request.headers.get("api-key", "")
        state["sent"].append(key)
        said = f"upstream answered 401: the key {_escaped(key)[state['form']]} was refused"
        return web.json_response(error_body("azure", 401, said), status=401)

    async with gateway(answer, state):
        yield state


@pytest.mark.parametrize("form", ["json", "url", "url-lower"])
async def test_a_base64_key_echoed_escaped_reaches_no_result_ledger_or_log(
    escaping_gateway: dict[str, Any], tmp_path: Path, caplog: pytest.LogCaptureFixture, form: str
):
    db = tmp_path / "ledger.db"
    escaping_gateway["form"] = form
    caplog.set_level(logging.DEBUG)
    env = key_env("azure", escaping_gateway["url"]) | {"AZURE_OPENAI_API_KEY": KEY}
    result, hits, _ = await invoke_and_search(db, env, MODELS["azure"])
    assert escaping_gateway["sent"] and escaping_gateway["sent"][0] == KEY
    said = result.content[0].text
    assert result.is_error and "upstream answered 401: the key [REDACTED] was refused" in said, said
    assert hits.structured_content["hits"], hits.content[0].text  # the refusal was recorded
    for text in (said, json.dumps(result.structured_content), hits.content[0].text, caplog.text):
        assert _left(KEY, text) == [], text
    assert _left(KEY, ledger_bytes(db).decode("utf-8", "replace")) == []


@pytest.mark.parametrize("form", ["json", "url", "url-lower"])
def test_a_known_key_escaped_is_removed_whole_its_start_and_across_a_line_break(form: str):
    key = "Zx9/Qw3+Er7=Ty1/Ui5+Op2=As6/Df4+Gh8=Jk0/"  # (each 4th character one an encoder escapes)
    register_secret(key)
    written = _escaped(key)[form]
    assert redact(f"key {written} refused") == "key [REDACTED] refused"
    assert redact(f"key {written[:14]}... refused") == "key [REDACTED]... refused"  # (its start)
    for at in (3, 20, len(written) - 5):
        said = redact(f"key {written[:at]}\n{written[at:]} refused")
        assert said == "key [REDACTED] refused", (at, said)
    assert holds_secret(f"run-{written}")  # a name holding it is refused, as one holding the key is


def test_a_calls_own_key_escaped_is_removed_in_that_call():
    key = "Mn2+Bv6/Cx0=Lk4+Jh8/Gf3="

    def call() -> str:
        register_call_secret(key)
        return redact(f"gateway: key {_escaped(key)['url']} is not allowed")

    assert contextvars.copy_context().run(call) == "gateway: key [REDACTED] is not allowed"
    assert redact(f"key {_escaped(key)['url']}") == f"key {_escaped(key)['url']}"  # (the call's own: not the process's)


def test_text_escaped_as_a_key_is_but_holding_no_known_key_is_kept():
    register_secret("Pl5/Ok9+Ij3=Uh7/Yg1+Tf6=")
    for text in (
        "https://example.com/v1/files%2Fa%2Bb%3Dc?path=%2Fdata%2Fin.jsonl&model=gpt-4o",
        '{"url": "https:\\/\\/api.example.com\\/v1\\/chat", "usage": {"total_tokens": 1200}}',
        "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5Erk"
        "Jggg==",
    ):
        assert redact(text) == text


@pytest.mark.parametrize("case", ["upper", "lower"])
def test_a_key_quoted_as_pythons_quote_writes_it_slash_kept_is_removed_across_a_line_break(case: str):
    # Python's quote() keeps "/" (its default safe="/", as a URL's path and query may hold it) and escapes "+" and
    # "=": a Python gateway quoting the URL it was asked writes a base64 key so, neither as it is nor as every escape
    # writes it. Cut by a line break before its 12th character, no 12-character piece of any form registered was on
    # either side, and the whole key stayed in the text
    key = "StTmQLddqLX3a0Eq2/sXPF+G=="
    register_secret(key)
    written = quote(key)
    assert "/" in written and "%2B" in written  # (the form this is about)
    if case == "lower":
        written = written.replace("%2B", "%2b").replace("%3D", "%3d")
    assert redact(f"key {written} refused") == "key [REDACTED] refused"
    for at in (3, 9, 14, len(written) - 8):
        for brk in ("\n", "\\n", "%0A", "<br>"):
            said = redact(f"key {written[:at]}{brk}{written[at:]} refused")
            assert said == "key [REDACTED] refused", (at, brk, said)


class _CountedText(str):
    """A text that counts the look-ups made in it (``piece in text``): redact() looks each known key's pieces up in
    the text it was given."""

    lookups = 0

    def __contains__(self, part: object) -> bool:
        type(self).lookups += 1
        return super().__contains__(part)


def test_escaped_forms_are_not_looked_up_in_a_text_holding_no_escape():
    # each base64 key is known in five escaped forms besides itself: their pieces, all looked up in every text, made
    # each redaction several times as long (20 such keys: ~15 us a text became ~60-90 us). A form with a % or a \ can
    # find nothing in a text holding neither that its key's own pieces do not (a run of 23 of its characters holds
    # one of them), so it is looked up only where the text holds its escape
    rng = random.Random(43)
    keys = ["".join(rng.choice(_BASE64) for _ in range(86)) + "==" for _ in range(20)]
    plain = "HTTP 401 from upstream: the request was refused by the gateway, try again later"
    _CountedText.lookups = 0
    assert redact(_CountedText(plain)) == plain
    before = _CountedText.lookups  # (the keys other tests of this process registered)
    for key in keys:
        register_secret(key)
    own_lookups = sum(len(pieces_of(key)) for key in keys)  # (every key's pieces, at most, each once)
    _CountedText.lookups = 0
    assert redact(_CountedText(plain)) == plain
    assert _CountedText.lookups - before <= own_lookups, (_CountedText.lookups, before, own_lookups)
    # where the text holds an escape, the forms written with it are looked for (and the key so written removed)
    for key in keys[:3]:
        written = quote(key, safe="")
        assert redact(_CountedText(f"gateway: {written} refused")) == "gateway: [REDACTED] refused"
        in_json = _escaped(key)["json"]
        assert redact(_CountedText(f'{{"k": "{in_json}"}}')) == '{"k": "[REDACTED]"}'
    # and the key as it is, where neither escape is: whole, its start, and cut by a line break
    key = keys[0]
    assert redact(_CountedText(f"key {key} refused")) == "key [REDACTED] refused"
    assert redact(_CountedText(f"key {key[:20]}... refused")) == "key [REDACTED]... refused"
    assert redact(_CountedText(f"key {key[:30]}\n{key[30:]} refused")) == "key [REDACTED] refused"


def test_escaped_forms_are_not_looked_up_in_a_name_holding_no_escape():
    # a call's names are checked for a key before anything is sent (a fresh run id each call, never found clean
    # before): the pieces of each known key's escaped forms were looked up in each of them too
    rng = random.Random(4343)
    keys = ["".join(rng.choice(_BASE64) for _ in range(86)) + "==" for _ in range(20)]
    _CountedText.lookups = 0
    assert not holds_secret(_CountedText("run-7f3c9a1e2b4d"))
    before = _CountedText.lookups  # (the keys other tests of this process registered)
    for key in keys:
        register_secret(key)
    _CountedText.lookups = 0
    assert not holds_secret(_CountedText("run-8e2d0b6a4c1f"))
    assert _CountedText.lookups - before <= sum(len(pieces_of(key)) for key in keys), (_CountedText.lookups, before)
    assert holds_secret(_CountedText(f"run-{quote(keys[0], safe='')}"))  # (a name holding one is still refused)
    assert holds_secret(_CountedText(f"run-{keys[1][:14]}"))
