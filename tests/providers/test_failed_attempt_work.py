"""What a failed attempt's error costs to make (errors.py, providers/openai_errors.py, providers/http_errors.py): the
same error, class, message, details and redaction, with less done that finds nothing on most errors."""

from __future__ import annotations

import json
import random

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from magsag_mcp import errors
from magsag_mcp.errors import (
    MagsagError,
    ProviderTimeoutError,
    RateLimitError,
    ServerError,
    register_secret,
)
from magsag_mcp.providers import http_errors, openai_errors
from magsag_mcp.providers.openai_errors import openai_error
from magsag_mcp.transport import HttpResponse

_LINK_PIECES = [
    "https://aka.ms/oai/quotaincrease",
    "http://example.com/a?b=c",
    "http",
    "https",
    "http:/",
    "https:",
    "://",
    "//x",
    "htt",
    "ttp",
    "h",
    "http://",
    "https:// ",
    "please go here:",
    "rate limit",
    "quota",
    "\n",
    "\t",
    "é",
    "x" * 5,
]


def test_links_are_taken_out_as_the_pattern_takes_them_out_of_every_text():
    """A text without "http" is not searched for links: each of 5,000 random texts of links, their pieces and other
    words (a fixed seed) comes out as the whole text's ``sub`` gives it."""
    rng = random.Random(34)
    changed = 0
    for _ in range(5_000):
        text = rng.choice(["", " ", "", "-"]).join(rng.choice(_LINK_PIECES) for _ in range(rng.randint(0, 6)))
        old = http_errors._LINK.sub(" ", text)
        assert http_errors._without_links(text) == old, text
        changed += old != text
    assert 500 < changed < 4_500  # texts with links and without were tried


class _RecordingLink:
    def __init__(self, pattern):
        self.pattern, self.texts = pattern, []

    def sub(self, repl, text):
        self.texts.append(text)
        return self.pattern.sub(repl, text)


def test_a_message_without_a_link_is_not_searched_for_one(monkeypatch):
    link = _RecordingLink(http_errors._LINK)
    monkeypatch.setattr(http_errors, "_LINK", link)
    exc = http_errors.error_for(500, "planned failure", headers={}, provider="openai", model="gpt-4o", code="x")
    assert isinstance(exc, ServerError) and link.texts == []
    said = "Requests exceed the quota. Please go here: https://aka.ms/oai/quotaincrease to raise it."
    exc = http_errors.error_for(429, said, headers={}, provider="azure", model="gpt-4o", code="429")
    assert type(exc).__name__ == "QuotaExhaustedError" and link.texts == [said.lower()]


def _response(status: int, error: object, headers: dict[str, str] | None = None) -> HttpResponse:
    body = json.dumps({"error": error}).encode()
    return HttpResponse(status, CIMultiDictProxy(CIMultiDict(headers or {})), body)


def test_an_error_without_a_gateways_metadata_or_a_servers_problems_is_not_read_for_them(monkeypatch):
    """OpenAI's own error body has no ``metadata`` (OpenRouter's) and no list of problems (FastAPI's, zod's): the
    functions that read them are not called for it, and find nothing for any value that is not theirs."""

    def never(*args):
        raise AssertionError(f"called with {args}")

    for name in ("_upstream_said", "_with_gateway_wait", "_forbidden_field", "_unrecognized_key"):
        monkeypatch.setattr(openai_errors, name, never)
    err = {"message": "planned failure", "type": "server_error", "param": None, "code": None}
    exc = openai_error(_response(500, err), provider="openai", model="gpt-4o")
    assert type(exc) is ServerError and exc.message == "openai:gpt-4o: HTTP 500: planned failure"
    exc = openai_error(_response(500, {**err, "metadata": None}), provider="openai", model="gpt-4o")
    assert type(exc) is ServerError


@pytest.mark.parametrize("metadata", [None, "raw text", 3, ["a"], True, 1.5])
def test_what_is_not_a_gateways_metadata_changes_nothing(metadata):
    """What the guard in openai_error skips: neither function reads anything from a value that is not a dict."""
    headers = CIMultiDictProxy(CIMultiDict({"x": "y"}))
    assert openai_errors._upstream_said(metadata, "said", "code", "param") == ("said", "code", "param")
    assert openai_errors._with_gateway_wait(metadata, headers) is headers


@pytest.mark.parametrize("detail", [None, "text", {"loc": ["body", "x"], "type": "extra_forbidden"}, 3])
def test_what_is_not_a_list_of_problems_names_no_field(detail):
    assert openai_errors._forbidden_field(detail) is None and openai_errors._unrecognized_key(detail) is None


def test_a_gateways_metadata_is_still_read():
    metadata = {"raw": json.dumps({"error": {"message": "bad tool", "param": "tools"}}), "provider_name": "OpenAI"}
    err = {"message": "Provider returned error", "code": 400, "metadata": metadata}
    exc = openai_error(_response(400, err), provider="openrouter", model="openai/gpt-4o")
    assert "OpenAI said: bad tool" in exc.message and exc.details["param"] == "tools"


def test_a_provider_error_is_made_without_its_keywords_going_through_magsag_errors_init(monkeypatch):
    """Its keywords' dict goes to MagsagError's work as it is (``_fill``), not unpacked into MagsagError.__init__'s
    keywords and packed again (some 4,000 of a provider error's 23,000 instructions)."""

    def unpacked(self, message, **details):
        raise AssertionError("MagsagError.__init__ called")

    monkeypatch.setattr(MagsagError, "__init__", unpacked)
    exc = ServerError("openai:gpt-4o: HTTP 500: planned failure", provider="openai", model="gpt-4o", code="x")
    assert exc.details == {"code": "x"} and exc.provider == "openai"


def test_a_provider_error_holds_what_it_held(monkeypatch):
    """Every field in the instance's dict, as before, each detail and the message redacted (a known key and a key's
    shape), and what pickling sends back the same."""
    import pickle

    key = "sk-errs34-known-" + "k" * 30
    register_secret(key)
    exc = ProviderTimeoutError(
        f"openai:gpt-4o: timed out; key {key}",
        provider="openai",
        model="gpt-4o",
        status=408,
        retry_after=1.5,
        maybe_billed=True,
        timeout_s=30.0,
        code=f"code {key}",
        nested={"a": [f"Bearer {key}", 1]},
        nothing=None,
    )
    assert vars(exc) == {
        "message": "openai:gpt-4o: timed out; key [REDACTED]",
        "details": {"code": "code [REDACTED]", "nested": {"a": ["Bearer [REDACTED]", 1]}, "nothing": None},
        "provider": "openai",
        "model": "gpt-4o",
        "status": 408,
        "retry_after": 1.5,
        "maybe_billed": True,
        "attempts": [],
        "usage": None,
        "timeout_s": 30.0,
    }
    assert exc.args == (exc.message,) and key not in str(exc.to_dict())
    again = pickle.loads(pickle.dumps(exc))
    assert type(again) is ProviderTimeoutError and vars(again) == vars(exc) and again.args == exc.args
    plain = MagsagError(f"bad {key}", code=key)
    assert vars(plain) == {"message": "bad [REDACTED]", "details": {"code": "[REDACTED]"}}
    combined = errors.AllTargetsFailed.build("every target failed", attempts=[], last_error=RateLimitError("x"))
    assert isinstance(combined, RateLimitError) and combined.message == "every target failed"
