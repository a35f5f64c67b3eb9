"""The HTTP server's listening options read from the environment: ``MAGSAG_MCP_HOST``, ``MAGSAG_MCP_PORT`` and
``MAGSAG_MCP_ALLOW_HOSTS``, the defaults of ``--host``, ``--port`` and ``--allow-host``.

A container's settings are set in its environment (a Compose file's ``environment:``, a pod spec's ``env:``, an
``--env-file``), where the token and the log format already were: the address to bind, its port and the names clients
reach it by had to be written into the command, which an image's ``CMD`` fixes. The option given wins over its
variable; a variable set empty counts as unset, as every other; spaces around a value are no part of it.
(``MAGSAG_MCP_TRANSPORT``, the default of ``--transport``, is read with the parser's defaults: it applies to both.)
A host or name given is checked to be one a client can put in its ``Host`` header (:func:`host_authority`).
"""

from __future__ import annotations

import ipaddress
import re
from argparse import Namespace
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..redaction import excerpt

TRANSPORT_ENV = "MAGSAG_MCP_TRANSPORT"
HOST_ENV = "MAGSAG_MCP_HOST"
PORT_ENV = "MAGSAG_MCP_PORT"
ALLOW_HOSTS_ENV = "MAGSAG_MCP_ALLOW_HOSTS"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
#: the path the HTTP server serves MCP at
MCP_PATH = "/mcp"
#: the agent every call is recorded under, for clients configured by their environment (see --agent)
AGENT_ENV = "MAGSAG_MCP_AGENT"


def pinned_agent(option: str | None, env: Mapping[str, str]) -> str | None:
    """The agent every call is recorded under: ``--agent``'s (``option``), else ``MAGSAG_MCP_AGENT``'s; None: the
    one each call names. (The server's, and ``magsag doctor``'s, which weighs it against a token per client.)"""
    return option if option is not None else (env.get(AGENT_ENV) or "").strip() or None


def agent_refused(option: str | None, env: Mapping[str, str]) -> tuple[str | None, list[str]]:
    """:func:`pinned_agent`, or ``None`` and its refusal, naming what gave it (``--agent`` or ``MAGSAG_MCP_AGENT``)
    and the fix: a name too long, or one holding a credential or a control character, stopped the start alone (the
    server's build refused it, as "agent ..." of neither), and every other setting refused was said at the next."""
    from ..errors import InputError
    from ..text import check_name

    agent = pinned_agent(option, env)
    if agent is None:
        return None, []
    given = "--agent" if option is not None else AGENT_ENV
    try:
        check_name(agent, given)
    except InputError as exc:
        return None, [f"{exc.message} ({given}: the agent every call is recorded under)"]
    return agent, []


def listening_options(args: Namespace, env: Mapping[str, str]) -> dict[str, str]:
    """Set ``args.host``, ``args.port`` and ``args.allow_host`` from ``env`` where the command line left them out,
    else to their defaults; the variable each option was taken from, by option (``--host``...), for what a refusal
    of its value says. A port that is no number 0 to 65535 is refused here naming its variable; a host or name that
    cannot be one is refused by :func:`.http.security_settings`, told the variable (see :func:`option_said`)."""
    taken: dict[str, str] = {}
    if args.host is None:
        host = (env.get(HOST_ENV) or "").strip()
        if host:
            taken["--host"] = HOST_ENV
        args.host = host or DEFAULT_HOST
    if args.port is None:
        port = (env.get(PORT_ENV) or "").strip()
        if port:
            taken["--port"] = PORT_ENV
        args.port = _port(port) if port else DEFAULT_PORT
    if not args.allow_host:
        # comma-separated: what the option takes once for each name, a list a variable holds in one value
        names = [name.strip() for name in (env.get(ALLOW_HOSTS_ENV) or "").split(",")]
        args.allow_host = [name for name in names if name]
        if args.allow_host:
            taken["--allow-host"] = ALLOW_HOSTS_ENV
    return taken


def listening_refused(args: Namespace, env: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """:func:`listening_options`, a refused ``MAGSAG_MCP_PORT`` returned (with the default port in its place, the
    host and names read still), not raised: the start says it with every other setting it refuses, as ``magsag
    doctor`` lists them, not alone and the next at the next start."""
    host = args.host
    try:
        return listening_options(args, env), []
    except ConfigError as exc:
        args.host, args.port = host, DEFAULT_PORT
        return listening_options(args, env), [exc.message]


def host_and_names_refused(args: Namespace, taken: Mapping[str, str]) -> tuple[list[str], bool]:
    """A malformed ``--host`` and each malformed ``--allow-host`` (or ``MAGSAG_MCP_HOST``, a name of
    ``MAGSAG_MCP_ALLOW_HOSTS``) refused, each naming what gave it; and whether the host itself was taken (a refused one
    is no address to weigh a token against). Each is checked whatever the others are: with the host refused, the names
    were not checked in that start, and of the names the first refused alone was said."""
    said = [(args.host, taken.get("--host", "--host"))]
    said += [(name, taken.get("--allow-host", "--allow-host")) for name in args.allow_host]
    refused: dict[int, str] = {}  # by place: the host's first
    for place, (name, option) in enumerate(said):
        try:
            host_authority(name, args.port, option)
        except ConfigError as exc:
            refused[place] = exc.message
    return list(dict.fromkeys(refused.values())), 0 not in refused


@dataclass
class StartChecks:
    """What the start read of its settings, and each it refuses, in the order it meets them (:func:`start_checks`)."""

    #: option -> the variable it was taken from (see :func:`listening_options`)
    taken: dict[str, str]
    refused: list[str]
    catalog_root: Path | None = None
    agent: str | None = None
    #: the HTTP transport's tokens and /metrics' setting (:func:`.gate_settings.gate_settings`), None over stdio
    gate: Any = field(default=None, repr=False)
    #: what the start says and serves on (:func:`setting_warnings`)
    warnings: list[str] = field(default_factory=list)


def start_checks(args: Namespace, env: Mapping[str, str]) -> StartChecks:
    """Every setting ``magsag-mcp`` checks as it starts, each refusal with its fix, to be said at once as ``magsag
    doctor`` lists them: the port and host variables (over HTTP), the ``--port``, the catalog, the settings the
    service reads as it opens, the pinned agent, the host and the names it admits, the tokens and /metrics'. The one
    sequence for the start and for the parser's refusal of an option's variable (a bad ``MAGSAG_MCP_LOG_LEVEL``
    was said with the settings read at open, but a bad port, catalog, agent or host beside it at the next start).
    ``args`` is completed as the start reads it (the host, port and names from their variables)."""
    http = args.transport == "http"
    taken, refused = listening_refused(args, env if http else {})
    if http and not 0 <= args.port < 65536:
        # said with the others (it stopped the start alone); the host's checks read the default port meanwhile
        refused.append(f"--port {args.port} is not a TCP port (0-65535; 0 for a free one the system chooses)")
        args.port = DEFAULT_PORT
    from ..catalog_location import find_catalog  # (where it is alone: the catalog is read at the first call)

    checks = StartChecks(taken, refused)
    try:  # MAGSAG_CATALOG too: refused now, not by every tool call, and with the other settings refused
        checks.catalog_root = find_catalog(args.catalog)
    except ConfigError as exc:
        refused.append(exc.message)
    # the settings the service reads as it opens, refused now, each with its fix: over stdio the service opens on the
    # first call, and with MAGSAG_CALL_DEADLINE=abc the server started, answered `initialize` and failed every call
    opening = refused_as_it_opens(args, env)
    refused += opening
    checks.warnings = setting_warnings(args, env, opening)
    checks.agent, agent_refusals = agent_refused(args.agent, env)
    refused += agent_refusals
    if http:  # the host, the names it admits, the tokens and /metrics' settings too
        from .gate_settings import gate_settings

        host_refusals, host_taken = host_and_names_refused(args, taken)
        refused += host_refusals
        # the tokens (MAGSAG_MCP_TOKENS_FILE's, MAGSAG_MCP_TOKEN or its file) and /metrics' settings, each refused as
        # `magsag doctor` lists it (the same function); a refused host is weighed against no token as doctor weighs
        # none: 'localhost:8765' was also said "reachable beyond this machine"
        checks.gate, gate_refusals = gate_settings(env, args.host if host_taken else None, checks.agent)
        refused += gate_refusals
    return checks


#: the routing settings and lists calls read: MAGSAG_PROVIDER by every call (a bad one refuses each, so the start
#: refuses it); MAGSAG_MODEL by a call naming no model of its own, MAGSAG_ALLOWED_BASE_URLS by one naming a base URL,
#: MAGSAG_BILLED_COST_HOSTS by none (an entry that is no host leaves a gateway's costs unknown): a problem of these is
#: said at start (:func:`setting_warnings`), not refused, as calls that do not read them go on
_READ_BY_CALLS = ("MAGSAG_PROVIDER", "MAGSAG_MODEL", "MAGSAG_ALLOWED_BASE_URLS", "MAGSAG_BILLED_COST_HOSTS")


def refused_as_it_opens(args: Namespace, env: Mapping[str, str]) -> list[str]:
    """The settings the service reads as it opens refused, each with its fix (:func:`~..settings.refused_at_open`,
    ``--call-base-urls`` taken as its variable), a ``MAGSAG_PROVIDER`` every call would refuse, and a blank
    ``MAGSAG_DB`` where ``--db`` is not given."""
    from ..settings import ledger_path_setting, refused_at_open

    read = _as_read(args, env)
    refused = refused_at_open(read)
    if read.get("MAGSAG_PROVIDER") and not _built_in_provider(read["MAGSAG_PROVIDER"]):
        # MAGSAG_PROVIDER='opnai': the server started, answered `initialize` and failed every call with the
        # config_error (asked only of a name that is none of the built-in ones: the registry, which says the name
        # meant, imports its transport and aiohttp, which a start defers; asked of every set name, it added some
        # 190 ms to the start of every server whose client set MAGSAG_PROVIDER)
        from ..env_routing import _env_override

        try:
            _env_override(read)
        except ConfigError as exc:
            refused["MAGSAG_PROVIDER"] = exc.message
    if getattr(args, "db", None) is None:
        try:
            ledger_path_setting(env)  # a blank MAGSAG_DB, or one with spaces around it
        except ConfigError as exc:
            refused["MAGSAG_DB"] = exc.message
    return list(refused.values())


def _built_in_provider(name: str) -> bool:
    """Whether ``name`` is a built-in provider's name or alias, read as the registry reads it
    (:func:`~..providers.canonical_provider`), without importing the registry."""
    from ..provider_aliases import built_in_provider

    return built_in_provider(name) is not None


def _as_read(args: Namespace, env: Mapping[str, str]) -> Mapping[str, str]:
    """``env`` as the service reads it: ``--call-base-urls`` is its variable's spelling on the command line."""
    from ..settings import MODE_ENV

    return env if getattr(args, "call_base_urls", None) is None else {**env, MODE_ENV: args.call_base_urls}


def setting_warnings(args: Namespace, env: Mapping[str, str], refused: Collection[str] | None = None) -> list[str]:
    """What some calls would refuse, or none would but `magsag doctor` lists as a problem (``doctor``'s
    ``setting_problems``: a blank ``MAGSAG_MODEL``, a ``MAGSAG_ALLOWED_BASE_URLS`` or ``MAGSAG_BILLED_COST_HOSTS``
    entry that is no URL or host), to be said at start: refused there, a server whose every call names its own model
    (which a blank MAGSAG_MODEL refuses none of, docs/configuration.md) did not start, as no `magsag` command stops on
    them. A ``MAGSAG_PROVIDER`` every call refuses is :func:`refused_as_it_opens`'s, and said there alone:
    ``refused``, its refusals where the caller has them (:func:`start_checks`), else found again. None of these
    checks imports the provider registry or its transport for a built-in provider's name (see
    :func:`~..targets.canonical_provider`): with MAGSAG_MODEL set, they did, before the answer to `initialize`."""
    read = _as_read(args, env)
    # a built-in MAGSAG_PROVIDER alone has nothing more to say (refused_as_it_opens took it)
    provider = read.get("MAGSAG_PROVIDER")
    if not any(read.get(name) for name in _READ_BY_CALLS if name != "MAGSAG_PROVIDER") and (
        not provider or _built_in_provider(provider)
    ):
        return []
    from ..settings import setting_problems

    said = set(refused_as_it_opens(args, env) if refused is None else refused)
    return [problem for problem in setting_problems(read) if problem not in said]


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        port = -1
    if not 0 <= port < 65536:
        raise ConfigError(
            f"{PORT_ENV}={excerpt(value, 80)!r} is not a TCP port: set it to a number 0 to 65535 (0: a free one the "
            "system chooses), or pass --port"
        )
    return port


def option_said(option: str, value: str) -> str:
    """How a refusal names an option's value: ``--host '...'``, or ``MAGSAG_MCP_HOST='...'`` for one its variable
    set (the option's name there sent the operator to a command line that has none)."""
    if option.startswith("MAGSAG_"):
        return f"{option}={excerpt(value, 200)!r}"
    return f"{option} {value!r}"


def from_the_environment(taken: Mapping[str, str], *options: str) -> str:
    """What a refusal of the bind adds when an option it names came from its variable: ``(--port was set by
    MAGSAG_MCP_PORT)``; empty when none did."""
    said = [f"{option} was set by {taken[option]}" for option in options if option in taken]
    return f" ({'; '.join(said)})" if said else ""


#: a host name or IPv4 address, then an optional port (``*``: any port, as the SDK matches it)
_NAME_AND_PORT = re.compile(r"(?P<name>[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?\.?)(:(?P<port>\d{1,5}|\*))?")
#: a bracketed IPv6 address, then an optional port
_IPV6_AND_PORT = re.compile(r"\[(?P<name>[^\]]+)\](:(?P<port>\d{1,5}|\*))?")


def host_authority(host: str, port: int, option: str = "--allow-host") -> str:
    """What a client puts in the Host header for ``host`` on ``port`` (IPv6 in brackets). A value no
    Host header can be (a URL, a path, a bad port) is refused: it would never match, and every
    client would get 421 with nothing saying why. ``option``: what gave it, an option or its variable."""
    if _is_ipv6(host):
        return f"[{host.lower()}]:{port}"
    match = _IPV6_AND_PORT.fullmatch(host) if host.startswith("[") else _NAME_AND_PORT.fullmatch(host)
    given = match and match["port"]
    if match is None or (match.re is _IPV6_AND_PORT and not _is_ipv6(match["name"])):
        raise ConfigError(
            f"{option_said(option, host)} is not a host name, an IP address or either with a port (NAME[:PORT], "
            "[IPv6][:PORT]); give what clients put in the Host header, e.g. mybox.lan or mybox.lan:443"
        )
    if given and option in ("--host", HOST_ENV):
        with_port = "--port" if option == "--host" else f"{PORT_ENV} (or --port)"
        raise ConfigError(f"{option_said(option, host)} carries a port; give the port with {with_port}")
    if given and given != "*" and not 0 < int(given) < 65536:
        raise ConfigError(f"{option_said(option, host)}: {given} is not a TCP port (1-65535)")
    name = match["name"].lower()  # host names are case-insensitive, and clients send them in lower case
    if match.re is _IPV6_AND_PORT:
        name = f"[{name}]"
    return f"{name}:{given or port}"


def _is_ipv6(text: str) -> bool:
    try:
        return ipaddress.ip_address(text).version == 6
    except ValueError:
        return False
