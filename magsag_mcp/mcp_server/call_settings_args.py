"""The settings a call of a skill is given besides its payload, shared by invoke_skill, explain_route and
check_budget: the guide's ``model_config`` (:class:`ModelConfigArg`: a model, its provider, fallbacks as names or
:class:`TargetArg`, sampling, a :class:`ResponseFormatArg`, tools) and its ``context`` (:class:`ContextArg`)."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import ConfigDict, Field, StrictBool

from ..settings import MAXIMA
from .argument_parts import MODEL_LENGTH, NOT_BOOL_NUMBER, MaxTokens, ModelName, _In
from .provider_names import BASE_URL_FIELD, PROVIDER_FIELD, Provider, provider_choices, provider_value_hint


class _ProviderRefusals:
    """What a model holding a ``provider`` field says of a provider it refuses (see :mod:`.arguments`'s hooks)."""

    @staticmethod
    def value_hint(field: str, value: Any) -> str | None:
        """What a provider it refuses was written for: the name meant, or compat."""
        return provider_value_hint(field, value)

    @staticmethod
    def value_choices(field: str, value: Any) -> str | None:
        """The providers a refusal offers: no test-only one."""
        return provider_choices(field, value)


class TargetArg(_ProviderRefusals, _In):
    provider: Provider = PROVIDER_FIELD
    model: str = Field(
        json_schema_extra=MODEL_LENGTH, description="e.g. gpt-4o-mini, or anthropic:claude-3-5-haiku-20241022"
    )
    base_url: str | None = BASE_URL_FIELD
    params: dict[str, Any] | None = Field(
        None,
        description="vendor parameters for this target",
        repr=False,  # (a credential param, api_key or gateway_auth, was shown whole: see Target.__repr__)
    )

    @classmethod
    def unknown_key_hint(cls, key: str, value: Any = None) -> str | None:
        """A vendor's parameter (top_p) goes in params (see :mod:`.arguments`)."""
        from .arguments import vendor_parameter_hint

        return vendor_parameter_hint(key, [f.alias or name for name, f in cls.model_fields.items()])


# OpenAI's `json_schema` object, which every provider reads: the schema goes under `schema` (no docstring: it
# would be the definition's description, and keep it from being written where it is used)
class JsonSchemaArg(_In):
    name: str | None = Field(None, description="the schema's name, e.g. analysis")
    description: str | None = Field(None, description="what the answer is, told to the model")
    # `schema` is a (deprecated) method of pydantic's BaseModel, hence the alias
    schema_: dict[str, Any] | None = Field(None, alias="schema", description="the JSON Schema the answer must fit")
    strict: StrictBool | None = Field(None, description="true: the vendor holds the answer to the schema exactly")

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @staticmethod
    def unknown_key_hint(key: str, value: Any = None) -> str | None:
        """What an unknown key here means (see :mod:`.arguments`): a schema keyword is the schema misplaced."""
        from ..suggest import SCHEMA_KEYWORDS

        if key in SCHEMA_KEYWORDS:
            return 'a schema\'s own key: put the schema under "schema": {"name": ..., "schema": {...}}'
        return None


class ResponseFormatArg(_In):
    #: the key a value written in this object's place means (see :mod:`.arguments`): "json_object" is its type
    bare_value_key: ClassVar[str] = "type"
    type: Literal["text", "json_object", "json_schema"] = Field(
        description="text; json_object: any JSON object; json_schema: one that fits json_schema.schema"
    )
    json_schema: JsonSchemaArg | None = Field(
        None, description='for type json_schema: {"name", "schema": {...}}; a name alone asks for any JSON object'
    )

    @staticmethod
    def value_hint(field: str, value: Any) -> str | None:
        """The type a refused one was written for (``json``: json_object), and what each type asks for (see
        :mod:`.arguments`)."""
        from ..response_formats import response_format_hint

        return response_format_hint(value) if field == "type" else None


# The guide's `payload["model_config"]`: explicit choices that override the routing policy.
class ModelConfigArg(_ProviderRefusals, _In):
    bare_value_key: ClassVar[str] = "model"  # model_config="gpt-4o" (see :mod:`.arguments`)
    model: str | None = Field(
        None,
        json_schema_extra=MODEL_LENGTH,
        description="e.g. gpt-4o, anthropic:claude-3-5-sonnet-20241022, fake:echo",
    )
    provider: Provider = PROVIDER_FIELD
    base_url: str | None = BASE_URL_FIELD
    params: dict[str, Any] | None = Field(
        None,
        description="vendor parameters passed through",
        repr=False,  # (a credential param, api_key or gateway_auth, was shown whole: see Target.__repr__)
    )
    fallbacks: list[ModelName | TargetArg] | None = Field(None, description="targets to try after model, in order")
    system: str | None = Field(None, description="the system prompt, in place of the skill's")
    max_tokens: MaxTokens | None = Field(
        None, description="the most tokens the answer may take (default: the skill's); its worst case is reserved"
    )
    temperature: Annotated[float, Field(ge=0, le=2), NOT_BOOL_NUMBER] | None = Field(
        None, description="sampling temperature: higher is more varied"
    )
    stop: str | list[str] | None = Field(None, description="text (or texts) that ends the answer")
    response_format: ResponseFormatArg | None = Field(None, description='e.g. {"type": "json_object"}')
    tools: list[dict[str, Any]] | None = Field(
        None,
        description="function tools, each with a name of its own: OpenAI's {type: function, function: {name, "
        "parameters}}, Anthropic's {name, input_schema} or MCP's {name, description, inputSchema}",
    )
    tool_choice: Literal["auto", "none", "required"] | dict[str, Any] | None = Field(
        None, description='"auto", "none", "required", {"name": fn} or {"type": "function", "function": {"name": fn}}'
    )
    messages: list[dict[str, Any]] | None = Field(
        None,
        description="further turns: {role: user|assistant, content}; after tool_calls, the assistant turn "
        "{role: assistant, tool_calls: [as returned]}, then per call {role: tool, tool_call_id, content} (and "
        "is_error: true when the tool failed); a user turn's or a tool result's content may hold pictures (PNG, "
        "JPEG, GIF, WebP) beside its text: {type: image_url, image_url: {url: 'data:image/png;base64,...' or an "
        "https URL}}, or MCP's "
        "ImageContent {type: image, data, mimeType}",
    )
    # strict, as the schema and the Python API have it: lax, "yes", "on", 1 and 1.0 were true ("no" and 0 false)
    stream: StrictBool | None = Field(
        None,
        description="true: the vendor streams the answer (the result is the same); a call asking for progress is "
        "streamed anyway",
    )

    @classmethod
    def unknown_key_hint(cls, key: str, value: Any = None) -> str | None:
        """A key of the context goes there, a vendor's parameter (top_p) in params (see :mod:`.arguments`)."""
        if key in ContextArg.model_fields:
            return f'it goes in context: {{"context": {{"{key}": ...}}}}'
        from .arguments import vendor_parameter_hint

        return vendor_parameter_hint(key, [f.alias or name for name, f in cls.model_fields.items()])

    def as_payload(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True, by_alias=True)


# The guide's call context (``context={"preferred_model": ...}``): what a call declares besides model_config.
class ContextArg(_In):
    preferred_model: str | None = Field(
        None,
        json_schema_extra=MODEL_LENGTH,
        description="the model to call, e.g. gpt-4o-mini, in routing's place: its only target unless "
        "model_config.fallbacks names more",
    )
    tier: str | None = Field(None, description="a cost tier of the routing policy, e.g. economy")
    data_class: str | None = Field(None, description="the data's class, e.g. pii_processing: its policy applies too")
    cache_ttl: float | None = Field(
        None,
        ge=0,
        le=365 * 86400,
        description="seconds an answer in the answer cache may be old to answer this same request again, free "
        "(0: not from the cache, nor stored); unset: the route's cache setting, off by default",
    )
    pause_continuations: int | None = Field(
        None,
        ge=0,
        le=int(MAXIMA["MAGSAG_PAUSE_CONTINUATIONS"]),
        description="how many requests may continue a turn the vendor paused (Claude's pause_turn, a long web "
        "search), each an attempt of its own, billed; 0: none; unset: MAGSAG_PAUSE_CONTINUATIONS (default 3)",
    )

    @staticmethod
    def unknown_key_hint(key: str, value: Any = None) -> str | None:
        """``llm_overrides`` (the Python API's context key) is the ``model_config`` argument here, misspelt too (as the
        CLI and Python refuse it: ``llm_override``). Another key is a routing key misspelt only as the CLI and Python
        say (:func:`~..payload_warnings.misspelt_context_key`): difflib's closeness here said "did you mean 'tier'?"
        of ``time`` and "'preferred_model'?" of ``preferred_language``, words of their own that Python passes on."""
        from ..payload_warnings import misspelt_context_key, one_of_many, plural_of

        meant = misspelt_context_key(key)
        if key == "llm_overrides" or key == "model_config" or meant == "llm_overrides":
            return 'its keys go in the model_config argument: {"model_config": {"model": ...}}'
        if meant is not None:
            # a plural (preferred_models, data_classes): "did you mean 'preferred_model'?" alone, and the list was
            # refused next as no model name. The fix names the caller's own models, as Python's does: it showed
            # placeholders (gpt-4o, claude-3-5-sonnet-20241022), whatever was sent
            many = one_of_many(meant, value, mcp=True) if plural_of(key, meant, value) else None
            return f"did you mean {meant!r}?" + (f" {many}" if many else "")
        return (
            "a key of its own: this context holds only what routing reads (preferred_model, tier, data_class); "
            "what the skill reads goes in payload"
        )

    @staticmethod
    def value_type_hint(key: str, value: Any) -> str | None:
        """A list where a key takes one value (``preferred_model: [a, b]``): what to write for several, as Python
        says (see :mod:`.arguments`); "expected a string, got an array" alone said nothing of fallbacks."""
        from ..payload_warnings import one_of_many

        return one_of_many(key, value, mcp=True) if isinstance(value, list) else None
