"""The ``magsag`` command line. Each module in :data:`COMMAND_MODULES` registers its subcommands.

Handlers parse arguments, call one :class:`~magsag_mcp.service.Service` method and format the
answer; they hold no logic of their own. Exit codes: 0 success, 1 the operation failed (a call
failed, a gate did not pass), 2 bad input (arguments, catalog, environment). How arguments are read (the parsers,
the common options, option types that refuse a bad value, hints added to argparse's errors) is :mod:`.parsing`'s;
this module assembles the commands, runs one, and writes its output and its errors.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import importlib
import itertools
import json
import os
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from .. import signals
from ..errors import ConfigError, InputError, LedgerError, MagsagError
from ..option_names import command_line
from ..redaction import excerpt, register_env_secrets
from ..signals import exit_status, sigterm_as_interrupt, writing_output

# re-exported: the command modules (and the MCP server's parser) import them from here
from .parsing import CommandGroups as CommandGroups
from .parsing import RedactingParser as RedactingParser
from .parsing import _Parser
from .parsing import as_sentence as as_sentence
from .parsing import count as count
from .parsing import given as given
from .stdout_errors import OUTPUT_FULL, cannot_write, reader_left

COMMAND_MODULES = ("core", "data", "prunes", "daily", "backups", "answers", "azure", "governance", "demo")

#: what `magsag --help` says of the exit status (see :func:`exit_code`)
EXIT_CODES = (
    "Exit status: 0 success; 1 the operation failed (a call failed or was refused by policy or budget, "
    "`flow gate` found a violation, `budget` a limit exceeded or (--skill) a call that does not fit, `doctor` or "
    "`catalog validate` found a problem, a catalog that cannot be loaded "
    "or a setting refused included); 2 bad input (an argument, the catalog another command needs, the environment, "
    "the ledger file); 130 interrupted (Ctrl-C), 143 stopped by SIGTERM, 129 the terminal closed (SIGHUP)."
)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="magsag", description="Route LLM calls across providers, with a ledger.", epilog=EXIT_CODES)
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    top = parser.add_subparsers(dest="command", metavar="COMMAND")
    groups = CommandGroups(top)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f".{name}", __name__)
        except ModuleNotFoundError as exc:
            if exc.name == f"{__name__}.{name}":
                continue  # an optional command module that is not installed
            raise
        module.register(groups)
    return parser


def print_json(data: Any, *, stream: Any = None) -> None:
    """``data`` as indented JSON, written as it is encoded (see :func:`write_pieces`)."""
    encoder = json.JSONEncoder(indent=2, ensure_ascii=False, default=str)
    write_pieces(itertools.chain(encoder.iterencode(data), ("\n",)), stream=stream)


#: how much encoded text is gathered before it is written
WRITE_CHUNK_CHARS = 1 << 16


def write_pieces(pieces: Iterable[str], *, stream: Any = None) -> None:
    """Text made piece by piece (an export of 10,000 runs), written in chunks of about
    :data:`WRITE_CHUNK_CHARS` as it is made. Built whole first, an export was held three times beside
    its runs: ``json.dumps`` with an indent keeps every small piece in a list before joining them
    (30 MB of JSON took 280 MB), then the string, then its UTF-8 bytes."""
    batch: list[str] = []
    size = 0
    for piece in pieces:
        batch.append(piece)
        size += len(piece)
        if size >= WRITE_CHUNK_CHARS:
            write_utf8("".join(batch), stream=stream)
            batch, size = [], 0
    if batch:
        write_utf8("".join(batch), stream=stream)


def write_utf8(text: str, *, stream: Any = None) -> None:
    """Machine-readable output (JSON, CSV) as UTF-8, exactly as given. Written through stdout's text layer,
    it took the locale's encoding (cp1252 on Windows when redirected to a file, ASCII under some CI
    locales), which cannot encode most names and error text (a traceback: the export lost), and Windows'
    newline translation, which made a CSV field's "\r\n" "\r\r\n". A stream without a byte layer (a
    StringIO) is written as text."""
    stream = stream or sys.stdout
    if stream is None:  # started with stdout closed (`>&-`): nothing to write to, as print() does
        return
    buffer = getattr(stream, "buffer", None)
    if buffer is None:
        stream.write(text)
        return
    # a write blocked on a full pipe (its reader stopped) is ended by SIGTERM (see writing_output): stdout's, or a
    # named pipe's that --output names (written in place)
    fd = _output_fd(stream)
    with contextlib.nullcontext() if fd is None else writing_output(fd):
        stream.flush()  # what was written as text goes first
        buffer.write(text.encode("utf-8", "backslashreplace"))
        buffer.flush()


def _output_fd(stream: Any) -> int | None:
    """The file descriptor of ``stream``, the process's stdout or a file ``--output`` names (writing_output acts only
    on a pipe's or a socket's: a regular file's write ends by itself); not stderr's, where an error is said after a
    signal too."""
    if stream is sys.stderr:
        return None
    try:
        return int(stream.fileno())
    except (OSError, ValueError, AttributeError):  # a stream in memory (a test's capture): no descriptor
        return None


def print_error(exc: MagsagError) -> None:
    """``exc`` as JSON on stderr, every string redacted as MCP's tool error redacts it (``error_result``): its message
    was redacted as it was made, but the paid answer an error may carry (``result``) is the vendor's, as it came. At a
    terminal, a summary of what failed and its fix in its place (:mod:`.error_summary`)."""
    from ..redaction import redact_values
    from .error_summary import stderr_is_terminal, summary

    # (with the call's own credentials: the paid answer is shown after its call forgot them)
    error = redact_values(exc.to_dict(), getattr(exc.result, "call_keys", ()))
    if not stderr_is_terminal():  # a file, a pipe, a script's capture: the JSON, as it always was
        print_json({"error": error}, stream=sys.stderr)
        return
    # a person: what failed and its fix, not ~130 lines of trace ahead of them; a paid answer the error carries
    # is shown whole below (calling again to see it pays again)
    print("\n".join(summary(error)), file=sys.stderr)
    if "result" in error:
        print_json({"error": error}, stream=sys.stderr)


def exit_code(exc: MagsagError) -> int:
    return 2 if isinstance(exc, ConfigError | InputError | LedgerError) else 1


def main(argv: Sequence[str] | None = None) -> int:
    with command_line():  # (its errors name its flags, --catalog and --db, where Python's name catalog= and db=)
        return _main(argv)


def _main(argv: Sequence[str] | None) -> int:
    _stderr_or_nowhere()
    try:
        return _run(argv)
    except KeyboardInterrupt:
        # Ctrl-C while the command modules were still being imported (building the parser takes a few hundred
        # milliseconds on a loaded machine), or in a handler below: a KeyboardInterrupt traceback, where the same
        # Ctrl-C a moment later exits 130 quietly
        return exit_status()


def _run(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.version and not getattr(args, "func", None):
        # a failure (exit 2), said on stderr as argparse says a group's missing command (`magsag data`): on stdout,
        # the help went into what a script reads, and stderr said nothing of why it failed
        parser.print_help(sys.stderr)
        print("magsag: error: give a command (`magsag COMMAND --help` says what it does)", file=sys.stderr)
        return 2
    sigterm_as_interrupt()
    _escape_what_stdout_cannot_encode()
    # what a command prints back (a filter's note quoting --run-id) is redacted knowing the keys, whether or not
    # the command opens a service (which would make them known): reading commands open the ledger alone
    register_env_secrets(os.environ)
    if not args.version:
        from .misspelt import warn_of_unread_variables

        warn_of_unread_variables(args)
    try:
        if args.version:
            from .. import __version__

            print(__version__)
            code = 0
        else:
            code = int(args.func(args) or 0)
        if signals.output_given_up:  # a signal ended a write (the rest went nowhere) after the command's last await
            return exit_status()
        if sys.stdout is not None:  # None: started with stdout closed (`>&-`), where print writes nothing
            sys.stdout.flush()  # what is still buffered: a full disk shows here, not as an error at exit
        return code
    except MagsagError as exc:
        print_error(exc)
        return exit_code(exc)
    except KeyboardInterrupt:
        return exit_status()
    except BrokenPipeError:  # `magsag data search ... | head`: the reader left; not an error
        return reader_left()
    except BaseExceptionGroup as group:  # a task group's (the demo's MCP client): the same, wrapped
        _, rest = group.split(BrokenPipeError)
        if rest is not None:
            raise
        return reader_left()
    except OSError as exc:
        too_long = path_too_long(exc)
        if too_long is not None:  # --db, --catalog, --output (or MAGSAG_DB, MAGSAG_CATALOG), wherever it was looked at
            print_error(too_long)
            return exit_code(too_long)
        # the ledger's and the input files' failures are MagsagErrors: one of these is stdout's (`> audit.csv`)
        if exc.errno not in OUTPUT_FULL:
            raise
        print(f"magsag: {cannot_write(exc)}", file=sys.stderr)
        reader_left()
        return 1


def path_too_long(exc: OSError) -> InputError | None:
    """The error for a path with a name longer than the file system takes (255 bytes: a value pasted where a path
    goes), which the first look at it raised wherever it is (finding the ledger, the catalog, checking --output):
    an OSError traceback, exit 1. None for any other OSError."""
    if exc.errno != errno.ENAMETOOLONG:
        return None
    path = os.fsdecode(exc.filename) if exc.filename is not None else ""
    # redacted before the cut: cut first, a known key straddling it kept up to 11 characters, too few to be known
    start = f"{excerpt(path, 40)}..." if len(path) > 40 else path
    return InputError(
        f"the path {start!r} ({len(path)} characters) holds a name too long for the file system; check the "
        "--db, --catalog or --output given (or MAGSAG_DB, MAGSAG_CATALOG)"
    )


def _stderr_or_nowhere() -> None:
    """Started with stderr closed (``2>&-``), Python's ``sys.stderr`` is None, and ``print(..., file=sys.stderr)``
    writes to stdout when its file is None: the notes and JSON errors went into the output (a note as the first
    line of ``data query --format csv 2>&- > audit.csv``). They go nowhere instead, as the caller asked."""
    if sys.stderr is None:
        import os

        sys.stderr = open(os.devnull, "w", encoding="utf-8")  # kept for the process's life


def stdin_bytes() -> bytes:
    """stdin's bytes, for a '-' that names it (``--payload-file -``, ``flow gate -``). Started with stdin closed
    (``<&-``), ``sys.stdin`` is None: an OSError as a file that cannot be read raises, not an AttributeError
    traceback (which ``flow gate`` left with exit 1, its "fail")."""
    if sys.stdin is None:
        raise OSError(errno.EBADF, "stdin is closed; pipe the input in, or give a file")
    buffer = getattr(sys.stdin, "buffer", None)
    return sys.stdin.read().encode("utf-8") if buffer is None else buffer.read()


def _escape_what_stdout_cannot_encode() -> None:
    """Text for a person (the table, ``budget``, ``doctor``, ``catalog validate``, the gate's lines) goes
    through stdout's text layer in the locale's encoding; a character it cannot encode (a name under an
    ASCII ``LANG=C`` or a cp1252 console) is written as its escape (``caf\\xe9``), as stderr does, instead
    of a UnicodeEncodeError traceback that lost the rest of the output. JSON and CSV are UTF-8 regardless
    (:func:`write_utf8`)."""
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None and (sys.stdout.errors or "strict") == "strict":
        reconfigure(errors="backslashreplace")


def run_main() -> None:  # pragma: no cover - console-script shim
    sys.exit(main())
