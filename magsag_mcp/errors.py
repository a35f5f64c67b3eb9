"""Every error magsag-mcp raises, in one small tree.

Provider errors are converted once, at the HTTP boundary (``providers/http_errors.py`` and each wire
format's ``map_error``), and nowhere else. Each class knows two things the cascade needs:
``retryable`` (try the same target again after a wait) and ``moves_on`` (try the next target). A
timeout, a rate limit and an overload are retryable only on the last target left ("last only"): the
next target is tried first.

    MagsagError
    ├── ConfigError                  bad catalog file, env var or CLI/tool argument (fix the config)
    │   └── CatalogError             a catalog YAML file is malformed or invalid
    ├── InputError                   the caller's request is wrong (fix the call)
    │   ├── UnknownSkillError
    │   └── PayloadError             payload misses a field or fails the skill's input_schema
    ├── PolicyDenied                 governance forbids the model (not retried, not a provider error)
    ├── BudgetExceeded               a spend limit would be crossed (not retried, not a provider error)
    ├── LedgerError                  the usage database cannot be opened, read or written
    ├── AgentError                   an agent's code raised: its run's record (never raised)
    └── ProviderError                a provider call failed                  retryable  moves_on
        ├── AuthenticationError      401, bad or missing key (Gemini: 400/403) no         yes
        ├── NotConfiguredError       no endpoint, or an unusable base URL      no         yes
        ├── PermissionDeniedError    403, region or account not served         no         yes
        ├── ModelNotFoundError       404, or a 400/422 model_not_found         no         yes
        ├── BadRequestError          400 wrong for any target (3)              no         no
        │   └── ContextTooLongError  prompt exceeds the window, 413            no         yes
        ├── ContentFilteredError     safety filter on prompt or answer         no         yes
        ├── RateLimitError           429 that will clear (retry_after)         last only  yes
        │   └── QuotaExhaustedError  429 that will not clear soon, 402         no         yes
        ├── ServerError              5xx, 409 conflict, 425 too early          yes        yes
        │   └── OverloadedError      529 / overloaded / 503 UNAVAILABLE        last only  yes
        ├── ProviderTimeoutError     a timeout, 408, a gateway's 504 or 524    last only  yes
        ├── ProviderConnectionError  refused, reset, dropped mid-stream        yes (1)    yes
        │   └── NameLookupTimeoutError  no answer from DNS within the connect timeout  last only  yes
        ├── MalformedResponseError   body is not what the API documents        no         yes
        │   └── InvalidOutputError   model broke the requested JSON output     no         yes
        ├── UnsupportedFeatureError  target cannot honour a feature, 400 (3)   no         yes
        ├── UnexpectedStatusError    any other 4xx (405, 410, 499, ...)        no         yes
        └── InternalError            our own bug in the attempt (2)            no         no

(1) not an untrusted TLS certificate, a host name DNS says does not exist, nor a proxy refusing the credentials or
the host (407, 403): only the configuration clears those, and the next target is tried at once. A connection this
machine refused (nothing listening on a loopback port: most often a local server not started) is retried on the last
target left only, as a timeout: the next target is tried first, and the last one left gets its retries (the port may
be between two processes: a server restarted, a tunnel coming back).
(2) our own code raised (a TypeError in a parse step), not the vendor's: another target would run the same code and
be billed for an answer lost the same way, so the call stops there, naming the bug (``InternalError``). Maybe billed
once the transport sent the attempt's request; raised before that (building the body), it cost nothing.
(3) one rule for every vendor's 400 (``target_refusals.target_cannot``): a refusal of what THIS target does not do ("not
supported", "unsupported", "does not support", "not enabled for"; OpenAI's and Azure's codes unsupported_parameter and
unsupported_value; a field the API does not have: Gemini's "Unknown name", Anthropic's "Extra inputs are not
permitted", OpenAI's "Unrecognized request argument") moves on, whether it names the model or not, unless it refuses
the caller's own data (a file, its type) or a route; a request wrong for anyone (malformed, a field missing, a value
out of range) stops the call.

A bug of ours outside an attempt (the cascade's bookkeeping, the result's building) is a ``MagsagError`` itself, kind
``error``: the call is recorded failed with what it spent, and the error, raised from the bug, names it
(``details["exception"]``), the run and the cost. So is a bug of ours writing a successful call's record (a row that
cannot be bound): the answer paid for is attached (``.result``), and the record is kept, to be written again. A bug
pricing a sound answer fails nothing: the answer comes at an
unknown cost, and a warning names the bug. What the caller's progress callback raised is the caller's own, raised
as it was.

``maybe_billed`` says the request reached the vendor and was cut before a complete answer came back:
the vendor may bill tokens it generated, so the attempt's cost is unknown, not 0. It is set where the
error is converted (a read timeout or a dropped connection, in the transport; a gateway's timeout, 504 or
524, in the provider), where a 2xx answer is
read (a stream that failed once it had begun, or a body that is no usable answer, unless it reports
its usage) and by the cascade (the call's deadline; a bug of ours once the transport had sent the attempt's request:
see :class:`~magsag_mcp.sends.Sends`). A request refused before it was sent
(connection refused, connect timeout) or rejected with any other HTTP error status is not billed.

``AllTargetsFailed`` is raised when the cascade runs out: it is an instance of *both*
``AllTargetsFailed`` and the last attempt's class, so ``except RateLimitError`` keeps working for
callers that route to a single model, while ``err.attempts`` carries every attempt. It is defined in
``all_targets_failed.py`` (made of the tree's classes, at run time) and imported from here, as the tree is.

Messages never contain secrets: :func:`redact` scrubs anything that looks like a key before a
message is built from a provider's body.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar, Self

# re-exported: every module imports them from here
from .redaction import PLACEHOLDER_KEYS as PLACEHOLDER_KEYS
from .redaction import RedactingFilter as RedactingFilter
from .redaction import excerpt, redact, redact_values, register_secret
from .redaction import redacting_logger as redacting_logger

__all__ = [
    "MagsagError",
    "ConfigError",
    "CatalogError",
    "InputError",
    "UnknownSkillError",
    "PayloadError",
    "PolicyDenied",
    "BudgetExceeded",
    "LedgerError",
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
    "AllTargetsFailed",
    "redact",
    "register_secret",
    "excerpt",
    "redact_values",
]


# --- the tree ------------------------------------------------------------------------------------


class MagsagError(Exception):
    """Base of every error magsag-mcp raises on purpose."""

    #: short stable name used in the ledger, CLI JSON and MCP tool errors
    kind: ClassVar[str] = "error"
    #: for the error of a call (``invoke``): the run it was recorded under, else None
    run_id: str | None = None
    #: for the error of a call: what it cost, every attempt (a Decimal); None when unknown or not a call's
    cost_usd: Decimal | None = None
    #: the usage a vendor reported (and bills) for an answer this error made unusable, or None. A
    #: provider error sets it per instance; a caller's error that surfaces only once the answer is in
    #: (a schema that cannot be applied) carries it too, so the attempt is recorded at its cost.
    usage: Any = None
    #: for the error of a call that succeeded but whose record failed (the ledger refused it, or a bug of ours kept it
    #: out): the answer that was paid for (an InvokeResult, a dict from ``skills.invoke``), else None
    result: Any = None

    def __init__(self, message: str, **details: Any) -> None:
        self._fill(message, details)

    def _fill(self, message: str, details: dict[str, Any]) -> None:
        """What ``__init__`` does, with ``details`` as the dict they came in: a subclass's ``__init__`` passes its
        keywords' dict on as it is (``super().__init__(message, **details)`` unpacked it into a new one, some 4,000
        instructions of a provider error's 22,000)."""
        message = redact(message)
        super().__init__(message)
        self.message = message
        # Details come from vendors' bodies too (an error "code" may echo the key that was sent).
        self.details: dict[str, Any] = {}
        for k, v in details.items():  # a loop, not a comprehension (a frame): every error makes one
            self.details[k] = redact_values(v)

    def to_dict(self) -> dict[str, Any]:
        data = {"type": self.kind, "message": self.message, **self.details}
        # the paid answer travels in every form of the error (an MCP tool error, the CLI's JSON), not only
        # as .result in Python: its message tells the caller it is attached, and calling again pays twice
        if self.result is not None:
            data["result"] = self.result.to_dict() if hasattr(self.result, "to_dict") else self.result
        return data

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled (a process pool sends a worker's exception back) without calling __init__ again, which
        # for some classes takes required keywords (policy=...): the fields travel as the instance's state.
        return (_rebuilt, (type(self), self.message), self.__dict__)


def _rebuilt(cls: type[MagsagError], message: str) -> MagsagError:
    err = cls.__new__(cls)
    Exception.__init__(err, message)
    return err


class ConfigError(MagsagError):
    """A setting, catalog file or environment variable is wrong (the message names it): fix the configuration."""
    kind = "config_error"


class CatalogError(ConfigError):
    """A catalog YAML file is malformed or invalid; ``problems`` lists each (``magsag catalog validate``)."""
    kind = "catalog_error"

    def __init__(self, message: str, *, problems: list[str] | None = None, **details: Any) -> None:
        super().__init__(message, **details)
        self.problems = problems or [message]


class InputError(MagsagError):
    """The call's own arguments are wrong (a name, an option such as a report's time zone): fix the call; nothing was
    sent. A payload's, ``model_config``'s or ``context``'s value is a :class:`PayloadError`."""
    kind = "input_error"
    #: a delegated run's reservation found it placed under another parent since the call read where it was
    #: (governance.delegation.placed_elsewhere): refused as that read refuses it, with nothing recorded
    placed_elsewhere: bool = False


class UnknownSkillError(InputError):
    """No skill of that id in the catalog; the message lists the ones there (``skills.list()``)."""
    kind = "unknown_skill"


class PayloadError(InputError):
    """The payload misses a field or fails its skill's ``input_schema``, or a setting of the call (``model_config``,
    ``context``: its data class, tier, preferred model) cannot be used; the message names which (``context.tier``),
    and nothing was sent."""
    kind = "invalid_payload"


class PolicyDenied(MagsagError):
    """A governance policy (``policy``) refuses the call's model or data class, before anything is sent."""
    kind = "policy_denied"
    #: the refused model is routing's choice, refused whoever serves it: skipped as a routed target is,
    #: even when MAGSAG_PROVIDER or the call chose the provider serving it
    by_routing: bool = False
    #: the target (a :class:`~.types.Target`) a policy refused while the call was planned, before any attempt (a
    #: confined data class's call naming a server the operator did not configure): the call's record keeps it as
    #: that target's refused attempt, as it keeps one the cascade refused
    unplanned: Any = None
    #: with ``unplanned``: the data classes the call was held to (the skill's, its agent run's, its context's), which
    #: that refused attempt records as the cascade's attempts record the plan's (0027)
    unplanned_classes: tuple[str, ...] = ()

    def __init__(self, message: str, *, policy: str, **details: Any) -> None:
        super().__init__(message, policy=policy, **details)
        self.policy = policy


class BudgetExceeded(MagsagError):
    """A spend limit (``policy``) would be crossed by the call, which is refused before anything is sent."""
    kind = "budget_exceeded"

    def __init__(self, message: str, *, policy: str, **details: Any) -> None:
        super().__init__(message, policy=policy, **details)
        self.policy = policy


class LedgerError(MagsagError):
    """The usage ledger cannot be opened, read or written; a paid answer travels in ``.result``."""
    kind = "ledger_error"


class AgentError(MagsagError):
    """An agent's own code raised an exception outside this tree: what its run's record says of it (the ledger's
    ``error_class``, ``agent_error``, and ``agent 'my-sag' raised KeyError: 'data'``), and what ``magsag run``
    prints. Never raised to the caller of ``run_agent``, who gets the agent's own exception as it was raised."""

    kind = "agent_error"


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


# apart from the tree, made of its classes (see all_targets_failed.py): imported once they exist
from .all_targets_failed import AllTargetsFailed as AllTargetsFailed  # noqa: E402
