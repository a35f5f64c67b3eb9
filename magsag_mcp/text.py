"""Strings that are not Unicode text: an unpaired UTF-16 surrogate (U+D800-U+DFFF standing alone).

JSON may carry one (``"\\ud83d"``: half of an emoji, as a client that cuts text by UTF-16 units
leaves it), and so may a command-line argument that is not UTF-8 (Python keeps its bytes as
surrogates). Such a string cannot be encoded as UTF-8: the ledger cannot store it and a provider
cannot be sent it. :func:`check_text` turns it into an :class:`~magsag_mcp.errors.InputError` naming
where it is, before anything is recorded or sent, instead of a crash half-way through a call.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from collections.abc import Mapping
from typing import Any

from .errors import InputError, excerpt, redact
from .redaction import holds_secret

_SURROGATE = re.compile("[\ud800-\udfff]")

#: how deep a payload is walked; deeper values are left to the JSON encoder (a model's JSON answer nests no
#: deeper: see :mod:`magsag_mcp.strict_json`)
MAX_DEPTH = 200


def surrogate_at(value: Any, where: str, depth: int = 0) -> tuple[str, int, int] | None:
    """(where, index, code point) of the first unpaired surrogate in ``value`` (a string, or a JSON-like
    tree of mappings and lists, keys included), or None."""
    if isinstance(value, str):
        if value.isascii():
            return None
        m = _SURROGATE.search(value)
        return None if m is None else (where, m.start(), ord(m.group()))
    if depth >= MAX_DEPTH:
        return None
    if isinstance(value, Mapping):
        for key, item in value.items():
            inner = f"{where}.{key}" if isinstance(key, str) and key.isidentifier() else f"{where}[{key!r}]"
            found = surrogate_at(key, f"{where} (a key)", depth + 1) or surrogate_at(item, inner, depth + 1)
            if found:
                return found
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            found = surrogate_at(item, f"{where}[{i}]", depth + 1)
            if found:
                return found
    return None


def _has_surrogate(value: Any, depth: int = 0) -> bool:
    """Whether :func:`surrogate_at` may find one: the same walk, without naming places (every call
    checks its payload, context and names, and almost never finds one). Any text that is not ASCII
    sends the check on to :func:`surrogate_at`, which names the place or finds nothing."""
    if isinstance(value, str):
        return not value.isascii() and _SURROGATE.search(value) is not None
    if depth >= MAX_DEPTH:
        return False
    if isinstance(value, dict):  # the usual JSON object, walked without a call per string
        for k, v in value.items():
            if (type(k) is str and not k.isascii()) or (type(v) is str and not v.isascii()):
                return True  # rare: surrogate_at looks closer
            if type(v) is list and depth + 1 < MAX_DEPTH:
                # walked here too (a call's fallbacks, stop sequences): a call for the list and one per string
                # cost more than the strings' own check, and a list was first asked whether it is a Mapping (an ABC)
                for item in v:
                    if type(item) is str:
                        if not item.isascii():
                            return True
                    elif _has_surrogate(item, depth + 2):
                        return True
            elif type(v) is not str and _has_surrogate(v, depth + 1):
                return True
        return False
    if isinstance(value, Mapping):
        return any(_has_surrogate(k, depth + 1) or _has_surrogate(v, depth + 1) for k, v in value.items())
    if isinstance(value, list | tuple):
        for v in value:
            if _has_surrogate(v, depth + 1):
                return True
    return False


def check_text(value: Any, where: str, error: type[InputError] = InputError) -> None:
    """Raise ``error`` if ``value`` holds an unpaired surrogate (see the module's docstring)."""
    if value is None or (type(value) is str and value.isascii()) or not _has_surrogate(value):
        return
    found = surrogate_at(value, where)
    if found is not None:
        place, index, code = found
        raise error(
            f"{place} is not valid Unicode text: it holds an unpaired UTF-16 surrogate (U+{code:04X} at "
            f"character {index}), which cannot be stored or sent; send whole characters (text cut inside an "
            "emoji, or bytes that are not UTF-8?)"
        )


#: the longest name a call or an event is recorded under (a run id, an agent, a skill id, an event's name):
#: room for a UUID, a CI job's path or a tenant's prefix many times over, while every reading of the ledger
#: (a table row, a CSV cell, an MCP client's result and error) shows it whole
NAME_MAX = 200

#: the longest model name a call or the catalog may give (a vendor's, an Azure deployment's, a gateway's
#: ``org/model:variant``, a local server's path to its weights all fit many times over): it goes to the vendor, into
#: every attempt's record and into each report's breakdown by model
MODEL_MAX = 512

#: the longest base URL a target may give: a server's address and an API's path (a gateway's tenant, an Azure
#: resource's) fit many times over; it goes into the call's trace, its explanation and an error that names the server
URL_MAX = 2048

#: the longest search pattern accepted (a search over names and errors needs far less): here, beside the other
#: lengths, for the MCP tool's schema to say it without importing the ledger
PATTERN_MAX = 1000

#: the longest text read as a time (a since, an until): an ISO time with microseconds and an offset has 32 characters,
#: a duration a few; here for the MCP tools' schema to say it without importing the ledger
TIME_TEXT_MAX = 64

#: characters no name may hold: control characters (a line break or an escape sequence forges rows in a table or
#: lines in a log), and the invisible ones that make two names look the same (zero-width, bidirectional overrides,
#: the byte-order mark) while the ledger and the limits keep them apart. ASCII's are found by this pattern; a name
#: that is not ASCII is read a character at a time (:func:`_hidden`), by its Unicode category
_UNSEEN = re.compile("[\x00-\x1f\x7f-\x9f\u00ad\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]")

#: the zero-width non-joiner and joiner: invisible, yet part of how some text is written (Persian needs the
#: non-joiner, Indic conjuncts and emoji sequences such as 👩‍💻 the joiner); so is the Mongolian vowel separator,
#: which shapes the vowel after it
_JOINERS = "\u200c\u200d\u180e"

#: Unicode categories that show nothing of their own: controls, format characters (the tag characters, the Arabic
#: letter mark, ...), line and paragraph separators, and spaces, of which a name may hold only U+0020 (a no-break or
#: an em space shows as it does). Unassigned code points are not among them: an emoji newer than this Python's
#: Unicode tables is one
_UNSEEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Zs"})
#: letters and marks that show as nothing: the Hangul fillers, the braille blank, the combining grapheme joiner,
#: Khmer's inherent vowels (which Unicode says not to use)
_BLANKS = frozenset("\u115f\u1160\u3164\uffa0\u2800\u034f\u17b4\u17b5")
#: a variation selector picks the glyph of the character before it (❤️, an ideograph's variant, Mongolian's free
#: variation selectors): after an emoji, ideograph or letter of its script it is how the name is written, after an
#: ASCII letter it shows nothing
_SELECTORS = re.compile("[\ufe00-\ufe0f\U000e0100-\U000e01ef\u180b-\u180d\u180f]")
#: code points Unicode reserves as default-ignorable (shown as nothing by every renderer, never to be an emoji):
#: unassigned, so not of the categories above, yet as hidden as a format character
_RESERVED_UNSEEN = re.compile("[\u2065\ufff0-\ufff8\U000e0000-\U000e0fff]")
#: a subdivision flag (🏴 and the tag characters spelling its region, closed by the cancel tag): the tag characters
#: are invisible anywhere else, where they spell text no reader sees
_TAG_FLAG = re.compile("\U0001f3f4[\U000e0020-\U000e007e]+\U000e007f")


def _hidden(value: str) -> tuple[int, str] | None:
    """(index, character) of the first character in ``value`` that hides (:data:`_UNSEEN`, and in text that is not
    ASCII :data:`_UNSEEN_CATEGORIES`, :data:`_BLANKS` and :data:`_RESERVED_UNSEEN`), or None. A joiner between two
    visible characters outside ASCII shapes them (it is how the word or the emoji is written); anywhere else (between
    Latin letters, beside a space, at an end) it joins nothing and only hides. So does a variation selector but after
    an emoji or ideograph (or a keycap's digit), and a tag character but in a subdivision flag."""
    if value.isascii():
        found = _UNSEEN.search(value)
        return None if found is None else (found.start(), found.group())
    flags = {i for m in _TAG_FLAG.finditer(value) for i in range(m.start() + 1, m.end())}
    last = len(value) - 1
    for at, char in enumerate(value):
        if char.isascii():
            if char.isprintable():
                continue
            return at, char
        if char in _JOINERS:
            if at == 0 or at == last or not (_shaped(value[at - 1]) and _shaped(value[at + 1])):
                return at, char
            continue
        if _SELECTORS.match(char):
            keycap = at < last and value[at + 1] == "\u20e3"
            if at == 0 or not (_shaped(value[at - 1]) or keycap):
                return at, char
            continue
        if at in flags:
            continue
        if char in _BLANKS or unicodedata.category(char) in _UNSEEN_CATEGORIES or _RESERVED_UNSEEN.match(char):
            return at, char
    return None


def _shaped(char: str) -> bool:
    return (
        not char.isascii()
        and char not in _BLANKS
        and unicodedata.category(char) not in _UNSEEN_CATEGORIES
        and _SELECTORS.match(char) is None
    ) or char in "\ufe0e\ufe0f"  # (a joiner after an emoji's selector: 🏳️‍🌈)


def of_length(value: str) -> str:
    """``of 1,000,000 characters``: how every message, log line and result names a caller's text too long to quote
    (a name, a key, a model, a time zone), after the noun that says what it is ("unknown provider of ...", "a key
    of ..."). One phrase from one place: the tool errors, the trace and summarize_usage's notes said "a name of",
    "a key of" and "model of" for the same thing."""
    return f"of {len(value):,} characters"


def shown_name(value: str) -> str:
    """``value`` as a message quotes a name a caller gave: its repr, or its length alone (:func:`of_length`) when it
    is longer than any name can be (a megabyte of skill id was echoed whole in its error, and in the ledger's record
    of it)."""
    return repr(value) if len(value) <= NAME_MAX else of_length(value)


def shown_key(key: str) -> str:
    """A key a caller wrote (of an argument, a param, a payload) as a result or a log line shows it: as written, or
    past :data:`NAME_MAX` characters ``(a key of 1,000,000 characters)`` (:func:`of_length`), as no field of any
    API is named near as long."""
    return key if len(key) <= NAME_MAX else f"(a key {of_length(key)})"


def check_name(value: Any, where: str, *, recorded: bool = True) -> None:
    """A name a call or an event is recorded under (``run_id``, ``agent``, ``parent_run_id``, ``skill_id``): None
    or a string of Unicode text. Anything else (an int, a UUID) is refused naming the fix, before anything is
    recorded or sent, instead of SQLite's "Error binding parameter" (a UUID) or a number stored as text
    and never found again by the number (an int).

    A name longer than :data:`NAME_MAX` is refused without being quoted, and so is one holding a credential (a
    key the process sends, or text shaped like one: ``sk-...``, a JWT): a name is stored in the ledger as it is
    and shown by every reading of it (``query_runs``, ``magsag data query``, an export for an audit), where a key
    pasted into it (the wrong variable) stayed. A name to be ``recorded`` may not begin or end with whitespace nor
    hold a control or invisible character (:func:`_hidden`): ``"my-mag "`` is another agent than ``"my-mag"``,
    with a daily limit of its own, and shows as the same in every report. (A name only looked up, as
    ``check_budget``'s, is one an older ledger may hold so; but none is only whitespace, refused either way.)"""
    if value is not None and not isinstance(value, str):
        raise InputError(f"{where} must be a string, not {type(value).__name__}; pass str(...) of it")
    if not value:
        return
    if len(value) > NAME_MAX:
        raise InputError(
            f"{where} is {len(value):,} characters long, and a name is at most {NAME_MAX} (the ledger records it "
            f"and every report, export and result shows it); give an id of at most {NAME_MAX} characters",
            max_length=NAME_MAX,
        )
    if not value.isascii():  # (ASCII holds no surrogate: most names, a call less)
        check_text(value, where)
    if holds_secret(value):  # (check_text has refused the surrogates redact() would replace)
        fix = "name the event in words of your own" if "event" in where else "name the call with an id of your own"
        raise InputError(
            f"{where} {redact(value)!r} holds what looks like an API key or token, which the ledger would keep and "
            f"show to every reader of it; {fix}, never a credential"
        )
    if value.isascii() and value.isprintable() and value.strip() == value:
        return
    # looked up too, as a usage filter refuses it: no call is recorded so (check_budget showed its whole limit left)
    if not value.strip():
        raise InputError(f"{where} {value!r} is only whitespace, which names nothing; leave it out, or give a name")
    if not recorded:
        return
    if value.strip() != value:
        raise InputError(
            f"{where} {value!r} begins or ends with whitespace, which would make it another name than "
            f"{value.strip()!r} (with limits and report rows of its own) that looks the same; write it without"
        )
    unseen = _hidden(value)
    if unseen is not None:
        raise InputError(
            f"{where} {value!r} holds the control or invisible character U+{ord(unseen[1]):04X} (at character "
            f"{unseen[0]}), which would forge lines in a report or log, or make two names look the same; "
            f"use letters, digits, punctuation and spaces{_SPACE_FIX if unseen[1].isspace() else ''}"
        )


#: what a name holding a space other than U+0020 (a no-break or an ideographic space) is told
_SPACE_FIX = " (U+0020: another space shows as it does, and is another name)"


def whole_characters(value: Any, depth: int = 0) -> Any:
    """``value`` (a string, or a JSON-like tree of them) with each unpaired surrogate replaced by U+FFFD, as
    a UTF-8 decoder replaces a broken character: for what goes out as UTF-8 and was not ours to refuse (a
    vendor's answer that cut an emoji in two), which could not be encoded at all."""
    if isinstance(value, str):
        return value if value.isascii() else _SURROGATE.sub("\ufffd", value)
    if depth >= MAX_DEPTH:
        return value
    if isinstance(value, Mapping):
        return {whole_characters(k): whole_characters(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [whole_characters(v, depth + 1) for v in value]
    return value


def has_surrogate(value: Any) -> bool:
    """Whether ``value`` (a string, or a JSON-like tree of them) holds an unpaired surrogate anywhere."""
    return _has_surrogate(value) and surrogate_at(value, "") is not None


#: control characters but the line break and the tab (C0, DEL, C1), and the direction overrides: shown to a person,
#: an escape sequence would act on their terminal (set its title, clear it, write its clipboard) and a carriage
#: return write over what came before on its line
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _escaped(match: re.Match[str]) -> str:
    return match.group().encode("unicode_escape").decode("ascii")


def escaped_controls(text: str) -> str:
    """``text`` for a terminal: each control character written escaped (``\\x1b``), as a log line writes it; a
    vendor's error message, which the JSON error escapes, is not sent to a person's terminal as it came."""
    return _CONTROL.sub(_escaped, text)


def one_line(text: str, limit: int) -> str:
    """A vendor's words (a finish reason, a citation's URL) as they go into a warning or an error's message, which is
    one line: secrets removed (:func:`~.redaction.excerpt`), each run of whitespace (a line break) one space, each
    other control character escaped (an escape sequence quoted in a warning acted on the terminal that showed it, a
    carriage return wrote over the line), and at most ``limit`` characters (a citation URL of 100 KB was 100 KB of
    every warning)."""
    shown = excerpt(text, limit)
    return escaped_controls(" ".join(shown.split()))[:limit]


def brief(text: str, limit: int) -> str:
    """A server's words quoted in a warning or a message: :func:`one_line`, its first ``limit`` characters and
    ``...`` where it went on (cut without a mark, the quote read as all the server said, ending mid-word)."""
    # (the whole line first: escaping a control character lengthens the words, and a cut at their own length was
    # unmarked, half an escape left at its end)
    line = one_line(text, sys.maxsize)
    return line if len(line) <= limit else line[:limit].rstrip() + "..."


#: the most digits of an int a refusal writes out: a longer one is said by its size (an int of 5,000 digits cannot be
#: written at all: str() raises past 4,300)
NUMBER_DIGITS_SAID = 24


def said_number(value: object) -> str:
    """``value`` as a refusal quotes a number it was given: its repr, or an int of more digits than
    :data:`NUMBER_DIGITS_SAID` by its size alone (``a number of more than 24 digits``)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**NUMBER_DIGITS_SAID:
        return f"a number of more than {NUMBER_DIGITS_SAID} digits"
    return repr(value)
