"""The HTTP server's listening options read from the environment: ``MAGSAG_MCP_HOST``, ``MAGSAG_MCP_PORT`` and
``MAGSAG_MCP_ALLOW_HOSTS``, the defaults of ``--host``, ``--port`` and ``--allow-host``.

A container's settings are set in its environment (a Compose file's ``environment:``, a pod spec's ``env:``, an
``--env-file``), where the token and the log format already were: the address to bind, its port and the names clients
reach it by had to be written into the command, which an image's ``CMD`` fixes. The option given wins over its
variable; a variable set empty counts as unset, as every other; spaces around a value are no part of it.
(``MAGSAG_MCP_TRANSPORT``, the default of ``--transport``, is read with the parser's defaults: it applies to both.)
"""

from __future__ import annotations

from argparse import Namespace
from collections.abc import Mapping

from ..errors import ConfigError
from ..redaction import excerpt

TRANSPORT_ENV = "MAGSAG_MCP_TRANSPORT"
HOST_ENV = "MAGSAG_MCP_HOST"
PORT_ENV = "MAGSAG_MCP_PORT"
ALLOW_HOSTS_ENV = "MAGSAG_MCP_ALLOW_HOSTS"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
#: the agent every call is recorded under, for clients configured by their environment (see --agent)
AGENT_ENV = "MAGSAG_MCP_AGENT"


def pinned_agent(option: str | None, env: Mapping[str, str]) -> str | None:
    """The agent every call is recorded under: ``--agent``'s (``option``), else ``MAGSAG_MCP_AGENT``'s; None: the
    one each call names. (The server's, and ``magsag doctor``'s, which weighs it against a token per client.)"""
    return option if option is not None else (env.get(AGENT_ENV) or "").strip() or None


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
