"""Compressed answers, read here rather than by aiohttp.

aiohttp 3.14.5's own decompression hung on a mislabelled body: an answer labelled ``Content-Encoding: deflate``
whose body came as "\\n" then "\\n" in two reads was never finished, nor timed out by ``sock_read``, nor ended by the
server closing, only by the call's deadline (300 s by default); the same bytes in one read were "not valid HTTP", a
connection error retried on its target. The transport asks aiohttp for the raw bytes (``auto_decompress=False``)
and asks servers for gzip alone (:data:`ACCEPT_ENCODING`: what every vendor sends, and one format, where deflate is
two that servers confuse). What a body says it is, it is decoded as, chunk by chunk, through :mod:`zlib`:

- a body that is not what its label says, or is cut before its compressed stream ends, is a
  :class:`~.errors.MalformedResponseError` at the chunk that shows it (a proxy's mislabelling, the same on every try);
- no chunk inflates past the body's limit (``zlib``'s ``max_length``): a small body that would inflate past it (a
  decompression bomb) is refused as a body too large, with no more than the limit held;
- an encoding not read here (``br``, ``zstd``, two stacked) is refused by name.

An answer with no Content-Encoding (the common one: uncompressed JSON) costs one header lookup.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping

from .errors import MalformedResponseError

__all__ = ["ACCEPT_ENCODING", "Decoder", "decoder"]

#: what magsag asks servers for: gzip, which every vendor's API sends, read here with a bound (see the docstring)
ACCEPT_ENCODING = "gzip"

#: the labels that mean no encoding at all
_IDENTITY = frozenset(("", "identity"))


def decoder(headers: Mapping[str, str], host: str, status: int, limit: int) -> Decoder | None:
    """What decodes a body with ``headers``, none for one not encoded. Raises MalformedResponseError for an encoding
    not read here. ``limit``: the most bytes the decoded body may hold (see :meth:`Decoder.feed`)."""
    label = headers.get("Content-Encoding")
    if label is None:
        return None
    encoding = label.strip().lower()
    if encoding in _IDENTITY:
        return None
    if encoding in ("gzip", "x-gzip", "deflate"):
        return Decoder(encoding, host, status, limit)
    if status >= 400:  # an error's body is only quoted: its status says what happened, its bytes as they came
        return None
    raise MalformedResponseError(
        f"the answer from {host} (HTTP {status}) is encoded as {label.strip()[:40]!r} (its Content-Encoding), which "
        f"magsag-mcp does not read and did not ask for (it asks for {ACCEPT_ENCODING} alone): a proxy or server that "
        "compresses whatever it is asked for, and would again; the next target is tried",
        status=status,
        maybe_billed=200 <= status < 300,
    )


class Decoder:
    """One body's decompression: :meth:`feed` each chunk as it comes, :meth:`end` when the body has ended."""

    __slots__ = ("encoding", "host", "status", "limit", "produced", "_zlib")

    def __init__(self, encoding: str, host: str, status: int, limit: int) -> None:
        self.encoding = "gzip" if encoding == "x-gzip" else encoding
        self.host = host
        self.status = status
        self.limit = limit
        #: how many decoded bytes have been given so far
        self.produced = 0
        # deflate's wrapping (zlib's header, RFC 1950, or none: raw RFC 1951, as some servers send) is told by its
        # first byte, as aiohttp tells it; made at the first chunk
        self._zlib: zlib._Decompress | None = None
        if self.encoding == "gzip":
            self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)

    def feed(self, chunk: bytes) -> bytes:
        """The decoded bytes of ``chunk``. Raises MalformedResponseError when ``chunk`` shows the body is not what its
        label says, and when the body decoded so far would hold more than ``limit`` bytes (only ``limit`` + 1 of them
        are made: the rest of the input is dropped undecoded)."""
        if not chunk:
            return b""
        inflater = self._zlib
        if inflater is None:
            wbits = zlib.MAX_WBITS if chunk[0] & 0x0F == 8 else -zlib.MAX_WBITS
            inflater = self._zlib = zlib.decompressobj(wbits)
        parts = []
        # a loop, not a call for each: one chunk may hold thousands of gzip members
        while chunk:
            if inflater.eof:
                inflater = self._next_member()
            try:
                out = inflater.decompress(chunk, self.limit - self.produced + 1)
            except zlib.error as exc:
                raise self.not_encoded(str(exc)) from None
            self.produced += len(out)
            if self.produced > self.limit:
                raise self.too_large()
            parts.append(out)
            # (not at its end, the whole chunk was taken: output short of max_length leaves no input unconsumed)
            chunk = inflater.unused_data if inflater.eof else b""
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _next_member(self) -> zlib._Decompress:
        """What reads bytes after the compressed stream ended: gzip's next member (RFC 1952 lets a body hold several,
        read as one); after deflate's one stream they are no part of it."""
        if self.encoding != "gzip":
            raise self.not_encoded("bytes after the end of its compressed stream")
        self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
        return self._zlib

    @property
    def ended(self) -> bool:
        """Whether the compressed stream has ended: the body is whole, whatever its transfer's end does."""
        return self._zlib is not None and self._zlib.eof

    def end(self) -> None:
        """The body has ended: raises MalformedResponseError when its compressed stream had not (it was cut off, or
        was no compressed stream at all). An empty body is an empty answer, not a broken one."""
        inflater = self._zlib
        if inflater is not None and not inflater.eof:
            raise self.not_encoded("its compressed stream ends before the body does")

    def not_encoded(self, why: str) -> MalformedResponseError:
        return MalformedResponseError(
            f"the answer from {self.host} is not {self.encoding}, as its Content-Encoding header says it is ({why}): "
            "a proxy or server that labels a body compressed without compressing it (or compressed it wrong), and "
            "would again; the next target is tried",
            status=self.status,
            maybe_billed=200 <= self.status < 300,
        )

    def too_large(self) -> MalformedResponseError:
        from .limits import size_said  # (limits imports this module; a refusal is rare)

        return MalformedResponseError(
            f"{self.host} answered (HTTP {self.status}) with a {self.encoding} body that inflates to more than "
            f"{size_said(self.limit)}, "
            "more than any answer of the API (a decompression bomb, or a base URL that names a download); it was not "
            "inflated further: check that the provider's base URL points at the API",
            status=self.status,
            maybe_billed=200 <= self.status < 300,
        )
