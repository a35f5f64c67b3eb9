"""How much of an answer is read: bodies, event streams and header lines, each with a bound far beyond
any answer an API documents, so that a server that runs away fails the attempt rather than the process."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable

import aiohttp

from .content_encodings import Decoder, decoder
from .deadline import Deadline, before_the_deadline
from .errors import MalformedResponseError

__all__ = ["MAX_BODY_BYTES", "MAX_HEADER_BYTES", "MAX_STREAM_BYTES", "read_body", "too_large"]

#: the most of one answer's body held in memory: far beyond any answer an API documents (a long answer is
#: a few MB, an image a few more), so that a server that runs away, or a base URL that names a download,
#: fails the attempt rather than the process
MAX_BODY_BYTES = 64 * 1024 * 1024
#: the longest status line or header line read (a cookie a gateway sets can pass aiohttp's 8 KiB)
MAX_HEADER_BYTES = 64 * 1024
#: the most one event stream may carry: each event repeats its framing, and the last ones repeat the answer
MAX_STREAM_BYTES = 256 * 1024 * 1024


async def read_body(
    resp: aiohttp.ClientResponse, host: str, limit: int, decoding: Decoder | None | bool = True
) -> bytes:
    """The body, read as it comes (decompressed), never more than ``limit`` bytes of it. An error status
    keeps its first ``limit`` bytes, or what came of it before it broke off (its status says what happened;
    the body is only quoted); a 2xx beyond the limit is no answer of the API's, and fails here, before it
    fills the memory. ``decoding``: True to decode the body as its Content-Encoding says (the transport asks
    aiohttp for the raw bytes: see :mod:`.content_encodings`), or the decoder a reader already began with."""
    length = resp.content_length  # a property that reads and parses the header: once
    if resp.status < 400 and length is not None and length > limit:
        raise too_large(host, resp.status, limit, "body")
    if decoding is True:  # (a membership test first: the common answer, uncompressed, costs no call)
        headers = resp.headers
        decoding = decoder(headers, host, resp.status, limit) if "Content-Encoding" in headers else None
    if decoding:
        return await _read_decoded(resp, decoding, limit)
    body = bytearray()
    # readany in a loop is what ``async for chunk in resp.content.iter_any()`` does, without its iterator
    # object, the coroutine around each read and the StopAsyncIteration at the end: thousands of
    # instructions on every request
    read = resp.content.readany
    #: an answer whose end only the end of its encoding tells (chunked, or until the connection closes), which a
    #: proxy may drop or hold back once the whole JSON has come: the answer all the same, generated and billed
    open_ended = resp.status < 300 and length is None
    #: when the wait for the end of a body that may be whole ends: only a chunk that is not whitespace starts it
    #: anew (a gateway that keeps the held connection alive with a newline a second held the answer for ever)
    held: list[float] = []
    try:
        while chunk := await (_next_unless_whole(read, body, held) if open_ended and _may_end(body) else read()):
            body += chunk
            if held and not chunk.isspace():
                held.clear()
            if len(body) > limit:
                if resp.status >= 400:
                    return bytes(body[:limit])
                raise too_large(host, resp.status, limit, "body")
    except aiohttp.EofStream:  # as iter_any ends on it too
        pass
    except (aiohttp.ClientPayloadError, aiohttp.ServerTimeoutError):
        # the encoding's end was lost (a dropped last chunk) or never came in time: a JSON body that is whole by
        # then is the answer, not a dropped connection to ask again (and pay again) for; an error status says what
        # happened whatever came of its body (a 429's wait, a 400 that stops the call), which is only quoted
        if not (resp.status >= 400 or (open_ended and _whole_json(body))):
            raise
    return bytes(body)


async def _read_decoded(resp: aiohttp.ClientResponse, decoding: Decoder, limit: int) -> bytes:
    """:func:`read_body` of a compressed body: the end of its compressed stream says whether it came whole. An error
    status keeps what could be decoded of its first ``limit`` bytes (it is only quoted)."""
    body = bytearray()
    read = resp.content.readany
    #: as in read_body: an answer whose transfer's end a proxy may drop or hold back once it has come whole (here
    #: told by its compressed stream's end)
    open_ended = resp.status < 300 and resp.content_length is None
    held: list[float] = []
    try:
        while chunk := await (_next_unless_ended(read, decoding, held) if open_ended and decoding.ended else read()):
            body += decoding.feed(chunk)
            if len(body) > limit:  # (a decoder begun for a stream's larger limit, by StreamResponse's sniff)
                raise decoding.too_large()
        decoding.end()
    except aiohttp.EofStream:
        decoding.end()
    except MalformedResponseError:
        if resp.status < 400:
            raise
        return bytes(body[:limit])
    except (aiohttp.ClientPayloadError, aiohttp.ServerTimeoutError):
        if not (resp.status >= 400 or (open_ended and decoding.ended)):
            raise
    return bytes(body)


async def _next_unless_ended(read: Callable[[], Awaitable[bytes]], decoding: Decoder, held: list[float]) -> bytes:
    """:func:`_next_unless_whole` of a compressed body: the next chunk, or ``b""`` when none comes within
    :data:`HELD_END_SECONDS` of its compressed stream's end (bytes after it are refused as no part of it, or are
    gzip's next member, which starts the wait anew)."""
    if not held:
        held.append(time.monotonic() + HELD_END_SECONDS)
    try:
        async with Deadline(before_the_deadline(max(held[0] - time.monotonic(), 0.0))):
            chunk = await read()
    except TimeoutError:
        return b""
    held.clear()
    return chunk


#: how long the end of a chunked body is waited for once the JSON before it is whole
HELD_END_SECONDS = 1.0


def _may_end(body: bytearray) -> bool:
    """Whether ``body`` ends as a JSON object or array ends (a cheap test before the parse that settles it), whatever
    whitespace follows (a gateway's keep-alive newlines)."""
    tail = body[-16:]
    if tail.isspace():
        tail = body.rstrip()[-16:]
    return tail.rstrip()[-1:] in (b"}", b"]")


async def _next_unless_whole(read: Callable[[], Awaitable[bytes]], body: bytearray, held: list[float]) -> bytes:
    """The next chunk; or, when none comes within :data:`HELD_END_SECONDS` and ``body`` is whole JSON, ``b""``
    (its end): a server or proxy that holds the connection open after a whole answer held the call until its read
    timeout or, when the call's deadline came first, failed it as a timeout (near that deadline it waits for half the
    time left at most). ``held``: when that wait ends, set here at its start; whitespace that comes does not move it."""
    if not held:
        held.append(time.monotonic() + HELD_END_SECONDS)
    try:
        # cut by the call's deadline, the answer was lost
        async with Deadline(before_the_deadline(max(held[0] - time.monotonic(), 0.0))):
            return await read()
    except TimeoutError:
        if _whole_json(body):
            return b""
    return await read()  # not whole yet: a slow server, waited for as for any chunk


def _whole_json(body: bytearray) -> bool:
    try:
        json.loads(body)
    except ValueError:
        return False
    return True


def size_said(limit: int) -> str:
    """A limit of bytes as a message says it: ``64 KiB``, ``256 MiB``."""
    return f"{limit // 2**20} MiB" if limit % 2**20 == 0 else f"{limit // 1024} KiB"


def too_large(host: str, status: int, limit: int, what: str) -> MalformedResponseError:
    return MalformedResponseError(
        f"{host} answered (HTTP {status}) with a {what} of more than {size_said(limit)}, more than any answer of the "
        "API; check that the provider's base URL points at the API, and that a local server honours max_tokens",
        status=status,
        maybe_billed=200 <= status < 300,  # an answer that began may be billed; what it cost is unknown
    )
