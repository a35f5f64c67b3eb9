"""magsag_mcp.text: the quick walk every call takes finds every unpaired surrogate the naming walk finds."""

from __future__ import annotations

import random
from collections import OrderedDict
from types import MappingProxyType

import pytest

from magsag_mcp.errors import InputError
from magsag_mcp.text import check_text, surrogate_at

HALF = "\ud83d"


def _tree(rnd: random.Random, depth: int = 0):
    kind = rnd.randrange(7 if depth < 4 else 3)
    if kind == 0:
        return rnd.choice(["plain", "café", "😀", "", "a" + HALF, HALF + "b", "\udc00", "日本"])
    if kind == 1:
        return rnd.choice([1, 2.5, None, True])
    if kind == 2:
        return rnd.choice(["x", "ü"])
    if kind == 3:
        return [_tree(rnd, depth + 1) for _ in range(rnd.randrange(4))]
    if kind == 4:
        return tuple(_tree(rnd, depth + 1) for _ in range(rnd.randrange(3)))
    keys = ["k", "clé", "k" + HALF, "n"]
    items = {rnd.choice(keys): _tree(rnd, depth + 1) for _ in range(rnd.randrange(4))}
    return items if kind == 5 else rnd.choice([OrderedDict(items), MappingProxyType(items)])


def test_check_text_refuses_exactly_what_surrogate_at_finds():
    rnd = random.Random(7)
    refused = 0
    for _ in range(3000):
        value = {"data": _tree(rnd)}
        found = surrogate_at(value, "payload")
        if found is None:
            check_text(value, "payload")
        else:
            refused += 1
            with pytest.raises(InputError, match=r"^payload.* is not valid Unicode text"):
                check_text(value, "payload")
    assert 300 < refused < 2700  # both sides were exercised


def test_names_and_none():
    check_text(None, "agent")
    check_text("bench", "agent")
    check_text("café 😀", "agent")
    with pytest.raises(InputError, match=r"agent is not valid Unicode text.*U\+D83D at character 1"):
        check_text("a" + HALF, "agent")


def test_a_name_and_an_answers_word_are_checked_alike_whether_ascii_or_not():
    """check_name and said() skip the surrogate walk for ASCII (which holds none): a name that is not ASCII is still
    walked and refused for half a pair, and a word an answer says has its half pairs replaced."""
    from magsag_mcp.providers.wire_format import SAID_LIMIT, said
    from magsag_mcp.text import check_name

    check_name("bench", "agent")
    check_name("café 😀", "agent")
    check_name(None, "run_id")
    with pytest.raises(InputError, match=r"run_id is not valid Unicode text.*U\+D83D at character 1"):
        check_name("a" + HALF, "run_id")
    with pytest.raises(InputError, match=r"agent must be a string, not int"):
        check_name(7, "agent")
    assert said("gpt-4o") == "gpt-4o"
    assert said("gpt-4o" + HALF) == "gpt-4o\ufffd"
    assert said("x" * (SAID_LIMIT * 5)) == "x" * SAID_LIMIT
    assert said("é" * (SAID_LIMIT * 5)) == "é" * SAID_LIMIT
    assert said("") is None and said(None) is None and said({"tier": "priority"}) is None


@pytest.mark.anyio
async def test_a_vendors_error_with_half_a_surrogate_pair_is_recorded_and_sent(fake_openai, tmp_path):
    # A gateway that cuts its error text by UTF-16 units (JavaScript's slice) sends "\ud83d" escaped in its JSON.
    # The error's message held it: the ledger could not encode the attempt (UnicodeEncodeError out of the call,
    # its record lost) and neither could an MCP client's result. It goes as U+FFFD, as a UTF-8 decoder does.
    import json
    import sqlite3

    from magsag_mcp.errors import MagsagError
    from magsag_mcp.mcp_server.tool_results import error_result
    from magsag_mcp.service import Service
    from tests.fakes import openai_replies as R

    fake_openai.key = "sk-test-0123456789abcdefghij"
    fake_openai.queue(R.error(400, f"content 'hi {HALF}' was cut"))
    env = {"OPENAI_BASE_URL": fake_openai.url + "/v1", "OPENAI_API_KEY": fake_openai.key}
    async with Service.open(db=tmp_path / "l.db", env=env) as svc:
        with pytest.raises(MagsagError) as info:
            await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": {"model": "openai:gpt-4o"}})
    assert "content 'hi \ufffd' was cut" in info.value.message
    sent = json.loads(error_result(info.value).model_dump_json(by_alias=True))
    assert "hi \ufffd" in sent["structuredContent"]["error"]["message"]
    conn = sqlite3.connect(tmp_path / "l.db")
    stored = conn.execute("SELECT error_message FROM attempts").fetchall()
    conn.close()
    assert len(stored) == 1 and "hi \ufffd" in stored[0][0]


def test_a_list_of_strings_in_an_object_is_walked_without_a_call_per_string():
    # every call checks its payload; one naming its fallbacks ({"model_config": {"fallbacks": [...]}}) walked the list
    # with a call for it (first asked whether it is a Mapping, an ABC) and one per string: 4,400 instructions of 16,500
    import sys

    from magsag_mcp import text

    payload = {"data": "numbers", "model_config": {"model": "a", "fallbacks": ["openai:gpt-4o", "fake:b", "c"]}}
    walks = []

    def profile(frame, event, arg):
        if event == "call" and frame.f_code is text._has_surrogate.__code__:
            walks.append(frame.f_locals["value"])

    sys.setprofile(profile)
    try:
        check_text(payload, "payload")
    finally:
        sys.setprofile(None)
    assert walks == [payload, payload["model_config"]]
    # the strings are still looked at: one that is not ASCII sends the check on to surrogate_at, which names it
    payload["model_config"]["fallbacks"].append("fake:" + HALF)
    with pytest.raises(InputError, match=r"payload\.model_config\.fallbacks\[3\] is not valid Unicode text"):
        check_text(payload, "payload")


def test_brief_marks_a_cut_and_only_a_cut():
    from magsag_mcp.text import brief

    assert brief("Unexpected endpoint or method.", 30) == "Unexpected endpoint or method."  # whole: no mark
    assert brief("Unexpected endpoint or method. (POST /v1/responses)", 20) == "Unexpected endpoint..."
    # a line break (or a run of spaces) is one space, counted once: a text cut in its raw spacing is still marked
    assert brief("No models\n\n   loaded " + " " * 40 + "x", 16) == "No models loaded..."
    assert brief("ends with spaces" + " " * 50, 16) == "ends with spaces"


def test_brief_marks_a_cut_made_where_escaped_control_characters_lengthened_the_words():
    # each control character is quoted escaped (\x1b, four characters): the escaped line was cut at the length of
    # the words as they came, its end dropped without a mark and half an escape left ("\x")
    from magsag_mcp.text import brief

    said = "x" * 100 + "\x1b" * 10
    assert brief(said, 120) == "x" * 100 + "\\x1b" * 5 + "..."
    assert brief("a\x1bb", 120) == "a\\x1bb"
