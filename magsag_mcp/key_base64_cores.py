"""What base64 of a known key looks like whatever bytes go before and after it, for
:mod:`~magsag_mcp.key_encodings` to find the words that may hold one without decoding the others.

Base64 writes each 6 bits of its input as one character. A key's bytes standing at any place of a longer input (the
key alone, ``Bearer <key>``, ``user:<key>``, a JSON holding it) start at one of 3 places of a 3-byte group: for each,
the characters whose 6 bits all come from the key's bytes are the same whatever surrounds it (its *core*: some 4 of
each 3 of its characters, less up to 2 at each end, which hold bits of the bytes around it). A word of base64 holding
the key so holds one of its 3 cores, written as is: found by a search in C, not by decoding the word at each of its 4
alignments. Decoding was bounded (an image's data in an error's body) and, once its bound was spent, every word left
that might be base64 was removed whole, text that held no key among them (:mod:`~magsag_mcp.key_encodings`).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import NamedTuple

_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def core(raw: bytes, before: int) -> bytes:
    """The base64 characters (standard alphabet) that ``raw`` alone decides when ``before`` bytes (0, 1 or 2) of
    other text go before it in its 3-byte group: b"" when none is (a key of 1 byte)."""
    bits = int.from_bytes(raw, "big")
    total = 8 * len(raw)
    first = -(-8 * before // 6)  # (the first character whose bits start at or past the key's first bit)
    chars = bytearray()
    j = first
    while 6 * j + 6 <= 8 * (before + len(raw)):
        offset = 6 * j - 8 * before
        chars.append(_ALPHABET[(bits >> (total - offset - 6)) & 63])
        j += 1
    return bytes(chars)


#: the length of the slices of a text looked up among the cores' own (:class:`Cores`), and the step between them: a
#: core of ``_GRAM + _STEP - 1`` characters or more holds a whole slice at one of the steps, wherever it stands
_GRAM = 4
_STEP = 12


class Cores(NamedTuple):
    """The cores of a table's keys (:func:`cores_of`): ``by_gram``, each slice of :data:`_GRAM` characters of the
    long ones, with the cores holding it and where; ``short``, those too short for a slice at each step to find them,
    searched whole; and ``mixed``, whether each holds letters in both cases (a word whose letters are in one case then
    holds none, and is passed over)."""

    by_gram: dict[bytes, tuple[tuple[bytes, int], ...]]
    short: tuple[bytes, ...]
    mixed: bool


@functools.lru_cache(maxsize=64)
def cores_of(table: tuple[tuple[str, tuple[str, ...]], ...]) -> Cores:
    """The cores of each key of ``table`` (:func:`~magsag_mcp.key_pieces.piece_table`) looked for whole (a short one)
    and of each of its pieces (a long one: base64 of any run of it that its pieces find holds one's core), at each
    of the 3 places, standard alphabet (a text's URL-safe ``-`` and ``_`` read as ``+`` and ``/`` first)."""
    found = sorted(
        {
            written
            for key, pieces in table
            for piece in pieces or (key,)
            for before in range(3)
            if (written := core(piece.encode("ascii"), before))
        }
    )
    return indexed(found, all(c.lower() != c and c.upper() != c for c in found))


def indexed(needles: Iterable[bytes], mixed: bool = False) -> Cores:
    """``needles`` (cores, or any strings searched as :func:`hits_in` does: a known key's hex) made a :class:`Cores`."""
    by_gram: dict[bytes, list[tuple[bytes, int]]] = {}
    short: list[bytes] = []
    for written in needles:
        if len(written) < _GRAM + _STEP - 1:
            short.append(written)
            continue
        for at in range(len(written) - _GRAM + 1):
            by_gram.setdefault(written[at : at + _GRAM], []).append((written, at))
    return Cores({gram: tuple(held) for gram, held in by_gram.items()}, tuple(short), mixed)


def hits_in(blob: bytes, cores: Cores) -> list[tuple[int, int]]:
    """Where each of ``cores`` stands in ``blob`` (words of base64, standard alphabet): each hit's start and its
    core's length, in the order of their starts. The long cores are found by looking up the blob's slice at every
    :data:`_STEP` characters among theirs (one look-up a step, whatever the keys known), each slice found checked
    against the cores holding it; the short ones searched once each over the blob (in C). A text's work grows as its
    length, never as its words decoded."""
    hits: set[tuple[int, int]] = set()
    by_gram = cores.by_gram
    if by_gram:
        for at in [at for at in range(0, len(blob) - _GRAM + 1, _STEP) if blob[at : at + _GRAM] in by_gram]:
            for written, offset in by_gram[blob[at : at + _GRAM]]:
                start = at - offset
                if start >= 0 and blob.startswith(written, start):
                    hits.add((start, len(written)))
    for written in cores.short:
        at = blob.find(written)
        while at != -1:
            hits.add((at, len(written)))
            at = blob.find(written, at + 1)
    return sorted(hits)
