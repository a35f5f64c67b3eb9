"""The Messages API's usage: cache reads and writes are counted *beside* ``input_tokens``, and our
:class:`~magsag_mcp.types.Usage` counts them inside it; ``cache_creation`` splits the writes by time to live (a
1-hour write is billed at 2x input, a 5-minute one at 1.25x); ``inference_geo`` ("us": US-only inference) is billed at
1.1x; ``service_tier`` says the tier that served it, and so the rates it is billed at; ``server_tool_use`` counts
the web searches billed per search beside the tokens."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..types import LLMRequest, Usage
from .wire_format import reported_usage


def usage(raw: Any) -> Usage:
    """The Messages API's ``usage`` as our :class:`~magsag_mcp.types.Usage` (not reported: none, or no count in it)."""
    return reported_usage(_counted, raw)


def _counted(raw: dict[str, Any]) -> Usage:
    if raw.get("input_tokens") is None or raw.get("output_tokens") is None:
        # both are required: a gateway's usage without one is no count of it, not 0 tokens (nor $0)
        raise ValueError("usage without input_tokens or output_tokens")
    read = int(raw.get("cache_read_input_tokens") or 0)
    written = int(raw.get("cache_creation_input_tokens") or 0)
    # cache_creation splits the writes by time to live: a 1-hour write is billed at its own (higher) rate.
    # A stream reports it in message_start only: message_delta's usage has no cache_creation, and its
    # cache_creation_input_tokens is cumulative, so it may count writes past those message_start split. Their time to
    # live is not said: they are counted apart (priced at the time to live the request's markers ask, where they ask
    # one: see cache_ttls_asked), not taken for 5-minute ones. So are the writes of a usage with no cache_creation at
    # all (a gateway's, or an older API's: the spec makes it nullable), which were priced as 5-minute writes, and a
    # 1-hour one recorded at 5/8 of its bill as if exact
    by_ttl = raw.get("cache_creation")
    hour = unsaid = past = 0
    if isinstance(by_ttl, dict):
        hour = int(by_ttl.get("ephemeral_1h_input_tokens") or 0)
        split = hour + int(by_ttl.get("ephemeral_5m_input_tokens") or 0)
        if written > split:
            unsaid = written - split
        # a split counting more writes than cache_creation_input_tokens (a gateway's, or a broken count): one of the
        # two is wrong, and not said which; the larger is priced (the smaller may under-count what was billed), and
        # how many more the split counts is kept (Usage.cache_write_split_past_tokens), which the price's note says
        past = max(split - written, 0)
        written = max(written, split)
    else:
        unsaid = written
    # output_tokens already includes thinking; output_tokens_details says how much of it was thinking.
    thinking = int((raw.get("output_tokens_details") or {}).get("thinking_tokens") or 0)
    # a server tool's requests: web searches are billed per search ($10 per 1,000) beside the tokens; web fetches
    # cost only the tokens they read in
    server_tools = raw.get("server_tool_use")
    # (null when no server tool was offered, and a gateway's object without the count: no count said, not 0 searches)
    said = server_tools.get("web_search_requests") if isinstance(server_tools, dict) else None
    searches = int(said or 0)
    if searches < 0:  # no count (a broken figure), not no searches: the usage is not reported, its cost unknown
        raise ValueError("web_search_requests below 0")
    return Usage(
        input_tokens=int(raw.get("input_tokens") or 0) + read + written,
        output_tokens=int(raw.get("output_tokens") or 0),
        cached_tokens=read,
        cache_write_tokens=written,
        reasoning_tokens=thinking,
        cache_write_1h_tokens=hour,
        cache_write_ttl_unsaid_tokens=unsaid,
        cache_write_split_past_tokens=past,
        # a stream says it in message_start only (MessageDeltaUsage has no inference_geo)
        inference_geo=raw["inference_geo"] if isinstance(raw.get("inference_geo"), str) else None,
        # "standard", "priority" (Priority Tier, billed by contract) or "batch"; a stream says it in message_start only
        service_tier=raw.get("service_tier"),
        server_tool_calls=(("web_search", searches),) if searches > 0 else (),
        server_tools_said=said is not None,
    )


#: the system prompt Anthropic adds to a request that carries tools, billed as input tokens beside the tools
#: themselves ("Tool use system prompt token count"): Claude 3 Opus 530 (tool_choice auto), every later model 346 at
#: most (313 to 346 by tool_choice)
TOOL_PROMPT_TOKENS = 346
TOOL_PROMPT_TOKENS_3_OPUS = 530


def tool_prompt_tokens(model: str, request: LLMRequest) -> int:
    """The tokens of the tool-use system prompt a call of ``request`` may be billed (its tools, or the forced tool a
    JSON schema goes through), which it does not send, and an estimate of its prompt cannot see."""
    if not request.tools and request.json_schema is None:
        return 0
    return TOOL_PROMPT_TOKENS_3_OPUS if "claude-3-opus" in model else TOOL_PROMPT_TOKENS


#: a cache marker's time to live where it says none (CacheControlEphemeral's ``ttl``: "Defaults to `5m`")
DEFAULT_CACHE_TTL = "5m"
#: the times to live a marker may ask (CacheControlEphemeral's ``ttl`` enum), each billed at a write rate of its own
CACHE_TTLS = frozenset({"5m", "1h"})
#: a marker whose ``ttl`` is none of those: what it asked is not known
_TTL_UNKNOWN = "?"


def cache_ttls_asked(request: LLMRequest) -> frozenset[str]:
    """The times to live of every cache marker ``request`` sends (:func:`cache_ttls_marked` of its vendor params).
    magsag writes no marker of its own into a message (a text block's ``cache_control`` is dropped as it becomes
    text): every one the Messages API sees comes with the vendor params (a target's ``params.cache_control``, the
    top-level marker, or a param that carries blocks of its own: ``system``, ``tools``, ``messages``), so those are
    read whole. Anthropic writes to its cache only where a marker asks, at the marker's time to live: a usage's writes
    whose time to live it does not say (Usage.cache_write_ttl_unsaid_tokens) were written at the one time to live
    every marker asked, where they asked one; and a call's budget reservation holds the dearest write they allow."""
    return cache_ttls_marked(request.extra)


def cache_ttls_marked(params: Any) -> frozenset[str]:
    """The times to live of every cache marker (a ``cache_control`` of type "ephemeral", CacheControlEphemeral's only
    type) in ``params`` (vendor params as a request sends them: a mapping, or a target's (name, value) pairs), each
    "5m" unless its ``ttl`` says "1h" ("?" for a marker of neither); empty for params that mark nothing. The one
    reader of markers: the price of an answer's writes and the reservation of a call yet to be sent both ask it."""
    asked: set[str] = set()
    # (a target's params are (name, value) pairs: read as the mapping they stand for, the top-level marker included)
    pending: list[Any] = [dict(params) if isinstance(params, tuple) else params]
    while pending:  # (iterative: a deeply nested param cannot exhaust the stack)
        value = pending.pop()
        if isinstance(value, Mapping):
            marker = value.get("cache_control")
            if isinstance(marker, Mapping) and marker.get("type") == "ephemeral":
                # (only a marker: the top-level ``cache_control: null`` the spec allows asks nothing, and a JSON
                # schema's property of that name, a tool's input_schema or output_config's, is no marker at all)
                ttl = marker.get("ttl", DEFAULT_CACHE_TTL)
                asked.add(ttl if ttl in CACHE_TTLS else _TTL_UNKNOWN)
            pending.extend(value.values())
        elif isinstance(value, list | tuple):
            pending.extend(value)
    return frozenset(asked)
