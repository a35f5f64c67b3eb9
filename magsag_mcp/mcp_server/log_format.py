"""The server's log lines on stderr: text for a terminal (the default), or one JSON object a line for a collector.

A container's logs go to a collector (Loki, CloudWatch, Datadog, Cloud Logging) that reads one JSON object per line:
a text line's traceback spread over lines the collector took for records of their own, and its level and logger had
to be parsed back out of the text. ``--log-format json`` (or ``MAGSAG_MCP_LOG_FORMAT=json``) writes each record as
one object: ``time``, ``level``, ``logger``, ``message``, ``exception`` (the traceback) when there is one, uvicorn's
access line's ``client``, ``method``, ``path``, ``status``, and whatever fields a record was given with ``extra=``.
Both formats redact what they write alike (:func:`~magsag_mcp.errors.redact`, on every value before it is written).

What Python itself writes to stderr is made a record too (:func:`log_what_python_prints`): printed as Python prints
it, a warning or an uncaught exception's traceback was lines a collector could not parse, and unredacted.
"""

from __future__ import annotations

import codecs
import json
import logging
import math
import re
import sys
import threading
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from ..errors import redact
from ..text import escaped_controls

LOG_FORMATS = ("text", "json")
LOG_FORMAT_ENV = "MAGSAG_MCP_LOG_FORMAT"
TEXT_LINE = "%(asctime)s %(levelname)s %(name)s: %(message)s"

#: what JSON leaves as it is and should not reach a reader as it is: DEL and C1 (NEL, U+0085, a line break to some
#: readers), the line and paragraph separators (line breaks to a JavaScript reader and to Python's splitlines) and
#: the direction overrides (they reorder what a terminal shows of the line)
_UNSAFE_IN_JSON = re.compile("[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _json_escaped(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def utc_time(record: logging.LogRecord) -> str:
    """UTC with its offset, to the millisecond, as the ledger's times and every tool's are: the machine's local time,
    with no offset, put a call's log line hours off its record in the ledger (5:45 on a server in Kathmandu)."""
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


#: what ends a line to a reader of a text log: a line break, and the line and paragraph separators (Python's
#: splitlines, a JavaScript reader); the other characters splitlines breaks at are control characters, escaped anyway
_LINE_BREAKS = re.compile("[\n\u2028\u2029]")
#: the line breaks of :data:`_LINE_BREAKS` other than "\n" (which a traceback's lines end with)
_SEPARATORS = re.compile("[\u2028\u2029]")


def _line_break_escaped(match: re.Match[str]) -> str:
    return "\\n" if match.group() == "\n" else f"\\u{ord(match.group()):04x}"


#: an escape a text line's message writes (see RedactingFormatter), as :func:`read_log_message` reads it back
_MESSAGE_ESCAPE = re.compile(r"\\(?:(\\)|([nrt])|x([0-9a-fA-F]{2})|u([0-9a-fA-F]{4}))")
_NAMED_ESCAPES = {"n": "\n", "r": "\r", "t": "\t"}


def _unescaped(match: re.Match[str]) -> str:
    backslash, named, byte, code = match.groups()
    if backslash:
        return "\\"
    if named:
        return _NAMED_ESCAPES[named]
    return chr(int(byte or code, 16))


def read_log_message(text: str) -> str:
    """A text log line's message as it was logged: each escape :class:`RedactingFormatter` wrote read back (``\\\\`` a
    backslash, ``\\n`` a line break, ``\\r``, ``\\xNN`` and ``\\uNNNN`` a control character or separator); what a key
    was is not, removed before it was written. The message is what follows the line's ``LEVEL logger: ``."""
    return _MESSAGE_ESCAPE.sub(_unescaped, text) if "\\" in text else text


class RedactingFormatter(logging.Formatter):
    """Formats as usual (tracebacks included), then removes anything shaped like a key.

    A record's message is one line: a line break in it is written ``\\n``, as JSON writes it, and a backslash ``\\\\``
    (a message quoting the text ``\\n``, a Windows path's ``C:\\new``, read as a line break: one line could not be told
    from two); :func:`read_log_message` reads the escapes back. An error's message
    may span lines (a call whose targets a policy skipped names one a line, :mod:`~magsag_mcp.skipped_said`), and
    written as it was, each line after its first had none of the record's time, level and logger: ``grep`` for the
    call's run found its last line alone, and a collector reading a record a line took each for a record of its own.
    A control character is written escaped (an escape sequence would act on the operator's terminal: write its
    clipboard, clear it). What follows the message (a traceback, a stack) keeps its
    lines, each indented, so that none reads as a record of its own.
    """

    def formatMessage(self, record: logging.LogRecord) -> str:
        # redacted before it is escaped: a key JSON wrote escaped (a vendor's body quoted) is found as it was written
        line = redact(super().formatMessage(record)).replace("\\", "\\\\")
        return escaped_controls(_LINE_BREAKS.sub(_line_break_escaped, line))

    def format(self, record: logging.LogRecord) -> str:
        # (logging.Formatter.format's steps, so that what follows the message is escaped as the message is: a
        # traceback quoting a Windows path's C:\new, or an exception's "\n" text, read back as a line break)
        record.message = record.getMessage()
        if self.usesTime():
            record.asctime = self.formatTime(record, self.datefmt)
        line = self.formatMessage(record)
        if record.exc_info and not record.exc_text:
            # (cached as Python writes it, for every handler of the record: a JSON line's formatter reads it too)
            record.exc_text = self.formatException(record.exc_info)
        after = [record.exc_text] if record.exc_text else []
        if record.stack_info:
            after.append(self.formatStack(record.stack_info))
        if after:
            # each of its lines kept a line (indented, see the class), each backslash written \\ as the message's is:
            # read_log_message reads a line of it back as it was
            tail = redact("\n" + "\n".join(after)).replace("\\", "\\\\")
            # only its own line breaks ("\n") start its lines: a line or paragraph separator in an exception's text
            # is written escaped, as the message writes it (a line break of its own, an exception's text made a line
            # that read as a record, and read_log_message could not give the text back)
            tail = _SEPARATORS.sub(_line_break_escaped, escaped_controls(tail))
            line += tail.replace("\n", "\n    ")
        return line

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        return utc_time(record)


#: a LogRecord's own attributes (and what formatting adds): any other one a record has was given with ``extra=``.
#: uvicorn's ``color_message`` is its message again with a terminal's colour codes: left out
_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "color_message", "taskName"}
#: the fields of uvicorn's access line, in the order of its arguments (``'%s - "%s %s HTTP/%s" %d'``)
_ACCESS_FIELDS = ("client", "method", "path", "http_version", "status")


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (see the module's docstring). Every string in it is redacted before it
    is written, as :class:`RedactingFormatter` redacts its text: a key that JSON writes escaped (a ``"`` or ``\\`` in
    it) is removed as it was, before it is escaped. No character written can end the line or act on a terminal:
    JSON escapes the control characters below a space, and :data:`_UNSAFE_IN_JSON` the others."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": utc_time(record),
            "level": record.levelname,
            "logger": redact(record.name),
            "message": redact(record.getMessage()),
        }
        # the record's own exc_text is the unredacted traceback a text formatter caches: formatted here, not kept
        exception = record.exc_text or (self.formatException(record.exc_info) if record.exc_info else "")
        if exception:
            entry["exception"] = redact(exception)
        if record.stack_info:
            entry["stack"] = redact(self.formatStack(record.stack_info))
        if record.name == "uvicorn.access" and isinstance(record.args, tuple) and len(record.args) == 5:
            entry.update(zip(_ACCESS_FIELDS, map(_json_value, record.args), strict=True))
        for name, value in vars(record).items():
            if name not in _RECORD_ATTRIBUTES and name not in entry:
                entry[redact(name)] = _json_value(value)
        line = json.dumps(entry, ensure_ascii=False, default=str)
        return _UNSAFE_IN_JSON.sub(_json_escaped, line)


def _json_value(value: Any) -> Any:
    """``value`` as JSON writes it, every string in it redacted (a dict's keys too); an object that is no JSON value
    as its ``str()``, redacted; a float that JSON has no number for (NaN, infinity) as its text."""
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return {redact(str(k)): _json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_json_value(v) for v in value]
    return redact(str(value))


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A :class:`logging.StreamHandler` whose report of a record it could not format (its arguments do not fit its
    message, an argument's ``str()`` raised) is a record of its own, formatted and redacted as every other. logging's
    own :meth:`~logging.Handler.handleError` printed "--- Logging error ---", a traceback, and the record's message
    and arguments as they were: a key among them unredacted, over lines a JSON collector took for records."""

    def handleError(self, record: logging.LogRecord) -> None:
        if not logging.raiseExceptions:  # (logging's switch for its reports: off, it says nothing)
            return
        kind, error, _ = sys.exc_info()
        note = logging.LogRecord(
            record.name,
            logging.ERROR,
            record.pathname,
            record.lineno,
            "a log record could not be formatted (%s: %s); its message: %s",
            (kind.__name__ if kind is not None else "error", error, record.msg),
            None,
        )
        try:
            self.stream.write(self.format(note) + self.terminator)
            self.flush()
        except Exception:  # (the note failed too: nothing is written rather than the record as it was)
            pass


def configure_logging(level: str, log_format: str = "text") -> None:
    """Every record (magsag's, the SDK's, uvicorn's) to stderr in ``log_format``, from ``level`` up, in UTF-8."""
    _stderr_in_utf8()
    handler = StderrHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else RedactingFormatter(TEXT_LINE))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    log_what_python_prints()


def _stderr_in_utf8() -> None:
    """stderr written in UTF-8, whatever the locale's encoding. An MCP client (Claude Desktop, an Electron app) reads
    the server's stderr as UTF-8 into its log, and a collector reads JSON lines as UTF-8 (RFC 8259 asks it); Python
    writes stderr in the locale's encoding: on Windows, where it is a pipe, the ANSI code page (cp1252), whose bytes
    for an agent's or a model's name past ASCII (``café``) are no UTF-8, and under an ASCII locale (``LANG=C`` with
    Python's UTF-8 mode off) its escape ``caf\\xe9``, which in a JSON line is no JSON (``\\x`` is no JSON escape): the
    collector dropped the record. A console's stderr is UTF-8 already (Windows' console writes Unicode)."""
    stream = sys.stderr
    reconfigure = getattr(stream, "reconfigure", None)
    encoding = getattr(stream, "encoding", None) or "utf-8"
    try:
        utf8 = codecs.lookup(encoding).name == "utf-8"
    except LookupError:  # (a stream in memory that names none Python knows: left as it is)
        return
    if reconfigure is not None and not utf8:
        reconfigure(encoding="utf-8")


def log_what_python_prints() -> None:
    """What Python writes to stderr on its own, logged through the handler above instead, formatted and redacted:
    a warning (to the ``py.warnings`` logger at WARNING, by :func:`logging.captureWarnings`), an exception no code
    caught, in the main thread (CRITICAL; the process still exits with 1, as Python makes it after the hook) or in
    another (ERROR), and one Python could only ignore ("Exception ignored in", a ``__del__``'s; ERROR). Printed as
    Python prints them, each was lines a JSON collector could not parse, with a registered key in its text as it was.
    Process-wide hooks: the server's, which owns its process; the library (:class:`~magsag_mcp.api.Magsag`) sets none.
    """
    logging.captureWarnings(True)
    logging.getLogger("py.warnings").addFilter(_without_last_break)
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_uncaught_in_thread
    sys.unraisablehook = _log_unraisable


#: the logger of what Python reports: the server's own
_REPORTS = "magsag_mcp.mcp"


def _without_last_break(record: logging.LogRecord) -> bool:
    """A warning's text as :func:`warnings.formatwarning` makes it (the record's message, with no arguments) ends in a
    line break: in text, a line of spaces after the record."""
    if not record.args and isinstance(record.msg, str):
        record.msg = record.msg.rstrip("\n")
    return True


def _log_uncaught(kind: type[BaseException], error: BaseException, traceback: TracebackType | None) -> None:
    logging.getLogger(_REPORTS).critical("uncaught exception: the server stops", exc_info=(kind, error, traceback))


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:  # a thread's sys.exit() ends only it, quietly, as Python's own hook leaves it
        return
    name = args.thread.name if args.thread is not None else "?"
    # (the exception's own __traceback__ is the hook's traceback)
    logging.getLogger(_REPORTS).error("uncaught exception in thread %s", name, exc_info=args.exc_value)


def _log_unraisable(unraisable: sys.UnraisableHookArgs) -> None:
    try:
        what = repr(unraisable.object) if unraisable.object is not None else ""
    except Exception:  # an object half torn down may fail its repr: the error is what matters
        what = f"<{type(unraisable.object).__name__} object>"
    said = unraisable.err_msg or "Exception ignored in"
    log = logging.getLogger(_REPORTS)
    log.error("%s: %s" if what else "%s", said, *([what] if what else []), exc_info=unraisable.exc_value)
