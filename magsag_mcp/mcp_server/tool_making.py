"""How a tool is made on the MCP SDK: its input and output schemas from explicit models (:func:`make_tool`), its
arguments taken as sent (:class:`ArgumentsAsSent`), and arguments its model rejects answered with the fix
(:class:`ExplainedTool`, :mod:`.arguments`), as every other failure the caller can fix is."""

from __future__ import annotations

import functools
import types
import typing
from collections.abc import Awaitable, Callable
from typing import Any

from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase, FuncMetadata
from mcp_types import CallToolResult, ToolAnnotations
from pydantic import BaseModel, Field, ValidationError

from ..errors import redacting_logger
from .arguments import explain, known_skills, shown_place
from .tool_results import invalid_arguments
from .tool_schemas import generated

logger = redacting_logger("magsag_mcp.mcp")

#: the tools that tell the client's progress (each takes the request's context, ``ctx``)
TOOLS_WITH_PROGRESS = frozenset({"invoke_skill", "continue_paused", "explain_route"})


class ExplainedTool(Tool):
    """A tool whose rejected arguments are reported with the fix (see :mod:`.arguments`), not as
    pydantic's report of them."""

    #: for a skill call: the input fields of the skill its arguments name (see :meth:`MagsagTools.skill_fields`)
    skill_fields: Callable[[Any], Awaitable[frozenset[str]]] | None = Field(None, exclude=True)
    #: for a tool naming a skill: the catalog's skill ids (see :meth:`MagsagTools.skill_ids`), which a hint offers
    skill_ids: Callable[[], Awaitable[frozenset[str] | None]] | None = Field(None, exclude=True)

    async def run(self, arguments: dict[str, Any], context: Any, convert_result: bool = False) -> Any:
        try:
            return await super().run(arguments, context, convert_result)
        except ToolError as exc:
            # The SDK raises exactly ToolError, caused by the ValidationError, for arguments that fail
            # their model. Answered as every other failure the caller can fix is: raised, it reached the
            # client as text alone, with no structuredContent.error for a client to read its type from.
            if type(exc) is ToolError and isinstance(exc.__cause__, ValidationError):
                fields = sorted({shown_place([str(p) for p in err["loc"]]) for err in exc.__cause__.errors()})
                logger.info("%s rejected arguments: %r", self.name, fields)  # the fields, never the values
                own = await self.skill_fields(arguments.get("skill_id")) if self.skill_fields else frozenset()
                skills = await self.skill_ids() if self.skill_ids else None
                with known_skills(skills):
                    explained = explain(self.name, exc.__cause__, self.fn_metadata.arg_model, own)
                return invalid_arguments(explained.removeprefix("invalid_arguments: "))
            raise


class ArgumentsAsSent(FuncMetadata):
    """The SDK reads an argument sent as a JSON string as the JSON in it: clients send objects so (Claude
    Desktop's ``filters='{"agent": "a"}'``). It did that to text arguments too, whose JSON is the text itself:
    ``agent="null"`` became no agent (the call recorded under none, the budget read for none), and
    ``agent='["ops"]'`` was refused as "expected a string, got an array", though a string was sent and the
    published schema takes it. An argument that takes text is taken as sent."""

    def pre_parse_json(self, data: dict[str, Any]) -> dict[str, Any]:
        text = _text_arguments(self.arg_model)
        if not text.intersection(data):
            return super().pre_parse_json(data)
        parsed = super().pre_parse_json({k: v for k, v in data.items() if k not in text})
        return {k: data[k] if k in text else parsed[k] for k in data}


@functools.cache
def _text_arguments(args: type[BaseModel]) -> frozenset[str]:
    """The names (and aliases) of the arguments ``args`` takes text for."""

    def takes_text(annotation: Any) -> bool:  # str, or a union with str (not a dict's str keys)
        if typing.get_origin(annotation) in (typing.Union, types.UnionType):
            return any(takes_text(arg) for arg in typing.get_args(annotation))
        return annotation is str

    return frozenset(
        name
        for field_name, f in args.model_fields.items()
        if takes_text(f.annotation)
        for name in (field_name, f.alias or field_name)
    )


def make_tool(
    fn: Callable[..., Awaitable[CallToolResult]],
    args: type[ArgModelBase],
    result: type[BaseModel],
    description: str,
    annotations: ToolAnnotations,
    stored: dict[str, dict[str, Any]],
    skill_fields: Callable[[Any], Awaitable[frozenset[str]]] | None = None,
    skill_ids: Callable[[], Awaitable[frozenset[str] | None]] | None = None,
) -> Tool:
    """A tool whose input and output schemas come from explicit models (as ``stored``, else generated).

    ``Tool.from_function`` derives the argument model from the signature, which cannot express a
    parameter named ``model_config`` (pydantic's own attribute) and emits a title for every field.
    """
    name = fn.__name__
    schemas = stored.get(name) or generated(args, result)
    return ExplainedTool(
        fn=fn,
        name=name,
        # (the 2025-06-18 revision's display name; annotations.title too, for a client of the revision before it)
        title=annotations.title,
        description=description,
        parameters=schemas["parameters"],
        fn_metadata=ArgumentsAsSent(arg_model=args, output_model=result, output_schema=schemas["output_schema"]),
        is_async=True,
        context_kwarg="ctx" if name in TOOLS_WITH_PROGRESS else None,
        annotations=annotations,
        skill_fields=skill_fields,
        skill_ids=skill_ids,
    )
