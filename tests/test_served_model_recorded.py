"""Each attempt records the model its answer said it came from (0026's ``served_model``), whichever vendor answered:
Chat Completions' ``model`` (OpenAI's dated snapshot), the Messages API's ``model``, generateContent's
``modelVersion``; ``query_runs`` (the MCP tool, ``magsag data query``) shows it. Only Azure's answers were kept
before: Anthropic's and Gemini's attempts were written NULL, as if their answers named none, and no query showed
the column at all."""

from __future__ import annotations

import csv
import io
import json

import anyio
import pytest

from magsag_mcp.cli import main
from tests.pricing_audit import catalog_without_policies, one_call
from tests.providers.fakes import FakeAnthropic, FakeGemini, FakeOpenAI

pytestmark = pytest.mark.anyio

KEY = "test-key-not-real"


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
@pytest.mark.parametrize(
    ("fake", "env", "config", "step", "served"),
    [
        (
            FakeOpenAI,
            ("OPENAI_API_KEY", "OPENAI_BASE_URL", "/v1"),
            {"provider": "openai", "model": "gpt-4o"},
            {"text": "ok", "model": "gpt-4o-2024-08-06"},
            "gpt-4o-2024-08-06",
        ),
        (
            FakeAnthropic,
            ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", ""),
            {"provider": "anthropic", "model": "claude-sonnet-4-5"},
            {"text": "ok"},
            "claude-sonnet-4-5",  # (the fake's Message names the model asked)
        ),
        (
            FakeGemini,
            ("GEMINI_API_KEY", "GEMINI_BASE_URL", ""),
            {"provider": "google", "model": "gemini-2.5-flash"},
            {"text": "ok"},
            "gemini-test-001",  # (the fake's modelVersion)
        ),
    ],
    ids=["openai", "anthropic", "gemini"],
)
async def test_each_vendor_s_answer_records_the_model_it_named_and_query_runs_shows_it(
    tmp_path, serve, monkeypatch, capsys, fake, env, config, step, served, stream
):
    vendor = fake(KEY)
    vendor.queue(step)
    key_name, url_name, path = env
    catalog = catalog_without_policies(tmp_path)
    env_of = {key_name: KEY, url_name: await serve(vendor) + path}
    _, row, _ = await one_call(tmp_path, env_of, {**config, "stream": stream}, catalog)
    assert vendor.violations == []
    assert row["outcome"] == "ok" and row["served_model"] == served
    # `magsag data query`: in its JSON and as the CSV's last column (columns are only ever added at the end)
    monkeypatch.setenv("MAGSAG_CATALOG", str(catalog))
    db = tmp_path / "audit.db"
    assert await anyio.to_thread.run_sync(main, ["data", "query", "--format", "json", "--db", str(db)]) == 0
    [run] = json.loads(capsys.readouterr().out)
    assert run["attempts"][0]["served_model"] == served
    assert await anyio.to_thread.run_sync(main, ["data", "query", "--format", "csv", "--db", str(db)]) == 0
    reader = csv.DictReader(io.StringIO(capsys.readouterr().out))
    [csv_row] = list(reader)
    # (0030's parts of a bill appended after them, then 0033's count of cache writes of unsaid time to live, 0036's of
    # the writes a time-to-live split counted past its total last)
    assert reader.fieldnames is not None and reader.fieldnames[-10:-7] == ["served_model", "data_classes", "endpoint"]
    assert reader.fieldnames[-4:-2] == ["cache_write_ttl_unsaid_tokens", "cache_write_split_past_tokens"]
    assert csv_row["served_model"] == served
