"""A known key holding ``/``, ``+`` or ``=`` (a base64 key: an Azure resource's, a gateway's) echoed through an encoder
whose escape no registered form of it is written with: JSON's ``\\u002f`` (in either case), HTML's ``&#x2F;``,
``&#47;``, ``&sol;``, a URL encoded twice (``%252F``), a URL's hex in both cases in one key; and a key cut by HTML's
``&NewLine;``. Each stayed in the text in runs too short for a piece of it (the key cut at every escape), or whole."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from magsag_mcp import key_escapes, redaction
from magsag_mcp.key_pieces import pieces_of
from magsag_mcp.redaction import holds_secret, redact, register_secret

#: each 4th character one an encoder escapes: every run between two escapes is shorter than a piece (12)
KEY = "Zx9/Qw3+Er7=Ty1/Ui5+Op2=As6/Df4+Gh8=Jk0/"
#: a key holding none of them (Azure's 32 hex digits), for the named line break
PLAIN = "9c2e7a4f1b8d3e6a0c5f2b9d4e7a1c3f"

#: how each encoder writes ``/``, ``+`` and ``=``
ENCODERS = {
    "json-u-lower": {"/": "\\u002f", "+": "\\u002b", "=": "\\u003d"},
    "json-u-upper": {"/": "\\u002F", "+": "\\u002B", "=": "\\u003D"},
    "json-u-quoted-again": {"/": "\\\\u002f", "+": "\\\\u002b", "=": "\\\\u003d"},
    "gson-equals-only": {"=": "\\u003d"},
    "html-hex": {"/": "&#x2F;", "+": "&#x2B;", "=": "&#x3D;"},
    "html-decimal": {"/": "&#47;", "+": "&#43;", "=": "&#61;"},
    "html-named": {"/": "&sol;", "+": "&plus;", "=": "&equals;"},
    "url-twice": {"/": "%252F", "+": "%252B", "=": "%253D"},
    "url-mixed-case": {"/": "%2f", "+": "%2B", "=": "%3d"},
}


def _written(key: str, encoder: str) -> str:
    return "".join(ENCODERS[encoder].get(c, c) for c in key)


def _cuts(key: str, encoder: str) -> list[int]:
    """Where the key as ``encoder`` writes it may be cut (between two of its characters, none inside an escape)."""
    at = [0]
    for c in key:
        at.append(at[-1] + len(ENCODERS[encoder].get(c, c)))
    return at[1:-1]


@pytest.fixture
def known(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    """:func:`register_secret`, the process's keys as they were once the test ends (none known during it but those
    it registers): a key left registered is removed from every later test's texts."""
    monkeypatch.setattr(redaction, "_KNOWN_SECRETS", set())
    monkeypatch.setattr(redaction, "_LONGEST_FIRST", ())
    yield register_secret


@pytest.mark.parametrize("encoder", list(ENCODERS))
def test_a_base64_key_escaped_as_no_registered_form_is_removed_whole(known: Callable[[str], None], encoder: str):
    known(KEY)
    written = _written(KEY, encoder)
    assert redact(f"upstream: the key {written} was refused") == "upstream: the key [REDACTED] was refused"
    start = written[: _cuts(KEY, encoder)[19]]  # (its first 20 characters, as a gateway's 401 shows a token's)
    assert redact(f'{{"error": "key {start}..."}}') == '{"error": "key [REDACTED]..."}'
    assert redact(f'{{"error": "key ...{written[_cuts(KEY, encoder)[19] :]}"}}') == '{"error": "key ...[REDACTED]"}'
    assert holds_secret(f"run-{written}")  # a name holding it is refused, as one holding the key is


@pytest.mark.parametrize("brk", ["\n", "\\n", "&NewLine;", "%0A"])
@pytest.mark.parametrize("encoder", ["json-u-lower", "html-decimal", "url-twice", "url-mixed-case"])
def test_a_base64_key_escaped_and_cut_by_a_line_break_is_removed_on_both_sides(
    known: Callable[[str], None], encoder: str, brk: str
):
    known(KEY)
    written = _written(KEY, encoder)
    for at in _cuts(KEY, encoder):
        said = redact(f"key {written[:at]}{brk}{written[at:]} refused")
        assert said == "key [REDACTED] refused", (at, said)


@pytest.mark.parametrize("at", [3, 9, 16, 27, 31])
def test_a_key_cut_by_htmls_named_line_break_is_removed_on_both_sides(known: Callable[[str], None], at: int):
    # &NewLine; is HTML's line break by name, as &#10; is by number: a page wrapped so kept the side of the key that
    # held no 12-character piece of it
    known(PLAIN)
    for brk in ("&NewLine;", "&newline;", "&NewLine;&Tab;"):
        said = redact(f"<p>key {PLAIN[:at]}{brk}{PLAIN[at:]} refused</p>")
        assert said == "<p>key [REDACTED] refused</p>", (brk, said)


def test_text_holding_those_escapes_but_no_known_key_is_kept(known: Callable[[str], None]):
    known(KEY)
    for text in (
        "https://example.com/a%252Fb?path=%2fdata%2Fin.jsonl&amp;model=gpt-4o",
        '{"url": "https:\\u002f\\u002fapi.example.com\\u002fv1", "q": "a\\u003db"}',
        "<p>1 &plus; 1 &equals; 2 &sol; &#47;v1&#x2F;chat&NewLine;done</p>",
        f"a piece too short: {_written(KEY[:10], 'json-u-lower')} and {KEY[20:30]}",
    ):
        assert redact(text) == text
        assert not holds_secret(text[:200])


class _CountedText(str):
    """A text that counts the look-ups made in it (``piece in text``)."""

    lookups = 0

    def __contains__(self, part: object) -> bool:
        type(self).lookups += 1
        return super().__contains__(part)


def test_the_escaped_key_is_looked_for_only_in_a_text_holding_an_escape(
    known: Callable[[str], None], monkeypatch: pytest.MonkeyPatch
):
    # every error's message, record and log line is redacted: a text is read with its escapes undone (and the
    # base64 keys' pieces looked up in it) only where it holds an escape's first character (\, %, &), and then
    # only where it holds an escape of "/", "+" or "="
    read: list[str] = []
    decoded = key_escapes._decoded

    def counted(text: str) -> tuple[str, list[int], list[int]]:
        read.append(text)
        view, escapes, longer = decoded(text)
        return _CountedText(view), escapes, longer

    monkeypatch.setattr(key_escapes, "_decoded", counted)
    plain = "HTTP 401 from upstream: the request was refused by the gateway, try again later"
    assert redact(plain) == plain and not holds_secret("run-7f3c9a1e2b4d")
    assert read == []  # (no base64 key known yet)
    keys = [KEY, "Mn2+Bv6/Cx0=Lk4+Jh8/Gf3=Qa5+Ws1/", PLAIN]
    for key in keys:
        known(key)
    assert redact(plain) == plain and not holds_secret("run-8e2d0b6a4c1f")
    assert read == []  # (no \, % or &)
    marked = "HTTP 401: 100% of the quota &amp; the \\n limit are spent"
    _CountedText.lookups = 0
    assert redact(marked) == marked
    assert read == []  # (escapes' starts, but no run of a base64 key's plain characters: not read for its escapes)
    escaped = f"gateway: {_written(KEY, 'html-named')} refused"
    _CountedText.lookups = 0
    assert redact(escaped) == "gateway: [REDACTED] refused"
    # each base64 key's pieces, at most, each once (not PLAIN's: it holds no character an encoder escapes)
    assert 0 < _CountedText.lookups <= sum(len(pieces_of(key)) for key in keys[:2]), _CountedText.lookups
