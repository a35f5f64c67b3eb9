"""Past a text's first 64 KB, the key patterns read windows around each place a key's shape could start (its trigger
word, a JWT's ``.eyJ``), each read on until its end cuts no shape, up to
:data:`~magsag_mcp.key_shapes._SHAPES_READ_MOST` characters in all; only past them is the text masked from where a
shape could start. Masked from the first trigger word past 64 KB, an ``obs.log`` event over 64 KB lost its words to a
"sig" in "design", a "key" in "monkey", a "token" in ``input_tokens`` (``{"usage": {"input_tokens": 10}}`` stored as
``{"[REDACTED]": 10}``), and could not be searched. Work is counted in characters handed to the pattern, never timed.
"""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Callable

import pytest

from magsag_mcp import key_shapes
from magsag_mcp.key_shapes import _SHAPES_READ, _SHAPES_READ_MOST, _redacted, without_key_shapes
from magsag_mcp.ledger.events import event_row
from magsag_mcp.redaction import redact
from tests import test_key_encodings
from tests.test_key_shapes_bounded import _CountedPattern, counted

#: (test_key_shapes_bounded's fixture: the characters the pattern is handed, counted)
counted = counted
#: (test_key_encodings's fixture: none known during a test but those it registers)
known = test_key_encodings.known

_KEY = "sk-proj-Zq4Xw8Rt2Yu6Io0Pa3Sd7Fg1Hj5Kl9"
_JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
#: words of 8 letters or more, which the masking took whole, and no trigger among them
_PROSE = "monitoring dashboard reported everything operational yesterday afternoon. " * 7_000


def _whole_pattern(text: str) -> str:
    """``text`` redacted by the key patterns read whole, as a text of 64 KB or less is."""
    return key_shapes._SECRET_PATTERNS.sub(_redacted, text)


def test_a_200_kb_log_event_keeps_its_words_and_loses_its_one_key(counted: _CountedPattern):
    answer = (
        "The design of the monkey enclosure needs a signature from the keeper; "
        "every token of the answer is counted in input_tokens and output_tokens. "
    ) * 1_500
    data = {
        "answer": answer[:100_000] + f" (the agent pasted {_KEY} here) " + answer[100_000:],
        "usage": {"input_tokens": 10, "output_tokens": 2048},
        "design": "monkey business",
    }
    stored = event_row(None, None, "obs.log", data)[4]
    assert len(stored) > 200_000
    back = json.loads(stored)
    assert back["usage"] == {"input_tokens": 10, "output_tokens": 2048}
    assert back["design"] == "monkey business"
    assert back["answer"] == answer[:100_000] + " (the agent pasted [REDACTED] here) " + answer[100_000:]
    assert _KEY[8:] not in stored
    assert counted.read <= _SHAPES_READ_MOST, counted.read


_SHAPES = [
    (_KEY, _KEY[8:20]),
    (f"Bearer {_KEY[3:]}", _KEY[8:20]),
    (f'"api_key": "{_KEY[8:]}"', _KEY[8:20]),
    ("ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2", "A1b2C3d4E5f6"),
    (_JWT, "SflKxwRJSMeKKF2Q"),
    (f"https://files.example/blob?sv=2024&sig={_KEY[8:]}&se=2027", _KEY[8:20]),
]


@pytest.mark.parametrize(("shape", "secret"), _SHAPES)
@pytest.mark.parametrize("at", [100_000, 450_000])
def test_a_key_past_the_first_64_kb_near_a_trigger_word_is_removed_and_the_words_around_it_kept(
    counted: _CountedPattern, shape: str, secret: str, at: int
):
    # each distance from the trigger word, so the key stands across a window's end at some of them
    for gap in range(0, 1_300, 131):
        before = _PROSE[:at] + " the design: " + "x" * gap
        text = before + " " + shape + " " + _PROSE[at:]
        said = redact(text)
        assert secret not in said, gap
        assert said.startswith(before + " ") and said.endswith(" " + _PROSE[at:]), gap
    assert counted.read <= 10 * (_SHAPES_READ + 4_096), counted.read


@pytest.mark.parametrize("seed", range(6))
def test_the_windows_find_what_the_whole_pattern_finds(seed: int):
    # texts of 90 to 180 KB, trigger words and shapes at random in them (glued to a word, cut by a window's end, a
    # label's value after many spaces, a JWT after a long run): read in windows, redacted as read whole
    rng = random.Random(seed)
    words = ["plain", "words", "of", "an", "answer", "\n", "{", '"', ":", ","] * 30 + ["design", "monkey", "tokens"]
    parts: list[str] = []
    size, limit = 0, rng.choice([90_000, 180_000])
    while size < limit:
        if rng.random() < 0.004:
            value = "".join(rng.choice("abcdefLMNOPQ0123456789") for _ in range(rng.choice([12, 40, 900])))
            part = rng.choice([
                "sk-proj-" + value, "Bearer " + value, "password=" + value, "&sig=" + value,
                "Authorization: Bearer" + " " * rng.choice([1, 300, 2_000]) + value,
                '"api_key":' + " " * rng.choice([1, 150, 2_500]) + f'"{value}"',
                "x" * rng.choice([0, 700, 3_000]) + _JWT.replace("eyJzdWIi", "eyJzdWIi" + "Q" * rng.choice([0, 2_000])),
                "Authorization:" + "%20" * rng.choice([1, 500]) + "Basic dXNlcjpodW50ZXIycGFzcw==",
                # (what _GLUED takes after a key: a Bearer's or a label's spaces, a JWT's payload, long or not)
                "sk-proj-" + value + "Bearer" + " " * rng.choice([1, 300, 2_000]) + "Tk9a8b7c6d5e4f3g2h1",
                "sk-proj-" + value + "api_key:" + " " * rng.choice([1, 300, 2_000]) + "Tk9a8b7c6d5e4f3g2h1",
                "sk-proj-" + value + ".eyJzdWIi" + "Q" * rng.choice([8, 300, 2_000]) + ".SflKxwRJSMeKKF2QT4fw",
            ])  # fmt: skip
        else:
            part = rng.choice(words)
        parts.append(part)
        size += len(part) + 1
    text = rng.choice([" ", ""]).join(parts)
    assert without_key_shapes(text) == _whole_pattern(text)


@pytest.mark.parametrize(
    ("shape", "secret"),
    [
        # a label and its value with its two trigger words far apart, and what comes between them longer than a window
        ("Authorization:" + "%20" * 900 + "Basic dXNlcjpodW50ZXIycGFzcw==", "dXNlcjpodW50"),
        ("client_secret" + "\t" * 1_500 + "=" + _KEY[8:], _KEY[8:20]),
        ('"api_key":' + " " * 3_000 + f'"{_KEY[8:]}"', _KEY[8:20]),
        ("Authorization: Bearer" + " " * 5_000 + _KEY[3:], _KEY[8:20]),
        # a JWT glued to a run longer than a window, and one whose payload is
        ("A1b2" * 2_000 + _JWT, "SflKxwRJSMeKKF2Q"),
        (_JWT.replace("eyJzdWIi", "eyJzdWIi" + "Q" * 6_000), "SflKxwRJSMeKKF2Q"),
        # a masked key whose mask runs over windows
        ("sk-ab" + "*" * 3_000 + "wxyz", "wxyz"),
    ],
)
def test_a_shape_longer_than_a_window_is_read_whole(counted: _CountedPattern, shape: str, secret: str):
    text = _PROSE[:150_000] + " " + shape + " " + _PROSE[150_000:]
    said = redact(text)
    assert secret not in said
    assert said.startswith(_PROSE[:150_000]) and said.endswith(_PROSE[150_000:])
    assert counted.read <= _SHAPES_READ + 64 * 1024, counted.read


def test_past_what_the_patterns_read_the_text_is_masked_from_where_a_shape_could_start(counted: _CountedPattern):
    # a trigger word every 8 characters makes windows of all of the text: past the characters the patterns read, a key
    # is masked, never passed through unread; the words before them are kept. (A "key" a separator follows: one inside
    # a word, "design"'s "sig", is no shape's start, and opens no window)
    dense = "the key " * 150_000
    text = dense + _KEY[8:] + " monitoring " + "the key " * 10
    said = redact(text)
    assert _KEY[8:20] not in said and "monitoring" not in said
    assert said.startswith(dense[:_SHAPES_READ_MOST - 2 * 16_384])
    assert counted.read <= _SHAPES_READ_MOST, counted.read
    # and a label's separator longer than all they read: its value masked
    counted.read = 0
    text = _PROSE[:100_000] + " password" + " " * 400_000 + "=" + _KEY[8:] + " " + _PROSE[:1_000]
    said = redact(text)
    assert _KEY[8:20] not in said
    assert said.startswith(_PROSE[: 100_000 - 32])  # (a label's words may start 32 characters before its trigger)
    assert counted.read <= _SHAPES_READ_MOST, counted.read


def test_a_known_key_encoded_past_the_first_64_kb_is_removed(known: Callable[[str], None]):
    # read in windows past 64 KB, not masked, the text reaches key_encodings as written: each encoding of a known key
    # there is its to remove
    key = "9e1c4a7f2b5d8e0a3c6f9b2d5e8a1c4f"
    known(key)
    encodings = [
        "".join(f"%{ord(c):02X}" for c in key),
        "".join(f"&#{ord(c)};" for c in key),
        "".join(f"&#x{ord(c):x}" for c in key),
        base64.b64encode(key.encode()).decode(),
        base64.b64encode(f"user:{key}".encode()).decode(),
        "https://proxy.example/login?next=" + "".join(f"%{ord(c):02X}" for c in f"Bearer {key}"),
    ]
    for encoded in encodings:
        text = _PROSE[:120_000] + " design " + encoded + " monkey " + _PROSE[:120_000]
        said = redact(text)
        assert said.startswith(_PROSE[:120_000] + " design ") and said.endswith(" monkey " + _PROSE[:120_000])
        assert encoded not in said and key not in said and "[REDACTED]" in said, encoded


def test_the_separator_characters_written_out_are_every_space_and_the_separators():
    every_space = "".join(c for c in map(chr, range(0x110000)) if c.isspace())
    assert key_shapes._SEPARATOR_CHARACTERS == every_space + "\"'\\:=%20"


@pytest.mark.parametrize(
    ("glued", "secret"),
    [
        # what _GLUED takes after a key, its start inside the key's match: a Bearer's spaces, a label's, a JWT's payload
        ("Bearer" + " " * 600 + "Tk9a8b7c6d5e4f3g2h1", "Tk9a8b7c6d5e4f3g2h1"),
        ("api_key:" + " " * 600 + "Tk9a8b7c6d5e4f3g2h1", "Tk9a8b7c6d5e4f3g2h1"),
        (".eyJzdWIi" + "Q" * 600 + ".SflKxwRJSMeKKF2QT4fw", "SflKxwRJSMeKKF2QT4fw"),
    ],
)
def test_what_is_glued_to_a_key_across_a_windows_end_is_taken_with_it(glued: str, secret: str):
    # the key's match ends before the window's end, what is glued to it runs past it: read whole, the key and what is
    # glued to it are one match (the window took the key alone, and its end settled what followed it: kept)
    for gap in range(0, 400, 37):
        text = _PROSE[:100_000] + " design " + "y" * gap + " " + _KEY + glued + " " + _PROSE[100_000:]
        said = without_key_shapes(text)
        assert secret not in said, gap
        assert said == _whole_pattern(text), gap
