"""Where each character of a text read with its escapes as characters (:func:`magsag_mcp.key_escapes.read_as_characters`
fed by key_encodings' ``%XX``, ``&#NN;``, ``&#xNN;``, ``\\uXXXX`` and ``\\xXX``) stands in the text it was read from,
against a naive reading that writes each escape out one by one: a key found in the text so read is removed from the
text as far as its characters go, the text around it kept (the merged reading of key_escapes and key_encodings)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from magsag_mcp import key_encodings
from magsag_mcp.key_escapes import _in_text, read_as_characters
from magsag_mcp.redaction import redact
from tests import test_key_encodings
from tests.test_key_encodings import KEY, SHORT

known = test_key_encodings.known

PROPERTY = settings(max_examples=300, deadline=None)

#: each way a character is written escaped here, and one for the character as it is
_WRITINGS: tuple[Callable[[str], str], ...] = (
    lambda c: c,
    lambda c: f"%{ord(c):02X}",
    lambda c: f"%{ord(c):02x}",
    lambda c: f"&#{ord(c)};",
    lambda c: f"&#x{ord(c):x};",
    lambda c: f"\\u{ord(c):04x}",
    lambda c: f"\\\\u{ord(c):04X}",  # (a JSON string quoted again)
    lambda c: f"\\x{ord(c):02x}",
)
#: text around a key, escapes that stand for no key among it
_AROUND = st.lists(st.sampled_from(["ok ", "%41", "&#66;", "\\u0043", "\\x44", "a=b&c", "%zz", "&#;", "é", " "]))


def _written(chars: str, ways: list[int]) -> tuple[str, list[tuple[int, int]]]:
    """``chars`` each written in the way of ``ways`` (indices into :data:`_WRITINGS`), with where each stands."""
    parts: list[str] = []
    where: list[tuple[int, int]] = []
    at = 0
    for c, way in zip(chars, ways, strict=True):
        parts.append(_WRITINGS[way](c))
        where.append((at, at + len(parts[-1])))
        at += len(parts[-1])
    return "".join(parts), where


def _escapes(text: str) -> Iterator[tuple[int, int, str]]:
    return key_encodings._escaped_characters(text)


@PROPERTY
@given(st.text(alphabet="ab0Z;&#%", max_size=30).flatmap(
    lambda s: st.tuples(st.just(s), st.lists(st.integers(0, len(_WRITINGS) - 1), min_size=len(s), max_size=len(s)))
))  # fmt: skip
def test_each_character_read_maps_back_to_where_it_is_written(chars_ways: tuple[str, list[int]]):
    chars, ways = chars_ways
    # (a '%', '&' or '#' written as it is may begin an escape with the characters after it: each written escaped)
    ways = [way or 1 if c in "%&#" else way for c, way in zip(chars, ways, strict=True)]
    text, where = _written(chars, ways)
    view, escapes, longer = read_as_characters(text, _escapes(text))
    assert view == chars
    assert [(_in_text(i, escapes, longer), _in_text(i + 1, escapes, longer)) for i in range(len(view))] == where


@PROPERTY
@given(
    st.sampled_from([KEY, SHORT]).flatmap(
        lambda k: st.tuples(st.just(k), st.lists(st.integers(1, len(_WRITINGS) - 1), min_size=len(k), max_size=len(k)))
    ),
    _AROUND,
    _AROUND,
)
def test_a_key_written_with_mixed_escapes_is_removed_as_far_as_its_characters_go(
    known: Callable[[str], None], key_ways: tuple[str, list[int]], before: list[str], after: list[str]
):
    key, ways = key_ways
    known(key)
    written, _ = _written(key, ways)
    head, tail = "".join(before), "".join(after)
    assert redact(f"{head} {written} {tail}") == f"{head} [REDACTED] {tail}"


@pytest.mark.parametrize("text", ['{"msg": "caf\\u00e9 \\u2603 na\\u00efve \\x41"}', "a%20b &#233; &#x2603; \\\\u0041"])
def test_escapes_that_hold_no_key_are_kept(known: Callable[[str], None], text: str):
    known(KEY)
    known(SHORT)
    assert redact(text) == text
