"""A labelled credential at the end of a sentence keeps the sentence's period: "Incorrect API key provided:
gw-key-12345678. You can find..." was redacted to "[REDACTED] You can find..." (the period taken as the key's). The
value ends before a ``.`` with a space or the text's end after it; a ``.`` inside it is still its own, and a value of
7 characters before the period is still removed."""

from __future__ import annotations

import pytest

from magsag_mcp.redaction import holds_secret, redact


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            "Incorrect API key provided: gw-key-12345678. You can find your API key at https://example.test.",
            "Incorrect API key provided: [REDACTED]. You can find your API key at https://example.test.",
        ),
        ("Incorrect API key provided: gw-key-12345678.", "Incorrect API key provided: [REDACTED]."),
        ("Incorrect API key provided: gw-key-12345678.\nRetry", "Incorrect API key provided: [REDACTED].\nRetry"),
        # a '.' with more of the value after it is the value's
        ("api_key=abc.def.ghi12345. Next", "api_key=[REDACTED]. Next"),
        ("access_token: abcdefgh.12345678..\tx", "access_token: [REDACTED].\tx"),
        # 8 characters with the period, as before: the 7 before it still removed
        ("password: hunter2. Try again", "password: [REDACTED]. Try again"),
    ],
)
def test_a_sentences_period_after_a_labelled_value_is_kept(text: str, said: str):
    assert redact(text) == said
    assert holds_secret(text)


def test_no_character_of_the_value_is_left_before_the_period():
    for value in ("gw-key-12345678", "abc.def.ghi12345", "hunter2", "a.b.c.d.e.f.g"):
        said = redact(f"Incorrect API key provided: {value}. Retry")
        assert said == "Incorrect API key provided: [REDACTED]. Retry", value
