"""The catalog's ``cache: {ttl: 1h}``, written on a route of the routing YAML or on a skill: how long an answer to one
of its calls answers the same request again (see :mod:`.answer_cache`), checked when the catalog loads."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .errors import InputError
from .text import said_number


class CacheSetting(BaseModel):
    """``cache: {ttl: 1h}``: a duration (90s, 30m, 1h, 7d) or seconds; 0 turns the cache off."""

    model_config = ConfigDict(extra="forbid")
    ttl: float = Field(description="a duration (90s, 30m, 1h, 7d) or seconds; 0 turns the cache off")

    @model_validator(mode="before")
    @classmethod
    def _a_mapping(cls, value: Any) -> Any:
        if isinstance(value, dict | CacheSetting):
            return value
        shown = f"ttl: {value}" if isinstance(value, str | int | float) and not isinstance(value, bool) else "ttl: 1h"
        raise ValueError(f"is written with its ttl, as {{{shown}}} (a duration such as 30m, 1h or 7d); got {value!r}")

    @field_validator("ttl", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> float:
        from .answer_cache import LONGEST_TTL
        from .ledger.duration_amounts import Longest
        from .ledger.times import parse_duration_seconds

        longest = Longest(LONGEST_TTL, f"longer than a cache ttl may be (at most 365d, {LONGEST_TTL:.0f} seconds)")

        # (the loader names where: cache.ttl of its file and route; the message says what to write)
        if isinstance(value, bool) or value is None:
            raise ValueError(f"must be a duration such as 30m, 1h or 7d, or a number of seconds; got {value!r}")
        if isinstance(value, str):
            try:
                seconds = parse_duration_seconds(value, longest)
            except InputError as exc:
                raise ValueError(exc.message) from None
        elif isinstance(value, int) and not 0 <= value <= LONGEST_TTL:
            # (before float(), which raised OverflowError on an int past a float's range: YAML's 1 and 400 zeros)
            raise ValueError(f"must be between 0 and 365d ({LONGEST_TTL:.0f} seconds), got {said_number(value)}")
        elif isinstance(value, int | float):
            from .ledger.duration_amounts import too_small

            seconds = float(value)
            if tiny := too_small(str(value), seconds):  # (the rule a duration written with its unit is read by)
                raise ValueError(tiny.rstrip("; "))
        else:
            raise ValueError(f"must be a duration such as 30m, 1h or 7d; got {type(value).__name__}")
        if not 0 <= seconds <= LONGEST_TTL:
            raise ValueError(f"must be between 0 and 365d ({LONGEST_TTL:.0f} seconds), got {said_number(value)}")
        return seconds
