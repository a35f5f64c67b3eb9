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
message is built from a provider's body.
"""

from __future__ import annotations

import copy
import sys
from decimal import Decimal
from typing import Any, ClassVar, TypeVar

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


#: an exception outside the tree (see :func:`said_without_keys`)
_Bug = TypeVar("_Bug", bound=BaseException)
#: the most links of an exception's chain :func:`said_without_keys` reads (a chain is rarely more than 3 long)
_CHAIN_READ = 16


def said_without_keys(bug: BaseException) -> BaseException:
    """``bug``, an exception outside this tree (a bug of ours) that an error of the tree is raised from, its texts
    redacted in place, and those of the exceptions it was raised from or during (``__cause__``, ``__context__``) and,
    an exception group's, of those it holds: its ``args`` (``KeyError``'s, ``ValueError``'s text; one that is no text,
    a tuple or bytes quoting a key, becomes its redacted repr), an ``OSError``'s ``strerror`` and file names, its
    notes, the text fields its own ``__str__`` is built from (jsonschema's ``message`` and ``instance``, a YAML error's
    marks' buffer). Its type and traceback are kept, for the report the error's message asks for. The error's message
    was redacted as it was made, but every traceback of the error prints its cause's text (an application's own
    logger, with ``exc_info``, which no filter of magsag's sees), and a bug quoting what the vendor answered
    (``{}[answer]``, an answer echoing the request's key) gave the key away whole.

    An exception whose text still holds a key once those are rewritten (pydantic's ``ValidationError``, built in Rust
    from the input it quotes, ``input_value=...``, and read-only) is replaced, where the chain holds it, by a
    :class:`RedactedException` naming its type, with its redacted text and its traceback; so is ``bug`` itself, in
    what this returns: raise the error *from what it returns*.

    Only exceptions caught in magsag's code are rewritten: one the caller's own code caught (the exception it was
    handling as it made the call, the bug's ``__context__``) is the caller's, still held by it, and left as it is."""
    seen: dict[int, bool] = {}  # (each exception read, and whether as ours: one held by a group of ours is ours)
    # (ours: what it is given; the exception holding it as its cause or context, and which; None for bug itself)
    todo: list[tuple[BaseException | None, bool, BaseException | None, str]] = [(bug, True, None, "")]
    shown = bug
    while todo and len(seen) < _CHAIN_READ:
        link, ours, holder, held_as = todo.pop()
        if link is None or seen.get(id(link), False) or (id(link) in seen and not ours):
            continue
        seen[id(link)] = ours
        in_chain = link  # (what the chain holds in its place: a stand-in for it, if one was made)
        if ours and not isinstance(link, MagsagError):  # (the tree's are redacted as they are made)
            _redact_texts(link)
            if isinstance(link, BaseExceptionGroup):
                in_chain = _group_without_keys(link)
            elif held_as != _IN_A_GROUP and _still_says_a_key(link):  # (one a group holds: stood for by the group's)
                in_chain = RedactedException.of(link)
            if in_chain is not link:
                if holder is None:
                    shown = in_chain
                else:
                    setattr(holder, held_as, in_chain)
        if isinstance(in_chain, BaseExceptionGroup):  # (a task group's: a traceback prints each it holds)
            todo.extend((held, ours, None, _IN_A_GROUP) for held in in_chain.exceptions)
        held_as = "__cause__" if link.__cause__ is not None else "__context__"
        after = getattr(link, held_as)
        todo.append((after, after is not None and _caught_by_us(after), in_chain, held_as))
    return shown


_IN_A_GROUP = "exceptions"  # (how said_without_keys's links say one an exception group holds, not its cause or context)


def _group_without_keys(group: BaseExceptionGroup[Any]) -> BaseExceptionGroup[Any]:
    """``group``, each exception it holds (and those its groups hold) redacted in place, or, if one of them still says a
    key (a pydantic ValidationError a task raised), a copy of it holding a :class:`RedactedException` in that one's
    place, with the group's traceback, cause, context and notes: its ``exceptions`` are read-only, and the member's
    stand-in made the stand-in of the whole group (the others and the group itself lost), the key left in it."""
    held: list[BaseException] = []
    for member in group.exceptions:
        if isinstance(member, MagsagError):
            held.append(member)
            continue
        _redact_texts(member)
        if isinstance(member, BaseExceptionGroup):
            held.append(_group_without_keys(member))
        else:
            held.append(RedactedException.of(member) if _still_says_a_key(member) else member)
    if all(new is old for new, old in zip(held, group.exceptions, strict=True)):
        return group
    copied = group.derive(held)
    copied.__cause__, copied.__context__ = group.__cause__, group.__context__
    copied.__suppress_context__ = group.__suppress_context__
    notes = getattr(group, "__notes__", None)
    if notes is not None:
        copied.__notes__ = list(notes)
    return copied.with_traceback(group.__traceback__)


class RedactedException(Exception):
    """Stands, in an error's chain, for an exception of ours whose text is built from fields no rewriting reaches
    (pydantic's ``ValidationError``, quoting the input it refused) and held a key (see :func:`said_without_keys`): its
    text names the type it stands for (``original_type``, its name ``original_name``) and is that exception's text
    redacted; its traceback, cause and context are that exception's.

    Pickled (a process pool's worker sending it back, a task queue), it keeps its type's name, and its type where pickle
    can name it; a class defined inside a function, which pickle cannot, is None once unpickled (it failed to pickle at
    all, and the error it was the cause of was lost with it)."""

    original_type: type[BaseException] | None = Exception
    original_name: str = "builtins.Exception"

    @classmethod
    def of(cls, exc: BaseException) -> RedactedException:
        kind = type(exc)
        name = f"{kind.__module__}.{kind.__qualname__}"
        stand_in = cls(f"{name} (its text redacted): {redact(_text_of(exc))}")
        stand_in.original_type, stand_in.original_name = kind, name
        stand_in.__cause__, stand_in.__context__ = exc.__cause__, exc.__context__
        stand_in.__suppress_context__ = exc.__suppress_context__
        return stand_in.with_traceback(exc.__traceback__)

    def __reduce__(self) -> tuple[Any, ...]:
        state = dict(self.__dict__)
        if state.get("original_type") is not None and not _named_by_pickle(state["original_type"]):
            state["original_type"] = None
        return type(self), self.args, state


def _named_by_pickle(kind: type) -> bool:
    """Whether pickle can name ``kind``: its module, imported, holds it under its qualified name."""
    found: Any = sys.modules.get(kind.__module__)
    for part in kind.__qualname__.split("."):
        found = getattr(found, part, None)
    return found is kind


def _text_of(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:  # (a __str__ of its own that fails: a traceback prints no text of it either)
        return ""


def _still_says_a_key(exc: BaseException) -> bool:
    """Whether ``exc``'s text, as a traceback prints it, still holds what :func:`redact` removes."""
    text = _text_of(exc)
    return redact(text) != text


def _caught_by_us(exc: BaseException) -> bool:
    """Whether ``exc`` was caught in magsag's code (its traceback's first frame, where it stopped, is ours), or never
    raised (made by us): not the caller's own exception."""
    tb = exc.__traceback__
    if tb is None:
        return True
    module = tb.tb_frame.f_globals.get("__name__", "")
    return module == "magsag_mcp" or module.startswith("magsag_mcp.")


#: the arguments that are no text a traceback prints the repr of, redacted as that repr (never an exception group's
#: exceptions: the group's own args are its message and them)
_SHOWN_BY_REPR = (bytes, bytearray, tuple, list, dict, set, frozenset)


def _redacted_arg(arg: Any) -> Any:
    if isinstance(arg, str):
        return redact(arg)
    if not isinstance(arg, _SHOWN_BY_REPR):
        return arg
    try:
        shown = repr(arg)
    except Exception:  # (a repr of its own that fails: nothing of it is printed either)
        return arg
    hidden = redact(shown)
    return arg if hidden == shown else hidden


def _redacted_note(note: Any) -> Any:
    """A note that is no text (``__notes__`` appended to) as a traceback prints it, its ``str()``, redacted."""
    hidden = redact(shown := _text_of(note))
    return note if hidden == shown else hidden


def _redact_texts(exc: BaseException) -> None:
    try:
        if isinstance(exc, BaseExceptionGroup):  # (its message is its own field: the exceptions it holds are read)
            exc.args = (_redacted_arg(exc.args[0]), *exc.args[1:])
        else:
            exc.args = tuple(_redacted_arg(arg) for arg in exc.args)
        for name in ("strerror", "filename", "filename2"):
            if isinstance(said := getattr(exc, name, None), str):
                setattr(exc, name, redact(said))
        notes = getattr(exc, "__notes__", None)
        if isinstance(notes, list):  # (one that is no text, appended to the list, a traceback prints as its str())
            notes[:] = [redact(note) if isinstance(note, str) else _redacted_note(note) for note in notes]
        _redact_fields(exc)
    except (AttributeError, TypeError):  # an exception whose fields are read-only: its text stays as it was
        pass


def _redact_fields(exc: BaseException) -> None:
    """The fields of ``exc`` its own ``__str__`` may build its text from, redacted: each text, each dict, list or tuple
    (a redacted copy: a container it shares is left as it is), and a YAML error's marks, whose snippet quotes the line
    of the file (dropped, on a copy). jsonschema's ValidationError printed ``message`` and the ``instance``
    refused (a payload holding a key), PyYAML's the YAML line holding a pasted key."""
    fields = getattr(exc, "__dict__", None)
    if not fields:
        return
    for name, value in list(fields.items()):
        if name.startswith("__"):
            continue
        if isinstance(value, str | dict | list | tuple):
            hidden = redact_values(value)
            if hidden != value:
                setattr(exc, name, hidden)
        elif isinstance(getattr(value, "buffer", None), str) and hasattr(value, "get_snippet"):  # (a yaml Mark)
            if redact(value.buffer) != value.buffer:
                mark = copy.copy(value)  # (its line and column still said; the snippet, which points into the
                mark.buffer = None  # buffer by index, dropped: redacted, the buffer is shorter and the index past it)
                setattr(exc, name, mark)


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
# apart from the tree, made of its classes (see all_targets_failed.py): imported once they exist
from .all_targets_failed import AllTargetsFailed as AllTargetsFailed  # noqa: E402
