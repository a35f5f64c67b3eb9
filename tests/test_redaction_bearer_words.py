"""What follows ``Bearer`` told from a token by the same rule in every form (glued, after ``:``, ``=``, ``%20`` or a
space): a digit among its first 32 characters, and no CamelCase name. A name glued to the scheme holding a digit
(``BearerTokenAuth2``, ``skill.BearerAuthV2Handler``) was taken for a token, a word after a space
("Bearer authentication failed") too, whatever it held; and ``bearer=`` glued after a token was read as the rest of
it, a base64 token's ``=``."""

from __future__ import annotations

import random

import pytest

from magsag_mcp.redaction import holds_secret, redact

#: a credential no key pattern knows the shape of (Azure's 32 hex digits), found only after its scheme
VALUE = "0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c"
_BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@pytest.mark.parametrize(
    "name", ["BearerTokenAuth2", "skill.BearerAuthV2Handler", "BearerOAuth2Client", "BearerIdToken2", "BearerS3Signer"]
)
def test_a_camelcase_name_glued_to_bearer_holding_a_digit_is_kept(name: str):
    # capitalised words, a digit only at a word's end: a class, a schema, a skill's name. It lost its end to
    # "[REDACTED]" in every message naming it, and a skill or agent so named was refused as holding a key
    for text in (name, f"use {name} instead", f"{name}(v2) was removed", f"see [{name}]"):
        assert redact(text) == text
    assert not holds_secret(name)


@pytest.mark.parametrize("text", ["Bearer:TokenAuth2 (see the docs)", "Bearer=OAuth2Client", "Bearer%20S3Signer (v2)"])
def test_a_camelcase_name_after_bearer_and_a_colon_is_kept(text: str):
    assert redact(text) == text
    assert not holds_secret(text)


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("Bearerabcdefgh1 refused", "Bearer[REDACTED] refused"),
        ("BearerDEADBEEF12345678 refused", "Bearer[REDACTED] refused"),  # (no lower case letter: hex in capitals)
        ("BearerAbc1defGhi2 refused", "Bearer[REDACTED] refused"),  # (a digit with a lower case letter after it)
        ("BearerAb_Cd3Ef4Gh5Ij refused", "Bearer[REDACTED] refused"),  # (a "_" among its words)
        ("Bearer sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8t refused", "[REDACTED] refused"),
        (f"Bearer {VALUE} refused", "[REDACTED] refused"),
        (f"Bearer: {VALUE} refused", "Bearer: [REDACTED] refused"),
    ],
)
def test_a_token_after_bearer_is_still_removed(text: str, said: str):
    assert redact(text) == said
    assert holds_secret(text)


@pytest.mark.parametrize("alphabet", [_BASE64URL, _BASE64URL + "._~+/"], ids=["base64url", "token68"])
def test_random_tokens_glued_to_bearer_are_removed_all_but_never_taken_for_a_name(alphabet: str):
    # a random token all but never starts as a CamelCase name does (two capitals side by side, a digit with a lower
    # case letter after it, a "_", "-" or "." among its first characters): 1 in 1,000 of 20 characters, fewer longer.
    # A "." ended a name: "EB7IrsHp0Nl8RgOn.7hZf..." (a token68's, RFC 6750's) was kept
    rng = random.Random(20261203)
    tokens = []
    while len(tokens) < 2000:
        token = "".join(rng.choice(alphabet) for _ in range(rng.choice((20, 24, 32, 40))))
        if token[0].isalnum() and any(c.isdigit() for c in token[:32]):  # (what a glued token starts with and holds)
            tokens.append(token)
    kept = [token for token in tokens if redact(f"401: Bearer{token} refused") != "401: Bearer[REDACTED] refused"]
    assert len(kept) <= 10, kept  # (0.5%: each kept one is a run of capitalised words, read as a name)
    assert redact("BearerEB7IrsHp0Nl8RgOn.7hZfSnZfY9ktNM5 refused") == "Bearer[REDACTED] refused"
    for token in tokens[:200]:  # after a space, the scheme goes with it
        if token not in kept:
            assert redact(f"401: Bearer {token} refused") == "401: [REDACTED] refused", token


@pytest.mark.parametrize(
    "text",
    [
        "Bearer    expected a token",
        "Bearer TokenCredentialPolicy2 requires TLS",
        "Bearer authentication failed",
        "the Bearer\tauthorization scheme is required",
        "401: Bearer\nrealm expected, got Basic credentials",
        '"bearerFormat": "Bearer authentication header of the form Bearer <token>"',
    ],
)
def test_a_word_after_bearer_and_a_space_holding_no_digit_is_kept(text: str):
    # any 8 characters after "Bearer " were a token: prose lost its word ("Bearer authentication failed" said
    # "[REDACTED] failed") and a run named so was refused
    assert redact(text) == text
    assert not holds_secret(text)


@pytest.mark.parametrize("scheme", ["Bearer ", "Bearer:", "bearer=", "Bearer%20", "Bearer"])
@pytest.mark.parametrize(
    "token", ["B~yRSBYwGiLYwtIoInMs", "abcdEFGH/ijklMNOP+qr", "ya.abcdefGHIJKLmnop", "abcdefgh=ijklmnopQR"]
)
def test_a_token_holding_no_digit_but_what_no_word_holds_is_removed(scheme: str, token: str):
    # what else tells a token from a word, after a space as glued or after a colon: a "~", "+" or "/", or a "." or
    # "=" inside it (a token68's alphabet, RFC 6750). Glued or after a colon, such a token with no digit among its
    # first 32 characters was kept whole
    kept = "" if scheme == "Bearer " else scheme
    assert redact(f"401: {scheme}{token} refused") == f"401: {kept}[REDACTED] refused"
    assert holds_secret(f"run-{scheme}{token}")


@pytest.mark.parametrize("word", ["required", "expected", "undefined", "missing_or_invalid"])
def test_bearer_equals_a_word_glued_after_a_token_is_not_taken_for_the_tokens_rest(word: str):
    # headers echoed joined: "Bearer <token>bearer=<word>". The token's alphabet holds "=", and its match went on over
    # "bearer=" and the word; "bearer:" and "bearer%3D" ended it. Now "=" glued to "bearer" ends it too
    assert redact(f"401: Bearer {VALUE}bearer={word} (see the docs)") == f"401: [REDACTED]={word} (see the docs)"
    assert redact(f"401: Bearer {VALUE}Bearer:{word} (see the docs)") == f"401: [REDACTED]:{word} (see the docs)"
    # a token after it is still removed, as after "Bearer:"
    assert redact(f"401: Bearer {VALUE}bearer=gw7Qx2Lm9Tk4 (x)") == "401: [REDACTED] (x)"
    # and a base64 token's own "=" padding is still its own
    assert redact("401: Bearer Zm9vOmJhcg+/Pz8/YWJjZGVm== (x)") == "401: [REDACTED] (x)"


@pytest.mark.parametrize("scheme", ["Bearer ", "Bearer:", "bearer=", "Bearer%20", "Bearer"])
def test_a_token_of_eight_characters_after_bearer_is_removed_the_shortest_taken_for_one(scheme: str):
    # eight is where a token begins (a proxy's short session token): one character fewer is left as text
    assert "Zq8wRt2y" not in redact(f"sent {scheme}Zq8wRt2y to the proxy")
    assert "Zq8wRt2" in redact(f"sent {scheme}Zq8wRt2 to the proxy")
