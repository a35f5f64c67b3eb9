"""A known key a vendor, a gateway or a library echoes written in hex (``6b33794142...``: a debug dump of the request's
bytes, a hash library's ``hexdigest``-shaped log of a header), for :func:`~magsag_mcp.redaction.redact` to find it
so. Neither the key patterns (no key is all hex digits) nor its pieces (``k3yA`` is ``6b337941``) found it: a key
so written stayed whole in the error, the ledger and the logs.

Each key of a table (:func:`~magsag_mcp.key_pieces.piece_table`) looked for whole, and each piece of a longer one, is
searched as its hex (in C, in either case: the text's ASCII lowered, one character a byte); where one stands, the run
of hex digits around it (at its parity) is decoded and only the key's characters in it removed: a hex dump's other
bytes are kept, and hex holding no known key is never touched.
"""

from __future__ import annotations

import functools

from .key_base64_cores import Cores, hits_in, indexed
from .key_pieces import table_spans

_HEX = b"0123456789abcdef"
#: how far on either side of a key's hex its run of hex digits is read (to find the key's whole run: a long key is
#: found from any of its pieces)
_AROUND = 4096


#: each hex digit (lower case: the text's ASCII is lowered first) made an ``h``, every other byte a space
_HEX_FLAGS = bytes(0x68 if c in _HEX else 0x20 for c in range(256))


@functools.lru_cache(maxsize=64)
def _hex_forms(table: tuple[tuple[str, tuple[str, ...]], ...]) -> tuple[Cores, int]:
    """The hex (lower case) of each key of ``table`` looked for whole and of each piece of a longer one, indexed for
    :func:`~magsag_mcp.key_base64_cores.hits_in`, and the shortest's length."""
    forms = {piece.encode("ascii").hex().encode("ascii") for key, pieces in table for piece in pieces or (key,)}
    return indexed(sorted(forms)), min(map(len, forms))


def hex_spans(text: str, table: tuple[tuple[str, tuple[str, ...]], ...]) -> list[tuple[int, int]]:
    """Where in ``text`` a key of ``table`` (or a run of a long one holding a piece) stands written in hex, as far as
    the key's characters go. Only runs of hex digits as long as a key's hex are searched, each once, by
    :func:`~magsag_mcp.key_base64_cores.hits_in`."""
    forms, shortest = _hex_forms(table)
    if len(text) < shortest:
        return []
    lowered = text.encode("ascii", "replace").lower()
    flags = lowered.translate(_HEX_FLAGS)
    run_of = b"h" * shortest
    hits: list[tuple[int, int]] = []
    at = flags.find(run_of)
    while at != -1:  # (each run of hex digits as long as a key's hex, found in C: a text's base64 or prose holds none)
        end = flags.find(b" ", at)
        end = len(flags) if end == -1 else end
        hits += ((at + hit, length) for hit, length in hits_in(lowered[at:end], forms))
        at = flags.find(run_of, end)
    hits.sort()
    spans: list[tuple[int, int]] = []
    # the window last decoded at each parity: a hit wholly inside the one of its parity was read there. One window
    # for both let hits of alternate parity (a key's hex after an odd number of other digits, again and again) each
    # decode 8 KB; and a hit only starting inside it, its key's hex running past the window's end, was passed over
    # though the window held only its start (a short key, looked for whole, stayed in the text)
    runs = [(0, 0), (0, 0)]
    for hit, length in hits:
        run = runs[hit % 2]
        if run[0] <= hit and hit + length <= run[1]:
            continue
        before = lowered[max(0, hit - _AROUND) : hit]
        first = hit - (len(before) - len(before.rstrip(_HEX))) // 2 * 2
        after = lowered[hit : hit + _AROUND]
        last = hit + (len(after) - len(after.lstrip(_HEX))) // 2 * 2
        decoded = bytes.fromhex(lowered[first:last].decode("ascii")).decode("latin-1")
        spans += [(first + 2 * start, first + 2 * end) for start, end in table_spans(decoded, table)]
        runs[hit % 2] = (first, last)
    return spans
