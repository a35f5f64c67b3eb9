"""A catalog file's layout mistakes said with their fix: PyYAML names the token it did not expect ("expected <block
end>, but found '<block mapping start>'", "mapping values are not allowed here") and no word of what was written
wrong. These are a first edit's commonest: a key indented one space off its neighbours, a value holding ": ", a key
whose colon has no space after it, a quote left open. Each is recognised from the error's marks and the lines they
point at; anything else is left in PyYAML's words (None)."""

from __future__ import annotations

import re
from typing import Any

__all__ = ["layout_fix"]

#: a line's key written without the space after its colon (``name:a``): YAML reads the whole as one text value
_KEY_WITHOUT_SPACE = re.compile(r"^\s*(?:-\s+)?([A-Za-z_][\w.-]*):(?=[^\s:/\\])(\S+)")
#: the end of a line's key: a colon then a space (or the line's end)
_KEY_END = re.compile(r":(?:\s|$)")
#: a key written in quotes at a line's start: "a: b" or 'a: b' (a quote in it doubled, or escaped in double quotes)
_QUOTED_KEY = re.compile(r'"(?:[^"\\]|\\.)*"' + r"|'(?:[^']|'')*'")
#: a value in quotes, anywhere in a line; and a quote, which is left of one not closed
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"' + r"|'(?:[^']|'')*'")
_QUOTE = re.compile("[\"']")
#: a comment after a value: " #" to the line's end
_COMMENT = re.compile(r"\s+#")
#: a key (or item) whose value is a block scalar (``description: |``, ``- >-``): the lines below it are its text
_BLOCK_SCALAR = re.compile(r"(?:^\s*-|:)\s+[|>][-+0-9]*\s*$")


def layout_fix(exc: Any, text: str) -> str | None:
    """What a layout mistake PyYAML refused ``text`` on was, and its fix; None for any other error."""
    problem = str(getattr(exc, "problem", "") or "")
    context = str(getattr(exc, "context", "") or "")
    mark, context_mark = getattr(exc, "problem_mark", None), getattr(exc, "context_mark", None)
    # PyYAML's columns leave out a UTF-8 byte order mark (its reader skips it), so the lines are read without it too
    lines = text.removeprefix("\ufeff").splitlines()
    if mark is None:
        return None
    if problem.startswith("expected <block end>") and context.startswith("while parsing a block"):
        if mark.line >= len(lines) or mark.column != _indent(lines[mark.line]):
            return None  # what it found is not where its line begins: something before it (a quote left open) is
        return _misaligned(lines, mark.line, context_mark.line if context_mark else None, context)
    if problem == "mapping values are not allowed here" and mark.line < len(lines):
        return _colon_not_a_key(lines, mark.line, mark.column)
    if context.startswith("while parsing a flow") and problem.startswith("expected ','") and context_mark is not None:
        return _flow_unclosed(problem, lines, mark.line, mark.column, context_mark.line, context_mark.column)
    if context == "while scanning a quoted scalar" and context_mark is not None:
        quote = lines[context_mark.line][context_mark.column] if context_mark.line < len(lines) else "a quote"
        return (
            f"the {quote} opened at line {context_mark.line + 1}, column {context_mark.column + 1} is never closed, "
            f"so YAML read what follows as part of its text: close it with {quote} where the value ends"
        )
    return None


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _content_lines_above(lines: list[str], at: int) -> list[int]:
    """The lines above ``at`` that hold YAML (not blank, not a comment alone), nearest first."""
    nearest_first = range(min(at, len(lines)) - 1, -1, -1)
    return [i for i in nearest_first if lines[i].strip() and not lines[i].lstrip().startswith("#")]


def _misaligned(lines: list[str], at: int, opened: int | None, context: str) -> str | None:
    """A line the block above does not end at: indented to a column none of the lines above begins at, or (lined up
    with one) a key where a list takes its '- ' items."""
    indent = _indent(lines[at])
    above = _content_lines_above(lines, at)
    # the columns keys and '- ' items begin at above (a "- key:" line's key too): where this line could line up
    columns = set()
    for i in above:
        columns.add(_indent(lines[i]))
        stripped = lines[i].lstrip(" ")
        if stripped.startswith("- "):
            columns.add(_indent(lines[i]) + 2 + _indent(stripped[2:]))
    if indent not in columns:
        deeper = next((i for i in above if _indent(lines[i]) > indent), None)
        shallower = next((i for i in above if _indent(lines[i]) < indent), None)
        beside = [f"line {i + 1} by {_indent(lines[i])}" for i in (deeper, shallower) if i is not None]
        if beside:
            beside[0] = beside[0].replace(" by ", " is indented by ", 1)
        return (
            f"line {at + 1} is indented by {indent} spaces, which lines up with none of the lines above it"
            f"{' (' + ', '.join(beside) + ')' if beside else ''}: indent each key of a mapping, and each '- ' of a "
            "list, by as many spaces as the others of its block"
        )
    if lines[at].lstrip(" ").startswith("-"):
        return _item_outdented(lines, at, indent, above)
    if "collection" in context and opened is not None:
        said = f"line {at + 1} is a key where the list begun at line {opened + 1} takes '- ' items: begin it with '- '"
        item = next((i for i in above if lines[i].lstrip(" ").startswith("- ") and _indent(lines[i]) == indent), None)
        if item is not None and not _KEY_END.search(lines[item].lstrip(" ")[2:]):
            # (`- a` then `b: 1`: a text item, with no keys to indent it among)
            return f"{said} for an item of its own, or indent it as the keys of the mapping the list is in"
        if item is not None and (moved := _item_moved_off_its_keys(lines, item, at)) is not None:
            return moved
        return f"{said} for an item of its own, or indent it under the item it belongs to"
    return None


def _key_column(line: str) -> int:
    """Where a line's key begins: its indent, or past its '- ' for an item's first key."""
    body = line.lstrip(" ")
    column = _indent(line)
    while body.startswith("- "):
        column, body = column + 2 + _indent(body[2:]), body[2:].lstrip(" ")
    return column


def _item_moved_off_its_keys(lines: list[str], item: int, at: int) -> str | None:
    """An item (``- name: p``) moved right by the width of its dash, its keys below left where they were: YAML read
    the first of them as a key where the list takes '- ' items, and "indent it under the item it belongs to" named
    that key, indented under which the next one was refused in turn. Said where moving the item alone loads the
    file and moving the key alone does not; None otherwise."""
    indent, keys_at = _indent(lines[at]), _key_column(lines[item])
    by = indent - keys_at
    if by >= 0 or _indent(lines[item]) + by < 0:
        return None
    if _loads_with_it_at(lines, at, keys_at - indent) or not _loads_with_it_at(lines, item, by):
        return None
    return (
        f"line {item + 1}, a '- ' item, is indented by {_indent(lines[item])} spaces, so its keys go at {keys_at}, "
        f"and line {at + 1}, at {indent}, is read as a key where its list takes '- ' items: indent line {item + 1} "
        f"by {_indent(lines[item]) + by}, its key lined up with line {at + 1}'s"
    )


def _item_outdented(lines: list[str], at: int, indent: int, above: list[int]) -> str | None:
    """A '- ' item lined up with a key above, out of line with the items of the list(s) above it (``allowed_models:``,
    its items by 6, then one by 4): PyYAML said only "expected <block end>, but found '-'". Which list it was meant
    for is not known where there are several, so each one's indent is named, outermost first. Only lists still open
    at the item are named (none a line less indented closed since), and only an indent at which the file then loads:
    a list closed above, or one beside the first item of a key's list, was named at an indent that did not load, or
    loaded as something else (a text going on over lines). None where lines under it are indented deeper (its own, or
    not: a file already wrong does not say)."""
    lists: dict[int, int] = {}  # the indent of each list open above -> its nearest item's line
    shapes: dict[int, set[str]] = {}  # the indent of each list open above -> the shapes of its items
    lowest = len(lines[at]) + max((len(lines[i]) for i in above), default=0)  # (the least indent of the lines
    # between it and the item: a line less indented closes the blocks deeper than it)
    for i in above:
        column = _indent(lines[i])
        if column > lowest:
            continue
        lowest = column
        if _BLOCK_SCALAR.search(_COMMENT.split(lines[i], maxsplit=1)[0]):
            return None  # (the lines below a `key: |` are its text, '- ' or not: no list's items)
        item, body = column, lines[i].lstrip(" ")
        while body.startswith("- ") or body == "-":  # (`- - a`: a list in a list, its items by 2 more)
            rest = body[1:]
            if item != indent:
                lists.setdefault(item, i)
                shapes.setdefault(item, set()).add(_item_shape(rest.lstrip(" ")))
            item, body = item + 1 + _indent(rest), rest.lstrip(" ")
    nearest = _COMMENT.split(lines[above[0]], maxsplit=1)[0].rstrip() if above else ""
    if nearest.endswith(":") and _indent(lines[above[0]]) > indent:
        # (`allowed_models:` then its first item too far left: the list it was meant for has no item to name, and
        # one above read it as a text going on over the lines below it)
        return None
    below = next((line for line in lines[at + 1 :] if line.strip() and not line.lstrip().startswith("#")), "")
    if below and _indent(below) > indent:
        # (lines under it, deeper: its own keys, or the next items of a list, or more of its text, which cannot be
        # told apart in a file that is already wrong; an indent named for it and them could load as something else)
        return None
    # (`- name: q` moved left of a policy's allowed_models: named beside the policies' list, the models' list's
    # indent loaded it as a model that is a mapping; an item goes in a list whose items have its shape, if one has)
    own = _item_shape(lines[at].lstrip(" ")[1:].lstrip(" "))
    alike = [column for column in lists if own in shapes[column]]
    # (a list whose nearest item is a value, left of this one: `  - o1-preview` moved left under allowed_models made
    # a policy of the text it ran on into, and this line, further down, was told to line up with it; it is that
    # item, not this line, that is out of place, which cannot be told from here)
    candidates = [
        column
        for column in sorted(alike or lists)
        if column > indent or _item_shape(lines[lists[column]].lstrip(" ")[1:].lstrip(" ")) != "value"
    ]
    fixes = [column for column in candidates if _loads_with_it_at(lines, at, column - indent)]
    if any(column > indent for column in fixes):  # (one to the left, named too, would make it an item of an outer list)
        fixes = [column for column in fixes if column > indent]
    if not fixes:
        return None
    choices = " or ".join(f"by {column} (as the item at line {lists[column] + 1})" for column in fixes)
    where = "left of" if min(fixes) > indent else "out of line with"
    return (
        f"line {at + 1} is a '- ' item indented by {indent} spaces, {where} the items of the "
        f"{'lists' if len(fixes) > 1 else 'list'} above it, so it belongs to no list: indent it as the other "
        f"items of its list, {choices}"
    )


def _item_shape(body: str) -> str:
    """What a '- ' item holds, from the text after its dash: keys (``- name: p``, a mapping's first), a list
    (``- - a``), or a value (``- gpt-4o``, ``- local:*``, ``- {provider: a}``, a text)."""
    if body.startswith("- ") or body == "-":
        return "list"
    quoted_key = _QUOTED_KEY.match(body)
    rest = _COMMENT.split(body[quoted_key.end() if quoted_key else 0 :], maxsplit=1)[0]
    if body[:1] in ("{", "[") or (not quoted_key and body[:1] in ("'", '"')):
        return "value"
    return "keys" if _KEY_END.search(rest) else "value"


def _loads_with_it_at(lines: list[str], at: int, by: int) -> bool:
    """Whether the text with line ``at`` indented ``by`` more spaces (fewer, where negative) then parses, whole: a
    file with a second mistake gets no indent named, rather than one that moved the mistake to the line after."""
    import yaml

    line = lines[at]
    moved = [*lines[:at], " " * by + line if by >= 0 else line[-by:], *lines[at + 1 :]]
    try:
        for _ in yaml.parse("\n".join(moved) + "\n", Loader=yaml.SafeLoader):
            pass
    except yaml.YAMLError:
        return False
    return True


def _colon_not_a_key(lines: list[str], at: int, column: int) -> str | None:
    """A ': ' where YAML takes no key: inside a value written without quotes, on a line that continues the value of
    a key without its space (``name:a``), or on a line indented deeper than a key above that has a value."""
    line = lines[at]
    body = line.lstrip(" ")
    if body.startswith("- "):
        body = body[2:].lstrip(" ")
    start = len(line) - len(body)
    quoted_key = _QUOTED_KEY.match(line, start)  # ("a: b": ...: the ': ' in its quotes is no key's end)
    first = _KEY_END.search(line, quoted_key.end() if quoted_key else start)
    if first is not None and first.start() < column:  # `key: text: more`: the value holds the colon
        value = _COMMENT.split(line[first.end() :], maxsplit=1)[0].strip()
        key = line[start : first.start()]
        if not quoted_key and re.search(r"[:{}\[\],]", key):
            return None  # `preferred_model:{type: string}`: no key's value that holds ': '
        quoted = f'"{value}"' if '"' not in value and "\\" not in value else "'" + value.replace("'", "''") + "'"
        return (
            f"the value of {key!r}, {value!r}, holds ': ', which YAML reads as a key's end; write the value in "
            f"quotes: {key}: {quoted}"
        )
    above = _content_lines_above(lines, at)
    if not above:
        return None
    previous = lines[above[0]]
    if (joined := _KEY_WITHOUT_SPACE.match(previous)) is not None and not _a_target(joined.group(1)):
        key, value = joined.group(1), joined.group(2)
        return (
            f"line {above[0] + 1}'s {key}:{value} has no space after its colon, so YAML read it as text rather than "
            f"a key and its value, and line {at + 1} as more of that text: write {key}: {value}"
        )
    if _indent(line) > _indent(previous) and not previous.rstrip().endswith(":"):
        if " " in line[start:column].strip():
            # `description: Line one` then `  and then: more`: text going on, no key (one has no space in it)
            return (
                f"line {at + 1} goes on with the value of line {above[0] + 1} ({previous.strip()!r}), and holds "
                "': ', which YAML reads as a key's end: write the whole value in quotes, across its lines"
            )
        said = (
            f"line {at + 1} is indented deeper ({_indent(line)} spaces) than line {above[0] + 1} "
            f"({_indent(previous)}), "
            f"which has a value already ({previous.strip()!r}), so YAML read line {at + 1} as more of that value: "
        )
        fix = _deeper_fix(lines, above[0], at)
        return None if fix is None else said + fix
    return None


def _deeper_fix(lines: list[str], previous: int, at: int) -> str | None:
    """The fix of a line indented deeper than the line above it, which has a value: that line moved right, or the
    one above it moved left (``system:`` out from under ``prompt:``, the lines below left where they were). Only a
    move after which the file loads is named, and not one that leaves a key empty that had lines under it; None
    where none is known. "indent it as the keys beside it" was said of the line below the one moved, and loaded as
    another file (``prompt:`` with no value, ``user:`` beside it), or of a line already lined up with them."""
    items = all(lines[i].lstrip(" ").startswith("- ") for i in (previous, at))
    beside = _indent(lines[previous]) if items else _key_column(lines[previous])  # where line `at` would line up
    by = _indent(lines[at]) - beside
    own_fits = _loads_with_it_at(lines, at, -by)
    if own_fits and _opens_a_block(lines[at]):
        below = next((i for i in range(at + 1, len(lines)) if lines[i].strip() and lines[i].lstrip()[0] != "#"), None)
        own_fits = below is not None and _indent(lines[below]) > beside  # (`tiers:` moved in: its keys stay below it)
    above_fits = _indent(lines[previous]) + by >= 0 and _loads_with_it_at(lines, previous, by)
    own = f"indent it as the {'items' if items else 'keys'} beside it (by {beside})"
    other = (
        f"indent line {previous + 1} by {_indent(lines[previous]) + by}, its {'dash' if items else 'key'} lined up "
        f"with line {at + 1}'s"
    )
    if not above_fits and not own_fits and not items and lines[previous].lstrip(" ").startswith("- "):
        # (`- openai:gpt-4o-mini` then a key under it: a text item, with no keys to indent it among)
        owner = next(
            (i for i in _content_lines_above(lines, previous) if _indent(lines[i]) < _indent(lines[previous])), None
        )
        column = _indent(lines[owner]) if owner is not None else 0
        if _loads_with_it_at(lines, at, column - _indent(lines[at])):
            return (
                "an item of text has no keys to indent it among; indent it as the keys of the mapping the list is "
                f"in (by {column})"
            )
    if not above_fits:
        return own if own_fits else None
    if not own_fits:
        return other
    above = next(iter(_content_lines_above(lines, previous)), None)
    if above is not None and _key_column(lines[above]) < _indent(lines[at]) and _opens_a_block(lines[above]):
        # (`prompt:` above it, which holds nothing unless line `previous` goes under it: no key is left empty so)
        return other
    if above is not None and _key_column(lines[above]) == _indent(lines[at]) and _has_a_key(lines[above]):
        # (a key between two lined up with each other: it was moved, or the one below it was; both load)
        return f"{own}, or, if line {previous + 1} belongs with line {above + 1} above it, {other}"
    return own


def _has_a_key(line: str) -> bool:
    """Whether ``line`` begins with a key (``name: p``, ``- name: p``), not a value or an item holding one."""
    body = line.lstrip(" ")
    while body.startswith("- "):
        body = body[2:].lstrip(" ")
    return _item_shape(body) == "keys"


def _opens_a_block(line: str) -> bool:
    """Whether ``line`` is a key with no value on it (``prompt:``, ``- thresholds:``): its value is the lines below."""
    return _COMMENT.split(line, maxsplit=1)[0].rstrip().endswith(":")


def _flow_unclosed(problem: str, lines: list[str], at: int, column: int, opened: int, opened_column: int) -> str | None:
    """A [list] or {mapping} that went on past its items: its closing bracket left out (the file's end, or a line
    that begins no deeper than the line it opened on, read as its items), a comma left out between two of its items,
    or a ': ' in one of its values. None where it found the other bracket (`[a, b}`: which was meant is not known)."""
    closing = "]" if "']'" in problem else "}"
    opening, kind = ("[", "list") if closing == "]" else ("{", "mapping")
    found = problem.rpartition("but got ")[2]
    where = f"opened at line {opened + 1}, column {opened_column + 1}"
    # what YAML read inside it up to where it stopped, line by line
    if at > opened:
        tail = lines[at][:column] if at < len(lines) else ""
        inside = [lines[opened][opened_column + 1 :], *lines[opened + 1 : at], tail]
    else:
        inside = [lines[at][opened_column + 1 : column]]
    if any(_QUOTE.search(_QUOTED.sub("", part)) for part in inside):
        return None  # a quote not closed on its line ran on to a later one: not its bracket, nor a comma, is wrong
    written = " ".join(inside)  # (as YAML reads a plain value over lines)
    # a line past it that begins no deeper than the line it opened on: the next key, read as one of its items
    outside = opened < at < len(lines) and _indent(lines[at]) <= _indent(lines[opened])
    if found == "'<stream end>'" or outside:
        before = f"not closed before line {at + 1}" if outside else "never closed"
        return f"the {opening} {where} is {before}: close it with {closing} where its {kind} ends"
    # `0 output` of `{input: 0 output: 0}` is two items, a comma left out; `Costs` of `{description: Costs: per
    # call}` one value
    read = re.split(r"[,\[{]|:\s", written)[-1].strip()
    if found == "'<scalar>'" or (found == "':'" and " " in read):
        return (
            f"the {kind} opened with {opening} at "
            + (f"column {opened_column + 1}" if at == opened else f"line {opened + 1}, column {opened_column + 1}")
            + " has two items with no comma between them (before "
            + (f"column {column + 1}" if at == opened else f"line {at + 1}, column {column + 1}")
            + "): separate its items with commas"
        )
    if found == "':'":  # `{description: Costs: per call}`
        return (
            f"the ':' at line {at + 1}, column {column + 1} is in a value of the {kind} {where}, where YAML takes "
            f"a ',' or {closing}: write a value holding ': ' in quotes"
        )
    return None


def _a_target(word: str) -> bool:
    """Whether ``word:...`` is a target as routing and policies write one (``openai:gpt-4o``), not a key whose colon
    lost its space: such a line's value is meant whole, and the line below it is the one indented wrong."""
    from .providers import provider_aliases, provider_names

    return word.lower() in {*provider_names(), *provider_aliases()}
