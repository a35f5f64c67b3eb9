"""Keys stay in the process, from the secrets audit: cut error bodies, pasted whitespace, logged
tracebacks, credentials in a routing file's targets, and the ledger file's mode."""

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
from tests.fakes.openai_server import DEFAULT_KEY, FakeOpenAI

pytestmark = pytest.mark.anyio

AZURE_KEY = "9f3c7a1e5b2d48c6a0e4f7b1d3c5a8e2"  # Azure's shape: 32 hex digits, no prefix to match


def pieces(key: str, text: str) -> list[str]:
    """Every run of 8 or more of the key's characters that appears in ``text``."""
    return [key[i : i + 8] for i in range(len(key) - 7) if key[i : i + 8] in text]


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
    from magsag_mcp.redaction import _SECRET_PATTERNS, _redacted

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


#: a gateway's token in the path, shaped like no known key (redact() alone leaves it)
PATH_TOKEN = "gw7Qx2secretTOKEN9876"


@pytest.mark.parametrize(
    ("base_url", "shown"),
    [
        (f"https://gw.example/v1/{PATH_TOKEN}/openai", "https://gw.example/v1/[REDACTED]/openai"),
        (f"https://gw.example/%{ord(PATH_TOKEN[0]):X}{PATH_TOKEN[1:]}/v1", "https://gw.example/[REDACTED]/v1"),
        (  # an account's id, as Cloudflare's AI Gateway takes it
            "https://gateway.ai.cloudflare.com/v1/0123456789abcdef0123456789abcdef/my-gw/openai",
            "https://gateway.ai.cloudflare.com/v1/[REDACTED]/my-gw/openai",
        ),
        # words and API names stay, so that the trace still says where the call went
        ("https://apim.corp/my-team-gateway/openai/v1", "https://apim.corp/my-team-gateway/openai/v1"),
        ("https://generativelanguage.googleapis.com/v1beta", "https://generativelanguage.googleapis.com/v1beta"),
    ],
)
def test_a_token_in_a_targets_url_path_never_reaches_its_output(base_url: str, shown: str):
    # Before: the path was shown as it is, and a token that redact() does not know the shape of went to
    # every trace, explain_route and ledger record that named the target.
    assert Target("compat", "gw-model", base_url).to_dict()["base_url"] == shown


def test_an_azure_target_uri_shows_its_deployment():
    uri = "https://res.openai.azure.com/openai/deployments/gpt-4o-mini-2024-07-18/chat/completions"
    assert Target("azure", "gpt-4o-mini-2024-07-18", uri).to_dict()["base_url"] == uri


async def test_a_not_found_answer_does_not_show_a_token_in_the_base_urls_path(transport):
    # The 404 message names the URL asked (check the model, check the base URL): its path held the token.
    from aiohttp import web
    from aiohttp.test_utils import TestServer

    from magsag_mcp.errors import MagsagError
    from magsag_mcp.providers.openai import CompatProvider
    from magsag_mcp.types import LLMRequest, Message

    async def not_found(request: web.Request) -> web.Response:
        return web.json_response({"error": "no route"}, status=404)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", not_found)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        target = Target("compat", "gw-model", str(server.make_url(f"/{PATH_TOKEN}/v1")))
        request = LLMRequest(messages=[Message("user", "hi")])
        with pytest.raises(MagsagError) as caught:
            await CompatProvider({}, transport).complete(request, target)
    finally:
        await server.close()
    assert "/[REDACTED]/v1/chat/completions" in caught.value.message and PATH_TOKEN not in str(caught.value.to_dict())


async def test_a_not_found_answer_still_names_the_model_in_the_url_it_shows(transport):
    # A model or deployment name is often 16+ characters mixing digits and letters: the 404's message, whose
    # point is "check the model name", shows it (only the token in the base URL's path is hidden).
    from aiohttp import web
    from aiohttp.test_utils import TestServer

    from magsag_mcp.errors import ModelNotFoundError
    from magsag_mcp.providers.gemini import GeminiProvider
    from magsag_mcp.types import LLMRequest, Message

    app = web.Application()  # nothing at any path: aiohttp's plain 404
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        target = Target("google", "gemini-2.0-flash-001", str(server.make_url(f"/{PATH_TOKEN}")))
        request = LLMRequest(messages=[Message("user", "hi")])
        with pytest.raises(ModelNotFoundError) as caught:
            await GeminiProvider({"GEMINI_API_KEY": "gm-test-key-0123456789"}, transport).complete(request, target)
    finally:
        await server.close()
    message = caught.value.message
    assert "/[REDACTED]/v1beta/models/gemini-2.0-flash-001:generateContent was not found" in message, message
    assert PATH_TOKEN not in message


@pytest.mark.parametrize("model", ["e", "T", "7", "secret", "o3"])
async def test_a_model_named_by_the_caller_does_not_unmask_a_token_in_the_base_urls_path(transport, model: str):
    # A segment holding the model was kept (an Azure deployment, Gemini's models/NAME:generateContent): held
    # anywhere in it, so a caller naming model "e" (or a real model such as "o3" a token happens to contain) had
    # the operator's gateway token shown whole in the 404's message and in the target's base_url.
    from aiohttp import web
    from aiohttp.test_utils import TestServer

    from magsag_mcp.errors import MagsagError
    from magsag_mcp.providers.openai import CompatProvider
    from magsag_mcp.types import LLMRequest, Message

    token = PATH_TOKEN.replace("secret", "secret-o3-")
    assert Target("compat", model, f"https://gw.example/v1/{token}/openai").to_dict()["base_url"] == (
        "https://gw.example/v1/[REDACTED]/openai"
    )

    async def not_found(request: web.Request) -> web.Response:
        return web.json_response({"error": {"message": "model not found", "code": "model_not_found"}}, status=404)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", not_found)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        env = {"MAGSAG_COMPAT_BASE_URL": str(server.make_url(f"/{token}/v1"))}
        with pytest.raises(MagsagError) as caught:
            await CompatProvider(env, transport).complete(
                LLMRequest(messages=[Message("user", "hi")]), Target("compat", model)
            )
    finally:
        await server.close()
    assert "/[REDACTED]/v1/chat/completions" in caught.value.message, caught.value.message
    assert token not in str(caught.value.to_dict())


@pytest.mark.parametrize(
    ("model", "segment"),
    [
        ("gemini-2.0-flash-001", "gemini-2.0-flash-001:generateContent"),
        ("models/gemini-2.0-flash-001", "gemini-2.0-flash-001:generateContent"),
        ("my-deployment/2024-07-18", "my-deployment%2F2024-07-18"),
    ],
)
def test_the_segment_naming_the_model_is_still_shown(model: str, segment: str):
    from magsag_mcp.types import masked_path

    assert masked_path(f"/{PATH_TOKEN}/v1beta/models/{segment}", model) == f"/[REDACTED]/v1beta/models/{segment}"


ANTHROPIC_KEY = "sk-ant-api03-Qw3rTy7uIoP9aSdF2gHjK4lZxC6vBnM8"


def _stored(db: Path) -> str:
    conn = sqlite3.connect(db)
    try:
        return json.dumps([conn.execute(f"SELECT * FROM {t}").fetchall() for t in ("runs", "attempts", "events")])
    finally:
        conn.close()


@pytest.mark.parametrize("model", [ANTHROPIC_KEY, AZURE_KEY], ids=["shaped", "known"])
@pytest.mark.parametrize("where", ["model_config", "fallback", "MAGSAG_MODEL"])
async def test_a_key_given_as_a_model_name_is_refused_before_it_is_sent_or_recorded(
    fake_openai: FakeOpenAI, tmp_path: Path, model: str, where: str
):
    # A key pasted where the model goes (MAGSAG_MODEL and ANTHROPIC_API_KEY swapped in a client's config, a
    # model_config filled from the wrong variable): it went to OpenAI as the model's name (Anthropic's key to
    # another vendor), and its attempt's model column kept it, shown by query_runs and every export.
    env = {
        "OPENAI_BASE_URL": fake_openai.url + "/v1",
        "OPENAI_API_KEY": DEFAULT_KEY,
        "ANTHROPIC_API_KEY": ANTHROPIC_KEY,
        "AZURE_OPENAI_API_KEY": AZURE_KEY,
    }
    payload: dict = {"data": "x"}
    if where == "MAGSAG_MODEL":
        env |= {"MAGSAG_PROVIDER": "openai", "MAGSAG_MODEL": model}
    elif where == "fallback":
        payload["model_config"] = {"model": "openai:gpt-4o", "fallbacks": [{"provider": "openai", "model": model}]}
    else:
        payload["model_config"] = {"provider": "openai", "model": model}
    svc = await Service.open(db=tmp_path / "l.db", env=env)
    try:
        with pytest.raises(E.ConfigError if where == "MAGSAG_MODEL" else E.PayloadError) as info:
            await svc.invoke_skill("skill.analysis", payload, agent="reporting")
    finally:
        await svc.aclose()
    assert "looks like an API key" in info.value.message and model not in json.dumps(info.value.to_dict())
    assert fake_openai.requests == []  # nothing was sent, to any vendor
    assert model not in _stored(tmp_path / "l.db")


@pytest.mark.parametrize("key", [ANTHROPIC_KEY, AZURE_KEY], ids=["shaped", "known"])
@pytest.mark.parametrize("where", ["run_id", "agent", "parent_run_id", "skill_id"])
async def test_a_key_given_as_a_calls_name_is_refused_before_anything_is_recorded(
    tmp_path: Path, key: str, where: str
):
    # Names are stored as given and shown by every reading of the ledger: a key pasted as the run id or the
    # agent's name (an environment variable read under the wrong name) stayed there, and came back in results.
    env = {"MAGSAG_PROVIDER": "fake", "ANTHROPIC_API_KEY": ANTHROPIC_KEY, "AZURE_OPENAI_API_KEY": AZURE_KEY}
    svc = await Service.open(db=tmp_path / "l.db", env=env)
    names = {"skill_id": "skill.analysis", where: key}
    try:
        with pytest.raises(E.InputError) as info:
            await svc.invoke_skill(names.pop("skill_id"), {"data": "x"}, **names)
        with pytest.raises(E.InputError):
            await svc.log_event("run-1", "reporting", key, {"model": "gpt-4o"})  # an event's name, too
        ok = await svc.invoke_skill("skill.analysis", {"data": "x"}, agent="risk-assessment", run_id="task-sk-1")
    finally:
        await svc.aclose()
    assert f"{where} '[REDACTED]' holds what looks like an API key" in info.value.message
    assert ok.run_id == "task-sk-1"  # names that merely hold "sk-" or a word like it are names
    assert key not in _stored(tmp_path / "l.db")


@pytest.mark.parametrize("cut", [192, 196])
def test_a_request_id_or_param_cut_inside_a_key_leaves_no_piece_of_it(cut: int):
    # A gateway that builds its request id (or an error's param) from the request it got, the key in it: the id
    # was cut to 200 characters and then redacted, and what the cut left of the key was no longer the whole key
    # redact() looks for. It went to the error's message and details, the ledger and the MCP result.
    register_secret(AZURE_KEY)
    from magsag_mcp.providers.http_errors import request_id

    rid = "r" * cut + AZURE_KEY
    assert pieces(AZURE_KEY, request_id({"x-request-id": rid}) or "") == []
    body = json.dumps({"error": {"message": "bad", "type": "invalid_request_error", "param": rid}}).encode()
    exc = openai_error(HttpResponse(400, {"x-request-id": rid}, body), provider="azure", model="gpt-4o")
    assert pieces(AZURE_KEY, json.dumps(exc.to_dict())) == [] and exc.details["request_id"].startswith("r" * cut)


@pytest.mark.parametrize("key", [ANTHROPIC_KEY, AZURE_KEY], ids=["shaped", "known"])
def test_doctor_does_not_print_a_key_set_as_an_override(tmp_path: Path, key: str, capsys, monkeypatch):
    # MAGSAG_MODEL and a key variable swapped in a client's config: doctor, run to find what is wrong (and pasted
    # into a ticket or a CI log), printed "override: MAGSAG_MODEL=<the key>" beside the problem that hid it.
    from magsag_mcp.cli import main

    env = {"MAGSAG_PROVIDER": "anthropic", "MAGSAG_MODEL": key, "ANTHROPIC_API_KEY": ANTHROPIC_KEY}
    for name, value in {**env, "AZURE_OPENAI_API_KEY": AZURE_KEY}.items():
        monkeypatch.setenv(name, value)
    main(["doctor", "--json", "--db", str(tmp_path / "l.db")])
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert report["overrides"] == {"MAGSAG_PROVIDER": "anthropic", "MAGSAG_MODEL": "[REDACTED]"}
    assert any("looks like an API key" in p for p in report["problems"])
    main(["doctor", "--db", str(tmp_path / "l.db")])
    text, err2 = capsys.readouterr()
    assert "override: MAGSAG_MODEL=[REDACTED]" in text and key not in out + err + text + err2


def test_a_name_found_clean_is_asked_again_once_a_secret_it_holds_is_known():
    # check_name remembers names found clean (a skill id, an agent: asked every call); a key registered after,
    # which such a name holds, must not pass on that memory
    from magsag_mcp.redaction import holds_secret, register_secret

    name = "team-Qz8vNw3kRt5yLp2m"
    assert not holds_secret(name) and not holds_secret(name)
    register_secret("Qz8vNw3kRt5yLp2m")
    assert holds_secret(name)


# names that hold "sk-" as a word (Slovak, the language code; scikit-learn; Semantic Kernel) followed by more words:
# the redaction's pattern ("sk-" and 8 characters) took each for a key, and the name was refused outright
WORD_NAMES = [
    "slovak-nlp/mistral-sk-7b-instruct-v1",
    "gerulata/slovakbert-sk-ner-finetuned",
    "your-org/opus-mt-sk-en-finetuned-legal",
    "ft:gpt-4o-mini-2024-07-18:my-org:sk-classifier-v2:8Kq3xYzA",
    "sk-planner-agent",
    "sk-learn-random-forest-classifier",
]
#: keys of every vendor whose keys start "sk-", as they are shaped (made up)
SHAPED_KEYS = [
    ANTHROPIC_KEY,
    "sk-" + "3f9a1c7e5b2d4f6a8c0e1b3d5f7a9c2e",  # DeepSeek's: 32 hex digits
    "sk-or-v1-" + "9c2e3f9a1c7e5b2d4f6a8c0e1b3d5f7a" * 2,  # OpenRouter's
    "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z_Qa7Ws-Ed0RfT3BlbkFJ",
    "sk-" + "Qa7WsEd0RfTg5YhUj8IkOl3PzXcVbNmAsDfGhJkLqWeRtY",  # OpenAI's older keys, Moonshot's: 48 letters/digits
    "sk-Hj7Kl8Zx9Cv0Bn1Mq2Wr3e",  # a LiteLLM proxy's virtual key: 22 URL-safe characters
]


@pytest.mark.parametrize("name", WORD_NAMES)
def test_a_name_holding_sk_as_a_word_is_a_name_not_a_key(name: str):
    from magsag_mcp.targets import parse_target
    from magsag_mcp.text import check_name

    target = parse_target({"provider": "local", "model": name})
    assert target.model == name
    check_name(name, "agent")  # raises if refused


@pytest.mark.parametrize("key", SHAPED_KEYS)
@pytest.mark.parametrize("around", ["{}", "team-{}", "{}:latest"])
def test_a_key_shaped_name_is_still_refused(key: str, around: str):
    from magsag_mcp.targets import parse_target
    from magsag_mcp.text import check_name

    name = around.format(key)
    with pytest.raises(E.InputError, match="looks like an API key"):
        check_name(name, "agent")
    with pytest.raises(E.ConfigError, match="looks like an API key"):
        parse_target({"provider": "local", "model": name})


@pytest.mark.parametrize(
    ("status", "content_type", "said"),
    [
        (404, "text/plain", "Cannot POST {path}"),  # a web framework's default answer for a route it lacks
        (404, "application/json", '{{"error": {{"message": "No route for {path}", "type": "invalid_request_error"}}}}'),
        (502, "text/html", "<html><head><title>502 Bad Gateway: {path}</title></head></html>"),
    ],
    ids=["text", "json", "html-title"],
)
@pytest.mark.parametrize("provider", ["compat", "azure"])
async def test_a_server_echoing_the_path_asked_does_not_show_the_token_in_the_base_urls_path(
    transport, status: int, content_type: str, said: str, provider: str
):
    # The URL the 404's fix names had its token masked, and yet the same message quoted the server's own words,
    # "Cannot POST /<token>/v1/chat/completions", whole: in the error, the ledger's record and the trace.
    from aiohttp import web
    from aiohttp.test_utils import TestServer

    from magsag_mcp.errors import MagsagError
    from magsag_mcp.providers.openai import AzureProvider, CompatProvider
    from magsag_mcp.types import LLMRequest, Message

    token = f"Echo{status}{content_type.split('/')[1]}{provider}Tok9x8Y7z6"

    async def echo(request: web.Request) -> web.Response:
        return web.Response(status=status, content_type=content_type, text=said.format(path=request.path))

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", echo)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        if provider == "compat":
            env = {"MAGSAG_COMPAT_BASE_URL": str(server.make_url(f"/gw/{token}/v1"))}
            called = CompatProvider(env, transport)
        else:  # an API Management gateway in front of the resource, its token in the path
            env = {"AZURE_OPENAI_ENDPOINT": str(server.make_url(f"/gw/{token}/")), "AZURE_OPENAI_API_KEY": AZURE_KEY}
            called = AzureProvider(env, transport)
        with pytest.raises(MagsagError) as caught:
            await called.complete(LLMRequest(messages=[Message("user", "hi")]), Target(provider, "gw-model"))
    finally:
        await server.close()
    assert provider == "azure" or "/gw/[REDACTED]/v1/chat/completions" in caught.value.message, caught.value.message
    assert token not in str(caught.value.to_dict()) and token not in str(caught.value)


def test_a_routing_target_without_a_model_is_refused_without_showing_its_credentials(catalog_copy: Path):
    # The refusal quoted the target as written: a gateway's user:password@ and a credential param went to
    # `catalog validate`, `doctor`, and every MCP client of a server that could not open its catalog.
    from magsag_mcp.catalog import validate_catalog

    routing = catalog_copy / "routing" / "default.yaml"
    target = (
        "{provider: compat, model: '', base_url: 'https://team:GwPassw0rd-xyz@gw.corp/v1?sig=GwSig0987',"
        " params: {gateway_auth: '${GW_AUTH_VALUE}', temperature: 0}}"
    )
    text = routing.read_text()
    routing.write_text(text.replace("chain: [openai:o1-preview, openai:gpt-4o]", f"chain: [{target}]", 1))
    problems = validate_catalog(catalog_copy, env={"GW_AUTH_VALUE": "gw-auth-value-7788"})
    said = [p for p in problems if "a target needs a model" in p]
    assert len(said) == 1, problems
    for secret in ("GwPassw0rd-xyz", "GwSig0987", "gw-auth-value-7788"):
        assert secret not in said[0], said[0]
    assert "https://[REDACTED]@gw.corp/v1?[REDACTED]" in said[0] and "'temperature': 0" in said[0]


async def test_a_credential_param_echoed_by_the_server_never_reaches_the_error_or_the_ledger(
    catalog_copy: Path, tmp_path: Path
):
    # The trace showed the param as [REDACTED], and yet a server that quotes what it refused (vLLM's pydantic
    # "Extra inputs are not permitted ... 'input': '<value>'") brought the value back whole: in the error,
    # the ledger's record and the trace's attempts.
    from aiohttp import web
    from aiohttp.test_utils import TestServer

    secret = "gw-header-value-55aa77"

    async def refuse(request: web.Request) -> web.Response:
        body = await request.json()
        problems = [
            {"type": "extra_forbidden", "loc": ["body", k], "msg": "Extra inputs are not permitted", "input": v}
            for k, v in body.items()
            if k == "gateway_auth"
        ]
        said = f"1 validation error for ChatCompletionRequest: {problems!r}"
        return web.json_response(
            {"object": "error", "message": said, "type": "BadRequestError", "code": 400}, status=400
        )

    routing = catalog_copy / "routing" / "default.yaml"
    target = "{provider: local, model: 'llama3.1:70b', params: {gateway_auth: '${GW_HEADER_VALUE}', seed: 7}}"
    text = routing.read_text()
    routing.write_text(
        text.replace(
            "chain: [openai:gpt-4o, anthropic:claude-3-5-sonnet-20241022, google:gemini-1.5-pro]", f"chain: [{target}]"
        )
    )
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", refuse)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        env = {"MAGSAG_LOCAL_LLM_BASE_URL": str(server.make_url("/v1")), "GW_HEADER_VALUE": secret}
        svc = await Service.open(catalog=catalog_copy, db=tmp_path / "l.db", env=env)
        try:
            with pytest.raises(E.MagsagError) as info:
                await svc.invoke_skill("skill.analysis", {"data": "x"})
        finally:
            await svc.aclose()
    finally:
        await server.close()
    said = json.dumps(info.value.to_dict())
    assert "Extra inputs are not permitted" in said and secret not in said
    assert secret not in _stored(tmp_path / "l.db")


@pytest.mark.parametrize("setting", ["default", "bearer", "oauth2"])
def test_a_credential_params_setting_is_no_secret_that_removes_a_word_everywhere(setting: str):
    from magsag_mcp.targets import parse_target

    parse_target({"provider": "compat", "model": "m", "params": {"auth_mode": setting}})
    assert redact(f"the {setting} route") == f"the {setting} route"


@pytest.mark.parametrize("where", ["run_id", "agent"])
def test_magsag_refuses_a_key_of_its_environment_given_as_its_run_id_or_agent(
    tmp_path: Path, where: str, capsys, monkeypatch
):
    # The names were checked before the service had read its environment's keys: one shaped like no known key (an
    # Azure key's 32 hex digits) passed, and `magsag run AGENT --run-id <it>` printed it whole in the error's
    # run_id (the first call refused it, too late for the error that quoted it).
    from magsag_mcp.api import Magsag
    from magsag_mcp.cli import main
    from tests.conftest import CATALOG

    key = "7d1e9b3c5a2f48e6b0c4d8a1f3e5b7c" + ("9" if where == "run_id" else "8")
    env = {"MAGSAG_PROVIDER": "fake", "AZURE_OPENAI_API_KEY": key}
    with pytest.raises(E.InputError, match="holds what looks like an API key"):
        Magsag(catalog=CATALOG, db=tmp_path / "l.db", env=env, **{where: key})
    assert not (tmp_path / "l.db").exists()
    if where == "run_id":
        key = key[:-1] + "7"  # one this process has not been told of
        for name, value in {**env, "AZURE_OPENAI_API_KEY": key}.items():
            monkeypatch.setenv(name, value)
        argv = ["run", "my-mag", "--catalog", str(CATALOG), "--db", str(tmp_path / "c.db"), "--run-id", key]
        code = main([*argv, "--payload", "{}"])
        out = capsys.readouterr()
        assert code == 2 and key not in out.out + out.err and "holds what looks like an API key" in out.err


def test_an_azure_target_uris_deployment_cut_from_the_url_sent_is_not_taken_for_a_token():
    # Only what is sent is known to redact(): the Target URI's deployment (token-shaped, 16+ characters mixing
    # digits and letters) is cut off, and a message naming that deployment keeps its name.
    from magsag_mcp.providers.openai import AzureEndpoint

    uri = "https://res.openai.azure.com/openai/deployments/gpt4o-prod-2024-11-20b/chat/completions"
    AzureEndpoint({"AZURE_OPENAI_API_KEY": AZURE_KEY}).resource_root(Target("azure", "gpt-4o", uri))
    assert redact("deployment gpt4o-prod-2024-11-20b") == "deployment gpt4o-prod-2024-11-20b"


async def test_a_base_urls_path_naming_the_models_own_name_does_not_hide_the_model(transport):
    # A Hugging Face style endpoint names the model in its path (/models/<org>/<Name>/v1), and the target's model is
    # "<org>/<Name>". The segment "<Name>" is shaped like a token (mixed case, digits), so it was made known to
    # redact(): from then on the model's own name vanished from every message of the process ("<org>/[REDACTED]"),
    # this call's and every other's. A segment that is a part of the model's name is the caller's, and shown.
    from aiohttp import web
    from aiohttp.test_utils import TestServer

    from magsag_mcp.errors import MagsagError
    from magsag_mcp.providers.openai import CompatProvider
    from magsag_mcp.types import LLMRequest, Message

    model = "acme-labs/Orca-Mini-3B-Instruct-v2"

    async def refuse(request: web.Request) -> web.Response:
        body = {"error": {"message": f"The model `{model}` is loading", "type": "server_error"}}
        return web.json_response(body, status=400)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", refuse)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        env = {"MAGSAG_COMPAT_BASE_URL": str(server.make_url(f"/models/{model}/v1"))}
        with pytest.raises(MagsagError) as caught:
            await CompatProvider(env, transport).complete(
                LLMRequest(messages=[Message("user", "hi")]), Target("compat", model)
            )
    finally:
        await server.close()
    assert f"The model `{model}` is loading" in caught.value.message, caught.value.message
    assert E.redact(f"routed to compat:{model}") == f"routed to compat:{model}"


def test_a_prompt_cache_key_is_no_credential_and_does_not_vanish_or_refuse_a_name():
    # OpenAI's prompt_cache_key (a tenant's or a user's id, "prompt-cache-key-1234" in the spec) ends in "_key", so a
    # target's value of it was taken for a credential and made known to redact(): it vanished from every message of
    # the process, and an agent or run_id of the same words was refused as "holds what looks like an API key".
    from magsag_mcp.targets import parse_target
    from magsag_mcp.text import check_name

    value = "support-desk-tenant-42"
    target = parse_target({"provider": "openai", "model": "gpt-4o", "params": {"prompt_cache_key": value}})
    assert target.to_dict()["params"] == {"prompt_cache_key": value}
    assert redact(f"agent {value} failed") == f"agent {value} failed"
    check_name(value, "agent")  # not refused


@pytest.mark.parametrize(
    "token", ["Gw5Tok9x8Y7z6Ab%2bCd", "Gw5Tok9x8Y7z6Ab|Cd"], ids=["lower-case-escape", "escaped-on-the-wire"]
)
async def test_a_server_echoing_the_path_as_sent_does_not_show_the_token_written_otherwise(transport, token: str):
    # Known as written and percent-decoded, a token went out as the HTTP client writes it ("%2B" for "%2b", "%7C" for
    # "|"), and a server quoting the path it was sent ("Cannot POST /gw/<token>/v1/...") showed it in neither form
    from aiohttp import web
    from aiohttp.test_utils import TestServer

    from magsag_mcp.providers.openai import CompatProvider
    from magsag_mcp.types import LLMRequest, Message

    async def echo(request: web.Request) -> web.Response:
        return web.Response(status=404, text=f"Cannot POST {request.raw_path}")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", echo)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        env = {"MAGSAG_COMPAT_BASE_URL": f"http://127.0.0.1:{server.port}/gw/{token}/v1"}
        with pytest.raises(E.MagsagError) as caught:
            await CompatProvider(env, transport).complete(
                LLMRequest(messages=[Message("user", "hi")]), Target("compat", "gw-model")
            )
    finally:
        await server.close()
    said = json.dumps(caught.value.to_dict())
    assert "Cannot POST /gw/[REDACTED]/v1/chat/completions" in said
    assert not pieces(token.replace("%2b", "+"), said.replace("%2B", "+").replace("%7C", "|")), said


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
async def test_a_key_echoed_in_an_answers_content_filter_results_stays_out_of_its_warnings_and_the_ledger(
    tmp_path: Path, stream: bool
):
    # The answer's warnings quoted what the vendor said of its filters (Azure's content_filter_results: each
    # category's name and severity) as it came, into the result and the attempt's row: a gateway that writes the
    # request's headers into that object brought the key back whole in both, where errors and the answer's model and
    # tier had it removed. (An answer the filter stopped part way is now the content_filtered error, not a result with
    # a warning: its message quotes the filters, and is checked the same way.)
    from aiohttp import web
    from aiohttp.test_utils import TestServer

    async def answer(request: web.Request) -> web.StreamResponse:
        key = request.headers["api-key"]
        filters = {
            "hate": {"filtered": True, "severity": "medium"},
            f"gateway {key}": {"filtered": True, "severity": f"api-key {key}"},
        }
        usage = {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}
        head = {"id": "chatcmpl-1", "created": 1, "model": "gpt-4o"}
        if not (await request.json()).get("stream"):
            message = {"role": "assistant", "content": "part of an answer"}
            choice = {"index": 0, "message": message, "finish_reason": "content_filter"}
            choice["content_filter_results"] = filters
            return web.json_response({**head, "object": "chat.completion", "choices": [choice], "usage": usage})
        chunks = [
            {"index": 0, "delta": {"role": "assistant", "content": "part of an answer"}, "finish_reason": None},
            {"index": 0, "delta": {}, "finish_reason": "content_filter", "content_filter_results": filters},
        ]
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for data in ({**head, "object": "chat.completion.chunk", "choices": [c]} for c in chunks):
            await resp.write(f"data: {json.dumps(data)}\n\n".encode())
        last = {**head, "object": "chat.completion.chunk", "choices": [], "usage": usage}
        await resp.write(f"data: {json.dumps(last)}\n\ndata: [DONE]\n\n".encode())
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    env = {"AZURE_OPENAI_ENDPOINT": str(server.make_url("")), "AZURE_OPENAI_API_KEY": AZURE_KEY}
    progress = (lambda event, data: None) if stream else None  # (a call with a progress callback is streamed)
    try:
        async with await Service.open(db=tmp_path / "l.db", env=env) as svc:
            payload = {"data": "x", "model_config": {"model": "azure:gpt-4o"}}
            with pytest.raises(E.ContentFilteredError) as caught:
                await svc.invoke_skill("skill.analysis", payload, progress=progress)
    finally:
        await server.close()
    shown = json.dumps(caught.value.to_dict())
    assert "hate (medium)" in shown and "the part of the answer that came before it is not returned" in shown
    assert AZURE_KEY not in shown and AZURE_KEY not in repr(caught.value)
    assert "hate (medium)" in _stored(tmp_path / "l.db") and AZURE_KEY not in _stored(tmp_path / "l.db")


#: Azure's keys of today (Azure AI Foundry's): 84 letters and digits, no prefix to match
AZURE_LONG_KEY = "7Qx2AbCd9Ef3Gh5Jk8Lm1Np4Rs6Tu0Vw3Xy6Za9Bc2De5Fg8Hj1Kl4Mn7Pq0St3Uv6Wx9Yz2AAAACOGaB3c"


@pytest.mark.parametrize("command", [["data", "query"], ["data", "search", "timeout"]], ids=["query", "search"])
def test_a_key_passed_as_a_cursor_is_not_echoed_cut_past_redaction(
    tmp_path: Path, monkeypatch, capsys, command: list[str]
):
    # The refusal of a cursor that is none quoted its first 80 characters, cut before anything was redacted: a key
    # longer than that (Azure's 84-character keys), passed as --cursor or a tool's cursor (the wrong variable),
    # was no longer the whole key redact() removes, and 80 of its 84 characters went to stderr and the CI log.
    import anyio

    from magsag_mcp.cli import main

    db = tmp_path / "l.db"

    async def fill() -> None:
        async with Ledger(db) as ledger:
            await ledger.log_event(None, None, "opened", {})

    anyio.run(fill)
    monkeypatch.setenv("MAGSAG_DB", str(db))
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", AZURE_LONG_KEY)
    assert main([*command, "--cursor", AZURE_LONG_KEY]) == 2
    err = capsys.readouterr().err
    assert "is not one" in err and "gave" in err
    assert pieces(AZURE_LONG_KEY, err) == []


def test_a_key_set_as_the_call_base_urls_mode_is_not_echoed_cut_past_redaction():
    # The same cut, of MAGSAG_CALL_BASE_URLS's value at 40 characters, in the refusal doctor and every opening print
    from magsag_mcp.settings import MODE_ENV, only_configured

    register_secret(AZURE_LONG_KEY)
    with pytest.raises(E.ConfigError) as info:
        only_configured({MODE_ENV: AZURE_LONG_KEY})
    assert "is not a mode" in info.value.message and pieces(AZURE_LONG_KEY, info.value.message) == []


@pytest.mark.parametrize("variable", ["MAGSAG_DB", "SSL_CERT_FILE"])
def test_doctor_does_not_print_a_key_set_as_a_path(tmp_path: Path, capsys, monkeypatch, variable: str):
    # The same swap, of a key into a variable that names a file: doctor, which never prints a key, printed
    # "ledger  : /folder/<the key>", a note quoting "MAGSAG_DB=<the key>" and "ca      : SSL_CERT_FILE=<the key>"
    # as they were, in its text and its JSON alike.
    from magsag_mcp.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MAGSAG_DB", str(tmp_path / "l.db"))
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", AZURE_KEY)
    monkeypatch.setenv(variable, AZURE_KEY)
    main(["doctor", "--json"])
    out, err = capsys.readouterr()
    json.loads(out)
    main(["doctor"])
    text, err2 = capsys.readouterr()
    assert variable in text and "[REDACTED]" in text
    assert pieces(AZURE_KEY, out + err + text + err2) == []


@pytest.mark.parametrize("command", [["data", "query"], ["budget"], ["flow", "summarize"]])
def test_the_no_ledger_note_does_not_print_a_key_set_as_magsag_db(tmp_path: Path, capsys, monkeypatch, command):
    # The note of the reading commands that found no ledger quoted MAGSAG_DB and the path it names as they were:
    # a key swapped into MAGSAG_DB went to stderr and the CI log that keeps it, as it did in doctor's report.
    from magsag_mcp.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", AZURE_KEY)
    monkeypatch.setenv("MAGSAG_DB", AZURE_KEY)
    main(command)
    out, err = capsys.readouterr()
    assert "no ledger at" in err and "MAGSAG_DB=[REDACTED]" in err
    assert pieces(AZURE_KEY, out + err) == []


class _CountedPatterns:
    """The key patterns, counting the texts they are run over."""

    def __init__(self, patterns):
        self.patterns, self.runs = patterns, 0

    def sub(self, *args):
        self.runs += 1
        return self.patterns.sub(*args)

    def __getattr__(self, name):
        return getattr(self.patterns, name)


def test_a_failed_attempts_message_is_searched_for_keys_once_not_at_each_guard(monkeypatch):
    # the message is redacted as the error is made, again as its attempt's record is made, and again as the ledger
    # writes it: a text found to hold nothing is not searched again while the keys known stay the same
    from magsag_mcp import redaction

    counted = _CountedPatterns(redaction._SECRET_PATTERNS)
    monkeypatch.setattr(redaction, "_SECRET_PATTERNS", counted)
    exc = E.ProviderError("openai:gpt-4o: HTTP 500: the token bucket of this organization is empty (#7319)")
    assert redact(exc.message) == exc.message and redact(exc.message) == exc.message
    assert counted.runs == 1


def test_a_calls_own_key_is_cut_in_pieces_once_not_for_each_name_it_checks(monkeypatch):
    # every name of a call (run id, agent, skill) is checked against the call's own key before any is found clean:
    # its pieces are the same for each, and were cut again for each
    from magsag_mcp import redaction

    cut: list[str] = []
    pieces_of = redaction.pieces_of
    monkeypatch.setattr(redaction, "pieces_of", lambda secret: cut.append(secret) or pieces_of(secret))
    key = "cs-Yh4Rb8Nw2Qk6Tz0Mv3Lp7Jx"

    @redaction.call_scoped
    def a_call() -> list[bool]:
        redaction.register_call_secret(key)
        names = [f"run-{n:016x}" for n in range(20)] + [f"agent-{key[10:]}"]
        return [redaction.holds_secret(name) for name in names]

    assert a_call() == [False] * 20 + [True]
    assert cut.count(key) <= 1, cut


def test_a_text_found_clean_is_redacted_again_once_a_key_it_holds_is_known():
    text = "HTTP 401 for credential Zq7Wm2Rv9Lx4Tn8Kp3Hs"
    assert redact(text) == text
    register_secret("Zq7Wm2Rv9Lx4Tn8Kp3Hs")
    assert redact(text) == "HTTP 401 for credential [REDACTED]"


def test_a_text_found_clean_outside_a_call_is_redacted_of_that_calls_own_key():
    from magsag_mcp.redaction import call_scoped, register_call_secret

    text = "HTTP 401 for credential Pf5Gd1Jc6Yb0Vw4Ne9Ua"
    assert redact(text) == text

    @call_scoped
    def in_a_call() -> str:
        register_call_secret("Pf5Gd1Jc6Yb0Vw4Ne9Ua")
        return redact(text)

    assert in_a_call() == "HTTP 401 for credential [REDACTED]"
    assert redact(text) == text  # (outside the call, its key is not the process's)


def test_a_fresh_name_holding_nothing_a_key_would_is_judged_without_redacting_it(monkeypatch):
    # a call's run id is new on every call (a UUID, a job's counter): it was redacted whole to be judged
    from magsag_mcp import redaction
    from magsag_mcp.redaction import holds_secret

    register_secret("sk-test-judged-names-0123456789abcdef")
    redacted: list[str] = []

    def counted(text: str) -> str:
        redacted.append(text)
        return redact(text)

    monkeypatch.setattr(redaction, "redact", counted)
    assert not holds_secret("run-7f3c2a9e-5b1d-4c8e-9a0f-2d6b8e1c4a73")
    assert redacted == []
    # what the patterns need (a word of _TRIGGERS), or a known key's start, is still redacted to be judged
    assert holds_secret("job-sk-test-judged-names-0123") and holds_secret("run Bearer abcdefgh12345678")
    assert not holds_secret("run-for-the-keynote") and not holds_secret("my-\u212aey-run")
    assert len(redacted) == 4


def test_the_check_before_judging_a_name_never_skips_one_the_judgement_refuses():
    import random

    from magsag_mcp import redaction
    from magsag_mcp.redaction import _may_hold_key

    register_secret("Hq4Tz8Wd2Nc6Rb0Xf3Yk7Vm1")
    register_secret("qwPL0x93mz")
    heads = ["sk-", "AIza", "Bearer ", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.", "api_key="]
    heads += ["\u212aey:", "pa\u017fsword="]
    bodies = ["abcdefgh12345678", "Hq4Tz8Wd2Nc6Rb0Xf3Yk7Vm1", "Hq4Tz8Wd2Nc6Rb", "qwPL0x93mz", "run-42", "Zq7Wm2Rv9Lx4"]
    rng = random.Random(20261203)
    for _ in range(5000):
        name = rng.choice(["", "run-", "agent "]) + rng.choice(heads + [""]) + rng.choice(bodies)
        # what holds_secret() would say without the check: redact() judges every name
        judged = redact(name) != name and (
            any(redaction._seen_in(name, s) for s in redaction._LONGEST_FIRST)
            or any(map(redaction._key_shaped, redaction._SECRET_PATTERNS.finditer(name)))
        )
        assert not judged or _may_hold_key(name, redaction._LONGEST_FIRST), name


def test_a_key_registered_while_a_text_is_redacted_is_removed_from_it_the_next_time(monkeypatch):
    # another thread's service opening (or a provider reading its key) while this one redacts: the text was searched
    # without the new key, and must not be remembered as holding nothing under the keys that include it
    from magsag_mcp import redaction

    late_key = "Wt5Xr1Qm8Bn3Kd7Lp2Hv6Zc"
    text = f"the token {late_key} was refused"

    class RegisteringMidway(_CountedPatterns):
        def sub(self, *args):
            register_secret(late_key)  # as the other thread would, between the known keys' loop and the end
            return super().sub(*args)

    monkeypatch.setattr(redaction, "_SECRET_PATTERNS", RegisteringMidway(redaction._SECRET_PATTERNS))
    redact(text)
    assert late_key not in redact(text)


def test_a_key_registered_while_a_name_is_judged_refuses_that_name_the_next_time(monkeypatch):
    from magsag_mcp import redaction
    from magsag_mcp.redaction import holds_secret

    late_key = "Jy4Ns9Fq2Tg7Wb0Xe5Rk8Ud"
    name = f"token-{late_key}"

    class RegisteringMidway(_CountedPatterns):
        def sub(self, *args):
            register_secret(late_key)
            return super().sub(*args)

    monkeypatch.setattr(redaction, "_SECRET_PATTERNS", RegisteringMidway(redaction._SECRET_PATTERNS))
    holds_secret(name)
    assert holds_secret(name)
