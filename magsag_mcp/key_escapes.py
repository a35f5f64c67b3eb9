"""How a known key is written escaped, for :func:`~magsag_mcp.redaction.redact` to find it so: a key holding ``/``,
``+`` or ``=`` (a base64 key: an Azure resource's, a gateway's) as JSON writes it, or a URL does
(:func:`escaped_forms`, each known to redact() as the key is), and as every other encoder a vendor or a gateway
echoes it through may (:func:`without_escaped_keys`): JSON's ``\\u002f``, HTML's ``&#x2F;``, ``&#47;``, ``&sol;``, a URL
encoded twice (``%252F``), its hex in both cases in one key. Those forms are too many to register (each escape in
either case, each written or not): the key is looked for in the text read with its escapes undone, once, where the
text holds an escape at all. A credential holding what they escape besides (a ``"``, a ``\\``, an ``&``, an ``@``, a
letter past ASCII: a proxy's password) is known as each of them writes it whole (:func:`escaped_forms`).
"""

from __future__ import annotations

import bisect
import functools
import html
import json
import re
from collections.abc import Callable, Iterable
from urllib.parse import quote, quote_plus

from .key_pieces import piece_table, table_spans, without_spans
from .lazy_pattern import compiled_on_first_use

#: ``/``, ``+`` and ``=`` (the characters of a base64 key that encoders escape) as each is written escaped, in any
#: case: JSON's ``\\/`` and ``\\u002f`` (a backslash more for each time the JSON was quoted again, as key_pieces takes
#: an escaped line break), a URL's ``%2F`` (``%252F`` encoded twice, a query quoting a URL), HTML's ``&#x2F;``,
#: ``&#47;`` and ``&sol;``. Each starts with ``\\``, ``%`` or ``&``: a text holding none of them holds no escape
_WRITTEN = {
    "slash": ("/", r"\\{1,4}/", r"\\{1,4}u002f", r"%(?:25)*2f", r"&#x0*2f(?:;|(?![0-9a-f]))", r"&#0*47(?:;|(?![0-9]))",
              r"&sol;"),
    "plus": ("+", r"\\{1,4}u002b", r"%(?:25)*2b", r"&#x0*2b(?:;|(?![0-9a-f]))", r"&#0*43(?:;|(?![0-9]))", r"&plus;"),
    "equals": ("=", r"\\{1,4}u003d", r"%(?:25)*3d", r"&#x0*3d(?:;|(?![0-9a-f]))", r"&#0*61(?:;|(?![0-9]))",
               r"&equals;"),
}  # fmt: skip
#: a line break inside an escape (``%2`` at a line's end, ``F`` the next one's start: a page wrapped at a column, or
#: the break written as JSON writes it, ``\\n``): read as no escape, the key's characters before it (up to 7 of them,
#: no piece) stayed in the text. One is taken between any two of an escape's parts (:data:`_PART`)
_BREAK = r"(?:(?:\r?\n|\r)[ \t]{0,15}|\\{1,4}(?:[nr]|u000[ad]))"
#: an escape's parts: a run of backslashes, a ``(?:25)*`` (a URL encoded again, its ``%25``'s ``2`` and ``5`` parts
#: too), an HTML reference's end (its ``;``, or none before a character that is no digit of it) or a ``0*`` (each taken
#: whole), or one character
_PART = re.compile(r"\\\\\{\d,\d\}|\(\?:25\)\*|\(\?:;\|\(\?!\[[0-9a-f-]+\]\)\)|.\*?")


def _breakable(form: str) -> str:
    """``form`` (one of :data:`_WRITTEN`'s) with a line break taken between any two of its parts.

    Each break and a URL's ``25`` parts are taken possessively (``?+``, ``*+``: never given back): no part after them
    starts with what a break or a ``25`` does (a line break, a space, a ``\\``; a ``2`` followed by a ``5``), so giving
    them back found no escape the search had not, and tried again at each escape's start that was none (each ``%2`` of
    ``%2\n%2\n...``, three times, once for each escaped character) made a 64 KB text of them some twice as long."""
    brk = f"(?:{_BREAK})?+"
    parts = _PART.findall(form)
    return parts[0] + "".join(map(functools.partial(_after_a_break, brk), parts[1:]))


def _after_a_break(brk: str, part: str) -> str:
    """``part`` of an escape with a line break (``brk``) taken before it: before a reference's ``;`` only when there is
    one (a break taken, and no ``;`` after it, is kept out of the reference, which then ends before it)."""
    if part == "(?:25)*":
        return f"(?:{brk}2{brk}5)*+"
    if part.startswith("(?:;|"):
        return part.replace("(?:;", f"(?:{brk};", 1)
    return brk + part


def _escapes(form: Callable[[str], str]) -> re.Pattern[str]:
    """One search for every escape of :data:`_WRITTEN`, each as ``form`` writes it, a group named for its character.

    It looks first for the character every escape starts with (``\\``, ``%`` or ``&``, as :data:`_AN_ESCAPES_START`):
    at every other character of the text each of the 17 escapes was tried and failed at its first (the breakable ones
    trying a line break there too), half of a 64 KB text's search where escapes are many, and all of it where few."""
    return compiled_on_first_use(
        r"(?=[\\%&])(?i:"
        + "|".join(f"(?P<{name}>{'|'.join(map(form, forms[1:]))})" for name, forms in _WRITTEN.items())
        + ")"
    )


_ESCAPE = _escapes(str)
#: (looked for only in a text holding a line break, as :data:`_A_BREAK` finds one: it searches 2 to 4 times as long;
#: compiled then, some 10 ms of a start that reads no such text, see lazy_pattern)
_ESCAPE_OVER_BREAKS = _escapes(_breakable)
_A_BREAK = re.compile(r"[\r\n]|\\[nr]|\\u000[ad]", re.IGNORECASE)
_CHARACTER = {name: forms[0] for name, forms in _WRITTEN.items()}
#: (one search, not a look-up for each: the text is redact()'s, up to 64 KB)
_AN_ESCAPES_START = re.compile(r"[\\%&]")


def escaped_forms(secret: str) -> tuple[str, ...]:
    """``secret`` as it is echoed escaped, when it holds ``/``, ``+`` or ``=`` (a base64 key: an Azure resource's, a
    gateway's): in JSON with ``\\/`` (PHP's and some Java encoders write every ``/`` so), in a URL with ``%2F``,
    ``%2B``, ``%3D`` (a query or a form a gateway quotes; hex in either case), or with ``/`` kept and only ``+`` and
    ``=`` escaped (Python's ``quote()``, whose default keeps ``/``: a Python gateway quoting the URL it was asked).
    Each is known to redact() as the key is, its start and pieces too: looked for as it is only, such a key
    escaped stayed whole in the text; and one holding ``/`` and ``+`` or ``=``, written with ``/`` kept and cut by a
    line break before its 12th character, kept it all (no piece of any other form on either side)."""
    forms = list(_written_elsewhere(secret)) if _ESCAPED_ELSEWHERE.search(secret) else []
    if not any(c in secret for c in "/+="):
        return tuple(form for form in dict.fromkeys(forms) if form != secret)
    forms += [secret.replace("/", "\\/")] if "/" in secret else []
    slash_kept = secret.replace("+", "%2B").replace("=", "%3D")
    for url in (slash_kept.replace("/", "%2F"), *((slash_kept,) if "/" in secret and slash_kept != secret else ())):
        forms += (url, url.replace("%2F", "%2f").replace("%2B", "%2b").replace("%3D", "%3d"))
    return tuple(form for form in dict.fromkeys(forms) if form != secret)


#: a character JSON, HTML or a URL writes escaped besides ``/``, ``+`` and ``=`` (a ``"``, a ``\``, an ``&``, a
#: ``<``, an ``@``, a space, a letter past ASCII: a proxy's password, a gateway's ``gateway_auth``)
_ESCAPED_ELSEWHERE = re.compile(r"[^A-Za-z0-9._~/+=\-]")
_HEX = re.compile("%[0-9A-F]{2}")


def _written_elsewhere(secret: str) -> tuple[str, ...]:
    """``secret`` as JSON writes it (a ``"`` as ``\\"``, a ``\\`` doubled, a letter past ASCII as ``\\u00e9`` or as it
    is), HTML (``&quot;``, ``&amp;``, ``&lt;``; its quotes escaped or not) and a URL (each reserved character as
    ``%XX``, its hex in either case, ``/`` kept or not; a form's space as ``+``): a server quoting the request body it
    refused (vLLM's and LiteLLM's ``"input": "<value>"``), an error page, a query. Looked for only as it is, such a
    credential so written stayed whole in the error, the ledger and the logs."""
    url = quote(secret, safe="")
    return (
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        html.escape(secret),
        html.escape(secret, quote=False),
        url,
        _HEX.sub(lambda hex_: hex_[0].lower(), url),
        quote(secret),
        quote_plus(secret),
    )


@functools.lru_cache(maxsize=64)
def _base64_keys(keys: tuple[str, ...]) -> tuple[str, ...]:
    """Those of ``keys`` an encoder escapes a character of, as they are (not their :func:`escaped_forms`, each holding
    a ``%`` or a ``\\``)."""
    return tuple(key for key in keys if any(c in key for c in "/+=") and not any(c in key for c in "%\\&"))


#: the characters of a base64 key an encoder escapes
_ESCAPABLE = re.compile("[/+=]")


@functools.lru_cache(maxsize=64)
def _plain_runs(bases: tuple[str, ...], least: int) -> tuple[str, ...] | None:
    """What a text holds as it is wherever one of ``bases`` is in it escaped: a piece of the key found where the text's
    escapes are undone (:func:`without_escaped_keys`) has each of its runs between the characters escaped (``/``,
    ``+``, ``=``) in the text as it is, its longest among them. Each piece's (the key's own, one with no pieces)
    longest such run; None when a piece has none (all of it escaped characters), the text then always decoded.
    Looked up before the escapes are searched for: an 8 KB answer's JSON, its line breaks written ``\\n``, was
    searched over them (some 290 us) for a key none of whose runs it held."""
    runs: list[str] = []
    for key, pieces in piece_table(bases, least):
        for piece in pieces or (key,):
            longest = max(_ESCAPABLE.split(piece), key=len)
            if not longest:
                return None
            runs.append(longest)
    return tuple(dict.fromkeys(runs))


def without_escaped_keys(text: str, keys: tuple[str, ...], least: int) -> str:
    """``text`` with each of ``keys`` (a key of ``least`` characters or more: each run of it holding one of its pieces,
    as :mod:`~magsag_mcp.key_pieces` finds them, over line breaks) removed where one of its ``/``, ``+`` or ``=`` is
    written escaped (see :data:`_WRITTEN`); a run written as it is, left to redact()'s own look-ups. Only a text
    holding a ``\\``, a ``%`` or an ``&`` is read so, and only for the keys holding a ``/``, ``+`` or ``=``."""
    bases = _base64_keys(keys)
    if not bases or _AN_ESCAPES_START.search(text) is None:
        return text
    runs = _plain_runs(bases, least)
    if runs is not None and not any(run in text for run in runs):
        return text
    view, escapes, longer = _decoded(text)
    if not escapes:
        return text
    spans = table_spans(view, piece_table(bases, least))
    shown = [(_in_text(start, escapes, longer), _in_text(end, escapes, longer)) for start, end in spans]
    return without_spans(text, [(s, e) for (s, e), (vs, ve) in zip(shown, spans, strict=True) if e - s != ve - vs])


def _decoded(text: str) -> tuple[str, list[int], list[int]]:
    """``text`` with each escape of :data:`_WRITTEN` written as its character (see :func:`read_as_characters`)."""
    escape = _ESCAPE_OVER_BREAKS if _A_BREAK.search(text) else _ESCAPE
    return read_as_characters(
        text, ((found.start(), found.end(), _CHARACTER[found.lastgroup or ""]) for found in escape.finditer(text))
    )


def read_as_characters(text: str, escapes_found: Iterable[tuple[int, int, str]]) -> tuple[str, list[int], list[int]]:
    """``text`` with each escape of ``escapes_found`` (its start, its end and the character it stands for; in the
    text's order, none overlapping) written as its character; where each of them stands in that text, and how many
    characters more than one all of them up to it took in ``text`` (what :func:`_in_text` maps back with). One
    reading for JSON's and a URL's escapes here and the percent-encoded and HTML references of key_encodings.py."""
    parts: list[str] = []
    escapes: list[int] = []
    longer: list[int] = []
    done = shown = more = 0
    for start, end, character in escapes_found:
        parts += (text[done:start], character)
        shown += start - done
        escapes.append(shown)
        shown += 1
        more += end - start - 1
        longer.append(more)
        done = end
    return "".join(parts) + text[done:], escapes, longer


def _in_text(at: int, escapes: list[int], longer: list[int]) -> int:
    """Where the character at ``at`` of :func:`_decoded`'s text stands in the text it was read from (or, ``at`` its
    end, where that ends)."""
    before = bisect.bisect_left(escapes, at)  # (the escapes before it)
    return at + (longer[before - 1] if before else 0)
