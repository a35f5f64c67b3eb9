"""A regular expression compiled the first time it is used, not when its module is imported.

The redaction's largest patterns (:data:`~magsag_mcp.key_shapes._SECRET_PATTERNS`, the escapes read over line breaks
of :mod:`~magsag_mcp.key_escapes`) took some 30 ms of ``re``'s compiler at every start of ``magsag-mcp``, which
answers ``initialize`` without searching a text for either: they are needed only once a text holds a trigger word
(``key``, ``token``, ``bearer``...) or an escape over a line break. The first such text compiles its pattern;
from then on the pattern's methods are found on the object as plain attributes (bound methods of the compiled
pattern), so a search costs what it did when the pattern was compiled at import.
"""

from __future__ import annotations

import re
from typing import Any, cast

#: what a caller may ask of a compiled pattern: each is copied onto the object when it compiles
_PATTERN_ATTRIBUTES = (
    "search", "match", "fullmatch", "finditer", "findall", "sub", "subn", "split", "scanner",
    "pattern", "flags", "groups", "groupindex",
)  # fmt: skip


class _CompiledOnFirstUse:
    """Stands for ``re.compile(pattern, flags)`` until one of its attributes is asked for, which compiles it."""

    def __init__(self, pattern: str, flags: int) -> None:
        self._source = (pattern, flags)

    def __getattr__(self, name: str) -> Any:
        # Reached only while uncompiled (or for a name no pattern has): once compiled, every attribute of
        # _PATTERN_ATTRIBUTES is in the instance's dict. Two threads arriving together each compile the same
        # pattern, and either's copy serves. Any other name is refused uncompiled: introspection (``__wrapped__``)
        # compiled the pattern it only looked at, and copy and pickle, asking a new object without its _source for
        # ``__setstate__``, recursed here without end
        if name not in _PATTERN_ATTRIBUTES:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        compiled = re.compile(*self._source)
        for attribute in _PATTERN_ATTRIBUTES:
            setattr(self, attribute, getattr(compiled, attribute))
        return getattr(compiled, name)

    def __reduce__(self) -> tuple[Any, ...]:
        # copied or pickled, made again from its source, to compile on its first use too
        return (type(self), self._source)

    def __repr__(self) -> str:
        return f"compiled_on_first_use({self._source[0][:40]!r}...)"


def compiled_on_first_use(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """``re.compile(pattern, flags)``, done when one of the pattern's methods is first asked for.

    Typed as the pattern it stands for: it answers every method and attribute of one (not ``isinstance``)."""
    return cast("re.Pattern[str]", _CompiledOnFirstUse(pattern, flags))
