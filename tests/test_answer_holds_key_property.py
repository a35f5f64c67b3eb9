"""answer_holds_key(x) is true exactly when redact(x, answer=True) changes x (the answer cache keeps out what a full
redaction would change): a property over mixed texts built from registered keys, their pieces and escapes, the
characters the look-ups turn on (``\\``, ``%``, ``&#``, line breaks) and half surrogate pairs."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from magsag_mcp.answer_keys import answer_holds_key
from magsag_mcp.redaction import call_scoped, redact, register_call_secret, register_secret

pytestmark = pytest.mark.usefixtures("restored_secrets")

PROCESS_KEYS = ("gw-Zq7WmN4pLx2Rt9Vb8Kc5Hd3Gf6Js1Ay0", "Zq7WmN4p/Lx2Rt9Vb+8Kc5Hd3Gf6Js1A==", "short-key-12")
CALL_KEY = "call-Hx4TqP9mW2vB7nL5kR8sD3fG6jA1zC0"


def _forms(key: str) -> list[str]:
    """the key and what an answer may hold of it: its pieces, escapes and a cut by a line break"""
    return [
        key,
        key[:16],
        key[5:25],
        key[:12],
        json.dumps(key)[1:-1],
        quote(key, safe=""),
        key.replace("/", "\\u002f").replace("+", "\\u002B"),
        key.replace("/", "&#47;").replace("+", "&#x2b;"),
        key[:18] + "\\n" + key[18:],
        key[:18] + "\n" + key[18:],
    ]


_PARTS = st.one_of(
    st.text(max_size=12),
    st.text(alphabet="\\%&#;/+=un0123456789abcdefABCDEF-_\n\"'", max_size=12),
    st.sampled_from([f for key in (*PROCESS_KEYS, CALL_KEY) for f in _forms(key)]),
    st.sampled_from(["\ud83d", "\udc00", "\\ud83d", "%2F", "%252F", "&#47;", "\\/", "\\u002f"]),
)
_ANSWERS = st.lists(_PARTS, max_size=8).map("".join)


@call_scoped
def _agree(text: str, with_call_key: bool) -> None:
    if with_call_key:
        register_call_secret(CALL_KEY)
    assert answer_holds_key(text) == (redact(text, answer=True) != text), repr(text)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=_ANSWERS, with_call_key=st.booleans())
def test_answer_holds_key_is_redaction_changing_the_answer(text: str, with_call_key: bool) -> None:
    for key in PROCESS_KEYS:
        register_secret(key)
    _agree(text, with_call_key)


def test_the_answer_checks_are_still_importable_from_redaction_where_the_docs_named_them():
    # docs/mcp.md had Python API callers import answer_without_known_keys from magsag_mcp.redaction; the split into
    # answer_keys.py made that import an ImportError
    from magsag_mcp import answer_keys
    from magsag_mcp.redaction import answer_without_known_keys, holds_known_key  # noqa: F401 (the import is the test)

    assert answer_without_known_keys is answer_keys.answer_without_known_keys
    with pytest.raises(AttributeError, match="no_such_name"):
        import magsag_mcp.redaction as redaction

        _ = redaction.no_such_name
