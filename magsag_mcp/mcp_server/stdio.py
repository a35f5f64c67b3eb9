"""Serving on stdio, and stopping on SIGINT, SIGTERM or SIGHUP without losing the calls in flight.

An MCP client stops a stdio server by closing its stdin, then, if it has not exited, with SIGTERM;
Ctrl-C in a terminal sends SIGINT. Neither ends the SDK's stdio loop by itself: the SDK reads stdin
on a worker thread that no cancellation can interrupt, so the loop waits until stdin closes (and
Python's default for SIGTERM kills the process at once, losing a call that was already sent and
perhaps billed; so does its default for SIGHUP, which a closing terminal sends the client's process group, its
stdio servers in it). So a signal here closes the service first, which cancels the calls in flight and
waits while each records what it spent and releases its budget reservation, and then ends the
process: everything worth keeping is committed to the ledger by then. Where the event loop takes no
signal handlers (Windows), the server runs until stdin closes, as the SDK's loop does.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import sys
from contextlib import ExitStack
from typing import Any

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.shared.message import SessionMessage
from mcp_types import INVALID_REQUEST, PARSE_ERROR, ErrorData, JSONRPCError
from pydantic import ValidationError

from ..errors import redacting_logger
from ..plurals import counted
from ..signals import server_stop_signals
from .batches import batch_errors
from .server import server_state

logger = redacting_logger("magsag_mcp.mcp")


#: where a key the stdio server lacks is to be set: a client starts it with few of its user's shell variables, so "in
#: the environment" sent the user whose key was exported in ~/.profile back to the shell
SETTINGS_HOME = (
    'in the environment magsag-mcp is started with (the "env" of its entry in the MCP client\'s configuration: a '
    "client passes it few of your shell's variables)"
)


async def serve_stdio(server: MCPServer[Any]) -> None:
    server_state(server).settings_home = SETTINGS_HOME
    async with anyio.create_task_group() as tg:
        tg.start_soon(_stop_on_signal, server)
        await server.run_stdio_async()
        tg.cancel_scope.cancel()


async def _stop_on_signal(server: MCPServer[Any]) -> None:
    with ExitStack() as stack:
        try:
            signals = stack.enter_context(anyio.open_signal_receiver(*server_stop_signals()))
        except NotImplementedError:
            # Windows' event loops take no signal handlers: serve on, until the client closes stdin (the
            # lifespan then closes the service, recording the calls in flight) or Ctrl-C interrupts.
            logger.debug("no signal handlers on this platform: the server stops when stdin closes")
            return
        async for signum in signals:
            name = signal.Signals(signum).name
            logger.info("%s: stopping; calls in flight are cancelled and recorded", name)
            try:
                await server_state(server).close()
            except Exception as exc:  # a record the ledger refused again (a full disk): said, and the server still
                # stops, as the signal asked (raised here, it ended only this watcher, and the server served on)
                logger.error("%s: closing the service failed: %s", name, getattr(exc, "message", exc))
            # the interpreter's exit work, which os._exit skips: its atexit hooks (logging's flush, an OpenTelemetry
            # provider's export of the spans and metrics it still holds, which were lost)
            atexit._run_exitfuncs()
            sys.stderr.flush()
            os._exit(128 + signum)


async def run_stdio(server: MCPServer[Any]) -> None:
    """The SDK's ``run_stdio_async``, with a request its reader cannot parse answered (see :class:`AnsweringReads`),
    and a client gone from stdout taken as one gone from stdin.

    A client that exits or crashes mid-call closes its ends of both pipes: the SDK then answers the calls in flight
    ("Connection closed"), or a call's progress is sent, into the closed stdout, and its writer's BrokenPipeError
    ended the server with exit status 1 and a long exception group in the log, as if it had crashed. By then the
    session has ended (the lifespan closed the service, recording the calls in flight): this stops as stdin's end
    does, saying so in a line."""
    from mcp.server.stdio import stdio_server

    lowlevel = server._lowlevel_server
    try:
        async with stdio_server() as (read_stream, write_stream):
            reads = AnsweringReads(read_stream, write_stream)
            await lowlevel.run(reads, write_stream, lowlevel.create_initialization_options())
    except* BrokenPipeError:
        logger.info("the client closed the connection (stdout): stopping; calls in flight were cancelled and recorded")


class AnsweringReads:
    """The stdio read stream, less the requests the SDK could not parse, each answered with an error.

    The SDK's stdio reader hands a line it cannot parse on as an exception, which the server drops with a
    debug log line: a request whose text carries half a UTF-16 surrogate pair (a JavaScript client cutting a
    string inside an emoji writes ``"\\ud83d"``, which JSON allows and the SDK's parser refuses) or that is
    not JSON-RPC 2.0 was never answered, and the client waited for it until its own timeout. Over HTTP the
    same request is refused at once (400). Here it is answered with the request's id, saying what to fix.
    """

    def __init__(self, inner: Any, write: Any) -> None:
        self.inner = inner
        self.write = write

    @property
    def last_context(self) -> Any:  # the sender's context that the SDK's own stream carries, if it does
        return getattr(self.inner, "last_context", None)

    async def __aenter__(self) -> AnsweringReads:
        await self.inner.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> Any:
        return await self.inner.__aexit__(*exc)

    async def aclose(self) -> None:
        await self.inner.aclose()

    def __aiter__(self) -> AnsweringReads:
        return self

    async def __anext__(self) -> SessionMessage | Exception:
        try:
            return await self.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None

    async def receive(self) -> SessionMessage | Exception:
        """The next message, as the SDK's ``ReadStream`` protocol reads one (its server iterates, as ``__anext__``)."""
        while True:
            item = await self.inner.receive()
            if not isinstance(item, Exception):
                return item
            batch = batch_answers(item)
            answer = unreadable_answer(item) if batch is None else None
            answers = batch if batch is not None else [] if answer is None else [answer]
            if not answers:
                reason = item.errors(include_url=False)[0]["msg"] if isinstance(item, ValidationError) else type(item)
                if batch is not None:
                    reason = "a JSON-RPC batch of notifications and responses alone, which MCP does not take"
                logger.warning(
                    "dropped a message from stdin that the server cannot read, with no id to answer: %s", reason
                )
                return item
            if batch is None and answers[0].id is None:
                logger.warning(
                    "answered a line that is no JSON with a parse error (id null): %s", answers[0].error.message
                )
            elif batch is None:
                logger.warning("answered request %r with an error: %s", answers[0].id, answers[0].error.message)
            elif answers[0].id is None:
                logger.warning(
                    "answered a batch with no request by id with one error (id null): %s", batch[0].error.message
                )
            else:  # one line for the batch: a line of its own for each request flooded the log with a large one
                ids = ", ".join(repr(a.id) for a in answers[:_IDS_LOGGED])
                more = f" and {len(answers) - _IDS_LOGGED} more" if len(answers) > _IDS_LOGGED else ""
                said = answers[0].error.message
                logger.warning(
                    "answered %s of a batch (%s%s) with an error: %s", counted(len(answers), "request"), ids, more, said
                )
            for answer in answers:
                try:
                    await self.write.send(SessionMessage(answer))
                except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                    return item  # the connection is closing: nothing to answer on


#: how many of a batch's request ids its log line names
_IDS_LOGGED = 10


def batch_answers(exc: Exception) -> list[JSONRPCError] | None:
    """The errors answering a JSON-RPC batch (an array of messages on one line) the SDK's reader refused (``exc``), or
    ``None`` when the line was no array.

    MCP's 2025-06-18 revision removed batching, and the SDK's reader refuses an array ("Input should be an object"),
    which the server then dropped: a client that batched waited for answers that never came. It is answered as
    :func:`~.batches.batch_errors` says (the HTTP transport answers a batch in the same words)."""
    if not isinstance(exc, ValidationError):
        return None
    errors = exc.errors(include_url=False)
    # the line itself an array: each union member refused it whole (its loc that member's name alone); an array
    # deeper in an object (params by position, which JSON-RPC allows and MCP does not) is the request's, answered
    # under its id (unreadable_answer), not a batch
    whole = errors[0] if errors else None
    if whole is None or len(whole["loc"]) > 1 or not isinstance(whole["input"], list):
        return None
    return batch_errors(whole["input"])


def unreadable_answer(exc: Exception) -> JSONRPCError | None:
    """The error answering a request the SDK's reader refused (``exc``), or ``None`` when it had no id."""
    if not isinstance(exc, ValidationError):
        return None
    message: Any = None
    invalid_json: str | None = None
    for err in exc.errors(include_url=False):
        if err["type"] == "json_invalid" and isinstance(err["input"], str):
            invalid_json = err["msg"]
            try:
                message = json.loads(err["input"])
            except (ValueError, RecursionError):  # no id can be read: JSON-RPC 2.0's parse error, id null
                return _not_json_answer(err["input"], invalid_json)
            break
        if isinstance(err["input"], dict) and "method" in err["input"]:
            message = err["input"]  # JSON, but not a JSON-RPC message
            break
    if not isinstance(message, dict) or "method" not in message:
        return None  # not a request (a client's response to the server is never answered)
    request_id = message.get("id")
    if isinstance(request_id, bool) or not isinstance(request_id, int | str):
        return None  # a notification, or an id no answer can carry
    try:
        half = _half_surrogate(message)
    except RecursionError:  # as deep as json.loads goes: the answer goes without the place
        half = None
    if half is not None:
        where, char = half
        text = (
            f"Parse error: {where} carries half of a UTF-16 surrogate pair (\\u{ord(char):04x}: a character such "
            "as an emoji cut in two), which is not Unicode text; send whole characters"
        )
        code = PARSE_ERROR
    elif invalid_json:
        text, code = f"Parse error: {invalid_json}", PARSE_ERROR  # e.g. nested deeper than the SDK's parser goes
    else:
        text = (
            'Invalid Request: not a JSON-RPC 2.0 request; send jsonrpc "2.0", an id, a string method and an '
            "object params"
        )
        code = INVALID_REQUEST
    return JSONRPCError(jsonrpc="2.0", id=request_id, error=ErrorData(code=code, message=text))


def _not_json_answer(line: str, invalid_json: str) -> JSONRPCError | None:
    """The error answering a ``line`` that is no JSON (pydantic's ``invalid_json`` says where), or None for a blank one.

    Such a line (a batch with one element broken, a request cut short, one nested past any parser's depth) was dropped
    with a warning: its client waited for answers that never came, where JSON-RPC 2.0 answers it with a parse error,
    id null (no id can be read from it)."""
    if not line.strip(_JSON_SPACE):
        return None  # (a blank line between messages: nothing was asked; a form feed or a no-break space is no JSON)
    if line.startswith(_BYTE_ORDER_MARK):
        return _byte_order_mark_answer(line)
    text = (
        f"Parse error: {invalid_json}; no request on the line was read (none is answered under its id): send each "
        "request as a JSON object, one a line"
    )
    return JSONRPCError(jsonrpc="2.0", id=None, error=ErrorData(code=PARSE_ERROR, message=text))


#: what JSON takes for spaces between values (str.strip's default takes more: a form feed, a no-break space)
_JSON_SPACE = " \t\r\n"
_BYTE_ORDER_MARK = "\ufeff"


def _byte_order_mark_answer(line: str) -> JSONRPCError:
    """The parse error answering a ``line`` that begins with a byte order mark, under its request's id where one can be
    read past the mark. A client writing UTF-8 "with BOM" (PowerShell's default) begins its first line, its initialize,
    with U+FEFF, which JSON does not take: pydantic's "expected value at line 1 column 1" of a line that reads well
    named no mark, and the answer, id null, reached no request of the client's."""
    said = "Parse error: the line begins with a byte order mark (U+FEFF), which JSON does not take"
    fix = "write UTF-8 without a byte order mark, each request a JSON object, one a line"
    try:
        message = json.loads(line[1:])
    except (ValueError, RecursionError):
        message = None
    request_id = message.get("id") if isinstance(message, dict) and "method" in message else None
    if isinstance(request_id, bool) or not isinstance(request_id, int | str):
        text = f"{said}, and no request on it was read (none is answered under its id); {fix}"
        return JSONRPCError(jsonrpc="2.0", id=None, error=ErrorData(code=PARSE_ERROR, message=text))
    return JSONRPCError(jsonrpc="2.0", id=request_id, error=ErrorData(code=PARSE_ERROR, message=f"{said}; {fix}"))


def _half_surrogate(value: Any, where: str = "") -> tuple[str, str] | None:
    """Where the first string with half a surrogate pair is in ``value`` (``params.arguments.payload.data``)."""
    if isinstance(value, str):
        char = next((c for c in value if "\ud800" <= c <= "\udfff"), None)
        return None if char is None else (where or "the request", char)
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, inner in items:
        key_half = _half_surrogate(key, where) if isinstance(key, str) else None
        if key_half is not None:
            return (f"{where}: a key" if where else "a key", key_half[1])
        found = _half_surrogate(inner, f"{where}.{key}" if where else str(key))
        if found is not None:
            return found
    return None
