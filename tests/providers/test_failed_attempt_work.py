"""What a failed attempt's error costs to make (errors.py, providers/openai_errors.py, providers/http_errors.py): the
same error, class, message, details and redaction, with less done that finds nothing on most errors."""

from __future__ import annotations

from magsag_mcp import errors
from magsag_mcp.errors import (
    MagsagError,
    ProviderTimeoutError,
    RateLimitError,
    ServerError,
    register_secret,
)


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
