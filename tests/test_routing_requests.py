"""The request a planned call sends: params and their levels (model_config, llm_overrides, a target's), what
governance checked that params may not change, input the plan refuses, and routes resolved once and cached."""

from __future__ import annotations

from pathlib import Path

import pytest

from magsag_mcp.catalog import load_catalog
from magsag_mcp.errors import ConfigError, PayloadError
from magsag_mcp.routing import plan_call
from magsag_mcp.targets import parse_target

CATALOG = Path(__file__).resolve().parent.parent / "catalog"


@pytest.fixture(scope="module")
def catalog():
    return load_catalog(CATALOG, env={})


def labels(plan):
    return [c.target.label for c in plan.candidates]


class _CountedLevel(dict):
    """A level of a call's settings (model_config, llm_overrides, context) counting the keys looked up in it."""

    looked_up = 0

    def get(self, name, default=None):
        self.looked_up += 1
        return super().get(name, default)


def test_a_target_whose_params_nest_plans_with_a_data_class(catalog):
    # Targets are compared and hashed (data-class routing, the catalog's base-URL check); params such as
    # capabilities: {tools: false} or a vendor's {reasoning: {effort: ...}} hold dicts and lists, and
    # the plan failed with "TypeError: unhashable type: 'dict'".
    params = {"capabilities": {"tools": False}, "reasoning": {"effort": "low"}, "stop": ["###"]}
    mc = {"model": "gpt-4o", "params": params}
    plan = plan_call(
        catalog,
        "skill.analysis",
        {"data": "x", "model_config": mc},
        context={"data_class": "pii_processing"},
        env={},
        data_class_models={"pii_processing": ["llama3.1:70b"]},
    )
    assert labels(plan) == ["openai:gpt-4o", "local:llama3.1:70b"]
    nested = plan.candidates[0].target
    assert nested.param_dict()["reasoning"] == {"effort": "low"}  # sent as given, an object
    same = parse_target({"model": "gpt-4o", "params": dict(reversed(params.items()))})
    assert same == nested and hash(same) == hash(nested) and len({nested, same}) == 1
    assert parse_target({"model": "gpt-4o", "params": {**params, "stop": ["!!!"]}}) not in {nested}


@pytest.mark.parametrize(
    ("payload", "context", "message"),
    [
        ({"model": "gpt-4o", "params": ["top_p", 0.5]}, None, "model_config.params must be an object"),
        ({"model": "gpt-4o", "params": "seed=1"}, None, "model_config.params must be an object"),
        ({"params": {"seed": 1}}, None, "model_config.params needs model_config.model"),
        ({"provider": "openai", "params": {"seed": 1}}, None, "model_config.params needs model_config.model"),
        ({}, {"llm_overrides": {"params": {"top_p": 0.1}}}, "context.llm_overrides.params needs"),
    ],
    ids=["list", "string", "no-model", "provider-only", "overrides"],
)
def test_call_params_that_would_be_dropped_are_refused(catalog, payload, context, message):
    # model_config.params reached a target only beside model_config.model, and only as an object:
    # otherwise the call went out without the seed, top_p or reasoning effort it asked for, unsaid.
    with pytest.raises(PayloadError, match=message):
        plan_call(catalog, "skill.analysis", {"data": "x", "model_config": payload}, context=context, env={})


def test_request_shape_from_model_config(catalog):
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    mc = {
        "model": "gpt-4o",
        "tools": tools,
        "tool_choice": "required",
        "system": "S",
        "max_tokens": 77,
        "temperature": 0.3,
        "stop": "END",
        "response_format": {"type": "json_object"},
    }
    plan = plan_call(catalog, "skill.analysis", {"data": "numbers", "model_config": mc}, context=None, env={})
    req = plan.request
    assert req.system == "S" and req.max_tokens == 77 and req.temperature == 0.3 and req.stop == ["END"]
    assert req.tools[0].name == "lookup" and req.tool_choice == "required" and req.json_output
    assert "numbers" in req.messages[0].content
    assert req.needs() == {"tools", "json"}


def test_target_params_fill_only_what_the_call_left_open(catalog):
    plan = plan_call(catalog, "skill.extraction", {"text": "t", "fields": ["a"]}, context=None, env={})
    haiku = plan.candidates[1].target
    assert plan.request_for(haiku).temperature == 0
    plan = plan_call(
        catalog,
        "skill.extraction",
        {"text": "t", "fields": ["a"], "model_config": {"temperature": 0.9}},
        context=None,
        env={},
    )
    assert plan.request_for(haiku).temperature == 0.9


def test_a_target_stop_param_is_a_list_of_sequences_as_the_calls_own(catalog):
    # A target's params.stop of "###" went to the request as the string itself; Anthropic and Gemini
    # take a list and sent list("###"), three stop sequences "#", "#", "#": any '#' ended the answer.
    from magsag_mcp.providers.anthropic import AnthropicMessagesFormat

    mc = {"model": "claude-3-5-sonnet-20241022", "params": {"stop": "###"}}
    plan = plan_call(catalog, "skill.analysis", {"data": "x", "model_config": mc}, context=None, env={})
    req = plan.request_for(plan.candidates[0].target)
    assert req.stop == ["###"]
    body, _ = AnthropicMessagesFormat().build(req, "claude-3-5-sonnet-20241022", stream=False)
    assert body["stop_sequences"] == ["###"]


@pytest.mark.parametrize("stop", [5, "", [""], ["ok", 3]])
def test_a_target_stop_param_that_is_no_sequence_is_refused(stop):
    with pytest.raises(ConfigError, match="params.stop must be a string or a list of non-empty strings"):
        parse_target({"model": "gpt-4o", "params": {"stop": stop}})


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({}, "missing field 'data'"),
        ({"data": "x", "model_config": {"modle": "gpt-4o"}}, "unknown key.*modle"),
        ({"data": "x", "model_config": {"max_tokens": -1}}, "max_tokens must be a positive integer"),
        ({"data": "x", "model_config": {"model": "mystery-model"}}, "cannot tell which provider.*mystery-model"),
        ({"data": "x", "model_config": {"provider": "nope", "model": "m"}}, "unknown provider 'nope'"),
        ({"data": "x", "model_config": {"response_format": {"type": "xml"}}}, "response_format.type"),
        # a tool_choice whose function is not an object raised a bare AttributeError
        ({"data": "x", "model_config": {"tool_choice": {"function": "lookup"}}}, "tool_choice must be"),
        ({"data": "x", "model_config": {"tool_choice": {"function": ["lookup"]}}}, "tool_choice must be"),
        ({"data": "x", "model_config": "gpt-4o"}, "model_config must be an object"),
        ({"data": "x", "model_config": {"stop": 5}}, r"model_config.stop must be a string or a list"),
        (
            {"data": "x", "model_config": {"tools": [{"function": {"description": "d"}}]}},
            r"tools\[0\] needs a function",
        ),
        ({"data": "x", "model_config": {"tools": [{"name": "f", "parameters": "bad"}]}}, "parameters must be a JSON"),
        # an empty name (which every vendor refuses, and its calls would name nothing) is none
        ({"data": "x", "model_config": {"tools": [{"name": "", "parameters": {}}]}}, r"tools\[0\] needs a function"),
        ({"data": "x", "model_config": {"tools": [{"function": {"name": " "}}]}}, r"tools\[0\] needs a function"),
        (
            {"data": "x", "model_config": {"messages": [{"role": "assistant", "tool_calls": [{"name": ""}]}]}},
            r"messages\[0\].tool_calls\[0\] needs a function name",
        ),
        (
            {"data": "x", "model_config": {"messages": [{"role": "assistant", "tool_calls": [{"id": "1"}]}]}},
            r"messages\[0\].tool_calls\[0\] needs a function name",
        ),
        ({"data": "x", "model_config": {"stream": "yes"}}, "stream must be true or false"),
        (
            {"data": "x", "model_config": {"model": "gpt-4o", "fallbacks": "gpt-4o-mini"}},
            "fallbacks must be a list of targets",
        ),
        ({"data": "x", "model_config": {"fallbacks": ["gpt-4o-mini"]}}, "fallbacks needs model_config.model"),
        ({"data": "x", "model_config": {"base_url": "http://h:1/v1"}}, "base_url needs model_config.model or"),
        ({"data": "x", "model_config": {"temperature": True}}, "temperature must be a number"),
    ],
)
def test_bad_input_says_what_to_fix(catalog, payload, message):
    with pytest.raises((PayloadError, ConfigError), match=message):
        plan_call(catalog, "skill.analysis", payload, context=None, env={})


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"temperature": "hot"}, "context.llm_overrides.temperature must be a number"),
        ({"max_tokens": -5}, "context.llm_overrides.max_tokens must be a positive integer"),
        ({"modle": "x"}, r"context.llm_overrides has unknown key.*modle"),
    ],
)
def test_llm_overrides_are_checked_like_model_config(catalog, overrides, message):
    with pytest.raises(PayloadError, match=message):
        plan_call(catalog, "skill.analysis", {"data": "x"}, context={"llm_overrides": overrides}, env={})


def test_llm_overrides_shape_the_request_and_model_config_wins_key_by_key(catalog):
    tool = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}
    ctx = {"llm_overrides": {"system": "from overrides", "tools": [tool], "temperature": 0.1, "max_tokens": 77}}
    plan = plan_call(
        catalog, "skill.analysis", {"data": "x", "model_config": {"temperature": 0.7}}, context=ctx, env={}
    )
    req = plan.request
    assert req.system == "from overrides" and [t.name for t in req.tools] == ["lookup"]
    assert req.temperature == 0.7 and req.max_tokens == 77
    assert {"temperature", "max_tokens"} <= plan.pinned


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"model": "gpt-4.5-preview"}, "params.model would replace a field magsag sets itself"),
        ({"max_completion_tokens": 100_000}, "params.max_completion_tokens would replace"),
        ({"n": 8}, "params.n would replace"),
        ({"generationConfig": {"maxOutputTokens": 99}}, "params.generationConfig would replace"),
        # the natural way to ask Gemini for a thinking budget: it says where the setting goes instead
        (
            {"generationConfig": {"thinkingConfig": {"thinkingBudget": 0}}},
            "put its other settings at the top of params instead \\(e.g. thinkingConfig: ",
        ),
        ({"max_tokens": "lots"}, "params.max_tokens must be a positive integer"),
        ({"temperature": 9}, "params.temperature must be a number between 0 and 2"),
        # the two params the router reads itself: a wrong value was ignored without a word
        ({"api": "grpc"}, r"params.api must be one of \['chat', 'responses'\]"),
        ({"capabilities": {"tools": "maybe"}}, "params.capabilities.tools must be true or false"),
        (
            {"capabilities": {"vision": False}},
            r"params.capabilities.vision is not a capability; known: \['gif_images', 'image_urls', 'json',",
        ),
        ({"capabilities": ["tools"]}, "params.capabilities must be a mapping such as {tools: false}"),
        # billed beyond what magsag prices or reserves (an audit of budgets found them passing through)
        ({"service_tier": "priority"}, "params.service_tier 'priority' is billed above the standard rate"),
        # priority under other names: Chat's and Responses' "fast", Responses' "ultrafast"
        ({"service_tier": "fast"}, "params.service_tier 'fast' is billed above the standard rate"),
        ({"service_tier": "ultrafast"}, "params.service_tier 'ultrafast' is billed above the standard rate"),
        # Gemini's GenerateContentRequest.serviceTier ("standard", "flex", "priority"): the same premium by its name
        ({"serviceTier": "priority"}, "params.serviceTier 'priority' is billed above the standard rate"),
        # a tier that is no text: looked up among the premium ones, a list raised TypeError ("unhashable type")
        (
            {"service_tier": ["priority"]},
            r"params.service_tier must be a tier's name such as 'auto', 'default' or 'flex', got \['priority'\]",
        ),
        ({"serviceTier": ["PRIORITY"]}, r"params.serviceTier must be a tier's name such as 'standard' or 'flex', got"),
        # audio answers: billed at audio rates, and magsag returns only the text
        ({"audio": {"voice": "alloy", "format": "wav"}}, "params.audio: an audio answer is billed at audio rates"),
        ({"modalities": ["text", "audio"]}, "params.modalities: an audio answer is billed at audio rates"),
        # Gemini's GenerationConfig knobs reach its generationConfig: an audio answer there, and the fields magsag
        # sets itself (the response type and schema it parses the answer by, the stop sequences it caps at 5)
        ({"responseModalities": ["AUDIO"]}, "params.responseModalities: an audio answer is billed at audio rates"),
        ({"responseMimeType": "text/x.enum"}, "params.responseMimeType would replace a field magsag sets itself"),
        ({"response_schema": {"type": "STRING"}}, "params.response_schema would replace a field"),
        ({"stopSequences": ["a", "b"]}, "params.stopSequences would replace a field"),
        # GenerationConfig.responseFormat (newer than gemini.json): the response type and schema again, by another name
        (
            {"responseFormat": {"text": {"mimeType": "APPLICATION_JSON", "schema": {"type": "object"}}}},
            "params.responseFormat would replace a field magsag sets itself",
        ),
        ({"previous_response_id": "resp_abc"}, "params.previous_response_id: the Responses API would bill"),
        # a stored prompt template: its messages are billed as input the reservation never saw
        ({"prompt": {"id": "pmpt_abc", "version": "2"}}, "params.prompt: the Responses API would bill"),
        ({"cachedContent": "cachedContents/big"}, "params.cachedContent: Gemini would add the cached context"),
        # the Responses API's background mode answers "queued" at once and generates (and bills) later: magsag
        # took the empty queued response for the answer
        ({"background": True}, "params.background: the Responses API would answer at once with a queued response"),
    ],
)
def test_params_cannot_change_what_governance_checked(catalog, params, message):
    # Without this, params reached the vendor's body unchecked: another model, another output limit.
    mc = {"model": "gpt-4o-mini", "max_tokens": 16, "params": params}
    with pytest.raises(PayloadError, match=message):
        plan_call(catalog, "skill.analysis", {"data": "x", "model_config": mc}, context=None, env={})
    fallback = {"model": "gpt-4o", "fallbacks": [{"model": "gpt-4o-mini", "params": params}]}
    with pytest.raises(PayloadError, match=message):
        plan_call(catalog, "skill.analysis", {"data": "x", "model_config": fallback}, context=None, env={})


def test_a_text_only_modalities_param_passes_through(catalog):
    mc = {"model": "gpt-4o-mini", "params": {"modalities": ["text"]}}
    plan = plan_call(catalog, "skill.analysis", {"data": "x", "model_config": mc}, context=None, env={})
    assert plan.candidates[0].target.param_dict()["modalities"] == ["text"]


def test_standard_and_cheaper_service_tiers_pass_through(catalog):
    for tier in ("auto", "default", "flex"):
        mc = {"model": "gpt-4o-mini", "params": {"service_tier": tier}}
        plan = plan_call(catalog, "skill.analysis", {"data": "x", "model_config": mc}, context=None, env={})
        assert plan.candidates[0].target.param_dict()["service_tier"] == tier


def test_a_non_string_base_url_is_a_clear_error(catalog):
    mc = {"model": "gpt-4o", "fallbacks": [{"model": "gpt-4o-mini", "base_url": 123}]}
    with pytest.raises(PayloadError, match="base_url must be a URL string"):
        plan_call(catalog, "skill.analysis", {"data": "x", "model_config": mc}, context=None, env={})


def test_a_broken_output_schema_is_refused_before_any_call(catalog):
    rf = {"type": "json_schema", "json_schema": {"name": "t", "schema": {"type": "objekt"}}}
    with pytest.raises(PayloadError, match=r"json_schema\.schema: not a valid JSON Schema \(draft 2020-12\): at type:"):
        plan_call(
            catalog, "skill.analysis", {"data": "x", "model_config": {"response_format": rf}}, context=None, env={}
        )


def test_model_config_messages_replace_those_of_llm_overrides(catalog):
    history = [{"role": "assistant", "content": "earlier answer"}]
    ctx = {"llm_overrides": {"messages": history}}
    plan = plan_call(
        catalog, "skill.analysis", {"data": "x", "model_config": {"messages": history}}, context=ctx, env={}
    )
    assert [m.content for m in plan.request.messages].count("earlier answer") == 1


def test_a_route_cache_resolves_calls_that_name_nothing_once_per_skill(catalog):
    """A service resolves a call that names no model (no model_config, llm_overrides nor context) once per
    skill: the same answer as resolving it each time, in a list each plan owns; calls that name something
    are resolved each time and never stored."""
    env = {"MAGSAG_PROVIDER": "anthropic"}
    cache: dict = {}
    first = plan_call(catalog, "skill.analysis", {"data": "x"}, context=None, env=env, route_cache=cache)
    assert list(cache) == ["skill.analysis"]
    uncached = plan_call(catalog, "skill.analysis", {"data": "y"}, context=None, env=env)
    first.candidates.clear()  # a caller may change its own plan; the next one is unaffected
    second = plan_call(catalog, "skill.analysis", {"data": "y"}, context=None, env=env, route_cache=cache)
    assert (second.rule, second.candidates) == (uncached.rule, uncached.candidates)
    assert labels(second)[0] == "anthropic:claude-3-5-sonnet-20241022"
    named = plan_call(
        catalog,
        "skill.analysis",
        {"data": "x", "model_config": {"model": "gpt-4o-mini"}},
        context=None,
        env=env,
        route_cache=cache,
    )
    tiered = plan_call(
        catalog, "skill.analysis", {"data": "x"}, context={"tier": "premium"}, env=env, route_cache=cache
    )
    assert labels(named) == ["openai:gpt-4o-mini"] and tiered.rule.startswith("tier:premium")
    assert list(cache) == ["skill.analysis"] and cache["skill.analysis"].rule == uncached.rule


def test_a_call_that_names_its_own_route_is_resolved_once_per_distinct_naming(catalog, monkeypatch):
    """A service keeps the routes of calls that name their own (model_config, llm_overrides, context) by
    what they name: the same answer as resolving each afresh, in a list each plan owns; what cannot be a
    key (params, a target written as an object) and what fails is resolved each time; the oldest go."""
    from magsag_mcp import routing

    env = {"MAGSAG_PROVIDER": "anthropic"}
    named: dict = {}

    def plan(mc=None, context=None, cache=True):
        payload = {"data": "x"} if mc is None else {"data": "x", "model_config": mc}
        return plan_call(
            catalog, "skill.analysis", payload, context=context, env=env, named_routes=named if cache else None
        )

    def same_as_afresh(mc=None, context=None):
        plan(mc, context)
        kept, afresh = plan(mc, context), plan(mc, context, cache=False)  # the second from what was kept
        assert (kept.rule, kept.candidates, kept.data_classes) == (afresh.rule, afresh.candidates, afresh.data_classes)
        return kept

    fallback = {"provider": "openai", "model": "gpt-4o", "fallbacks": ["anthropic:claude-3-5-haiku-latest"]}
    first = same_as_afresh(dict(fallback))
    first.candidates.clear()  # a caller may change its own plan; the next one is unaffected
    again = same_as_afresh({**fallback, "fallbacks": list(fallback["fallbacks"])})
    assert labels(again) == ["openai:gpt-4o", "anthropic:claude-3-5-haiku-latest"] and len(named) == 1
    # what else the call names makes another route: its provider under a tier, a data class, a lower level
    assert same_as_afresh({"provider": "anthropic"}, {"tier": "premium"}).rule.startswith("tier:premium")
    assert not same_as_afresh({"provider": "anthropic"}).rule.startswith("tier:premium")
    same_as_afresh(None, {"llm_overrides": {"model": "gpt-4o-mini"}, "data_class": "pii_processing"})
    assert len(named) == 4
    # not kept: params (1 and True would make one key), a target written as an object, a refused call
    same_as_afresh({"model": "gpt-4o", "params": {"seed": 1}})
    same_as_afresh({"model": "gpt-4o", "fallbacks": [{"provider": "openai", "model": "gpt-4o-mini"}]})
    for _ in range(2):
        with pytest.raises(PayloadError, match="fallbacks needs"):
            plan({"fallbacks": ["gpt-4o"]})
    assert len(named) == 4
    monkeypatch.setattr(routing, "NAMED_ROUTES_KEPT", 4)
    oldest = next(iter(named))
    same_as_afresh({"model": "gpt-4o-mini"})
    assert len(named) == 4 and oldest not in named


def test_planning_a_call_reads_its_skill_through_plain_attributes(monkeypatch):
    """A pydantic model's attribute costs several times a plain one's to read: a planned call reads its
    skill's fields from ``call_parts``, and the request it builds is the skill's."""
    from magsag_mcp.skills import Skill

    catalog = load_catalog(CATALOG, env={})
    payload = {"data": "Q3 revenue rose 8%"}
    routes: dict = {}  # as a Service keeps them: the route of a call that names no model, once per skill
    plan_call(catalog, "skill.analysis", payload, context=None, env={}, route_cache=routes)  # builds the parts
    read: list[str] = []
    original = Skill.__getattribute__

    def counting(self, name):
        read.append(name)
        return original(self, name)

    monkeypatch.setattr(Skill, "__getattribute__", counting)
    plan = plan_call(catalog, "skill.analysis", payload, context=None, env={}, route_cache=routes)
    monkeypatch.undo()
    assert set(read) <= {"call_parts"}, read
    skill = catalog.skill("skill.analysis")
    assert plan.request.system == skill.prompt.system and plan.request.max_tokens == skill.max_tokens
    assert plan.request.messages[0].content == skill.render(payload) and plan.task_type == skill.task_type


def test_the_route_key_of_a_call_looks_nothing_up_in_a_level_that_is_empty():
    from magsag_mcp.call_targets import named_route_key

    mc = {"provider": "openai", "model": "fail500-primary", "fallbacks": ["openai:gpt-4o"]}
    lo, context = _CountedLevel(), _CountedLevel()
    key = named_route_key("skill.analysis", mc, lo, context)
    assert lo.looked_up == 0 and context.looked_up == 0  # (5 keys and 3 looked up on every call naming a model)
    # the same key as levels that name nothing but hold other settings
    assert key == named_route_key("skill.analysis", mc, {"temperature": 0}, {"user": "u-7"})
    assert key == named_route_key("skill.analysis", mc, {"model": None}, {"tier": None})
    assert named_route_key("skill.analysis", mc, {"model": "gpt-4o-mini"}, {}) != key
    assert named_route_key("skill.analysis", mc, {}, {"tier": "cheap"}) != key


def test_the_route_key_of_a_call_keeps_lists_of_names_and_nothing_else():
    from magsag_mcp.call_targets import named_route_key

    def key(fallbacks: object) -> object:
        mc = {"provider": "openai", "model": "gpt-4o", "fallbacks": fallbacks}
        return named_route_key("skill.analysis", mc, {}, {})

    assert key(["openai:gpt-4o-mini", "anthropic:claude-sonnet-4-5"]) == key(
        ["openai:gpt-4o-mini", "anthropic:claude-sonnet-4-5"]
    )
    assert key([]) is not None and key([]) != key(["openai:gpt-4o-mini"])
    # a list holding anything but names (a target written as an object, a number) routes afresh; so does a tuple
    for other in (["openai:gpt-4o-mini", {"provider": "openai", "model": "gpt-4o"}], [1], [None], ("openai:gpt-4o",)):
        assert key(other) is None, other
