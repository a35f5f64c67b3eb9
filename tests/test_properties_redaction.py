"""Properties of redaction (redaction.redact, holds_secret), searched by hypothesis for counterexamples: a known key
(the process's or a call's own) of any length, anywhere in any text, whole, cut to its start, or escaped as JSON and
URLs write it, leaves no run of PIECE of its characters in what redact() returns, nor the whole of a short one; and a
key of the shapes the product knows without being told (sk-proj-, AIza, a JWT) likewise. Complements
test_redaction_properties' seeded random texts with hypothesis' search and shrinking."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from magsag_mcp import redaction
from magsag_mcp.key_escapes import escaped_forms
from magsag_mcp.key_pieces import PIECE
from magsag_mcp.redaction import PREFIX_KEY_MIN, call_scoped, holds_secret, redact, register_call_secret

pytestmark = pytest.mark.usefixtures("restored_secrets")

#: modest; reproducible and untimed by the run's profile (tests/conftest.py). The keys registered by one example
#: stay known to the next (restored_secrets forgets them once the test ends)
PROPERTY = settings(max_examples=150)

_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghjkmnpqrstuvwxyz"
_DIGITS = "23456789"


@st.composite
def keys(draw: st.DrawFn, least: int = 6, most: int = 64, extra: str = "") -> str:
    """A key of letters and digits (and ``extra``), a letter and a digit taking turns at least every three characters:
    no run of one character, no run of four digits, no word (see the test-key rules in the project's standards)."""
    n = draw(st.integers(least, most))
    out: list[str] = []
    for i in range(n):
        pool = _DIGITS if i % 3 == 2 else _LETTERS + extra
        c = draw(st.sampled_from(pool))
        if out and c == out[-1]:
            c = _LETTERS[(_LETTERS.index(c) + 1) % len(_LETTERS)] if c in _LETTERS else c
        out.append(c)
    return "".join(out)


#: text around a key: anything a vendor's message, a log line or a URL may hold (not half of a surrogate pair, which
#: redact() takes out on its own)
around = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=24) | st.sampled_from(
    ["", " ", "Bearer ", "key=", '"api_key": "', "?token=", "%3D", "\\n", "x", "9", "-", "é", "\n", "\r\n "]
)


def _left(key: str, said: str, before: str, after: str) -> list[str]:
    """The runs of PIECE characters of ``key`` (the whole of a short one) in ``said`` that the text around it did not
    hold on its own."""
    pieces = [key] if len(key) < PREFIX_KEY_MIN else [key[i : i + PIECE] for i in range(len(key) - PIECE + 1)]
    return [p for p in pieces if p in said and p not in before and p not in after]


@PROPERTY
@given(keys(), around, around, st.sampled_from(["whole", "start", "escaped"]))
def test_a_known_key_anywhere_in_any_text_leaves_no_piece_of_it(key, before, after, how):
    redaction.register_secret(key)
    if how == "start" and len(key) >= PREFIX_KEY_MIN:
        shown = key[: max(PIECE, len(key) // 2)]  # a gateway's 401 showing the start of the token it refused
    elif how == "escaped":
        shown = next(iter(escaped_forms(key)), key)
    else:
        shown = key
    said = redact(before + shown + after)
    assert _left(key, said, before, after) == [], (before, shown, after, said)
    assert holds_secret(before + key + after)


@PROPERTY
@given(keys(least=16, extra="/+="), around, around)
def test_a_base64_key_escaped_as_json_or_a_url_writes_it_leaves_no_piece_of_any_form(key, before, after):
    redaction.register_secret(key)
    for form in (key, *escaped_forms(key)):
        said = redact(before + form + after)
        for written in (key, form):
            assert _left(written, said, before, after) == [], (form, said)


@PROPERTY
@given(keys(), around, around)
def test_a_calls_own_key_is_removed_in_that_call_and_known_to_no_other(key, before, after):
    @call_scoped
    def in_the_call() -> str:
        register_call_secret(key)
        return redact(before + key + after)

    said = in_the_call()
    assert _left(key, said, before, after) == [], (before, after, said)
    assert key not in redaction._KNOWN_SECRETS  # (the process's keys: the call's own is not among them)


@st.composite
def shaped_keys(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["sk", "aiza", "jwt"]))
    if kind == "sk":
        return "sk-proj-" + draw(keys(least=40, most=40, extra="_-"))
    if kind == "aiza":
        return "AIza" + draw(keys(least=35, most=35, extra="_-"))
    parts = [draw(keys(least=8, most=30, extra="_-")) for _ in range(3)]
    return f"eyJ{parts[0]}.eyJ{parts[1]}.{parts[2]}"


#: text before a shaped key that leaves it a key (an sk- right after a letter is a word's end: "risk-assessment")
_BEFORE_SHAPED = st.sampled_from(["", " ", '"', "=", "/", "?token=", "Authorization: Bearer ", "%3D", "\\n", "("])


@PROPERTY
@given(shaped_keys(), _BEFORE_SHAPED, around)
def test_a_key_of_a_known_shape_is_removed_unregistered(key, before, after):
    said = redact(before + key + after)
    body = key.split(".")[0]
    tail = body[-PIECE:]  # (its last characters before any dot: the part no prefix shares)
    assert tail not in said or tail in after, (before, key, after, said)


@PROPERTY
@given(keys(least=PREFIX_KEY_MIN), around, around, st.data(), st.sampled_from(["\n", "\r\n", "\\n", "\n  "]))
def test_a_known_key_cut_by_a_line_break_leaves_no_piece_across_it(key, before, after, data, line_break):
    # a vendor's message wrapped inside the key (a log line's width, a PEM-style body): read without its line
    # breaks, what redact() returns holds no run of PIECE of the key's characters either
    redaction.register_secret(key)
    cut = data.draw(st.integers(1, len(key) - 1))
    said = redact(before + key[:cut] + line_break + key[cut:] + after)
    joined = said.replace(line_break, "")
    gone = _left(key, joined, before.replace(line_break, ""), after.replace(line_break, ""))
    assert gone == [], (cut, line_break, said)
