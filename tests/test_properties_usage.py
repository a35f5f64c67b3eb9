"""Properties of each vendor's usage reader (Chat Completions, the Responses API, Anthropic's Messages, Gemini),
searched by hypothesis for counterexamples: whatever JSON a server puts where the counts go, the reader never raises,
and what it says reported is whole numbers within the ledger's bounds; from counts as the specs write them, its totals
hold their parts (cache reads and writes in the input, reasoning in the output)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from magsag_mcp.pricing import Pricer
from magsag_mcp.providers.anthropic_usage import usage as anthropic_usage
from magsag_mcp.providers.gemini_usage import gemini_usage
from magsag_mcp.providers.openai_responses import _usage as responses_usage
from magsag_mcp.providers.openai_usage import chat_usage
from magsag_mcp.providers.wire_format import MOST_TOKENS
from magsag_mcp.types import Usage

#: how many examples; reproducible and untimed by the run's profile (tests/conftest.py)
PROPERTY = settings(max_examples=200)

#: any JSON value, as a broken server or gateway may send it
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
#: what goes in a count field: mostly numbers, of every kind, and now and then any JSON at all
count_values = (
    st.integers(min_value=-(10**3), max_value=10**6)
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.just(12.0)
    | st.none()
    | st.booleans()
    | st.text(max_size=8)
    | json_values
)


def _object_of(fields: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """An object holding any of ``fields`` (a name -> the strategy of its value)."""
    return st.fixed_dictionaries({}, optional=fields)


_CHAT = _object_of(
    {
        "prompt_tokens": count_values,
        "completion_tokens": count_values,
        "total_tokens": count_values,
        "prompt_tokens_details": _object_of({"cached_tokens": count_values, "audio_tokens": count_values})
        | json_values,
        "completion_tokens_details": _object_of({"reasoning_tokens": count_values, "audio_tokens": count_values})
        | json_values,
        "prompt_cache_hit_tokens": count_values,
        "cost": count_values,
    }
)
_RESPONSES = _object_of(
    {
        "input_tokens": count_values,
        "output_tokens": count_values,
        "total_tokens": count_values,
        "input_tokens_details": _object_of({"cached_tokens": count_values}) | json_values,
        "output_tokens_details": _object_of({"reasoning_tokens": count_values}) | json_values,
    }
)
_ANTHROPIC = _object_of(
    {
        "input_tokens": count_values,
        "output_tokens": count_values,
        "cache_read_input_tokens": count_values,
        "cache_creation_input_tokens": count_values,
        "cache_creation": _object_of(
            {"ephemeral_1h_input_tokens": count_values, "ephemeral_5m_input_tokens": count_values}
        )
        | json_values,
        "server_tool_use": _object_of({"web_search_requests": count_values}) | json_values,
        "service_tier": json_values,
        "inference_geo": json_values,
    }
)
_GEMINI = _object_of(
    {
        "promptTokenCount": count_values,
        "candidatesTokenCount": count_values,
        "totalTokenCount": count_values,
        "cachedContentTokenCount": count_values,
        "thoughtsTokenCount": count_values,
        "toolUsePromptTokenCount": count_values,
        "candidatesTokensDetails": st.lists(
            _object_of({"modality": st.sampled_from(["TEXT", "IMAGE", "AUDIO"]), "tokenCount": count_values})
        )
        | json_values,
        "serviceTier": json_values,
    }
)

READERS = {
    "chat": lambda raw: chat_usage(raw, {"model": "gpt-4o", "service_tier": "default"}),
    "responses": lambda raw: responses_usage(raw, {"model": "gpt-4o", "output": []}),
    "anthropic": anthropic_usage,
    "gemini": gemini_usage,
}
SHAPES = {"chat": _CHAT, "responses": _RESPONSES, "anthropic": _ANTHROPIC, "gemini": _GEMINI}


def _sound(usage: Usage) -> None:
    """What a reader says reported is counts: whole numbers, none past the ledger's bound; unreported, all zeros."""
    assert isinstance(usage, Usage)
    for count in usage.counts():
        assert type(count) is int, usage
        assert count <= MOST_TOKENS, usage
    if not usage.reported:
        assert not any(usage.counts()), usage
    assert usage.service_tier is None or isinstance(usage.service_tier, str)
    assert usage.inference_geo is None or isinstance(usage.inference_geo, str)


@PROPERTY
@given(st.data())
def test_no_json_where_the_counts_go_makes_a_reader_raise(data):
    for name, read in READERS.items():
        raw = data.draw(SHAPES[name] | json_values, label=name)
        _sound(read(raw))


@PROPERTY
@given(st.data())
def test_what_a_reader_says_reported_is_priced_or_flagged_never_raises(data):
    # whatever a reader passed on, pricing it gives a cost of at least 0 or None with a warning (never an exception:
    # the paid answer would be lost with it)
    pricer = Pricer()
    models = {"chat": ("openai", "gpt-4o"), "responses": ("openai", "gpt-4o"),
              "anthropic": ("anthropic", "claude-sonnet-4-5"), "gemini": ("google", "gemini-2.5-pro")}  # fmt: skip
    for name, read in READERS.items():
        usage = read(data.draw(SHAPES[name], label=name))
        quote = pricer.price(*models[name], usage)
        assert quote.cost_usd is None or quote.cost_usd >= 0, (name, usage, quote)
        if quote.cost_usd is None:
            assert quote.warning, (name, usage)


counts = st.integers(min_value=0, max_value=10**7)


@PROPERTY
@given(counts, counts, counts, counts, st.booleans())
def test_chat_completions_counts_hold_their_parts(prompt, completion, cached_part, reasoning_part, xai_style):
    cached = min(cached_part, prompt)
    reasoning = min(reasoning_part, completion)
    # OpenAI counts reasoning inside the completion; xAI beside it, its total the sum of the three
    total = prompt + completion + (reasoning if xai_style else 0)
    raw = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": total,
        "prompt_tokens_details": {"cached_tokens": cached},
        "completion_tokens_details": {"reasoning_tokens": reasoning},
    }
    usage = READERS["chat"](raw)
    assert usage.reported
    assert (usage.input_tokens, usage.cached_tokens, usage.reasoning_tokens) == (prompt, cached, reasoning)
    assert usage.output_tokens == completion + (reasoning if xai_style else 0)
    assert usage.cached_tokens <= usage.input_tokens and usage.reasoning_tokens <= usage.output_tokens


@PROPERTY
@given(counts, counts, counts, counts)
def test_responses_counts_hold_their_parts(input_tokens, output_tokens, cached_part, reasoning_part):
    cached, reasoning = min(cached_part, input_tokens), min(reasoning_part, output_tokens)
    raw = {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "total_tokens": input_tokens + output_tokens,
        "input_tokens_details": {"cached_tokens": cached},
        "output_tokens_details": {"reasoning_tokens": reasoning},
    }
    usage = READERS["responses"](raw)
    assert (usage.input_tokens, usage.output_tokens, usage.cached_tokens, usage.reasoning_tokens) == (
        input_tokens,
        output_tokens,
        cached,
        reasoning,
    )


@PROPERTY
@given(counts, counts, counts, counts, counts)
def test_anthropic_counts_its_cache_beside_the_input_and_ours_inside(uncached, output, read, five, hour):
    raw = {
        "input_tokens": uncached,
        "output_tokens": output,
        "cache_read_input_tokens": read,
        "cache_creation_input_tokens": five + hour,
        "cache_creation": {"ephemeral_5m_input_tokens": five, "ephemeral_1h_input_tokens": hour},
    }
    usage = READERS["anthropic"](raw)
    assert usage.input_tokens == uncached + read + five + hour
    assert (usage.cached_tokens, usage.cache_write_tokens, usage.cache_write_1h_tokens) == (read, five + hour, hour)
    assert usage.cached_tokens + usage.cache_write_tokens <= usage.input_tokens
    assert usage.cache_write_1h_tokens <= usage.cache_write_tokens
    assert usage.output_tokens == output


@PROPERTY
@given(counts, counts, counts, counts, counts, counts)
def test_gemini_counts_thoughts_as_output_and_cached_inside_the_prompt(prompt, tool, candidates, thoughts, cached_part,
                                                                         images_part):  # fmt: skip
    cached = min(cached_part, prompt)
    images = min(images_part, candidates)
    raw = {
        "promptTokenCount": prompt,
        "toolUsePromptTokenCount": tool,
        "candidatesTokenCount": candidates,
        "thoughtsTokenCount": thoughts,
        "cachedContentTokenCount": cached,
        "candidatesTokensDetails": [
            {"modality": "TEXT", "tokenCount": candidates - images},
            {"modality": "IMAGE", "tokenCount": images},
        ],
        "totalTokenCount": prompt + tool + candidates + thoughts,
    }
    usage = READERS["gemini"](raw)
    assert usage.input_tokens == prompt + tool
    assert usage.output_tokens == candidates + thoughts
    assert usage.reasoning_tokens == thoughts and usage.output_image_tokens == images
    assert usage.cached_tokens <= usage.input_tokens
    assert usage.output_image_tokens + usage.output_audio_tokens <= usage.output_tokens
