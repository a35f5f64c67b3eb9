"""The answer cache's look for a key in what it stores (answer_keys.answer_holds_key): the same answers kept out as a
full redaction of the answer found changed, found by a few look-ups, not by building the redacted text."""

from __future__ import annotations

import json

import pytest

from magsag_mcp import answer_cache, redaction
from magsag_mcp.answer_keys import answer_holds_key
from magsag_mcp.redaction import call_scoped, redact, register_call_secret, register_secret
from magsag_mcp.types import LLMResult, Target

pytestmark = pytest.mark.usefixtures("restored_secrets")

PROCESS_KEY = "gw-Zq7WmN4pLx2Rt9Vb8Kc5Hd3Gf6Js1Ay0"
BASE64_KEY = "Zq7WmN4p/Lx2Rt9Vb+8Kc5Hd3Gf6Js1A=="
CALL_KEY = "call-Hx4TqP9mW2vB7nL5kR8sD3fG6jA1zC0"


def _answers() -> list[str]:
    prose = "The quarterly summary: revenue grew in each region, notes below.\n" * 40
    return [
        prose,
        prose + PROCESS_KEY,  # echoed whole
        prose + PROCESS_KEY[:14] + "...",  # its start, as a gateway's 401 shows it
        prose + PROCESS_KEY[10:30],  # a run from its middle
        prose + PROCESS_KEY[:18] + "\\n" + PROCESS_KEY[18:],  # cut by an escaped line break
        json.dumps({"text": prose + BASE64_KEY}),  # JSON's \/ for its slash
        prose + BASE64_KEY.replace("/", "\\u002f"),  # JSON's other escape, no registered form
        prose + BASE64_KEY.replace("/", "&#47;"),  # HTML's
        prose + CALL_KEY,  # the call's own key
        prose + "\ud83d half a pair",
        prose + "sk-proj-notakeythisprocesssends1234567890 and Bearer eyJhbGciOi.eyJzdWIi.sig",  # the answer's own
    ]


@call_scoped
def _judged() -> list[tuple[bool, bool]]:
    register_call_secret(CALL_KEY)
    return [(answer_holds_key(text), redact(text, answer=True) != text) for text in _answers()]


def test_the_look_finds_a_key_where_the_answers_redaction_changes_it():
    register_secret(PROCESS_KEY)
    register_secret(BASE64_KEY)
    judged = _judged()
    assert [look for look, _ in judged] == [redacted for _, redacted in judged]
    assert [look for look, _ in judged] == [False, True, True, True, True, True, True, True, True, True, False]


def test_with_no_key_known_no_answer_holds_one():
    assert not answer_holds_key(_answers()[1])


def _result(text: str) -> LLMResult:
    return LLMResult(text, "compat", "m")


def test_the_cache_stores_a_clean_answer_and_refuses_one_quoting_a_key_without_redacting_either(monkeypatch):
    register_secret(PROCESS_KEY)

    def no_redaction(*args: object, **kwargs: object) -> str:
        raise AssertionError("the answer was redacted whole to look for a key")

    monkeypatch.setattr(redaction, "redact", no_redaction)
    monkeypatch.setattr(answer_cache, "redact", no_redaction, raising=False)
    target = Target("compat", "m")
    assert answer_cache.pending("k", None, target, 60.0, _result("a clean answer")) is not None
    assert answer_cache.pending("k", None, target, 60.0, _result(f"echo: {PROCESS_KEY}")) is None


def test_an_answer_holding_no_run_of_a_base64_key_is_not_searched_for_its_escapes(monkeypatch):
    # an answer's JSON writes its line breaks "\n": a backslash, which sent it through the search for escapes of the
    # key's "/", "+" and "=" (most of the look's cost on 8 KB), though no run of the key's plain characters was there
    from magsag_mcp import key_escapes

    register_secret(BASE64_KEY)
    answer = json.dumps({"text": "a line\nanother line, 50% done & more\n" * 200})

    def no_search(text: str) -> object:
        raise AssertionError("searched for escapes")

    monkeypatch.setattr(key_escapes, "_decoded", no_search)
    assert not answer_holds_key(answer)
    assert redact(answer) == answer


def test_a_base64_key_escaped_between_runs_of_it_is_still_found():
    register_secret(BASE64_KEY)
    for escaped in (BASE64_KEY.replace("/", "\\u002F"), BASE64_KEY.replace("+", "%2b").replace("/", "&#x2f;")):
        text = json.dumps({"text": "a line\n" * 50 + escaped})
        assert answer_holds_key(text)
        out = redact(text)
        assert "Lx2Rt9Vb" not in out and "Hd3Gf6Js1A" not in out, out
