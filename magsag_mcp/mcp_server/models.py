"""The MCP tools' argument and result models: their JSON Schemas are what a client sees.

Descriptions are short on purpose: every tool schema is sent to the client's model and costs its
context. The result models mirror what the service returns (``InvokeResult.to_dict()``, the
ledger's summaries, the governance budget report); unknown keys are dropped, so a richer service
answer never breaks a published output schema. Money is a decimal *string* in USD (exact) or
``null`` when the price is unknown, never a float. The arguments are here; the results are in :mod:`.call_models`
(invoke_skill, explain_route, list_skills), :mod:`.ledger_models` and :mod:`.budget_results`, and named here too.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

from ..status_filter import STATUSES_LISTED, StatusFilter
from ..text import MODEL_MAX, NAME_MAX, PATTERN_MAX, TIME_TEXT_MAX
from .call_models import CacheExplainedOut as CacheExplainedOut
from .call_models import CandidateOut as CandidateOut
from .call_models import ErrorOut as ErrorOut
from .call_models import ExplainRouteResult as ExplainRouteResult
from .call_models import InvokeSkillResult as InvokeSkillResult
from .call_models import ListSkillsResult as ListSkillsResult
from .call_models import PlannedTargetOut as PlannedTargetOut
from .call_models import PolicyCheckOut as PolicyCheckOut
from .call_models import SkillOut as SkillOut
from .call_models import SkippedOut as SkippedOut
from .call_models import ToolCallOut as ToolCallOut
from .call_models import TraceAttemptOut as TraceAttemptOut
from .call_models import TraceOut as TraceOut
from .call_models import UsageOut as UsageOut
from .ledger_models import DailyUsageResult as DailyUsageResult
from .ledger_models import QueryRunsResult as QueryRunsResult
from .ledger_models import SearchUsageResult as SearchUsageResult
from .ledger_models import UsageSummaryResult as UsageSummaryResult
from .provider_names import BASE_URL_FIELD, PROVIDER_FIELD, Provider
from .provider_names import PROVIDER_ALIASES as PROVIDER_ALIASES
from .provider_names import PROVIDERS as PROVIDERS
from .summary_top import TOP_DEFAULT, TOP_MAX


def _not_bool(kind: str, expected: str) -> Any:
    def check(value: Any) -> Any:
        if isinstance(value, bool):  # lax, true was the number 1 (offset=true skipped a run without a word)
            raise PydanticCustomError(kind, f"Input should be a valid {expected}")
        return value

    return BeforeValidator(check)


#: JSON numbers, or numbers written as text, never a boolean (which the schema refuses too)
NOT_BOOL_INT, NOT_BOOL_NUMBER = _not_bool("int_type", "integer"), _not_bool("float_type", "number")
Int = Annotated[int, NOT_BOOL_INT]

# The service's limits on a name (an agent, a run id) and a model's name, said in the schema for a client's validator
# and not checked by pydantic: its refusal ("string should have at most 200 characters") took the place of the
# service's, which says the length given, what the text is for and how to fix it (as search_usage's pattern's).
# (A model's name is measured once stripped, so a client's validator refuses a name padded past MODEL_MAX that the
# server takes: no caller means one.)
NAME_LENGTH: dict[str, Any] = {"maxLength": NAME_MAX}
MODEL_LENGTH: dict[str, Any] = {"maxLength": MODEL_MAX}
#: a time written as text (unix seconds are a number, which a maxLength leaves alone)
TIME_LENGTH: dict[str, Any] = {"maxLength": TIME_TEXT_MAX}
#: a fallback written as text, a model's name (or provider:model), as long as one given as model
ModelName = Annotated[str, WithJsonSchema({"type": "string", **MODEL_LENGTH})]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Args(ArgModelBase):
    """A tool's arguments: the SDK validates calls against this model and calls the tool with its fields."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _null_is_left_out(cls, data: Any) -> Any:
        """An optional argument sent as null is one left out, as its schema has it (see schema_compaction): many
        clients send every argument they leave unset as null. Those whose default is None took it already;
        ``limit=null`` or ``filters=null`` was refused ("expected an integer, got null"). A required one still is."""
        if not isinstance(data, dict) or None not in data.values():
            return data
        defaulted = {
            key
            for name, f in cls.model_fields.items()
            if not f.is_required() and (f.default_factory is not None or f.default is not None)
            for key in (name, f.alias or name)
        }
        return {k: v for k, v in data.items() if v is not None or k not in defaulted}


# --- arguments -------------------------------------------------------------------------------


class TargetArg(_In):
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
class ModelConfigArg(_In):
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
    max_tokens: Annotated[int, Field(gt=0), NOT_BOOL_INT] | None = Field(
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
        le=20,
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


#: (Python's jsonschema reads this ``$`` as also matching before a final newline, so it alone takes "skill.x\n",
#: which the server refuses, ``$`` the end in its engine as in ECMA-262's. Left so: no pattern of JSON Schema's regex
#: subset refuses a final newline in Python, and a ``not`` keyword would get every tool refused by Gemini's function
#: declarations (tests/test_mcp_schema_vendors.py); the server refuses it, saying why.)
SKILL_ID_PATTERN = r"^skill\.[a-z0-9][a-z0-9._-]*$"
# a name a call records is at most NAME_MAX long: said in the schema, so that a client knows it (checked by pydantic
# here, where the pattern already refuses text that is not Unicode; elsewhere a maxLength pydantic leaves to the
# service, whose message says the length given, or where the text is broken: see NAME_LENGTH)
SKILL_ID = Field(pattern=SKILL_ID_PATTERN, max_length=NAME_MAX, description="e.g. skill.analysis; see list_skills")
PAYLOAD = Field(description="the skill's input fields (its input_schema)")
MODEL_CONFIG = Field(None, alias="model_config", description="overrides: model, provider, fallbacks, ...")
CONTEXT = Field(
    None,
    description="the call's context: preferred_model, tier, data_class (policies still apply), cache_ttl, "
    "pause_continuations",
)


class _SkillArgs(_Args):
    """A skill call's arguments, with what a key or value they refuse means (see :mod:`.arguments`)."""

    @staticmethod
    def pattern_hint(field: str, value: Any) -> str | None:
        from .arguments import skill_id_meant

        return skill_id_meant(value, SKILL_ID_PATTERN) if field == "skill_id" else None

    @classmethod
    def unknown_key_hint(cls, key: str, value: Any = None) -> str | None:
        from .arguments import payload_field_hint

        if key == "llm_overrides":  # the Python API's context key, written beside the context
            return ContextArg.unknown_key_hint(key, value)
        return payload_field_hint(key, [f.alias or name for name, f in cls.model_fields.items()])


class InvokeSkillArgs(_SkillArgs):
    skill_id: str = SKILL_ID
    payload: dict[str, Any] = PAYLOAD
    agent: str | None = Field(None, json_schema_extra=NAME_LENGTH, description="agent name for the ledger and budgets")
    run_id: str | None = Field(
        None, json_schema_extra=NAME_LENGTH, description="join an existing run (default: a new one)"
    )
    # `model_config` is pydantic's own attribute, hence the alias.
    model_cfg: ModelConfigArg | None = MODEL_CONFIG
    context: ContextArg | None = CONTEXT


class ExplainRouteArgs(_SkillArgs):
    skill_id: str = SKILL_ID
    payload: dict[str, Any] = PAYLOAD
    agent: str | None = Field(
        None, json_schema_extra=NAME_LENGTH, description="the call's agent, whose daily budget then applies"
    )
    model_cfg: ModelConfigArg | None = MODEL_CONFIG
    context: ContextArg | None = CONTEXT

    @classmethod
    def unknown_key_hint(cls, key: str, value: Any = None) -> str | None:
        """invoke_skill's run_id, sent with the rest of the call being previewed: not the skill's input."""
        if key == "run_id":
            return (
                "explain_route plans a call without running it and takes no run_id: leave it out; check_budget "
                "shows what a run has left"
            )
        return super().unknown_key_hint(key, value)


# Mirrors magsag_mcp.ledger.UsageFilters (a test keeps them in step) without importing the ledger,
# which pulls in the SQLite driver, when the server is built.
TIMES = "24h, 7d, an ISO date/time (UTC unless it gives an offset) or unix seconds"


class UsageFiltersArg(_In):
    agent: str | None = Field(None, description="the agent's name, as invoke_skill's agent recorded it")
    run_id: str | None = Field(None, description="the run and the runs delegated from it, as its budget counts them")
    skill: str | None = Field(None, description="a skill id, e.g. skill.analysis")
    model: str | None = Field(None, description="a model (gpt-4o) or a target (openai:gpt-4o: that provider's only)")
    provider: str | None = Field(None, description="a provider or an alias, any case (gemini is google)")
    status: StatusFilter = Field(
        None, description=f"the runs of this status ({STATUSES_LISTED}) and their calls (running: not ended yet)"
    )
    # strict: a boolean is no time (lax, true was the number 1: 1970-01-01T00:00:01)
    since: str | StrictFloat | None = Field(
        None, json_schema_extra=TIME_LENGTH, description=f"from this time on: {TIMES}"
    )
    until: str | StrictFloat | None = Field(
        None, json_schema_extra=TIME_LENGTH, description=f"before this time (exclusive): {TIMES}"
    )


FILTERS = "only the calls of an agent, run, skill, model, provider, status or time (all of them when left out)"


class SummarizeUsageArgs(_Args):
    filters: UsageFiltersArg = Field(default_factory=UsageFiltersArg, description=FILTERS)
    timezone: str | None = Field(
        None,
        description="the IANA zone (Europe/Berlin) whose days largest_day and by_agent[A].largest_day are, default "
        "UTC (period.timezone says it); a since or until date/time without an offset is then this zone's",
    )
    top: Int = Field(
        TOP_DEFAULT,
        ge=1,
        le=TOP_MAX,
        description="the most entries each of model_stats, by_provider, by_agent and by_skill lists, costliest first; "
        "omitted counts the rest, which totals still count",
    )


class DailyUsageArgs(_Args):
    filters: UsageFiltersArg = Field(default_factory=UsageFiltersArg, description=FILTERS)
    timezone: str | None = Field(
        None,
        description="the IANA zone (Europe/Berlin) whose days the rows are, default UTC; a since or until date/time "
        "without an offset is then this zone's",
    )
    limit: Int = Field(200, ge=1, le=10_000, description="rows (agent-days) per page")
    cursor: str | None = Field(
        None, description="the previous page's next_cursor: the rows after it, given with the same filters and timezone"
    )


class QueryRunsArgs(_Args):
    filters: UsageFiltersArg = Field(default_factory=UsageFiltersArg, description=FILTERS)
    limit: Int = Field(20, ge=1, le=500, description="runs per page")
    offset: Int = Field(0, ge=0, le=10**12, description="runs to skip, newest first (after cursor, if given)")
    cursor: str | None = Field(
        None,
        description="the previous page's next_cursor: the page after it, given with the same filters (the cursor "
        "holds where that page ended and a digest of its filters: given with other filters, or none, it is refused)",
    )
    attempts_per_run: Int = Field(50, ge=1, le=1000, description="the most attempts a run lists (its latest)")


class SearchUsageArgs(_Args):
    pattern: str = Field(
        min_length=1,
        # the ledger's own limit, said to a client's validator before a call; not checked by pydantic, whose refusal
        # ("string should have at most 1000 characters") took the place of the ledger's, which says the length given
        json_schema_extra={"maxLength": PATTERN_MAX},
        description=f"a regular expression (RE2, at most {PATTERN_MAX} characters) over errors, models, events, run "
        "ids",
    )
    limit: Int = Field(50, ge=1, le=500, description="hits per page")
    # as the ledger tools' filters take it: a client that learnt unix seconds there may send them here
    since: str | StrictFloat | None = Field(
        None, json_schema_extra=TIME_LENGTH, description=f"only look this far back: {TIMES}"
    )
    cursor: str | None = Field(
        None,
        description="the previous page's next_cursor: the hits after it, given with the same pattern (one given with "
        "another is refused); since may differ, and the same since goes on through the same window",
    )


class CheckBudgetArgs(_Args):
    agent: str | None = Field(
        None,
        json_schema_extra=NAME_LENGTH,
        description="an agent as invoke_skill recorded it: its daily limit shows too",
    )
    run_id: str | None = Field(
        None,
        json_schema_extra=NAME_LENGTH,
        description="a run: its per-run limit shows too (a delegated run's is its parent's)",
    )
    skill: str | None = Field(
        None,
        pattern=SKILL_ID_PATTERN,
        max_length=NAME_MAX,
        description="also whether a call of this skill fits what is left (call): a limit's remaining is not what "
        "one call may spend, as each reserves its worst case first",
    )
    model: str | None = Field(
        None,
        json_schema_extra=MODEL_LENGTH,
        description="with skill: the model the call would name (model_config.model)",
    )
    max_tokens: Annotated[int, Field(gt=0), NOT_BOOL_INT] | None = Field(
        None, description="with skill: the max_tokens the call would give"
    )
    model_cfg: ModelConfigArg | None = Field(
        None,
        alias="model_config",
        description="with skill: invoke_skill's model_config for the call (model, provider, fallbacks, max_tokens, "
        "...)",
    )
    context: ContextArg | None = Field(
        None,
        description="with skill: invoke_skill's context for the call (tier, data_class, preferred_model): call then "
        "says the target the router picks, whether the policies allow it, its worst case and whether that fits",
    )

    @model_validator(mode="before")
    @classmethod
    def _empty_skill_is_left_out(cls, data: Any) -> Any:  # as "" of agent, run_id, model: its pattern quoted no fix
        if isinstance(data, dict) and data.get("skill") == "":
            return {k: v for k, v in data.items() if k != "skill"}
        return data

    @staticmethod
    def pattern_hint(field: str, value: Any) -> str | None:
        from .arguments import skill_id_meant

        return skill_id_meant(value, SKILL_ID_PATTERN) if field == "skill" else None


class ListSkillsArgs(_Args):
    pass
