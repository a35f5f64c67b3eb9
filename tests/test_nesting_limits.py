"""The nesting limit of a call's settings at its edges: a value as many levels deep as the refusal says a call may
nest is taken, and one a level deeper refused (the check refused one of exactly its limit, while it said "at most")."""

from __future__ import annotations

from typing import Any

import pytest

from magsag_mcp.errors import PayloadError
from magsag_mcp.payload_checks import MAX_MESSAGE_NESTING, MAX_NESTING, check_nesting


def _levels(count: int) -> Any:
    """Objects and lists within each other, ``count`` levels of them."""
    value: Any = {}
    for i in range(count - 1):
        value = [value] if i % 2 else {"a": value}
    return value


@pytest.mark.parametrize(("key", "limit"), [("params", MAX_NESTING), ("messages", MAX_MESSAGE_NESTING)])
def test_a_value_of_the_limits_depth_is_taken_and_one_deeper_refused(key: str, limit: int):
    check_nesting({key: _levels(limit)}, "model_config")
    with pytest.raises(PayloadError) as info:
        check_nesting({key: _levels(limit + 1)}, "model_config")
    assert f"model_config.{key} is nested more than {limit} levels deep" in info.value.message
    assert f"at most {limit}" in info.value.message
