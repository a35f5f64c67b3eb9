"""The key patterns (:data:`~magsag_mcp.key_shapes._SECRET_PATTERNS`) read a text's first
:data:`~magsag_mcp.key_shapes._SHAPES_READ` characters whole, then windows around where a key's shape could start, up to
:data:`~magsag_mcp.key_shapes._SHAPES_READ_MOST` characters in all: they have no literal start to skip to, and searched
a MB of base64 (an image's data quoted back in an error's body) for 350 ms to 1.2 s each time a message, a record or a
log line was made of it. Counted, never timed: the characters handed to the pattern. Past what they read, a key's shape
is never passed through unread: the text is masked from where one could start. (The windows themselves:
test_key_shapes_windows.)"""

from __future__ import annotations

import base64
import json
import random
import re
from typing import Any

import pytest

from magsag_mcp import key_shapes, redaction
from magsag_mcp.key_shapes import _SHAPES_READ, _SHAPES_READ_MOST
from magsag_mcp.redaction import redact

#: base64 of random bytes, the alphabet's shapes (an "eyJ", a "key", a "sig") at random in it
_BLOB = base64.b64encode(random.Random(83).randbytes(750_000)).decode()
_UNKNOWN_KEY = "sk-proj-Zq4Xw8Rt2Yu6Io0Pa3Sd7Fg1Hj5Kl9"


class _CountedPattern:
    """The pattern, counting the characters each search is handed (its span of the text)."""

    def __init__(self, pattern: re.Pattern[str]) -> None:
        self._pattern = pattern
        self.read = 0

    def sub(self, repl: Any, text: str) -> str:
        self.read += len(text)
        return self._pattern.sub(repl, text)

    def finditer(self, text: str, pos: int = 0, endpos: int = 2**62) -> Any:
        self.read += min(endpos, len(text)) - pos
        return self._pattern.finditer(text, pos, endpos)

    def match(self, text: str, pos: int = 0) -> Any:
        found = self._pattern.match(text, pos)
        self.read += found.end() - pos if found else 1
        return found


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> _CountedPattern:
    pattern = _CountedPattern(key_shapes._SECRET_PATTERNS)
    monkeypatch.setattr(key_shapes, "_SECRET_PATTERNS", pattern)
    monkeypatch.setattr(redaction, "_SECRET_PATTERNS", pattern)
    return pattern


def test_a_mb_of_base64_is_not_searched_by_the_key_patterns_past_their_bound(counted: _CountedPattern):
    # (read past the first 64 KB in windows around the shapes' words its random letters hold: "key", "sig"...)
    text = f"HTTP 400: api_key refused for image data:image/png;base64,{_BLOB} (see the docs)"
    assert len(text) > 15 * _SHAPES_READ
    redact(text)
    assert counted.read <= _SHAPES_READ_MOST, counted.read


@pytest.mark.parametrize("at", [_SHAPES_READ - 40, _SHAPES_READ - 5, _SHAPES_READ + 10, 200_000, 990_000])
# (each a shape wherever it stands: glued to a word, "...sersk-proj-..." is no sk- key, and the Bearer rule takes
# "Zq4Xw8Rt2Yu6..." for a CamelCase name; the old cut past 64 KB masked them all the same)
@pytest.mark.parametrize("shape", [_UNKNOWN_KEY, f"Bearer {_UNKNOWN_KEY[3:]}", f'"api_key": "{_UNKNOWN_KEY[8:]}"'])
def test_a_keys_shape_past_the_bound_never_stays_in_the_text(counted: _CountedPattern, at: int, shape: str):
    words = "the server could not read the request body " * 30_000
    text = words[:at] + " " + shape + " " + words[at:]
    said = redact(text)
    assert _UNKNOWN_KEY[8:] not in said
    assert _UNKNOWN_KEY[8:20] not in said
    assert said.startswith(words[:at])  # (what comes before it is kept)
    assert said.endswith(words[at:])  # (and what comes after it: read, not cut)
    assert counted.read <= _SHAPES_READ + 2048, counted.read


def test_a_jwt_glued_to_a_long_run_past_the_bound_is_cut_from_the_runs_start(counted: _CountedPattern):
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
    run = "A1b2" * 20_000  # (its characters before the JWT's header are the match's "glued" part)
    text = "token refused: " + run + jwt + " end"
    said = redact(text)
    assert "SflKxwRJSMeKKF2QT4fw" not in said and "eyJzdWIi" not in said
    assert said == "token refused: [REDACTED] end"


def test_a_text_holding_no_trigger_past_the_bound_is_kept_whole(counted: _CountedPattern):
    text = "api_key: hunter2hunter2 " + "plain words of an error body, " * 5_000
    assert redact(text) == "api_key: [REDACTED] " + "plain words of an error body, " * 5_000


def test_a_match_cut_by_the_bound_is_taken_whole(counted: _CountedPattern):
    pad = "x " * ((_SHAPES_READ - 20) // 2)
    value = "Ab3dEf6hIj9kLm2nOp5q" * 50  # (a label's value running 1,000 characters past the bound)
    text = pad + "password=" + value + " then words " + "more words " * 100
    said = redact(text)
    assert said == pad + "password=[REDACTED] then words " + "more words " * 100


def test_an_events_data_past_what_is_read_is_json_still(counted: _CountedPattern):
    # cut where a key's shape could start, an event's data (stored as JSON, read by strict parsers) was no JSON: past
    # what the patterns read (a "key" every 8 characters, each read around), runs of a credential's characters are
    # masked, its quotes, escapes and punctuation kept
    from magsag_mcp.ledger.events import event_row

    key = "Zq4Xw8Rt2Yu6Io0Pa3Sd7Fg1Hj5Kl9"
    data = {
        "note": "the key " * 50_000,
        "api_key": key,
        "said": 'caf\u00e9\n"quoted"',
        "escaped": f"\nsk-proj-{key}",
        "control": f"\u0001{key}",
        "n": 4096,
    }
    stored = event_row(None, None, "big", data)[4]
    back = json.loads(stored)
    assert key not in stored and key[:12] not in stored
    assert back["api_key"] == "[REDACTED]" and back["n"] == 4096
    assert back["said"] == 'caf\u00e9\n"quoted"'
    assert back["escaped"] == "\n[REDACTED]" and back["control"] == "\u0001[REDACTED]"
    assert back["note"] == data["note"][: len(back["note"])]  # (its words, shorter than a value's 8 characters, kept)
    assert counted.read <= _SHAPES_READ_MOST, counted.read


_VALUE = "Zq4Xw8Rt2Yu6Io0Pa3Sd7Fg1Hj5Kl9"
#: a value the Bearer rule takes for a token (``_VALUE`` alone reads as a CamelCase name, after Bearer as anywhere)
_TOKEN = "tok-" + _VALUE
_WORDS = "the server could not read the request body " * 3_000
_JWT = (
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIn0" + "Q" * 600
    + ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)  # fmt: skip


@pytest.mark.parametrize(
    ("shape", "secret"),
    [
        # a JWT whose payload's ".eyJ" the pattern read, its signature past the bound: the JWT's run was judged from
        # the last 128 characters read, which hold no ".eyJ", and the token was kept whole
        (_JWT, "SflKxwRJSMeKKF2QT4fw"),
        # a label, a Bearer, then more spaces than the last 128 characters read: its value past the bound was kept
        ('"api_key":' + " " * 400 + f'"{_VALUE}"', _VALUE[:12]),
        ("Authorization: Bearer" + " " * 400 + _TOKEN, _VALUE[:12]),
    ],
)
def test_a_shape_the_bound_cuts_from_before_its_last_characters_read_never_stays(
    counted: _CountedPattern, shape: str, secret: str
):
    text = _WORDS[: _SHAPES_READ - 300] + " " + shape + " tail " + _WORDS
    said = redact(text)
    assert secret not in said
    assert said.startswith(_WORDS[: _SHAPES_READ - 1024])  # (what comes before it is kept)
    assert counted.read <= _SHAPES_READ + 4096, counted.read


def test_a_value_whose_period_is_the_last_character_read_is_taken_whole(counted: _CountedPattern):
    # the pattern ends a value before a "." that ends the text (a sentence's: "\\Z"), and the end of what it read
    # was taken for one: the value's rest past the bound was kept
    pad = _WORDS[: _SHAPES_READ - len("password: abcdefgh") - 1]
    text = pad + "password: abcdefgh.ijk9Zq4Xw8Rt2Yu6Io0 " + _WORDS
    assert text.index(".ijk") == _SHAPES_READ - 1
    said = redact(text)
    assert "ijk9Zq4Xw8Rt2Yu6Io0" not in said
    assert said.startswith(pad + "password: [REDACTED] ")
