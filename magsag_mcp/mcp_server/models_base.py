"""What every result model of the MCP tools shares: :class:`Out` and the field of an amount in USD."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

USD = Field(description="USD, exact decimal string; null = unknown cost")


class Out(BaseModel):
    """A tool's result: unknown keys are dropped, so a richer service answer never breaks a published schema."""

    model_config = ConfigDict(extra="ignore")
