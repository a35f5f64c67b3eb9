"""What every tool's argument models share: an object that refuses unknown keys (:class:`_In`), a tool's arguments
(:class:`_Args`: an optional one sent as null is one left out), numbers that are never a boolean, and the lengths
the service holds a name, a model's name and a time written as text to, said in the schema."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema, model_validator
from pydantic_core import PydanticCustomError

from ..max_tokens_limit import MAX_TOKENS_AT_MOST
from ..text import MODEL_MAX, NAME_MAX, TIME_TEXT_MAX


def _not_bool(kind: str, expected: str) -> Any:
    def check(value: Any) -> Any:
        if isinstance(value, bool):  # lax, true was the number 1 (offset=true skipped a run without a word)
            raise PydanticCustomError(kind, f"Input should be a valid {expected}")
        return value

    return BeforeValidator(check)


#: JSON numbers, or numbers written as text, never a boolean (which the schema refuses too)
NOT_BOOL_INT, NOT_BOOL_NUMBER = _not_bool("int_type", "integer"), _not_bool("float_type", "number")
Int = Annotated[int, NOT_BOOL_INT]
#: a call's max_tokens (invoke_skill's and explain_route's model_config, check_budget's): 1 to the limit every vendor
#: takes (:data:`~..max_tokens_limit.MAX_TOKENS_AT_MOST`), as the Python API refuses past it. Without the upper bound,
#: 10**20 passed the argument and the published schema, and was refused only by the service, its run opened
MaxTokens = Annotated[int, Field(gt=0, le=MAX_TOKENS_AT_MOST), NOT_BOOL_INT]

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
