"""A known key's base64 where :mod:`magsag_mcp.key_encodings` did not read it: glued after more than the 16 KB read of
one word (an attacker's text in a vendor's error body), its ``+ / =`` percent-encoded (a URL's query quoting an
``Authorization`` header), and cut by lone carriage returns (old Mac line ends, a terminal's progress lines), as they
stand or escaped as JSON writes them (``\\r``)."""

from __future__ import annotations

import base64
import random
from collections.abc import Callable

import pytest

from magsag_mcp.redaction import holds_secret, redact
from tests import test_key_encodings
from tests.test_key_encodings import KEY, SHORT

#: (test_key_encodings's fixture: none known during a test but those it registers)
known = test_key_encodings.known

#: keys whose base64 holds a "+" or "/" of its own (an Azure client secret's "~" is one): cut there by an escape
TILDED = "Xy7Q~aB3.dEf_Gh9iJ~kL2mN~oP4qR"
TILDED_SHORT = "pw7~Qz9~xL~"


def _filler(n: int, alphabet: str) -> str:
    rng = random.Random(n)
    return "".join(rng.choice(alphabet) for _ in range(n))


_BOTH_CASES = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


@pytest.mark.parametrize("before", [16_384, 16_385, 20_000, 60_000])
@pytest.mark.parametrize("inner", ["{key}", "user:{key}", "Bearer {key}"])
@pytest.mark.parametrize("key", [KEY, SHORT])
def test_a_keys_base64_glued_after_16_kb_of_base64_is_removed(
    known: Callable[[str], None], before: int, inner: str, key: str
):
    known(key)
    token = base64.b64encode(inner.format(key=key).encode()).decode()
    for filler in (_filler(before, _BOTH_CASES), _filler(before, "abcdefghijklmnop")):
        said = redact(f"your input was: {filler}{token} (401)")
        assert token not in said and token[-12:-2] not in said, said[-120:]
        assert said.endswith("[REDACTED] (401)"), said[-120:]
        assert said.startswith("your input was: " + filler[:16_000])  # (what was read and found clean is kept)
        assert holds_secret(f"run-{filler}{token}")


@pytest.mark.parametrize("brk", ["\n", "\r\n", "\\n"])
@pytest.mark.parametrize("key", [KEY, SHORT])
def test_a_keys_base64_on_lines_past_16_kb_of_lines_is_removed(known: Callable[[str], None], brk: str, key: str):
    # a MIME blob whose first 16 KB of lines are in one case (an attacker's), the key's base64 on its later lines
    known(key)
    token = base64.b64encode(f"user:{key}".encode()).decode()
    blob = _filler(76 * 270 - len(token) // 2, "abcdefghijklmnop") + token  # (a line break cuts the token in two)
    lines = brk.join(blob[at : at + 76] for at in range(0, len(blob), 76))
    said = redact(f"body:{brk}{lines}{brk}(400)")
    assert said.endswith(f"[REDACTED]{brk}(400)"), said[-200:]
    assert said.startswith(f"body:{brk}{blob[:76]}{brk}")


def test_an_images_data_holding_no_key_is_kept_whole(known: Callable[[str], None]):
    # its first 16 KB were read and its rest, unread, removed; its words are now searched for a key's base64 as written
    # whatever surrounds it (key_base64_cores), not decoded: an image holding none is kept
    known(KEY)
    image = base64.b64encode(random.Random(6).randbytes(30_000)).decode()
    assert redact(f"bad image data:image/png;base64,{image} (400)") == f"bad image data:image/png;base64,{image} (400)"


def _percent_encoded(token: str, case: str) -> str:
    return "".join(f"%{ord(c):02{case}}" if c in "+/=" else c for c in token)


@pytest.mark.parametrize("case", ["X", "x"])
@pytest.mark.parametrize("inner", ["user:{key}", "Bearer {key}"])
@pytest.mark.parametrize("key", [TILDED, TILDED_SHORT])
def test_base64_whose_plus_slash_and_padding_are_percent_encoded_is_read(
    known: Callable[[str], None], case: str, inner: str, key: str
):
    known(key)
    token = base64.b64encode(inner.format(key=key).encode()).decode()
    written = _percent_encoded(token, case)
    assert "%2" in written.upper()  # (a "+" or "/" inside the key's own base64)
    assert redact(f"GET /login?next=%2Fchat&auth={written}&page=2 (302)") == (
        "GET /login?next=%2Fchat&auth=[REDACTED]&page=2 (302)"
    )
    assert holds_secret(f"run-{written}")


def test_base64_read_through_its_escapes_keeps_what_holds_no_key(known: Callable[[str], None]):
    known(TILDED)
    other = base64.b64encode(b"user:someone~else?~ok").decode()
    text = f"GET /x?a={_percent_encoded(other, 'X')}&b=%2Fpath%3Dvalue&c=caf%C3%A9 (302)"
    assert redact(text) == text


@pytest.mark.parametrize("brk", ["\r", "\\r", "\r    "])
@pytest.mark.parametrize("first", [1, 4, 7, 11])
@pytest.mark.parametrize("inner", ["{key}", "user:{key}", "Bearer {key}"])
@pytest.mark.parametrize("key", [KEY, SHORT])
def test_base64_of_a_key_cut_by_lone_carriage_returns_is_removed(
    known: Callable[[str], None], brk: str, first: int, inner: str, key: str
):
    known(key)
    encoded = base64.b64encode(inner.format(key=key).encode()).decode()
    rest = encoded[first:]
    wrapped = brk.join([encoded[:first], *(rest[at : at + 5] for at in range(0, len(rest), 5))])
    said = redact(f"proxy echoed {wrapped} (401)")
    assert said == "proxy echoed [REDACTED] (401)", said
    assert holds_secret(f"run {wrapped}")


def test_lines_cut_by_lone_carriage_returns_holding_no_key_are_kept(known: Callable[[str], None]):
    known(KEY)
    known(SHORT)
    blob = base64.encodebytes(random.Random(7).randbytes(600)).decode().replace("\n", "\r")
    for text in (blob, "progress 10%\rprogress 55%\rDone\rAll Good", "Hello\\rWorld\\rAnother Line"):
        assert redact(text) == text, text
