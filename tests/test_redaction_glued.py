"""A credential glued to another with no separator between them: each one's match took in the start of the next (a
label, a JWT's header), and what followed that start was left in the text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from magsag_mcp.ledger import Ledger
from magsag_mcp.redaction import holds_secret, redact

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("restored_secrets")]

JWT = (
    "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL2NvZ25pdGl2ZXNlcnZpY2VzLmF6dXJlLmNvbSJ9"
    ".Qm9ndXNTaWduYXR1cmVCeXRlc0hlcmVGb3JUZXN0aW5n"
)
#: a credential no key pattern knows the shape of (a gateway's, Azure's 32 hex digits), found only by its label
VALUE = "0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c"


@pytest.mark.parametrize(
    "label",
    [
        "Bearer ",
        "bearer\t",
        "api_key: ",
        "x-api-key: ",
        "X-Goog-Api-Key: ",
        "apikey=",  # (after a JWT: '=' is no character of its signature's)
        "password: ",
        '"client_secret": "',
        "access_token: ",
        "authorization: Basic ",
    ],
)
@pytest.mark.parametrize(
    "token",
    [JWT, f"Bearer {JWT}", "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z", "AIzaSyAb3dEf6hIj9kLm2nOp5qRs8tUv1wXy4"],
    ids=["jwt", "bearer-jwt", "sk", "aiza"],
)
def test_a_label_glued_to_the_end_of_a_token_does_not_unmask_the_value_after_it(token: str, label: str):
    # The token's match ran on through the label's letters (a JWT's signature, a key's, a bearer token's are of the
    # same alphabet) and stopped at its separator: the label, taken into the token, named nothing any more, and the
    # credential after it was kept whole. A gateway echoing the request's headers joined without a separator, an
    # event's data holding two fields glued so.
    text = f"401 for {token}{label}{VALUE} (see logs)"
    said = redact(text)
    assert VALUE[:8] not in said and VALUE[-8:] not in said, said
    assert said.startswith("401 for ") and said.endswith(" (see logs)") and "[REDACTED]" in said
    assert holds_secret(f"{token}{label}{VALUE}")


def test_a_label_glued_to_a_token_whose_value_is_too_short_for_a_credential_is_left_as_before():
    # a value of fewer than 8 characters is none after a label standing alone: glued, it is not one either
    assert redact(f"{JWT}Bearer abc") == "[REDACTED] abc"
    assert redact("Bearer Bearer abcdefgh12345678") == "Bearer [REDACTED]"


@pytest.mark.parametrize(
    "stub",
    ["sk-", "sk-ab", "sk-proj-Ab3d", "sk-proj-Ab3dEf6hIj9kLm2nOp5q"]
    + ["AIzaSy", "AIzaSyAb3dEf", "AIzaSyAb3dEf6hIj9kLm2n"],
)
@pytest.mark.parametrize("before", ["", " ", "?token=", "\\n", "%3D"])
def test_a_key_or_its_stub_glued_to_a_jwts_start_leaves_none_of_the_jwt(stub: str, before: str):
    # "sk-" and "AIza" are followed by the JWT's own alphabet: the key's match ran on through the JWT's header to its
    # first dot, and the JWT's payload and signature (the token, its header being the same in every token of an
    # issuer) were left in the text, no JWT without their header
    _, payload, signature = JWT.split(".")
    said = redact(f"got {before}{stub}{JWT} back")
    assert payload[3:15] not in said and signature[:12] not in said and signature[-12:] not in said, said
    assert said.startswith(f"got {before}") and said.endswith(" back"), said
    assert holds_secret(f"{stub}{JWT}")


async def test_an_events_glued_credentials_do_not_reach_the_ledger(tmp_path: Path):
    # the guide's obs.log("model_failed", {"error": str(e)}), e quoting a gateway that echoed the request's headers
    # joined without a separator; and a key pasted right before an Entra ID token
    error = f"401: headers Authorization: Bearer {JWT}x-api-key: {VALUE} refused"
    async with Ledger(tmp_path / "l.db") as ledger:
        await ledger.log_event("r", "a", "model_failed", {"error": error, "token": f"AIzaSy{JWT}"})
        stored = await ledger.read(lambda c: c.execute("SELECT data FROM events").fetchone()[0])
    assert json.loads(stored) == {
        "error": "401: headers Authorization: Bearer [REDACTED] refused",
        "token": "[REDACTED]",
    }


def test_credentials_of_every_shape_glued_in_any_order_leave_no_piece_of_any():
    # the three label-free shapes (sk-, AIza, a JWT) and labelled values (a bearer token, an api-key header's, a URL's
    # ?key=), glued to one another with no separator, or after the escapes and labels a vendor's body, a URL or a log
    # line's %r puts before them: none of any may stay in the text, its payload and signature for a JWT included
    import random
    import string

    rng = random.Random(30)
    alphabet = string.ascii_letters + string.digits + "_-"

    def run(n: int, among: str = alphabet) -> str:
        return "".join(rng.choice(among) for _ in range(n))

    def credential() -> tuple[str, str]:
        """A credential as written, and the part of it that is the secret."""
        kind = rng.randrange(6)
        if kind == 0:
            key = rng.choice(["sk-proj-", "sk-ant-api03-", "sk-"]) + run(40)
            return key, key[-30:]
        if kind == 1:
            key = "AIza" + run(35)
            return rng.choice(["", "?key=", "&key="]) + key, key[4:]
        if kind == 2:
            header, payload, signature = f"eyJ{run(rng.randint(8, 30))}", f"eyJ{run(rng.randint(8, 30))}", run(43)
            return f"{header}.{payload}.{signature}", payload[3:] + signature
        if kind == 3:
            token = run(rng.randint(20, 60), string.ascii_letters + string.digits + "._~+/-")
            if not any(c in string.digits + "~+/" for c in token[:32]):  # (a word's letters: docs/configuration.md)
                token = token[:16] + str(len(token) % 10) + token[17:]
            return rng.choice(["Bearer ", "bearer\t", "Authorization: Bearer "]) + token, token
        value = run(32, "0123456789abcdef")
        label = rng.choice(["api-key: ", "x-api-key: ", '"api_key": "', "?key=", "password=", "x-goog-api-key: "])
        return label + value, value

    before = ["", " ", "\\n", "\\t", "%3D", '"', "=", ":", "(", "\\u0022", "\\x1b", "\n", "run-"]
    for _ in range(20_000):
        parts, secrets = [rng.choice(before)], []
        for _ in range(rng.randint(1, 3)):
            written, secret = credential()
            if written.startswith("sk-") and parts[-1][-1:].isalpha():
                parts.append(" ")  # (an sk- after a letter is a word's end, "risk-assessment")
            parts.append(written)
            secrets.append(secret)
        text = "".join(parts) + rng.choice(before)
        said = redact(text)
        for secret in secrets:
            assert not [secret[i : i + 10] for i in range(0, len(secret) - 9, 5) if secret[i : i + 10] in said], (
                text,
                said,
            )


@pytest.mark.parametrize(
    "quoted",
    [
        # a vendor's JSON body quoted in a string (an exception's message), stored as the event's JSON: its quotes
        # escaped once, or twice when that string was itself JSON in a string
        lambda body: json.dumps(body),
        lambda body: json.dumps({"body": json.dumps(body)}),
    ],
    ids=["json-in-a-string", "twice"],
)
async def test_a_credential_in_json_quoted_in_an_events_data_does_not_reach_the_ledger(tmp_path: Path, quoted):
    # obs.log("model_failed", {"error": str(e)}), e quoting a body that echoed the request's headers: stored as the
    # event's JSON, the body's quotes were escaped (\"api-key\": \"...\"), which the label's quotes did not take, and
    # the credential stayed in the ledger
    headers = {"api-key": VALUE, "Authorization": "Basic " + VALUE}
    body = {"error": {"message": "denied"}, "request": {"headers": headers}}
    async with Ledger(tmp_path / "l.db") as ledger:
        await ledger.log_event("r", "a", "model_failed", {"error": f"upstream said {quoted(body)}"})
        stored = await ledger.read(lambda c: c.execute("SELECT data FROM events").fetchone()[0])
    assert VALUE[:8] not in stored and VALUE[-8:] not in stored, stored
    assert "api-key" in stored and "denied" in stored and json.loads(stored)  # (the label stays, and it is JSON)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (f"next=https%3A%2F%2Fgw.example%2Fv1%3Fkey%3D{VALUE}%26x%3D1", "next=https%3A%2F%2Fgw.example%2Fv1%3Fkey%3D"),
        (f"h=Authorization%3A%20Bearer%20{VALUE}", "h=Authorization%3A%20Bearer%20"),
        (f"%22api_key%22%3A%20%22{VALUE}%22", "%22api_key%22%3A%20%22"),
        (f"x-api-key%3A%20{VALUE}", "x-api-key%3A%20"),
    ],
)
async def test_a_credential_in_a_url_encoded_text_does_not_reach_the_ledger(tmp_path: Path, text: str, shown: str):
    # a URL quoted in an error (a login page's "next", a webhook's query) holding another URL or a header, encoded:
    # its "=", ":", spaces and quotes as %3D, %3A, %20, %22, which the labels did not take
    async with Ledger(tmp_path / "l.db") as ledger:
        await ledger.log_event("r", "a", "model_failed", {"error": f"redirected to {text}"})
        stored = await ledger.read(lambda c: c.execute("SELECT data FROM events").fetchone()[0])
    assert VALUE[:8] not in stored and VALUE[-8:] not in stored, stored
    assert json.loads(stored)["error"].startswith(f"redirected to {shown}[REDACTED]"), stored


@pytest.mark.parametrize(
    "label",
    [
        "x-auth-token: ",
        '"auth_token": "',
        "accessToken=",
        '"refreshToken": "',
        "Ocp-Apim-Subscription-Key: ",  # Azure API Management's key header
        "?subscription-key=",
        "private_key: ",
    ],
)
async def test_a_credential_under_another_common_label_does_not_reach_the_ledger(tmp_path: Path, label: str):
    # the labels known were an API key's, a password's, a secret's and OAuth's snake_case tokens: a gateway's
    # x-auth-token, a JavaScript client's accessToken or an API Management subscription key echoed in a body that
    # an event quotes was stored as given
    async with Ledger(tmp_path / "l.db") as ledger:
        await ledger.log_event("r", "a", "model_failed", {"error": f"upstream refused {label}{VALUE} (401)"})
        stored = await ledger.read(lambda c: c.execute("SELECT data FROM events").fetchone()[0])
    assert json.loads(stored)["error"] == f"upstream refused {label}[REDACTED] (401)", stored
    glued = redact(f"{JWT}{label}{VALUE}")  # (glued to a token's end, as the labels above)
    assert VALUE[:8] not in glued and JWT[-8:] not in glued, glued


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "Authorization: Bearer", '"authorization": "Bearer'])
@pytest.mark.parametrize(
    "key", ["sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7cDe0f", "sk-ant-api03-Zq8Wm2Xc4Vb6Nq1Lp3Kr5Ts7Yd9Hf0Ga2Jc4Be6"]
)
def test_a_key_glued_to_the_bearer_scheme_is_removed(scheme: str, key: str):
    # a gateway echoing the header it refused with the space after the scheme dropped (an upstream's key it holds,
    # never registered here): "sk-" after the "r" of "Bearer" was taken for the end of a word ("risk-"), and the key
    # stayed whole in the error, the record and the log
    said = redact(f"401 Unauthorized: {scheme}{key} was refused")
    assert said == f"401 Unauthorized: {scheme}[REDACTED] was refused", said
    assert holds_secret(f"run-{scheme}{key}")


@pytest.mark.parametrize(
    "header", ["Authorization: Basic", "authorization: Bearer", "Authorization: Token", '"Authorization": "Basic']
)
def test_a_credential_glued_to_its_authorization_scheme_is_removed(header: str):
    # the same echo, of a credential of no shape a pattern knows (a proxy's user:password in base64, a gateway's
    # token): the label took a scheme followed by a space only, and the value glued to it was kept
    said = redact(f"401: {header}{VALUE} refused")
    assert said == f"401: {header}[REDACTED] refused", said


def test_words_glued_to_the_bearer_scheme_and_sk_in_words_are_kept():
    for text in (
        "BearerTokenCredentialPolicy requires TLS",
        "401: the Bearer scheme is required (got Basic)",
        "risk-assessment and task-analysis failed: disk-quota-exceeded",
        "Invalid API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
        "authorization: required",
        "Authorization header is missing or malformed",
        'WWW-Authenticate: Bearer realm="api", error="invalid_token"',
        '{"authorization": "Bearer"} is no credential',
    ):
        assert redact(text) == text


@pytest.mark.parametrize(
    "scheme", ["Bearer", "bearer", "BEARER", "Bearer:", "Bearer: ", "bearer=", "Bearer%3A", "Bearer%20"]
)
@pytest.mark.parametrize(
    "token",
    [VALUE, "gwtok_Rb5Yc2Lf8Nd4Qs7Vh1Mk3Gz9", "ya29.a0AfH6SMBx3Kd9Lp2Qw8Zr5Vt1Nm4", "Zm9vOmJhcg+/Pz8/YWJjZGVm=="],
    ids=["hex", "gateway", "oauth", "base64"],
)
def test_an_opaque_token_glued_to_the_bearer_scheme_or_after_a_colon_is_removed(scheme: str, token: str):
    # a proxy echoing the header it refused with the space after the scheme dropped, or written "Bearer:<token>":
    # a token of no shape a pattern knows (not sk-, not a JWT) was kept whole, the scheme taken for a word's start
    said = redact(f"407 from proxy: {scheme}{token} was refused")
    assert said == f"407 from proxy: {scheme}[REDACTED] was refused", said
    assert holds_secret(f"run-{scheme}{token}")
    # glued to another credential's end as well (headers echoed joined): the token after it is removed too (unless
    # both are glued, with no space after the scheme either: see docs/configuration.md's list of what redaction can
    # still leave)
    if scheme.lower() != "bearer" or token in (VALUE, "gwtok_Rb5Yc2Lf8Nd4Qs7Vh1Mk3Gz9"):
        glued = redact(f"401 for {JWT}{scheme}{token} (see logs)")
        assert token[:8] not in glued and token[-8:] not in glued and JWT[-8:] not in glued, glued


def test_words_glued_to_the_bearer_scheme_holding_no_digit_or_after_a_dash_are_kept():
    # what a glued token is told from: a digit among its first 32 characters, and a letter or digit first (class and
    # schema names glued to the word: BearerAuthResponse, bearer_auth; a skill "skill.bearer-auth-v2")
    for text in ("BearerAuthResponse", "BearerUpdateParams", "bearer_exampletoken", "skill.bearer-auth-v2", "Bearer:"):
        assert redact(text) == text
        assert not holds_secret(text)


@pytest.mark.parametrize(
    "scheme", ["Bearer:", "Bearer: ", "bearer=", "Bearer = ", "Bearer%3A", "Bearer%20", "BEARER:%20"]
)
@pytest.mark.parametrize("word", ["expected", "required", "undefined", "missing_or_invalid", "Token-Credential-Policy"])
def test_a_word_after_bearer_and_a_colon_or_equals_holding_no_digit_is_kept(scheme: str, word: str):
    # what a token after "Bearer:" is told from, as one glued to the scheme is: a digit among its first 32 characters.
    # Any 8 letters after the colon were a token ("Bearer: expected a token" said "Bearer: [REDACTED] a token"), a run
    # named "run-bearer=required" refused as holding a key
    text = f"401: {scheme}{word} (see the docs)"
    assert redact(text) == text
    assert not holds_secret(f"run-{scheme}{word}")
    # nor after a credential's end (headers echoed joined: the scheme, of the token's alphabet, goes with it; glued to
    # "=", the word is of a base64 token's alphabet too)
    if not scheme.endswith("="):
        assert redact(f"401: Bearer {VALUE}{scheme}{word}") == f"401: [REDACTED]{scheme[6:]}{word}"


@pytest.mark.parametrize("scheme", ["Bearer:", "Bearer", "bearer="])
async def test_an_upstreams_token_a_proxy_echoes_glued_to_bearer_reaches_no_result_or_ledger(
    tmp_path: Path, scheme: str
):
    # a gateway's 401 quoting the upstream token it holds (never sent by this process, so no known key) in the header
    # it refused, written "Bearer:<token>" or with the space dropped: it was kept whole in the error and the ledger
    from aiohttp import web

    from tests.key_echo_helpers import MODELS, error_body, gateway, invoke_and_search, key_env, ledger_bytes

    upstream = "gwup_Hq3Zs8Kd1Mv6Pb4Tj9Wx2Rf7Lc5Nb0"
    state: dict[str, str] = {}

    async def answer(request: web.Request) -> web.Response:
        said = f"upstream refused Authorization {scheme}{upstream} (401)"
        return web.json_response(error_body("local", 401, said), status=401)

    db = tmp_path / "ledger.db"
    async with gateway(answer, state):
        result, hits, _ = await invoke_and_search(
            db, key_env("local", state["url"]), MODELS["local"], "upstream refused"
        )
    said = result.content[0].text
    assert result.is_error and f"upstream refused Authorization {scheme}[REDACTED] (401)" in said, said
    assert hits.structured_content["hits"], hits.content[0].text  # the refusal was recorded
    for text in (said, json.dumps(result.structured_content), hits.content[0].text):
        assert upstream[:8] not in text and upstream[-8:] not in text, text
    stored = ledger_bytes(db).decode("utf-8", "replace")
    assert upstream[:8] not in stored and upstream[-8:] not in stored
