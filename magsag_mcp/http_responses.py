"""What a server answered, as the transport hands it over: a whole body (:class:`HttpResponse`, read as JSON with
the vendor's words kept when it is not), or an open event stream (:class:`StreamResponse`, told from a body that is
not one, read event by event within the stream's limits). :mod:`.transport` makes them; the providers read them.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp

from .content_encodings import Decoder, decoder
from .errors import MalformedResponseError, ProviderConnectionError, ProviderError, ProviderTimeoutError, excerpt
from .limits import MAX_BODY_BYTES, MAX_STREAM_BYTES, read_body, too_large
from .sse import SSEEvent, SSEParser
from .transport_failures import broke_off, converted_from, mislabelled, wrongly_encoded
from .transport_failures import host as _host

if TYPE_CHECKING:
    from .transport import Timeouts

#: how an error of a stream cut off once it had begun starts (a provider adds what it means for its servers)
STREAM_BROKE = "the stream broke mid-answer"

#: json.loads' own settings (all its defaults), called without its check of every keyword for one that is not
_JSON_DECODER = json.JSONDecoder()
#: the decoder's own scanner, called at the object's first character: ``JSONDecoder.decode`` runs it between two
#: regular-expression matches of the whitespace around the value, in Python, some 5,000 instructions a body
_JSON_SCAN: Callable[[str, int], tuple[Any, int]] = _JSON_DECODER.scan_once  # type: ignore[attr-defined]  # (typeshed lacks it)
_JSON_SPACE = " \t\n\r"  # (what JSON calls whitespace: not every character str.isspace() takes)


@dataclass(slots=True)
class HttpResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        body = self.body
        try:
            # A body beginning with "{" is UTF-8 to json.loads, which sniffs every body's encoding (a BOM, UTF-16's and
            # UTF-32's zero bytes) in Python before it decodes it so: decoded as it would be, without the sniffing
            if body[:1] == b"{" and body[1:2] != b"\0":
                text = body.decode("utf-8", "surrogatepass")  # (no BOM: it begins with "{")
                try:
                    value, end = _JSON_SCAN(text, 0)  # (an object that breaks off raises as decode() would)
                except StopIteration:  # a value missing inside it: refused by decode(), "Expecting value", as before
                    return _JSON_DECODER.decode(text)
                if end == len(text) or not text[end:].strip(_JSON_SPACE):
                    return value
                return _JSON_DECODER.decode(text)  # more after the object: refused as decode() refuses it
            return json.loads(body)
        except (ValueError, RecursionError) as exc:  # (nested past the interpreter's depth: no answer either)
            snippet = excerpt(self.body, 200)
            content_type = next((v for k, v in self.headers.items() if k.lower() == "content-type"), None)
            raise MalformedResponseError(
                f"expected a JSON body (HTTP {self.status}), got: {snippet!r}{page_hint(content_type)}",
                status=self.status,
            ) from exc

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def page_hint(content_type: str | None) -> str:
    """Where an HTML page that came instead of the API's answer comes from, for the error's message."""
    if content_type and content_type.split(";")[0].strip().lower() in ("text/html", "application/xhtml+xml"):
        return (
            "; an HTML page is no answer of the API: a captive portal or a proxy's sign-in page, a gateway's "
            "error page, or a base URL that names a website rather than the API (check its path, e.g. /v1)"
        )
    return ""


class StreamResponse:
    """An open SSE response. Iterate :meth:`events`; a non-2xx status has its body read eagerly."""

    def __init__(
        self,
        resp: aiohttp.ClientResponse,
        error_body: bytes | None,
        timeouts: Timeouts,
        *,
        url: str = "",
        max_body: int = MAX_BODY_BYTES,
        max_stream: int = MAX_STREAM_BYTES,
    ) -> None:
        self._resp = resp
        self._url = url
        self._max_body = max_body
        self._max_stream = max_stream
        self.status = resp.status
        self.headers: Mapping[str, str] = resp.headers
        self.error_body = error_body
        self.timeouts = timeouts
        #: the first bytes of the body, read to tell what it is (:meth:`is_event_stream`)
        self._head = b""
        #: what decodes the body as its Content-Encoding says, once a read began (True: none began yet)
        self._decoding: Decoder | None | bool = True

    def _decoder(self, limit: int) -> Decoder | None:
        if self._decoding is True:
            self._decoding = decoder(self.headers, _host(self._url), self.status, limit)
        return self._decoding or None

    @property
    def media_type(self) -> str | None:
        """The body's media type (``text/event-stream``, ``application/json``), or None when the server
        sent no Content-Type (aiohttp would say application/octet-stream)."""
        return self._resp.content_type if "Content-Type" in self.headers else None

    def as_http_response(self) -> HttpResponse:
        return HttpResponse(self.status, self.headers, self.error_body or b"")

    async def read(self) -> HttpResponse:
        """The whole body, for a server that answered with something other than an event stream."""
        try:
            return HttpResponse(
                self.status,
                self.headers,
                await read_body(self._resp, _host(self._url), self._max_body, self._decoder(self._max_body)),
            )
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            failure: ProviderError = converted_from(
                ProviderTimeoutError(
                    f"the answer went idle past {self.timeouts.read_described()}", timeout_s=self.timeouts.read
                ),
                exc,
            )
        except aiohttp.ClientError as exc:
            failure = converted_from(
                mislabelled(exc, self._url) or ProviderConnectionError(f"the answer broke off: {type(exc).__name__}"),
                exc,
            )
        # raised outside the handler, aiohttp's failure not its cause nor its context: see converted_from
        raise failure

    async def is_event_stream(self) -> bool:
        """Whether the body is an event stream: labelled so (or not labelled at all); or, labelled as anything but
        JSON, beginning as one does (a field, ``data:``, ``event:``, ``id:``, ``retry:``, or a comment), as the
        streams of servers that frame them right and label them wrong do (``text/plain``, ``application/x-ndjson``).
        The bytes read to tell are the first :meth:`events` gives."""
        media_type = self.media_type
        if media_type is None or media_type == "text/event-stream":
            return True
        if media_type == "application/json" or media_type.endswith("+json"):
            return False
        head = bytearray()
        text = ""
        decoding = self._decoder(self._max_stream)
        failure = None
        try:
            while len(head) < _SNIFF_BYTES and ":" not in text and len(text) < 6:
                chunk = await self._resp.content.readany()
                if not chunk:
                    break
                head += decoding.feed(chunk) if decoding else chunk
                text = head.decode("utf-8", "replace").lstrip("\ufeff \t\r\n")
        except (TimeoutError, aiohttp.ServerTimeoutError, aiohttp.ClientError) as exc:
            failure = self._broken(exc)
        if failure is not None:
            raise failure  # (outside the handler: see read)
        self._head = bytes(head)
        return _EVENT_STREAM_START.match(text) is not None

    def _broken(self, exc: BaseException) -> ProviderError:
        """A stream's read failure as the error it stands for, with what aiohttp said as its cause (converted_from)."""
        return converted_from(self._stands_for(exc), exc)

    def _stands_for(self, exc: BaseException) -> ProviderError:
        wrong = mislabelled(exc, self._url) if wrongly_encoded(exc) else None  # (a bare one, in tests, has no URL)
        if wrong is not None:
            return wrong
        if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError):
            # Whether a cut stream may be billed is decided where a 2xx stream is read (HTTPProvider._stream).
            return ProviderTimeoutError(
                f"the stream went idle past {self.timeouts.read_described()}", timeout_s=self.timeouts.read
            )
        if isinstance(exc, aiohttp.ClientPayloadError):
            # aiohttp's text, "<TransferEncodingError: 400, message=...>", gives its parser's status: read as the
            # vendor's, a 400 is a request refused, which costs nothing, where this answer may be billed (said as a
            # whole body cut off says it, a URL in it cut to its host)
            return ProviderConnectionError(f"{STREAM_BROKE}: {broke_off(exc)}")
        return ProviderConnectionError(f"{STREAM_BROKE}: {type(exc).__name__}")

    async def events(self) -> AsyncIterator[SSEEvent]:
        """Parse ``text/event-stream`` per the WHATWG spec (see :class:`SSEParser`)."""
        parser = SSEParser()
        received = len(self._head)
        decoding = self._decoder(self._max_stream)
        failure = None
        try:
            for event in parser.feed(self._head):
                yield event
            # Raw chunks, not readline(): aiohttp caps a line at 512 KiB, and one Responses event carries the
            # whole answer (and the echoed instructions), so a long answer is a long line.
            async for chunk in self._resp.content.iter_any():
                if decoding:
                    chunk = decoding.feed(chunk)
                received += len(chunk)
                if received > self._max_stream:
                    raise too_large(_host(self._url), self.status, self._max_stream, "stream")
                for event in parser.feed(chunk):
                    yield event
            if decoding:
                decoding.end()
            for event in parser.close():
                yield event
        except (TimeoutError, aiohttp.ServerTimeoutError, aiohttp.ClientError) as exc:
            failure = self._broken(exc)
        if failure is not None:
            raise failure  # (outside the handler: see read)


#: the most of a body not labelled as an event stream read to tell whether it is one all the same
_SNIFF_BYTES = 1024
#: how an event stream begins: a field, or a comment (after any blank lines)
_EVENT_STREAM_START = re.compile(r"(?:data|event|id|retry)?:")
