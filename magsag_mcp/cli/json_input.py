"""The JSON the CLI reads from its options and files: ``--payload``, ``--payload-file`` (stdin for ``-``),
``--context`` and ``--model-config``, each refused with what was wrong and how to write it."""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

from ..errors import InputError
from . import stdin_bytes

#: what each JSON option's value looks like, for its error message
_JSON_EXAMPLES = {"--context": '{"preferred_model": "gpt-4o"}', "--model-config": '{"model": "gpt-4o-mini"}'}
#: what JSON calls each value it reads that is not an object (Python's names, list and str, are not what was typed)
_JSON_KINDS = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "true or false"}
DEFAULT_EXAMPLE = '{"data": "..."}'
#: --payload-file's help: the encodings _payload reads (a PowerShell 5 user's `>` writes UTF-16)
PAYLOAD_FILE_HELP = (
    "read the payload from a JSON file ('-' for stdin), in UTF-8, or the UTF-16 or UTF-32 a byte order mark names"
)


def json_object(text: str, what: str) -> dict[str, Any]:
    def integer(literal: str) -> int:
        try:
            return int(literal)
        except ValueError:  # more digits than Python converts (4,300): json.loads's bare ValueError has no position
            raise InputError(
                f"{what} holds an integer of {len(literal)} digits, too long to read; write it as a string"
            ) from None

    def mapping(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(pairs)
        if len(obj) == len(pairs):
            return obj
        # JSON keeps the last: a field, or a data class, written again further down lost the first, unsaid
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                break
            seen.add(key)
        from ..text import of_length

        named = repr(key) if len(key) <= 100 else of_length(key)
        raise InputError(f"{what} holds the key {named} twice (JSON keeps only the last): write it once")

    def constant(literal: str) -> Any:  # NaN, Infinity, -Infinity: Python's json takes them, RFC 8259 does not
        raise InputError(
            f"{what} holds {literal}, which is no JSON (RFC 8259 has no NaN or Infinity); write null, or "
            "the value as a string"
        )

    def number(literal: str) -> float:
        value = float(literal)
        if not math.isfinite(value):  # 1e999: read as infinity, and the prompt said "inf"
            raise InputError(f"{what} holds the number {literal[:40]}, too large for any float; write it as a string")
        return value

    text = text.removeprefix("\ufeff")  # (no part of the JSON, as in --payload-file: `--payload "$(cat notepad.json)"`)
    try:
        value = json.loads(
            text, parse_int=integer, parse_float=number, parse_constant=constant, object_pairs_hook=mapping
        )
    except json.JSONDecodeError as exc:
        example = _JSON_EXAMPLES.get(what, DEFAULT_EXAMPLE)
        # where, as an editor counts, from 1: "at char 13" was a 0-based offset into the whole text, of no use in a
        # payload file of many lines (and one short of the column in a line of --payload)
        where = f"line {exc.lineno}, column {exc.colno}" if "\n" in text.rstrip() else f"character {exc.pos + 1}"
        raise InputError(f"{what} is not valid JSON ({exc.msg} at {where}); pass an object like '{example}'") from None
    except RecursionError:
        raise InputError(f"{what} is nested too deeply to read; pass a flatter JSON object") from None
    if not isinstance(value, dict):
        example = _JSON_EXAMPLES.get(what, DEFAULT_EXAMPLE)
        kind = _JSON_KINDS.get(type(value), "null")
        raise InputError(f"{what} must be a JSON object, got {kind}; pass an object like '{example}'")
    return value


def file_bytes(name: str) -> bytes:
    """The payload file's bytes, or stdin's for '-' (read as bytes, not through its text layer: that decoded them
    in the locale's encoding, and under Latin-1 or a Windows console's cp1252 a UTF-8 "café" became "cafÃ©")."""
    if name == "-":
        return stdin_bytes()
    with open(name, "rb") as fh:
        return fh.read()


def payload_given(args: argparse.Namespace) -> dict[str, Any]:
    if args.payload_file:
        try:
            data = file_bytes(args.payload_file)
        except OSError as exc:
            # stdin's own error (closed) says how to give it; a file's (none there, a folder) says what to give
            fix = "" if args.payload_file == "-" else "; give --payload-file a JSON file ('-' for stdin), or --payload"
            raise InputError(f"cannot read --payload-file {args.payload_file}: {exc.strerror}{fix}") from None
        # read as RFC 8259 lets a reader, as `flow gate` reads a summary: UTF-8, or the UTF-16 or UTF-32 that a
        # byte order mark names (PowerShell 5's `> payload.json`); a BOM (Notepad's, PowerShell 5's UTF-8) is no
        # part of the JSON
        encoding = json.detect_encoding(data)
        try:
            text = data.decode(encoding).removeprefix("\ufeff")
        except UnicodeDecodeError:
            named = "UTF-" + encoding.split("-")[1]  # utf-8-sig, utf-16-le, ...: UTF-8, UTF-16
            said = "" if named == "UTF-8" else f" (its first bytes say {named}, which it is not either)"
            raise InputError(
                f"--payload-file {args.payload_file} is not UTF-8 text; give it a JSON file{said}"
            ) from None
        if not text.strip():
            raise empty(f"--payload-file {args.payload_file}", EMPTY_STDIN if args.payload_file == "-" else EMPTY_FILE)
        return json_object(text, "--payload-file")
    if not args.payload.strip():
        raise empty("--payload", " (an unset shell variable?)")
    return json_object(args.payload, "--payload")


#: why a payload or a summary read from stdin, or a file, holds nothing: said instead of JSON's "Expecting value at
#: char 0", which sent one looking for a typo in JSON that was never written
EMPTY_STDIN = ": nothing came on stdin (did the command piping into it fail?)"
EMPTY_FILE = " (a file not written yet?)"


def empty(what: str, why: str) -> InputError:
    return InputError(f"{what} is empty{why}; pass an object like '{_JSON_EXAMPLES.get(what, DEFAULT_EXAMPLE)}'")
