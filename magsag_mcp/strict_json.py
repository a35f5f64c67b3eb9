"""JSON as RFC 8259 defines it, for what a model wrote: no ``NaN``, ``Infinity`` or ``-Infinity``.

Python's ``json.loads`` takes those three words (and a number too large for a float, ``1e999``, as
infinity). A model's JSON answer holding one passed as valid: under a schema requiring a number it
passed that too (NaN is a float, and no ``minimum`` refuses it), and it reached an MCP client as
``null``, or a Python caller as a float no comparison holds for. Strict JSON has no such values, so
such an answer is invalid JSON, as any other malformed one is (the cascade moves on). So is an integer
of more digits than Python converts (4,300): ``json.loads`` raised a bare ValueError for it, with no
position, which the callers' error messages could not describe; and so is one nested deeper than
:data:`~magsag_mcp.text.MAX_DEPTH` (200) levels: past the interpreter's depth it was a RecursionError
(reported as an unexpected error with a traceback), and past 254 levels a paid answer could not be sent
to an MCP client (the SDK serializes with pydantic, which stops there); and one
with half of a UTF-16 surrogate pair in a string (``"\\ud83d"``, an emoji cut in two: RFC 8259 leaves
its meaning unpredictable, and it cannot be written as UTF-8, so an MCP client was sent no answer).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from .text import MAX_DEPTH, has_surrogate

__all__ = ["loads"]


class _Refused(Exception):
    def __init__(self, literal: str, why: str) -> None:
        self.literal, self.why = literal, why


def _constant(literal: str) -> Any:
    raise _Refused(literal, f"{literal} is not JSON (RFC 8259 has no NaN or Infinity)")


def _float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise _Refused(literal, f"{literal} is a number too large for JSON")
    return value


def _int(literal: str) -> int:
    try:
        return int(literal)
    except ValueError:  # more digits than sys.get_int_max_str_digits()
        raise _Refused(literal, f"an integer of {len(literal)} digits is too long to read") from None


def loads(text: str) -> Any:
    """``json.loads(text)``, raising :class:`json.JSONDecodeError` (with its ``msg`` and ``pos``) for what
    the module's docstring lists."""
    try:
        value = json.loads(text, parse_constant=_constant, parse_float=_float, parse_int=_int)
    except _Refused as exc:
        raise json.JSONDecodeError(exc.why, text, _outside_strings(text, exc.literal)) from None
    except RecursionError:  # "[[[[..." past the interpreter's depth: a looping model's answer, unreadable
        raise json.JSONDecodeError(_TOO_DEEP, text, 0) from None
    # as many brackets as levels, at least: most answers have too few to be walked
    if text.count("[") + text.count("{") > MAX_DEPTH and _deeper_than(value, MAX_DEPTH):
        raise json.JSONDecodeError(_TOO_DEEP, text, 0)
    if ("\\u" in text or not text.isascii()) and has_surrogate(value):
        raise json.JSONDecodeError(
            "a string holds half of a UTF-16 surrogate pair, which is no Unicode text", text, _half_pair(text)
        )
    return value


_TOO_DEEP = f"nested deeper than {MAX_DEPTH} levels (a model repeating itself?)"


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether ``value`` nests more than ``limit`` arrays and objects in one another."""
    stack = [(value, 1)] if isinstance(value, list | dict) else []
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        for item in node.values() if isinstance(node, dict) else node:
            if isinstance(item, list | dict):
                stack.append((item, depth + 1))
    return False


#: a \\u escape of a surrogate: a high one (D800-DBFF) with the low one that completes it, or one alone
_ESCAPED_SURROGATE = re.compile(
    r"\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}|\\u[dD][89a-fA-F][0-9a-fA-F]{2}"
)


def _half_pair(doc: str) -> int:
    """Where the first unpaired surrogate is in ``doc``, escaped or not (0 if it cannot be told)."""
    for m in _ESCAPED_SURROGATE.finditer(doc):
        if len(m.group()) == 6:
            return m.start()
    raw = re.search("[\ud800-\udfff]", doc)
    return raw.start() if raw else 0


def _outside_strings(doc: str, literal: str) -> int:
    """Where ``literal`` first occurs in ``doc`` outside a string (``{"s": "NaN", "n": NaN}``: the second)."""
    in_string = escaped = False
    for i, c in enumerate(doc):
        if in_string:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif doc.startswith(literal, i):
            return i
    return 0
