"""Validate JSON against the vendors' own OpenAPI specs (``shared/specs`` beside the repository).

OpenAPI 3.0 documents (Gemini, Azure) are translated to JSON Schema 2020-12 first: ``nullable``
becomes a ``null`` type, boolean ``exclusiveMinimum``/``Maximum`` become numbers.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

ROOT = Path(__file__).resolve().parents[2]
FILES = {
    "openai": "openai.yaml",
    "anthropic": "anthropic.json",
    "gemini": "gemini.json",
    "azure": "azure-openai-2024-10-21.json",
}


def specs_dir() -> Path:
    for candidate in (ROOT.parent / "shared" / "specs", Path("/work/shared/specs")):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("the vendors' API specs are expected in ../shared/specs beside the repository")


def _openapi30(node: Any) -> Any:
    if isinstance(node, list):
        return [_openapi30(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _openapi30(v) for k, v in node.items()}
    for bound, exclusive in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
        if isinstance(out.get(exclusive), bool):
            if out.pop(exclusive) and bound in out:
                out[exclusive] = out.pop(bound)
    if out.pop("nullable", False):
        kind = out.get("type")
        if isinstance(kind, str):
            out["type"] = [kind, "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


class SpecValidator:
    def __init__(self, name: str) -> None:
        path = specs_dir() / FILES[name]
        text = path.read_text()
        doc = (
            yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
            if path.suffix == ".yaml"
            else json.loads(text)
        )
        if str(doc.get("openapi", "")).startswith("3.0"):
            doc = _openapi30(doc)
        self.doc = doc
        self.registry = Registry().with_resource("urn:spec", Resource(contents=doc, specification=DRAFT202012))
        self._validators: dict[str, jsonschema.Draft202012Validator] = {}

    def schema(self, name: str) -> dict[str, Any]:
        return self.doc["components"]["schemas"][name]

    def errors(self, schema_name: str, instance: Any) -> list[str]:
        validator = self._validators.get(schema_name)
        if validator is None:
            self.schema(schema_name)  # KeyError for a misspelt schema name
            validator = jsonschema.Draft202012Validator(
                {"$ref": f"urn:spec#/components/schemas/{schema_name}"}, registry=self.registry
            )
            self._validators[schema_name] = validator
        return [
            f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message[:300]}"
            for e in validator.iter_errors(instance)
        ]

    def assert_valid(self, schema_name: str, instance: Any) -> None:
        problems = self.errors(schema_name, instance)
        assert not problems, f"{schema_name}: {problems}"


@cache
def spec_validator(name: str) -> SpecValidator:
    return SpecValidator(name)
