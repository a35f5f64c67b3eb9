"""A known key's base64, percent-encoding or hex far into a long text among many innocent words of base64
(:mod:`magsag_mcp.key_encodings`, :mod:`magsag_mcp.key_base64_cores`, :mod:`magsag_mcp.key_hex`).

Decoding was bounded to 32 KB of a text's words: once spent, every word left in both cases as long as a key's base64
was removed whole, so a long tool result or error lost its innocent text (embeddings, ids, an image's data). Now only
the words holding a key's base64 as written whatever surrounds it are decoded, around it: the innocent words are kept,
the key is removed wherever it stands, and the work (counted in characters handed to the search and to the decoder,
never timed) grows as the text's length. A key written in hex stayed whole.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Callable
from urllib.parse import quote

import pytest

from magsag_mcp import key_base64_cores, key_encodings, key_pieces
from magsag_mcp.redaction import PREFIX_KEY_MIN, holds_secret, redact
from tests import test_key_encodings
from tests.test_key_encodings import KEY, SHORT

#: (test_key_encodings's fixture: none known during a test but those it registers)
known = test_key_encodings.known


def _innocent_words(chars: int, seed: int) -> list[str]:
    """Words of base64 (random bytes: both cases, as long as any key's base64 or longer) making ``chars`` or more."""
    rng = random.Random(seed)
    words: list[str] = []
    total = 0
    while total < chars:
        word = base64.b64encode(rng.randbytes(rng.randrange(12, 90))).decode()
        words.append(word)
        total += len(word) + 1
    return words


ENCODED: dict[str, Callable[[str], str]] = {
    "base64": lambda k: base64.b64encode(f"user:{k}".encode()).decode(),
    "base64-url-safe-bearer": lambda k: base64.urlsafe_b64encode(f"Bearer {k}".encode()).decode().rstrip("="),
    "percent": lambda k: "".join(f"%{ord(c):02X}" for c in k),
    "percent-query": lambda k: quote(base64.b64encode(f"Bearer {k}".encode()).decode(), safe=""),
    "hex": lambda k: k.encode().hex(),
    "hex-upper": lambda k: k.encode().hex().upper(),
}


@pytest.mark.parametrize("before", [33_000, 270_000])
@pytest.mark.parametrize("encoding", list(ENCODED))
@pytest.mark.parametrize("key", [KEY, SHORT])
def test_a_key_encoded_far_among_innocent_base64_words_is_removed_and_the_words_kept(
    known: Callable[[str], None], before: int, encoding: str, key: str
):
    known(key)
    head = " ".join(_innocent_words(before, before))
    tail = " ".join(_innocent_words(40_000, before + 1))
    written = ENCODED[encoding](key)
    text = f"tool result: {head} auth={written} {tail} (end)"
    said = redact(text)
    assert said == f"tool result: {head} auth=[REDACTED] {tail} (end)", (said[:100], said[-100:])
    assert holds_secret(text)
    assert redact(f"{head} {tail}") == f"{head} {tail}"  # (every innocent word is kept)


def test_many_keys_tokens_past_32_kb_are_each_removed(known: Callable[[str], None]):
    # a log of requests, each quoting its Authorization header, some of them with the key
    known(KEY)
    words = _innocent_words(300_000, 7)
    token = base64.b64encode(f"user:{KEY}".encode()).decode()
    for at in range(10, len(words), len(words) // 8):
        words[at] = token
    said = redact(" ".join(words))
    assert said == " ".join("[REDACTED]" if word == token else word for word in words)


def test_hex_holding_no_key_is_kept(known: Callable[[str], None]):
    known(KEY)
    dump = random.Random(3).randbytes(20_000).hex()
    assert redact(f"sha256 {dump} and {KEY[:8].encode().hex()}") == f"sha256 {dump} and {KEY[:8].encode().hex()}"
    # a hex dump's other bytes are kept: only the key's characters are removed
    around = b"POST /v1 HTTP/1.1\r\nAuthorization: Bearer ".hex()
    assert redact(f"{around}{KEY.encode().hex()}0d0a") == f"{around}[REDACTED]0d0a"


class _Counted:
    """What is handed to the core search and to the decoder, in characters."""

    def __init__(self) -> None:
        self.searched = 0
        self.decoded = 0


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> _Counted:
    seen = _Counted()
    real_hits, real_decoded = key_base64_cores.hits_in, key_encodings._decoded

    def hits_in(blob: bytes, cores: key_base64_cores.Cores) -> list[tuple[int, int]]:
        seen.searched += len(blob)
        return real_hits(blob, cores)

    def decoded(word: bytes) -> str:
        seen.decoded += len(word)
        return real_decoded(word)

    monkeypatch.setattr(key_encodings, "hits_in", hits_in)
    monkeypatch.setattr(key_encodings, "_decoded", decoded)
    return seen


@pytest.mark.parametrize("size", [64_000, 512_000])
def test_the_work_grows_as_the_texts_length(known: Callable[[str], None], counted: _Counted, size: int):
    known(KEY)
    known(SHORT)
    words = " ".join(_innocent_words(size, size))
    token = base64.b64encode(f"user:{KEY}".encode()).decode()
    text = f"{words} {token} {words}"
    assert redact(text) == f"{words} [REDACTED] {words}"
    # the text's words searched once (each word once: the text repeats them), whatever the keys known, and nothing
    # decoded but the windows around the key's token (4 alignments of its token and the 8 characters after it)
    assert counted.searched <= len(words) + len(token) + 1, counted.searched
    assert 0 < counted.decoded <= 4 * (len(token) + 8)


def _json_escaped(text: str, case: str = "x") -> str:
    return "".join(f"\\u{ord(c):04{case}}" for c in text)


@pytest.mark.parametrize(
    "escape",
    [
        _json_escaped,
        lambda k: _json_escaped(k, "X"),
        lambda k: _json_escaped(k).replace("\\", "\\\\"),  # (a JSON string quoted again)
        lambda k: "".join(f"\\x{ord(c):02x}" for c in k),
        lambda k: k[:3] + _json_escaped(k[3:9]) + k[9:],
    ],
)
@pytest.mark.parametrize("key", [KEY, SHORT, "sk-proj-Zq4Xw8Rt2Yu6Io0Pa3Sd7Fg1Hj5Kl9Mn3Bv7Cx1"])
def test_a_key_whose_every_character_json_or_a_string_escapes_is_removed(
    known: Callable[[str], None], escape: Callable[[str], str], key: str
):
    # a JSON encoder escaping every character (\u0073\u006b\u002d...), or a JavaScript or C string's \x73: the key
    # stayed whole in the error, the ledger and the logs
    known(key)
    text = f'{{"error": {{"message": "invalid key {escape(key)} (401)", "detail": "caf\\u00e9 \\x41 ok"}}}}'
    said = redact(text)
    assert said == '{"error": {"message": "invalid key [REDACTED] (401)", "detail": "caf\\u00e9 \\x41 ok"}}', said
    assert holds_secret(text)
    clean = '{"detail": "caf\\u00e9 \\u0041\\u0042 \\x41\\x42 \\\\u0073k- ok"}'
    assert redact(clean) == clean


@pytest.mark.parametrize("key", [KEY, SHORT])
def test_cores_that_decode_to_no_key_cost_as_their_length(known: Callable[[str], None], counted: _Counted, key: str):
    # one word repeating a key's core (the 3rd of its 3), each after a character that makes the key's first byte
    # another: no key in it, and each core was decoded with its look-back window at 4 alignments (some 16 KB a core)
    known(key)
    first = (key_pieces.piece_table((key,), PREFIX_KEY_MIN)[0][1] or (key,))[0]
    unit = "A" + key_base64_cores.core(first.encode(), 1).decode()
    word = unit * (16_000 // len(unit))
    text = f"result: {word} (end)"
    assert redact(text) == text
    assert counted.decoded <= 16 * len(word), counted.decoded


@pytest.mark.parametrize("gap", [4096 - 16 - 8, 4096 - 16 - 2, 4096 - 16 + 2])
def test_a_short_keys_hex_running_past_the_window_read_for_another_is_removed(known: Callable[[str], None], gap: int):
    # the window decoded around the first key's hex ends 4 KB on: the second's, starting inside it, was passed over
    known(SHORT)
    written = SHORT.encode().hex()
    text = f"dump {written}{'0' * gap}{written} (end)"
    assert redact(text) == f"dump [REDACTED]{'0' * gap}[REDACTED] (end)"
