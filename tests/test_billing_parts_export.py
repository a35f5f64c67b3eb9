"""An export re-derives every attempt's cost (0030_attempt_billing_parts): beside its tokens, each attempt records the
parts of its bill its tokens alone do not give, NULL where the answer did not say them. An auditor holding the CSV or
JSON export and genai-prices' data prices each row again, to the digit the ledger holds:

* Claude's web searches (``usage.server_tool_use.web_search_requests``), billed per search at genai-prices' rate
  beside the tokens, and US-only inference (``usage.inference_geo: "us"``), billed at 1.1x the token rates (a
  multiple genai-prices does not know: rates.GEO_MULTIPLIERS) but not the searches;
* Gemini's pictures (``candidatesTokensDetails``' IMAGE tokens), billed at the image model's image rate.

OpenAI's image output: neither format magsag speaks reports it. Chat Completions' ``completion_tokens_details`` and
the Responses API's ``output_tokens_details`` count no image tokens (the spec's ``output_image_tokens`` is in the
organization usage API alone; gpt-image-1's token counts come from the Images API, which magsag does not call), and
the Responses API's ``image_generation_call`` items are counted per use, of unknown cost. So an OpenAI attempt's
``output_image_tokens`` is NULL: checked below, with its ``server_tool_uses`` (NULL too where no item counts a use).
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import sqlite3
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import anyio
import genai_prices
import pytest
from genai_prices import types as gp

from magsag_mcp.cascade_report import set_usage
from magsag_mcp.cli import main
from magsag_mcp.pricing import PriceQuote
from magsag_mcp.providers.anthropic_usage import usage as anthropic_usage
from magsag_mcp.providers.gemini_usage import gemini_usage
from magsag_mcp.records import AttemptRecord
from magsag_mcp.service import Service
from tests.older_version import (
    leave_as_before_0030,
    leave_as_before_0031,
    leave_as_before_0032,
    leave_as_before_0033,
    leave_as_before_0034,
    leave_as_before_0035,
    leave_as_before_0036,
    leave_as_the_version_before,
)
from tests.providers.fakes import FakeAnthropic, FakeGemini, FakeOpenAI

pytestmark = pytest.mark.anyio
KEY = "sk-q7w2-r5t8-z3x9"
CATALOG = Path(__file__).resolve().parent.parent / "catalog"
#: Anthropic's multiple of the token rates for US-only inference (its pricing page; genai-prices has none)
US_ONLY = D("1.1")


@pytest.fixture(autouse=True)
def catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The catalog, its policies allowing the models called here (the shipped one names older ones alone)."""
    copied = tmp_path / "catalog"
    shutil.copytree(CATALOG, copied)
    (copied / "policies" / "model_governance.yaml").write_text("policies: []\n")
    monkeypatch.setattr(f"{__name__}.CATALOG", copied)
    return copied


async def _call(db: Path, env: dict[str, str], provider: str, model: str, *, stream: bool) -> None:
    config = {"provider": provider, "model": model, "max_tokens": 2000, "stream": stream}
    async with await Service.open(catalog=CATALOG, db=db, env=env) as svc:
        await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": config})


def _export(db: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], fmt: str) -> str:
    monkeypatch.setenv("MAGSAG_DB", str(db))
    monkeypatch.setenv("MAGSAG_CATALOG", str(CATALOG))
    capsys.readouterr()
    assert main(["data", "query", "--format", fmt]) == 0
    return capsys.readouterr().out


async def _exported(db: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> list[dict]:
    """The ledger's one attempt as the CSV export and the JSON export give it (the CLI, run off this loop): the CSV's
    cells, and the JSON's values as they read in a CSV cell, checked equal, and the CSV's returned."""
    out = await anyio.to_thread.run_sync(_export, db, monkeypatch, capsys, "csv")
    header = out.split("\n", 1)[0].split(",")
    # appended, so that a reader taking columns by position reads what it did
    assert header[-8:-4] == ["endpoint", "output_image_tokens", "inference_geo", "server_tool_uses"]
    assert header[-4] == "cache_write_ttl_unsaid_tokens"  # (0033, appended after them)
    assert header[-3] == "cache_write_split_past_tokens"  # (0036, after it)
    assert header[-2:] == ["paused_id", "continues_paused_id"]  # (0037, last)
    rows = list(csv.DictReader(io.StringIO(out, newline="")))
    text = await anyio.to_thread.run_sync(_export, db, monkeypatch, capsys, "json")
    runs = json.loads(text)
    attempts = [a for run in (runs if isinstance(runs, list) else runs["runs"]) for a in run["attempts"]]
    assert len(rows) == len(attempts) == 1
    for column in ("output_image_tokens", "inference_geo", "server_tool_uses", "cost_usd"):
        value = attempts[0][column]
        cell = "" if value is None else json.dumps(value) if isinstance(value, dict) else str(value)
        assert rows[0][column] == cell, column
    return rows


def _count(cell: str) -> int | None:
    return None if cell == "" else int(cell)


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
async def test_a_claude_call_with_web_searches_run_in_the_us_is_priced_again_from_its_exported_row(
    tmp_path, serve, monkeypatch, capsys, stream
):
    fake = FakeAnthropic(KEY)
    env = {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": await serve(fake)}
    searched = {"web_search_requests": 3, "web_fetch_requests": 1}
    usage = {"input_tokens": 1200, "output_tokens": 400, "inference_geo": "us", "server_tool_use": searched}
    fake.queue({"text": "found it", "usage": usage})
    db = tmp_path / "ledger.db"
    await _call(db, env, "anthropic", "claude-opus-4-6", stream=stream)
    assert fake.violations == []
    (row,) = await _exported(db, monkeypatch, capsys)
    # the stream says where it ran in message_start, and the searches in message_delta: both kept
    # (keyed by the tool's name in the API, as a JSON reader or a spreadsheet's column would be: web_search)
    assert (row["inference_geo"], json.loads(row["server_tool_uses"])) == ("us", {"web_search": 3})
    assert row["output_image_tokens"] == ""  # (Anthropic answers with no pictures, and says no count of them)

    # the auditor's pricing: the tokens at genai-prices' rates, times where they ran; each search at its rate
    tokens = gp.Usage(input_tokens=int(row["input_tokens"]), output_tokens=int(row["output_tokens"]))
    token_cost = genai_prices.calc_price(tokens, row["model"], provider_id=row["provider"]).total_price
    geo = US_ONLY if row["inference_geo"] == "us" else D(1)
    searches = json.loads(row["server_tool_uses"]).get("web_search", 0)
    fee = genai_prices.calc_price(gp.Usage(web_searches=searches), row["model"], provider_id=row["provider"])
    assert D(row["cost_usd"]) == token_cost * geo + fee.total_price
    # $5 in, $25 out per million tokens on claude-opus-4-6, at 1.1x; $10 per 1,000 searches: neither part alone
    assert D(row["cost_usd"]) == (1200 * 5 + 400 * 25) / D(1_000_000) * US_ONLY + 3 * D(10) / 1000
    assert token_cost != D(row["cost_usd"]) != token_cost * geo


async def test_a_claude_answer_that_says_no_place_nor_server_tool_use_records_null_not_zero(
    tmp_path, serve, monkeypatch, capsys
):
    fake = FakeAnthropic(KEY)
    env = {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": await serve(fake)}
    fake.queue({"text": "ok", "usage": {"input_tokens": 100, "output_tokens": 10}})  # (both null, as the API writes)
    db = tmp_path / "ledger.db"
    await _call(db, env, "anthropic", "claude-opus-4-6", stream=False)
    fake.queue({"text": "ok", "usage": {"input_tokens": 100, "output_tokens": 10, "server_tool_use": {
        "web_search_requests": 0, "web_fetch_requests": 2}}})  # fmt: skip
    await _call(db, env, "anthropic", "claude-opus-4-6", stream=False)
    conn = sqlite3.connect(db)
    rows = conn.execute(
        "SELECT output_image_tokens, inference_geo, server_tool_uses FROM attempts ORDER BY started_at, id"
    ).fetchall()
    # not said: NULL; a report of server tool use with no search billed: {} (none), not NULL
    assert rows == [(None, None, None), (None, None, "{}")]


@pytest.mark.parametrize("said", [{"web_fetch_requests": 2}, {"web_search_requests": None}, {}])
def test_a_server_tool_use_without_its_count_of_searches_records_null_not_an_empty_count(said):
    # a gateway's server_tool_use that leaves web_search_requests out (the spec requires it) or writes it null counts
    # no searches: no count said, not a count of 0
    record = AttemptRecord("r", 0.0, "anthropic", "claude-opus-4-6", None, None, "ok", 0, 1)
    counted = anthropic_usage({"input_tokens": 100, "output_tokens": 10, "server_tool_use": said})
    set_usage(record, counted, PriceQuote(None, None))
    assert record.server_tool_uses is None


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
async def test_a_gemini_image_answer_is_priced_again_from_its_exported_row(
    tmp_path, serve, monkeypatch, capsys, stream
):
    fake = FakeGemini(KEY)
    env = {"GEMINI_API_KEY": KEY, "GEMINI_BASE_URL": await serve(fake)}
    details = [{"modality": "TEXT", "tokenCount": 10}, {"modality": "IMAGE", "tokenCount": 1290}]
    usage = {"promptTokenCount": 10, "candidatesTokenCount": 1300, "candidatesTokensDetails": details}
    fake.queue({"text": "here it is", "image": True, "usage": usage})
    db = tmp_path / "ledger.db"
    await _call(db, env, "google", "gemini-2.5-flash-image", stream=stream)
    assert fake.violations == []
    (row,) = await _exported(db, monkeypatch, capsys)
    assert (_count(row["output_image_tokens"]), row["inference_geo"], row["server_tool_uses"]) == (1290, "", "")
    counts = gp.Usage(
        input_tokens=int(row["input_tokens"]),
        output_tokens=int(row["output_tokens"]),
        output_image_tokens=_count(row["output_image_tokens"]),
    )
    priced = genai_prices.calc_price(counts, row["model"], provider_id=row["provider"]).total_price
    assert D(row["cost_usd"]) == priced == (10 * D("0.3") + 10 * D("2.5") + 1290 * 30) / D(1_000_000)
    # without the column the pictures would be priced as text, a twelfth of what they cost
    text_only = gp.Usage(input_tokens=int(row["input_tokens"]), output_tokens=int(row["output_tokens"]))
    assert genai_prices.calc_price(text_only, row["model"], provider_id=row["provider"]).total_price < priced


async def test_a_gemini_text_answer_says_it_had_no_pictures_and_one_without_details_says_nothing(tmp_path, serve):
    fake = FakeGemini(KEY)
    env = {"GEMINI_API_KEY": KEY, "GEMINI_BASE_URL": await serve(fake)}
    db = tmp_path / "ledger.db"
    fake.queue({"text": "ok", "usage": {"promptTokenCount": 10, "candidatesTokenCount": 20}})  # (its details: TEXT)
    await _call(db, env, "google", "gemini-2.5-flash", stream=False)
    assert fake.violations == []
    images = [r[0] for r in sqlite3.connect(db).execute("SELECT output_image_tokens FROM attempts")]
    assert images == [0]  # said: every output token was text
    # a gateway's usageMetadata without candidatesTokensDetails says no count of pictures: None, not 0
    record = AttemptRecord("r", 0.0, "google", "gemini-2.5-flash", None, None, "ok", 0, 1)
    set_usage(record, gemini_usage({"promptTokenCount": 10, "candidatesTokenCount": 20}), PriceQuote(None, None))
    assert (record.output_image_tokens, record.inference_geo, record.server_tool_uses) == (None, None, None)


@pytest.mark.parametrize("api", ["chat", "responses"])
async def test_an_openai_attempt_records_no_image_output_count_nor_place(tmp_path, serve, api):
    fake = FakeOpenAI(KEY)
    env = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": await serve(fake) + "/v1"}
    fake.queue({"text": "ok"})
    db = tmp_path / "ledger.db"
    config: dict[str, Any] = {"provider": "openai", "model": "gpt-4o", "max_tokens": 100}
    if api == "responses":
        config["params"] = {"api": "responses"}
    async with await Service.open(catalog=CATALOG, db=db, env=env) as svc:
        await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": config})
    assert fake.violations == []
    row = sqlite3.connect(db).execute("SELECT output_image_tokens, inference_geo, server_tool_uses FROM attempts")
    # neither API counts image output, nor server tool use: the Responses API lists an item for each use it made, and
    # no count of none (nor do the servers that speak it, Ollama's or a gateway's, list any whatever they ran), so an
    # answer without such items says nothing of them: NULL, as Anthropic's null server_tool_use, never {} ("none")
    assert row.fetchall() == [(None, None, None)]


#: a Responses answer's server tool items, as the API writes them (WebSearchToolCall, FileSearchToolCall): two web
#: searches, then a file search
_SEARCHED = [
    {"type": "web_search_call", "id": "ws_1", "status": "completed", "action": {"type": "search", "query": "a"}},
    {"type": "web_search_call", "id": "ws_2", "status": "completed", "action": {"type": "search", "query": "b"}},
    {"type": "file_search_call", "id": "fs_1", "status": "completed", "queries": ["rates"], "results": None},
]


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
async def test_a_responses_attempts_server_tool_items_are_counted_by_the_tools_names_in_one_stable_text(
    tmp_path, serve, monkeypatch, capsys, stream
):
    fake = FakeOpenAI(KEY)
    env = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": await serve(fake) + "/v1"}
    fake.queue({"text": "ok", "usage": {"input_tokens": 1000, "output_tokens": 500}, "server_tool_items": _SEARCHED})
    db = tmp_path / "ledger.db"
    config = {
        "provider": "openai",
        "model": "gpt-4.1",
        "max_tokens": 600,
        "stream": stream,
        "params": {"api": "responses"},
    }
    async with await Service.open(catalog=CATALOG, db=db, env=env) as svc:
        await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": config})
    assert fake.violations == []
    # the ledger's text: keyed as the Responses API names the tools (web_search, file_search, as Anthropic's
    # web_search_requests is), its keys sorted, whatever order the items came in
    (stored,) = sqlite3.connect(db).execute("SELECT server_tool_uses FROM attempts").fetchone()
    assert stored == '{"file_search": 1, "web_search": 2}'
    (row,) = await _exported(db, monkeypatch, capsys)
    assert row["server_tool_uses"] == stored and row["cost_usd"] == ""  # (OpenAI's per-use rates: unknown)


async def test_a_grounded_gemini_answer_counts_its_grounded_prompt_and_an_ungrounded_one_says_nothing(tmp_path, serve):
    fake = FakeGemini(KEY)
    env = {"GEMINI_API_KEY": KEY, "GEMINI_BASE_URL": await serve(fake)}
    grounding = {
        "webSearchQueries": ["a"],
        "groundingChunks": [{"web": {"uri": "https://example.com/a", "title": "a"}}],
    }
    fake.queue({"text": "ok", "grounding": grounding})
    db = tmp_path / "ledger.db"
    await _call(db, env, "google", "gemini-2.5-pro", stream=False)
    fake.queue({"text": "ok"})
    await _call(db, env, "google", "gemini-2.5-pro", stream=False)
    assert fake.violations == []
    rows = sqlite3.connect(db).execute("SELECT server_tool_uses FROM attempts ORDER BY started_at, id").fetchall()
    # Gemini says no count of grounding, only that an answer was grounded (billed per grounded prompt): one, or NULL
    assert rows == [('{"grounded_prompt": 1}',), (None,)]


async def test_a_ledger_the_version_before_left_keeps_every_row_and_reads_its_parts_as_not_said(
    tmp_path, serve, monkeypatch, capsys
):
    fake = FakeAnthropic(KEY)
    env = {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": await serve(fake)}
    usage = {"input_tokens": 1200, "output_tokens": 400, "server_tool_use": {"web_search_requests": 1}}
    fake.queue({"text": "found it", "usage": {**usage, "inference_geo": "us"}})
    db = tmp_path / "ledger.db"
    await _call(db, env, "anthropic", "claude-opus-4-6", stream=False)
    conn = sqlite3.connect(db)
    before = conn.execute("SELECT id, run_id, cost_pusd, input_tokens, output_tokens FROM attempts").fetchall()
    leave_as_the_version_before(conn)
    leave_as_before_0036(conn)
    leave_as_before_0035(conn)
    leave_as_before_0034(conn)
    leave_as_before_0033(conn)
    leave_as_before_0032(conn)
    leave_as_before_0031(conn)
    leave_as_before_0030(conn)  # (0029's ledger: no such columns)
    conn.commit()
    conn.close()
    fake.queue({"text": "again", "usage": {**usage, "inference_geo": "global"}})
    await _call(db, env, "anthropic", "claude-opus-4-6", stream=False)  # (migrates it)
    conn = sqlite3.connect(db)
    assert "0030_attempt_billing_parts" in {r[0] for r in conn.execute("SELECT name FROM schema_migrations")}
    rows = conn.execute(
        "SELECT id, run_id, cost_pusd, input_tokens, output_tokens, inference_geo, server_tool_uses FROM attempts"
        " ORDER BY id"
    ).fetchall()
    assert [r[:5] for r in rows[:1]] == before and rows[0][5:] == (None, None)
    assert rows[1][5:] == ("global", '{"web_search": 1}')
