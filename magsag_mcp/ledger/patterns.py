"""The search pattern: RE2 (linear in the text), case-insensitive, of bounded length and program size."""

from __future__ import annotations

import re
from typing import Any

from ..errors import InputError
from ..text import PATTERN_MAX, check_text

#: the longest search pattern accepted (see :data:`~..text.PATTERN_MAX`)
MAX_PATTERN_CHARS = PATTERN_MAX
#: the largest compiled RE2 program accepted ('claude.*error' is 23 instructions). RE2 is linear in the text,
#: but the time per character grows with the program: '(.*a){1000}z' (11,005) took 3 s on a 50,000-character
#: row, and SQLite can interrupt a search only between rows, so one match held the (shared) reader that long.
#: At this size a 50,000-character row takes at most about 0.15 s.
MAX_PROGRAM_SIZE = 1000
#: what RE2 reads as an operator; written with a \ before it, each is the character itself
_SPECIAL = "\\.^$|?*+()[]{}"
#: RE2's refusals of a pattern that text written as it is (a name with a parenthesis, a glob) would make
_AS_WRITTEN = ("missing )", "missing ]", "unexpected )", "repetition operator", "trailing \\")


def compile_pattern(pattern: str) -> Any:
    """Linear-time RE2, of a bounded size: a pathological pattern cannot hang the server."""
    import re2

    if not isinstance(pattern, str) or not pattern:
        raise InputError("search needs a non-empty regular expression, e.g. 'claude.*error'")
    if len(pattern) > MAX_PATTERN_CHARS:
        raise InputError(
            f"the search pattern is {len(pattern)} characters; give one of at most {MAX_PATTERN_CHARS} characters, "
            "e.g. 'claude.*overloaded'"
        )
    check_text(pattern, "the search pattern")
    options = re2.Options()
    options.case_sensitive = False
    # '.' crosses line breaks: a vendor's error body (an HTML page from a proxy) spans lines, and
    # 'gpt-4o.*Bad Gateway' (the guide's "model, then error") must find it past the first one
    options.dot_nl = True
    options.log_errors = False
    try:
        rx = re2.compile(pattern, options)
    except re2.error as exc:
        why = exc.args[0] if exc.args else exc
        why = why.decode("utf-8", "replace") if isinstance(why, bytes) else str(why)  # RE2 gives bytes
        raise InputError(
            f"invalid regular expression {pattern!r}: {why}; {_fix(pattern, why, options)}RE2 syntax: a character of "
            f"{_SPECIAL} meant as itself takes a \\ before it, and there are no backreferences (\\1) or lookarounds "
            "((?=...), (?<=...))"
        ) from None
    if rx.programsize > MAX_PROGRAM_SIZE:
        raise InputError(
            f"the search pattern {pattern!r} is too complex to search with (its RE2 program has {rx.programsize} "
            f"instructions, at most {MAX_PROGRAM_SIZE}); use fewer repetitions, e.g. '(.*a){{3}}' rather than "
            "'(.*a){1000}', or a shorter alternation"
        )
    return rx


def _fix(pattern: str, why: str, options: Any) -> str:
    """The pattern a refused one most likely meant, as "search 'X' instead; ": a glob's (``*error*``: a search
    finds text anywhere, with no ``*`` around it); a group left open that holds an operator closed (``(a|b``: ``(a|b)``,
    where escaping every operator searched for the text '(a|b' and dropped the alternation meant); a parenthesis that
    opens or closes nothing escaped alone (``gpt-4o (``: ``gpt-4o \\(``); or the text as written, each operator
    character escaped (``+1 (555``). None where RE2 refused something else (a lookaround, a bad range); where the
    patterns so made are refused too, what is unbalanced."""
    import re2

    if not any(refusal in why for refusal in _AS_WRITTEN):
        return ""
    candidates = []
    if pattern.startswith("*") or pattern.endswith("*"):  # a glob: '*' there repeats nothing
        glob = pattern.strip("*")
        if glob:
            candidates.append((glob.replace("*", ".*"), "a search finds text anywhere, with no * around it"))
    opened, stray = _unbalanced(pattern)
    unbalanced = _said(opened, stray)
    literal = "".join("\\" + c if c in _SPECIAL else c for c in pattern)
    if opened or stray:  # the other operators kept as meant (an alternation beside a ')' that closes nothing)
        # The rule: a ( never closed with an operator after it (_REGEX_INTENT) opened a group, closed at the end; any
        # other unbalanced parenthesis (a ( before plain text, a ) that closes nothing) is text, escaped alone. An
        # operator after a ( is after every earlier one too, so the groups closed are the first left open, and the
        # )s added at the end close them in turn. ('a)(b|c' is 'a\)(b|c)': closing alone left the stray ) unbalanced,
        # and was refused, so both parentheses were escaped and the alternation lost.)
        closed = [i for i in opened if _REGEX_INTENT.search(pattern, i + 1)]
        alone = set(opened + stray).difference(closed)
        meant = "".join("\\" + c if i in alone else c for i, c in enumerate(pattern)) + ")" * len(closed)
        if meant != literal:
            candidates.append((meant, f"{unbalanced}; {_to_fix(closed, len(alone))}"))
        if closed:  # were the groups closed refused (another error in them): every unbalanced parenthesis as text
            every = set(opened + stray)
            escaped = "".join("\\" + c if i in every else c for i, c in enumerate(pattern))
            if escaped != literal:
                candidates.append((escaped, f"{unbalanced}; {_to_fix([], len(every))}"))
    candidates.append((literal, "to find the text as written"))
    for meant, why_meant in candidates:
        try:
            re2.compile(meant, options)
        except re2.error:
            continue
        # quoted as typed, not as Python's repr, which doubles each \\ the escaping added
        shown = repr(meant) if "'" in meant else f"'{meant}'"
        return f"{why_meant}: search {shown}; "
    return f"{unbalanced}; " if unbalanced else ""


def _said(opened: list[int], stray: list[int]) -> str:
    """What :func:`_unbalanced` found, as a refusal says it (characters counted from 1)."""
    said = (
        f"{_the(char, at)} {one if len(at) == 1 else many}"
        for char, at, one, many in (
            ("(", opened, "is never closed", "are never closed"),
            (")", stray, "closes no group", "close no group"),
        )
        if at
    )
    return "; ".join(said)


def _the(char: str, at: list[int]) -> str:
    """``the ( at character 3``, or ``the ) at characters 2, 8``: where ``char`` stands at each of ``at`` (from 0)."""
    return f"the {char} at character{'s' if len(at) > 1 else ''} {', '.join(str(i + 1) for i in at)}"


def _to_fix(closed: list[int], alone: int) -> str:
    """What the pattern :func:`_fix` offers does to the unbalanced parentheses: closes the ( at ``closed``, and
    escapes the ``alone`` others."""
    if not alone:
        return f"to close {'it' if len(closed) == 1 else 'them'}"
    if not closed:
        return f"to find {'it' if alone == 1 else 'them'} as written"
    return f"to close {_the('(', closed)} and find the other{'s' if alone > 1 else ''} as written"


#: what says a group left open was meant as one: an alternation, a repetition of any character, an escape, a class
_REGEX_INTENT = re.compile(r"\||\.[*+?]|\\.|\[")


def _unbalanced(pattern: str) -> tuple[list[int], list[int]]:
    """(where each ``(`` never closed stands, where each ``)`` that closes no group stands) in ``pattern``, as RE2
    reads it: an escaped parenthesis, or one in a character class (``[()]``), is none."""
    opened: list[int] = []
    stray: list[int] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if c == "[":
            i += 1
            i += i < n and pattern[i] == "^"
            i += i < n and pattern[i] == "]"  # a ']' first in a class is itself
            while i < n and pattern[i] != "]":
                i += 2 if pattern[i] == "\\" else 1
        elif c == "(":
            opened.append(i)
        elif c == ")":
            if opened:
                opened.pop()
            else:
                stray.append(i)
        i += 1
    return opened, stray
