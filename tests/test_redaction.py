"""Keys stay in the process, from the secrets audit: cut error bodies, pasted whitespace, logged
tracebacks, credentials in a routing file's targets, the ledger file's mode, the shapes of keys and credentials
redact() removes and the words it leaves alone. Tokens in a base URL's path are in test_redaction_base_urls, keys
given as a call's names in test_redaction_call_names, servers echoing what they were sent in
test_redaction_echoes, and texts and names found clean once in test_redaction_found_clean."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import stat
from pathlib import Path

import pytest

from magsag_mcp import errors as E
from magsag_mcp.errors import excerpt, redact, redacting_logger, register_secret
from magsag_mcp.ledger import Ledger
from magsag_mcp.providers.anthropic import anthropic_error
from magsag_mcp.providers.gemini import gemini_error
from magsag_mcp.providers.openai import OpenAIEndpoint
from magsag_mcp.providers.openai_chat import openai_error
from magsag_mcp.service import Service
from magsag_mcp.transport import HttpResponse
from magsag_mcp.types import Target
from tests.fakes import openai_replies as R
from tests.fakes.openai_server import FakeOpenAI
from tests.redaction_helpers import AZURE_KEY, pieces

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("restored_secrets")]


@pytest.mark.parametrize("cut", [290, 295, 299])
def test_an_error_body_cut_inside_a_key_leaves_no_piece_of_it(cut: int):
    register_secret(AZURE_KEY)
    body = ("x" * cut + f"Access denied for key {AZURE_KEY} on this resource").encode()
    wire = {
        "openai": openai_error(HttpResponse(401, {}, body), provider="azure", model="gpt-4o").message,
        "anthropic": anthropic_error(401, body, {}, provider="anthropic", model="claude").message,
        "gemini": gemini_error(401, body, {}, provider="google", model="gemini").message,
    }
    for name, message in wire.items():
        assert pieces(AZURE_KEY, message) == [], name
    with pytest.raises(E.MalformedResponseError) as info:
        HttpResponse(200, {}, ("y" * 190 + AZURE_KEY).encode()).json()
    assert pieces(AZURE_KEY, info.value.message) == []


def test_excerpt_redacts_before_cutting_and_keeps_the_limit():
    register_secret(AZURE_KEY)
    text = "a" * 10 + AZURE_KEY + "b" * 500
    assert excerpt(text, 20) == "a" * 10 + "[REDACTED]"
    assert len(excerpt(text, 100)) == 100 and AZURE_KEY[:8] not in excerpt(text.encode(), 30)


def test_a_key_pasted_with_whitespace_is_redacted_as_it_travels():
    pasted = "Zq7WmN4pLx2Rt9Vb8Kc5Hd3Gf6Js1Ay0-pasted \t"
    register_secret(pasted)
    assert redact(f"key {pasted.strip()} refused") == "key [REDACTED] refused"


async def test_an_echoed_trimmed_key_never_reaches_the_error_or_the_ledger(fake_openai: FakeOpenAI, tmp_path: Path):
    pasted = "Kc5Hd3Gf6Js1Ay0Zq7WmN4pLx2Rt9Vb "  # a trailing space from a .env file
    fake_openai.key = pasted.strip()  # what arrives: HTTP drops the header value's surrounding space
    fake_openai.queue(R.error(401, f"Incorrect API key provided: {pasted.strip()}"))
    env = {"OPENAI_BASE_URL": fake_openai.url + "/v1", "OPENAI_API_KEY": pasted}
    svc = await Service.open(db=tmp_path / "l.db", env=env)
    try:
        with pytest.raises(E.MagsagError) as info:
            await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": {"model": "openai:gpt-4o"}})
    finally:
        await svc.aclose()
    assert pasted.strip() not in json.dumps(info.value.to_dict())
    conn = sqlite3.connect(tmp_path / "l.db")
    stored = json.dumps(conn.execute("SELECT * FROM attempts").fetchall())
    conn.close()
    assert "Incorrect API key provided" in stored and pasted.strip() not in stored


def test_magsags_loggers_redact_messages_and_tracebacks_for_any_handler():
    key = "sk-logged-0123456789abcdefghij"
    register_secret(key)
    seen: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(logging.Formatter().format(record))

    log = redacting_logger("magsag_mcp.cascade")
    handler = Keep()
    log.addHandler(handler)
    try:
        try:
            int(f"auth {key}")
        except ValueError:
            log.exception("parsing %s failed", f"usage with {key}")
    finally:
        log.removeHandler(handler)
    assert len(seen) == 1 and "ValueError: invalid literal" in seen[0] and "Traceback" in seen[0]
    assert key not in seen[0] and "[REDACTED]" in seen[0]


def test_a_targets_credentials_never_reach_its_output():
    target = Target(
        "compat",
        "gw-model",
        "https://gw.example/sk-route0123456789abcd/v1",
        (("api_key", "plain-secret"), ("gateway_auth", "tok"), ("max_tokens", 64), ("temperature", 0.2)),
    )
    shown = target.to_dict()
    assert shown["params"] == {
        "api_key": "[REDACTED]",
        "gateway_auth": "[REDACTED]",
        "max_tokens": 64,
        "temperature": 0.2,
    }
    assert shown["base_url"] == "https://gw.example/[REDACTED]/v1"
    assert target.param_dict()["api_key"] == "plain-secret"  # what is sent is unchanged


async def test_explain_route_shows_no_credential_from_the_routing_file(catalog_copy: Path, tmp_path: Path):
    routing = catalog_copy / "routing" / "default.yaml"
    gateway = (
        "{provider: compat, model: gw-model, base_url: 'https://gw.example/v1',"
        " params: {api_key: sk-inline-0123456789abcdef, x_auth: '${GW_HEADER_VALUE}'}}"
    )
    text = routing.read_text()
    routing.write_text(
        text.replace(
            "chain: [openai:gpt-4o, anthropic:claude-3-5-sonnet-20241022, google:gemini-1.5-pro]", f"chain: [{gateway}]"
        )
    )
    env = {"GW_HEADER_VALUE": "gw-credential-123456"}
    svc = await Service.open(catalog=catalog_copy, db=tmp_path / "l.db", env=env)
    try:
        plan = svc.explain("skill.analysis", {"data": "x"})
        shown = json.dumps(plan)
    finally:
        await svc.aclose()
    assert plan["targets"][0]["params"] == {"api_key": "[REDACTED]", "x_auth": "[REDACTED]"}
    assert "sk-inline-0123456789abcdef" not in shown and "gw-credential-123456" not in shown


async def test_a_new_ledger_is_readable_by_its_owner_only(tmp_path: Path):
    db = tmp_path / "fresh" / "ledger.db"
    ledger = await Ledger(db).open()
    await ledger.close()
    assert stat.S_IMODE(os.stat(db.parent).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(db).st_mode) == 0o600


def test_an_http_response_echoing_the_key_through_a_provider_is_redacted(tmp_path: Path):
    """The provider path registers its key itself (no Service): a plain-text body cut mid-key."""
    key = "Hd3Gf6Js1Ay0Zq7WmN4pLx2Rt9Vb8Kc5"
    assert OpenAIEndpoint({"OPENAI_API_KEY": key}).api_key() == key
    body = ("z" * 280 + key).encode()
    assert pieces(key, openai_error(HttpResponse(500, {}, body), provider="openai", model="m").message) == []


def test_a_key_that_contains_another_is_removed_whole():
    inner = "Vb8Kc5Hd3Gf6Js1Ay0Zq7WmN4pLx2Rt9"
    outer = inner + "-proxy-suffix-77"
    register_secret(inner)
    register_secret(outer)
    assert redact(f"key {outer} refused") == "key [REDACTED] refused"


async def test_an_event_with_a_credential_field_stays_json_with_the_value_removed(tmp_path: Path):
    # redact() ran on the event's JSON text, and its `api_key": "...` pattern took the field's name and
    # quotes with the value: the stored data was no JSON, and `magsag data search` crashed reading it.
    async with Ledger(tmp_path / "l.db") as ledger:
        await ledger.log_event("r", "a", "configured", {"api_key": "unregistered0123456789", "x-api-key": "k" * 12})
        stored = await ledger.read(lambda c: c.execute("SELECT data FROM events").fetchone()[0])
        hits = await ledger.search("configured", 5)
    assert json.loads(stored) == {"api_key": "[REDACTED]", "x-api-key": "[REDACTED]"}
    assert hits[0]["data"] == {"api_key": "[REDACTED]", "x-api-key": "[REDACTED]"}


def test_redaction_keeps_the_name_of_what_it_removed():
    assert redact("header x-api-key: abcdefgh1234 sent") == "header x-api-key: [REDACTED] sent"
    assert redact("url ?key=1&api_key=abcdefgh1234") == "url ?key=1&api_key=[REDACTED]"


@pytest.mark.parametrize(
    ("base_url", "shown"),
    [
        ("https://gwuser:gwpass-7Qx2@gw.example/v1", "https://[REDACTED]@gw.example/v1"),
        ("https://gw.example/v1?key=gw7Qx2secret&region=eu", "https://gw.example/v1?[REDACTED]"),
        ("https://gw.example:8443/v1#token=gw7Qx2secret", "https://gw.example:8443/v1#[REDACTED]"),
    ],
)
def test_credentials_in_a_targets_url_never_reach_its_output(base_url: str, shown: str):
    # A routing file's base_url with user:password@ or a ?key= (the target is refused before sending, but
    # explain_route and traces show it): only sk-/AIza-shaped keys were removed from it.
    assert Target("compat", "gw-model", base_url).to_dict()["base_url"] == shown


@pytest.mark.parametrize(
    ("base_url", "shown"),
    [
        # a generated password holding an unencoded /, ? or # (which a URL parser takes for the host's end)
        ("https://team:Gw7Qx2Ab/cd@gw.corp/v1", "https://[REDACTED]@gw.corp/v1"),
        ("https://team:Gw7Qx2Ab?cd@gw.corp/v1", "https://[REDACTED]@gw.corp/v1"),
        ("https://team:Gw7Qx2Ab#cd@gw.corp/v1", "https://[REDACTED]@gw.corp/v1"),
        ("https://team:Gw7Qx2Ab@cd@gw.corp/v1", "https://[REDACTED]@gw.corp/v1"),
        # no URL at all (an unbalanced [): its password was shown as written
        ("http://team:Gw7Qx2Abcd@[::1/v1?sig=Gw7Qx2", "http://[REDACTED]@[::1/v1?[REDACTED]"),
        # no scheme: shown as written, masked (was //[REDACTED]@/gw.corp/v1, the host moved into the path)
        ("team:Gw7Qx2Ab/cd@gw.corp/v1", "[REDACTED]@gw.corp/v1"),
        ("team:Gw7Qx2Abcd@gw.corp:8443/v1?sig=Gw7Qx2", "[REDACTED]@gw.corp:8443/v1?[REDACTED]"),
    ],
)
def test_a_password_a_url_parser_cannot_take_apart_never_reaches_a_targets_output(base_url: str, shown: str):
    # explain_route (to every MCP caller), traces and the skill resource show a routing file's target: the password
    # of "https://team:Gw7Qx2Ab/cd@gw.corp/v1" was shown whole, as the host "team" with the port "Gw7Qx2Ab".
    data = Target("compat", "gw-model", base_url).to_dict()
    assert data["base_url"] == shown
    assert "Gw7Qx2Ab" not in str(data) and "team" not in str(data)


@pytest.mark.parametrize(
    "text",
    [
        "skill.risk-assessment",
        "agent task-summarizer-mag",
        "the disk-quota-exceeded alarm",
        "ask-clarifying-questions, mask-personal-data, flask-application, whisk-ingredients",
    ],
)
def test_words_ending_in_sk_are_not_taken_for_keys(text: str):
    # "sk-" followed by 8 characters was read as an OpenAI key wherever it stood: "risk-assessment" came
    # out "ri[REDACTED]" in error messages, the ledger's error_message and every event's data.
    assert redact(text) == text


@pytest.mark.parametrize(
    "text",
    [
        "Incorrect API key provided: sk-proj-Ab3dEf6hIj9kLm2nOp5q.",
        '{"key": "sk-ant-api03-Xy7Zw8Vu9Ts0Rq1Po2Nm"}',
        "OPENAI_API_KEY=sk-svcacct-Qw3Er4Ty5Ui6Op7As8Df",
        "Bearer%20sk-admin-Zx1Cv2Bn3Mm4Lk5Jh6Gf",
        "?token=sk-Hj7Kl8Zx9Cv0Bn1Mq2Wr",
        "(sk-Hj7Kl8Zx9Cv0Bn1Mq2Wr)",
        "key%3Dsk-Hj7Kl8Zx9Cv0Bn1Mq2Wr",
    ],
)
def test_an_openai_or_anthropic_shaped_key_is_still_redacted_wherever_it_stands(text: str):
    assert "Hj7Kl8Zx" not in redact(text) and "sk-" in text
    assert "[REDACTED]" in redact(text)


@pytest.mark.parametrize(
    "text",
    [
        json.dumps({"note": "keys rotated:\nsk-proj-Hj7Kl8Zx9Cv0Bn1Mq2Wr"}),  # a line break, as JSON writes it
        repr("old key\tsk-ant-api03-Hj7Kl8Zx9Cv0Bn1Mq2Wr"),  # a tab, as a log line's %r writes it
        json.dumps({"raw": "\x1bsk-Hj7Kl8Zx9Cv0Bn1Mq2Wr"}),  # \u001b
        repr("\x1bsk-Hj7Kl8Zx9Cv0Bn1Mq2Wr"),  # \x1b
    ],
)
def test_a_key_after_an_escaped_character_is_redacted(text: str):
    # A key right after an escape (JSON's \n, repr's \t or \x1b) follows a letter, which "risk-"-like names
    # need not to: it was kept whole in an event's stored JSON and in log lines.
    assert "Hj7Kl8Zx" not in redact(text) and "[REDACTED]" in redact(text)


async def test_an_events_key_after_a_line_break_is_not_stored(tmp_path: Path):
    async with Ledger(tmp_path / "l.db") as ledger:
        await ledger.log_event("r", "ops", "keys_rotated", {"old": "previous keys:\nsk-proj-Hj7Kl8Zx9Cv0Bn1Mq2Wr"})
        stored = await ledger.read(lambda c: c.execute("SELECT data FROM events").fetchone()[0])
    assert "Hj7Kl8Zx" not in stored and json.loads(stored) == {"old": "previous keys:\n[REDACTED]"}


async def test_an_event_naming_a_risk_skill_is_stored_as_logged(tmp_path: Path):
    async with Ledger(tmp_path / "l.db") as ledger:
        await ledger.log_event("r", "risk-assessment-mag", "model_failed", {"skill": "skill.task-analysis"})
        stored = await ledger.read(lambda c: c.execute("SELECT data FROM events").fetchone()[0])
    assert json.loads(stored) == {"skill": "skill.task-analysis"}


JWT = (
    "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL2NvZ25pdGl2ZXNlcnZpY2VzLmF6dXJlLmNvbSJ9"
    ".Qm9ndXNTaWduYXR1cmVCeXRlc0hlcmVGb3JUZXN0aW5n"
)


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        # an Entra ID token that was never registered (fetched by the agent's own code, logged in an event)
        (f"token {JWT} expired", "token [REDACTED] expired"),
        ("Authorization: Basic dXNlcjpodW50ZXIyaHVudGVyMg==", "Authorization: Basic [REDACTED]"),
        ('{"authorization": "Basic dXNlcjpodW50ZXIyaHVudGVyMg=="}', '{"authorization": "Basic [REDACTED]"}'),
        ('{"password": "hunter2hunter2", "user": "bob"}', '{"password": "[REDACTED]", "user": "bob"}'),
        ('{"client_secret": "Xq8~abcdEFGH1234"}', '{"client_secret": "[REDACTED]"}'),
        ('{"access_token": "ya29.a0AfH6SMBxyz12"}', '{"access_token": "[REDACTED]"}'),
        (
            "GET https://gw.example/v1/chat?token=gw7Qx2secret99&x=1",
            "GET https://gw.example/v1/chat?token=[REDACTED]&x=1",
        ),
        ("https://gw.example/v1?key=0123456789abcdef", "https://gw.example/v1?key=[REDACTED]"),
        # an Azure SAS signature: percent-encoded base64, all of it
        ("blob?sv=2024&sig=Ab3xYz%2Bq9Lm7Nk%2F0Qw%3D&se=1", "blob?sv=2024&sig=[REDACTED]&se=1"),
        # a Google key cut short in a message, 20 characters after its AIza still (a whole one has 35)
        ("quota of AIzaQw3eRt5yUi7oPa9sDf2g exceeded", "quota of [REDACTED] exceeded"),
    ],
)
def test_credentials_named_or_shaped_as_such_are_redacted(text: str, kept: str):
    # The patterns knew only api-key labels and sk-/AIza/Bearer shapes: a JWT on its own, an Authorization
    # header's Basic credentials, a password or client secret in an event's data, or a ?token= in a URL
    # quoted by an exception went to the ledger and the logs as they were.
    assert redact(text) == kept


@pytest.mark.parametrize(
    "before", ["", " ", '"', "=", ":", ".", "%3D", "\\n", "\\u0022", "\\x22", "Bearer%20", "run-", "x", "id_"]
)
def test_a_jwt_is_removed_wherever_it_begins(before: str):
    from magsag_mcp.redaction import holds_secret

    assert redact(f"got {before}{JWT} back") == f"got {before}[REDACTED] back"
    assert holds_secret(f"{before}{JWT}") and holds_secret(f"run-{before}{JWT}")  # (a name holding it is refused)


@pytest.mark.parametrize("escape", ["\\n", "\\t", "%3D", "\\x1b", "\\u001b"])
def test_an_escaped_key_glued_before_a_jwt_is_removed_as_it_was_without_the_jwt(escape: str):
    # the run's text before a JWT's "eyJ" was redacted as a string of its own, which lost the escape before it: an
    # sk- key after "\n" or "%3D" is one only by the escape (its "n", its "D" are letters), and it stayed in the text
    # where, before e01ed38, the key was removed (with the JWT's header). Found where it stands, it is removed again.
    key = "sk-proj-Ab3dEf6hIj9kLm2nOp5q"
    assert redact(f"got {escape}{key} back") == f"got {escape}[REDACTED] back"  # (as without a JWT after it)
    assert redact(f"got {escape}{key}{JWT} back") == f"got {escape}[REDACTED][REDACTED] back"
    assert redact(f"got {escape}{key}-run-{JWT} back") == f"got {escape}[REDACTED][REDACTED] back"


def test_a_body_of_jwt_starts_with_no_token_in_it_is_redacted_in_one_pass_over_it():
    # A vendor's (or a gateway's) body is redacted as its error, record and log line are made, up to 64 KB of it a
    # time (excerpt). Tried at every "eyJ", the JWT pattern scanned the rest of a run holding no dot from each: 64 KB
    # of "eyJeyJ..." took 4 s of the event loop each time (three attempts, 12 s of CPU a call), and these 600,000
    # characters minutes. Looked for once a run now, from its first "eyJ" (what a later one would find, it finds).
    body = "eyJ" * 200_000
    assert redact(body) == body
    assert redact(f"{body} {JWT}") == f"{body} [REDACTED]"  # (one after it, on its own, is still found)
    assert redact(f"{body}{JWT}") == "[REDACTED]"  # (and one in the same run, from its first eyJ, as before)
    assert excerpt(body.encode(), 200) == body[:200]


@pytest.mark.parametrize(
    "text",
    [
        "max_tokens=4096 and max_output_tokens: 16384",
        "basic information about the model",
        "the password field is required",
        "next_page_token is not a credential of ours? it is: see below",
        "input_token_count: 1234567890",
        "authorization: required for this endpoint",
    ],
)
def test_words_about_credentials_are_left_alone(text: str):
    assert redact(text) == text


async def test_an_event_logging_a_third_party_error_keeps_its_credentials_out_of_the_ledger(tmp_path: Path):
    # the guide's obs.log("model_failed", {"error": str(e)}): e may be any library's error, quoting its request
    error = f"401 for https://idp.example/token?sig=Zm9vYmFyYmF6cXV4 (Authorization: Bearer {JWT})"
    async with Ledger(tmp_path / "l.db") as ledger:
        await ledger.log_event(
            "r", "a", "model_failed", {"error": error, "id_token": JWT, "password": "hunter2hunter2"}
        )
        stored = await ledger.read(lambda c: c.execute("SELECT data FROM events").fetchone()[0])
    assert json.loads(stored) == {
        "error": "401 for https://idp.example/token?sig=[REDACTED] (Authorization: Bearer [REDACTED])",
        "id_token": "[REDACTED]",
        "password": "[REDACTED]",
    }


@pytest.mark.parametrize("placeholder", ["ollama", "lm-studio", "not-needed", "token-abc123"])
async def test_a_local_servers_documented_placeholder_key_does_not_erase_that_word_everywhere(
    placeholder: str, tmp_path: Path
):
    # Ollama's docs set api_key="ollama" ("required but ignored"), LM Studio's "lm-studio", llama.cpp's
    # "sk-no-key-required", vLLM's "token-abc123". Registered as a secret, the word was replaced wherever it
    # stood: the fix of a refused connection read "start `[REDACTED] serve` on port 11434", and every
    # obs.log event naming Ollama lost the name in the ledger for good.
    register_secret(placeholder)
    text = f"start `{placeholder} serve`; model {placeholder}:qwen2.5"
    assert redact(text) == text
    async with Ledger(tmp_path / "l.db") as ledger:
        await ledger.log_event("r", "a", "ev", {"server": placeholder})
        stored = await ledger.read(lambda c: c.execute("SELECT data FROM events").fetchone()[0])
    assert json.loads(stored) == {"server": placeholder}
    register_secret(placeholder + "-9f3c7a1e")  # a real key that merely starts so is still a key
    assert redact(f"key {placeholder}-9f3c7a1e refused") == "key [REDACTED] refused"


def test_litellms_documented_master_key_neither_erases_text_nor_refuses_names():
    # LiteLLM's quick start sets master_key: sk-1234 and calls the proxy with "Bearer sk-1234": a compat key of the
    # docs', no secret. Kept as one, it was removed from "task-1234" and "disk-1234" and such a run id was refused.
    from magsag_mcp.redaction import call_scoped, holds_secret, register_call_secret

    register_secret("sk-1234")
    assert redact("task-12345 failed on disk-1234") == "task-12345 failed on disk-1234"
    assert not holds_secret("task-1234")

    @call_scoped
    def a_call_given_it() -> tuple[str, bool]:  # (a target's api_key param: known to its call alone)
        register_call_secret("sk-1234")
        return redact("disk-1234"), holds_secret("task-1234")

    assert a_call_given_it() == ("disk-1234", False)


def test_the_quick_check_before_the_key_patterns_never_skips_a_text_they_would_change():
    # redact() runs the key patterns only on a text holding one of a few words (a failed call redacts four
    # texts, and the patterns cost ~15 us a text). Whatever a text, the answer must be the patterns' own.
    import random

    from magsag_mcp import redaction
    from magsag_mcp.key_shapes import _SECRET_PATTERNS, _redacted

    def patterns_alone(text: str) -> str:
        for secret in redaction._LONGEST_FIRST:  # keys other tests registered go first, as in redact()
            text = text.replace(secret, "[REDACTED]")
        return _SECRET_PATTERNS.sub(_redacted, text)

    heads = [
        "sk-", "sk-ant-", "risk-", "%3Dsk-", "AIza", "aiza", "Bearer", "BEARER",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.",
        "api_key", "API-KEY", "x-api-key", "X-Goog-Api-Key", "apikey", "password", "PASSWD", "client_secret", "secret",
        "access_token", "Refresh-Token", "id_token", "Authorization: Basic", "authorization=Bearer", "Token", "?key",
        "&token", "&sig", "?signature", "&access_token", "\u212aey", "pa\u017fsword", "HTTP 500",
    ]  # fmt: skip
    seps = ["", " ", "\t", ": ", "=", '": "', "'='", "\n"]
    values = ["abcdefgh12345678", "A1b2C3d4E5f6G7h8I9j0K1l2", "short", "x%2Fy%3Dz~+/=-_.abc", ""]
    fillers = ["", "upstream said ", "HTTP 401: ", " (see logs)", "risk-assessment "]
    rng = random.Random(20261201)
    texts = ["", "HTTP 500: The server had an error while processing your request."]
    for _ in range(20000):
        text = rng.choice(fillers) + rng.choice(heads) + rng.choice(seps) + rng.choice(values) + rng.choice(fillers)
        texts.append(text if rng.random() < 0.8 else text + rng.choice(heads) + rng.choice(values))
    for text in texts:
        assert redact(text) == patterns_alone(text), text

