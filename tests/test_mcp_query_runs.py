"""query_runs paged by a client, through the SDK's in-memory client: stable pages and a way on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest
from mcp.client import Client

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("fake_scripts")]


async def invoke(client: Client, run_id: str) -> None:
    result = await client.call_tool(
        "invoke_skill", {"skill_id": "skill.analysis", "payload": {"data": run_id}, "run_id": run_id, "agent": "pager"}
    )
    assert not result.is_error, result.content[0].text


async def page(client: Client, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool("query_runs", {"filters": {"agent": "pager"}, **arguments})
    assert not result.is_error, result.content[0].text
    schema = next(t for t in (await client.list_tools()).tools if t.name == "query_runs").output_schema
    jsonschema.Draft202012Validator(schema).validate(result.structured_content)
    return result.structured_content


async def test_pages_neither_repeat_nor_skip_runs_when_new_runs_land_between_them(client: Client):
    # An agent reading its history page by page while it (or another) goes on calling: with offsets, each
    # new run pushed the older ones down a page, and the next page began with runs already seen.
    for i in range(5):
        await invoke(client, f"r-{i}")
    first = await page(client, limit=2)
    assert [r["run_id"] for r in first["runs"]] == ["r-4", "r-3"]
    assert first["has_more"] is True and isinstance(first["next_cursor"], str)
    await invoke(client, "r-new-1")
    await invoke(client, "r-new-2")
    second = await page(client, limit=2, cursor=first["next_cursor"])
    assert [r["run_id"] for r in second["runs"]] == ["r-2", "r-1"]
    assert second["has_more"] is True
    last = await page(client, limit=2, cursor=second["next_cursor"])
    assert [r["run_id"] for r in last["runs"]] == ["r-0"]
    assert last["has_more"] is False and last["next_cursor"] is None
    # a page that ends exactly at the last run says so, rather than sending the client to an empty page
    whole = await page(client, limit=7)
    assert len(whole["runs"]) == 7 and whole["has_more"] is False and whole["next_cursor"] is None


async def test_a_cursor_that_query_runs_did_not_give_is_refused_with_the_fix(client: Client):
    for cursor in ("garbage", "eyJ4IjoxfQ", "W10", "WzEsMl0"):
        result = await client.call_tool("query_runs", {"cursor": cursor})
        assert result.is_error
        text = result.content[0].text
        assert "cursor" in text and "next_cursor" in text and "Traceback" not in text, text
    # an empty cursor is no cursor, as an empty since is no bound: the first page
    await invoke(client, "r-0")
    assert [r["run_id"] for r in (await page(client, cursor=""))["runs"]] == ["r-0"]


async def test_a_crafted_cursor_is_refused_as_any_other_and_never_crashes_the_tool(client: Client):
    # Decoded, these are well-formed JSON pairs: a start too large for a float (an OverflowError), and a run
    # id SQLite cannot bind (an unpaired surrogate: a UnicodeEncodeError). Both were an internal error. So was
    # JSON nested past what the parser takes (a RecursionError), the --cursor of `magsag data query` too.
    import base64

    nested = b"[" * 100_000 + b"]" * 100_000
    for raw in (b"[1" + b"0" * 400 + b',"r"]', b'[1,"\\ud800"]', b'[true,"r"]', b'[1e999,"r"]', nested):
        cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        result = await client.call_tool("query_runs", {"cursor": cursor})
        assert result.is_error
        text = result.content[0].text
        assert text.startswith("input_error:") and "next_cursor" in text, (raw, text)


async def test_search_says_whether_more_matched_than_it_shows(client: Client):
    # 3 hits and a limit of 3 looked the same as 3 hits of 30: the client could not tell it saw them all
    for i in range(3):
        await invoke(client, f"r-{i}")

    async def search(limit: int) -> dict[str, Any]:
        result = await client.call_tool("search_usage", {"pattern": "pager", "limit": limit})
        assert not result.is_error, result.content[0].text
        schema = next(t for t in (await client.list_tools()).tools if t.name == "search_usage").output_schema
        jsonschema.Draft202012Validator(schema).validate(result.structured_content)
        return result.structured_content

    some = await search(2)
    assert len(some["hits"]) == 2 and some["has_more"] is True
    every = await search(3)
    assert len(every["hits"]) == 3 and every["has_more"] is False


async def test_runs_that_started_at_the_same_instant_are_paged_once_each(tmp_path: Path):
    # a coarse clock gives several runs one started_at: the cursor also carries the run id
    from magsag_mcp.ledger import Ledger, UsageFilters
    from magsag_mcp.records import RunRecord

    async with Ledger(tmp_path / "l.db") as ledger:
        for name in ("b", "a", "d", "c", "e"):
            await ledger.record_call(RunRecord(f"r-{name}", "tie", None, 1_764_460_800.0, status="ok"), [])
        seen, cursor = [], None
        while True:
            page = await ledger.query_runs_page(UsageFilters(agent="tie", limit=2, cursor=cursor))
            seen += [r["run_id"] for r in page["runs"]]
            if not page["has_more"]:
                break
            cursor = page["next_cursor"]
    assert seen == ["r-a", "r-b", "r-c", "r-d", "r-e"]


async def search_page(client: Client, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool("search_usage", {"pattern": "pager", **arguments})
    assert not result.is_error, result.content[0].text
    schema = next(t for t in (await client.list_tools()).tools if t.name == "search_usage").output_schema
    jsonschema.Draft202012Validator(schema).validate(result.structured_content)
    return result.structured_content


async def test_search_pages_on_with_a_cursor_to_hits_older_than_its_limit(client: Client):
    # search_usage shows at most 500 hits, newest first, and said to "narrow since to see the rest": but since
    # bounds how far back it looks, so a narrower one shows fewer of the newest hits, never the older ones.
    # Past the first page the older hits could not be reached at all. Now next_cursor pages on, as query_runs'.
    for i in range(5):
        await invoke(client, f"r-{i}")
    first = await search_page(client, limit=2)
    assert [h["run_id"] for h in first["hits"]] == ["r-4", "r-3"]
    assert first["has_more"] is True and isinstance(first["next_cursor"], str)
    await invoke(client, "r-new")  # a hit newer than the first page shifts nothing
    second = await search_page(client, limit=2, cursor=first["next_cursor"])
    assert [h["run_id"] for h in second["hits"]] == ["r-2", "r-1"]
    last = await search_page(client, limit=2, cursor=second["next_cursor"])
    assert [h["run_id"] for h in last["hits"]] == ["r-0"]
    assert last["has_more"] is False and last["next_cursor"] is None
    whole = await search_page(client, limit=6)
    assert len(whole["hits"]) == 6 and whole["has_more"] is False and whole["next_cursor"] is None
    for cursor in ("garbage", first["next_cursor"][:-2], "WzEsMl0"):
        result = await client.call_tool("search_usage", {"pattern": "pager", "cursor": cursor})
        assert result.is_error and result.content[0].text.startswith("input_error:"), result.content[0].text
        assert "next_cursor" in result.content[0].text and "leave cursor out" in result.content[0].text
    runs = await page(client, limit=1)  # a query_runs cursor is not a search's
    result = await client.call_tool("search_usage", {"pattern": "pager", "cursor": runs["next_cursor"]})
    assert result.is_error and "next_cursor" in result.content[0].text


async def test_a_search_cursor_given_with_another_pattern_is_refused_with_the_fix(client: Client):
    # A cursor names a place among its pattern's hits: given with another pattern, it paged on from there silently,
    # the newer hits of that pattern left out (here r-4 and r-3, which "r-" matches as "pager" does). Refused now,
    # saying to give the same pattern or no cursor; since and limit may change between pages, as query_runs' window.
    for i in range(5):
        await invoke(client, f"r-{i}")
    first = await search_page(client, limit=2)
    other = await client.call_tool("search_usage", {"pattern": "r-", "limit": 2, "cursor": first["next_cursor"]})
    text = other.content[0].text
    assert other.is_error and text.startswith("input_error:"), text
    assert "another pattern" in text and "same pattern" in text and "leave cursor out" in text, text
    same = await search_page(client, limit=3, since="7d", cursor=first["next_cursor"])
    assert [h["run_id"] for h in same["hits"]] == ["r-2", "r-1", "r-0"]
    # a cursor made before the digest was carried (its place alone) is taken as it always was
    import base64
    import json

    place = json.loads(base64.urlsafe_b64decode(first["next_cursor"] + "=" * (-len(first["next_cursor"]) % 4)))
    assert len(place) == 4 and place[-1].startswith("p:")
    old = base64.urlsafe_b64encode(json.dumps(place[:3]).encode()).decode().rstrip("=")
    assert [h["run_id"] for h in (await search_page(client, cursor=old))["hits"]] == ["r-2", "r-1", "r-0"]


async def test_search_hits_of_one_instant_are_paged_once_each(tmp_path: Path):
    # a coarse clock gives attempts, events and failed runs one time: the cursor also carries which hit it was
    from decimal import Decimal

    from magsag_mcp.errors import PayloadError
    from magsag_mcp.ledger import Ledger
    from magsag_mcp.records import AttemptRecord, RunRecord

    t = 1_764_460_800.0
    async with Ledger(tmp_path / "l.db") as ledger:
        for name in ("b", "a", "c"):
            attempt = AttemptRecord(f"r-{name}", t, "fake", "m", "s", "tie", "ok", 0, 1, cost_usd=Decimal(0))
            await ledger.record_call(RunRecord(f"r-{name}", "tie", "s", t, ended_at=t, status="ok"), [attempt, attempt])
            await ledger.log_event(f"r-{name}", "tie", "note", {"at": "tie"})
        for name in ("x", "y"):
            failed = RunRecord(f"r-{name}", "tie", "s", t, ended_at=t, status="error")
            await ledger.record_call(failed, [], error=PayloadError("tie: payload is missing field 'data'"))
        every = (await ledger.search_page("tie", 100))["hits"]
        assert len(every) == 3 * 2 + 3 + 2
        seen, cursor = [], None
        while True:
            page = await ledger.search_page("tie", 2, cursor=cursor)
            seen += page["hits"]
            if not page["has_more"]:
                break
            cursor = page["next_cursor"]
        assert seen == every


async def test_a_run_of_many_attempts_lists_its_latest_and_counts_the_others(tmp_path: Path):
    # A session (or a MAG) under one run id records every call in that run: query_runs listed every attempt of
    # every run, so limit=1 on a long session answered megabytes (each attempt is about 500 characters of JSON),
    # past what an MCP client takes into a model's context. Now a run lists its latest attempts_per_run
    # attempts and attempts_omitted counts the earlier ones; the ledger itself (the CLI's CSV export) keeps all.
    from decimal import Decimal

    from mcp.client import Client

    from magsag_mcp.ledger import Ledger
    from magsag_mcp.mcp_server import build_server
    from magsag_mcp.records import AttemptRecord, RunRecord

    db, t = tmp_path / "l.db", 1_764_460_800.0
    async with Ledger(db) as ledger:
        for i in range(60):
            attempt = AttemptRecord("long", t + i, "fake", f"m{i}", "s", "pager", "ok", 0, 1, cost_usd=Decimal(0))
            await ledger.record_call(RunRecord("long", "pager", "s", t, ended_at=t + i, status="ok"), [attempt])
        short = AttemptRecord("short", t, "fake", "m", "s", "pager", "ok", 0, 1, cost_usd=Decimal(0))
        await ledger.record_call(RunRecord("short", "pager", "s", t - 1, ended_at=t, status="ok"), [short])
        assert len((await ledger.query_runs({"run_id": "long"}))[0]["attempts"]) == 60
    catalog = Path(__file__).resolve().parent.parent / "catalog"
    async with Client(build_server(catalog=catalog, db=db, env={"MAGSAG_PROVIDER": "fake"})) as client:
        shown = await page(client)
        long, short_run = shown["runs"]
        assert [a["model"] for a in long["attempts"]] == [f"m{i}" for i in range(10, 60)]  # the latest, in order
        assert long["attempts_omitted"] == 10 and long["calls"] == 60
        assert len(short_run["attempts"]) == 1 and short_run["attempts_omitted"] == 0
        few = await page(client, attempts_per_run=3)
        assert [a["model"] for a in few["runs"][0]["attempts"]] == ["m57", "m58", "m59"]
        assert few["runs"][0]["attempts_omitted"] == 57
        every = await page(client, attempts_per_run=1000)
        assert len(every["runs"][0]["attempts"]) == 60 and every["runs"][0]["attempts_omitted"] == 0
        tool = next(t for t in (await client.list_tools()).tools if t.name == "query_runs")
        assert tool.input_schema["properties"]["attempts_per_run"]["default"] == 50


async def test_a_status_filter_in_another_case_selects_the_runs_of_that_status(client: Client):
    # as the CLI's --status and Python's status= take it (and a provider in any case): 'Error' was refused
    await client.call_tool("invoke_skill", {"skill_id": "skill.analysis", "payload": {"data": "x"}})
    for tool in ("query_runs", "summarize_usage"):
        results = [await client.call_tool(tool, {"filters": {"status": s}}) for s in ("ok", "OK", "Ok")]
        assert not any(r.is_error for r in results), [r.content[0].text for r in results]
        first = results[0].structured_content
        assert all(r.structured_content == first for r in results[1:])
    runs = (await client.call_tool("query_runs", {"filters": {"status": "OK"}})).structured_content["runs"]
    assert [r["status"] for r in runs] == ["ok"]
    none = await client.call_tool("query_runs", {"filters": {"status": "ERROR"}})
    assert not none.is_error and none.structured_content["runs"] == []


async def test_a_status_filter_in_another_form_is_told_the_status_it_means(client: Client):
    # 'expected one of ..., got a string' named no fix for 'errors', though every other misspelt name gets one
    for written in ("Errors", "errors"):
        result = await client.call_tool("query_runs", {"filters": {"status": written}})
        assert result.is_error
        text = result.content[0].text
        assert "filters.status: expected one of 'ok', 'error'," in text and "(did you mean 'error'?)" in text, text
        assert repr(written) not in text  # the value sent is never quoted back (it may be a key)


async def test_a_status_filter_written_as_another_word_is_told_the_status_it_means(client: Client):
    # 'failed' (the guide's "errors: Failed calls"), 'success', 'canceled': no status is spelt near them, and the
    # answer named none of the statuses meant
    words = (("failed", "error"), ("Success", "ok"), ("denied", "policy_denied"), ("canceled", "cancelled"))
    for written, meant in words:
        for tool in ("query_runs", "summarize_usage"):
            result = await client.call_tool(tool, {"filters": {"status": written}})
            assert result.is_error
            assert f"(did you mean {meant!r}?)" in result.content[0].text, (written, result.content[0].text)


async def test_the_next_page_is_read_with_the_cursor_and_the_same_filters_as_the_tools_say(client: Client):
    # next_cursor holds where a page ended, none of its filters: a client that passed the cursor alone, as the
    # schemas said ("the previous page's next_cursor: the page after it"), read every run after it, another agent's
    # too; the schemas now say to give the same filters (the pattern and since, for search_usage) with it
    await invoke(client, "r-1")
    await client.call_tool(
        "invoke_skill", {"skill_id": "skill.analysis", "payload": {"data": "x"}, "run_id": "other", "agent": "other"}
    )
    await invoke(client, "r-2")
    await invoke(client, "r-3")
    first = await page(client, limit=1)
    with_filters = await page(client, limit=5, cursor=first["next_cursor"])
    assert [r["run_id"] for r in with_filters["runs"]] == ["r-2", "r-1"]
    # given alone (or with other filters), it listed every run after it, another agent's too, with nothing said:
    # the cursor carries a digest of its page's filters, and a mismatch is refused saying what to give
    for filters in ({}, {"agent": "other"}, {"agent": "pager", "status": "error"}, {"skill": "skill.analysis"}):
        other = await client.call_tool("query_runs", {"filters": filters, "limit": 5, "cursor": first["next_cursor"]})
        assert other.is_error, (filters, other.structured_content)
        text = other.content[0].text
        assert "other filters" in text and "same filters" in text and "leave cursor out" in text, text
        assert "Traceback" not in text
    tools = {t.name: t for t in (await client.list_tools()).tools}
    cursor = tools["query_runs"].input_schema["properties"]["cursor"]["description"]
    assert "with the same filters" in cursor
    assert "with the same filters" in tools["query_runs"].output_schema["properties"]["has_more"]["description"]
    search = tools["search_usage"]
    # since may differ from the page's (a window of its own), as the refusal of another pattern's cursor says
    described = search.input_schema["properties"]["cursor"]["description"]
    assert "with the same pattern (" in described and "since may differ" in described, described
    assert "same pattern and since" not in described, described
    more = search.output_schema["properties"]["has_more"]["description"]
    assert "with the same pattern, for them" in more and "same pattern and since" not in more, more


async def test_a_cursor_goes_on_with_its_filters_written_another_way_and_one_made_before_its_digest_still_works(
    client: Client,
):
    # the digest is of the filters as read (a status in any case, a provider by any alias): the same filter
    import base64
    import json

    for i in range(3):
        await invoke(client, f"r-{i}")
    pager = {"agent": "pager", "status": "ok"}
    result = await client.call_tool("query_runs", {"filters": pager, "limit": 1})
    cursor = result.structured_content["next_cursor"]
    written = {"agent": "pager", "status": "OK"}
    again = await client.call_tool("query_runs", {"filters": written, "limit": 5, "cursor": cursor})
    assert not again.is_error, again.content[0].text
    assert [r["run_id"] for r in again.structured_content["runs"]] == ["r-1", "r-0"]
    # and a window may change between pages, as limit may: the cursor is a place in time
    windowed = await client.call_tool("query_runs", {"filters": {**pager, "since": "1h"}, "cursor": cursor})
    assert [r["run_id"] for r in windowed.structured_content["runs"]] == ["r-1", "r-0"]
    # a cursor of two items (the place alone), as pages gave before the digest, is taken as it was
    place = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))[:2]
    old = base64.urlsafe_b64encode(json.dumps(place).encode()).decode().rstrip("=")
    older = await page(client, limit=5, cursor=old)
    assert [r["run_id"] for r in older["runs"]] == ["r-1", "r-0"]
    # and a third item that is no digest is no cursor query_runs gave
    bad = base64.urlsafe_b64encode(json.dumps([*place, 7]).encode()).decode().rstrip("=")
    refused = await client.call_tool("query_runs", {"cursor": bad})
    assert refused.is_error and "is not one query_runs gave" in refused.content[0].text
