"""``magsag-mcp``'s command line: its options, the variables they default to (``--help``'s epilog lists every one),
and its parser, which says a refusal as the server says every other at start (one JSON log record with
``--log-format json``). What the server does with them, from the settings' checks to serving, is in
:mod:`.__main__`."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from ..cli import RedactingParser, given
from ..errors import redact
from ..redaction import register_env_secrets
from ..settings import MODES
from .log_format import LOG_FORMAT_ENV, LOG_FORMATS, configure_logging
from .server_settings import TRANSPORT_ENV

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
TRANSPORTS = ("stdio", "http")
LOG_LEVEL_ENV = "MAGSAG_MCP_LOG_LEVEL"

#: what ``--help`` says of the environment: every variable of docs/configuration.md's table (tests/test_docs.py
#: holds them to it), for a user setting the server up, who reads this before any page of the docs
ENVIRONMENT = """\
environment (a variable set empty counts as unset; docs/configuration.md says
more; `magsag doctor` checks them):
  MAGSAG_MCP_TOKEN      http: the token clients must send as
                        'Authorization: Bearer <it>'; required to bind beyond
                        loopback, and then of 16 printable ASCII characters
                        or more
  MAGSAG_MCP_TOKEN_FILE http: a file holding the token instead (a Docker or
                        Kubernetes secret's file; its last line break is
                        left out)
  MAGSAG_MCP_TOKENS_FILE
                        http: a file of 'AGENT TOKEN' lines, a token per
                        client, each client's calls recorded as its agent
                        and held to its limits (instead of the one token)
  MAGSAG_MCP_METRICS    http: on (the default) serves /metrics for Prometheus,
                        behind the token; off serves none
  MAGSAG_MCP_METRICS_TOKEN
                        http: a token for the scraper alone, which /metrics
                        then takes instead of MAGSAG_MCP_TOKEN (required
                        for /metrics with MAGSAG_MCP_TOKENS_FILE)
  MAGSAG_MCP_METRICS_TOKEN_FILE
                        http: a file holding the scrape token instead
  MAGSAG_MCP_METRICS_AGENTS
                        http: how many agents /metrics labels by name (the
                        rest as '(other)'; default 100)
  MAGSAG_MCP_TRANSPORT, MAGSAG_MCP_HOST, MAGSAG_MCP_PORT,
  MAGSAG_MCP_ALLOW_HOSTS (comma-separated), MAGSAG_MCP_AGENT,
  MAGSAG_CALL_BASE_URLS, MAGSAG_MCP_LOG_LEVEL, MAGSAG_MCP_LOG_FORMAT,
  MAGSAG_CATALOG, MAGSAG_DB
                        the defaults of the options above (an option given
                        wins over its variable)
  provider keys and endpoints (a provider with its key set, or for local and
  compat its URL, is configured):
    OPENAI_API_KEY, OPENAI_BASE_URL, OPENAI_ORG_ID (or OPENAI_ORGANIZATION),
      OPENAI_PROJECT_ID
    ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL, ANTHROPIC_VERSION
    GEMINI_API_KEY (or GOOGLE_API_KEY), GEMINI_BASE_URL
    AZURE_OPENAI_API_KEY (or AZURE_OPENAI_AD_TOKEN), AZURE_OPENAI_ENDPOINT,
      AZURE_OPENAI_API_VERSION (or OPENAI_API_VERSION),
      AZURE_OPENAI_DEPLOYMENT_TYPE, MAGSAG_AZURE_SERVED_TRUST (seconds a record of
      the model a deployment was seen serving is trusted; default 86400)
    MAGSAG_LOCAL_LLM_BASE_URL (or OLLAMA_BASE_URL, OLLAMA_HOST),
      MAGSAG_LOCAL_LLM_API_KEY
    MAGSAG_COMPAT_BASE_URL, MAGSAG_COMPAT_API_KEY
  MAGSAG_PROVIDER, MAGSAG_MODEL
                        send every call to this provider / model (below a
                        call's own choice, above routing)
  MAGSAG_ALLOWED_BASE_URLS
                        provider=URL,...: further base URLs a call may send
                        a provider's key to
  MAGSAG_MAX_RETRIES, MAGSAG_RETRY_BASE_DELAY, MAGSAG_RETRY_MAX_DELAY,
  MAGSAG_CALL_DEADLINE  retries per target, 0 to 10 (default 2); backoff,
                        0 to 60 s (default 0.5); the longest wait between
                        tries, 0 to 21600 s (default 20); a whole call's
                        deadline, 0.001 to 21600 s (default 300); a 429's
                        wait over 60s is taken for a spent quota unless the
                        longest wait covers it
  MAGSAG_PAUSE_CONTINUATIONS
                        requests that may continue a turn Claude paused
                        (pause_turn), each an attempt; 0 to 20 (default 3)
  MAGSAG_BREAKER_FAILURES, MAGSAG_BREAKER_COOLDOWN
                        calls in a row that failed at a target (its tries
                        spent, each counted once) on an error saying its
                        server is unwell before the calls that follow leave
                        it alone, 0 (off) to 100 (default 3); its first rest, 1 to
                        600 s (default 30), doubled on each trip, 600 s at
                        most; then one call probes it
  MAGSAG_CONNECT_TIMEOUT, MAGSAG_READ_TIMEOUT
                        seconds to connect to a provider, 0.001 to 300
                        (default 10; 5 for local); seconds it may stay
                        silent, 0.001 to 3600 (default 120; 600 for local)
  MAGSAG_LEDGER_SYNC    full (default): a call returns once its record is on
                        disk; normal: once it is in the write-ahead log
  MAGSAG_BILLED_COST_HOSTS
                        hosts, besides openrouter.ai, whose answers'
                        usage.cost prices a call of no known price
  HTTPS_PROXY, HTTP_PROXY, NO_PROXY, SSL_CERT_FILE, SSL_CERT_DIR
                        the proxy, and CAs trusted beside the system's, for
                        reaching providers
  OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT
                        true: each attempt's prompt and answer on its
                        OpenTelemetry span (unset: never recorded)
"""


class ServerParser(RedactingParser):
    """The server's parser: with ``--log-format json`` asked for, a command line it refuses (``--port 8O80``, a
    misspelt option) is said as one JSON log record at ERROR, as every other refusal at start is (:func:`_refused`):
    argparse's usage and error lines were text, which a collector reading one JSON object a line took for no record
    of why the container stopped. :func:`main` sets :attr:`log_format` from what the command line asks first."""

    log_format = "text"
    #: the arguments the last parse took for none of its own
    _extras: list[str] = []

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        namespace, self._extras = super().parse_known_args(args, namespace)
        return namespace, self._extras

    def error(self, message: str) -> Any:
        if message.startswith("unrecognized arguments:") and self._extras:
            from ..cli.unrecognized import server_unrecognized

            message = server_unrecognized(self, self._extras)
        if self.log_format != "json":
            return super().error(message)
        register_env_secrets(os.environ)
        configure_logging("ERROR", "json")
        logging.getLogger("magsag_mcp.mcp").error(
            "%s", f"{self.prog}: error: {redact(message)} ({self.prog} --help says what each option takes)"
        )
        sys.exit(2)


#: the options whose variable argparse does not check (only values given): dest -> (variable, values, what, option)
_CHECKED = {
    "log_level": (LOG_LEVEL_ENV, LEVELS, "a log level", "--log-level"),
    "log_format": (LOG_FORMAT_ENV, LOG_FORMATS, "a log format", "--log-format"),
    "transport": (TRANSPORT_ENV, TRANSPORTS, "a transport", "--transport"),
}


def _variable_value(dest: str, env: Mapping[str, str]) -> str:
    """The value of ``dest``'s variable as its option's default reads it ("" when unset): empty is unset, as for
    every variable, spaces around it no part of it, in any case. The one reading of it, for the server's parser and
    for ``magsag doctor`` (:func:`variables_refused`): two copies could come to disagree on what it starts on."""
    raw = (env.get(_CHECKED[dest][0]) or "").strip()
    return raw.upper() if dest == "log_level" else raw.lower()


def _refused(dest: str, env: Mapping[str, str]) -> str:
    name, values, what, option = _CHECKED[dest]
    return f"{name}={env.get(name)!r} is not {what}; use one of {', '.join(values)} (or pass {option})"


def variables_refused(env: Mapping[str, str]) -> list[str]:
    """The refusals of the variables :func:`parse_command_line` refuses, in its words, for ``magsag doctor``, which
    listed none of them while the server would not start on one."""
    return [
        _refused(dest, env)
        for dest, (_, values, _, _) in _CHECKED.items()
        if (value := _variable_value(dest, env)) and value not in values
    ]


def _log_format_asked(argv: Sequence[str] | None) -> str:
    """The ``--log-format`` the command line (else ``$MAGSAG_MCP_LOG_FORMAT``) asks for, read before the whole line
    is, so that the parser's own refusal of the rest is said in it; ``text`` where it cannot be read."""

    class Quiet(argparse.ArgumentParser):
        def error(self, message: str) -> Any:
            raise ValueError(message)

    first = Quiet(add_help=False)
    first.add_argument("--log-format", type=str.lower, default=os.environ.get(LOG_FORMAT_ENV) or "")
    try:
        asked, _ = first.parse_known_args(argv)
    except ValueError:  # (a --log-format with no value: the whole parse refuses it, in text)
        return "text"
    return str(asked.log_format).strip()


def build_parser() -> ServerParser:
    p = ServerParser(
        prog="magsag-mcp",
        description="The magsag MCP server (LLM routing with a ledger).",
        epilog=ENVIRONMENT,
        formatter_class=argparse.RawDescriptionHelpFormatter,  # the epilog's lines as written, not one paragraph
    )
    p.add_argument(
        "--transport",
        type=str.lower,
        choices=TRANSPORTS,
        default=_variable_value("transport", os.environ) or "stdio",
        help="default: $MAGSAG_MCP_TRANSPORT or stdio",
    )
    p.add_argument(
        "--catalog", type=given, help="catalog directory (default: $MAGSAG_CATALOG, ./catalog, or the bundled one)"
    )
    p.add_argument("--db", type=given, help="ledger database file (default: $MAGSAG_DB or the user data directory)")
    # defaults applied in main: None says the option was not given (stdio warns when one was)
    p.add_argument("--host", help="http: address to bind (default: $MAGSAG_MCP_HOST or 127.0.0.1)")
    p.add_argument(
        "--port",
        type=int,
        help="http: port, 0 to 65535 (default: $MAGSAG_MCP_PORT or 8765); 0: a free port the system chooses (the "
        "start-up line on stderr says the URL served, 'magsag-mcp starting on http://HOST:PORT/mcp')",
    )
    p.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME[:PORT]",
        help="http: a further Host header to accept (the name clients use to reach a non-loopback bind); give it once "
        "for each name (default: the comma-separated names of $MAGSAG_MCP_ALLOW_HOSTS)",
    )
    p.add_argument(
        "--call-base-urls",
        choices=MODES,
        help=(
            "where a call's base_url (model_config.base_url) may point for a provider with no key (local, compat): "
            "'configured', only the endpoints the environment, the routing catalog or MAGSAG_ALLOWED_BASE_URLS "
            "name; 'any', wherever the call says (a keyed provider's key goes only to configured endpoints "
            "either way). Default: $MAGSAG_CALL_BASE_URLS, else 'configured' over http (a caller must not make "
            "the server reach hosts only it can reach) and 'any' over stdio"
        ),
    )
    p.add_argument(
        "--agent",
        type=given,
        help=(
            "record every call under this agent, whose budget limits (max_cost_per_agent_daily_usd) then bind this "
            "server's client; a call naming another agent is refused. Default: $MAGSAG_MCP_AGENT, else the agent "
            "each call names"
        ),
    )
    p.add_argument(
        "--log-level",
        type=str.upper,
        choices=LEVELS,
        default=_variable_value("log_level", os.environ) or "INFO",
        help="stderr log level (default: $MAGSAG_MCP_LOG_LEVEL or INFO)",
    )
    p.add_argument(
        "--log-format",
        type=str.lower,
        choices=LOG_FORMATS,
        default=_variable_value("log_format", os.environ) or "text",
        help="stderr log lines: 'text' (default: $MAGSAG_MCP_LOG_FORMAT or text), or 'json', one JSON object a line "
        "(time, level, logger, message, exception) for a log collector",
    )
    p.add_argument("--version", action="store_true", help="print the version and exit")
    return p


def parse_command_line(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line (and the variables its options default to) read, or refused as :class:`ServerParser` says a
    refusal: an option's value argparse refuses, and a variable's it does not check (it checks given values only)."""
    parser = build_parser()
    parser.log_format = _log_format_asked(argv)
    args = parser.parse_args(argv)
    # a bad $MAGSAG_MCP_LOG_LEVEL, ... (argparse checks only given values): every one said at once, as doctor lists
    # them, not the first alone and the next at the next start
    refused = [
        _refused(dest, os.environ) for dest, (_, values, _, _) in _CHECKED.items() if getattr(args, dest) not in values
    ]
    if refused:
        # with every other setting the start checks (:func:`.server_settings.start_checks`): a bad
        # MAGSAG_CALL_DEADLINE beside a bad MAGSAG_MCP_LOG_LEVEL was said only at the next start, once this one was
        # fixed, and then a bad port, catalog, agent or host too. A transport refused is checked as neither: what only
        # the HTTP transport reads is not weighed for a transport not known
        from copy import copy

        from .server_settings import start_checks

        parser.error("; also ".join([*refused, *start_checks(copy(args), os.environ).refused]))
    return args
