"""The errors of a call to a provider: :class:`ProviderError` and its subclasses, the branch of the tree in
:mod:`magsag_mcp.errors` (whose docstring draws it, with what each class does in the cascade: ``retryable``,
``moves_on``). Converted once, at the HTTP boundary (``providers/http_errors.py``, each wire format's ``map_error``,
:mod:`magsag_mcp.transport_failures`), and nowhere else; with :class:`TransportCause`, what the HTTP library said of
a failure so converted.

Apart from the errors refusing a call before anything is sent (a setting, the call's input, a policy, a budget, the
ledger: :mod:`magsag_mcp.errors`), which know nothing of retries, targets or billing. Import them from
:mod:`magsag_mcp.errors`, as every module does: each class is named from there (``__module__``), in a traceback and
when it is pickled, as before the branch had a module of its own.
"""

from __future__ import annotations

from typing import Any, ClassVar, Self

from .errors import MagsagError
from .redaction import redact

__all__ = [
    "ProviderError",
    "AuthenticationError",
    "NotConfiguredError",
    "PermissionDeniedError",
    "ModelNotFoundError",
    "BadRequestError",
    "ContextTooLongError",
    "ContentFilteredError",
    "RateLimitError",
    "QuotaExhaustedError",
    "ServerError",
    "OverloadedError",
    "ProviderTimeoutError",
    "ProviderConnectionError",
    "NameLookupTimeoutError",
    "MalformedResponseError",
    "InvalidOutputError",
    "UnsupportedFeatureError",
    "UnexpectedStatusError",
    "InternalError",
    "TransportCause",
]


class ProviderError(MagsagError):
    """A call to a provider failed. ``status`` is the HTTP status when there was one."""

    kind = "provider_error"
    retryable: ClassVar[bool] = False
    moves_on: ClassVar[bool] = True
    #: retryable only once no other target is left: the next target is tried first (timeouts)
    retried_only_on_last_target: ClassVar[bool] = False
    #: the vendor may bill this failed attempt for an unknown number of tokens (see the module docstring);
    #: a class default too, so that an instance built without __init__ (AllTargetsFailed) has it
    maybe_billed: bool = False
    #: of an attempt ``maybe_billed``: the prompt's tokens the vendor had counted before the cut (a stream's
    #: message_start, a Gemini chunk), recorded beside the unknown cost; None when it counted none (a class default,
    #: as ``maybe_billed``)
    prompt_usage: Any = None
    #: the request may have reached the vendor: False when it could not be sent (a connection refused, a name that
    #: does not resolve, no connection made in time), set where the transport's failure is converted
    reached: bool = True
    #: DNS answered that the host's name does not exist (EAI_NONAME), set where the transport's failure is converted:
    #: of the failures that are not retried (an untrusted certificate, a proxy refusing the credentials), the one that
    #: says nothing answers at that name (see local_reach.found_slowly)
    name_not_found: bool = False
    #: where the quota that refused it, not ``retry_after``, says how long to leave the target alone (Gemini's per-day
    #: quotas, reset at midnight Pacific time, come with a RetryInfo of seconds): (seconds until it resets, inf where
    #: no wait within minutes refills it; the quota as a skip names it). A class default, as ``maybe_billed``
    rest: tuple[float, str] | None = None
    #: a 429 taken for a spent quota by its wait alone (longer than ``LONG_WAIT_SECONDS``; its server named no quota):
    #: a rate limit still to a retry cap raised to cover the wait (see RetryPolicy.honour_long_wait)
    quota_by_wait: bool = False
    #: a spent quota its server named (OpenAI's insufficient_quota, Gemini's QuotaFailure of a day's quota, a 402's or
    #: Anthropic's credit): never waited for; the call's error says the quota's fix (cascade_waits.taken_for_a_quota)
    quota_named: bool = False
    #: stands for a target the circuit breaker left alone (see breaker.py), not for a wait its server named: a call
    #: with no other target to try sends it all the same, once and at once
    left_by_breaker: bool = False

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        model: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
        maybe_billed: bool = False,
        **details: Any,
    ) -> None:
        self._fill(message, details)
        self.provider = provider
        self.model = model
        self.status = status
        self.retry_after = retry_after
        self.maybe_billed = maybe_billed
        self.attempts: list[Any] = []
        #: tokens the vendor billed although the attempt failed (an answer that could not be used)
        self.usage: Any = None

    @classmethod
    def of(
        cls,
        message: str,
        provider: str | None,
        model: str | None,
        status: int | None,
        retry_after: float | None,
        details: dict[str, Any],
    ) -> Self:
        """``cls(message, provider=provider, model=model, status=status, retry_after=retry_after, **details)``, the
        same instance, made by the converter of every HTTP error (``providers/http_errors.error_for``) without the
        keywords' round trip: a class called with keywords packs them into a dict for ``type.__call__``, unpacks it
        for ``__init__`` and packs the extra ones again (``**details``), a detail's name compared with each parameter's
        on the way: some 4,700 instructions of a failed attempt's 68,000. A class with an ``__init__`` of its own
        (``timeout_s``) is called as usual."""
        if cls.__init__ is not ProviderError.__init__:
            return cls(message, provider=provider, model=model, status=status, retry_after=retry_after, **details)
        exc = cls.__new__(cls)
        exc._fill(message, details)  # (the fields below in __init__'s order: vars() and pickling see the same)
        exc.provider = provider
        exc.model = model
        exc.status = status
        exc.retry_after = retry_after
        exc.maybe_billed = False
        exc.attempts = []
        exc.usage = None
        return exc

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data.update(provider=self.provider, model=self.model, status=self.status)
        if self.retry_after is not None:
            data["retry_after"] = self.retry_after
        return data


class AuthenticationError(ProviderError):
    """The provider refused the key (401), or no key is set: set or fix its API key variable."""
    kind = "authentication_error"


class NotConfiguredError(ProviderError):
    """The environment does not say where to send the call: no endpoint (Azure, compat), a base URL
    that is not an http(s) URL, a header value with a line break, or proxy settings that refuse its host (a proxy
    magsag cannot use, a NO_PROXY entry that covers nothing). Nothing was sent. Also a local
    server's base URL at which neither OpenAI API exists (404 for both), and an Azure api-version the service
    does not serve (400): nothing was generated. (A missing
    key is an :class:`AuthenticationError`, as a rejected one is.)"""

    kind = "not_configured"


class PermissionDeniedError(ProviderError):
    """The provider refused the account or region (403): the key is valid but may not use this."""
    kind = "permission_denied"


class ModelNotFoundError(ProviderError):
    """The provider has no such model, or not for this key (404): check the model's name."""
    kind = "model_not_found"
    #: a local server's: the models its list names (None: not read), and its base URL as messages show it; what a
    #: call that sent it routing's models by their names says it serves
    served_models: list[str] | None = None
    served_at: str | None = None
    #: a local server's: it said it has no model loaded (LM Studio's "No models loaded"), so loading one is the fix,
    #: not naming another (its list, not read then, is not said)
    none_loaded: bool = False


class BadRequestError(ProviderError):
    """The provider refused the request as wrong for any model (400): fix the call; no fallback is tried."""
    kind = "bad_request"
    moves_on = False


class ContextTooLongError(BadRequestError):
    """The prompt is longer than the model's context window (or 413): shorten it, or use a larger model."""
    kind = "context_too_long"
    moves_on = True


class ContentFilteredError(ProviderError):
    """The provider's safety filter stopped the prompt or the answer."""
    kind = "content_filtered"


class RateLimitError(ProviderError):
    """The provider rate-limited the call (429); ``retry_after`` is its wait in seconds, when it said one."""
    kind = "rate_limited"
    retryable = True
    # The target has just said it will take no more for a while: waited for and sent the call again, it holds
    # the call there (the server's wait, at each retry) while a fallback, there for this, could answer at once.
    # Retried only when no other target is left.
    retried_only_on_last_target = True


class QuotaExhaustedError(RateLimitError):
    """The provider's quota or credit is spent (429 that will not clear soon, 402): not retried."""
    kind = "quota_exhausted"
    retryable = False
    retried_only_on_last_target = False  # (not retried anywhere)


class ServerError(ProviderError):
    """The provider failed (5xx, 409, 425): retried, then the next target is tried."""
    kind = "server_error"
    retryable = True


class OverloadedError(ServerError):
    """The provider is short of capacity (Anthropic's 529, a 503): the next target is tried first."""
    kind = "overloaded"
    # the vendor is short of capacity (Anthropic's 529, a 503): another target is tried first, as for a rate limit
    retried_only_on_last_target = True


class ProviderTimeoutError(ProviderError):
    """The provider did not answer in time (``timeout_s``), or the call's deadline ran out (``call_deadline``)."""
    kind = "timeout"
    retryable = True
    # A target that let a whole timeout pass in silence would most likely do it again: retried on it,
    # it spends the call's deadline there before any fallback is tried. It is retried only when no
    # other target is left, and only when the call has time left for a whole timeout more.
    retried_only_on_last_target = True
    #: how long the timeout that fired was, in seconds (None when the vendor reported it, e.g. a 408)
    timeout_s: float | None = None
    #: the call's own deadline ran out (MAGSAG_CALL_DEADLINE), not a timeout of the server's: the caller's choice of
    #: time, which says nothing of the server's health (see breaker.unwell)
    call_deadline: bool = False

    def __init__(self, message: str, *, timeout_s: float | None = None, **details: Any) -> None:
        super().__init__(message, **details)
        self.timeout_s = timeout_s


class ProviderConnectionError(ProviderError):
    """The provider could not be reached, or the connection dropped: check the base URL and network."""
    kind = "connection_error"
    retryable = True


class NameLookupTimeoutError(ProviderConnectionError):
    """The provider's host name got no answer from DNS within the connect timeout (a VPN that dropped, a
    resolver that answers no one): nothing was sent. Like a connect timeout, it is retried only when no
    other target is left, and only when the call has time for a whole timeout more."""

    retried_only_on_last_target = True

    def __init__(self, message: str, *, timeout_s: float | None = None, **details: Any) -> None:
        super().__init__(message, **details)
        self.timeout_s = timeout_s


class MalformedResponseError(ProviderError):
    """The provider's answer is not what its API documents."""
    kind = "malformed_response"


class InvalidOutputError(MalformedResponseError):
    """The model's answer broke the JSON output the call asked for."""
    kind = "invalid_output"


class UnsupportedFeatureError(ProviderError):
    """The target cannot do what the call asks (a feature or setting it refuses); the next is tried."""
    kind = "unsupported_feature"


class UnexpectedStatusError(ProviderError):
    """An HTTP error status the API's error handling does not classify (a gateway's 405 or 410, ...).
    It says nothing against the request itself, so another target may serve the call."""

    kind = "unexpected_status"


class InternalError(ProviderError):
    """Code of magsag-mcp's raised an exception outside this tree during an attempt (a TypeError or a KeyError in
    building the request or reading the answer): our bug, not the vendor's, which ``malformed_response`` blamed.
    Converted once, by the cascade, with the exception's type in the message and in ``details["exception"]``.
    Not retried and no other target is tried: the same code would read the next answer too, and each answer is
    billed. Once the transport has sent a request of the attempt, it may have reached the vendor, so the attempt's
    cost is unknown (``maybe_billed``); a bug before that (building the body) sent nothing, and costs 0."""

    kind = "internal_error"
    moves_on = False


class TransportCause(Exception):
    """What the HTTP library said of a failure converted into this tree (its class's name and its text, each URL in it
    cut to its host and keys redacted), as that error's ``__cause__``, in the library's exception's place: a
    traceback still says what aiohttp said. aiohttp's own exception, as the cause (a broken stream's) or as the
    context (``raise ... from None`` only hides it from tracebacks), kept the request's whole URL (``Connection timeout
    to host https://gw/v1/<token>/chat?key=...``, ``Can not write request body for ...``) and, a proxy's refusal, its
    request's headers: printed in every traceback of the error (any logger's ``exc_info``), and reachable through
    the error raised to a caller. Made by :func:`~magsag_mcp.transport_failures.converted_from`; not raised."""

    def __init__(self, said: str) -> None:
        super().__init__(redact(said))


# named where they are imported from (magsag_mcp.errors), in a traceback and by pickle, as AllTargetsFailed is
for _name in __all__:
    globals()[_name].__module__ = "magsag_mcp.errors"
del _name
