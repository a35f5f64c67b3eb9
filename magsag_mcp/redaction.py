"""Secrets kept out of every message, log line, record and result: :func:`redact` and what feeds it.

A credential the process sends (an API key, a token, a proxy's password) is registered with
:func:`register_secret` when it is read and removed verbatim wherever it appears; anything shaped like a key
(``sk-...``, ``AIza...``, a JWT, ``Bearer ...`` (``Bearer:...``, or glued), a value labelled ``api_key``,
``password``, ``?token=``...) is removed too (those shapes are :mod:`magsag_mcp.key_shapes`'s). :mod:`magsag_mcp.errors`
re-exports these names. A model's answer, whose key-shaped text is its own, is judged apart
(:mod:`magsag_mcp.answer_keys`: only the keys sent are looked for in it), from the keys kept here.

What :func:`redact` returns goes out (an error's message, a ledger's record, a log line, an MCP result), always
as UTF-8: half of a UTF-16 surrogate pair in it (``"\\ud83d"`` in a vendor's JSON error, its text cut by a
gateway in JavaScript) is replaced by U+FFFD, as a UTF-8 decoder replaces a broken character. Kept, it could not
be encoded: the ledger lost the call's record and the caller got a UnicodeEncodeError instead of the error.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from typing import Any, TypeVar

from .key_encodings import without_encoded_keys
from .key_escapes import escaped_forms, without_escaped_keys
from .key_pieces import PIECE, piece_table, pieces_of, without_pieces
from .key_shapes import _A_TRIGGER, _SECRET_PATTERNS, _folded, _key_shaped, holds_a_trigger, without_key_shapes

_KNOWN_SECRETS: set[str] = set()
#: the same, longest first: a key that contains another (a proxy key built on a vendor's) must be
#: replaced whole, or replacing the shorter one first would leave the rest of the longer in the text
_LONGEST_FIRST: tuple[str, ...] = ()
#: of those, the forms registered ``in_answers=False`` only (:func:`register_secret`): hidden in the process's
#: messages, records and logs, not taken from a model's answer. A new frozenset when one changes. A call's own are
#: its own (:class:`_CallKeys`): never this set, which a call neither grows nor shrinks.
_NOT_IN_ANSWERS: frozenset[str] = frozenset()


#: the keys local servers' docs tell clients to send, which the server ignores (Ollama's "ollama", LM Studio's
#: "lm-studio", llama.cpp's "sk-no-key-required", vLLM's "token-abc123", ...): published, so no secret, and
#: words of their own. Removed wherever they stood, "`ollama serve`" in a fix and every event naming Ollama
#: lost the word, in the ledger for good. LiteLLM's docs' master key "sk-1234" (its proxy's quick start, sent to it
#: as a compat key) is one too: kept, a name such as "task-1234" was refused and "disk-1234" became "di[REDACTED]".
PLACEHOLDER_KEYS = frozenset(
    {
        "ollama", "lm-studio", "lmstudio", "sk-no-key-required", "no-key-required", "not-needed", "notneeded",
        "no-key", "nokey", "token-abc123", "dummy", "placeholder", "anything", "unused", "ignored", "vllm", "sk-1234",
    }
)  # fmt: skip


#: env vars that hold credentials: known to :func:`redact` before anything quotes one (the service as it opens,
#: ``Magsag`` before it checks its names, the CLI before it runs a command)
SECRET_ENV = (
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "AZURE_OPENAI_API_KEY",
    "AZURE_OPENAI_AD_TOKEN",
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "MAGSAG_COMPAT_API_KEY",
    "MAGSAG_LOCAL_LLM_API_KEY",
    "MAGSAG_MCP_TOKEN",
    "MAGSAG_MCP_METRICS_TOKEN",
)


def register_env_secrets(env: Mapping[str, str]) -> None:
    """Make the credentials of ``env`` (:data:`SECRET_ENV`) known to :func:`redact` and to the check of a call's
    names (:func:`~magsag_mcp.text.check_name`): before anything quotes or checks one."""
    for name in SECRET_ENV:
        register_secret(env.get(name))


def register_secret(value: str | None, *, in_answers: bool = True) -> None:
    """Remember a credential so that :func:`redact` removes it verbatim wherever it appears.

    Also without the whitespace around it: a key pasted with a trailing space or tab travels
    trimmed (HTTP drops a header value's surrounding whitespace), and that is what a server echoes; and escaped, as
    JSON and URLs write it (:func:`escaped_forms`).
    A local server's published placeholder key (:data:`PLACEHOLDER_KEYS`) is no secret and is not kept.

    ``in_answers=False``: text that may as well be a word as a secret (a base URL's path segment taken for a token by
    its length alone, see :func:`~magsag_mcp.providers.base_urls.register_path_tokens`), removed from every text but
    a model's answer. The same text registered as a credential too is removed from answers, whichever came first.
    """
    global _LONGEST_FIRST
    # every call reads its key: the common case returns here (see _REGISTERING). _NOT_IN_ANSWERS is empty but where
    # a base URL holds a token-like path: tested first, the usual known key returns in 8 opcodes, not 12 (132 of its
    # 1,635 instructions, callgrind over 200,000 registrations)
    if value in _KNOWN_SECRETS and not (_NOT_IN_ANSWERS and in_answers and value in _NOT_IN_ANSWERS):
        return
    if value and value.strip().lower() in PLACEHOLDER_KEYS:
        return
    new = {form for c in ({value, value.strip()} if value else ()) if len(c) >= 6 for form in _forms(c)}
    with _REGISTERING:
        unknown = new - _KNOWN_SECRETS
        if unknown:
            _LONGEST_FIRST = tuple(sorted(_KNOWN_SECRETS | new, key=len, reverse=True))
            _KNOWN_SECRETS.update(new)
        # (kept out of answers once known: an answer redacted meanwhile loses the text, never keeps a key)
        _answers_take(new) if in_answers else _answers_leave(unknown)


def _answers_take(forms: set[str]) -> None:
    """Make ``forms`` of a credential removed from answers too (see :data:`_NOT_IN_ANSWERS`)."""
    global _NOT_IN_ANSWERS
    if not _NOT_IN_ANSWERS.isdisjoint(forms):
        _NOT_IN_ANSWERS = _NOT_IN_ANSWERS.difference(forms)


def _answers_leave(forms: set[str]) -> None:
    """Leave ``forms``, known to :func:`redact` only now, in answers (see :data:`_NOT_IN_ANSWERS`)."""
    global _NOT_IN_ANSWERS
    if forms:
        _NOT_IN_ANSWERS = _NOT_IN_ANSWERS.union(forms)


#: a key of hex digits alone (an Azure resource's 32, a gateway's): hex is read the same in either case
_HEX_KEY = re.compile("[0-9a-fA-F]+")


def _forms(secret: str) -> tuple[str, ...]:
    """``secret`` as it is known to :func:`redact`: as sent, escaped (:func:`escaped_forms`), and, a key of hex digits
    alone (:data:`PREFIX_KEY_MIN` of them or more), in the other case: a gateway or a .NET service that echoes it
    upper-cased ("Access denied for key 3F9A...") gave the whole key away, as the same number written otherwise, while
    redact() looked for it as sent only."""
    forms = (secret, *escaped_forms(secret))
    if len(secret) >= PREFIX_KEY_MIN and _HEX_KEY.fullmatch(secret) and not secret.isdigit():
        forms += tuple(form for form in (secret.lower(), secret.upper()) if form != secret)
    return forms


#: one registration at a time: two threads each reading a key (two services opening) each sorted the keys with its
#: own and without the other's, and the one that assigned last left the other's out of :data:`_LONGEST_FIRST` for
#: good (its next registration returned at once, the key being in :data:`_KNOWN_SECRETS`): redact() never removed
#: it. A key joins _KNOWN_SECRETS only once the keys redact() reads hold it, so a thread that finds it there (and
#: returns) never redacts without it.
_REGISTERING = threading.Lock()


#: the credentials a call gave itself (its own target's ``api_key`` param): known to :func:`redact` in that call (its
#: task, and the tasks it starts), never to the process. Registered for good, whatever a caller wrote under a
#: credential's name (``{"api_key": "skill.document-analysis"}``, even to the read-only ``explain_route``) was removed
#: from every later message and record of every caller, and every name holding it was refused: the skill, a model.
_CALL_SECRETS: ContextVar[tuple[str, ...]] = ContextVar("magsag_call_secrets", default=())


_NONE_LEFT: frozenset[str] = frozenset()


class _CallKeys(tuple[str, ...]):
    """What :data:`_CALL_SECRETS` holds once a call registered a form ``in_answers=False``: its credentials' forms,
    longest first, and ``left``, those of them left in its answers (unless the process knows one as a key). The
    call's, set back with the rest when it ends: kept in the process's :data:`_NOT_IN_ANSWERS`, each call's base URL
    segment stayed there for good (a caller naming a new gateway each call grew it without end), a call's key given
    as another's segment was left in that call's answers, and a call's key that was the process's segment took it out
    of every later caller's answers."""

    left: frozenset[str] = frozenset()


def register_call_secret(value: str | None, *, in_answers: bool = True) -> None:
    """Make a credential a call gave (not the operator) known to :func:`redact` for the rest of that call only;
    ``in_answers`` as :func:`register_secret`'s, for that call only too (:class:`_CallKeys`): a segment of a call's
    base URL is no key in its answers unless the call gave it as one or the process knows it as one, and a
    credential the call gave is a key in its answers whatever the process left there."""
    if not value or value.strip().lower() in PLACEHOLDER_KEYS:
        return
    known = _CALL_SECRETS.get()
    was_left = getattr(known, "left", _NONE_LEFT)
    given = dict.fromkeys((value, value.strip()))
    forms = tuple(dict.fromkeys(form for c in given if len(c) >= 6 for form in _forms(c)))
    new = [form for form in forms if form not in known]
    # (what is a key already in this call stays one; a credential makes what the call left a key again)
    if in_answers:
        left = was_left.difference(forms) if was_left else was_left
    else:
        left = was_left.union(new) if new else was_left
    if new or left != was_left:
        keys = tuple(sorted((*known, *new), key=len, reverse=True))
        if left:
            keys = _CallKeys(keys)
            keys.left = left
        _CALL_SECRETS.set(keys)


def _left_in_answers(call: tuple[str, ...]) -> frozenset[str]:
    """The keys a model's answer keeps in a call knowing ``call``: the process's (:data:`_NOT_IN_ANSWERS`) but those
    the call gave as its credentials, and the call's own (:class:`_CallKeys`) but those the process knows as keys."""
    process = _NOT_IN_ANSWERS
    left = getattr(call, "left", _NONE_LEFT)
    if not left:
        return process if not process or process.isdisjoint(call) else process.difference(call)
    taken = process.difference(key for key in call if key not in left)
    return taken.union(key for key in left if key in process or key not in _KNOWN_SECRETS)


#: a function :func:`call_scoped` wraps: a type checker sees the wrapped one's signature, not an Any
F = TypeVar("F", bound=Callable[..., Any])


def call_scoped(fn: F) -> F:
    """``fn`` (a function or a coroutine function: one call) with the credentials it registers with
    :func:`register_call_secret` forgotten when it returns, as those of the calls before it were: a task making
    one call after another (a script's loop) kept them all, and its later calls' names were refused for them."""
    import inspect

    # The ones known before are set back only when the call registered any (most register none): a set on entry for
    # a token to reset on the way out cost some 1,800 instructions a call (each set copies the task's context)
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            known = _CALL_SECRETS.get()
            try:
                return await fn(*args, **kwargs)
            finally:
                if _CALL_SECRETS.get() is not known:
                    _CALL_SECRETS.set(known)

        return run_async  # type: ignore[return-value]

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        known = _CALL_SECRETS.get()
        try:
            return fn(*args, **kwargs)
        finally:
            if _CALL_SECRETS.get() is not known:
                _CALL_SECRETS.set(known)

    return run  # type: ignore[return-value]


#: half of a UTF-16 surrogate pair, alone: no Unicode text, and no UTF-8 encoder takes it (see the module's docstring)
_HALF_PAIR = re.compile("[\ud800-\udfff]")


@functools.lru_cache(maxsize=64)
def _longest_first(known: tuple[str, ...], call: tuple[str, ...]) -> tuple[str, ...]:
    """The process's keys and a call's, longest first, as :data:`_LONGEST_FIRST` orders the process's alone: a call's
    key built on one the process knows (a gateway's "<vendor key>:<tenant>") replaced after it lost only that part,
    and the rest of it stayed in the text."""
    return tuple(sorted({*known, *call}, key=len, reverse=True))


@functools.lru_cache(maxsize=64)
def _lookups(keys: tuple[str, ...], percent: bool, backslash: bool) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """:func:`~magsag_mcp.key_pieces.piece_table` of ``keys`` less those holding a ``%`` (a ``\\``) when the text holds
    none: escaped forms (:func:`escaped_forms`; a proxy password's URL form, decoded known too), whose pieces could
    find there only runs of the key that its own pieces find (23 hold one) or docs/configuration.md lists as kept.
    Looked up in every text, they made a redaction some four times as long with 20 base64 keys known (counted)."""
    if percent and backslash:
        return piece_table(keys, PREFIX_KEY_MIN)
    return piece_table(
        tuple(key for key in keys if (percent or "%" not in key) and (backslash or "\\" not in key)), PREFIX_KEY_MIN
    )


#: a known key this long or longer is also removed where only its start appears, from :data:`PREFIX_SHOWN`
#: characters on (Azure's 32 hex digits, Gemini's 39, OpenAI's and Anthropic's longer): a gateway's 401 that shows
#: the first 12 to 20 characters of the bearer token it refused, a vendor's message cut inside the key; and so is any
#: run of as many of its characters, and a run cut by a line break (see :mod:`magsag_mcp.key_pieces`)
PREFIX_KEY_MIN = 16
#: the fewest leading characters of a known key (of :data:`PREFIX_KEY_MIN` or more) that are removed as its start
PREFIX_SHOWN = PIECE


#: texts :func:`redact` found nothing to remove from, each with the process's secrets known then (a new tuple when one
#: is added), asked outside any call's own secrets: a failed attempt's message is redacted as its error is made, again
#: as its attempt's record is made and again as the ledger writes it (each a guard of its own), a few lookups the
#: second time instead of every known key's and every trigger's. At most :data:`_UNCHANGED_KEPT` texts of at most
#: :data:`_UNCHANGED_LONGEST` characters (an error's message is far shorter)
_UNCHANGED: dict[str, tuple[str, ...]] = {}
_UNCHANGED_KEPT = 1024
_UNCHANGED_LONGEST = 4096


def redact(text: str, *, answer: bool = False) -> str:
    """Remove API keys (known ones verbatim, and anything shaped like one) from ``text``, and any half of a
    UTF-16 surrogate pair. A known key's start (:data:`PREFIX_SHOWN` characters of it or more) is removed too, and any
    run of as many of its characters, on both sides of a line break that cuts it (:mod:`magsag_mcp.key_pieces`).
    ``answer``: the text is a model's answer, from which only known keys of :data:`PREFIX_KEY_MIN` characters or more
    are removed (see :func:`~.answer_keys.without_known_keys`)."""
    if not text:
        return text
    call = _CALL_SECRETS.get()
    # the keys as they are now: one another thread registers meanwhile was not looked for in this text
    known = _LONGEST_FIRST
    if not call and not answer and _UNCHANGED.get(text) is known:
        return text
    given = text
    if not text.isascii():
        text = _HALF_PAIR.sub("\ufffd", text)
    started: list[str] = []
    found: list[str] = []  # (longest first, as the table is)
    keys = _longest_first(known, call) if call else known
    if answer:
        keys = _long_keys(keys, _left_in_answers(call))
    # a base64 key escaped as no form of it registered is written (JSON's \u002f, HTML's &#47;, a URL's %252F, its
    # escapes' hex in both cases): removed first, where the text holds such an escape (see key_escapes)
    text = without_escaped_keys(text, keys, PREFIX_KEY_MIN)
    for secret, pieces in _lookups(keys, "%" in text, "\\" in text):
        if not pieces:
            if secret in text:
                found.append(secret)
            continue
        for piece in pieces:  # (a few look-ups for the key, its start and any run of it)
            if piece in text:
                found.append(secret)
                started.append(secret)
                break
    # the runs a line break cuts before any key is replaced whole: a gateway's key built on a vendor's that is known
    # too ("<vendor key>:<tenant>"), cut after the vendor's part, lost that part to its replacement first, and then
    # held too few of its characters for a piece: the rest of it (the tenant's part) stayed in the text
    if started:  # (see key_pieces.without_pieces)
        text = without_pieces(text, started, cut_only=True)
    for secret in found:
        if secret in text:
            text = text.replace(secret, "[REDACTED]")
    if not answer:
        if holds_a_trigger(_folded(text)):  # (folded as (?i:...) compares: see _RE_ALSO_ASCII)
            text = without_key_shapes(text)  # (its first 64 KB searched: see key_shapes._SHAPES_READ)
        # a key re-encoded whole: every character as %XX or &#NN;, or in base64 (alone, after "Bearer ", "user:"), as
        # a gateway quotes the request it refused (see key_encodings). After the patterns: a token they remove whole
        # ("Bearer <JWT>" whose payload encodes a known key) is not cut first. Not in an answer: only the keys as sent
        # and their pieces are looked for there (answer_keys), an answer's base64 (an image) decoded for nothing
        text = without_encoded_keys(text, keys, PREFIX_KEY_MIN)
    # the pieces last: one removed before the patterns could cut a token they match whole (another JWT sharing a
    # known JWT's header) and leave its rest in the text
    if started:
        text = without_pieces(text, started)
    # (a call's own secrets are never kept past its call: a text judged with them is not remembered)
    if not call and not answer and text == given and len(text) <= _UNCHANGED_LONGEST:
        if len(_UNCHANGED) >= _UNCHANGED_KEPT:
            _UNCHANGED.clear()
        _UNCHANGED[text] = known
    return text


@functools.lru_cache(maxsize=16)
def _long_keys(keys: tuple[str, ...], not_in_answers: frozenset[str]) -> tuple[str, ...]:
    """The keys (and forms of them) of :data:`PREFIX_KEY_MIN` characters or more: those looked for in an answer. A
    shorter one is a word as often as a key (a local server's ``changeme``, a proxy's ``password``), and an answer
    using the word would lose it; so is one registered for the process's own texts only (``not_in_answers``)."""
    return tuple(key for key in keys if len(key) >= PREFIX_KEY_MIN and key not in not_in_answers)


def call_keys() -> tuple[str, ...]:
    """The credentials the running call gave itself (:func:`register_call_secret`), as :func:`redact` knows them: for
    :func:`~.answer_keys.answer_without_known_keys` to look for in the call's result once the call has ended."""
    return _CALL_SECRETS.get()


@contextlib.contextmanager
def call_keys_known(keys: tuple[str, ...]) -> Iterator[None]:
    """Within it, ``keys`` (a call's :func:`call_keys`, taken before the call forgot them) known to :func:`redact` as
    that call's: what of its answer leaves the process after the call (its result, an error carrying it) is
    judged with them. None given: nothing changes."""
    if not keys:
        yield
        return
    token = _CALL_SECRETS.set(keys)
    try:
        yield
    finally:
        _CALL_SECRETS.reset(token)


#: names found to hold no secret, each with the secrets known then (:data:`_LONGEST_FIRST`, a new tuple when one
#: is added): a call's skill id and agent are the same call after call, and asked each time (see holds_secret)
_CLEAN: dict[str, tuple[str, ...]] = {}


def _seen_in(text: str, secret: str) -> bool:
    """Whether ``text`` holds what of a known key :func:`redact` removes wherever it appears: the key, or for a long
    one any piece of it (:mod:`magsag_mcp.key_pieces`), its start among them. A name holding one is refused as one
    holding the key is: redacted in every message, it was recorded as given."""
    if len(secret) < PREFIX_KEY_MIN:
        return secret in text
    return any(piece in text for piece in _pieces_seen(secret) or (secret,))


@functools.lru_cache(maxsize=256)
def _pieces_seen(secret: str) -> tuple[str, ...]:
    """:func:`pieces_of` ``secret``, cut once a key: a call's own key is looked for in each of its names (its run id,
    agent, skill), before any name is found clean, and its pieces were cut again for each (1.4 us of 2.1 a name)."""
    return pieces_of(secret)


def holds_secret(text: str) -> bool:
    """Whether ``text`` holds a key: the check of a name a call is recorded under, which is refused if it does.
    A key the process knows, anywhere in it, or text :func:`redact` takes for a key, except an ``sk-`` followed
    by words (:func:`_key_shaped`). A name found clean is remembered until a secret is added (or 4,096 names
    are): a few lookups, not the redaction's."""
    call = _CALL_SECRETS.get()
    if call and (
        any(_seen_in(text, s) for s in call)
        or without_escaped_keys(text, call, PREFIX_KEY_MIN) != text
        or without_encoded_keys(text, call, PREFIX_KEY_MIN) != text
    ):
        return True
    known = _LONGEST_FIRST  # (remembered under the keys it was judged with: see redact)
    if _CLEAN.get(text) is known:
        return False
    if (
        without_escaped_keys(text, known, PREFIX_KEY_MIN) != text
        or without_encoded_keys(text, known, PREFIX_KEY_MIN) != text
    ) or (
        _may_hold_key(text, known)
        and redact(text) != text
        and (any(_seen_in(text, secret) for secret in known) or any(map(_key_shaped, _SECRET_PATTERNS.finditer(text))))
    ):
        return True
    if len(_CLEAN) >= 4096:
        _CLEAN.clear()
    _CLEAN[text] = known
    return False


def _may_hold_key(text: str, known: tuple[str, ...]) -> bool:
    """Whether :func:`holds_secret` needs :func:`redact` to judge ``text``: it holds a piece of a key the process
    knows (``known``), or a word every match of the key patterns holds (``_TRIGGERS``, a vendor's prefix). A name
    holding neither (a call's fresh run id, a UUID) holds no key: it is judged without redacting it."""
    for secret, pieces in _lookups(known, "%" in text, "\\" in text):  # (a key's piece is in a text holding it)
        for piece in pieces or (secret,):
            if piece in text:
                return True
    return _A_TRIGGER.search(_folded(text)) is not None


#: how much of a long text :func:`excerpt` redacts before cutting (error bodies are far smaller)
_EXCERPT_WINDOW = 65536


def excerpt(text: str | bytes, limit: int) -> str:
    """The start of ``text`` for a message: at most ``limit`` characters, with secrets removed
    *before* the cut. Cut first, and a key straddling the cut leaves a piece (half an Azure key, an
    ``AIza`` stub) that is no longer the whole key :func:`redact` looks for."""
    if isinstance(text, bytes):
        text = text[:_EXCERPT_WINDOW].decode("utf-8", "replace")
    return redact(text[:_EXCERPT_WINDOW])[:limit]


class RedactingFilter(logging.Filter):
    """Redacts each record of magsag's loggers before any handler sees it, so the application's own
    handlers (or Python's last resort, which prints to stderr when nothing is configured) never get
    a key: its message, its arguments and its traceback, which can quote a vendor's body."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact(record.getMessage()), None
        if record.exc_info:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None  # a formatter would format it again, unredacted
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def redacting_logger(name: str) -> logging.Logger:
    """``logging.getLogger(name)`` with a :class:`RedactingFilter` (a logger's filters do not apply to
    its children's records, so each of magsag's loggers gets its own)."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, RedactingFilter) for f in logger.filters):
        logger.addFilter(RedactingFilter())
    return logger


def redact_values(value: Any, call_keys: tuple[str, ...] = ()) -> Any:
    """``value`` with :func:`redact` applied to every string in it (through dicts, lists and tuples). ``call_keys``:
    the credentials of the call ``value`` is of, which it no longer knows (:func:`call_keys_known`): an error carrying
    the paid answer is shown after its call, and a key the answer echoed reached an MCP client and a terminal whole."""
    if call_keys:
        with call_keys_known(call_keys):
            return redact_values(value)
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_values(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact_values(v) for v in value)
    return value


#: what a model's answer is judged with, moved to :mod:`magsag_mcp.answer_keys`: still importable from here, where
#: the docs had callers of the Python API import ``answer_without_known_keys`` from (imported on use: that module
#: imports this one)
_IN_ANSWER_KEYS = frozenset({"holds_known_key", "answer_holds_key", "without_known_keys", "answer_without_known_keys"})


def __getattr__(name: str) -> Any:
    if name in _IN_ANSWER_KEYS:
        from . import answer_keys

        return getattr(answer_keys, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
