"""What planning a call does on every call, and what it no longer does where nothing can be amiss: the payload's
warnings asked with lookups before any set is made, an empty model_config and context read for nothing, a dict asked
whether it is a Mapping. Each test also holds what the plan says, as before."""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from magsag_mcp import routing
from magsag_mcp.call_request import build_request
from magsag_mcp.catalog import load_catalog
from magsag_mcp.payload_warnings import _STRAY_KEYS, near_misses
from magsag_mcp.routing import plan_call
from magsag_mcp.skills import Skill

CATALOG = Path(__file__).resolve().parent.parent / "catalog"


@pytest.fixture(scope="module")
def catalog():
    return load_catalog(CATALOG)


class _ViewCounting(dict):
    """A payload that counts the views of its keys made of it (each set operation on ``keys()`` makes one)."""

    views = 0

    def keys(self):  # type: ignore[override]
        type(self).views += 1
        return super().keys()


def test_a_payload_of_the_fields_the_prompt_reads_makes_no_set_of_its_keys(catalog):
    # Before: every call intersected the payload's keys with the ~20 routing and record keys, and subtracted the
    # skill's fields from them, each a set made (some 7,500 instructions a call, with the key's folding for
    # "modelConfig"); a payload of the fields the prompt reads, as almost every call's, is now asked by lookups.
    parts = catalog.skill("skill.analysis").call_parts
    _ViewCounting.views = 0
    assert near_misses(_ViewCounting(data="x"), {}, parts) == []
    assert _ViewCounting.views == 0
    # one holding a routing key is still told, as before
    said = near_misses(_ViewCounting(data="x", tier="economy"), {}, parts)
    assert len(said) == 1 and "payload key 'tier'" in said[0], said


def _fold(key: Any) -> bool:
    return isinstance(key, str) and key.lower().replace("_", "").replace("-", "") == "modelconfig"


#: keys of every kind near_misses tells apart: the skill's fields, routing and record keys, model_config misspelt
#: (with the letters lower() folds, the Kelvin sign and a dotted capital I, whose lower() is two characters long),
#: short and long keys of the caller's own, and keys that are no text
_KEYS = [
    "text",
    "language",
    *sorted(_STRAY_KEYS),
    "model_config",
    "modelConfig",
    "Model-Config",
    "MODEL_CONFIG",
    "model_config_",
    "modelconfig",
    "mode_lconfig",
    "\u212aey",
    "model\u212aonfig",
    "modelconf\u0130g",
    "modelconfİ",
    "m",
    "notes",
    "a_much_longer_key_of_the_callers",
    "modelconfi",
    7,
    None,
]


def test_the_payloads_warnings_are_those_the_set_operations_gave():
    # 4,000 random payloads (a fixed seed): each key warned of as model_config misspelt, as a routing or record key
    # beside the fields, or as a field the prompt does not read, exactly as the folding and the sets said it before
    skill = Skill(
        id="skill.t",
        description="d",
        task_type="t",
        prompt={"user": "{text} {language}"},
        input_schema={"type": "object", "properties": {"text": {}, "language": {}}},
    )
    parts = skill.call_parts
    fields = set(parts.field_names)
    rng = random.Random(34)
    for _ in range(4_000):
        payload = {k: "v" for k in rng.sample(_KEYS, rng.randint(0, 6))}
        said = near_misses(payload, {}, parts)
        like = [k for k in payload if "model_config" not in payload and _fold(k)]
        stray = sorted((payload.keys() & _STRAY_KEYS) - fields)
        unread = (payload.keys() - fields) - _STRAY_KEYS - {"model_config"}
        unread_named = [k for k in payload if k in unread and not _fold(k)]
        assert [w for w in said if "is not 'model_config'" in w] == [
            f"payload key {k!r} is not 'model_config': it went to the skill as data, not routing" for k in like
        ], payload
        assert [w.split("'")[1] for w in said if "went to the skill as data:" in w or "not routing, which" in w] == [
            str(k) for k in stray
        ], payload
        not_sent = [w for w in said if "not sent:" in w]
        assert len(not_sent) == (1 if unread_named else 0), payload
        for k in unread_named:
            assert repr(k) in not_sent[0], payload


class _Counting(Mapping):
    """An empty mapping that counts what is asked of it beyond whether it is empty."""

    def __init__(self) -> None:
        self.asked = 0

    def __getitem__(self, key: str) -> Any:
        self.asked += 1
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        self.asked += 1
        return iter(())

    def __len__(self) -> int:
        return 0


def test_an_empty_model_config_and_llm_overrides_are_only_asked_whether_they_are_empty(catalog):
    # Before: each was made a set and subtracted from the keys model_config takes, copied, and looked up for its
    # messages and (in _apply) asked whether it was empty: about 4,900 instructions a call that sets neither
    skill = catalog.skill("skill.analysis")
    mc, lo = _Counting(), _Counting()
    request, pinned = build_request(skill, {"data": "x"}, mc, lo)
    assert (mc.asked, lo.asked) == (0, 0)
    assert pinned == set() and request.max_tokens == 1500 and request.temperature is None
    assert request.messages[0].content.endswith("x\n") and request.system.startswith("You are a careful analyst")
    # a setting still applies, and an unknown key is still refused
    request, pinned = build_request(skill, {"data": "x"}, {"max_tokens": 7}, {})
    assert request.max_tokens == 7 and pinned == {"max_tokens"}
    with pytest.raises(Exception, match="model_config has unknown key 'modle'"):
        build_request(skill, {"data": "x"}, {"modle": "gpt-4o"}, None)


class _Asked(type):
    count = 0

    def __instancecheck__(cls, instance: Any) -> bool:
        _Asked.count += 1
        return isinstance(instance, Mapping)


class _AskedMapping(metaclass=_Asked):
    """Stands for ``Mapping`` in routing: counts the isinstance checks made against it."""


def test_a_dict_payload_is_planned_without_asking_the_mapping_abc(catalog, monkeypatch):
    # Before: the payload, its model_config and the context's llm_overrides were each asked isinstance(x, Mapping),
    # through the ABC's __instancecheck__ (some 800 instructions each), though each was a dict; and an empty context
    # was walked for surrogates
    monkeypatch.setattr(routing, "Mapping", _AskedMapping)
    walked: list[Any] = []
    check_text = routing.check_text
    monkeypatch.setattr(routing, "check_text", lambda value, *a: (walked.append(value), check_text(value, *a)))
    _Asked.count = 0
    plan = plan_call(catalog, "skill.analysis", {"data": "x"}, context=None, env={})
    assert _Asked.count == 0 and walked == [{"data": "x"}]
    assert [c.target.label for c in plan.candidates][:1] == ["openai:gpt-4o"]
    # a mapping that is no dict is still taken, and what is no mapping still refused
    from types import MappingProxyType

    plan_call(catalog, "skill.analysis", MappingProxyType({"data": "x"}), context=None, env={})
    assert _Asked.count == 1
    # ... told the payload it takes, with the fields the skill's prompt reads (it was "got list" and no fix)
    with pytest.raises(Exception) as refused:
        plan_call(catalog, "skill.analysis", ["x"], context=None, env={})
    assert str(refused.value) == (
        "skill.analysis: payload must be a JSON object (a dict of the fields its prompt reads), got list; pass "
        "{'data': ...}"
    )
    with pytest.raises(Exception, match="model_config must be an object"):
        plan_call(catalog, "skill.analysis", {"data": "x", "model_config": ["gpt-4o"]}, context=None, env={})
    with pytest.raises(Exception, match="llm_overrides must be an object"):
        plan_call(catalog, "skill.analysis", {"data": "x"}, context={"llm_overrides": "gpt-4o"}, env={})


def test_a_skills_text_passed_as_its_payload_is_told_the_fields_to_put_it_in():
    # invoke("skill.document-analysis", "the contract ...") was "payload must be a JSON object, got str"
    from magsag_mcp.errors import PayloadError

    catalog = load_catalog(CATALOG, env={})
    with pytest.raises(PayloadError) as refused:
        plan_call(catalog, "skill.document-analysis", "the contract ...", context=None, env={})
    fields = catalog.skill("skill.document-analysis").summary()["payload_fields"]
    assert str(refused.value).endswith("got str; pass {" + ", ".join(f"{f!r}: ..." for f in fields) + "}")
