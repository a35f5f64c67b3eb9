"""A known key's readable start (the words every key of its vendor or gateway starts with: ``acme-gateway-prod-key-``)
identifies no key: it is not removed from a text holding those words, nor is a name holding them refused. The start
with a few of the key's own characters after it is the key's, and is removed, as far as it goes."""

from __future__ import annotations

import pytest

from magsag_mcp.redaction import holds_secret, redact, register_secret

pytestmark = pytest.mark.usefixtures("restored_secrets")

KEY = "acme-gateway-prod-key-Hx4Tq9Lw2Zr7Nb5Vc8Mk1Pj6"  # a gateway's key: its words, then its random part


def test_the_words_a_known_key_starts_with_stay_in_a_text():
    register_secret(KEY)
    for text in (
        "see acme-gateway-production docs for the limits",
        "the acme-gateway-prod-key-... placeholder was sent",
        "route acme-gateway-prod-keys to the pool",
    ):
        assert redact(text) == text
        assert not holds_secret(text)
    assert not holds_secret("acme-gateway-agent")


def test_the_start_with_a_few_of_the_keys_own_characters_is_removed_as_far_as_it_goes():
    register_secret(KEY)
    assert redact(f"key {KEY[:26]}... refused") == "key [REDACTED]... refused"
    assert redact(f"bad key {KEY}.") == "bad key [REDACTED]."
    assert redact(f"got acme-gateway-\n{KEY[13:]} back") == "got [REDACTED] back"  # cut by a line break
    assert holds_secret(f"job-{KEY[:26]}")
    # its random part's pieces, anywhere: as before
    assert redact(f"x{KEY[-12:]}y") == "x[REDACTED]y"


def test_a_key_of_words_alone_is_removed_whole_only():
    key = "correct-horse-battery-staple-"
    register_secret(key)
    assert redact(f"sent {key} and correct-horse-battery") == "sent [REDACTED] and correct-horse-battery"
    assert holds_secret(f"a-{key}") and not holds_secret("correct-horse-battery")
