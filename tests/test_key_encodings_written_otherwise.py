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
    # for in each, it made a redaction some 143 ms long with 20 keys known (timeit); then its first 16 KB were read and
    # its rest removed. Now only the window around a key's base64 as written (key_base64_cores) is decoded: the image,
    # holding none, is kept whole and not decoded, and the key's own token beside it is found
    known(KEY)
    decoded: list[int] = []
    real = key_encodings._decoded
    monkeypatch.setattr(key_encodings, "_decoded", lambda word: decoded.append(len(word)) or real(word))
    rng = random.Random(4)
    image = base64.b64encode(rng.randbytes(750_000)).decode()
    token = base64.b64encode(f"user:{KEY}".encode()).decode()
    text = f'{{"error": "bad image data:image/png;base64,{image}", "auth": "{token}"}}'
    said = redact(text)
    assert said == f'{{"error": "bad image data:image/png;base64,{image}", "auth": "[REDACTED]"}}'
    assert sum(decoded) <= 4 * len(token)
    # many words of base64 (an embeddings' list): none decoded (those within the key patterns' first 64 KB all kept:
    # past them key_shapes masks from where a shape could start, see test_key_shapes_windows)
    decoded.clear()
    many = [base64.b64encode(rng.randbytes(3000)).decode() for _ in range(200)]
    assert redact(" ".join(many)).startswith(" ".join(many[:15]))
    assert decoded == []


def test_words_past_what_was_the_reading_are_kept_whatever_the_hash_seed(known: Callable[[str], None]):
    # words of one length were read in a set's order, and those a spent reading (32 KB) removed whole followed the
    # process's hash seed; then the text's last words were removed in every process. None is decoded now unless it
    # holds a key's base64 as written (key_base64_cores): all are kept
    known(KEY)
    pads = [f"Pad{i:016x}X" for i in range(300)]
    assert redact(" ".join(pads)) == " ".join(pads)


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
    # stayed whole. Then a word (or run of lines) left unread once the reading was spent was removed whole; now no
    # reading is spent (only words holding a key's base64 as written are decoded) and the pads are all kept
    known(KEY)
    rng = random.Random(5)
    pads = [f"Pad{rng.getrandbits(64):016x}X" for _ in range(300)]
    token = base64.b64encode(f"user:{KEY}".encode()).decode()
    written = token if brk is None else _wrapped(token, 7, brk)
    text = f"your input was: {' '.join(pads)} (401) auth {written} end"
    said = redact(text)
    assert token[:8] not in said and token[-8:] not in said, said[-200:]
    assert said.endswith(" auth [REDACTED] end"), said[-200:]
    assert said == f"your input was: {' '.join(pads)} (401) auth [REDACTED] end", said[:200]
    assert holds_secret(text)
    few = f"your input was: {' '.join(pads[:100])} (401)"
    assert redact(few) == few
