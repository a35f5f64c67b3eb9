"""A bug's exception with no key left in what a traceback prints of it: :func:`said_without_keys`, which redacts an
exception outside the error tree (a bug of ours that an error of :mod:`magsag_mcp.errors` is raised from) and the
chain it was raised from or during, in place, and :class:`RedactedException`, the stand-in for one whose text cannot
be rewritten. Apart from the tree itself, whose errors are redacted as they are made; import both from
:mod:`magsag_mcp.errors`, as every module does: :class:`RedactedException` is named from there (``__module__``), in a
traceback and when it is pickled, as before it had a module of its own.
"""

from __future__ import annotations

import copy
import sys
from typing import Any

from .errors import MagsagError
from .redaction import redact, redact_values

__all__ = ["RedactedException", "said_without_keys"]


#: the most links of an exception's chain :func:`said_without_keys` reads (a chain is rarely more than 3 long)
_CHAIN_READ = 16


def said_without_keys(bug: BaseException) -> BaseException:
    """``bug``, an exception outside the error tree (a bug of ours) that an error of the tree is raised from, its texts
    redacted in place, and those of the exceptions it was raised from or during (``__cause__``, ``__context__``) and,
    an exception group's, of those it holds: its ``args`` (``KeyError``'s, ``ValueError``'s text; one that is no text,
    a tuple or bytes quoting a key, becomes its redacted repr), an ``OSError``'s ``strerror`` and file names, its
    notes, the text fields its own ``__str__`` is built from (jsonschema's ``message`` and ``instance``, a YAML error's
    marks' buffer). Its type and traceback are kept, for the report the error's message asks for. The error's message
    was redacted as it was made, but every traceback of the error prints its cause's text (an application's own
    logger, with ``exc_info``, which no filter of magsag's sees), and a bug quoting what the vendor answered
    (``{}[answer]``, an answer echoing the request's key) gave the key away whole.

    An exception whose text still holds a key once those are rewritten (pydantic's ``ValidationError``, built in Rust
    from the input it quotes, ``input_value=...``, and read-only) is replaced, where the chain holds it, by a
    :class:`RedactedException` naming its type, with its redacted text and its traceback; so is ``bug`` itself, in
    what this returns: raise the error *from what it returns*.

    Only exceptions caught in magsag's code are rewritten: one the caller's own code caught (the exception it was
    handling as it made the call, the bug's ``__context__``) is the caller's, still held by it, and left as it is."""
    seen: dict[int, bool] = {}  # (each exception read, and whether as ours: one held by a group of ours is ours)
    # (ours: what it is given; the exception holding it as its cause or context, and which; None for bug itself)
    todo: list[tuple[BaseException | None, bool, BaseException | None, str]] = [(bug, True, None, "")]
    shown = bug
    while todo and len(seen) < _CHAIN_READ:
        link, ours, holder, held_as = todo.pop()
        if link is None or seen.get(id(link), False) or (id(link) in seen and not ours):
            continue
        seen[id(link)] = ours
        in_chain = link  # (what the chain holds in its place: a stand-in for it, if one was made)
        if ours and not isinstance(link, MagsagError):  # (the tree's are redacted as they are made)
            _redact_texts(link)
            if isinstance(link, BaseExceptionGroup):
                in_chain = _group_without_keys(link)
            elif held_as != _IN_A_GROUP and _still_says_a_key(link):  # (one a group holds: stood for by the group's)
                in_chain = RedactedException.of(link)
            if in_chain is not link:
                if holder is None:
                    shown = in_chain
                else:
                    setattr(holder, held_as, in_chain)
        if isinstance(in_chain, BaseExceptionGroup):  # (a task group's: a traceback prints each it holds)
            todo.extend((held, ours, None, _IN_A_GROUP) for held in in_chain.exceptions)
        held_as = "__cause__" if link.__cause__ is not None else "__context__"
        after = getattr(link, held_as)
        todo.append((after, after is not None and _caught_by_us(after), in_chain, held_as))
    return shown


_IN_A_GROUP = "exceptions"  # (how said_without_keys's links say one an exception group holds, not its cause or context)


def _group_without_keys(group: BaseExceptionGroup[Any]) -> BaseExceptionGroup[Any]:
    """``group``, each exception it holds (and those its groups hold) redacted in place, or, if one of them still says a
    key (a pydantic ValidationError a task raised), a copy of it holding a :class:`RedactedException` in that one's
    place, with the group's traceback, cause, context and notes: its ``exceptions`` are read-only, and the member's
    stand-in made the stand-in of the whole group (the others and the group itself lost), the key left in it."""
    held: list[BaseException] = []
    for member in group.exceptions:
        if isinstance(member, MagsagError):
            held.append(member)
            continue
        _redact_texts(member)
        if isinstance(member, BaseExceptionGroup):
            held.append(_group_without_keys(member))
        else:
            held.append(RedactedException.of(member) if _still_says_a_key(member) else member)
    if all(new is old for new, old in zip(held, group.exceptions, strict=True)):
        return group
    copied = group.derive(held)
    copied.__cause__, copied.__context__ = group.__cause__, group.__context__
    copied.__suppress_context__ = group.__suppress_context__
    notes = getattr(group, "__notes__", None)
    if notes is not None:
        copied.__notes__ = list(notes)
    return copied.with_traceback(group.__traceback__)


class RedactedException(Exception):
    """Stands, in an error's chain, for an exception of ours whose text is built from fields no rewriting reaches
    (pydantic's ``ValidationError``, quoting the input it refused) and held a key (see :func:`said_without_keys`): its
    text names the type it stands for (``original_type``, its name ``original_name``) and is that exception's text
    redacted; its traceback, cause and context are that exception's.

    Pickled (a process pool's worker sending it back, a task queue), it keeps its type's name, and its type where pickle
    can name it; a class defined inside a function, which pickle cannot, is None once unpickled (it failed to pickle at
    all, and the error it was the cause of was lost with it)."""

    original_type: type[BaseException] | None = Exception
    original_name: str = "builtins.Exception"

    @classmethod
    def of(cls, exc: BaseException) -> RedactedException:
        kind = type(exc)
        name = f"{kind.__module__}.{kind.__qualname__}"
        stand_in = cls(f"{name} (its text redacted): {redact(_text_of(exc))}")
        stand_in.original_type, stand_in.original_name = kind, name
        stand_in.__cause__, stand_in.__context__ = exc.__cause__, exc.__context__
        stand_in.__suppress_context__ = exc.__suppress_context__
        return stand_in.with_traceback(exc.__traceback__)

    def __reduce__(self) -> tuple[Any, ...]:
        state = dict(self.__dict__)
        if state.get("original_type") is not None and not _named_by_pickle(state["original_type"]):
            state["original_type"] = None
        return type(self), self.args, state


def _named_by_pickle(kind: type) -> bool:
    """Whether pickle can name ``kind``: its module, imported, holds it under its qualified name."""
    found: Any = sys.modules.get(kind.__module__)
    for part in kind.__qualname__.split("."):
        found = getattr(found, part, None)
    return found is kind


def _text_of(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:  # (a __str__ of its own that fails: a traceback prints no text of it either)
        return ""


def _still_says_a_key(exc: BaseException) -> bool:
    """Whether ``exc``'s text, as a traceback prints it, still holds what :func:`redact` removes."""
    text = _text_of(exc)
    return redact(text) != text


def _caught_by_us(exc: BaseException) -> bool:
    """Whether ``exc`` was caught in magsag's code (its traceback's first frame, where it stopped, is ours), or never
    raised (made by us): not the caller's own exception."""
    tb = exc.__traceback__
    if tb is None:
        return True
    module = tb.tb_frame.f_globals.get("__name__", "")
    return module == "magsag_mcp" or module.startswith("magsag_mcp.")


#: the arguments that are no text a traceback prints the repr of, redacted as that repr (never an exception group's
#: exceptions: the group's own args are its message and them)
_SHOWN_BY_REPR = (bytes, bytearray, tuple, list, dict, set, frozenset)


def _redacted_arg(arg: Any) -> Any:
    if isinstance(arg, str):
        return redact(arg)
    if not isinstance(arg, _SHOWN_BY_REPR):
        return arg
    try:
        shown = repr(arg)
    except Exception:  # (a repr of its own that fails: nothing of it is printed either)
        return arg
    hidden = redact(shown)
    return arg if hidden == shown else hidden


def _redacted_note(note: Any) -> Any:
    """A note that is no text (``__notes__`` appended to) as a traceback prints it, its ``str()``, redacted."""
    hidden = redact(shown := _text_of(note))
    return note if hidden == shown else hidden


def _redact_texts(exc: BaseException) -> None:
    try:
        if isinstance(exc, BaseExceptionGroup):  # (its message is its own field: the exceptions it holds are read)
            exc.args = (_redacted_arg(exc.args[0]), *exc.args[1:])
        else:
            exc.args = tuple(_redacted_arg(arg) for arg in exc.args)
        for name in ("strerror", "filename", "filename2"):
            if isinstance(said := getattr(exc, name, None), str):
                setattr(exc, name, redact(said))
        notes = getattr(exc, "__notes__", None)
        if isinstance(notes, tuple | str):  # (a traceback prints each note of any sequence: a text's each character)
            notes = exc.__notes__ = list((notes,) if isinstance(notes, str) else notes)
        if isinstance(notes, list):  # (one that is no text, appended to the list, a traceback prints as its str())
            notes[:] = [redact(note) if isinstance(note, str) else _redacted_note(note) for note in notes]
        _redact_fields(exc)
    except (AttributeError, TypeError):  # an exception whose fields are read-only: its text stays as it was
        pass


def _redact_fields(exc: BaseException) -> None:
    """The fields of ``exc`` its own ``__str__`` may build its text from, redacted: each text, each dict, list or tuple
    (a redacted copy: a container it shares is left as it is), and a YAML error's marks, whose snippet quotes the line
    of the file (dropped, on a copy). jsonschema's ValidationError printed ``message`` and the ``instance``
    refused (a payload holding a key), PyYAML's the YAML line holding a pasted key."""
    fields = getattr(exc, "__dict__", None)
    if not fields:
        return
    for name, value in list(fields.items()):
        if name.startswith("__"):
            continue
        if isinstance(value, str | dict | list | tuple):
            hidden = redact_values(value)
            if hidden != value:
                setattr(exc, name, hidden)
        elif isinstance(getattr(value, "buffer", None), str) and hasattr(value, "get_snippet"):  # (a yaml Mark)
            if redact(value.buffer) != value.buffer:
                mark = copy.copy(value)  # (its line and column still said; the snippet, which points into the
                mark.buffer = None  # buffer by index, dropped: redacted, the buffer is shorter and the index past it)
                setattr(exc, name, mark)


# named where it is imported from (magsag_mcp.errors), in a traceback and by pickle, as the provider errors are
RedactedException.__module__ = "magsag_mcp.errors"
