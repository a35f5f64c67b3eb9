"""A model's answer and the keys it may quote: the credentials this process sent (a gateway or a test server echoing
the request's headers, its body, the key as the answer's id), looked for and removed, and nothing else. Text merely
shaped like a key is the answer's own (an example in code, ``Authorization: Bearer eyJ...``) and is kept: only
:func:`~.redaction.redact`'s known keys of :data:`~.redaction.PREFIX_KEY_MIN` characters or more
are looked for, the process's and the running call's (or, the call ended, those it gave, handed on: see
:func:`answer_without_known_keys`). Apart from :mod:`magsag_mcp.redaction`, which keeps what the process knows and
removes every key and key shape from the process's own texts: this is where an answer is judged, on its way to the
answer cache (:func:`answer_holds_key`) and out of the process (:func:`answer_without_known_keys`).
"""

from __future__ import annotations

from typing import Any

from . import redaction
from .key_escapes import without_escaped_keys
from .redaction import _HALF_PAIR, PREFIX_KEY_MIN, _left_in_answers, _long_keys, _longest_first, _lookups

# (the process's keys are read from redaction's module each time: registering a key replaces its tuple)


def holds_known_key(text: str) -> bool:
    """Whether ``text``, a model's answer, holds a credential sent of :data:`~.redaction.PREFIX_KEY_MIN` characters or
    more (the process's, and those of the call whose credentials are known here: see :func:`answer_without_known_keys`),
    or a piece of one (as :func:`~.redaction.redact` finds them, in the forms a key is registered in: as sent, JSON's
    and a URL's escapes); text merely shaped like a key is not looked for, nor a base64 key escaped otherwise
    (``\\u002f``, ``&#47;``: :func:`~.key_escapes.without_escaped_keys`, some 90 us on a 1 KB text). A few look-ups."""
    keys = _looked_for()
    return bool(keys) and _holds_a_piece(text, keys)


def answer_holds_key(text: str) -> bool:
    """Whether :func:`~.redaction.redact` would change ``text``, a model's answer, with ``answer=True``: whether it
    holds a known key of :data:`~.redaction.PREFIX_KEY_MIN` characters or more (the process's and this call's, as sent
    or in a form it is registered in), a piece of one, such a base64 key escaped otherwise
    (:func:`~.key_escapes.without_escaped_keys`), or half of a UTF-16 surrogate pair. The answer cache's check of what
    it stores: a redaction built the text anew (each known key's replacement, the pieces' runs, a copy of a text past
    ASCII) to compare it with the answer; a piece found here is a text redact() changes, and none found one it returns
    as it was."""
    if not text.isascii() and _HALF_PAIR.search(text):
        return True
    keys = _looked_for()
    if not keys:
        return False
    return _holds_a_piece(text, keys) or without_escaped_keys(text, keys, PREFIX_KEY_MIN) != text


def _looked_for() -> tuple[str, ...]:
    """The keys looked for in an answer: the process's and the running call's (as redaction knows them now: a key
    registered replaces the process's tuple), those of :data:`~.redaction.PREFIX_KEY_MIN` characters or more, but
    those left in answers (a base URL's path segment taken for a token by its length alone)."""
    call = redaction._CALL_SECRETS.get()
    process = redaction._LONGEST_FIRST
    return _long_keys(_longest_first(process, call) if call else process, _left_in_answers(call))


def _holds_a_piece(text: str, keys: tuple[str, ...]) -> bool:
    """Whether ``text`` holds one of ``keys``, or a piece of a long one (:mod:`~.key_pieces`): a few look-ups."""
    for secret, pieces in _lookups(keys, "%" in text, "\\" in text):
        for piece in pieces or (secret,):
            if piece in text:
                return True
    return False


def without_known_keys(value: Any) -> Any:
    """``value`` (a string, or a JSON tree: its keys too) less the credentials this process sends of
    :data:`~.redaction.PREFIX_KEY_MIN` characters or more, as :func:`~.redaction.redact` removes them, and nothing else:
    a model's answer quoting the key it was sent with (a gateway or a test server echoing the request's headers) loses
    the key, while a token in an answer that the process never sent (an example in code, ``Authorization: Bearer
    eyJ...``, ``sk-...``) is the answer's own and is kept, and so is a word that a short key is (``changeme``)."""
    if isinstance(value, str):
        return redaction.redact(value, answer=True)
    if isinstance(value, dict):
        return {without_known_keys(k): without_known_keys(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(without_known_keys(v) for v in value)
    return value


def answer_without_known_keys(value: Any, vendors_text: str | None = None, call_keys: tuple[str, ...] = ()) -> Any:
    """``value``, a result carrying a vendor's answer, as it leaves the process (an MCP tool's result, what the CLI
    prints): less the keys this process sends (:func:`without_known_keys`) when ``vendors_text``, what of it the vendor
    wrote (all of ``value`` as JSON when None), holds one; else ``value`` itself. The MCP server and the CLI both send a
    result through here: the CLI printed a gateway's echo of the key that MCP removed.

    ``call_keys``: the credentials the call gave itself (:func:`~.redaction.call_keys`, taken before its end forgot
    them): looked for too. The result leaves after the call, its own credentials forgotten: a gateway echoing a
    credential of the call's target (its ``params.api_key``, sent in the request's body) gave it to the MCP client and
    the terminal."""
    if vendors_text is None:
        import json  # (here: the MCP server and the CLI ask, not every importer of redaction)

        vendors_text = json.dumps(value, ensure_ascii=False, default=str)
    with redaction.call_keys_known(call_keys):
        return without_known_keys(value) if holds_known_key(vendors_text) else value
