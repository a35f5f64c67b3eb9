"""A known key a vendor or a gateway echoes cut in pieces: wrapped across lines in a plain-text or HTML page (whose
text a message joins with a space), or its line break escaped (a JSON string, a log line's %r). Only its start was
removed, so the rest of it after the break stayed in the error, the MCP result, the ledger and the logs; a break
before its 12th character left all of it."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from magsag_mcp.redaction import redact, register_secret
from tests.key_echo_helpers import KEYS, MODELS, gateway, invoke_and_search, key_env, ledger_bytes, sent_key
from tests.redaction_helpers import pieces

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("restored_secrets")]


@pytest.fixture
async def wrapping() -> AsyncIterator[dict[str, Any]]:
    """A loopback gateway refusing every request with a page quoting the key it was sent, cut at ``state["at"]``
    characters with a line break (as a page wrapped at a column cuts it), as plain text or HTML."""
    state: dict[str, Any] = {"at": 20, "html": False, "sent": []}

    async def answer(request: web.Request) -> web.Response:
        key = sent_key(request)
        state["sent"].append(key)
        cut = f"{key[: state['at']]}\n    {key[state['at'] :]}"
        if state["html"]:
            page = f"<html><body><h1>401 Unauthorized</h1><p>The key\n{cut}\nwas refused.</p></body></html>"
            return web.Response(status=401, text=page, content_type="text/html")
        return web.Response(status=401, text=f"401 Unauthorized: the key\n{cut}\nwas refused by the gateway.")

    async with gateway(answer, state):
        yield state


@pytest.mark.parametrize("html", [False, True], ids=["text", "html"])
@pytest.mark.parametrize("at", [5, 8, 14, 20, -6])
@pytest.mark.parametrize("family", sorted(KEYS))
async def test_a_key_a_gateway_echoes_across_a_line_break_reaches_no_result_ledger_or_log(
    wrapping: dict[str, Any], tmp_path: Path, caplog: pytest.LogCaptureFixture, family: str, at: int, html: bool
):
    key, db = KEYS[family], tmp_path / "ledger.db"
    wrapping.update(at=at % len(key), html=html)
    caplog.set_level(logging.DEBUG)
    result, hits, runs = await invoke_and_search(db, key_env(family, wrapping["url"]), MODELS[family], with_runs=True)
    assert wrapping["sent"] and wrapping["sent"][0] == key
    said = result.content[0].text
    assert result.is_error and "401" in said, said
    assert hits.structured_content["hits"], hits.content[0].text  # the refusal was recorded
    for text in (said, json.dumps(result.structured_content), runs.content[0].text, hits.content[0].text, caplog.text):
        assert pieces(key, text) == [], text
    stored = ledger_bytes(db).decode("utf-8", "replace")
    assert pieces(key, stored) == []


@pytest.mark.parametrize("brk", ["\n", "\r\n", "\\n", "\\r\\n", " ", "\n\t", "\\n  "])
@pytest.mark.parametrize("at", [1, 4, 8, 11, 12, 13, 20, 27, 31])
def test_a_known_key_cut_by_a_line_break_anywhere_is_removed_on_both_sides_of_it(brk: str, at: int):
    key = "9e1c4a7f2b5d8e0a3c6f9b2d5e8a1c4f"  # Azure's shape: 32 hex digits, nothing shaped like a key
    register_secret(key)
    said = redact(f"key: {key[:at]}{brk}{key[at:]} refused")
    assert said == "key: [REDACTED] refused", said


@pytest.mark.parametrize("at", [4, 8, 11, 21, 28])
def test_a_known_key_cut_by_a_line_break_escaped_twice_is_removed_on_both_sides_of_it(at: int):
    # a vendor's JSON body (its break escaped once, \\n) quoted again: a log line's %r of it, an event's JSON of an
    # exception's message quoting it. The run stopped at the second backslash, and the side before it, fewer than 12
    # of the key's characters (no piece), stayed in the text
    key = "4d7a0c3f6b9e2a5d8c1f4b7e0a3d6c9f"
    register_secret(key)
    body = json.dumps({"error": {"message": f"key {key[:at]}\n{key[at:]} refused"}})  # (\\n in it)
    for quoted in (repr(body), json.dumps(body), json.dumps(json.dumps(body))):
        said = redact(f"gateway said {quoted}")
        assert pieces(key, said) == [] and key[:at] not in said and key[at:] not in said, said
        assert said.count("[REDACTED]") == 1, said


def test_the_words_after_a_line_break_after_a_key_are_kept():
    key = "Wm4Xc8Vb2Nq6Lp0Zr3Ty7Ks1Jd5Hf9Ga"
    register_secret(key)
    # the next line starts with what the key would go on with, for fewer characters than a piece of it
    assert redact(f"{key[:16]}\n{key[16:18]}ok") == f"[REDACTED]\n{key[16:18]}ok"
    assert redact(f"key {key[:20]}\nnext line") == "key [REDACTED]\nnext line"
    # a run of the key not at its start, 12 characters or more of it, is the key's too
    assert redact(f"…{key[9:30]}…") == "…[REDACTED]…"
    assert redact(f"id {key[3:13]}") == f"id {key[3:13]}"  # (fewer: as many happen in words and ids)


def test_keys_of_every_shape_cut_anywhere_by_any_line_break_are_removed_whole():
    import random
    import string

    rng = random.Random(2026_12_03)
    alphabet = string.ascii_letters + string.digits

    def made_up(prefix: str, length: int, among: str = alphabet + "_-") -> str:
        return prefix + "".join(rng.choice(among) for _ in range(length - len(prefix)))

    keys = [
        made_up("sk-proj-", 56),
        made_up("sk-ant-api03-", 80),
        made_up("AIzaSy", 39),
        made_up("", 32, "0123456789abcdef"),
        # Azure AI Foundry's (its first an upper case letter here: a key cut after an "n" by an escaped break, "n\\n",
        # has its "n" written twice, and that of the escape is taken for it)
        made_up(rng.choice(string.ascii_uppercase), 84, alphabet),
        made_up("gwtok_", 36),
    ]
    for key in keys:
        register_secret(key)
    breaks = ["\n", "\r\n", "\\n", "\\r\\n", " ", "\n    ", "\\n\\t", "\t"]
    for _ in range(3000):
        key = rng.choice(keys)
        at = rng.randrange(1, len(key))
        before, after = rng.choice(["key ", "(", '"', "\n"]), rng.choice([" refused", ")", '"', "\n", ""])
        said = redact(f"401: {before}{key[:at]}{rng.choice(breaks)}{key[at:]}{after}")
        # (an sk- or AIza part before the break is removed by its shape first: a [REDACTED] on each side of it)
        assert said.startswith(f"401: {before}[REDACTED]") and said.endswith(f"[REDACTED]{after}"), (key, at, said)
        assert pieces(key, said) == [], (key, at, said)


@pytest.mark.parametrize("brk", ["\n", "\\n", "\r\n    ", " "])
@pytest.mark.parametrize("key", ["Xk9pQ2mZ7rT4vB8n", "c7Lm2Qx9Rt4Vb8Nw3Yp6", "gwtok_Hq3Zs8Kd1Mv6Pb4Tj9"])
def test_a_short_known_key_cut_near_its_middle_is_removed_on_both_sides(brk: str, key: str):
    # a compat proxy's or the MCP server's own token, 16 to 23 characters: cut near its middle, each side held fewer
    # than 12 of its characters (no piece of it), and all of it stayed in the text
    register_secret(key)
    for at in range(1, len(key)):
        said = redact(f"401: the key {key[:at]}{brk}{key[at:]} was refused")
        assert said == "401: the key [REDACTED] was refused", (at, said)
    # its half alone (11 characters, a half's 8 to 11 among them), no line break cutting it, is kept: fewer than 12 of
    # its characters happen in words and ids
    assert redact(f"id {key[:11]} ok\n{key[-4:]}") == f"id {key[:11]} ok\n{key[-4:]}"


async def test_a_name_holding_a_run_of_a_known_key_past_its_start_is_refused_before_it_is_recorded(tmp_path: Path):
    # redact() removes a known key's runs past its start from every message (one cut before its 12th character by a
    # line break): a run id or agent holding such a run (a key pasted without its first characters) was taken, and
    # recorded as given, where every reading of the ledger shows it, beside messages that hid it
    from magsag_mcp.errors import InputError
    from magsag_mcp.service import Service

    key = KEYS["azure"]
    db = tmp_path / "l.db"
    async with await Service.open(db=db, env={"MAGSAG_PROVIDER": "fake", "AZURE_OPENAI_API_KEY": key}) as svc:
        for names in ({"run_id": f"job-{key[5:30]}"}, {"agent": key[-12:]}):
            with pytest.raises(InputError, match="holds what looks like an API key"):
                await svc.invoke_skill("skill.analysis", {"data": "x"}, **names)
        ok = await svc.invoke_skill("skill.analysis", {"data": "x"}, run_id=f"job-{key[5:16]}")  # (11: a name's)
    assert ok.run_id == f"job-{key[5:16]}"
    stored = ledger_bytes(db).decode("utf-8", "replace")
    assert key[5:30] not in stored and key[-12:] not in stored


@pytest.mark.parametrize("brk", ["\n", "\\n", "\\\\n", " ", "\n    "])
@pytest.mark.parametrize(
    ("vendor", "gateway"),
    [
        # a gateway's key built on a vendor's, both known (the vendor's in the environment, the gateway's a target's)
        ("9e1c4a7f2b5d8e0a3c6f9b2d5e8a1c4f", "9e1c4a7f2b5d8e0a3c6f9b2d5e8a1c4f:tnt7Qz4Vw2"),
        ("Rt4Vb8Nwc7Lm2Qx9", "gw-Hq3Zs8K.Rt4Vb8Nwc7Lm2Qx9"),
    ],
    ids=["vendor-first", "vendor-last"],
)
def test_a_known_key_built_on_another_known_key_cut_by_a_line_break_is_removed_on_both_sides(
    brk: str, vendor: str, gateway: str
):
    # the vendor's key, whole on one side of the break, was replaced first: the gateway's then held too few of its
    # characters on the other side for a piece, and they (its tenant's part) stayed in the text
    register_secret(vendor)
    register_secret(gateway)
    for at in range(1, len(gateway)):
        said = redact(f"401: the key {gateway[:at]}{brk}{gateway[at:]} was refused; {vendor} is the vendor's")
        assert said == "401: the key [REDACTED] was refused; [REDACTED] is the vendor's", (at, said)


def test_any_run_of_23_of_a_keys_characters_is_removed_wherever_it_starts_and_one_holding_a_piece_of_12():
    """What docs/configuration.md says of a known key's runs: one holding a 12-character piece (its first 12, the next,
    ..., its last 12) is removed, as every run of 23 or more does wherever it starts; a run of 12 to 22 from between two
    pieces is kept (every run of 12 looked for made each redaction about four times as long)."""
    key = "sk-proj-Abcdefghij0123456789KLMNOPqrstuvWXyz012345678"
    register_secret(key)
    for at in range(len(key) - 22):
        said = redact(f"quoted: {key[at : at + 23]} ;")
        assert said == "quoted: [REDACTED] ;", (at, said)
    for at in (0, 12, 24, 36, len(key) - 12):  # each piece alone
        assert redact(f"quoted: {key[at : at + 12]} ;") == "quoted: [REDACTED] ;", at
    assert redact(f"quoted: {key[5:20]} ;") == f"quoted: {key[5:20]} ;"  # (15, between two pieces: kept)


def test_what_the_docs_say_a_text_can_still_show_of_a_credential_is_all_it_shows():
    """docs/configuration.md's list of what redaction leaves: fewer than 12 of a known key's characters; a run of 12 to
    22 holding none of its pieces; a part of a known key shorter than 16 characters; a credential never sent that is
    neither shaped nor labelled as one; and the part of a token glued to Bearer glued to a credential's end. Each one
    step further is removed."""
    key = "gwtok_z4pzkhGFSWnHslFTLuT4JkaMy5FiW4nA"
    register_secret(key)
    assert redact(f"key ...{key[-4:]} refused") == f"key ...{key[-4:]} refused"
    assert redact(f"key {key[:11]} refused") == f"key {key[:11]} refused"
    assert redact(f"key {key[13:35]} refused") == f"key {key[13:35]} refused"  # (22, between two pieces)
    assert redact(f"key {key[13:36]} refused") == "key [REDACTED] refused"  # (23)
    short = "5xZn3F77UW8qNcp"  # (15)
    register_secret(short)
    assert redact(f"key {short[:14]} and {short} refused") == f"key {short[:14]} and [REDACTED] refused"
    unknown = "909191f2c39dc58a649ed3534e99e15c"  # (never registered: 32 hex digits)
    assert redact(f"key {unknown} refused") == f"key {unknown} refused"
    assert redact(f"api_key: {unknown} refused") == "api_key: [REDACTED] refused"
    # a token glued to Bearer is told from a word by a digit among its first 32 characters
    assert redact("BearerAbcdefghijKlmnopQrstu refused") == "BearerAbcdefghijKlmnopQrstu refused"
    assert redact("Bearerabcdefgh1 refused") == "Bearer[REDACTED] refused"
    # and so is one after Bearer: / Bearer= / Bearer%20
    assert redact("Bearer: expected a token, Bearer=required") == "Bearer: expected a token, Bearer=required"
    assert redact("Bearer: abcdefgh1 refused") == "Bearer: [REDACTED] refused"
    wordy = "Bearer%20NoDigitAmongTheseFirstThirtyTwoC1 refused"  # (its digit 33rd; no known test key's piece)
    assert redact(wordy) == wordy
    # and one after "Bearer " (a word kept, a token removed), and a CamelCase name (a token written so is kept too)
    assert redact("Bearer authentication failed") == "Bearer authentication failed"
    assert redact("Bearer abcdefgh1 refused") == "[REDACTED] refused"
    named = "BearerTokenAuth2 and BearerAb12Cd34Ef56Gh78 kept"
    assert redact(named) == named
    # Bearer glued to a JWT's end and its token to Bearer: the token's part from its first "." on is kept
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlLWJ5dGVz"
    assert redact(f"{jwt}Bearerya29.a0AfH6SMBx3 refused") == "[REDACTED].a0AfH6SMBx3 refused"
    assert redact(f"{jwt}Bearer ya29.a0AfH6SMBx3 refused") == "[REDACTED] refused"


@pytest.mark.parametrize("answer", [False, True])
def test_a_known_key_concatenated_in_parts_loses_each_part_holding_a_piece_as_the_docs_say(answer: bool):
    """docs/configuration.md's "Not caught": a key split by string concatenation keeps its parts of 12 to 22 characters
    that hold none of its pieces (the docs said every part of 12 or more was removed); each part of 23 or more holds
    one and is removed, in an answer too."""
    key = "sk-proj-Q7vX2mKp9LwR4tYz8NbC3dFh6JsA1gUe5iOo0xVk"  # (its pieces at 0, 12, 24 and 36)
    register_secret(key)
    for length in (12, 23):
        parts = [key[at : at + length] for at in range(8, len(key), length)]
        said = redact(" + ".join(f'"{part}"' for part in ["sk-proj-", *parts]), answer=answer)
        kept = [part for part in parts if part in said]
        if length == 23:
            assert kept == [], said
        else:  # (8-20, 20-32 and 32-44 hold no piece; 44-48 is 4 characters, fewer than a piece)
            assert kept == parts, said
