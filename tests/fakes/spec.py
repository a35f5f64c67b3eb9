"""Validate JSON against the vendors' own OpenAPI documents in ``shared/specs``.

    spec_validator("openai").assert_valid("CreateChatCompletionRequest", body)

The documents are OpenAPI 3.0 (Azure, Gemini) or 3.1 (OpenAI, Anthropic); the OpenAI file still carries
3.0 idioms in places. Every document is translated to JSON Schema 2020-12 once: ``nullable: true`` adds
``null`` to the allowed types and boolean ``exclusiveMinimum``/``exclusiveMaximum`` become numeric bounds.
OpenAPI-only keywords (``discriminator``, ``example``, ``x-*``) are left alone: JSON Schema ignores
unknown keywords, and removing them by name could delete a *property* of that name.

Parsing the 3 MB OpenAI YAML takes seconds, so the translated document is cached as JSON in a temp
directory, keyed by the file's sha256 and the translation's version: later sessions load it in ~0.1 s.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import os
import tempfile
import threading
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

__all__ = ["SPEC_FILES", "SpecValidator", "spec_validator", "specs_dir", "load_spec"]

SPEC_FILES = {
    "openai": "openai.yaml",
    "anthropic": "anthropic.json",
    "gemini": "gemini.json",
    "azure": "azure-openai-2024-10-21.json",
}
#: bump when :func:`to_json_schema` changes, so stale cache entries are not reused
_TRANSLATION_VERSION = "3"
_BASE_URI = "urn:magsag-spec:"
_REPO = Path(__file__).resolve().parents[2]


def specs_dir() -> Path:
    """``$MAGSAG_SPECS_DIR``, else ``shared/specs`` beside the repository, else ``/work/shared/specs``."""
    candidates = [Path(p) for p in (os.environ.get("MAGSAG_SPECS_DIR"),) if p]
    candidates += [_REPO.parent / "shared" / "specs", Path("/work/shared/specs")]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        "the vendors' API specs were not found; set MAGSAG_SPECS_DIR or put them in ../shared/specs "
        f"(looked in: {', '.join(str(c) for c in candidates)})"
    )


def _cache_dir() -> Path:
    return Path(os.environ.get("MAGSAG_SPEC_CACHE") or Path(tempfile.gettempdir()) / "magsag-mcp-spec-cache")


def to_json_schema(node: Any) -> Any:
    """OpenAPI 3.0 schema idioms -> JSON Schema 2020-12 (recursively, returning a new tree)."""
    if isinstance(node, list):
        return [to_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: to_json_schema(v) for k, v in node.items()}
    for bound, exclusive in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
        flag = out.get(exclusive)
        if isinstance(flag, bool):  # 3.0: a flag on `minimum`; 2020-12: the bound itself
            del out[exclusive]
            if flag and bound in out:
                out[exclusive] = out.pop(bound)
    nullable = out.get("nullable")
    if isinstance(nullable, bool):  # a *property* named "nullable" would hold a schema (a dict)
        del out["nullable"]
        if nullable:
            out = _allow_null(out)
    return out


def _allow_null(schema: dict[str, Any]) -> dict[str, Any]:
    kind = schema.get("type")
    if isinstance(kind, str) and "$ref" not in schema and not any(k in schema for k in ("allOf", "anyOf", "oneOf")):
        schema = {**schema, "type": [kind, "null"]}
        if "enum" in schema and None not in schema["enum"]:
            schema["enum"] = [*schema["enum"], None]
        return schema
    if isinstance(kind, list):
        schema = {**schema, "type": [*kind, "null"] if "null" not in kind else kind}
        if "enum" in schema and None not in schema["enum"]:
            schema["enum"] = [*schema["enum"], None]
        if not any(k in schema for k in ("$ref", "allOf", "anyOf", "oneOf")):
            return schema
    # `$ref`/combinators: null must be accepted *instead of* the whole schema, not alongside it.
    return {"anyOf": [schema, {"type": "null"}]}


#: Known faults in the published documents, corrected narrowly: (spec, JSON pointer, value found, value meant,
#: why). A correction applies only while the document still holds exactly the faulty value.
ERRATA: list[tuple[str, str, Any, Any, str]] = [
    (
        "azure",
        "/components/schemas/ResponseFormatJsonSchema/properties/json_schema/required",
        ["type", "name"],
        ["name"],
        "requires a `type` that json_schema does not declare; OpenAI's spec of the same object requires only "
        "`name`, and Azure accepts OpenAI's shape",
    ),
    (
        "openai",
        "/components/schemas/InputItem/oneOf/0",
        {"$ref": "#/components/schemas/EasyInputMessage"},
        {
            "allOf": [
                {"$ref": "#/components/schemas/EasyInputMessage"},
                {"not": {"$ref": "#/components/schemas/InputMessage"}},
            ]
        },
        "a user message whose content is a list of parts (text and an input_image, as OpenAI's vision guide writes "
        "one) is both an EasyInputMessage and an Item's InputMessage, so no input under the oneOf was valid; the "
        "discriminator (type: message) names either: such a message is read as the InputMessage alone",
    ),
]


def _apply_errata(name: str, doc: dict[str, Any]) -> None:
    for spec, pointer, found, meant, _why in ERRATA:
        if spec != name:
            continue
        *parents, leaf = pointer.lstrip("/").split("/")
        node: Any = doc
        for part in parents:
            node = _step(node, part)
        key: Any = int(leaf) if isinstance(node, list) and leaf.isdigit() else leaf
        if _step(node, leaf) == found:
            node[key] = meant


def _step(node: Any, part: str) -> Any:
    """``node``'s member ``part`` (a key, or a list's index), or None."""
    if isinstance(node, dict):
        return node.get(part)
    if isinstance(node, list) and part.isdigit() and int(part) < len(node):
        return node[int(part)]
    return None


_load_lock = threading.Lock()


def load_spec(name: str) -> dict[str, Any]:
    """The translated document for ``name`` (one of :data:`SPEC_FILES`), from the JSON cache when fresh."""
    if name not in SPEC_FILES:
        raise KeyError(f"unknown spec {name!r}; known: {', '.join(SPEC_FILES)}")
    path = specs_dir() / SPEC_FILES[name]
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    cached = _cache_dir() / f"{name}-{digest[:32]}-v{_TRANSLATION_VERSION}.json"
    with _load_lock:
        try:
            return json.loads(cached.read_bytes())
        except (OSError, ValueError):
            pass
        if path.suffix in (".yaml", ".yml"):
            loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
            doc = yaml.load(raw, Loader=loader)
        else:
            doc = json.loads(raw)
        # YAML has dates and integer keys (response codes) that JSON has not: normalise through JSON text
        # so a freshly parsed document and a cached one are the same.
        doc = to_json_schema(doc)
        _apply_errata(name, doc)
        text = json.dumps(doc, default=_json_default)
        _write_cache(cached, text)
        return json.loads(text)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime.date | datetime.datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} in a spec document cannot be expressed as JSON")


def _write_cache(path: Path, text: str) -> None:
    """Write-then-rename, so a parallel session never reads a half-written file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    except OSError:
        return  # the cache is an optimisation: a read-only temp dir only costs time
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


class SpecValidator:
    """Validates instances against ``#/components/schemas/<name>`` of one vendor's document."""

    def __init__(self, name: str, document: dict[str, Any] | None = None) -> None:
        self.name = name
        self.doc = document if document is not None else load_spec(name)
        self.uri = f"{_BASE_URI}{name}"
        resource = Resource(contents=self.doc, specification=DRAFT202012)
        self.registry: Registry = Registry().with_resource(self.uri, resource)
        self._validators: dict[str, jsonschema.Draft202012Validator] = {}

    @property
    def schema_names(self) -> list[str]:
        return sorted(self.doc.get("components", {}).get("schemas", {}))

    def schema(self, schema_name: str) -> dict[str, Any]:
        try:
            return self.doc["components"]["schemas"][schema_name]
        except KeyError:
            raise KeyError(f"{self.name} spec has no components/schemas/{schema_name}") from None

    def validator(self, schema_name: str) -> jsonschema.Draft202012Validator:
        validator = self._validators.get(schema_name)
        if validator is None:
            self.schema(schema_name)  # a clear KeyError for a misspelt name
            ref = {"$ref": f"{self.uri}#/components/schemas/{schema_name}"}
            validator = jsonschema.Draft202012Validator(ref, registry=self.registry)
            self._validators[schema_name] = validator
        return validator

    def errors(self, schema_name: str, instance: Any) -> list[str]:
        """Readable problems, one per failed keyword: ``messages/0/role: 'robot' is not one of [...]``.

        For a failed ``anyOf``/``oneOf`` the branch that came closest is reported (jsonschema's
        ``best_match`` heuristic) so the message names the real fault rather than "is not valid under any".
        """
        problems = []
        for error in sorted(self.validator(schema_name).iter_errors(instance), key=lambda e: list(e.path)):
            text = f"{_where(error)}: {_short(error.message)}"
            closest = _closest(error)
            if closest is not error:
                text += f" (closest branch: {_where(closest)}: {_short(closest.message, 200)})"
            if text not in problems:  # allOf parts often restate a property: say it once
                problems.append(text)
        return problems

    def assert_valid(self, schema_name: str, instance: Any) -> None:
        problems = self.errors(schema_name, instance)
        if problems:
            detail = "\n  ".join(problems)
            raise AssertionError(f"not a valid {self.name} {schema_name}:\n  {detail}")


def _closest(error: jsonschema.ValidationError) -> jsonschema.ValidationError:
    """For a failed anyOf/oneOf: the innermost error of the branch that failed least.

    The branch with the fewest errors is the one the author meant (``role: user`` with a bad ``content``
    fails the *user* branch once, and every other branch on ``role`` too).
    """
    while error.context:
        branches: dict[Any, list[jsonschema.ValidationError]] = {}
        for sub in error.context:
            branches.setdefault(sub.schema_path[0] if sub.schema_path else None, []).append(sub)
        errors = min(branches.values(), key=lambda errs: (len(errs), -max(len(e.path) for e in errs)))
        error = max(errors, key=lambda e: len(e.path))
    return error


def _where(error: jsonschema.ValidationError) -> str:
    return "/".join(str(p) for p in error.absolute_path) or "(root)"


def _short(message: str, limit: int = 300) -> str:
    return message if len(message) <= limit else message[:limit] + "..."


@cache
def spec_validator(name: str) -> SpecValidator:
    """One validator per spec per process (building one parses the document)."""
    return SpecValidator(name)
