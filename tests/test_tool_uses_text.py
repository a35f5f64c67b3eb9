"""An attempt's server tool calls as the ledger keeps them (0030) and the CSV writes them: the text every reader parses
(json_extract in 0031's backfill and the summaries' reads, the exports) stays byte for byte json.dumps(uses,
sort_keys=True)'s, written out without json.dumps where no character needs an escape (json.dumps with sort_keys makes
an encoder at every call, the costliest part of recording a call with tool uses)."""

from __future__ import annotations

import enum
import json

from hypothesis import given
from hypothesis import strategies as st

from magsag_mcp.ledger import writes
from magsag_mcp.ledger.writes import tool_uses_text


class _Count(enum.IntEnum):
    TWO = 2


_KEYS = st.one_of(
    st.sampled_from(["web_search", "file_search", "code_interpreter", "image_generation", "grounded_prompt"]),
    st.text(max_size=12),
    st.sampled_from(['we"b', "caf\u00e9", "a\\b", "tab\there", "_x1", "1abc", "\u00e9t\u00e9", "web-fetch", ""]),
)
_COUNTS = st.one_of(st.integers(), st.booleans(), st.just(_Count.TWO), st.floats(allow_nan=False, allow_infinity=False))


@given(st.dictionaries(_KEYS, _COUNTS, max_size=6))
def test_the_text_is_json_dumps_sorted_byte_for_byte(uses):
    assert tool_uses_text(uses) == json.dumps(uses, sort_keys=True)


def test_the_providers_kinds_are_written_without_json_dumps(monkeypatch):
    def refused(*args, **kwargs):
        raise AssertionError("json.dumps called")

    monkeypatch.setattr(writes.json, "dumps", refused)
    assert tool_uses_text({"web_search": 3}) == '{"web_search": 3}'
    assert tool_uses_text({"web_search": 2, "file_search": 1}) == '{"file_search": 1, "web_search": 2}'
    assert tool_uses_text({}) == "{}"
    assert tool_uses_text({"web_fetch": 10**30}) == '{"web_fetch": 1000000000000000000000000000000}'
