"""The MCP tools' argument and result models: their JSON Schemas are what a client sees.

Descriptions are short on purpose: every tool schema is sent to the client's model and costs its
context. The result models mirror what the service returns (``InvokeResult.to_dict()``, the
ledger's summaries, the governance budget report); unknown keys are dropped, so a richer service
answer never breaks a published output schema. Money is a decimal *string* in USD (exact) or
``null`` when the price is unknown, never a float.

Here are the arguments of the tools that name a skill (invoke_skill, explain_route, check_budget) and list_skills'.
Each other part is a module of its own and named here too, for the tools and their readers to find every model in one
place: what every argument model shares, :mod:`.argument_parts`; a call's ``model_config`` and ``context``,
:mod:`.call_settings_args`; the ledger reads' arguments, :mod:`.ledger_args`; the results, :mod:`.call_models`
(invoke_skill, explain_route, list_skills), :mod:`.ledger_models` and :mod:`.budget_results`.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, model_validator

from ..settings import MAXIMA
from ..text import NAME_MAX
from .argument_parts import MODEL_LENGTH as MODEL_LENGTH
from .argument_parts import NAME_LENGTH as NAME_LENGTH
from .argument_parts import NOT_BOOL_INT as NOT_BOOL_INT
from .argument_parts import NOT_BOOL_NUMBER as NOT_BOOL_NUMBER
from .argument_parts import TIME_LENGTH as TIME_LENGTH
from .argument_parts import Int as Int
from .argument_parts import MaxTokens, _Args
from .argument_parts import ModelName as ModelName
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
from .call_settings_args import ContextArg as ContextArg
from .call_settings_args import JsonSchemaArg as JsonSchemaArg
from .call_settings_args import ModelConfigArg as ModelConfigArg
from .call_settings_args import ResponseFormatArg as ResponseFormatArg
from .call_settings_args import TargetArg as TargetArg
from .ledger_args import FILTERS as FILTERS
from .ledger_args import TIMES as TIMES
from .ledger_args import DailyUsageArgs as DailyUsageArgs
from .ledger_args import QueryRunsArgs as QueryRunsArgs
from .ledger_args import SearchUsageArgs as SearchUsageArgs
from .ledger_args import SummarizeUsageArgs as SummarizeUsageArgs
from .ledger_args import UsageFiltersArg as UsageFiltersArg
from .ledger_models import DailyUsageResult as DailyUsageResult
from .ledger_models import QueryRunsResult as QueryRunsResult
from .ledger_models import SearchUsageResult as SearchUsageResult
from .ledger_models import UsageSummaryResult as UsageSummaryResult
from .provider_names import PROVIDER_ALIASES as PROVIDER_ALIASES
from .provider_names import PROVIDERS as PROVIDERS

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


#: the most requests that may continue a paused turn (MAGSAG_PAUSE_CONTINUATIONS' maximum)
PAUSE_CONTINUATIONS_MOST = int(MAXIMA["MAGSAG_PAUSE_CONTINUATIONS"])

#: what a paused id is (see paused_calls.held_turn): checked here, so that a client's model sending a run id is told
PAUSED_ID_PATTERN = r"^paused_[0-9a-f]{16}$"


class ContinuePausedArgs(_Args):
    paused_id: str = Field(
        pattern=PAUSED_ID_PATTERN,
        max_length=23,
        description="the paused_id of an invoke_skill (or continue_paused) result whose turn was left paused, e.g. "
        "paused_0123456789abcdef",
    )
    # bounded as the service refuses it (paused_calls._checked_continuations), and as context.pause_continuations is
    continuations: Annotated[int, Field(ge=0, le=PAUSE_CONTINUATIONS_MOST), NOT_BOOL_INT] | None = Field(
        None,
        description="how many more requests may continue the turn should it pause again (default: the first call's "
        "context.pause_continuations, else MAGSAG_PAUSE_CONTINUATIONS)",
    )


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
    max_tokens: MaxTokens | None = Field(None, description="with skill: the max_tokens the call would give")
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
