"""Numeric ``MAGSAG_*`` settings read by more than one layer, parsed and checked in one place.

The service builds its retry policy from these; governance reads the call deadline so that a budget
reservation outlives the call it covers. Both must read the same value the same way, and governance
must not import the service to do it. The transport's timeouts are read here too: the service sets
them, the local provider keeps its own defaults unless they are set, and a timeout's message names them.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from .durations import IN_DIGITS
from .errors import ConfigError, excerpt, redact
from .lazy_pattern import compiled_on_first_use

if TYPE_CHECKING:
    from .types import Target

CALL_DEADLINE_ENV = "MAGSAG_CALL_DEADLINE"
DEFAULT_CALL_DEADLINE = 300.0
#: seconds to open a connection (TCP and TLS) to a provider
CONNECT_TIMEOUT_ENV = "MAGSAG_CONNECT_TIMEOUT"
DEFAULT_CONNECT_TIMEOUT = 10.0
#: seconds to wait for the answer's next bytes (its headers, or the next chunk of a stream)
READ_TIMEOUT_ENV = "MAGSAG_READ_TIMEOUT"
DEFAULT_READ_TIMEOUT = 120.0
#: which base URLs a call may name for a keyless provider: ``configured`` (only the operator's) or ``any``
#: (read by the service; ``magsag-mcp --call-base-urls`` sets it, and must not import the service to say so)
MODE_ENV = "MAGSAG_CALL_BASE_URLS"
MODES = ("configured", "any")

#: the largest value each numeric setting takes. Without one a slip of the keys was obeyed: MAGSAG_MAX_RETRIES=1000
#: for 10 tried every target 1001 times (each try a request the vendor may bill, each a ledger row), a deadline
#: of 30000 for 300 held a budget's reservation for eight hours. Each bound is well past any value meant:
MAXIMA: dict[str, float] = {
    #: retries per target: more than 10 is hammering a provider that has said no ten times already
    "MAGSAG_MAX_RETRIES": 10,
    #: requests that continue a turn Claude paused (pause_turn), each billed: past 20, a turn that pauses again and
    #: again is a search that does not end, not one that needs one more request
    "MAGSAG_PAUSE_CONTINUATIONS": 20,
    #: a first backoff of more than a minute, before exponential growth, is a slip for a max delay
    "MAGSAG_RETRY_BASE_DELAY": 60,
    #: a server's wait longer than the longest deadline is never waited out, so no cap above it is meant
    "MAGSAG_RETRY_MAX_DELAY": 21600,
    #: six hours: a long reasoning call with its retries fits; a budget's reservation lasts the deadline too
    CALL_DEADLINE_ENV: 21600,
    #: five minutes to open a TCP and TLS connection: no reachable server takes longer
    CONNECT_TIMEOUT_ENV: 300,
    #: an hour of silence mid-answer (a slow local model's first token included) is a dead connection
    READ_TIMEOUT_ENV: 3600,
    #: calls in a row failed at a target before it is left alone (circuit breaker): past 100, it would open for no
    #: outage
    "MAGSAG_BREAKER_FAILURES": 100,
    #: the first rest of a target the breaker left alone: 10 minutes, the longest it is ever left (doubled or not)
    "MAGSAG_BREAKER_COOLDOWN": 600,
    #: how long what an Azure deployment was seen serving is trusted (see served_models.py): past 30 days, a
    #: deployment re-pointed at an allowed model stays refused for a month
    "MAGSAG_AZURE_SERVED_TRUST": 30 * 86400,
}

#: the settings that count (a whole number, no unit to drop from a value)
_COUNTS = frozenset({"MAGSAG_MAX_RETRIES", "MAGSAG_BREAKER_FAILURES", "MAGSAG_PAUSE_CONTINUATIONS"})


def given_env(env: Mapping[str, str] | None) -> dict[str, str]:
    """The environment a :class:`~magsag_mcp.Magsag` or :class:`~magsag_mcp.Service` reads: ``os.environ``'s, or the
    ``env=`` mapping given, copied. Its values are text, as a process's environment holds them: one given as ``None``
    is left unset (``env={"OPENAI_BASE_URL": os.getenv("MY_URL")}``), and any other that is not text is refused here,
    naming its variable and not its value (which may be a key). A number went through the settings that read it with
    ``float()`` and crashed the first one that read text (an API key: ``AttributeError: 'int' object has no attribute
    'strip'``), from wherever that was."""
    if env is None:
        return dict(os.environ)
    if not isinstance(env, Mapping):
        raise ConfigError(
            f"env is a {type(env).__name__}, not a mapping of variable names to values: give a dict such as "
            "env={'OPENAI_API_KEY': '...', 'MAGSAG_CALL_DEADLINE': '60'}, or leave env out to read os.environ"
        )
    copied: dict[str, str] = {}
    for name, value in env.items():
        if not isinstance(name, str):
            raise ConfigError(
                f"env has a key {excerpt(redact(repr(name)), 40)} of type {type(name).__name__}: an environment "
                "variable's name is text, such as 'OPENAI_API_KEY'"
            )
        if value is None:
            continue
        if not isinstance(value, str):
            raise ConfigError(
                f"env[{name!r}] is of type {type(value).__name__}, not text: an environment variable's value is a "
                f"string, as the process's environment holds it; give it as one (env={{{name!r}: str(value)}}), or "
                "None to leave it unset"
            )
        copied[name] = value
    return copied


def env_float(env: Mapping[str, str], name: str, default: float, *, minimum: float = 0.0) -> float:
    """``env[name]`` as a number from ``minimum`` to its :data:`MAXIMA`; ``default`` when unset or blank."""
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    # every refusal names the range, as docs/configuration.md says: one of a value that is no number named only a
    # value to set
    fix = f"set it to e.g. {default} ({setting_span(name, minimum)}"
    if not raw.strip():  # (an env file's `MAGSAG_CALL_DEADLINE= `: "is not a number", as if a value had been meant)
        raise ConfigError(f"{given(name, raw)} is blank; {fix}), or unset it for its default, {default}")
    try:
        value = float(raw)
    except ValueError:
        unit = _WITH_A_UNIT.match(raw) if name not in _COUNTS else None  # (a count: no unit to drop)
        bare = f"; a bare number of seconds, without a unit: {_in_seconds(unit)}" if unit else ""
        raise ConfigError(f"{given(name, raw)} is not a number; {fix}{bare})") from None
    maximum = MAXIMA[name]
    if (math.isinf(value) and value > 0 and IN_DIGITS.match(raw)) or (math.isfinite(value) and value > maximum):
        # (digits past a float, "1e400" or 400 nines, which float() made inf, are said so too: "not a finite number"
        # named no fix for them)
        said = f"{given(name, raw)} is too large: the largest value taken is {format(maximum, '.15g')}"
        raise ConfigError(f"{said}; {fix})")
    if math.isnan(value) or (math.isinf(value) and not IN_DIGITS.match(raw)):
        # float() takes "nan" and "inf": neither is a time or a count (a "-1e400" is below the minimum, said so)
        raise ConfigError(f"{given(name, raw)} is not a finite number; {fix})")
    if value < minimum:
        raise ConfigError(f"{given(name, raw)} must be >= {minimum}; {fix})")
    return value


def setting_span(name: str, minimum: float) -> str:
    """``from 0.001 to 21600``: the values a numeric setting takes (each has a :data:`MAXIMA`: a KeyError here
    otherwise)."""
    return f"from {format(minimum, 'g')} to {format(MAXIMA[name], '.15g')}"


#: a duration written with a unit ("30s", "2 min"): the settings take a number of seconds alone
_WITH_A_UNIT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|secs?|seconds?|m|mins?|minutes?|h|hours?)\s*$", re.IGNORECASE)
_PER_UNIT = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}


def _in_seconds(unit: re.Match[str]) -> str:
    """A duration with a unit (``2 min``) as the bare number of seconds it stands for (``120``)."""
    word = unit[2].lower()
    seconds = float(unit[1]) * _PER_UNIT["ms" if word == "ms" else word[0]]
    return format(seconds, "g") if seconds < 1e15 else unit[1]


#: the longest value a refusal quotes: a longer one is said by its length alone (a key pasted into the wrong variable)
_QUOTED = 24


def given(name: str, raw: str) -> str:
    """``name`` and the value it was given, as a refusal says them: ``MAGSAG_CALL_DEADLINE='abc'``; a value longer
    than a setting's or holding a key is said by its shape alone (``MAGSAG_CALL_DEADLINE (a value of 51 characters,
    not shown)``): a key pasted into the wrong variable was quoted whole wherever the refusal went (a client's log)."""
    if len(raw) <= _QUOTED and redact(raw) == raw:
        return f"{name}={raw!r}"
    return f"{name} (a value of {len(raw)} characters, not shown)"


def ledger_path_setting(env: Mapping[str, str]) -> str | None:
    """``MAGSAG_DB`` as given, or None when it is unset or empty; refused (:class:`ConfigError`, naming the fix) when it
    is blank or has spaces around it. Here, not beside the ledger, so that ``magsag-mcp`` refuses it as it starts
    without importing the ledger: over stdio the ledger opens on the first call, where a server that had answered
    ``initialize`` then failed every call."""
    value = env.get("MAGSAG_DB")
    if not value:
        return None
    if value.isspace():  # Path(" ") is a file named by a space, in whatever directory is current
        raise ConfigError(
            f"MAGSAG_DB={value!r} is blank; set it to a ledger file (e.g. ~/magsag/ledger.db), or unset "
            "it for the default in the user data directory"
        )
    if value != value.strip():
        # an env file's trailing space (Docker's --env-file and systemd's keep it): " /srv/l.db" named a folder " "
        # in whatever directory is current, "/srv/l.db " another file than /srv/l.db, which --db, a reading command
        # and every report name, all of them reading a ledger with nothing in it
        raise ConfigError(
            f"MAGSAG_DB={value!r} has spaces around it, and a file so named is another ledger than "
            f"{value.strip()!r}; set MAGSAG_DB={value.strip()} without them"
        )
    return value


#: MAGSAG_LEDGER_SYNC -> SQLite's synchronous mode for the commits that make a call durable
SYNC_MODES = {"full": "FULL", "normal": "NORMAL"}


def ledger_sync_from_env(env: Mapping[str, str] | None = None) -> str:
    """``MAGSAG_LEDGER_SYNC``: ``full`` (the default) or ``normal``, checked. Here, not beside the ledger's connections
    (which name it), as :func:`ledger_path_setting`: ``magsag-mcp`` checks it as it starts, and imported from there it
    brought the ledger package, aiosqlite and sqlite3 (54 modules) into a stdio start, whose ledger opens at the first
    call.

    ``full``: a call returns once its record is on disk (an fsync per commit; concurrent calls share it):
    it survives a crash of the process, of the OS and a power cut. ``normal``: a call returns once its
    record is in the ledger's write-ahead log, without waiting for the disk: it survives the process
    being killed, but a power cut or OS crash may lose the last calls (SQLite's WAL ``synchronous=NORMAL``;
    the file itself is never corrupted). It saves one fsync per call, most of a sequential call's
    ledger cost on a slow disk.
    """
    env = os.environ if env is None else env
    value = (env.get("MAGSAG_LEDGER_SYNC") or "").strip().lower() or "full"
    if value not in SYNC_MODES:
        said = given("MAGSAG_LEDGER_SYNC", env.get("MAGSAG_LEDGER_SYNC") or "")
        raise ConfigError(
            f"{said} is not a ledger sync mode; use 'full' (every call on disk before it returns, the default) or "
            "'normal' (survives the process being killed, not a power cut)"
        )
    return value


def call_deadline(env: Mapping[str, str]) -> float:
    """Seconds a whole call may take, all targets and waits included (``MAGSAG_CALL_DEADLINE``)."""
    return env_float(env, CALL_DEADLINE_ENV, DEFAULT_CALL_DEADLINE, minimum=0.001)


def connect_timeout(env: Mapping[str, str], default: float = DEFAULT_CONNECT_TIMEOUT) -> float:
    """Seconds to connect to a provider (``MAGSAG_CONNECT_TIMEOUT``)."""
    return env_float(env, CONNECT_TIMEOUT_ENV, default, minimum=0.001)


def read_timeout(env: Mapping[str, str], default: float = DEFAULT_READ_TIMEOUT) -> float:
    """Seconds a provider may stay silent while an answer is awaited (``MAGSAG_READ_TIMEOUT``)."""
    return env_float(env, READ_TIMEOUT_ENV, default, minimum=0.001)


def only_configured(env: Mapping[str, str], network_callers: bool = False) -> bool:
    """Whether a call's base URL must be one the operator configured even for a provider with no key:
    ``MAGSAG_CALL_BASE_URLS`` when set, else whether the calls come over a network (``network_callers``:
    the MCP server over HTTP). A value that is neither mode is refused (a typo must not open the server)."""
    raw = env.get(MODE_ENV) or ""
    mode = raw.strip().lower()
    if not mode:
        return network_callers
    if mode not in MODES:
        raise ConfigError(
            f"{MODE_ENV}={excerpt(raw, 40)!r} is not a mode; set it to 'configured' (a call's base_url must be one the "
            "operator configured: the environment, the routing catalog or MAGSAG_ALLOWED_BASE_URLS) or 'any' "
            "(a provider with no key, such as local or compat, is sent wherever a call's base_url points)"
        )
    return mode == "configured"


#: every ``MAGSAG_*`` variable magsag-mcp reads (the tests' spec checker's two included, which README names): any
#: other one set is read by nothing, and a misspelt one (PROVDER for PROVIDER) changes nothing, silently
READ_VARIABLES = frozenset(
    {
        "MAGSAG_ALLOWED_BASE_URLS",
        "MAGSAG_AZURE_SERVED_TRUST",
        "MAGSAG_BILLED_COST_HOSTS",
        "MAGSAG_BREAKER_COOLDOWN",
        "MAGSAG_BREAKER_FAILURES",
        "MAGSAG_CALL_BASE_URLS",
        "MAGSAG_CALL_DEADLINE",
        "MAGSAG_CATALOG",
        "MAGSAG_COMPAT_API_KEY",
        "MAGSAG_COMPAT_BASE_URL",
        "MAGSAG_CONNECT_TIMEOUT",
        "MAGSAG_DB",
        "MAGSAG_LEDGER_SYNC",
        "MAGSAG_LOCAL_LLM_API_KEY",
        "MAGSAG_LOCAL_LLM_BASE_URL",
        "MAGSAG_MAX_RETRIES",
        "MAGSAG_MCP_AGENT",
        "MAGSAG_MCP_ALLOW_HOSTS",
        "MAGSAG_MCP_HOST",
        "MAGSAG_MCP_LOG_FORMAT",
        "MAGSAG_MCP_LOG_LEVEL",
        "MAGSAG_MCP_METRICS",
        "MAGSAG_MCP_METRICS_AGENTS",
        "MAGSAG_MCP_METRICS_TOKEN",
        "MAGSAG_MCP_METRICS_TOKEN_FILE",
        "MAGSAG_MCP_PORT",
        "MAGSAG_MCP_TOKEN",
        "MAGSAG_MCP_TOKEN_FILE",
        "MAGSAG_MCP_TOKENS_FILE",
        "MAGSAG_MCP_TRANSPORT",
        "MAGSAG_PAUSE_CONTINUATIONS",
        "MAGSAG_MODEL",
        "MAGSAG_PROVIDER",
        "MAGSAG_READ_TIMEOUT",
        "MAGSAG_RETRY_BASE_DELAY",
        "MAGSAG_RETRY_MAX_DELAY",
        "MAGSAG_SPEC_CACHE",
        "MAGSAG_SPECS_DIR",
    }
)


def unread_variables(env: Mapping[str, str], catalog_reads: Collection[str] = ()) -> tuple[list[str], list[str]]:
    """The ``MAGSAG_*`` variables of ``env`` that nothing reads (``magsag doctor``), as (problems, notes): one near a
    variable magsag reads, or naming its setting in other words (:func:`_meant_by_words`), is a misspelling of it, a
    problem (the setting it was meant for is not in effect); any other is a note (another tool's, a script's own).
    ``catalog_reads``: the variables the catalog's ``${VAR}`` name (:func:`magsag_mcp.catalog.catalog_variables`),
    read too: a routing file's ``base_url`` read from a variable of
    the user's own was told a misspelling of MAGSAG_LOCAL_LLM_BASE_URL, to be renamed, which would leave the catalog's
    ``${VAR}`` unset. Named, never their values: one may hold a key."""
    import difflib  # (here: doctor and the server's opening ask, not every importer of the settings)

    problems, notes = [], []
    read = READ_VARIABLES.union(name for name in catalog_reads if name.startswith("MAGSAG_"))
    suffixes = {name.removeprefix("MAGSAG_").upper(): name for name in read}
    for name in sorted(env):
        if name in read or not name.upper().startswith("MAGSAG_") or name.upper() == "MAGSAG_":
            continue
        said = f"{excerpt(name, 80)} is set, but magsag reads no such variable"
        near = difflib.get_close_matches(name.upper()[len("MAGSAG_") :], list(suffixes), n=1, cutoff=0.78)
        # one a word longer than a variable read (DB_PATH for DB, CATALOG_DIR for CATALOG), which difflib finds too far:
        # that variable, the longest such
        longer = [suffix for suffix in suffixes if name.upper().startswith(f"MAGSAG_{suffix}_")]
        near = near or sorted(longer, key=len)[-1:] or _meant_by_words(name.upper()[len("MAGSAG_") :], suffixes)
        if name.upper() in read or near:
            meant = name.upper() if name.upper() in read else suffixes[near[0]]
            problems.append(f"{said}: did you mean {meant}? As set, it changes nothing: rename it to {meant}")
        else:
            notes.append(f"{said} (`magsag-mcp --help` lists those it reads): as set, it changes nothing")
    return problems, notes


#: the variable (its name after MAGSAG_) that another word for its setting means: DATABASE and LEDGER after MAGSAG_
#: are the ledger's file, as other tools name it, and near no name read by their spelling
_SYNONYMS = {
    "DB": "DB",
    "DATABASE": "DB",
    "LEDGER": "DB",
    "SQLITE": "DB",
    "SQLITE3": "DB",
    "CATALOG": "CATALOG",
    "CATALOGUE": "CATALOG",
    "SPECS": "SPECS_DIR",
}
#: words that say where a setting is, not which: the FILE of DB_FILE, the PATH of LEDGER_PATH, the DIR of CATALOG_DIR
_PLACE_WORDS = frozenset({"PATH", "FILE", "FILENAME", "DIR", "DIRECTORY", "FOLDER", "ROOT", "LOCATION", "URL", "URI"})


def _meant_by_words(suffix: str, suffixes: Collection[str]) -> list[str]:
    """``[the suffix read]`` that ``suffix`` (a name after MAGSAG_ read by nothing) names in other words, else ``[]``:
    every word one of :data:`_SYNONYMS` for that setting, or a word of place (``LEDGER_PATH``, ``DATABASE``); or the
    name of a server's variable without its ``MCP_`` (``PORT``, ``HOST``, ``TOKEN``)."""
    if f"MCP_{suffix}" in suffixes:
        return [f"MCP_{suffix}"]
    words = [word for word in suffix.split("_") if word and word not in _PLACE_WORDS]
    meant = {_SYNONYMS.get(word, "") for word in words}  # ("": a word of no setting's, which makes the name no one's)
    return sorted(meant) if len(meant) == 1 and "" not in meant and meant <= set(suffixes) else []


def _retries(env: Mapping[str, str]) -> object:
    from .retry import retry_policy_from_env  # (imports this module)

    return retry_policy_from_env(env)


def _breaker(env: Mapping[str, str]) -> object:
    from .breaker import breaker_policy_from_env  # (imports this module)

    return breaker_policy_from_env(env)


def unread_variable_warnings(env: Mapping[str, str], catalog_root: Callable[[], Any]) -> list[str]:
    """:func:`unread_variables`' problems and notes, for a ``magsag`` command to warn of before it runs and for
    ``magsag-mcp`` as it starts (or, given its env by a client, as its service opens): the same lines. A variable
    near no name read is as much in no effect as a misspelt one (a spend limit, say, which magsag sets otherwise):
    the server warned of the misspelt alone, the commands of both. Named, never their values. ``catalog_root`` gives
    the catalog's folder, whose ``${VAR}`` are read too, and is called only where some ``MAGSAG_*`` variable is none
    magsag reads (reading the catalog's files costs a start nothing otherwise)."""
    problems, notes = _unread_at_start(env, catalog_root)
    return problems + notes


def _unread_at_start(env: Mapping[str, str], catalog_root: Callable[[], Any]) -> tuple[list[str], list[str]]:
    if all(name in READ_VARIABLES or not name.upper().startswith("MAGSAG_") for name in env):
        return [], []
    from .catalog import catalog_variables

    return unread_variables(env, catalog_variables(catalog_root()))


def _azure_served_trust(env: Mapping[str, str]) -> object:
    """``MAGSAG_AZURE_SERVED_TRUST``, as the service reads it as it opens (served_models imports this module)."""
    from .served_models import trusted_for

    return trusted_for(env)


#: the settings read as magsag-mcp opens (Service.open), each with what reads (and refuses) it
READ_AT_OPEN: tuple[tuple[str, Callable[[Mapping[str, str]], object]], ...] = (
    ("MAGSAG_MAX_RETRIES", _retries),
    ("MAGSAG_RETRY_BASE_DELAY", _retries),
    ("MAGSAG_RETRY_MAX_DELAY", _retries),
    ("MAGSAG_PAUSE_CONTINUATIONS", _retries),
    (CALL_DEADLINE_ENV, call_deadline),
    (CONNECT_TIMEOUT_ENV, connect_timeout),
    (READ_TIMEOUT_ENV, read_timeout),
    (MODE_ENV, only_configured),
    ("MAGSAG_LEDGER_SYNC", ledger_sync_from_env),
    ("MAGSAG_BREAKER_FAILURES", _breaker),
    ("MAGSAG_BREAKER_COOLDOWN", _breaker),
    ("MAGSAG_AZURE_SERVED_TRUST", _azure_served_trust),
)


def refused_at_open(env: Mapping[str, str]) -> dict[str, str]:
    """The settings of ``env`` that magsag-mcp refuses as it opens, each read alone: variable -> the refusal, which
    names the fix. Opening stops at the first; ``magsag doctor`` lists them all, and ``magsag-mcp`` refuses to start
    on them (over stdio it opens the service on the first call, which was where a bad setting was first said)."""
    refused: dict[str, str] = {}
    for name, read in READ_AT_OPEN:
        if name in env:
            try:
                read({name: env[name]})
            except ConfigError as exc:
                refused[name] = exc.message
    return refused


def setting_problems(env: Mapping[str, str], named: Callable[[], Iterable[Target]] | None = None) -> list[str]:
    """What calls would refuse in the environment's settings, found without a call (``magsag doctor``): the
    overrides (every call) and the base-URL allow-list (every call naming a base URL). Those read at open
    fail it already. ``named``: the loaded catalog's targets, by which a capitalised misspelling in ``MAGSAG_MODEL``
    is told the model it nearly is (None: no catalog loaded)."""
    # imported here: call_urls reads the base-URL mode from this module. Neither imports the provider registry (and
    # its transport) for a built-in provider's name: magsag-mcp checks these before it answers `initialize`
    from .call_urls import allowed_origins
    from .env_routing import check_env_override

    problems = []
    checks: tuple[Callable[[Mapping[str, str]], object], ...] = (
        lambda env: check_env_override(env, named),
        allowed_origins,
        billed_cost_hosts,
    )
    for check in checks:
        try:
            check(env)
        except ConfigError as exc:
            problems.append(exc.message)
    return problems


#: a host as an answer's URL names it (what MAGSAG_BILLED_COST_HOSTS is compared with): a name or an IPv4 address
#: (compiled when the setting is first read: a start without it compiled it for nothing, see lazy_pattern)
_HOST = compiled_on_first_use(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*\.?", re.IGNORECASE)


def billed_cost_hosts(env: Mapping[str, str]) -> None:
    """Refuse (for ``magsag doctor``) a ``MAGSAG_BILLED_COST_HOSTS`` entry that is no host: answers are matched by
    their URL's host alone, so a URL (``https://gw.corp/v1``) or a ``host:port`` there matched no answer, and every
    cost the gateway billed was recorded as unknown (null), with no word of why."""
    import ipaddress
    from urllib.parse import urlsplit

    def a_host(text: str | None) -> bool:
        if not text:
            return False
        try:
            return _HOST.fullmatch(text) is not None or bool(ipaddress.ip_address(text))
        except ValueError:
            return False

    for i, entry in enumerate((env.get("MAGSAG_BILLED_COST_HOSTS") or "").split(","), 1):
        entry = entry.strip()
        if not entry or a_host(entry):
            continue
        try:
            host = urlsplit(entry if "//" in entry else f"//{entry}").hostname
        except ValueError:
            host = None
        fix = f"write its host alone: {host}" if a_host(host) else "write a host, e.g. gw.example.com"
        raise ConfigError(
            f"MAGSAG_BILLED_COST_HOSTS: entry {i} ({excerpt(entry, 80)!r}) is not a host name, and an answer is "
            f"matched by its URL's host alone, so no answer's usage.cost is taken from it (its costs stay unknown); "
            f"{fix} (comma-separated hosts, no scheme, port or path)"
        )
