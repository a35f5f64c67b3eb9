"""Server-sent events: the ``text/event-stream`` parser every streaming provider reads through."""

from __future__ import annotations

import codecs
import json
import re
from dataclasses import dataclass
from typing import Any

from .errors import MalformedResponseError, excerpt

__all__ = ["SSEEvent", "SSEParser"]


@dataclass(slots=True)
class SSEEvent:
    event: str | None
    data: str

    def json(self) -> Any:
        try:
            return json.loads(self.data)
        except (ValueError, RecursionError) as exc:  # (nested past the interpreter's depth: no event either)
            raise MalformedResponseError(f"stream event is not JSON: {excerpt(self.data, 200)!r}") from exc

    def json_object(self) -> dict[str, Any]:
        """The event's data as the JSON object every vendor's event is; anything else is a malformed answer."""
        data = self.json()
        if not isinstance(data, dict):
            raise MalformedResponseError(f"stream event is not a JSON object: {excerpt(self.data, 200)!r}")
        return data


class SSEParser:
    """Incremental ``text/event-stream`` parser (WHATWG HTML, "Server-sent events", parsing an event stream).

    UTF-8 with replacement of invalid bytes, a leading BOM dropped, lines ended by CRLF, LF or CR (also when
    the break straddles two chunks), ``:`` comments ignored, ``data`` lines joined with ``\n``, an event
    dispatched at a blank line only when it has data. At the end of the stream an unterminated last line is
    dropped (it was cut off); data from complete lines is still dispatched, for servers that omit the final
    blank line after ``data: [DONE]``. One field beyond the standard is read: ``error``, with which llama.cpp's
    server (builds through 2025) says a streamed request failed (``error: {...}``, then ``data: [DONE]``); ignored,
    as the standard has it, the server's failure and its message were lost. Its value is the data of an event
    named ``error``. So is a JSON object with an ``error`` written raw among the events, on lines of no field
    (Gemini and Vertex AI abort a stream so, pretty-printed, often without a last line break).
    """

    #: the most raw text kept while waiting for it to become a whole JSON object
    MAX_RAW_CHARS = 64 * 1024

    #: a line longer than this is not an event stream any vendor sends
    MAX_LINE_CHARS = 64 * 1024 * 1024

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        #: the current line's text so far, in pieces (joined once, when it ends: long lines stay linear)
        self._partial: list[str] = []
        self._partial_len = 0
        #: the last chunk ended in CR: a LF starting the next one is the same line break
        self._skip_lf = False
        self._started = False
        self._event: str | None = None
        self._data: list[str] = []
        #: lines of no field since one that began a JSON object (see _raw_error), and their length
        self._raw: list[str] = []
        self._raw_len = 0
        #: how deep in its brackets the object they begin is, at their end; -1 once it cannot be read (see _closes)
        self._depth = 0

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        return self._dispatch(self._split(self._decoder.decode(chunk)))

    def close(self) -> list[SSEEvent]:
        events = self._dispatch(self._split(self._decoder.decode(b"", final=True)))
        if self._raw and self._partial:  # a raw error's last line, which servers end the body with, unbroken
            events.extend(self._dispatch(["".join(self._partial)]))
        self._partial, self._partial_len = [], 0  # cut off mid-line: dropped
        if self._data:
            events.append(SSEEvent(self._event, "\n".join(self._data)))
        self._event, self._data = None, []
        return events

    def _split(self, text: str) -> list[str]:
        """The lines that ``text`` completes; the unfinished rest is kept for the next chunk."""
        if not text:
            return []
        if not self._started:
            self._started = True
            text = text.removeprefix("\ufeff")
        if self._skip_lf and text.startswith("\n"):
            text = text[1:]
        self._skip_lf = text.endswith("\r")
        parts = _LINE_BREAK.split(text)
        rest = parts.pop()
        if parts:
            parts[0] = "".join(self._partial) + parts[0]
            self._partial, self._partial_len = [], 0
        if rest:
            self._partial.append(rest)
            self._partial_len += len(rest)
            if self._partial_len > self.MAX_LINE_CHARS:
                raise MalformedResponseError(f"an event-stream line exceeds {self.MAX_LINE_CHARS} characters")
        return parts

    def _dispatch(self, lines: list[str]) -> list[SSEEvent]:
        events: list[SSEEvent] = []
        for line in lines:
            if not line:
                if self._data:
                    events.append(SSEEvent(self._event, "\n".join(self._data)))
                self._event, self._data = None, []
                if self._raw:  # a raw JSON object has no blank line in it: what was begun was none
                    self._raw, self._raw_len = [], 0
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            if value.startswith(" "):
                value = value[1:]
            if name == "data":
                self._data.append(value)
            elif name == "event":
                self._event = value
            elif name == "error":
                self._event = "error"
                self._data.append(value)
            elif name not in ("id", "retry") and (raw := self._raw_error(line)) is not None:
                events.append(raw)
        return events

    def _raw_error(self, line: str) -> SSEEvent | None:
        """A line of no field of the event stream, which the standard ignores: a JSON object's, when it starts one
        (or goes on with the one begun), and the object's text as an ``error`` event once it is whole and has an
        error in it."""
        if not self._raw:
            if not line.lstrip().startswith("{"):
                return None
            self._depth = 0
        self._raw.append(line)
        self._raw_len += len(line)
        # Read only on the line the object may be whole on (or past the most kept): read again with each line, the
        # text joined and parsed whole every time, a "{" and 130 KB of short lines after it took 20 s of the event loop
        if self._raw_len <= self.MAX_RAW_CHARS and not self._closes(line):
            return None
        text = "\n".join(self._raw)
        try:
            value = json.loads(text)
        except (ValueError, RecursionError):  # not (yet) a whole object, or none past the interpreter's depth
            if self._raw_len > self.MAX_RAW_CHARS:
                self._raw, self._raw_len = [], 0
            return None
        self._raw, self._raw_len = [], 0
        return SSEEvent("error", text) if isinstance(value, dict) and "error" in value else None

    def _closes(self, line: str) -> bool:
        """Whether the object the raw lines begin closes on ``line`` with nothing after it: the one line on which their
        text may be a JSON object, each line's brackets counted once (those in its strings aside). None may be after
        its close, nor after a string the line leaves open (JSON's strings hold no line break)."""
        depth = self._depth
        if depth < 0:
            return False
        for token in _STRUCTURE.finditer(line):
            mark = token.group()
            if len(mark) > 1:  # a whole string
                continue
            if mark == '"':  # a string this line does not end
                break
            if mark in "{[":
                depth += 1
                continue
            depth -= 1
            if depth <= 0:
                self._depth = -1  # read once, whatever it is: lines after it only add to it
                return depth == 0 and not line[token.end() :].strip(" \t")
        else:
            self._depth = depth
            return False
        self._depth = -1
        return False


_LINE_BREAK = re.compile(r"\r\n|\r|\n")
#: what a raw JSON object's depth is read from, in a line (see SSEParser._closes): a string, whole; a bracket; or a
#: quote that begins a string the line does not end
_STRUCTURE = re.compile(r'"(?:[^"\\]|\\.)*+"|[{}\[\]"]')
