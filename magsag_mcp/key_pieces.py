"""Where a known key stands in a text in pieces, for :func:`~magsag_mcp.redaction.redact` to remove them.

A vendor or a gateway echoes the key it refused whole, or only its start (the first 12 to 20 characters of a bearer
token), or cut by a line break: a plain-text page wrapped at a column, an HTML page (whose text a message joins with
a space), a JSON string or a log line's ``%r`` (the break escaped, ``\\n``). Looked for by its start alone, a key cut
so kept what followed the break, and all of it when the break came before its 12th character.

A run of :data:`PIECE` characters of the key or more is looked for by the key's pieces of that length (one from each
:data:`PIECE` characters of it, and its last): any run of ``2 * PIECE - 1`` holds one, and a key cut in two leaves one
on the longer side. From each piece found, the run goes on as far as the text goes on with the key, over a line break
(up to :data:`_BREAK_LONGEST` characters of it: whitespace, or ``\\n``, ``\\r``, ``\\t`` written as escapes, as
``\\n`` or as JSON's ``\\u000a``, once or quoted again, or as a URL or HTML writes them, ``%0A``, ``<br>``,
``&#10;``) when at least :data:`_BEYOND_BREAK` of the key's characters follow it, or all that are left: a line that
merely starts with the key's next character or two is another line's text.

A key shorter than ``2 * PIECE`` cut near its middle leaves fewer than :data:`PIECE` characters on each side: its
halves (:func:`cut_pieces_of`) are looked for too, and a run found from one is removed only where a line break cuts
it (with :data:`_BEYOND_BREAK` of the key's characters after the break, so :data:`PIECE` of them at least): a 20-
character key wrapped after its 10th was left whole.
"""

from __future__ import annotations

import functools
import re

#: the fewest characters of a known key that are removed where they stand (12: as many happen in words and ids)
PIECE = 12
#: the longest line break (with the indentation that follows it) that a key's run goes on over
_BREAK_LONGEST = 16
#: how many of the key's characters must follow a line break for its run to go on over it
_BEYOND_BREAK = 4
#: the most backslashes an escaped line break is written with: one in a JSON string (a vendor's body), two when that
#: text is quoted (a log line's %r of the body, an event's JSON of an exception's message quoting it), four when
#: quoted again: as many levels as a label's quotes are taken at (redaction's ``_QUOTE``). Only one was taken, and
#: the key's side before a break written with two (up to 11 of its characters, no piece of it) stayed in the text
_SLASHES_MOST = 4
#: a line break, a carriage return and a tab as JSON's other escape writes them (RFC 8259 s. 7: ``\\u000a`` as six
#: characters, its hex digits in either case), after the backslash: a valid JSON string a gateway's encoder may
#: write so, and JSON is every vendor's error body (the specs' error shapes). Taken only as ``\\n``, a key cut by one
#: kept the side that held no piece of it (up to 11 of its characters)
_ESCAPED_BREAKS = ("u000a", "u000d", "u0009")
_ESCAPED_LONGEST = len(_ESCAPED_BREAKS[0])
#: a line break, a carriage return and a tab as a URL writes them (``%0A``: a query or a form quoted in a gateway's
#: message) and as HTML does (``<br>``, ``&#10;``, ``&#xA;``, and by name ``&NewLine;``, ``&Tab;``: an error page
#: wrapped at a column), in lower case (each compared so, in whatever case it is written). Taken for no break, a key
#: cut by one kept the side that held no 12-character piece of it. Each starts with a character no key holds (``%``,
#: ``<``, ``&``): none is a key's own
_ENCODED_BREAKS = frozenset(
    {"%0a", "%0d", "%09", "<br>", "<br/>", "<br />", "&#10;", "&#13;", "&#9;", "&#xa;", "&#xd;", "&#x9;", "&#x0a;",
     "&#x0d;", "&#x09;", "&newline;", "&tab;"}
)  # fmt: skip
_ENCODED_LENGTHS = sorted({len(brk) for brk in _ENCODED_BREAKS})


#: a key's readable start: lower case words (a digit or two at a word's end), each followed by a ``-`` or ``_``
#: (``sk-proj-``, ``sk-ant-api03-``, a gateway's ``acme-gateway-prod-key-``): the same in every key of its vendor or
#: gateway, and in its docs and messages
_READABLE_START = re.compile(r"(?:[a-z]{1,12}[0-9]{0,2}[-_])+")
#: the fewest characters of a key past its readable start that a piece holds: a piece made of that start alone (a
#: gateway key's ``acme-gateway``) identified no key, and was removed from every text holding the words (``see
#: acme-gateway-production docs`` became ``see [REDACTED]uction docs``), and a name holding them was refused
_PAST_START = 4


@functools.lru_cache(maxsize=256)
def _piece_starts(secret: str) -> tuple[int, ...]:
    """Where the pieces of ``secret`` start in it: at each :data:`PIECE` characters, and where its last piece does;
    the first ending :data:`_PAST_START` characters past its readable start (:data:`_READABLE_START`) when that start
    is longer than ``PIECE - _PAST_START``. A key with fewer characters than that past it has none: it is looked for
    whole."""
    readable = _READABLE_START.match(secret)
    first = max(0, (readable.end() if readable else 0) + _PAST_START - PIECE)
    if first > len(secret) - PIECE:
        return ()
    return tuple(dict.fromkeys([*range(first, len(secret) - PIECE + 1, PIECE), len(secret) - PIECE]))


def pieces_of(secret: str) -> tuple[str, ...]:
    """The pieces of ``secret`` looked for in a text: its first :data:`PIECE` characters, the next, and so on, and
    its last (the first holding :data:`_PAST_START` characters past its readable start: see :func:`_piece_starts`)."""
    return tuple(secret[at : at + PIECE] for at in _piece_starts(secret))


def cut_pieces_of(secret: str) -> tuple[tuple[int, str], ...]:
    """Where ``secret`` stands in a text only when a line break cuts it: a key shorter than ``2 * PIECE`` has its
    first and its last ``ceil(len / 2)`` characters (one is whole on a side of any cut), each with where it starts
    in the key; a longer one none (one of its :func:`pieces_of` is whole on the longer side of any cut)."""
    if len(secret) >= 2 * PIECE:
        return ()
    half = (len(secret) + 1) // 2
    return ((0, secret[:half]), (len(secret) - half, secret[len(secret) - half :]))


@functools.lru_cache(maxsize=64)
def piece_table(secrets: tuple[str, ...], least: int) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Each of ``secrets`` with its pieces (none for one shorter than ``least``, which is looked for whole), a short
    one's halves among them (:func:`cut_pieces_of`): made once for the secrets known, not once a text (every
    error's message, record and log line is redacted)."""
    return tuple(
        (secret, (*pieces_of(secret), *(half for _, half in cut_pieces_of(secret))) if len(secret) >= least else ())
        for secret in secrets
    )


def without_pieces(text: str, secrets: list[str], *, cut_only: bool = False) -> str:
    """``text`` with each run of a secret's characters that holds a piece of it (:func:`pieces_of`) replaced, as far
    as the run goes on either side, over line breaks (see the module's docstring). The runs of all ``secrets`` are
    found first, then replaced: two keys' runs side by side (or overlapping) leave nothing of either between them.

    ``cut_only``: only the runs a line break cuts. :func:`~magsag_mcp.redaction.redact` removes those before the key
    patterns, the others after them: an ``sk-`` key's part before the break, taken by its pattern first, left too
    few of its characters after the break for a piece, and they stayed; a run of a known JWT's header removed first
    cut another JWT sharing it, which its pattern then no longer matched."""
    return without_spans(text, runs_of(text, secrets, cut_only=cut_only))


def runs_of(text: str, secrets: list[str], *, cut_only: bool = False) -> list[tuple[int, int]]:
    """Where :func:`without_pieces` finds the runs of ``secrets`` in ``text``: each run's start and end, in no order,
    one run perhaps more than once (found from each of its pieces)."""
    spans: list[tuple[int, int]] = []
    for secret in secrets:
        whole = [(at, secret[at : at + PIECE], False) for at in _piece_starts(secret)]  # (pieces_of's)
        for offset, piece, cut_needed in (*whole, *((at, half, True) for at, half in cut_pieces_of(secret))):
            at = text.find(piece)
            while at != -1:
                start, end, cut = _stretched(text, secret, at, offset, len(piece))
                if cut or not (cut_only or cut_needed):
                    spans.append((start, end))
                at = text.find(piece, end)
    return spans


def table_spans(view: str, table: tuple[tuple[str, tuple[str, ...]], ...]) -> list[tuple[int, int]]:
    """Where in ``view`` (a text as decoded) the keys of ``table`` (:func:`piece_table`) are: a short key (no pieces)
    wherever it is written whole, as redact() looks for it; a longer one by its runs, where a piece of it is there."""
    spans: list[tuple[int, int]] = []
    for key, pieces in table:
        if not pieces:
            at = view.find(key)
            while at != -1:
                spans.append((at, at + len(key)))
                at = view.find(key, at + len(key))
        elif any(piece in view for piece in pieces):
            spans += runs_of(view, [key])
    return spans


def without_spans(text: str, spans: list[tuple[int, int]]) -> str:
    """``text`` with each of ``spans`` (its start and end, in any order, overlapping or not) replaced by one
    ``[REDACTED]``, overlapping ones by one."""
    if not spans:
        return text
    parts: list[str] = []
    done = 0
    for start, end in sorted(spans):
        if end <= done:  # (found again from another of its pieces)
            continue
        if start >= done:
            parts += (text[done:start], "[REDACTED]")
        done = end
    return "".join(parts) + text[done:]


def _stretched(text: str, secret: str, at: int, offset: int, length: int = PIECE) -> tuple[int, int, bool]:
    """Where the run of ``secret`` that holds its piece of ``length`` characters from ``offset``, found at ``at``,
    begins and ends in ``text``, and whether a line break cuts it."""
    start, key_at, cut = at, offset, False
    while key_at > 0:
        # the break first: the "n" of an escaped one ("\\n") is no character of a key's that happens to be an "n"
        broken = _break_before(text, start)
        if broken == start:
            if start == 0 or text[start - 1] != secret[key_at - 1]:
                break
            start, key_at = start - 1, key_at - 1
            continue
        wanted = min(_BEYOND_BREAK, key_at)
        if text[max(0, broken - wanted) : broken] != secret[key_at - wanted : key_at]:
            break
        start, cut = broken, True
    end, key_at = at + length, offset + length
    while key_at < len(secret):
        if end < len(text) and text[end] == secret[key_at]:
            end, key_at = end + 1, key_at + 1
            continue
        broken = _break_after(text, end)
        wanted = min(_BEYOND_BREAK, len(secret) - key_at)
        if broken == end or text[broken : broken + wanted] != secret[key_at : key_at + wanted]:
            break
        end, cut = broken, True
    return start, end, cut


def _break_after(text: str, at: int) -> int:
    """Where a line break starting at ``at`` ends (``at`` when none starts there)."""
    end = at
    while end - at < _BREAK_LONGEST and end < len(text):
        if text[end].isspace():
            end += 1
            continue
        encoded = _encoded_after(text, end)
        if encoded:
            end += encoded
            continue
        slashes = len(text[end : end + _SLASHES_MOST]) - len(text[end : end + _SLASHES_MOST].lstrip("\\"))
        if not slashes:
            break
        if text[end + slashes : end + slashes + 1] in ("n", "r", "t"):
            end += slashes + 1
        elif text[end + slashes : end + slashes + _ESCAPED_LONGEST].lower() in _ESCAPED_BREAKS:
            end += slashes + _ESCAPED_LONGEST
        else:
            break
    return end


def _break_before(text: str, at: int) -> int:
    """Where a line break ending at ``at`` starts (``at`` when none ends there)."""
    start = at
    while at - start < _BREAK_LONGEST and start > 0:
        if text[start - 1].isspace():
            start -= 1
            continue
        encoded = _encoded_before(text, start)
        if encoded:
            start -= encoded
            continue
        if text[start - 1] in ("n", "r", "t"):
            escape = 1
        elif text[max(0, start - _ESCAPED_LONGEST) : start].lower() in _ESCAPED_BREAKS:
            escape = _ESCAPED_LONGEST
        else:
            break
        before = text[max(0, start - escape - _SLASHES_MOST) : start - escape]
        slashes = len(before) - len(before.rstrip("\\"))
        if not slashes:
            break
        start -= slashes + escape
    return start


def _encoded_after(text: str, at: int) -> int:
    """How long the line break of :data:`_ENCODED_BREAKS` is that starts at ``at`` (0 when none does)."""
    if text[at] not in "%<&":  # (how each of them starts)
        return 0
    return next((n for n in _ENCODED_LENGTHS if text[at : at + n].lower() in _ENCODED_BREAKS), 0)


def _encoded_before(text: str, at: int) -> int:
    """How long the line break of :data:`_ENCODED_BREAKS` is that ends at ``at`` (0 when none does)."""
    if text[at - 1] not in ">;" and not (at >= 3 and text[at - 3] == "%"):  # (how each of them ends)
        return 0
    return next((n for n in _ENCODED_LENGTHS if text[max(0, at - n) : at].lower() in _ENCODED_BREAKS), 0)
