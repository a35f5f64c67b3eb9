"""``magsag-mcp``: serve the magsag MCP server over stdio (default) or streamable HTTP.

    magsag-mcp                                    # stdio, for Claude Desktop, VS Code, Cursor, agents
    magsag-mcp --transport http --port 8765       # http://127.0.0.1:8765/mcp
    magsag-mcp --transport http --port 0          # a free port; stderr says "starting on http://127.0.0.1:PORT/mcp"
    MAGSAG_MCP_TOKEN=... magsag-mcp --transport http --host 0.0.0.0 --allow-host mybox.lan
    magsag-mcp --transport http --log-format json # one JSON object a log line, for a container's log collector

stdout belongs to the protocol on stdio, so every log line goes to stderr, with secrets redacted (:mod:`.log_format`).
Here: the start-up, from the settings' checks to serving; the options and their parser are :mod:`.server_options`'s.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Sequence
from typing import Any

from ..cli import path_too_long
from ..cli.stdout_errors import OUTPUT_FULL, cannot_write, reader_left
from ..errors import ConfigError, MagsagError, redact
from ..option_names import command_line
from ..settings import MODE_ENV, unread_variable_warnings
from ..signals import end_by_signal
from ..startup import (
    annotations_compiled_once,
    collector_paused,
    imports_refused,
    models_built_on_first_use,
    package_init_deferred,
)
from .log_format import RedactingFormatter, configure_logging
from .server_options import build_parser, parse_command_line
from .server_settings import from_the_environment, start_checks

__all__ = ["RedactingFormatter", "build_parser", "configure_logging", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    with command_line():  # (its errors name its flags, --catalog and --db, where Python's name catalog= and db=)
        return _main(argv)


def _main(argv: Sequence[str] | None) -> int:
    if sys.stderr is None:
        # started with stderr closed (`2>&-`): print(file=sys.stderr) and the log handler would write to stdout,
        # the protocol's channel on stdio; they go nowhere instead
        sys.stderr = open(os.devnull, "w", encoding="utf-8")
    args = parse_command_line(argv)
    if args.version:
        return _print_version()
    configure_logging(args.log_level, args.log_format)
    log = logging.getLogger("magsag_mcp.mcp")
    if args.transport == "stdio":
        for option in ("host", "port", "allow_host"):
            if getattr(args, option) not in (None, []):
                log.warning("--%s applies to --transport http only; ignored with stdio", option.replace("_", "-"))
    try:
        # importing the SDK is most of start-up; see startup.py for what each of these saves
        package_init_deferred("mcp")
        package_init_deferred("httpx2")  # the SDK's HTTP client, for a resource read over HTTP: none here
        # the providers' registry, and through its transport aiohttp (some 120 ms of a start here): no `initialize`
        # needs them; a module of the package (at_rest, which the catalog's skills read) imports without it
        package_init_deferred("magsag_mcp.providers")
        # over http, uvicorn serves: sse_starlette's hook into its shutdown is wanted there
        unneeded = ("uvicorn",) if args.transport == "stdio" else ()
        with collector_paused(), annotations_compiled_once(), models_built_on_first_use(), imports_refused(*unneeded):
            import anyio

            from .server import build_server

            # every setting the start refuses is said at once, each with its fix, as `magsag doctor` lists them: a bad
            # MAGSAG_MCP_PORT stopped the start alone, and a bad MAGSAG_CALL_DEADLINE beside it was said at the next
            # one (over stdio the HTTP server's variables are not read: a shell's, a container's refuse no stdio start)
            checks = start_checks(args, os.environ)
            taken, refused, agent, gate = checks.taken, checks.refused, checks.agent, checks.gate
            # the option is the variable's spelling on the command line: the service reads and applies it
            env = None if args.call_base_urls is None else {**os.environ, MODE_ENV: args.call_base_urls}
            if refused:
                raise ConfigError("; also ".join(refused))
            # a misspelt setting in a client's configuration (DB_PATH for DB), or one magsag has not (SPEND_LIMIT),
            # changes nothing: said now (on stderr), not at the first call's open over stdio, long after a user looked
            # at the log of the start; the lines `magsag` commands say
            for unread in unread_variable_warnings(os.environ if env is None else env, lambda: checks.catalog_root):
                log.warning("%s", unread)
            for warning in checks.warnings:  # (a blank MAGSAG_MODEL: calls naming their own model go on)
                log.warning("%s", warning)
            if args.transport == "stdio":  # (over http the ledger opens before serving, and a failed open refuses it)
                from .ledger_at_start import unwritable_ledger_warning

                # over stdio the ledger opens at the first call: a server whose ledger no call can write started in
                # silence, and each call failed with the ledger_error
                if (unwritable := unwritable_ledger_warning(args.db, os.environ)) is not None:
                    log.warning("%s", unwritable)
            server = build_server(catalog=args.catalog, db=args.db, env=env, agent=agent, variables_said=True)
            if args.transport == "stdio":
                from .stdio import serve_stdio
            else:
                from .http import said_at_start, serve_http, served_url
                from .listeners import bind_listeners
                from .metrics_endpoint import metrics_said
        if args.transport == "stdio":
            log.info("magsag-mcp serving on stdio")
            if _in_a_terminal():  # run by hand: a server that waits in silence reads as one that hung
                _tell_the_terminal(args.log_format, log)
            anyio.run(serve_stdio, server)
        else:
            token, clients, metrics = gate.token, gate.clients, gate.metrics
            assert metrics is not None  # (refused, it is among the refusals)
            try:
                listeners = bind_listeners(args.host, args.port)  # refuses a port in use, with its fix
            except ConfigError as exc:  # its fix names the options: say which a variable set
                raise ConfigError(exc.message + from_the_environment(taken, "--host", "--port")) from None
            try:
                # the port bound: with --port 0 the one the system chose, which scripts read here (docs/mcp.md)
                port = listeners[0].getsockname()[1]
                said_at_start(
                    log,
                    args.port == 0,
                    "magsag-mcp starting on %s (token %s)",
                    served_url(args.host, port),
                    gate_said(token, clients),
                )
                log.info(
                    "Prometheus metrics at %s (%s)",
                    served_url(args.host, port, "/metrics"),
                    metrics_said(metrics, token is not None, bool(clients)),
                )
                stopped = anyio.run(
                    lambda: serve_http(
                        server,
                        host=args.host,
                        listeners=listeners,
                        token=token,
                        allow_hosts=args.allow_host,
                        log_level=args.log_level,
                        clients=clients,
                        metrics=metrics,
                        token_file=gate.token_file,
                    )
                )
            finally:
                for listener in listeners:
                    listener.close()
            if stopped == signal.SIGINT:
                return 130
            if stopped is not None:  # its calls recorded: ends by the signal, once atexit's hooks have run
                end_by_signal(stopped)
    except MagsagError as exc:  # a bad option or setting, or (http) a service that cannot open
        return _refused(redact(exc.message), args.transport, args.log_format)
    except OSError as exc:
        too_long = path_too_long(exc)  # a --db or --catalog (or MAGSAG_DB, MAGSAG_CATALOG) no file system takes
        if too_long is None:
            raise
        return _refused(too_long.message, args.transport, args.log_format)
    except KeyboardInterrupt:
        return 130
    return 0


def _print_version() -> int:
    """The version on stdout, as `magsag --version` prints it: a reader gone (`magsag-mcp --version | true`) ends it
    quietly, a full disk in one line with exit 1; both were a traceback."""
    from .. import __version__

    try:
        print(__version__, flush=True)
    except BrokenPipeError:
        return reader_left()
    except OSError as exc:
        if exc.errno not in OUTPUT_FULL:
            raise
        print(f"magsag-mcp: {cannot_write(exc)}", file=sys.stderr)
        reader_left()  # what is still buffered goes nowhere, with no second error at exit
        return 1
    return 0


#: said when stdio is a terminal: someone typed `magsag-mcp` to try it, and sees it wait for messages they do not send
AT_A_TERMINAL = (
    "stdin is a terminal: magsag-mcp now waits for an MCP client's JSON-RPC messages there, as a client that starts "
    "it sends them (Claude Desktop, an IDE: examples/mcp/README.md sets one up); to see it work, run `magsag demo`; "
    "to serve clients over the network, `magsag-mcp --transport http`; Ctrl-C stops it"
)

#: where a stdio server's settings are set, said after its refusal: an MCP client starts it from its configuration, and
#: a desktop user, who never sees a shell, was told to set a variable with no word of where (the client's log for the
#: server shows this; Claude Desktop's says only "Server disconnected" in its window)
CLIENT_CONFIG = (
    "magsag-mcp: started by an MCP client, it takes its settings from its entry under mcpServers in the client's "
    'configuration (Claude Desktop: claude_desktop_config.json): a variable in its "env" object, an option in its '
    '"args"; fix it there and restart the client'
)


#: the start-up line's word for a server that checks no bearer token: "(token off)" alone did not say that a client's
#: Authorization header is then not checked, which a user who gave a client a token learnt only from the warning of
#: the first request to send one (:mod:`.unchecked_token`), if at all
NO_TOKEN_CHECKED = (
    "off: no bearer token is checked, every request from this machine is served, an Authorization header's too; "
    "set MAGSAG_MCP_TOKEN (or MAGSAG_MCP_TOKEN_FILE, MAGSAG_MCP_TOKENS_FILE) to require one"
)


def gate_said(token: str | None, clients: Sequence[Any]) -> str:
    """What the start-up line says of the bearer token: required (one, or one per client), or not checked at all."""
    if clients:
        return (
            f"required: one per client, {len(clients)} in MAGSAG_MCP_TOKENS_FILE; a request without one of them as "
            "its Authorization: Bearer token is refused (401)"
        )
    if token:
        return "required: a request without it as its Authorization: Bearer token is refused (401)"
    return NO_TOKEN_CHECKED


def _refused(message: str, transport: str, log_format: str = "text") -> int:
    """Exit status 2 for a setting refused at start, said on stderr: over stdio from a client (not a terminal), with
    where its settings are (:data:`CLIENT_CONFIG`). With ``--log-format json`` said as a log record at ERROR: a
    collector reading one JSON object a line took the one line that says why the server stopped for no record."""
    said = [f"magsag-mcp: {message}"]
    if transport == "stdio" and not _in_a_terminal():
        said.append(CLIENT_CONFIG)
    for line in said:
        if log_format == "json":
            logging.getLogger("magsag_mcp.mcp").error("%s", line)
        else:
            print(line, file=sys.stderr)
    return 2


def _tell_the_terminal(log_format: str, log: logging.Logger) -> None:
    """:data:`AT_A_TERMINAL`, said to the person who typed ``magsag-mcp``, whatever ``--log-level``: it is no log
    record (logged at INFO, ``--log-level WARNING`` hid it, and the server waited in silence again). Written to stderr
    as it is, but for JSON log lines going elsewhere than a terminal (``2>server.log``), where a line of text would be
    no JSON: there it stays a record, at INFO."""
    if log_format == "json" and not _stderr_a_terminal():
        log.info("%s", AT_A_TERMINAL)
        return
    print(f"magsag-mcp: {AT_A_TERMINAL}", file=sys.stderr, flush=True)


def _stderr_a_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (ValueError, OSError):  # stderr closed
        return False


def _in_a_terminal() -> bool:
    """Whether stdin is a terminal: someone ran the server in a shell, who sets its variables there."""
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (ValueError, OSError):  # stdin closed
        return False


if __name__ == "__main__":
    sys.exit(main())
