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
The ``ProviderError`` branch is defined in ``provider_errors.py`` and imported from here too: import every class
from here (``from magsag_mcp.errors import RateLimitError``), where each is named (``__module__``, pickle).

Messages never contain secrets: :func:`redact` scrubs anything that looks like a key before a
message is built from a provider's body; :func:`said_without_keys` (defined in ``bug_redaction.py``, imported from
here) scrubs a bug's exception that an error of the tree is raised from, and its chain.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar

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
    "said_without_keys",
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

    def redact_again(self) -> None:
        """Its message and details redacted again, knowing the keys known now (``call_keys_known``): an error made
        once a call had forgotten the credential it gave itself (an agent's own, quoting that call's answer)."""
        self._fill(self.message, self.details)

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


# the provider branch, in a module of its own (see provider_errors.py): imported once MagsagError exists
from .provider_errors import AuthenticationError as AuthenticationError  # noqa: E402
from .provider_errors import BadRequestError as BadRequestError  # noqa: E402
from .provider_errors import ContentFilteredError as ContentFilteredError  # noqa: E402
from .provider_errors import ContextTooLongError as ContextTooLongError  # noqa: E402
from .provider_errors import InternalError as InternalError  # noqa: E402
from .provider_errors import InvalidOutputError as InvalidOutputError  # noqa: E402
from .provider_errors import MalformedResponseError as MalformedResponseError  # noqa: E402
from .provider_errors import ModelNotFoundError as ModelNotFoundError  # noqa: E402
from .provider_errors import NameLookupTimeoutError as NameLookupTimeoutError  # noqa: E402
from .provider_errors import NotConfiguredError as NotConfiguredError  # noqa: E402
from .provider_errors import OverloadedError as OverloadedError  # noqa: E402
from .provider_errors import PermissionDeniedError as PermissionDeniedError  # noqa: E402
from .provider_errors import ProviderConnectionError as ProviderConnectionError  # noqa: E402
from .provider_errors import ProviderError as ProviderError  # noqa: E402
from .provider_errors import ProviderTimeoutError as ProviderTimeoutError  # noqa: E402
from .provider_errors import QuotaExhaustedError as QuotaExhaustedError  # noqa: E402
from .provider_errors import RateLimitError as RateLimitError  # noqa: E402
from .provider_errors import ServerError as ServerError  # noqa: E402
from .provider_errors import TransportCause as TransportCause  # noqa: E402
from .provider_errors import UnexpectedStatusError as UnexpectedStatusError  # noqa: E402
from .provider_errors import UnsupportedFeatureError as UnsupportedFeatureError  # noqa: E402

# isort: split
# a bug's exception (outside the tree) that an error of the tree is raised from, its texts redacted (see
# bug_redaction.py): imported once MagsagError exists
from .bug_redaction import RedactedException as RedactedException  # noqa: E402
from .bug_redaction import said_without_keys as said_without_keys  # noqa: E402

# isort: split
# apart from the tree, made of its classes (see all_targets_failed.py): imported once they exist
from .all_targets_failed import AllTargetsFailed as AllTargetsFailed  # noqa: E402
