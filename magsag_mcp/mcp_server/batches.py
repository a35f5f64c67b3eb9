"""A JSON-RPC batch (an array of messages in one line or one POST body), which MCP has not taken since its 2025-06-18
revision, answered with what to send instead, over stdio (:class:`~.stdio.AnsweringReads`) and over HTTP
(:class:`BatchRefusal`) in the same words."""

from __future__ import annotations

import json
from typing import Any

from mcp_types import INVALID_PARAMS, INVALID_REQUEST, ErrorData, JSONRPCError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..plurals import counted

#: how each request is to be sent instead, on each transport
ONE_A_LINE = "one a line"
ONE_A_POST = "one in each POST"
#: the header naming a client's session (ASGI's header names are lower case bytes)
_SESSION_HEADER = b"mcp-session-id"
#: the bytes JSON allows before a value
_JSON_SPACE = b" \t\r\n"


def batch_errors(batch: list[Any], each: str = ONE_A_LINE) -> list[JSONRPCError]:
    """The errors answering ``batch``: each request of it with an id answered Invalid Request under its id (a client
    matches answers by id), saying to send each as a message of its own (``each``: how, on the transport); a batch
    with none to answer but something other than notifications and responses in it (an empty one, a number) answered
    with one Invalid Request error (id null), as JSON-RPC 2.0 answers an invalid batch. A batch of notifications and
    responses alone gets none, as JSON-RPC 2.0 has it (an HTTP refusal, which must say something, takes
    :func:`batch_refused` then)."""
    answers = []
    unanswered = False  # an element that is neither a request with an id, a notification nor a response
    for message in batch:
        request_id = message.get("id") if isinstance(message, dict) else None
        if isinstance(message, dict) and "method" in message:
            if isinstance(request_id, int | str) and not isinstance(request_id, bool):
                answers.append(_invalid(request_id, batch_refused(batch, each)))
            elif "id" in message:
                unanswered = True  # a request whose id no answer can carry
        elif not (isinstance(message, dict) and ("result" in message or "error" in message)):
            unanswered = True
    if not answers and (unanswered or not batch):
        answers.append(_invalid(None, batch_refused(batch, each)))
    return answers


def batch_refused(batch: list[Any], each: str = ONE_A_LINE) -> str:
    """What a batch's error says: what was sent, that MCP does not take it, and how to send its requests."""
    shown = f"an array of {counted(len(batch), 'message')}" if batch else "an empty array"
    return (
        f"Invalid Request: a JSON-RPC batch ({shown}), which MCP does not take "
        f"since its 2025-06-18 revision; send each request as a JSON object of its own, {each}"
    )


def _invalid(request_id: int | str | None, text: str) -> JSONRPCError:
    return JSONRPCError(jsonrpc="2.0", id=request_id, error=ErrorData(code=INVALID_REQUEST, message=text))


class BatchRefusal:
    """The SDK's streamable HTTP transport refuses a batch POSTed to it (a body that is a JSON array) with ``400`` and
    -32602 "Validation error: 4 validation errors for ..." (pydantic's dump of each union member refusing the array),
    id null: a client that batched was told of invalid params, of no request of its own, and not what to send. Over
    stdio the same batch is answered under each request's id, saying to send each as an object of its own. Here too:
    the status stays 400 (the transport takes one message a POST: a body it cannot accept gets an HTTP error status),
    and the body is JSON-RPC 2.0's answer to a batch, an array of the errors, one for each request by its id, or one
    error (id null) where none has an id to answer under, a batch of notifications and responses alone included.

    Only the SDK's refusal is rewritten, after every check it makes first (Host and Origin, Accept, Content-Type, the
    body's size): the request's body is kept, as it passes to the SDK, only where it begins as an array."""

    def __init__(self, app: ASGIApp, path: str) -> None:
        self.app = app
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST" or scope.get("path") != self.path:
            await self.app(scope, receive, send)
            return
        body: bytearray | None = bytearray()  # None: the body is no array, and is not kept
        array = False  # its first byte past JSON's whitespace was "["
        held: Message | None = None

        async def keeping_receive() -> Message:
            nonlocal body, array
            message = await receive()
            if body is not None and message["type"] == "http.request":
                body += message.get("body", b"")
                if not array:
                    start = bytes(body).lstrip(_JSON_SPACE)[:1]
                    if start:
                        array = start == b"["
                        body = body if array else None
                    elif len(body) > 2**16:  # (a megabyte of spaces: no array worth answering)
                        body = None
            return message

        async def answering_send(message: Message) -> None:
            nonlocal held
            if message["type"] == "http.response.start" and message["status"] == 400 and array and held is None:
                held = message  # its body says whether it is the SDK's refusal of the batch
                return
            if held is None:
                await send(message)
                return
            start, held = held, None
            answers = None if message.get("more_body", False) else _batch_answer(body, message.get("body", b""))
            if answers is None:
                await send(start)
                await send(message)
                return
            if not any(k.lower() == _SESSION_HEADER for k, _ in scope.get("headers", [])):
                # no session was asked for: the one the SDK started for this POST ended with its refusal, and a
                # client that kept the id its header named would be answered 404 for a session it never had
                start = {
                    **start,
                    "headers": [(k, v) for k, v in start.get("headers", []) if k.lower() != _SESSION_HEADER],
                }
            # (imported here, on HTTP's path: stdio reads batch_errors, and refusals' import brings the HTTP server's
            # bearer gate, its client token files and their YAML reader, some 15 million instructions of a stdio start)
            from .refusals import send_refusal

            await send_refusal(send, start, answers)

        await self.app(scope, keeping_receive, answering_send)


def _batch_answer(body: bytearray | None, refusal: bytes) -> bytes | None:
    """The body answering the batch ``body`` that the SDK refused with ``refusal``, or None: no batch, or another
    refusal (a parse error: JSON-RPC 2.0's one error, id null, for a batch that is no JSON, as it is)."""
    try:
        said = json.loads(refusal)
        batch = json.loads(body) if body is not None else None
    except (ValueError, RecursionError):
        return None
    if not isinstance(batch, list) or not isinstance(said, dict):
        return None
    error = said.get("error")
    if not isinstance(error, dict) or error.get("code") != INVALID_PARAMS:
        return None
    answers = batch_errors(batch, ONE_A_POST) or [_invalid(None, batch_refused(batch, ONE_A_POST))]
    dumped = [a.model_dump(mode="json", by_alias=True, exclude_unset=True) for a in answers]
    return json.dumps(dumped[0] if len(dumped) == 1 and dumped[0]["id"] is None else dumped).encode()
