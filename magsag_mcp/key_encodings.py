"""A known key a vendor or a gateway echoes re-encoded whole, for :func:`~magsag_mcp.redaction.redact` to find it so:
each of its characters percent-encoded (``%6B%33...``: a gateway quoting the request line it refused), each written
as an HTML character reference (``&#107;&#51;...``, ``&#x6b;...``: an error page's encoder that escapes everything),
or base64 of it (``azN5...``), of ``Bearer <key>`` or of ``user:<key>`` (a proxy quoting the ``Authorization`` header
it was sent). :mod:`~magsag_mcp.key_escapes` undoes only the escapes of ``/``, ``+`` and ``=``: a key with none of
them, so encoded, stayed whole in the error, the ledger and the logs.

No false positive is possible on ordinary text: a run is removed only where what it decodes to holds a key the process
knows (or, for a key of :data:`~magsag_mcp.redaction.PREFIX_KEY_MIN` characters or more, one of its pieces), never
because it merely looks encoded. A percent or HTML run is removed as far as the key's characters go (the text around
it, a URL's other parameters, is kept); a base64 token, opaque as a whole, is removed whole.
"""

from __future__ import annotations

import binascii
import functools
import re

from .key_escapes import _in_text
from .key_pieces import piece_table, table_spans, without_spans

#: one character percent-encoded or written as an HTML character reference (decimal or hex), each read as the one
#: character it stands for
_CHARACTER_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})|&#([0-9]{1,7});|&#[xX]([0-9A-Fa-f]{1,6});")
#: a text holding none of these holds no such escape (one search, in C, before any decoding)
_AN_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}|&#")
#: a run of base64 (standard or URL-safe) as long as the shortest key registered (6 characters) encodes to; each is
#: decoded alone (a JWT's segments, split by ``.``, each one)
_BASE64_TOKEN = re.compile(r"([A-Za-z0-9+/_-]{8,})=*")
_BASE64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_"
#: every byte but base64's own (either alphabet) made a space: a text's words of base64 are what ``split()`` gives
_ONLY_BASE64 = bytes(c if c in _BASE64_ALPHABET else 0x20 for c in range(256))
_URL_SAFE = bytes.maketrans(b"-_", b"+/")


@functools.lru_cache(maxsize=64)
def _ascii_table(keys: tuple[str, ...], least: int) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """:func:`piece_table` of those of ``keys`` written in ASCII and holding no escape of their own (their
    :func:`~magsag_mcp.key_escapes.escaped_forms` are the same key, looked for decoded)."""
    return piece_table(tuple(k for k in keys if k.isascii() and not any(c in k for c in "%\\&")), least)


def without_encoded_keys(text: str, keys: tuple[str, ...], least: int) -> str:
    """``text`` less each of ``keys`` (and, one of ``least`` characters or more, each run of it holding one of its
    pieces) found percent-encoded or written as HTML character references, a character or more of it so written, or
    inside a base64 token."""
    if not keys:
        return text
    table = _ascii_table(keys, least)
    if not table:
        return text
    if _AN_ESCAPE.search(text) is not None:
        text = _without_escaped_characters(text, table)
    return _without_base64(text, table)


def _holds(view: str, table: tuple[tuple[str, tuple[str, ...]], ...]) -> bool:
    return any(piece in view for key, pieces in table for piece in pieces or (key,))


def _without_escaped_characters(text: str, table: tuple[tuple[str, tuple[str, ...]], ...]) -> str:
    """``text`` less the keys found where its ``%XX`` and ``&#NN;`` are read as the characters they stand for."""
    parts: list[str] = []
    escapes: list[int] = []
    longer: list[int] = []
    done = shown = more = 0
    for found in _CHARACTER_ESCAPE.finditer(text):
        pct, dec, hx = found.groups()
        code = int(pct, 16) if pct else int(dec) if dec else int(hx, 16)
        if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            continue  # (no character: read as written)
        parts += (text[done : found.start()], chr(code))
        shown += found.start() - done
        escapes.append(shown)
        shown += 1
        more += found.end() - found.start() - 1
        longer.append(more)
        done = found.end()
    if not escapes:
        return text
    view = "".join(parts) + text[done:]
    if not _holds(view, table):
        return text
    spans = table_spans(view, table)
    shown_spans = [(_in_text(s, escapes, longer), _in_text(e, escapes, longer)) for s, e in spans]
    # (a run written as it is, no escape in it, is left to redact()'s own look-ups)
    return without_spans(
        text, [(s, e) for (s, e), (vs, ve) in zip(shown_spans, spans, strict=True) if e - s != ve - vs]
    )


@functools.lru_cache(maxsize=64)
def _shortest_written(table: tuple[tuple[str, tuple[str, ...]], ...]) -> int:
    """The fewest base64 characters that encode a key of ``table`` whole (a short one) or a piece of one (a long one):
    4 for each 3 of its characters, the last group's padding left out."""
    return min(-(-4 * min(len(piece) for piece in pieces or (key,)) // 3) for key, pieces in table)


def _without_base64(text: str, table: tuple[tuple[str, tuple[str, ...]], ...]) -> str:
    """``text`` less each base64 token whose bytes hold a key (the key, ``Bearer <key>``, ``user:<key>``, a JSON
    holding it), however many characters of base64's alphabet go before it in its word (a URL's path), the word
    removed whole.

    Its words are found by a byte table and a split, in C, and only those that may be base64 of a key are
    decoded: as long as the shortest key known (or piece of one) encodes to, and in both cases (base64 of 12
    characters of text or more is in one case some 1 time in 2,000 at most). A search for the words by a pattern,
    and the decoding of each, made a 1 KB error's redaction some 4 times as long: the pattern finds where they stand
    only in a text holding one."""
    least = _shortest_written(table)
    words = text.encode("ascii", "replace").translate(_ONLY_BASE64).split()
    if not words or max(map(len, words)) < least:
        return text
    hiding: set[bytes] = set()
    for word in sorted(set(words), key=len, reverse=True):  # (sorted in C: the long ones only are looked at)
        if len(word) < least:
            break
        # (read from each of its first 4 characters: base64 after a path, "/v1/auth/<base64>", is one word with it,
        # '/' being base64's own, and read from the word's start, it decodes to other bytes than the key's)
        if not word.islower() and not word.isupper() and any(_holds(_decoded(word[at:]), table) for at in range(4)):
            hiding.add(word)
    if not hiding:
        return text
    spans = [found.span() for found in _BASE64_TOKEN.finditer(text) if found[1].encode("ascii") in hiding]
    return without_spans(text, spans)


def _decoded(word: bytes) -> str:
    """``word``, a run of base64 (either alphabet, its padding left out), decoded; "" when it is none."""
    if len(word) % 4 == 1:  # (a last character that completes no byte)
        word = word[:-1]
    try:
        return binascii.a2b_base64(word.translate(_URL_SAFE) + b"=" * (-len(word) % 4)).decode("latin-1")
    except binascii.Error:
        return ""
