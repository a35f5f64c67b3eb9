"""What a payload field that is no JSON value becomes in the prompt, as a Python caller hands it in: a value with text
of its own (a date, a Decimal, a UUID, a path) as that text, a dataclass or a pydantic model as the object of its
fields, an enum as its value; and what has no text for a model to read (bytes, a set, an object that is only its
Python repr, ``<Point object at 0x7f...>``) refused, naming where it is and what to give instead. Before, each of
those was sent as ``str(value)``: ``b'\\x89PNG...'``, ``{1, 2}`` or the object's address, paid for and read as data."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel


class NoPromptText(TypeError):
    """A payload value with no text to write into a prompt: ``what`` it is, ``why`` it is refused and the ``fix``."""

    #: why most such values are refused; an example's placeholder says its own (it has a repr, but no value was meant)
    NO_TEXT = "which has no text to write into the prompt (the model would have read its Python repr)"

    def __init__(self, what: str, fix: str, why: str = NO_TEXT) -> None:
        super().__init__(what)
        self.what = what
        self.fix = fix
        self.why = why


def example_placeholder(value: Any) -> bool:
    """Whether ``value`` is the ``...`` or ``{...}`` an example writes where a value of the reader's goes (the users'
    guide's ``"function": {...}``), copied as it was: Python reads ``{...}`` as a set holding ``Ellipsis``, and was
    answered "is of type set" or told to give the set as a list (``sorted(value)``), which fails on it too."""
    return value is Ellipsis or (isinstance(value, set | frozenset) and len(value) == 1 and Ellipsis in value)


def placeholder_said(value: Any) -> str:
    """How a refusal names an :func:`example_placeholder` value: as the reader wrote it."""
    return "{...}" if isinstance(value, set | frozenset) else "..."


#: what to do with an example's placeholder, said wherever one is refused
PLACEHOLDER_FIX = "replace it with the value it stands for, written out"


def json_default(value: Any) -> Any:
    """``json.dumps``'s ``default`` for a payload field (see the module's docstring)."""
    if example_placeholder(value):
        raise NoPromptText(placeholder_said(value), PLACEHOLDER_FIX, "an example's placeholder rather than a value")
    if isinstance(value, Mapping):  # (a MappingProxyType: as the object it holds, not its Python repr, quoted)
        return dict(value)
    if isinstance(value, bytes | bytearray | memoryview):
        raise NoPromptText(
            type(value).__name__,
            "a model reads text: decode it (value.decode('utf-8')), or give it base64-encoded as text "
            "(base64.b64encode(value).decode())",
        )
    if isinstance(value, set | frozenset):
        raise NoPromptText(
            f"a {type(value).__name__}", "give it as a list, in the order the model should read it (sorted(value))"
        )
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: getattr(value, field.name) for field in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if type(value).__str__ is object.__str__:  # its text would be its repr: a class name and an address
        name = type(value).__qualname__
        raise NoPromptText(
            f"a {name} object",
            "give it as JSON-like data (a dict of its fields, lists, numbers, text) or as text; an object whose "
            "class has a __str__ of its own is written as that text",
        )
    return str(value)  # (a date, a Decimal, a UUID, a path: the text it was made to be read as)


def no_prompt_text_where(value: Any, field: str) -> str:
    """Where in a payload field the value :func:`json_default` refuses is (`` at data/rows/2``), when it is nested."""
    path = _path_to_refused(value, [field])
    return "" if path is None or len(path) == 1 else f" at {'/'.join(path)}"


def _path_to_refused(value: Any, path: list[str]) -> list[str] | None:
    if isinstance(value, str | int | float | type(None)):
        return None
    if isinstance(value, dict | list | tuple):
        parts = value.items() if isinstance(value, dict) else enumerate(value)
        for key, part in parts:
            found = _path_to_refused(part, [*path, str(key)])
            if found is not None:
                return found
        return None
    try:
        made = json_default(value)
    except NoPromptText:
        return path
    return _path_to_refused(made, path)
