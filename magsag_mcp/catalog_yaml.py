"""Reading a catalog's YAML: PyYAML's safe loader made strict where YAML 1.1 would read another value than
the one meant (a key written twice, octal and base-60 numbers), and ``${VAR}`` / ``${VAR:-default}`` expanded
from the environment, never into a credential. Problems are appended to a list, never raised, so that
:func:`magsag_mcp.catalog.validate_catalog` lists them all."""

from __future__ import annotations

import codecs
import functools
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .text import said_number
from .yaml_kinds import yaml_kind
from .yaml_layout import layout_fix

__all__ = ["BYTE_ORDER_MARKS", "catalog_yaml_file", "read_yaml", "variables_named", "yaml_kind", "yaml_text"]

#: the names others give files of their own beside a catalog file, never a catalog file whatever their suffix: the lock
#: Emacs keeps beside a file it edits with a change unsaved (``.#NAME``: a link to ``user@host.pid:boot``, or a file of
#: that text where links cannot be made) and macOS's AppleDouble metadata (``._NAME``, binary, which a Mac writes beside
#: each file it copies to a share, a FAT or exFAT drive, or into a tar archive). Read as skills, routing, agents or
#: policies, each stopped every start (``holds text, not a mapping``, ``malformed YAML``) for a file the operator never
#: wrote. Other editors' leftovers (vim's ``.NAME.swp``, ``NAME~``, Emacs's ``#NAME#``, ``NAME.yaml.tmp``) end in
#: another suffix than ``.yaml`` and are passed over by it.
_NOT_CATALOG_FILES = (".#", "._")


def catalog_yaml_file(path: Path) -> bool:
    """Whether ``path``'s name is a catalog YAML file's, as every catalog folder (skills, routing, agents, policies)
    reads them: ``.yaml`` or ``.yml`` in any letter case (``Policy.YAML``, a Windows editor's name), and not an
    editor's or the system's file beside one (:data:`_NOT_CATALOG_FILES`). Its name only: whether it is a file, or can
    be read, is the caller's to ask."""
    return path.suffix.lower() in (".yaml", ".yml") and not path.name.startswith(_NOT_CATALOG_FILES)


def catalog_file_to_read(path: Path) -> bool:
    """Whether a catalog folder's entry is read as a catalog file: its name is one (:func:`catalog_yaml_file`) and it
    is a file, or a link to nothing (read, it is said as one, with the fix: passed over, the user's skill, routing or
    limits were gone unsaid). A folder named like one is no file to read, nor is a named pipe or a device: reading a
    pipe waits for a writer, and the catalog's load hung."""
    return catalog_yaml_file(path) and (path.is_file() or (path.is_symlink() and not path.exists()))


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


#: environment variables that hold credentials, by name (OPENAI_API_KEY, MAGSAG_MCP_TOKEN, ...)
_SECRET_NAME = re.compile(
    r"APIKEY|(^|_)(API_?KEY|KEY|TOKEN|SECRET|PASSWORD|PASSWD|PASS|PWD|CREDENTIAL|CRED|AUTH|PAT)S?(_|$)", re.IGNORECASE
)


def _expand(value: Any, env: Mapping[str, str], where: str, problems: list[str]) -> Any:
    if isinstance(value, str):

        def sub(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            found = _variable(env, name)
            if found:
                if _SECRET_NAME.search(name) or _holds_a_secret(env, found):
                    # A catalog value can end up in a prompt, a result or a log: keys stay with providers.
                    problems.append(
                        f"{where}: ${{{name}}} would put a secret into the catalog, where a prompt or a result "
                        "could carry it out; providers read their keys from the environment themselves: remove it"
                    )
                    return m.group(0)
                return found
            if default is not None:
                return default
            problems.append(f"{where}: ${{{name}}} is not set; export {name} or write ${{{name}:-default}}")
            return m.group(0)

        return _VAR.sub(sub, value)
    if isinstance(value, list):
        return [_expand(v, env, where, problems) for v in value]
    if isinstance(value, dict):
        return {k: _expand(v, env, where, problems) for k, v in value.items()}
    return value


def _variable(env: Mapping[str, str], name: str) -> str | None:
    """The variable ``name`` of ``env``. On Windows a variable's name is the same in any case, and Python keeps
    ``os.environ``'s names in upper case: a copy of it (the service reads the catalog with one) has ``MYGATEWAY_URL``
    for the ``MyGateway_URL`` the user set, and ``${MyGateway_URL}``, written as set, was "not set" there."""
    if name in env:
        return env[name]
    return env.get(name.upper()) if os.name == "nt" else None


def _holds_a_secret(env: Mapping[str, str], value: str) -> bool:
    """Whether ``value`` is the value of a credential variable (read under another name)."""
    return len(value) >= 6 and any(v == value for k, v in env.items() if _SECRET_NAME.search(k))


@functools.cache
def _strict_loader() -> type[Any]:
    """The loader :func:`read_yaml` reads with, made (and PyYAML imported) when the first file is read: ``magsag-mcp``
    answers ``initialize`` having read none, and PyYAML's import (its reader's and resolver's patterns compiled, its
    classes made) was some 10 ms of every start."""
    import yaml

    class _Loader(yaml.SafeLoader):
        """``yaml.SafeLoader`` that refuses a key repeated in one mapping: YAML keeps the last one, so a
        limit written twice would silently become the other value."""

        def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
            seen: set[Any] = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=deep)
                try:
                    repeated = key in seen
                    seen.add(key)
                except TypeError:  # an unhashable key: the base class says so
                    break
                if repeated:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"key {key!r} appears twice in one mapping; keep one of them", key_node.start_mark
                    )
            return super().construct_mapping(node, deep)

        def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
            # YAML 1.1 reads 0500 as octal 320, 1:30 as 90 (base 60), 0x10 as 16: a limit or a price so
            # written would be another amount, unsaid. Plain decimals (1_000 included) are read as ever.
            text = str(node.value).replace("_", "").lstrip("+-")
            if ":" in text or (len(text) > 1 and text[0] == "0"):
                # (said short where long: octal, hexadecimal and binary are read at any size, and str() of one past
                # 4,300 decimal digits raised a bare ValueError out of the load)
                written, quoted = str(node.value), f" ('{node.value}')"
                if len(written) > 40:
                    written, quoted = f"{written[:20]}... ({len(written):,} characters)", ""
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"{written} is not a plain decimal number: YAML reads it as "
                    f"{said_number(super().construct_yaml_int(node))} (octal, hexadecimal, binary or base 60); write "
                    f"the number meant without leading zeros, or quote it{quoted} if it is text",
                    node.start_mark,
                )
            try:
                return super().construct_yaml_int(node)
            except ValueError:  # (int()'s limit: raised out of the load, no problem of the file's said)
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"a number of {len(text):,} digits, more than Python reads (4,300) and more than any setting "
                    "takes; write the number meant",
                    node.start_mark,
                ) from None

        def construct_yaml_float(self, node: yaml.ScalarNode) -> float:
            if ":" in str(node.value):  # YAML 1.1's base 60: 1:30.5 is 90.5
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"{node.value} is not a plain decimal number: YAML reads it as "
                    f"{super().construct_yaml_float(node)} (base 60); write the number meant, or quote it "
                    f"('{node.value}') if it is text",
                    node.start_mark,
                )
            return super().construct_yaml_float(node)

        # An anchor with no value after it (`[&x, y]`, `- &ops`) is null: text that began with '&' was read as
        # an anchor on nothing, and validation then said "got None ...; write it in quotes: "None"". Refused with
        # the value as written, unless an alias names it (a null shared on purpose, which worked before).
        # So is one at the start of free text (`description: &ops team`): YAML read "&ops" as an anchor on the text
        # after it, which loaded as "team" and passed every check, any text being valid there.
        def compose_document(self) -> Any:
            self._empty_anchors: dict[str, Any] = {}
            self._text_anchors: dict[str, Any] = {}
            self._scalar_anchors: dict[int, str] = {}
            self._aliased: set[str] = set()
            node = super().compose_document()
            for anchor, mark in self._empty_anchors.items():
                if anchor not in self._aliased:
                    buffer = getattr(mark, "buffer", None)
                    lines = buffer.splitlines() if isinstance(buffer, str) else []
                    fix = _quote_fix(lines[mark.line], mark.column) if mark.line < len(lines) else None
                    raise yaml.composer.ComposerError(
                        None, None, f"{fix or f'&{anchor} is an anchor on no value'} (YAML read no value there)", mark
                    )
            for anchor, (start, end) in self._text_anchors.items():
                if anchor not in self._aliased:
                    buffer = getattr(start, "buffer", None)
                    # the text as written, the anchor's name with it (a plain scalar ends where YAML read its end)
                    written = buffer[start.pointer : end.pointer] if isinstance(buffer, str) else f"&{anchor} ..."
                    fix = _quote_said(" ".join(written.split()))
                    raise yaml.composer.ComposerError(None, None, f"{fix} (YAML read the text after it alone)", start)
            return node

        def compose_mapping_node(self, anchor: Any) -> Any:
            node = super().compose_mapping_node(anchor)
            for key, value in node.value:
                if key.value in FREE_TEXT_KEYS and isinstance(value, yaml.ScalarNode) and value.style is None:
                    text_anchor = self._scalar_anchors.get(id(value))
                    if text_anchor is not None:
                        self._text_anchors.setdefault(text_anchor, (value.start_mark, value.end_mark))
            return node

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                self._aliased.add(self.peek_event().anchor)
            return super().compose_node(parent, index)

        def compose_scalar_node(self, anchor: Any) -> Any:
            event = self.peek_event()
            if anchor is not None and event.tag is None and event.value == "" and event.style is None:
                self._empty_anchors.setdefault(anchor, event.start_mark)
            node = super().compose_scalar_node(anchor)
            if anchor is not None and event.tag is None:
                self._scalar_anchors[id(node)] = anchor  # (asked by the mapping holding it: free text's?)
            return node

    _Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_yaml_int)
    _Loader.add_constructor("tag:yaml.org,2002:float", _Loader.construct_yaml_float)
    return _Loader


#: the byte order marks of UTF-16 and UTF-32, with their codecs (UTF-32's first: its little-endian mark begins with
#: UTF-16's); the encodings YAML reads beside UTF-8
BYTE_ORDER_MARKS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def yaml_text(path: Path) -> str:
    """A YAML file's text: UTF-8, or the UTF-16 or UTF-32 its byte order mark names, which YAML reads too. Windows
    PowerShell 5.1 writes UTF-16 (``> prices.yaml``, ``Out-File``), as Notepad's "Unicode" does: such a catalog file was
    refused as no UTF-8 text. (UTF-8's own mark is left for PyYAML, which reads past it.)"""
    raw = path.read_bytes()
    return raw.decode(next((codec for bom, codec in BYTE_ORDER_MARKS if raw.startswith(bom)), "utf-8"))


#: the keys whose values are free text, where any text is valid and an anchor at its start (``description: &ops team``)
#: is taken off unsaid: a description (a skill's, an agent's, a policy's, a schema property's), a title, a prompt's
#: system and user text. Elsewhere a name, a model or a number loses its "&..." to a check that then names the value.
FREE_TEXT_KEYS = frozenset({"description", "title", "system", "user"})
#: what YAML reads a plain value beginning with each of these as, where the value meant text
_INDICATORS = {
    "*": "an alias (a reference to an anchor, &name)",
    "&": "an anchor (a name for the value after it)",
    "@": "a character it reserves",
    "`": "a character it reserves",
}
#: the value written from where its indicator stands: up to a space, a comma or a bracket closing a [list]
_WRITTEN = re.compile(r"[^\s,\]}#]*")
#: a comment after a value: " #" to the line's end
_COMMENT = re.compile(r"\s+#")
#: where a key written at a value's place ends: ": ", or a colon ending the line
_KEY_END = re.compile(r":(?=\s|$)")


def _unquoted_indicator(exc: Any, text: str) -> str | None:
    """What a value written unquoted with a character YAML reads otherwise at its start means, and the fix: a glob
    for any provider (``- *:gpt-4o``), or every model (``allowed_models: [*]``), is read as an alias, refused with
    "expected alphabetic or numeric character, but found ':'" and no word of why. None for any other error."""
    problem = str(getattr(exc, "problem", "") or "")
    context = str(getattr(exc, "context", "") or "")
    if context in ("while scanning an alias", "while scanning an anchor"):
        mark = getattr(exc, "context_mark", None)
    elif problem.startswith("found undefined alias"):
        mark = getattr(exc, "problem_mark", None)
    elif problem.startswith(("found character '@'", "found character '`'")):
        mark = getattr(exc, "problem_mark", None)
    else:
        return None
    lines = text.splitlines()
    if mark is None or mark.line >= len(lines):
        return None
    return _quote_fix(lines[mark.line], mark.column)


def _quote_fix(line: str, at: int) -> str | None:
    """What the value written at ``line[at]`` without quotes was read as, for its indicator at its start, and the
    fix; None where no indicator stands there."""
    if at >= len(line) or line[at] not in _INDICATORS:
        return None
    if "[" in line[:at] or "{" in line[:at]:  # in a [list] or {mapping} on one line: up to its next comma or bracket
        match = _WRITTEN.match(line, at + 1)
        value = line[at] + (match.group(0) if match else "")
    else:  # a value of its own line (after "key: " or "- "): to the line's end, but for a comment
        value = _COMMENT.split(line[at:], maxsplit=1)[0].rstrip()
    # a key's (`*: 1`, `{*: 1}`): a colon then a space, or the line's end, ends it
    return _quote_said(_KEY_END.split(value, maxsplit=1)[0])


def _quote_said(value: str) -> str:
    """What ``value``, written without quotes, was read as for the indicator at its start, and the fix."""
    # in double quotes a backslash begins an escape; in single quotes nothing does, and a quote is written twice
    quoted = f'"{value}"' if '"' not in value and "\\" not in value else "'" + value.replace("'", "''") + "'"
    return (
        f"{value!r} begins with {value[0]!r}, which YAML reads as {_INDICATORS[value[0]]} at the start of a value "
        f"left without quotes; write it in quotes: {quoted}"
    )


def read_yaml(path: Path, env: Mapping[str, str], problems: list[str]) -> Any:
    """Parse one YAML file with env expansion; problems are appended, never raised."""
    try:
        text = yaml_text(path)
    except OSError as exc:
        problems.append(f"{path}: {_unread(path, exc)}")
        return None
    except UnicodeDecodeError as exc:  # Latin-1 or cp1252, an editor's default on Windows
        problems.append(
            f"{path}: is not UTF-8 text (byte {exc.object[exc.start]:#04x} at {exc.start}); save it as UTF-8"
        )
        return None
    import yaml

    try:
        data = yaml.load(text, Loader=_strict_loader())  # a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        said = getattr(exc, "problem", None) or exc
        if "'\\t'" in str(said):  # PyYAML's "found character '\t' that cannot start any token"
            said = f"a tab where YAML takes only spaces; indent with spaces instead ({said})"
        elif (quoted := _unquoted_indicator(exc, text)) is not None:
            said = f"{quoted} ({said})"
        elif (fix := layout_fix(exc, text)) is not None:
            said = f"{fix} ({said})"
        problems.append(f"{path}: malformed YAML{where}: {said}")
        return None
    return _expand(data, env, str(path), problems)


def _unread(path: Path, exc: OSError) -> str:
    """Why a catalog file could not be read, with the fix: a link to nothing (a skill kept elsewhere, its folder not
    mounted or moved) is said as one, naming where it points; a file magsag's user may not read is told to be made
    readable."""
    if path.is_symlink() and not path.exists():
        try:
            points_to = f" to {os.readlink(path)}"
        except OSError:
            points_to = ""
        return (
            f"cannot read: it is a link{points_to}, which does not exist; restore the file it points to, "
            "point the link at the file, or remove the link"
        )
    if isinstance(exc, PermissionError):
        return (
            f"cannot read: {exc.strerror}; make it readable by the user magsag runs as (chmod a+r {path}), or remove it"
        )
    return f"cannot read: {exc.strerror}"


def variables_named(paths: Iterable[Path]) -> frozenset[str]:
    """The variables whose ``${VAR}`` these YAML files' values hold, as :func:`read_yaml` expands them (not those of
    a comment): a variable of the user's own that the catalog reads is read, whatever its name. A file that is not
    YAML (its problem is listed where it is loaded) names every one written in it."""
    import yaml

    names: set[str] = set()
    for path in paths:
        try:
            text = yaml_text(path)
        except (OSError, UnicodeDecodeError):
            continue
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError:
            data = text
        names.update(_named_in(data))
    return frozenset(names)


def _named_in(value: Any) -> set[str]:
    if isinstance(value, str):
        return {m.group(1) for m in _VAR.finditer(value)}
    if isinstance(value, list):
        return set().union(*map(_named_in, value))
    if isinstance(value, dict):
        return set().union(*map(_named_in, value.values()))
    return set()
