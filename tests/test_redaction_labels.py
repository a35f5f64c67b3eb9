"""What follows a label's ``Bearer`` (``Authorization: Bearer <word>``) told from a token by the rule ``Bearer`` has
with no label before it; a CamelCase name called as code (``BearerAuthV2Handler.handle()``) kept; and a known key
whose escape a line break cuts removed whole."""

from __future__ import annotations

import base64
import random
import string
from collections.abc import Callable, Iterator

import pytest

from magsag_mcp import redaction
from magsag_mcp.redaction import holds_secret, redact, register_secret

#: a credential no key pattern knows the shape of (Azure's 32 hex digits), found only after its scheme or label
VALUE = "0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c"


@pytest.mark.parametrize(
    "text",
    [
        "Authorization: Bearer expected",
        '"Authorization": "Bearer authentication failed"',
        "authorization=Bearer undefined (see the docs)",
        "Authorization: BearerAuthResponse",
        "Authorization: Bearer TokenCredentialPolicy2 requires TLS",
        "Authorization%3A%20Bearer%20required",
    ],
)
def test_a_word_after_an_authorization_labels_bearer_is_kept(text: str):
    # the label took any 8 characters after "Bearer " for a token ("Authorization: Bearer [REDACTED]"), where
    # "Bearer expected" with no label before it kept its word
    assert redact(text) == text
    assert not holds_secret(text)


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (f"Authorization: Bearer {VALUE} refused", "Authorization: Bearer [REDACTED] refused"),
        (f'"authorization": "bearer {VALUE}"', '"authorization": "bearer [REDACTED]"'),
        ("Authorization: Bearer:gw7Qx2Lm9Tk4 refused", "Authorization: Bearer:[REDACTED] refused"),
        ("Authorization: Bearer%20abcdefgh1 refused", "Authorization: Bearer%20[REDACTED] refused"),
        ("Authorization: Bearer abcdEFGH/ijklMNOP+qr refused", "Authorization: Bearer [REDACTED] refused"),
        ("AUTHORIZATION: BEARER DEADBEEF12345678 refused", "AUTHORIZATION: BEARER [REDACTED] refused"),
        ("Authorization: Basic d2hvOmFtaQ== refused", "Authorization: Basic [REDACTED] refused"),
        # (Django REST framework's token: 40 hex digits)
        (
            "Authorization: Token 9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b refused",
            "Authorization: Token [REDACTED] refused",
        ),
    ],
)
def test_a_token_after_an_authorization_label_is_still_removed(text: str, said: str):
    assert redact(text) == said
    assert holds_secret(text)


@pytest.mark.parametrize(
    "text",
    [
        "Authorization: Basic authentication required",
        "Authorization: Token authentication required",
        '"Authorization": "Basic credentials expected"',
        "authorization=Token%20expected",
        'Authorization: Basic realm="api" required',
        "Authorization: Token abcdefghij refused",  # letters alone, as after Bearer: a word
    ],
)
def test_a_word_after_an_authorization_labels_basic_or_token_is_kept(text: str):
    # Basic and Token took any 8 characters after them for a credential ("Authorization: Basic [REDACTED] required")
    assert redact(text) == text
    assert not holds_secret(text)


@pytest.mark.parametrize(
    ("text", "said"),
    [
        # base64 of "abc:def" and "user:password": no digit, +, / or inner = in the first; the ":" as base64 writes it
        ("Authorization: Basic YWJjOmRlZg== refused", "Authorization: Basic [REDACTED] refused"),
        ("Authorization: Basic dXNlcjpwYXNzd29yZA== refused", "Authorization: Basic [REDACTED] refused"),
        ("Authorization: BasicYWJjOmRlZg==", "Authorization: Basic[REDACTED]"),
        ("authorization%3A%20Basic%20YWJjOmRlZg%3D%3D", "authorization%3A%20Basic%20[REDACTED]"),
        ("Authorization: Token ghp_16C7e42F292c6912E7710c838347Ae178B4a x", "Authorization: Token [REDACTED] x"),
    ],
)
def test_a_credential_after_an_authorization_labels_basic_or_token_is_removed(text: str, said: str):
    assert redact(text) == said
    assert holds_secret(text)


def test_every_basic_credential_is_told_from_a_word():
    # a user-id and a password of any characters a user types, joined by ":" and base64-encoded, as RFC 7617 sends
    # them: the ":" (or a digit, a + or a /) marks each as one, whatever else it holds
    rng = random.Random(7617)
    alphabet = string.ascii_letters + string.digits + "@.!#-_"
    for _ in range(3_000):
        user = "".join(rng.choices(alphabet, k=rng.randint(0, 40)))
        password = "".join(rng.choices(alphabet, k=rng.randint(1, 30)))
        credential = base64.b64encode(f"{user}:{password}".encode()).decode()
        if len(credential) >= 8:  # (a label's value is 8 characters or more)
            said = redact(f"Authorization: Basic {credential} refused")
            assert said == "Authorization: Basic [REDACTED] refused", (user, password)


@pytest.mark.parametrize(
    "text",
    [
        "BearerAuthV2Handler.handle()",
        "skill.BearerAuthV2Handler.handle(request) failed",
        "call BearerTokenAuth2.get_token(scope) first",
        "Bearer AuthV2Handler.refresh_token() raised",
        "Bearer:OAuth2Client.fetch_token(url)",
        "BearerTokenAuth2.getAccessToken2(scope)",
    ],
)
def test_a_camelcase_name_calling_a_method_is_kept(text: str):
    # a "." ended no name (a token68's first "." comes so), and the name went to "[REDACTED]": "Bearer[REDACTED]()"
    assert redact(text) == text
    assert not holds_secret(text)


@pytest.mark.parametrize(
    ("text", "said"),
    [
        # a token68's "." with more of it after it, no call
        ("BearerEB7IrsHp0Nl8RgOn.7hZfSnZfY9ktNM5 refused", "Bearer[REDACTED] refused"),
        ("BearerEB7IrsHp0Nl8RgOn.hZfSnZfY9ktNM5 refused", "Bearer[REDACTED] refused"),
        # and one glued to a "(": the rest of it after its "." is written as no method's name is
        ("BearerFFt.fjiyBoaBSaZz7NjdqRs9uSLEaQ(x)", "Bearer[REDACTED](x)"),
        ("Bearer FFt.fjiyBoaBSaZz7NjdqRs9uSLEaQ(x)", "[REDACTED](x)"),
        ("BearerAuthV2Handler.handle refused", "Bearer[REDACTED] refused"),  # (no "(": no call)
        ("BearerAuthV2Handler.Handle() refused", "Bearer[REDACTED]() refused"),  # (a capital: no method's name)
        (
            "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLWJ5dGVz refused",
            "[REDACTED] refused",
        ),
        (
            "BearereyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLWJ5dGVz(x)",
            "Bearer[REDACTED](x)",
        ),
    ],
)
def test_a_token_holding_a_dot_is_still_removed(text: str, said: str):
    assert redact(text) == said
    assert holds_secret(text)


def test_a_method_name_is_looked_at_over_64_characters_at_most():
    # each "Bearer" looks a bounded stretch past its name's "." (not the rest of the run): a "(" further on is no call
    assert redact("BearerAuthV2Handler." + "a" * 64 + "(") == "BearerAuthV2Handler." + "a" * 64 + "("
    assert redact("BearerAuthV2Handler." + "a" * 65 + "(") == "Bearer[REDACTED]("
    many = "BearerAuthV2Handler.handle(" * 2_000
    assert redact(many) == many


#: a base64 key, each 4th character one an encoder escapes (runs between two escapes shorter than a piece, 12)
KEY = "Zx9/Qw3+Er7=Ty1/Ui5+Op2=As6/Df4+Gh8=Jk0/"
ENCODERS = {
    "url": {"/": "%2F", "+": "%2B", "=": "%3D"},
    "url-twice": {"/": "%252F", "+": "%252B", "=": "%253D"},
    "json-u": {"/": "\\u002f", "+": "\\u002b", "=": "\\u003d"},
    "html-hex": {"/": "&#x2F;", "+": "&#x2B;", "=": "&#x3D;"},
    "html-named": {"/": "&sol;", "+": "&plus;", "=": "&equals;"},
}


@pytest.fixture
def known(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    """:func:`register_secret`, the process's keys as they were once the test ends: a key left registered is removed
    from every later test's texts."""
    monkeypatch.setattr(redaction, "_KNOWN_SECRETS", set())
    monkeypatch.setattr(redaction, "_LONGEST_FIRST", ())
    yield register_secret


@pytest.mark.parametrize("brk", ["\n", "\r\n    ", "\\n"])
@pytest.mark.parametrize("encoder", list(ENCODERS))
def test_a_known_key_cut_by_a_line_break_inside_an_escape_is_removed_whole(
    known: Callable[[str], None], encoder: str, brk: str
):
    # "%2" at a line's end and "F" at the next one's start: read as no escape, the key's characters before the break
    # (up to 7, no piece of it) stayed in the text, and the escape's halves with them
    known(KEY)
    written = "".join(ENCODERS[encoder].get(c, c) for c in KEY)
    for at in range(1, len(written)):
        text = f"key {written[:at]}{brk}{written[at:]} refused"
        said = redact(text)
        assert said == "key [REDACTED] refused", (at, said)
        assert holds_secret(f"run-{written[:at]}{brk}{written[at:]}")
