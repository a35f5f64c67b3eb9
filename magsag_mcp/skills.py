"""Skills: a prompt template, the payload it takes and the answer it asks for.

A skill's schemas are checked when the catalog loads and compiled once per skill: a call never meets
a broken schema after paying a model, and never recompiles a good one. A payload is checked against its schema
(and the refusal worded) in payload_checks.py; :func:`check_payload` is re-exported here.
"""

from __future__ import annotations

import copy
import json
import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .cache_setting import CacheSetting
from .errors import PayloadError
from .max_tokens_limit import MAX_TOKENS_AT_MOST, max_tokens_refusal
from .payload_checks import _stray_fields, check_payload
from .prompt_values import NoPromptText, json_default, no_prompt_text_where
from .quick_schema import quick_check
from .result_dicts import SkillDict
from .skill_schemas import checked_schema, compile_validator, schema_problem
from .streamed_answer import Unescaping
from .suggest import SKILL_FIELDS_LISTED
from .text import NAME_MAX

__all__ = ["OutputSpec", "PromptSpec", "Skill", "check_payload", "compile_validator", "schema_problem"]


class PromptSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    system: str | None = None
    user: str

    @field_validator("user")
    @classmethod
    def _template_parses(cls, value: str) -> str:
        try:
            fields = [(name, spec, conv) for _, name, spec, conv in string.Formatter().parse(value) if name is not None]
        except ValueError as exc:
            raise ValueError(f"user template does not parse ({exc}); write literal braces as {{{{ and }}}}") from None
        # Payload values are inserted as text: a format, a conversion, an .attribute or an [index] would
        # fail (or do something odd) on the first call instead of here.
        # A prompt showing the answer's JSON shape ({"name": ...}) reads as a field with a format: say how to write it.
        literal = "; for literal braces (a JSON example): write {{ and }}"
        for name, spec, conv in fields:
            if not name.isidentifier():
                raise ValueError(
                    f"user template field {{{name}}} must be a plain payload field name such as {{text}} "
                    f"(no .attribute, [index] or empty {{}}){literal}"
                )
            if spec or conv:
                raise ValueError(
                    f"user template field {{{name}{'!' + conv if conv else ''}{':' + spec if spec else ''}}} has a "
                    f"format; values are inserted as text: write {{{name}}}{literal}"
                )
        return value


def not_a_bool(value: Any) -> Any:
    """A number of the catalog's, unless YAML read a boolean (``true``, ``yes``, ``on``), which pydantic would
    take for 1 or 0."""
    if isinstance(value, bool):
        raise ValueError(f"{str(value).lower()} is not a number (YAML reads true, yes and on as booleans); write one")
    return value


class OutputSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["text", "json"] = "text"
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")

    @field_validator("schema_")
    @classmethod
    def _schema_valid(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        # Each answer is checked against this schema after the model has been paid: a broken one must
        # stop the catalog loading, not fail every call.
        return checked_schema(value, "the model's JSON answers are checked against this schema")

    @model_validator(mode="after")
    def _schema_is_json(self) -> OutputSpec:
        # a schema asks for JSON: said so (list_skills said "text" of a skill whose calls asked for JSON), or refused
        if self.schema_ is not None and self.type == "text":
            if "type" in self.model_fields_set:
                raise ValueError(
                    "output has type text and a schema, which a JSON answer is checked against; write type: json"
                )
            self.type = "json"
        return self


class Skill(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    id: str = Field(pattern=r"^skill\.[a-z0-9][a-z0-9._-]*$", max_length=NAME_MAX)  # a call names it (text.py)
    description: str
    task_type: str
    prompt: PromptSpec
    input_schema: dict[str, Any] | None = None
    output: OutputSpec = Field(default_factory=OutputSpec)
    max_tokens: int = Field(default=1024, gt=0)
    temperature: float | None = Field(default=None, ge=0, le=2)
    data_class: str | None = None
    tier: str | None = None
    #: the answer cache for its calls, ``{ttl: 1h}`` (see answer_cache.py): its route's ``cache`` and a call's
    #: ``cache_ttl`` win over it; None: off unless they turn it on
    cache: CacheSetting | None = None

    @field_validator("max_tokens", "temperature", mode="before")
    @classmethod
    def _not_a_bool(cls, value: Any) -> Any:
        return not_a_bool(value)

    @field_validator("max_tokens")
    @classmethod
    def _at_most_the_limit(cls, value: int) -> int:
        # (a YAML integer is of any size: one of 10**30 was priced by the catalog's checks and sent on every call)
        if value > MAX_TOKENS_AT_MOST:
            raise ValueError(max_tokens_refusal(value, "the skill's max_tokens"))
        return value

    @field_validator("data_class", mode="before")
    @classmethod
    def _names_a_class(cls, value: Any) -> Any:
        # "data_class:" (YAML's null) or "": the key left out, and the skill's data free to go anywhere, unsaid
        if value is None or value == "":
            raise ValueError(
                "data_class is written with no class after it, which would leave the skill's data free to go to any "
                "model; write its class (one a policy's requirements name, e.g. pii_processing), or remove the key"
            )
        return value

    @field_validator("output", mode="before")
    @classmethod
    def _output_shorthand(cls, value: Any) -> Any:
        return {"type": value} if isinstance(value, str) else value

    @field_validator("input_schema")
    @classmethod
    def _schema_valid(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return checked_schema(value, "each call's payload is checked against this schema")

    @model_validator(mode="after")
    def _template_fields_declared(self) -> Skill:
        # A field the template reads that the schema does not declare is a typo ({txt} for text): every
        # call would pass the schema and then fail as "missing field".
        declared = (self.input_schema or {}).get("properties")
        if isinstance(declared, dict) and declared:
            for name in self.field_names:
                if name not in declared:
                    raise ValueError(
                        f"prompt.user uses {{{name}}}, which input_schema.properties does not declare "
                        f"(it declares: {', '.join(sorted(declared))}); fix the name or declare the field"
                    )
        # A field every call must send that the template never reads reaches no model ("Summarise the text.")
        required = (self.input_schema or {}).get("required")
        unread = [r for r in required if r not in self.field_names] if isinstance(required, list) else []
        if unread:
            fields = ", ".join(f"{{{name}}}" for name in unread)
            raise ValueError(
                f"input_schema requires {', '.join(map(repr, unread))}, which prompt.user never reads, so every call "
                f"must send it and no model ever sees it; put {fields} in prompt.user where the model should read it, "
                "or take it out of input_schema.required"
            )
        return self

    # Built once per skill and read on every call, so cached properties (a plain attribute read
    # after the first) rather than pydantic private attributes (a __getattr__ round trip each read).
    @cached_property
    def payload_validator(self) -> Any:
        """The input schema, compiled: once per skill, not once per call."""
        return compile_validator(self.input_schema or {})

    @cached_property
    def payload_quick_check(self) -> Callable[[Any], bool] | None:
        """The input schema's shortcut past jsonschema, when it has the common shape (quick_schema.py)."""
        return quick_check(self.input_schema or {})

    @cached_property
    def output_validator(self) -> Any:
        """The output schema, compiled (None without one). The request carries it to the provider
        (``LLMRequest.json_validator``), so checking an answer neither compiles nor looks it up."""
        if self.output.schema_ is None:
            return None
        return compile_validator(self.output.schema_)

    @cached_property
    def field_names(self) -> tuple[str, ...]:
        """The payload fields the user template reads."""
        names = []
        for _, field_name, _, _ in string.Formatter().parse(self.prompt.user):
            if field_name:
                names.append(field_name.split(".")[0].split("[")[0])
        return tuple(names)

    @cached_property
    def tagged_fields(self) -> tuple[tuple[str, re.Pattern[str]], ...]:
        """The fields the user template puts between a tag and its closing tag (``<text>\\n{text}\\n</text>``), each
        with what in its value is escaped (:func:`escaped`): the ``<`` of that tag, opening or closing (any case, any
        spaces inside the brackets), and the ``&`` of an ``&lt;`` or ``&amp;`` the value holds itself."""
        return tuple((name, re.compile(rf"&(?=lt;|amp;)|<(?=\s*/?\s*(?i:{tag})\s*>)")) for name, tag in self.tag_names)

    @cached_property
    def tag_names(self) -> tuple[tuple[str, str], ...]:
        """Each tagged field (see :attr:`tagged_fields`) and its tag, as a regular expression."""
        parts = list(string.Formatter().parse(self.prompt.user))
        tagged = []
        for i, (before, field_name, _, _) in enumerate(parts):
            opened = _OPENS.search(before)
            after = parts[i + 1][0] if i + 1 < len(parts) else ""
            if field_name and opened is not None and re.match(rf"\s*</{re.escape(opened[1])}>", after):
                name = field_name.split(".")[0].split("[")[0]  # as field_names reads it
                tagged.append((name, re.escape(opened[1])))
        return tuple(tagged)

    @cached_property
    def answer_unescape(self) -> re.Pattern[str] | None:
        """For a text answer of a skill with :attr:`tagged_fields`: what in the answer is the escape of one of their
        values (``&lt;`` before one of the tags, ``&amp;`` before ``lt;`` or ``amp;``), to be written back as the
        caller wrote it (:func:`unescaped`). None for a skill without them, or one that answers JSON."""
        if not self.tag_names or self.output.type == "json":
            return None
        tags = "|".join(tag for _, tag in self.tag_names)
        return re.compile(rf"&(?:lt;(?=\s*/?\s*(?i:{tags})\s*>)|amp;(?=lt;|amp;))")

    @cached_property
    def answer_pending(self) -> re.Pattern[str] | None:
        """For :attr:`answer_unescape`: an ``&`` at the end of a streamed answer's text that may still begin one of
        its escapes (``&``, ``&am``, ``&amp;l``, ``&lt; /te``): held back until what follows says whether it does."""
        if self.answer_unescape is None:
            return None
        names = [re.sub(r"\\(.)", r"\1", tag) for _, tag in self.tag_names]  # (as written: re.escape undone)
        begun = "|".join(re.escape(name[:i]) for name in names for i in range(1, len(name) + 1))
        return re.compile(rf"&(?:a|am|amp|amp;|amp;(?:l|lt|a|am|amp)|l|lt|lt;\s*/?\s*(?i:{begun})?\s*)?\Z")

    def summary(self) -> SkillDict:
        """What a caller needs to choose this skill and fill its payload: ``payload_fields`` are the
        fields its prompt template reads (each is required), ``input_schema`` the rest of the contract: a
        copy, the caller's to change (into a tool definition, say) without changing what calls are checked
        against."""
        return {
            "id": self.id,
            "description": self.description,
            "task_type": self.task_type,
            "tier": self.tier,
            "data_class": self.data_class,
            "output": self.output.type,
            "payload_fields": list(dict.fromkeys(self.field_names)),
            "input_schema": copy.deepcopy(self.input_schema),
        }

    @cached_property
    def call_parts(self) -> CallParts:
        """What every call reads of this skill, gathered once into a plain object: reading a pydantic
        model's attribute goes through its ``__getattr__`` hook, about five times a plain attribute,
        and a call read some 25 of them."""
        out = self.output
        return CallParts(
            self.id,
            self.task_type,
            self.prompt.system,
            self.prompt.user,
            self.field_names,
            self.input_schema,
            self.payload_validator,
            self.payload_quick_check,
            self.max_tokens,
            self.temperature,
            out.type == "json",
            out.schema_,
            self.id.removeprefix("skill.").replace(".", "_").replace("-", "_"),
            self.output_validator,
            self.tagged_fields,
            self.answer_unescape,
            self.answer_pending,
        )

    def render(self, payload: Mapping[str, Any]) -> str:
        """Fill the user template from the payload; a missing field names itself and the skill."""
        return self.call_parts.render(payload)

    def validate_payload(self, payload: Mapping[str, Any]) -> None:
        self.call_parts.validate_payload(payload)


@dataclass(slots=True, frozen=True)
class CallParts:
    """A :class:`Skill`'s fields that every call reads, as plain attributes (:attr:`Skill.call_parts`)."""

    id: str
    task_type: str
    system: str | None
    user: str
    field_names: tuple[str, ...]
    input_schema: dict[str, Any] | None
    payload_validator: Any
    payload_quick_check: Callable[[Any], bool] | None
    max_tokens: int
    temperature: float | None
    json_output: bool
    json_schema: dict[str, Any] | None
    json_schema_name: str
    output_validator: Any
    #: :attr:`Skill.tagged_fields`: a value's own tags are written ``&lt;text>``, so the value cannot end the tagged
    #: data and put what follows where the system prompt says requests are
    tagged_fields: tuple[tuple[str, re.Pattern[str]], ...] = ()
    #: :attr:`Skill.answer_unescape`: the text answer's copies of those escapes, written back as the caller wrote them
    answer_unescape: re.Pattern[str] | None = None
    #: :attr:`Skill.answer_pending`: an escape of those that a streamed answer may have begun, not yet whole
    answer_pending: re.Pattern[str] | None = None

    def render(self, payload: Mapping[str, Any]) -> str:
        if self.input_schema is not None:
            self.validate_payload(payload)
        values: dict[str, str] = {}
        for name in self.field_names:
            if name not in payload:
                known = {*self.field_names, *((self.input_schema or {}).get("properties") or ())}
                missing = [n for n in self.field_names if n not in payload]
                raise PayloadError(
                    f"{self.id}: payload is missing field {name!r} (the prompt template uses it); "
                    f"payload has: {sorted(k for k in payload if k != 'model_config') or 'no fields'}"
                    f"{_stray_fields(payload, known, SKILL_FIELDS_LISTED, missing)}",
                    skill=self.id,
                    field=name,
                )
            values[name] = _as_prompt_text(self.id, name, payload[name])
        for name, tag in self.tagged_fields:
            if "<" in values[name] or "&" in values[name]:
                values[name] = tag.sub(escaped, values[name])
        return self.user.format_map(values)

    def escapes(self, payload: Mapping[str, Any]) -> bool:
        """Whether :meth:`render` escapes anything in ``payload``'s tagged values (one it has rendered): where it did
        not, the model saw the caller's text as written, and an escape-like ``&lt;/text>`` or ``&amp;lt;`` in its
        answer is its own, not to be written back (:meth:`answer_text`)."""
        return any(tag.search(_as_prompt_text(self.id, name, payload[name])) for name, tag in self.tagged_fields)

    def answer_text(self, text: str) -> str:
        """A text answer with the escapes of :meth:`render` written back (see :func:`unescaped`)."""
        if self.answer_unescape is None or "&" not in text:
            return text
        return self.answer_unescape.sub(unescaped, text)

    def answer_stream(self, progress: Any) -> Unescaping:
        """The progress callback of one attempt, its text deltas written back as :meth:`answer_text` writes the
        final text: what the caller's progress shows of the answer is the answer's."""
        return Unescaping(progress, self.answer_unescape, self.answer_pending, unescaped)  # type: ignore[arg-type]

    def validate_payload(self, payload: Mapping[str, Any]) -> None:
        data = payload
        if "model_config" in payload or not isinstance(payload, dict):
            data = dict(payload)  # a copy without routing's key (a copy, not a comprehension: a frame less)
            data.pop("model_config", None)
        check_payload(
            self.id,
            self.input_schema,
            self.payload_validator,
            data,
            quick=self.payload_quick_check,
            listed=SKILL_FIELDS_LISTED,
            skill=self.id,
        )


def _as_prompt_text(skill_id: str, name: str, value: Any) -> str:
    """A payload field as the template inserts it: text as it is, anything else as JSON."""
    if isinstance(value, str):
        return value
    try:
        # allow_nan=False: a NaN or an infinity (an MCP client's or a Python caller's float, a pandas value) was written
        # into the prompt as NaN, which no JSON has, and the model asked to read it
        return json.dumps(value, ensure_ascii=False, default=json_default, allow_nan=False)
    except NoPromptText as exc:
        raise PayloadError(
            f"{skill_id}: payload field {name!r} holds {exc.what}{no_prompt_text_where(value, name)}, {exc.why}; "
            f"{exc.fix}",
            skill=skill_id,
            field=name,
        ) from None
    except ValueError as exc:
        if "Out of range float values" not in str(exc):  # (a structure that contains itself)
            raise _unwritable(skill_id, name, exc) from None
        raise PayloadError(
            f"{skill_id}: payload field {name!r} holds NaN or an infinity, which JSON has no value for; give null, "
            "or the value as text",
            skill=skill_id,
            field=name,
        ) from None
    except TypeError as exc:  # a tuple as a key
        raise _unwritable(skill_id, name, exc) from None
    except RecursionError:  # (a Python caller's structure past the interpreter's depth: it failed as a bug of ours)
        raise PayloadError(
            f"{skill_id}: payload field {name!r} is nested too deeply to write into the prompt as JSON; flatten it, "
            "or give it as text",
            skill=skill_id,
            field=name,
        ) from None


def _unwritable(skill_id: str, name: str, exc: Exception) -> PayloadError:
    return PayloadError(
        f"{skill_id}: payload field {name!r} cannot be written into the prompt as JSON ({exc}); "
        "give it as text, or as JSON-like data (mappings with text keys, lists, numbers, text)",
        skill=skill_id,
        field=name,
    )


def escaped(found: re.Match[str]) -> str:
    """A tagged value's escape, one character at a time: the ``<`` of its own tag is ``&lt;``, so that it cannot end
    the tagged data, and the ``&`` of an ``&lt;`` or ``&amp;`` it holds itself is ``&amp;``, so that the answer's copy
    reads back as the caller wrote it (``&lt;/text>`` as written, ``</text>`` as ``<``): without it, a redaction
    returned ``&lt;/text>`` where the caller's text said ``</text>``."""
    return "&amp;" if found.group() == "&" else "&lt;"


def unescaped(found: re.Match[str]) -> str:
    """:func:`escaped` undone in an answer that copies the value: ``&lt;`` before the tag is ``<``, ``&amp;`` before
    ``lt;`` or ``amp;`` is ``&``, read left to right once."""
    return "<" if found.group() == "&lt;" else "&"


#: a tag opened at the end of a user template's text before a field: ``<text>`` and any spaces after it
_OPENS = re.compile(r"<([A-Za-z][\w.-]*)>\s*\Z")
