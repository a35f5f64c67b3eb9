"""The words an HTTP error is classified by (providers/http_errors.py): found as ``hint in text`` finds them, with less
work on an error that holds none (every failed attempt's message is searched)."""

from __future__ import annotations

import random

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from magsag_mcp.errors import ContentFilteredError, ContextTooLongError, ModelNotFoundError, ServerError
from magsag_mcp.providers import http_errors, rate_limit_waits
from magsag_mcp.providers.http_errors import _CONTEXT_HINTS, _says_too_long, error_for, parse_retry_after

WORDS = [
    "the",
    "request",
    "maximum",
    "tokens",
    "input",
    "is",
    "too",
    "long",
    "exceeds",
    "context",
    "window",
    "`inputs`",
]


def _naive(text: str) -> bool:
    return any(hint in text for hint in _CONTEXT_HINTS)


def test_every_context_hint_is_found_alone_and_among_other_words():
    """A hint added to the list without one of the words looked for first would be missed: each is found alone."""
    for hint in _CONTEXT_HINTS:
        assert _says_too_long(hint), hint
        assert _says_too_long(f"error: {hint}. try again"), hint
        assert _says_too_long(hint[:-1]) == _naive(hint[:-1]), hint  # cut short: found only where still a hint


def test_the_context_search_finds_what_a_search_for_each_hint_finds():
    rng = random.Random(30)
    pieces = [
        *WORDS,
        *_CONTEXT_HINTS,
        *(h[: len(h) // 2] for h in _CONTEXT_HINTS),
        *(h[len(h) // 2 :] for h in _CONTEXT_HINTS),
    ]
    found = 0
    for _ in range(5_000):
        text = rng.choice([" ", "", "_", "\n"]).join(rng.choice(pieces) for _ in range(rng.randint(1, 6)))
        assert _says_too_long(text) == _naive(text), text
        found += _naive(text)
    assert 500 < found < 4_500  # both kinds of text were tried


@pytest.mark.parametrize(
    ("code", "message", "too_long"),
    [
        ("context_length_exceeded", "", True),  # in the code alone
        (None, "This model's Maximum Context length is 128000 tokens.", True),  # the message, any case
        ("invalid_request_error", "Prompt is too long: 210000 tokens > 200000 maximum", True),
        ("context", " length exceeded", False),  # a hint's halves in the code and the message: neither holds it
        (None, "the prompt is too\nlong", False),  # a line break inside it
        ("server_error", "The server had an error processing your request. Sorry about that!", False),
    ],
)
def test_a_400_is_context_too_long_where_its_code_or_message_holds_a_hint(code, message, too_long):
    exc = error_for(400, message, headers={}, provider="openai", model="gpt-4o", code=code)
    assert isinstance(exc, ContextTooLongError) is too_long


def test_a_500_whose_message_names_no_window_is_not_searched_for_every_hint(monkeypatch):
    """The hints' one pattern entered its matcher at every letter a hint begins with, in the code and the message, on
    every failed attempt (some 6,000 instructions for a 15-character message, 40,000 for a vendor's 180-character
    one): a text holding none of the words every hint holds is not searched so."""
    searched: list[str] = []
    pattern = http_errors._CONTEXT

    def recording(text: str):
        searched.append(text)
        return pattern(text)

    monkeypatch.setattr(http_errors, "_CONTEXT", recording)
    said = "The server had an error processing your request. Sorry about that! You can retry your request."
    exc = error_for(500, said, headers={}, provider="openai", model="gpt-4o", code="server_error")
    assert isinstance(exc, ServerError) and searched == []
    exc = error_for(400, "Too many tokens: 9000", headers={}, provider="openai", model="gpt-4o", code=None)
    assert isinstance(exc, ContextTooLongError) and len(searched) == 1


@pytest.mark.parametrize(
    ("code", "filtered"),
    [
        ("content_filter", True),
        ("ResponsibleAIPolicyViolation", True),
        ("content_policy_violation", True),
        ("safety_block", True),
        ("server_error", False),
        ("content", False),
    ],
)
def test_a_400_is_content_filtered_where_its_code_names_the_safety_system(code, filtered):
    exc = error_for(400, "refused", headers={}, provider="azure", model="gpt-4o", code=code)
    assert isinstance(exc, ContentFilteredError) is filtered


def test_an_answers_headers_are_looked_up_with_aiohttps_own_get(monkeypatch):
    """A failed attempt's request id (three headers) and wait (three more) were each looked up through a function of
    ours around aiohttp's ``get`` (1,000 instructions of each look-up's 1,300): its case-free headers are asked
    directly, and a plain dict (a test's, a body's) is still read whatever the case of its names."""
    asked: list[str] = []
    plain_get = rate_limit_waits._get

    def recording(headers, name):
        asked.append(name)
        return plain_get(headers, name)

    monkeypatch.setattr(rate_limit_waits, "_get", recording)
    monkeypatch.setattr(http_errors, "_get", recording)
    answer = CIMultiDictProxy(CIMultiDict({"Content-Type": "application/json", "X-Request-Id": "req_1"}))
    exc = error_for(500, "planned failure", headers=answer, provider="openai", model="gpt-4o", code=None)
    assert isinstance(exc, ServerError) and exc.details["request_id"] == "req_1" and exc.retry_after is None
    assert asked == []
    assert parse_retry_after(CIMultiDictProxy(CIMultiDict({"Retry-After-Ms": "1500"}))) == 1.5
    assert asked == []
    exc = error_for(503, "busy", headers={"Request-Id": "req_2", "Retry-After": "7"}, provider="a", model="m")
    assert (exc.details["request_id"], exc.retry_after) == ("req_2", 7.0)
    assert asked  # (a plain dict is read by _get, which takes its names' case as it comes)


@pytest.mark.parametrize(
    ("message", "too_big"),
    [
        ("model requires more system memory (5.3 GiB) than is available (3.5 GiB)", True),
        ("MODEL REQUIRES MORE MEMORY than is available", True),
        ("model requires more \u017fystem memory (5.3 GiB)", True),  # the long s, which (?i) takes for s
        ("the model requires more time", False),
        ("planned failure", False),
    ],
)
def test_a_500_for_a_model_too_big_for_the_servers_memory_is_found_in_any_case(message, too_big):
    exc = error_for(500, message, headers={}, provider="ollama", model="llama3", code=None)
    assert isinstance(exc, ModelNotFoundError) is too_big
    assert isinstance(exc, ServerError) is not too_big


def test_a_500_that_names_no_model_short_of_memory_is_not_searched_at_every_character(monkeypatch):
    """Ollama's pattern for a model too big for the memory begins with \\b: searched in every 5xx's message, it
    entered its matcher at every character (33,000 instructions for a vendor's 180-character message)."""
    searched: list[str] = []
    pattern = http_errors._TOO_BIG_FOR_MEMORY

    class Recording:
        def search(self, text: str):
            searched.append(text)
            return pattern.search(text)

    monkeypatch.setattr(http_errors, "_TOO_BIG_FOR_MEMORY", Recording())
    said = "The server had an error processing your request. Sorry about that! You can retry your request."
    assert isinstance(error_for(500, said, headers={}, provider="openai", model="gpt-4o"), ServerError)
    assert searched == []
    said = "model requires more system memory (5.3 GiB) than is available (3.5 GiB)"
    assert isinstance(error_for(500, said, headers={}, provider="ollama", model="llama3"), ModelNotFoundError)
    assert searched == [said]


# A 429's two patterns (the request too large for the per-minute limit, the wait its message names) begin with \b:
# their searches are now skipped, or started late, where the words they need are absent. Random texts of their
# phrases, halves of them, words around them and letters past ASCII that (?i) matches are read by the old searches
# (the pattern over the whole message) and the new functions alike.
_429_PIECES = [
    "Request too large",
    "request too large",
    "REQUEST TOO LARGE",
    "request too",
    "too large",
    "request\u017f too large",  # the long s, which (?i) takes for s
    "must be reduced in order to run successfully",
    "MUST BE REDUCED",
    "in order to run \u017fuccessfully",
    "try again",
    "Try Again in",
    "try again in 644ms",
    "Please retry after 6 seconds",
    "RETRY AFTER 1m26.4s",
    "try again after",
    "retry",
    "RETRY",
    "re",
    "try",
    "tr",
    "t\u0280y",
    "\u0130",  # lower() makes it two characters: indices move
    "in",
    "after",
    "644ms",
    "1m26.4s",
    "18.642s",
    "6",
    "seconds",
    "sec",
    "x",
    "for gpt-4o",
    "Limit 30000",
]


def _old_wait(message: str) -> float | None:
    m = rate_limit_waits._TRY_AGAIN.search(message)
    if m is None:
        return None
    if m["seconds"] is not None:
        return rate_limit_waits._seconds(m["seconds"])
    return rate_limit_waits.parse_duration(m["duration"])


def test_a_429s_patterns_find_what_a_search_of_the_whole_message_found():
    rng = random.Random(31)
    too_large = waits = 0
    for _ in range(6_000):
        parts = [rng.choice(_429_PIECES) for _ in range(rng.randint(1, 7))]
        message = "".join(rng.choice([" ", "", " ", ".", "\n", "-"]) + part for part in parts)
        old = http_errors._TOO_LARGE.search(message) is not None
        assert http_errors._too_large(message, message.lower()) is old, message
        assert rate_limit_waits.wait_in_message(message) == _old_wait(message), message
        too_large += old
        waits += _old_wait(message) is not None
    assert 300 < too_large < 5_700 and 300 < waits < 5_700  # both kinds of text were tried, for each


class _RecordingPattern:
    def __init__(self, pattern):
        self.pattern, self.searched = pattern, []

    def search(self, text: str, *pos: int):
        self.searched.append((text, *pos))
        return self.pattern.search(text, *pos)


def test_a_429_without_the_words_is_not_searched_at_every_character(monkeypatch):
    """Both 429 patterns begin with \\b: searched in every 429's message, re entered their matchers at every
    character. A message without their words is not searched, and the wait is searched from where it can begin."""
    too_large = _RecordingPattern(http_errors._TOO_LARGE)
    try_again = _RecordingPattern(rate_limit_waits._TRY_AGAIN)
    monkeypatch.setattr(http_errors, "_TOO_LARGE", too_large)
    monkeypatch.setattr(rate_limit_waits, "_TRY_AGAIN", try_again)
    said = "Rate limit reached for requests. Slow down, and see your account's limits."
    exc = error_for(429, said, headers={}, provider="openai", model="gpt-4o", code="rate_limit_exceeded")
    assert exc.retry_after is None and too_large.searched == [] and try_again.searched == []
    said = "Rate limit reached for gpt-4o on tokens per min (TPM): Limit 30000. Please try again in 644ms."
    exc = error_for(429, said, headers={}, provider="openai", model="gpt-4o", code="rate_limit_exceeded")
    assert exc.retry_after == 0.644 and too_large.searched == []
    assert try_again.searched == [(said, said.index("try again") - 2)]
    said = "Request too large for gpt-4o on tokens per min (TPM): Limit 30000, Requested 36881."
    exc = error_for(429, said, headers={}, provider="openai", model="gpt-4o", code="rate_limit_exceeded")
    assert "lower max_tokens" in str(exc) and too_large.searched == [(said,)]
