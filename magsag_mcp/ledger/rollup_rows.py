"""A call's rows of usage_rollup, the daily buckets summaries read instead of every attempt: made from its attempts
(:func:`rollup_rows`), with the statements that add them to the stored rows (:data:`UPSERT_ROLLUP`, and
:data:`UPSERT_ROLLUP_PARTS` for a row holding parts of a bill, 0031). :mod:`.writes` writes them with the call's other
rows."""

from __future__ import annotations

from typing import Any

from ..records import AttemptRecord
from .migrations import ROLLUP_BUCKET_SECONDS
from .money import checked_add
from .rollup_reads import ROLLUP_PART_COLUMNS

#: an upsert's call (see 0016_costliest_call) is costlier than the row's (its SET reads the row as it was)
_CALL_COSTLIER = "excluded.call_max_pusd > call_max_pusd"

UPSERT_ROLLUP = (
    "INSERT INTO usage_rollup (bucket, model, provider, agent, skill, outcome, attempts, input_tokens, output_tokens,"
    " cached_tokens, reasoning_tokens, cost_pusd, unpriced, cost_bound_pusd, bounded, call_max_pusd, call_max_run_id,"
    " call_max_at, calls, cache_write_tokens, cache_write_1h_tokens)"
    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
    " ON CONFLICT(bucket, model, provider, agent, skill, outcome) DO UPDATE SET"
    " attempts = attempts + excluded.attempts, input_tokens = input_tokens + excluded.input_tokens,"
    " output_tokens = output_tokens + excluded.output_tokens, cached_tokens = cached_tokens + excluded.cached_tokens,"
    f" reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens, {checked_add('usage_rollup', 'cost_pusd')},"
    f" unpriced = unpriced + excluded.unpriced, {checked_add('usage_rollup', 'cost_bound_pusd')},"
    " bounded = bounded + excluded.bounded, calls = calls + excluded.calls,"
    " cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens,"
    " cache_write_1h_tokens = cache_write_1h_tokens + excluded.cache_write_1h_tokens,"
    # the costliest call ending in the row (-1: none), and its run and time: the first recorded of equal costs
    f" call_max_run_id = CASE WHEN {_CALL_COSTLIER} THEN excluded.call_max_run_id ELSE call_max_run_id END,"
    f" call_max_at = CASE WHEN {_CALL_COSTLIER} THEN excluded.call_max_at ELSE call_max_at END,"
    " call_max_pusd = MAX(call_max_pusd, excluded.call_max_pusd)"
)

#: a rollup row's columns before its parts: the rows of attempts none of whose answers said a part (most calls: a
#: Chat Completions answer says none) end there, and are written by UPSERT_ROLLUP as they were before 0031
ROLLUP_PLAIN_WIDTH = 21

#: UPSERT_ROLLUP for the rows holding parts of a bill (0031, 0033, 0036): their columns more (ROLLUP_PART_COLUMNS),
#: bound and added
UPSERT_ROLLUP_PARTS = (
    UPSERT_ROLLUP.replace(" cache_write_1h_tokens)", f" cache_write_1h_tokens, {', '.join(ROLLUP_PART_COLUMNS)})", 1)
    .replace(" VALUES (", " VALUES (" + "?," * len(ROLLUP_PART_COLUMNS), 1)
    .replace(
        " DO UPDATE SET",
        " DO UPDATE SET" + "".join(f" {c} = {c} + excluded.{c}," for c in ROLLUP_PART_COLUMNS),
        1,
    )
)


def billing_parts(a: AttemptRecord) -> tuple[int, ...]:
    """What ``a`` adds to its rollup row's parts of a bill (:data:`ROLLUP_PART_COLUMNS`), or () where its answer said
    none of them (its row then ends before them: see :data:`ROLLUP_PLAIN_WIDTH`). A part not said (None) adds nothing,
    not even to the count of the attempts that said it: never a silent 0 in a sum."""
    images, geo, uses = a.output_image_tokens, a.inference_geo, a.server_tool_uses
    unsaid = a.cache_write_ttl_unsaid_tokens  # (0033: a count, 0 for none, summed as the parts are)
    past = a.cache_write_split_past_tokens  # (0036: likewise)
    if images is None and geo is None and uses is None and not unsaid and not past:
        return ()
    if uses is None:
        tools: tuple[int, ...] = (0, 0, 0, 0, 0, 0)
    else:
        get = uses.get
        tools = (1, get("web_search", 0), get("file_search", 0), get("code_interpreter", 0),
                 get("image_generation", 0), get("grounded_prompt", 0))  # fmt: skip
    if images is None:
        return (0, 0, int(geo == "us"), int(geo is not None), *tools, unsaid, past)
    return (images, 1, int(geo == "us"), int(geo is not None), *tools, unsaid, past)


def add_parts(sums: list[Any], parts: tuple[int, ...]) -> None:
    """``parts`` (see :func:`billing_parts`) added to a rollup row being summed, ``sums``, whose parts they begin
    where it has none yet."""
    if not parts:
        return
    if len(sums) == ROLLUP_PLAIN_WIDTH:
        sums += parts
        return
    for i, n in enumerate(parts, ROLLUP_PLAIN_WIDTH):
        sums[i] += n


def rollup_rows(
    attempts: list[AttemptRecord], money: list[tuple[int | None, int | None]], last: int, call: int
) -> list[tuple[Any, ...]]:
    """Attempts folded into daily usage buckets, so summaries never scan every attempt. ``money``: each
    attempt's cost and bound in pico-USD (see :meth:`RecordWrite.of`); ``last``: the index of the call's last
    attempt that reached a provider (-1: none), whose row the call and its cost ``call`` count in (a row's last
    column but two: the calls ending in it, see 0018_usage_rollup_counts_calls; the last two: the cache writes and
    their 1-hour part, see 0021_usage_rollup_cache_writes). A row whose attempts said any part of a bill goes on with
    those parts (:data:`ROLLUP_PART_COLUMNS`, see 0031_usage_rollup_billing_parts); the others end there."""
    if len(attempts) == 1:  # most calls: its one row as it is, no bucket to fold into
        a, (cost, bound) = attempts[0], money[0]
        bucket = int(a.started_at // ROLLUP_BUCKET_SECONDS)
        row = (bucket, a.model, a.provider, a.agent or "", a.skill or "", a.outcome, 1, a.input_tokens, a.output_tokens)
        peak = (call, a.run_id, a.started_at, 1) if last == 0 else (-1, None, None, 0)
        if (
            a.output_image_tokens is None
            and a.inference_geo is None
            and a.server_tool_uses is None
            and not a.cache_write_ttl_unsaid_tokens
            and not a.cache_write_split_past_tokens
        ):
            written: tuple[Any, ...] = (a.cache_write_tokens, a.cache_write_1h_tokens)  # (most: no part said)
        else:  # (billing_parts' own test, inline: its frame was most of what 0031 cost a call's Python)
            written = (a.cache_write_tokens, a.cache_write_1h_tokens, *billing_parts(a))
        if a.cost_usd is not None:  # cost, unpriced, cost bound, bounded, then the costliest call's
            return [(*row, a.cached_tokens, a.reasoning_tokens, cost or 0, 0, 0, 0, *peak, *written)]
        if a.cost_bound_usd is not None:
            return [(*row, a.cached_tokens, a.reasoning_tokens, 0, 1, bound or 0, 1, *peak, *written)]
        return [(*row, a.cached_tokens, a.reasoning_tokens, 0, 1, 0, 0, *peak, *written)]
    # each bucket's whole row, its key (6 columns) and then its numbers, made a tuple by map() (no comprehension). A
    # key's first attempt writes its row as it is (the keys of a fallback's attempts differ, their targets' models):
    # only a key seen again adds to it
    acc: dict[tuple[Any, ...], list[Any]] = {}
    for a, (cost, bound) in zip(attempts, money, strict=True):
        key = (int(a.started_at // ROLLUP_BUCKET_SECONDS), a.model, a.provider, a.agent or "", a.skill or "", a.outcome)
        found = acc.get(key)
        # (billing_parts' own test, inline: most attempts said no part of a bill, and a call to learn it was a frame)
        said = (
            a.output_image_tokens is not None
            or a.inference_geo is not None
            or a.server_tool_uses is not None
            or a.cache_write_ttl_unsaid_tokens != 0
            or a.cache_write_split_past_tokens != 0
        )
        if found is None:
            if a.cost_usd is not None:  # cost, unpriced, cost bound, bounded, then the costliest call's
                money_part = (cost or 0, 0, 0, 0)
            elif a.cost_bound_usd is not None:
                money_part = (0, 1, bound or 0, 1)
            else:
                money_part = (0, 1, 0, 0)
            sums = acc[key] = [
                *key, 1, a.input_tokens, a.output_tokens, a.cached_tokens, a.reasoning_tokens, *money_part,
                -1, None, None, 0, a.cache_write_tokens, a.cache_write_1h_tokens,
            ]  # fmt: skip
            if said:
                sums += billing_parts(a)
            continue
        sums = found
        sums[6] += 1  # attempts
        sums[7] += a.input_tokens
        sums[8] += a.output_tokens
        sums[9] += a.cached_tokens
        sums[10] += a.reasoning_tokens
        sums[19] += a.cache_write_tokens
        sums[20] += a.cache_write_1h_tokens
        if said:
            add_parts(sums, billing_parts(a))
        if a.cost_usd is not None:
            sums[11] += cost or 0  # cost
        else:
            sums[12] += 1  # unpriced
            if a.cost_bound_usd is not None:
                sums[13] += bound or 0  # cost bound
                sums[14] += 1  # bounded
    if last >= 0:
        a = attempts[last]
        if last < len(attempts) - 1:  # (the last attempt's row is the loop's last: most calls end in it)
            bucket = int(a.started_at // ROLLUP_BUCKET_SECONDS)
            sums = acc[(bucket, a.model, a.provider, a.agent or "", a.skill or "", a.outcome)]
        sums[15:19] = call, a.run_id, a.started_at, 1
    return list(map(tuple, acc.values()))
