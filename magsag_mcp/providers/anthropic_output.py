"""Claude's structured outputs: a JSON answer's schema as ``output_config.format`` (``{"type": "json_schema",
"schema": ...}``), which constrains the answer's text to the schema.

A call with a JSON schema goes to Claude as a forced tool whose input is the document (:mod:`.anthropic`), which every
Claude takes, except where no tool can be forced: the caller's own tools in the call (the model must stay free to call
them), thinking on (the API takes no forced tool then), a model that refuses a forced tool. There the schema was only
asked for in the system prompt, and the answer checked against it. Claude Opus 4.5, Sonnet 4.5, Haiku 4.5 and the
models after them take the schema as ``output_config.format`` ("generally available ... for Claude Opus 4.6, Claude
Sonnet 4.6, Claude Sonnet 4.5, Claude Opus 4.5 and Claude Haiku 4.5"), beside tools and thinking alike; so it goes to
them, where the schema keeps to what structured outputs take (:func:`output_format`). It is incompatible with a prefill.
"""

from __future__ import annotations

from typing import Any

from .anthropic_samplers import claude_version

__all__ = ["output_format", "takes_output_format"]

#: the keywords structured outputs take (besides ``additionalProperties: false``, which every object must say): the
#: types, enum and const, anyOf and allOf, local references, required, a string's format, and annotations. A numeric
#: or a length constraint, a pattern, an array's item counts, a recursive schema are not taken: such a schema keeps to
#: the prompt, as before
_TAKEN = frozenset(
    {
        "type", "properties", "required", "items", "enum", "const", "anyOf", "allOf", "$ref", "$defs", "definitions",
        "format", "title", "description", "default", "examples", "$schema", "$comment",
    }
)  # fmt: skip
#: a string's formats structured outputs take
_FORMATS = frozenset(
    {"date-time", "time", "date", "duration", "email", "hostname", "uri", "ipv4", "ipv6", "uuid"}
)  # fmt: skip


def takes_output_format(model: str) -> bool:
    """Whether ``model`` takes ``output_config.format``: Claude 4.5 and later, by the version in its name (a name that
    says none, such as a gateway's alias: no, and the schema goes in the prompt as before)."""
    version = claude_version(model)
    return version is not None and version >= (4, 5)


def output_format(schema: dict[str, Any]) -> dict[str, Any] | None:
    """``output_config.format`` for ``schema``, an object's: each object of it closed (``additionalProperties: false``,
    which the API requires of every object; the answer is still checked against the schema as given), or None for a
    schema with what structured outputs do not take (:data:`_TAKEN`: a bound, a length, a pattern; an object open to
    other keys; a reference to itself), or no object at its root, which keeps to the prompt."""
    if schema.get("type") != "object":
        return None
    closed = _Closer(schema).closed(schema)
    return None if closed is None else {"type": "json_schema", "schema": closed}


class _Closer:
    """:func:`output_format`'s walk: each definition checked once (a reference to it after that is looked up), and one
    that refers back to itself, through any others, refused."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self.definitions = {
            f"#/{table}/{name}": value
            for table in ("$defs", "definitions")
            if isinstance(schema.get(table), dict)
            for name, value in schema[table].items()
        }
        self.checked: dict[str, bool] = {}
        self.open: set[str] = set()

    def _taken(self, ref: Any) -> bool:
        if not isinstance(ref, str) or ref not in self.definitions or ref in self.open:
            return False  # (no such definition, or one reached again through itself: a recursive schema)
        if ref not in self.checked:
            self.open.add(ref)
            self.checked[ref] = self.closed(self.definitions[ref]) is not None
            self.open.discard(ref)
        return self.checked[ref]

    def closed(self, schema: Any) -> Any:
        if not isinstance(schema, dict):
            return None
        if "$ref" in schema and not self._taken(schema["$ref"]):
            return None
        out: dict[str, Any] = {}
        for key, value in schema.items():
            if key == "additionalProperties":
                if value is not False:
                    return None  # an object of other keys, which structured outputs cannot say
                continue
            if key not in _TAKEN or (key == "format" and value not in _FORMATS):
                return None
            if key in ("properties", "$defs", "definitions"):
                if not isinstance(value, dict):
                    return None
                subs = {name: self.closed(sub) for name, sub in value.items()}
                if any(sub is None for sub in subs.values()):
                    return None
                out[key] = subs
            elif key in ("items", "anyOf", "allOf"):
                listed = [value] if key == "items" else value
                if not isinstance(listed, list) or not listed:
                    return None
                closed = [self.closed(sub) for sub in listed]
                if any(sub is None for sub in closed):
                    return None
                out[key] = closed[0] if key == "items" else closed
            else:
                out[key] = value
        kind = schema.get("type")
        if kind == "object" or (isinstance(kind, list) and "object" in kind) or "properties" in schema:
            if not schema.get("properties"):
                return None  # an object of any keys, which closed would be the empty object
            out["additionalProperties"] = False
        return out
