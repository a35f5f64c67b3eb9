"""After an ``Authorization`` label's ``Basic``, a credential is base64 of a printable ``user-id:password`` (RFC 7617;
Latin-1 taken too): that is removed, however long its user-id; words after ``Basic`` ("Basic Overview of the API")
are not a credential, whatever letters they start with, and stay."""

from __future__ import annotations

import base64

import pytest

from magsag_mcp.redaction import holds_secret, redact


def _basic(credential: str, encoding: str = "utf-8") -> str:
    return base64.b64encode(credential.encode(encoding)).decode("ascii")


@pytest.mark.parametrize(
    "text",
    [
        "Authorization: Basic Overview of the API",
        "Authorization: Basic Operations are not permitted",
        '"Authorization": "Basic Ownership required"',
        "Authorization: Basic usage of the API",
    ],
)
def test_words_after_basic_are_kept(text: str):
    assert redact(text) == text
    assert not holds_secret(text)


@pytest.mark.parametrize(
    "credential",
    [
        "a" * 50 + ":pw",  # a user-id longer than 47 characters, its base64 no digit among its first 32
        "serviceaccountforthegatewayintheproductionregion:hunter",
        "jos\u00e9:m\u00f6t\u00f6rhead",  # Latin-1 letters, as UTF-8
        "user:password",
    ],
)
def test_a_basic_credential_is_removed_however_long_its_user_id(credential: str):
    value = _basic(credential)
    assert redact(f"Authorization: Basic {value} refused") == "Authorization: Basic [REDACTED] refused"
    assert holds_secret(f"Authorization: Basic {value}")


def test_a_latin1_basic_credential_is_removed():
    value = _basic("jos\u00e9-ferreira-da-silva-santos-oliveira-costa-pereira:s\u00e9nha", "latin-1")
    assert redact(f"Authorization: Basic {value}") == "Authorization: Basic [REDACTED]"


def test_what_follows_a_kept_word_is_still_redacted():
    said = redact("Authorization: Basic Overview; x-api-key: 0f9e8d7c6b5a4f3e2d1c refused")
    assert said == "Authorization: Basic Overview; x-api-key: [REDACTED] refused"
