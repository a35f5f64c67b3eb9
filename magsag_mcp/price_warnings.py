"""Why a call's cost is unknown, said with the fix: the warnings :mod:`.pricing` gives, and the reasons it records
beside a model it cannot price (said after the model's name, as ``provider:model <reason>``)."""

from __future__ import annotations

from decimal import Decimal

from .plurals import counted
from .price_files import AZURE_DEPLOYMENT_TYPE_ENV, GLOBAL_STANDARD
from .rates import Priced, bare_model
from .types import Usage

#: why a call to one of OpenAI's web-search models is of unknown cost, said after its name
SEARCH_FEE = (
    "searches the web on every call, billed per search on top of its tokens, which genai-prices' token rates leave out"
)


def billed_by_ollama(label: str, prices: str) -> str:
    """Why an Ollama cloud model on the local server (``label``: ``local:gpt-oss:120b-cloud``) is of unknown cost,
    said after its name, with the fix: only an entry naming it prices it (a glob such as ``local:*`` prices the
    operator's own machines)."""
    return (
        "is an Ollama cloud model, run and billed on ollama.com (a plan's usage), not free as the local server's own "
        f"models are; price it by its name in {prices} to record a cost, e.g. "
        f'"{label}": {{input: ..., output: ...}} (a glob such as "local:*" does not price it)'
    )


def per_use_charges(label: str, usage: Usage) -> str:
    """The warning of an answer that reports server tool calls billed per use beside its tokens (web searches, file
    searches), which no token rate prices."""
    return (
        f"{label} reported server tool calls billed per use beside its tokens ({_uses(usage)}), which no price here "
        "gives; its cost is recorded as unknown (its tokens alone would under-state it)"
    )


def per_use_priced(label: str, usage: Usage, fee: Decimal, cost: Decimal) -> str:
    """The note of an answer whose server tool calls billed per use were priced (Claude's web searches): what of its
    ``cost`` they are, which the tokens alone do not make (the ledger counts them in ``server_tool_uses``)."""
    return (
        f"{label} reported server tool calls billed per use beside its tokens ({_uses(usage)}), which magsag does not "
        f"ask for: ${fee:f} of its ${cost:f} is theirs, at genai-prices' rate per use"
    )


def _uses(usage: Usage) -> str:
    """``usage``'s server tool calls in words: "2 web searches, 1 file search"."""
    return ", ".join(
        counted(n, *PER_USE_NAMES.get(kind, (kind.replace("_", " "), None))) for kind, n in usage.server_tool_calls
    )


#: each kind of server tool call (Usage.server_tool_calls', the ledger's server_tool_uses' keys) as a warning counts
#: it: one, and its plural (None: a bare "s")
PER_USE_NAMES: dict[str, tuple[str, str | None]] = {
    "web_search": ("web search", "web searches"),
    "file_search": ("file search", "file searches"),
    "code_interpreter": ("code interpreter call", None),
    "image_generation": ("generated image", None),
    "grounded_prompt": ("grounded prompt", None),
}


def not_global(deployment_type: str, deployment: str, prices: str) -> str:
    """Why an Azure deployment of a type genai-prices does not price (see Pricer._resolve) is of unknown cost, said
    after its name, with the fix: its rates in ``prices`` (the catalog's price file, as
    :func:`~magsag_mcp.catalog_edits.prices_file_named` names it, as every fix here does)."""
    return (
        f"is a {deployment_type} deployment ({AZURE_DEPLOYMENT_TYPE_ENV}), which Azure bills at rates of its own, "
        f"not the {GLOBAL_STANDARD} rates genai-prices gives; add the deployment's rates to {prices}, e.g. "
        f'"azure:{deployment}": {{input: ..., output: ...}}'
    )


def not_azures(vendor: str, deployment: str, prices: str) -> str:
    """Why an Azure deployment of another vendor's model is of unknown cost, said after its name, with the fix."""
    return (
        f"is priced in genai-prices only at {vendor}'s own API rates, which are not what Azure bills its deployment; "
        f"add the deployment's rates to {prices}, e.g. "
        f'"azure:{deployment}": {{input: ..., output: ...}}'
    )


def fine_tune(deployment: str, answering: str, prices: str) -> str:
    """Why an Azure deployment answering as a fine-tune of no known price is of unknown cost, with the fix."""
    return (
        f"azure:{deployment} answered as the fine-tune {answering}, billed at rates of its own that no price known "
        f"here gives; its cost is recorded as unknown. Add the deployment's rates to {prices}, e.g. "
        f'"azure:{deployment}": {{input: ..., output: ...}}'
    )


def untiered_entry(provider: str, model: str, tier: str) -> str:
    """Why a call a service tier served is of unknown cost when a prices.yaml entry prices its model but not that
    tier, said after the model's name, with the fix."""
    label = f"{provider}:{bare_model(provider, model)}"
    return (
        f"answered on service tier {tier!r}, which its prices.yaml entry gives no rates for (the entry's input and "
        f"output are the standard tier's); add the tier's to the entry, e.g. \"{label}\": {{input: ..., output: ..., "
        f"service_tiers: {{{tier}: {{input: ..., output: ...}}}}}}"
    )


#: what keeps a call off a priority tier its provider's answers came on (a project's default tier): worst_cases'
#: _STANDARD_ONLY reserves such a call at the standard rates
_KEEP_OFF = {"openai": "params.service_tier: default", "google": "params.serviceTier: standard"}


def tier_fix(provider: str, model: str, tier: str, prices: str) -> str:
    """The fix for a call a service tier genai-prices has no price for served (Anthropic's Priority Tier, sold by
    contract), said after why its cost is unknown."""
    label = f"{provider}:{bare_model(provider, model)}"
    fix = (
        f'; add its rates to {prices}, e.g. "{label}": {{input: ..., output: ..., '
        f"service_tiers: {{{tier}: {{input: ..., output: ...}}}}}}"
    )
    if provider == "anthropic" and tier == "priority":
        fix += " (your Priority Tier contract's), or send params.service_tier: standard_only to keep calls off it"
    elif tier == "priority" and provider in _KEEP_OFF:
        fix += f", or send {_KEEP_OFF[provider]} to keep calls off it"
    return fix


def parts_beyond_whole(usage: Usage) -> str:
    """Which of ``usage``'s breakdowns counts more tokens than the count it breaks down: the prompt's cached,
    cache-written and audio tokens are parts of ``input_tokens``, 1-hour writes of ``cache_write_tokens``,
    and the answer's audio and image tokens of ``output_tokens``."""
    parts_in = usage.cached_tokens + usage.cache_write_tokens + usage.input_audio_tokens
    parts_out = usage.output_audio_tokens + usage.output_image_tokens
    if parts_in <= usage.input_tokens and parts_out <= usage.output_tokens:
        return f"{usage.cache_write_1h_tokens} 1-hour cache writes of {usage.cache_write_tokens} cache writes"
    if parts_in > usage.input_tokens:
        return f"{parts_in} cached, cache-written and audio input tokens of only {usage.input_tokens} input tokens"
    return f"{parts_out} audio and image output tokens of only {usage.output_tokens} output tokens"


def time_to_live_asked(label: str, usage: Usage, asked: str) -> str:
    """The note of an answer whose cache writes of a time to live it did not say were priced at the one (``asked``)
    every cache marker of its request asked (see Pricer.price): the ledger keeps the split the answer said, which
    alone does not make its cost, so how many were priced so is said, not left nowhere."""
    rate = "1-hour" if asked == "1h" else "5-minute"
    return (
        f"{label} reported {counted(usage.cache_write_tokens, 'cache write')}, "
        f"{usage.cache_write_ttl_unsaid_tokens:,} of them of a time to live its answer did not say (past its "
        f"cache_creation's split, or without one): priced as {rate} writes, the ttl {asked!r} every cache_control "
        "marker of its request asked"
    )


def unsaid_time_to_live(label: str, usage: Usage, asked: frozenset[str] = frozenset()) -> str:
    """Why a call some of whose cache writes the answer did not say the time to live of is of unknown cost (see
    Usage.cache_write_ttl_unsaid_tokens): a 5-minute write and a 1-hour one are billed at different rates, and the
    request's cache markers (``asked``: their times to live) did not ask one alone, which would have said it."""
    unsaid = usage.cache_write_ttl_unsaid_tokens
    known = sorted(asked & {"5m", "1h"})
    if len(known) > 1:
        markers = f"its request's cache_control markers asked for both ({', '.join(known)})"
    elif asked:
        markers = 'a cache_control marker of its request asked for a ttl other than "5m" or "1h"'
    else:
        markers = "its request sent no cache_control marker to tell (params.cache_control)"
    return (
        f"{label} reported {counted(usage.cache_write_tokens, 'cache write')}, {unsaid} of them past those its "
        "cache_creation split into 5-minute and 1-hour writes (a stream's message_delta counts every write, its "
        "message_start splits them; an answer without cache_creation splits none): which they were is not said, "
        f"{markers}, and the two are billed at different rates; its cost is recorded as unknown, not priced as "
        "5-minute writes. Give every cache_control marker one ttl for such writes to be priced at its rate"
    )


def cached_audio(label: str, usage: Usage) -> str:
    """Why a call that read audio from a cache is of unknown cost (see Usage.cached_audio_tokens)."""
    return (
        f"{label} reported {usage.cached_audio_tokens} cached audio tokens (or, its cache not broken down by "
        "modality, up to that many), billed at a cached audio rate of their own, not at the audio rate and the cached "
        "text one both; no rate here prices them, so its cost is recorded as unknown"
    )


def past_the_window(label: str, prompt: int, window: int, prices: str) -> str:
    """Why an Anthropic call whose prompt passed the context window genai-prices lists for its model, whose price
    there is flat, is of unknown cost."""
    return (
        f"{label} reported {prompt} prompt tokens, past the {window}-token context window genai-prices lists: "
        "Anthropic serves that only under its 1M-context beta, and bills the whole request at long-context rates "
        "(Claude Sonnet 4: twice the input rate and 1.5 times the output rate past 200,000 prompt tokens), which "
        "genai-prices' flat price leaves out; its cost is recorded as unknown, counted at its worst case at those "
        "rates, or at its reported tokens at them where they cost more. To record a cost, keep the model's prompts "
        f"within the window, or price it in {prices}: an entry's rates price every call of the model, so give the "
        "long-context ones only where all its calls pass the window"
    )


def unsplit_total(label: str, usage: Usage) -> str:
    """Why a call whose total_tokens held tokens beside its cache told apart from neither is of unknown cost (see
    Usage.total_unsplit_tokens)."""
    extra = usage.total_unsplit_tokens
    return (
        f"{label} reported a total_tokens {extra} above its input and output tokens, beside {usage.cached_tokens} "
        f"cached and {usage.cache_write_tokens} cache-write tokens, without saying whether those {extra} were "
        "reasoning (billed as output) or cache counted outside the input (billed at the cache's rates); its cost is "
        "recorded as unknown. The OpenAI API counts the cache in the input (input_tokens, Chat Completions' "
        "prompt_tokens) and reasoning in the output (output_tokens, completion_tokens): a gateway that counts them so "
        "is priced exactly, and one that says what it billed (OpenRouter's usage.cost) is recorded at that"
    )


def unknown_cost_warning(priced: Priced, label: str, usage: Usage, prices: str) -> str:
    if priced.unknown_because == SEARCH_FEE:
        return (
            f"{label} {SEARCH_FEE}; its cost is recorded as unknown. A price in {prices} is taken as "
            f'what its calls cost, e.g. "{label}": {{input: ..., output: ...}}'
        )
    if priced.unknown_because:
        return f"{label} {priced.unknown_because}; its cost is recorded as unknown"
    missing = priced.missing(usage) if priced.source is not None else None
    if missing is None:
        return (
            f"no price known for {label}; its cost is recorded as unknown. "
            f'Add it to {prices}, e.g. "{label}": {{input: 0.5, output: 1.5}}'
        )
    what, key = missing
    return (
        f"no price known for the {what} of {label} ({priced.source} has none); its cost is recorded as "
        f'unknown. Add the rate to {prices}, e.g. "{label}": {{input: ..., output: ..., {key}: ...}}'
    )


def split_past_written(label: str, usage: Usage, cost: Decimal) -> str | None:
    """The note of a Claude answer whose ``cache_creation`` split counted more cache writes than its
    ``cache_creation_input_tokens`` (Usage.cache_write_split_past_tokens): priced at the split's figure, the larger,
    so as never to count less than may have been billed; None where the two agree."""
    past = usage.cache_write_split_past_tokens
    if not past:
        return None
    split = usage.cache_write_tokens
    return (
        f"{label} reported cache_creation's split by time to live ({usage.cache_write_1h_tokens} 1-hour and "
        f"{split - usage.cache_write_1h_tokens} 5-minute writes) counting {past} more cache-write tokens than its "
        f"cache_creation_input_tokens ({split - past}); the two disagree and the answer does not say which is right: "
        f"the call was priced at the split's {split} writes, the larger (${cost:f}), and may have been billed less"
    )


def joined(*notes: str | None) -> str | None:
    """A price's notes said together ("; " between them); None where there are none."""
    said = [note for note in notes if note]
    return "; ".join(said) if said else None
