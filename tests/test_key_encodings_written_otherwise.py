"""A known key re-encoded as :mod:`magsag_mcp.key_encodings` finds it, written otherwise than it looked for: HTML
character references without their ``;`` (HTML reads ``&#115`` so before a character that is no digit), base64 cut by
line breaks (MIME's 76-character lines) with up to 11 of its characters on one line, base64 after a URL's path (the
path kept), and base64 beside an image's data, which is not decoded whole (the work bounded)."""

from __future__ import annotations

import base64
import random
from collections.abc import Callable

import pytest

from magsag_mcp import key_encodings
from magsag_mcp.redaction import holds_secret, redact
from tests import test_key_encodings
from tests.test_key_encodings import KEY, SHORT

#: (test_key_encodings's fixture: none known during a test but those it registers)
known = test_key_encodings.known

#: a base64 key (its "/" is an escape key_escapes reads)
SLASHED = "Zk9+x/Qw3Lp7Rt2Vb8Nc5Md1Ke6Jh4Gf0"


@pytest.mark.parametrize(
    "reference", [lambda c: f"&#{ord(c)}", lambda c: f"&#x{ord(c):x}", lambda c: f"&#X{ord(c):04X}"]
)
@pytest.mark.parametrize("key", [KEY, SHORT])
def test_html_references_without_their_semicolon_are_read(
    known: Callable[[str], None], reference: Callable[[str], str], key: str
):
    known(key)
    written = "".join(map(reference, key))
    assert redact(f"<p>invalid credential {written} (401)</p>") == "<p>invalid credential [REDACTED] (401)</p>"
    assert redact(f"GET /v1/models?key={written}&page=2") == "GET /v1/models?key=[REDACTED]&page=2"
    assert holds_secret(f"run-{written}")


def test_a_base64_keys_slash_as_a_reference_without_its_semicolon_is_read(known: Callable[[str], None]):
    known(SLASHED)
    for slash in ("&#47", "&#x2f", "&#x2F", "&#047"):
        said = redact(f"<p>key {SLASHED.replace('/', slash)} refused</p>")
        assert said == "<p>key [REDACTED] refused</p>", (slash, said)


def test_a_reference_is_all_its_digits(known: Callable[[str], None]):
    # "&#1071" is U+042F, no "k" and a "1": text holding no key is kept
    known(KEY)
    for text in ("&#1071&#51yABCDEFghijk and &#107;3 alone", "&#1079999999 &#x6bfffffff &#" + "9" * 5000):
        assert redact(text) == text


def _wrapped(encoded: str, first: int, brk: str) -> str:
    """``encoded`` cut after its ``first`` characters, then every 76 (MIME's lines)."""
    rest = encoded[first:]
    return brk.join([encoded[:first], *(rest[at : at + 76] for at in range(0, len(rest), 76))])


@pytest.mark.parametrize("brk", ["\n", "\r\n", "\n    ", "\\n", "\\r\\n"])
@pytest.mark.parametrize("first", [1, 4, 7, 11])
@pytest.mark.parametrize("inner", ["{key}", "user:{key}", "Bearer {key}"])
@pytest.mark.parametrize("key", [KEY, SHORT])
def test_base64_of_a_key_cut_by_line_breaks_is_removed(
    known: Callable[[str], None], brk: str, first: int, inner: str, key: str
):
    known(key)
    encoded = base64.b64encode(inner.format(key=key).encode()).decode()
    said = redact(f"proxy echoed {_wrapped(encoded, first, brk)} (401)")
    assert said == "proxy echoed [REDACTED] (401)", said
    assert holds_secret(f"run {_wrapped(encoded, first, brk)}")


@pytest.mark.parametrize("brk", ["\n", "\r\n"])
@pytest.mark.parametrize("filler", range(0, 60, 7))
def test_a_key_inside_a_mime_blob_is_removed(known: Callable[[str], None], brk: str, filler: int):
    # a gateway quoting the body it refused as MIME writes base64: the key's encoding at any place of its lines
    known(KEY)
    body = '{"model": "gpt-4o", "note": "' + "x" * filler + f'", "api_key": "{KEY}", "stream": false}}'
    blob = base64.encodebytes(body.encode()).decode().replace("\n", brk).rstrip()
    said = redact(f"body:{brk}{blob}{brk}(400)")
    assert said == f"body:{brk}[REDACTED]{brk}(400)", said


def test_lines_of_base64_holding_no_key_are_kept(known: Callable[[str], None]):
    known(KEY)
    known(SHORT)
    blob = base64.encodebytes(random.Random(3).randbytes(600)).decode()
    for text in (blob, f"line One\nline Two\n{KEY[:10]}\n{KEY[12:20]}", "Hello\nWorld\nAnother Line\\nWith Words"):
        assert redact(text) == text, text


@pytest.mark.parametrize("inner", ["{key}", "user:{key}", "Bearer {key}"])
@pytest.mark.parametrize(
    "path", ["https://gw.example/v1/auth/", "GET /v1/a/", "GET /keys/", "GET /v1/keys/", "GET /ab/cd/efg/"]
)
@pytest.mark.parametrize("key", [KEY, SHORT])
def test_the_path_before_base64_of_a_key_is_kept(known: Callable[[str], None], path: str, inner: str, key: str):
    known(key)
    written = base64.b64encode(inner.format(key=key).encode()).decode()
    assert redact(f"no route for {path}{written} (404)") == f"no route for {path}[REDACTED] (404)"


def test_an_images_data_is_not_decoded_whole(known: Callable[[str], None], monkeypatch: pytest.MonkeyPatch):
    # an error's body quoting a 1 MB data URL: decoded whole at each of its 4 alignments, and each key's pieces looked
    # for in each, it made a redaction some 143 ms long with 20 keys known (timeit); the key's own token beside it is
    # still found (the shortest words are read first)
    known(KEY)
    decoded: list[int] = []
    real = key_encodings._decoded
    monkeypatch.setattr(key_encodings, "_decoded", lambda word: decoded.append(len(word)) or real(word))
    rng = random.Random(4)
    image = base64.b64encode(rng.randbytes(750_000)).decode()
    token = base64.b64encode(f"user:{KEY}".encode()).decode()
    text = f'{{"error": "bad image data:image/png;base64,{image}", "auth": "{token}"}}'
    said = redact(text)
    # (its first 16 KB read and found clean are kept, its rest, unread, removed: a key's base64 glued there stayed
    # whole, see test_key_encodings_layers. The key patterns read it around their trigger words, see
    # test_key_shapes_windows, and find no key's shape in it: masked past 64 KB from the first such word on, the
    # image's rest was one [REDACTED] more)
    kept = image[: key_encodings._WORD_READ - 4 * (len(KEY) // 3 + 2)]
    assert said == f'{{"error": "bad image data:image/png;base64,{kept}[REDACTED]", "auth": "[REDACTED]"}}'

    assert sum(decoded) <= 4 * key_encodings._WORD_READ + 4 * len(token)
    # many words of base64 (an embeddings' list): what is decoded of all of them is bounded too
    decoded.clear()
    many = " ".join(base64.b64encode(rng.randbytes(3000)).decode() for _ in range(200))
    redact(many)
    assert sum(decoded) <= 4 * (key_encodings._TEXT_READ + key_encodings._WORD_READ)


def test_the_words_a_spent_reading_removes_are_the_last_the_text_gives_whatever_the_hash_seed(
    known: Callable[[str], None],
):
    # words of one length were read in a set's order: which of them a spent reading removed whole followed the
    # process's hash seed (PYTHONHASHSEED=1 removed the first pad of the test above and kept later ones), and the same
    # text was redacted otherwise by each process. Read in the text's order, the words read are its first, and those
    # removed its last: the same in every process
    known(KEY)
    pads = [f"Pad{i:016x}X" for i in range(300)]
    read = key_encodings._TEXT_READ // max(len(pads[0]), key_encodings._WORD_COST)
    assert read < len(pads)  # (the reading is spent before the last words)
    said = redact(" ".join(pads))
    assert said == " ".join(pads[:read] + ["[REDACTED]"] * (len(pads) - read))


def test_base64_of_a_short_keys_half_alone_is_kept(known: Callable[[str], None]):
    # a key of 16 to 23 characters: its halves are looked for only where a line break cuts it, as redact() reads it
    # as it is (a half alone decoded asked for the token's start of no span, and redact() raised)
    key = "Hx4TqZ9wLm2Vb7Nc5R"
    known(key)
    half = base64.b64encode(f"zz{key[:9]}qqqqqqqqq".encode()).decode()
    assert redact(f"id {half} and {key[:9]} alone") == f"id {half} and {key[:9]} alone"
    whole = base64.b64encode(f"user:{key}".encode()).decode()
    assert redact(f"id {whole}") == "id [REDACTED]"


@pytest.mark.parametrize("brk", [None, "\n", "\\n"])
def test_a_keys_base64_after_words_that_spend_the_reading_is_removed(known: Callable[[str], None], brk: str | None):
    # an error body quoting text an attacker wrote: 300 words of base64's alphabet in both cases, each shorter than the
    # key's token, read first (the shortest first) and spending the text's reading; the token after them, not decoded,
    # stayed whole. Now a word (or run of lines) left unread once the reading is spent is removed whole
    known(KEY)
    rng = random.Random(5)
    pads = [f"Pad{rng.getrandbits(64):016x}X" for _ in range(300)]
    token = base64.b64encode(f"user:{KEY}".encode()).decode()
    written = token if brk is None else _wrapped(token, 7, brk)
    text = f"your input was: {' '.join(pads)} (401) auth {written} end"
    said = redact(text)
    assert token[:8] not in said and token[-8:] not in said, said[-200:]
    assert said.endswith(" auth [REDACTED] end"), said[-200:]
    assert said.startswith(f"your input was: {pads[0]} "), said[:200]  # (what was read before the bound is kept)
    assert holds_secret(text)
    # a text whose reading is not spent keeps its words
    few = f"your input was: {' '.join(pads[:100])} (401)"
    assert redact(few) == few
