"""A known key a vendor or a gateway echoes re-encoded whole, for :func:`~magsag_mcp.redaction.redact` to find it so:
each of its characters percent-encoded (``%6B%33...``: a gateway quoting the request line it refused), each written
as an HTML character reference (``&#107;&#51;...``, ``&#x6b;...``: an error page's encoder that escapes everything),
or base64 of it (``azN5...``), of ``Bearer <key>`` or of ``user:<key>`` (a proxy quoting the ``Authorization`` header
it was sent). :mod:`~magsag_mcp.key_escapes` undoes only the escapes of ``/``, ``+`` and ``=``: a key with none of
them, so encoded, stayed whole in the error, the ledger and the logs.

No false positive is possible on ordinary text: a run is removed only where what it decodes to holds a key the process
knows (or, for a key of :data:`~magsag_mcp.redaction.PREFIX_KEY_MIN` characters or more, one of its pieces), never
because it merely looks encoded. A percent or HTML run is removed as far as the key's characters go (the text around
it, a URL's other parameters, is kept); a base64 token, opaque as a whole, is removed from its start to its word's end
(a URL's path before it in the word kept), over the line breaks that cut it (MIME's lines). Only the base64 words
holding a key's base64 as written whatever surrounds it are decoded, around it
(:mod:`~magsag_mcp.key_base64_cores`): an image's data in an error's body is searched, not decoded.
"""

from __future__ import annotations

import binascii
import bisect
import functools
import re
from collections.abc import Iterator

from .key_base64_cores import Cores, cores_of, hits_in
from .key_escapes import _in_text, read_as_characters
from .key_hex import hex_spans
from .key_pieces import piece_table, table_spans, without_spans

#: one character percent-encoded or written as an HTML character reference (decimal or hex), each read as the one
#: character it stands for. A reference's ``;`` may be left out (HTML reads ``&#115`` so wherever the next character
#: is no digit: the reference is all its digits), as an error page's encoder that writes none does: taken with it
#: only, such a key stayed whole. Its digits are all taken (a run too long for a character is read as written). JSON's
#: ``\\u0073`` and a JavaScript or C string's ``\\x73`` too (with the backslashes of a string quoted again): a JSON
#: encoder escaping every character (``\\u0073\\u006b\\u002d...``) left a key whole in the text
_CHARACTER_ESCAPE = re.compile(
    r"%([0-9A-Fa-f]{2})|&#([0-9]+);?|&#[xX]([0-9A-Fa-f]+);?|\\+(?:u([0-9A-Fa-f]{4})|x([0-9A-Fa-f]{2}))"
)
#: the most digits of a character reference that may stand for a character (U+10FFFF is 1114111, or 10FFFF)
_DECIMAL_MOST, _HEX_MOST = 7, 6
#: a text holding none of these holds no such escape (one search, in C, before any decoding)
_AN_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}|&#|\\[ux][0-9A-Fa-f]{2}")
#: a run of base64 (standard or URL-safe) as long as the shortest key registered (6 characters) encodes to; each is
#: decoded alone (a JWT's segments, split by ``.``, each one)
_BASE64_TOKEN = re.compile(r"([A-Za-z0-9+/_-]{8,})=*")
_BASE64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_"
#: every byte but base64's own (either alphabet) made a space: a text's words of base64 are what ``split()`` gives
_ONLY_BASE64 = bytes(c if c in _BASE64_ALPHABET else 0x20 for c in range(256))
_URL_SAFE = bytes.maketrans(b"-_", b"+/")


@functools.lru_cache(maxsize=64)
def _ascii_table(keys: tuple[str, ...], least: int) -> tuple[tuple[tuple[str, tuple[str, ...]], ...], int]:
    """:func:`piece_table` of those of ``keys`` written in ASCII and holding no escape of their own (their
    :func:`~magsag_mcp.key_escapes.escaped_forms` are the same key, looked for decoded), with its
    :func:`_shortest_written` (0 for no table), found once a set of keys: a text judged each call (a call's fresh run
    id, in ``holds_secret``) hashed the nested table again to look it up, some 1,300 instructions a text."""
    table = piece_table(tuple(k for k in keys if k.isascii() and not any(c in k for c in "%\\&")), least)
    return table, _shortest_written(table) if table else 0


def without_encoded_keys(text: str, keys: tuple[str, ...], least: int) -> str:
    """``text`` less each of ``keys`` (and, one of ``least`` characters or more, each run of it holding one of its
    pieces) found percent-encoded or written as HTML character references, a character or more of it so written,
    inside a base64 token, or written in hex (:mod:`~magsag_mcp.key_hex`)."""
    if not keys:
        return text
    table, shortest = _ascii_table(keys, least)
    if not table:
        return text
    if _AN_ESCAPE.search(text) is not None:
        text = _without_escaped_characters(text, table, shortest)
    elif len(text) < shortest:  # (no word of it is as long as base64 of a key or piece: not encoded, nor hex)
        return text
    else:
        text = without_spans(text, _base64_spans(text, table, shortest))
    return without_spans(text, hex_spans(text, table))


def _holds(view: str, table: tuple[tuple[str, tuple[str, ...]], ...]) -> bool:
    return any(piece in view for key, pieces in table for piece in pieces or (key,))


def _without_escaped_characters(text: str, table: tuple[tuple[str, tuple[str, ...]], ...], shortest: int) -> str:
    """``text`` less the keys found where its ``%XX`` and ``&#NN;`` are read as the characters they stand for, and the
    base64 holding one so read: base64 whose ``+``, ``/`` and ``=`` a URL's query writes ``%2B``, ``%2F`` and ``%3D``
    (a gateway quoting the ``Authorization`` header it refused in a redirect's query), read as written, was cut into
    words at each, and a key's base64 so cut was found in none of them (a short key's whole, a long one's as far as
    the first escape). ``shortest``: :func:`_shortest_written` of ``table``."""
    view, escapes, longer = read_as_characters(text, _escaped_characters(text))
    if not escapes:
        return without_spans(text, _base64_spans(text, table, shortest)) if len(text) >= shortest else text
    spans = table_spans(view, table) if _holds(view, table) else []
    shown_spans = [(_in_text(s, escapes, longer), _in_text(e, escapes, longer)) for s, e in spans]
    # (a run written as it is, no escape in it, is left to redact()'s own look-ups; base64, found in the text read
    # so, escapes or none, is removed here: the text's words are judged once)
    encoded = _base64_spans(view, table, shortest) if len(view) >= shortest else []
    return without_spans(
        text,
        [(s, e) for (s, e), (vs, ve) in zip(shown_spans, spans, strict=True) if e - s != ve - vs]
        + [(_in_text(s, escapes, longer), _in_text(e, escapes, longer)) for s, e in encoded],
    )


def _escaped_characters(text: str) -> Iterator[tuple[int, int, str]]:
    """Each ``%XX`` and ``&#NN;`` / ``&#xNN;`` of ``text`` that stands for a character: its start, its end and the
    character (one of too many digits, or of no character, is read as written)."""
    for found in _CHARACTER_ESCAPE.finditer(text):
        pct, dec, hx, uni, byte = found.groups()
        if len(dec or "") > _DECIMAL_MOST or len(hx or "") > _HEX_MOST:
            continue  # (no character: read as written)
        code = int(pct or uni or byte, 16) if pct or uni or byte else int(dec) if dec else int(hx, 16)
        if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            continue  # (no character: read as written)
        yield found.start(), found.end(), chr(code)


def _shortest_written(table: tuple[tuple[str, tuple[str, ...]], ...]) -> int:
    """The fewest base64 characters that encode a key of ``table`` whole (a short one) or a piece of one (a long one):
    4 for each 3 of its characters, the last group's padding left out."""
    return min(-(-4 * min(len(piece) for piece in pieces or (key,)) // 3) for key, pieces in table)


def _base64_spans(text: str, table: tuple[tuple[str, tuple[str, ...]], ...], least: int) -> list[tuple[int, int]]:
    """Where in ``text`` each base64 token stands whose bytes hold a key (the key, ``Bearer <key>``, ``user:<key>``, a
    JSON holding it), however many characters of base64's alphabet go before it in its word (a URL's path, kept), or cut
    by line breaks (MIME's lines of 76 characters: :data:`_WRAPPED`).

    Its words are found by a byte table and a split, in C, and only those that hold a key's (or piece's) base64 as
    written whatever surrounds it (:func:`~magsag_mcp.key_base64_cores.cores_of`, searched in C) are decoded, around
    where it stands: a text's work grows as its length (times the keys known), not as its words decoded. Decoding
    each word of base64 at its 4 alignments was bounded (32 KB of a text's): once spent, every word left that might
    be base64 of a key was removed whole, and a long tool result or error lost its innocent text. ``least``:
    :func:`_shortest_written` of ``table``."""
    words = text.encode("ascii", "replace").translate(_ONLY_BASE64).split()
    if not words:
        return []
    wrapped = any(text.find(brk) != -1 for brk in _LINE_BREAKS)
    if not wrapped and max(map(len, words)) < least:
        return []
    cores = cores_of(table)
    # (each word once, in the text's order; one whose letters are all in one case holds no core in both cases)
    mixed = cores.mixed
    candidates = [w for w in dict.fromkeys(words) if len(w) >= least and not (mixed and (w.islower() or w.isupper()))]
    hiding = _starts_in(candidates, table, cores) if candidates else {}
    spans = [
        (found.start() + hiding[word], found.end())
        for found in _BASE64_TOKEN.finditer(text)
        if (word := found[1].encode("ascii")) in hiding
    ] if hiding else []  # fmt: skip
    if wrapped:
        spans += _wrapped_spans(text, table, least, cores)
    return spans


def _starts_in(words: list[bytes], table: tuple[tuple[str, tuple[str, ...]], ...], cores: Cores) -> dict[bytes, int]:
    """Each of ``words`` that holds a key's base64, with where in it its token starts (:func:`_token_start`): the
    words joined by spaces and searched once for each core."""
    blob = b" ".join(words).translate(_URL_SAFE)
    hits = hits_in(blob, cores)
    if not hits:
        return {}
    starts: list[int] = []
    at = 0
    for word in words:
        starts.append(at)
        at += len(word) + 1
    by_word: dict[int, list[tuple[int, int]]] = {}
    for hit, length in hits:
        index = bisect.bisect_right(starts, hit) - 1
        by_word.setdefault(index, []).append((hit - starts[index], length))
    hiding: dict[bytes, int] = {}
    for index, found in by_word.items():
        start = _token_start(words[index], table, found)
        if start is not None:
            hiding[words[index]] = start
    return hiding


#: how far before a key's base64 in its word the token's start is looked for (the text it decodes to before the key:
#: ``user:``, ``Bearer ``, a JSON's start): a token starting farther back is removed from there on, the start of the
#: word kept decoding to text that holds no key
_LOOK_BACK = 4096


def _token_start(
    word: bytes, table: tuple[tuple[str, tuple[str, ...]], ...], hits: list[tuple[int, int]]
) -> int | None:
    """Where in ``word`` (a run of base64's alphabet) the base64 token holding a key of ``table`` starts (None: none
    does), from the first of ``hits`` (where a core stands in it, and its length) that decodes to a key: the word
    around it read from each of 4 characters ('/' is base64's own, so "/v1/auth/<base64>" is one word, which read from
    its start decodes to other bytes than the key's). The token is taken back from the key's first byte over the text
    it decodes to (``user:``, ``Bearer ``, a JSON's start) as far as a ``/`` or the word's start (at most
    :data:`_LOOK_BACK` characters): a URL's path before it is kept. What is decoded is a bounded window at each hit,
    and a word's hits are tried only until one holds a key (its token then goes on to the word's end)."""
    for hit, length in hits:
        aligned = _aligned_on_a_key(word, table, hit, length)
        if aligned is None:
            continue
        first = max(0, hit - _LOOK_BACK)
        read = word[first : hit + length + 8]
        at = (aligned - first) % 4
        decoded = _decoded(read[at:])
        # (a short key's half alone is a key's only where a line break cuts it: table_spans then finds none)
        spans = table_spans(decoded, table) if _holds(decoded, table) else None
        if spans:
            group = min(start for start, _ in spans) // 3
            start = at + 4 * group
            while group and all(0x20 <= ord(c) < 0x7F for c in decoded[3 * group - 3 : 3 * group]):
                group -= 1
                if first + at + 4 * group == 0 or read[at + 4 * group - 1 : at + 4 * group] == b"/":
                    start = at + 4 * group
            return first + start
    return None


def _aligned_on_a_key(word: bytes, table: tuple[tuple[str, tuple[str, ...]], ...], hit: int, length: int) -> int | None:
    """Where in ``word`` base64's 4-character groups start (0 to 3) when the core at ``hit`` (``length`` characters)
    decodes to a key of ``table`` (or a piece), read from the few characters around it only; None: it does not (its
    characters before it make the key's first byte another). Decoding the look-back window at each of 4 alignments for
    every hit, one that held no key (a word repeating a core after a character that spoils it) decoded some 16 KB a
    hit: a text's work grew as its length times the look-back, not as its length."""
    near = max(0, hit - 8)
    read = word[near : hit + length + 8]
    for at in range(4):
        if _holds(_decoded(read[at:]), table):
            return (near + at) % 4
    return None


#: a line break as it is and as JSON writes it: a text holding none holds no base64 cut by one (4 look-ups in C: a
#: pattern finding a break between two characters of base64's searched a 1 MB data URL for 100 ms)
_LINE_BREAKS = ("\n", "\r", "\\n", "\\r")
#: each line break (JSON's escaped one too), and the indentation after it
_BREAK_IN_RUN = re.compile(r"(?:\r\n?|\n|\\r(?:\\n)?|\\n)[ \t]*")
#: base64 cut by line breaks (MIME's ``base64`` writes lines of 76 characters, PEM 64), from a word ending a line: the
#: lines of one word after it, and the next line's first word (or its padding alone). Cut so, a key's base64 left up
#: to 11 of its characters on a line (fewer than a piece encodes to), and a short key's none whole. Each part taken
#: whole, never given back (possessive: a run over a whole blob's lines is one pass)
_WRAPPED = re.compile(r"[A-Za-z0-9+/_-]++=*+(?:(?:\r\n?|\n|\\r(?:\\n)?|\\n)[ \t]*+(?:[A-Za-z0-9+/_-]++=*+|=++))++")
#: how far before a line break the word it ends is looked for its start (a line of MIME is 76 characters: a longer
#: one is read from this far back)
_LINE_LONGEST = 1024
#: base64's characters (either alphabet), its padding too: a line's last word is what ``rstrip`` of them takes (in C)
_BASE64_WORD = _BASE64_ALPHABET.decode("ascii")
_BASE64_CHARACTERS = frozenset(_BASE64_WORD + "=")
#: a line break between two characters of base64 (its ``\n``, or an escaped one's ``\``, found first: a search starting
#: with an alternation of the breaks tried each at every character, 143 ms a 1 MB blob holding one break, 10 now, and
#: each of the 20,000 breaks of a text of them was a step of the loop in Python)
_B = "[A-Za-z0-9+/=_-]"
_BREAK_BETWEEN_BASE64 = re.compile(
    rf"[\n\r\\](?<={_B}\n|\r\n|{_B}\r|{_B}\\)(?=(?<=[\n\r])[ \t]*{_B}|(?<=\\)(?:r(?:\\n)?|n)[ \t]*{_B})"
)


def _wrapped_spans(
    text: str, table: tuple[tuple[str, tuple[str, ...]], ...], least: int, cores: Cores
) -> list[tuple[int, int]]:
    """Where in ``text`` base64 holding a key is cut by line breaks (see :data:`_WRAPPED`): from the token's start (as
    :func:`_token_start` finds it in the lines joined, searched for ``cores``) to the run's end."""
    spans: list[tuple[int, int]] = []
    done = 0
    for brk in _BREAK_BETWEEN_BASE64.finditer(text):
        at = brk.start() - (text[brk.start() - 1] == "\r")  # (a "\r\n"'s start)
        if at < done or not at or text[at - 1] not in _BASE64_CHARACTERS:
            continue
        earliest = max(0, at - _LINE_LONGEST)
        line_start = max(text.rfind("\n", earliest, at), text.rfind("\r", earliest, at)) + 1 or earliest
        before = text[line_start:at].rstrip("=")
        run = _WRAPPED.match(text, at - (len(before) - len(before.rstrip(_BASE64_WORD))))
        if run is None or run.end() - run.start() < least:
            continue
        done = run.end()
        parts = _lines_of(run[0])
        joined = "".join(line for _, line in parts).encode("ascii")
        if len(joined) < least:
            continue
        hits = hits_in(joined.translate(_URL_SAFE), cores)
        start = _token_start(joined, table, hits) if hits else None
        if start is None:
            continue
        for line_at, line in parts:  # (where the joined word's character stands in the text)
            if start < len(line):
                spans.append((run.start() + line_at + start, run.end()))
                break
            start -= len(line)
    return spans


def _lines_of(run: str) -> list[tuple[int, str]]:
    """The base64 of each line of ``run`` (a match of :data:`_WRAPPED`), its padding left out, each with where it
    starts in ``run``."""
    lines: list[tuple[int, str]] = []
    at = 0
    for brk in _BREAK_IN_RUN.finditer(run):
        lines.append((at, run[at : brk.start()].rstrip("=")))
        at = brk.end()
    return [*lines, (at, run[at:].rstrip("="))]


def _decoded(word: bytes) -> str:
    """``word``, a run of base64 (either alphabet, its padding left out), decoded; "" when it is none."""
    if len(word) % 4 == 1:  # (a last character that completes no byte)
        word = word[:-1]
    try:
        return binascii.a2b_base64(word.translate(_URL_SAFE) + b"=" * (-len(word) % 4)).decode("latin-1")
    except binascii.Error:
        return ""
