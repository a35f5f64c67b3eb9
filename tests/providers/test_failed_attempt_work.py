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
    ProviderError,
    ProviderTimeoutError,
    RateLimitError,
    ServerError,
    register_secret,
)
from magsag_mcp.providers import http_errors, openai_errors
from magsag_mcp.providers.openai_errors import openai_error
from magsag_mcp.transport import HttpResponse

pytestmark = pytest.mark.usefixtures("restored_secrets")

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


def _every_provider_error_class() -> list[type[ProviderError]]:
    found, todo = [], [ProviderError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return [cls for cls in found if not cls.__name__.startswith("AllTargetsFailed[")]


@pytest.mark.parametrize("cls", _every_provider_error_class(), ids=lambda cls: cls.__name__)
def test_an_error_made_with_of_is_the_one_its_keywords_make(cls):
    """``cls.of`` (how error_for makes every HTTP error) holds what ``cls(...)`` with the same keywords holds: every
    field in the instance's dict, in its order, the message and each detail redacted, its args, and what pickling
    sends back; a class with an ``__init__`` of its own (ProviderTimeoutError's ``timeout_s``) is called as one."""
    import pickle

    key = "sk-perf40-known-" + "q" * 30
    register_secret(key)
    for message, retry_after, details in (
        (f"openai:gpt-4o: HTTP 500: planned failure {key}", None, {"code": "server_error"}),
        ("azure:gpt-4o: HTTP 429 (request id r-1): slow down", 2.5, {"code": None, "request_id": f"r-1 {key}"}),
        ("", 0.0, {}),
        ("x", None, {"code": f"Bearer {key}", "nested": {"a": [key, 1]}}),
    ):
        given = dict(details)
        made = cls.of(message, "openai", "gpt-4o", 500, retry_after, details)
        called = cls(message, provider="openai", model="gpt-4o", status=500, retry_after=retry_after, **details)
        assert type(made) is cls and list(vars(made).items()) == list(vars(called).items())
        assert list(made.details) == list(given) and details == given  # (its order kept, the dict given untouched)
        assert made.args == called.args == (made.message,) and key not in repr(vars(made))
        assert made.details is not details and made.attempts is not called.attempts
        again = pickle.loads(pickle.dumps(made))
        assert type(again) is cls and vars(again) == vars(made) and again.args == made.args
        assert made.to_dict() == called.to_dict() and str(made) == str(called)


@pytest.mark.parametrize(
    ("status", "message", "code", "cls"),
    [
        (500, "planned failure", None, "ServerError"),
        (503, "busy", None, "OverloadedError"),
        (429, "slow down", "rate_limit_exceeded", "RateLimitError"),
        (429, "You exceeded your current quota", "insufficient_quota", "QuotaExhaustedError"),
        (400, "bad", "invalid_request_error", "BadRequestError"),
        (404, "no such model", None, "ModelNotFoundError"),
        (401, "bad key", None, "AuthenticationError"),
        (413, "too big", None, "ContextTooLongError"),
        (418, "teapot", None, "UnexpectedStatusError"),
    ],
)
def test_error_for_makes_its_errors_without_the_keyword_round_trip(monkeypatch, status, message, code, cls):
    """error_for's errors are made with ``of``: ProviderError.__init__ is not called for them (a class with an
    ``__init__`` of its own still is: see above), and they say what they said."""
    headers = CIMultiDictProxy(CIMultiDict({"x-request-id": "req-9"}))
    before = http_errors.error_for(status, message, headers=headers, provider="openai", model="gpt-4o", code=code)

    def called(self, *args, **kwargs):
        raise AssertionError("ProviderError.__init__ called")

    monkeypatch.setattr(ProviderError, "__init__", called)
    exc = http_errors.error_for(status, message, headers=headers, provider="openai", model="gpt-4o", code=code)
    assert type(exc).__name__ == cls and type(exc) is type(before) and vars(exc) == vars(before)
    assert exc.message.startswith(f"openai:gpt-4o: HTTP {status} (request id req-9): {message}")
    assert exc.details == {"code": code, "request_id": "req-9"} and exc.status == status


def test_a_gateway_timeout_is_still_made_by_its_own_init():
    """ProviderTimeoutError has an ``__init__`` of its own: ``of`` calls it, and the error has its ``timeout_s``."""
    exc = http_errors.error_for(504, "upstream timed out", headers={}, provider="openai", model="gpt-4o")
    assert type(exc) is ProviderTimeoutError and exc.timeout_s is None and exc.details == {"code": None}
