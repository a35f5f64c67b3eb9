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
(a URL's path before it in the word kept), over the line breaks that cut it (MIME's lines). What is decoded of a text
is bounded (an image's data in an error's body: see :data:`_WORD_READ`).
"""

from __future__ import annotations

import binascii
import functools
import re
from collections.abc import Iterator

from .key_escapes import _in_text, read_as_characters
from .key_pieces import piece_table, table_spans, without_spans

#: one character percent-encoded or written as an HTML character reference (decimal or hex), each read as the one
#: character it stands for. A reference's ``;`` may be left out (HTML reads ``&#115`` so wherever the next character
#: is no digit: the reference is all its digits), as an error page's encoder that writes none does: taken with it
#: only, such a key stayed whole. Its digits are all taken (a run too long for a character is read as written)
_CHARACTER_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})|&#([0-9]+);?|&#[xX]([0-9A-Fa-f]+);?")
#: the most digits of a character reference that may stand for a character (U+10FFFF is 1114111, or 10FFFF)
_DECIMAL_MOST, _HEX_MOST = 7, 6
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
def _ascii_table(keys: tuple[str, ...], least: int) -> tuple[tuple[tuple[str, tuple[str, ...]], ...], int]:
    """:func:`piece_table` of those of ``keys`` written in ASCII and holding no escape of their own (their
    :func:`~magsag_mcp.key_escapes.escaped_forms` are the same key, looked for decoded), with its
    :func:`_shortest_written` (0 for no table), found once a set of keys: a text judged each call (a call's fresh run
    id, in ``holds_secret``) hashed the nested table again to look it up, some 1,300 instructions a text."""
    table = piece_table(tuple(k for k in keys if k.isascii() and not any(c in k for c in "%\\&")), least)
    return table, _shortest_written(table) if table else 0


def without_encoded_keys(text: str, keys: tuple[str, ...], least: int) -> str:
    """``text`` less each of ``keys`` (and, one of ``least`` characters or more, each run of it holding one of its
    pieces) found percent-encoded or written as HTML character references, a character or more of it so written, or
    inside a base64 token."""
    if not keys:
        return text
    table, shortest = _ascii_table(keys, least)
    if not table:
        return text
    if _AN_ESCAPE.search(text) is not None:
        return _without_escaped_characters(text, table, shortest)
    if len(text) < shortest:  # (no word of it is as long as base64 of a key or piece: not encoded, split and measured)
        return text
    return without_spans(text, _base64_spans(text, table, shortest))


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
        pct, dec, hx = found.groups()
        if len(dec or "") > _DECIMAL_MOST or len(hx or "") > _HEX_MOST:
            continue  # (no character: read as written)
        code = int(pct, 16) if pct else int(dec) if dec else int(hx, 16)
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

    Its words are found by a byte table and a split, in C, and only those that may be base64 of a key are
    decoded: as long as the shortest key known (or piece of one) encodes to, and in both cases (base64 of 12
    characters of text or more is in one case some 1 time in 2,000 at most). A search for the words by a pattern,
    and the decoding of each, made a 1 KB error's redaction some 4 times as long: the pattern finds where they stand
    only in a text holding one. What is decoded is bounded (:class:`_Reading`): an image's data in an error's body
    is not decoded whole at each of its 4 alignments. ``least``: :func:`_shortest_written` of ``table``."""
    words = text.encode("ascii", "replace").translate(_ONLY_BASE64).split()
    if not words:
        return []
    wrapped = any(text.find(brk) != -1 for brk in _LINE_BREAKS)
    if not wrapped and max(map(len, words)) < least:
        return []
    reading = _Reading()
    hiding: dict[bytes, int] = {}
    # (the shortest first: a key's own token is some dozens of characters, an image's data a million; words of one
    # length in the order the text gives them, each once: read from a set, which words a spent reading removed followed
    # the process's hash seed, and the same text was redacted otherwise by each process)
    for word in sorted(dict.fromkeys(word for word in words if len(word) >= least), key=len):
        if not word.islower() and not word.isupper():
            if reading.spent():
                hiding[word] = 0  # (not decoded: removed whole, see _Reading)
                continue
            start = _token_start(word, table, reading)
            if start is not None:
                hiding[word] = start
    spans = [
        (found.start() + hiding[word], found.end())
        for found in _BASE64_TOKEN.finditer(text)
        if (word := found[1].encode("ascii")) in hiding
    ] if hiding else []  # fmt: skip
    if wrapped:
        spans += _wrapped_spans(text, table, least, reading)
    return spans


#: how much of one base64 word is decoded (its first characters: a token holding a key is far shorter, and one after a
#: path starts within its word's first 4 characters or after the path) and of all of a text's words (each counted as
#: :data:`_WORD_COST` characters at least: a word's decoding costs as much as that many characters' do). A 1 MB data
#: URL's redaction decoded it whole at each of its 4 alignments and looked for each key's pieces in each: 21 ms with
#: one key known, 143 ms with 20, 578 ms for 5 MB (timeit); bounded, 12 ms and 27 ms, 108 ms for 5 MB (most of it the
#: split into words, in C), and a 1 MB MIME blob's 76-character lines 33 ms, not 936
_WORD_READ = 16384
_TEXT_READ = 32768
_WORD_COST = 128


class _Reading:
    """What is left of a text's :data:`_TEXT_READ` characters to decode (see :func:`_base64_spans`). Once it is spent,
    each word (or run of lines) left that may be base64 of a key is removed whole, not decoded: kept, a key's token
    after 256 shorter words of base64's alphabet in both cases (text an attacker wrote, quoted in a vendor's error
    body, read first as the shortest) stayed in the text. Only a text holding that many is so redacted."""

    def __init__(self) -> None:
        self.left = _TEXT_READ

    def take(self, word: bytes) -> bytes | None:
        """The part of ``word`` to decode, counted; None once the text's reading is spent."""
        if self.left <= 0:
            return None
        read = word[:_WORD_READ]
        self.left -= max(len(read), _WORD_COST)
        return read

    def spent(self) -> bool:
        return self.left <= 0


def _token_start(
    word: bytes, table: tuple[tuple[str, tuple[str, ...]], ...], reading: _Reading, goes_on: bool = False
) -> int | None:
    """Where in ``word`` (a run of base64's alphabet) the base64 token holding a key of ``table`` starts (None: none
    does): the word read from each of its first 4 characters ('/' is base64's own, so "/v1/auth/<base64>" is one word,
    which read from its start decodes to other bytes than the key's). The token is taken back from the key's first
    byte over the text it decodes to (``user:``, ``Bearer ``, a JSON's start) as far as a ``/`` or the word's start:
    a URL's path before it is kept.

    A word longer than is read of it (:data:`_WORD_READ`; ``goes_on``: its run of lines goes on past ``word``) whose
    read part holds no key is removed from where a key's base64 could start that the part does not hold whole, to its
    end: read no further, a key's base64 glued after 16 KB of base64 in one word (an attacker's text in a vendor's
    error body) stayed whole in the text."""
    read = reading.take(word)
    if read is None:
        return None
    for at in range(4):
        decoded = _decoded(read[at:])
        # (a short key's half alone is a key's only where a line break cuts it: table_spans then finds none)
        spans = table_spans(decoded, table) if _holds(decoded, table) else None
        if spans:
            group = min(start for start, _ in spans) // 3
            start = at + 4 * group
            while group and all(0x20 <= ord(c) < 0x7F for c in decoded[3 * group - 3 : 3 * group]):
                group -= 1
                if at + 4 * group == 0 or word[at + 4 * group - 1 : at + 4 * group] == b"/":
                    start = at + 4 * group
            return start
    if goes_on or len(word) > len(read):
        return max(0, len(read) - _written_longest(table))
    return None


def _written_longest(table: tuple[tuple[str, tuple[str, ...]], ...]) -> int:
    """The most base64 characters that the bytes of a key of ``table`` stand in, at any place of a longer run (each of
    its groups of 3 bytes, and one more group where the key starts inside one): a key whose base64 starts before a
    word's read part ends less these, ends in it."""
    return 4 * (max(len(key) for key, _ in table) // 3 + 2)


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
    text: str, table: tuple[tuple[str, tuple[str, ...]], ...], least: int, reading: _Reading
) -> list[tuple[int, int]]:
    """Where in ``text`` base64 holding a key is cut by line breaks (see :data:`_WRAPPED`): from the token's start (as
    :func:`_token_start` finds it in the lines joined) to the run's end."""
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
        parts, whole = _lines_of(run[0], _WORD_READ)
        joined = "".join(line for _, line in parts).encode("ascii")
        if len(joined) < least or (whole and (joined.islower() or joined.isupper())):
            continue
        if reading.spent():
            spans.append((run.start(), run.end()))  # (not decoded: removed whole, see _Reading)
            continue
        start = _token_start(joined, table, reading, goes_on=not whole)
        if start is None:
            continue
        for line_at, line in parts:  # (where the joined word's character stands in the text)
            if start < len(line):
                spans.append((run.start() + line_at + start, run.end()))
                break
            start -= len(line)
    return spans


def _lines_of(run: str, most: int) -> tuple[list[tuple[int, str]], bool]:
    """The base64 of each line of ``run`` (a match of :data:`_WRAPPED`), its padding left out, each with where it
    starts in ``run``: as many as hold ``most`` characters (what :func:`_token_start` reads of them); and whether
    they are all of its lines."""
    lines: list[tuple[int, str]] = []
    at = held = 0
    for brk in _BREAK_IN_RUN.finditer(run):
        lines.append((at, run[at : brk.start()].rstrip("=")))
        held += len(lines[-1][1])
        at = brk.end()
        if held >= most:
            return lines, False
    return [*lines, (at, run[at:].rstrip("="))], True


def _decoded(word: bytes) -> str:
    """``word``, a run of base64 (either alphabet, its padding left out), decoded; "" when it is none."""
    if len(word) % 4 == 1:  # (a last character that completes no byte)
        word = word[:-1]
    try:
        return binascii.a2b_base64(word.translate(_URL_SAFE) + b"=" * (-len(word) % 4)).decode("latin-1")
    except binascii.Error:
        return ""
