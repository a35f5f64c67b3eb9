"""GET /metrics on the HTTP server: a team's Prometheus scrapes what the server's calls did, where before it had to
query the ledger. Real calls through the MCP endpoint to the spec-checking loopback OpenAI, then the scrape read by
a strict parser of the format (tests/metrics_parsing.py) and each figure held to the ledger's rows; and who may read
it: the server's token, a scrape-only token, never a client's pinned token, and on a tokenless loopback server only
a Host it answers to."""

from __future__ import annotations

import json
import logging
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import aiohttp
import httpx2
import pytest
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client

from magsag_mcp import metrics as metrics_module
from magsag_mcp import service as service_module
from magsag_mcp import service_records
from magsag_mcp.errors import ConfigError
from magsag_mcp.ledger import queued_writes as ledger_queue
from magsag_mcp.ledger import store as ledger_store
from magsag_mcp.mcp_server import build_server
from magsag_mcp.mcp_server.client_tokens import parse_client_tokens
from magsag_mcp.mcp_server.http import http_app
from magsag_mcp.mcp_server.metrics_endpoint import MetricsSetting, metrics_setting
from magsag_mcp.metrics import CallMetrics
from tests.fakes import openai_replies as R
from tests.fakes.openai_server import DEFAULT_KEY, FakeOpenAI
from tests.metrics_parsing import Family, parse
from tests.shutdown_helpers import until_serving
from tests.test_mcp_http import held_port, offline_env, serving

pytestmark = pytest.mark.anyio
CATALOG = Path(__file__).resolve().parent.parent / "catalog"
TOKEN = "Tq4xM9bZ2wKr7nPv5sJhA3"
SCRAPE_TOKEN = "Mx3pV8kR2nW6tB9qL4zYc7"
RESEARCH_TOKEN = "Qz7xK2mW9pR4vT6nB3yLc8"
TOKENS = f"research-bot {RESEARCH_TOKEN}\n"
PICO = Decimal(10) ** 12


@pytest.fixture
def fresh_metrics(monkeypatch) -> Iterator[CallMetrics]:
    """A registry of this test's own in place of the process's (which every other test's calls count into): its
    figures are this test's calls alone, its agents labelled whatever came before."""
    registry = CallMetrics()
    for module in (metrics_module, service_module, service_records, ledger_store, ledger_queue):
        monkeypatch.setattr(module, "METRICS", registry)
    yield registry


def mcp_client(url: str, token: str | None) -> Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return Client(streamable_http_client(url, http_client=httpx2.AsyncClient(headers=headers, timeout=30)))


async def scrape(url: str, headers: dict[str, str] | None = None) -> tuple[int, str, dict[str, str]]:
    async with aiohttp.ClientSession() as http:
        async with http.get(url.removesuffix("/mcp") + "/metrics", headers=headers) as resp:
            return resp.status, await resp.text(), dict(resp.headers)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def ledger_rows(db: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def payload(model: str = "gpt-4o") -> dict:
    return {"data": "numbers", "model_config": {"provider": "openai", "model": model}}


async def test_a_scrape_after_real_calls_says_what_the_ledger_says(
    fake_openai: FakeOpenAI, tmp_path: Path, fresh_metrics: CallMetrics
):
    env = {
        "OPENAI_BASE_URL": fake_openai.url + "/v1",
        "OPENAI_API_KEY": DEFAULT_KEY,
        "MAGSAG_RETRY_BASE_DELAY": "0.001",
        "MAGSAG_RETRY_MAX_DELAY": "0.002",
        "MAGSAG_READ_TIMEOUT": "0.25",
    }
    db = tmp_path / "ledger.db"
    port = held_port()
    app = http_app(build_server(catalog=CATALOG, db=db, env=env), host="127.0.0.1", port=port, token=TOKEN)
    async with serving(app, port) as url:
        status, text, headers = await scrape(url, bearer(TOKEN))
        assert status == 200 and headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8", text
        assert parse(text)["magsag_calls_total"].samples == {}  # nothing called yet: families, no samples
        fake_openai.queue(
            R.reply("Paris", usage=R.tokens(input=120, cached=100, output=9, reasoning=4)),  # ana's first call
            R.server_error(),  # bo's call: a 500, then its retry answered
            R.reply("retried", usage=R.tokens(input=50, output=5)),
            R.Reply(hang=True),  # ana's third: the first try times out after it was sent (unknown cost)
        )
        async with mcp_client(url, TOKEN) as client:
            for agent in ("ana", "bo", "ana"):
                done = await client.call_tool(
                    "invoke_skill", {"skill_id": "skill.analysis", "payload": payload(), "agent": agent}
                )
                assert not done.is_error, done.structured_content
            # a model the policy does not allow: refused by governance before anything is sent
            call = {"skill_id": "skill.analysis", "payload": payload("gpt-unlisted-9")}
            refused = await client.call_tool("invoke_skill", call)
            assert refused.is_error and refused.structured_content["error"]["type"] == "policy_denied"
            # an unknown skill: refused before any request, recorded as a failed call, and counted so
            assert (await client.call_tool("invoke_skill", {"skill_id": "skill.nope", "payload": {}})).is_error
        status, text, _ = await scrape(url, bearer(TOKEN))
    assert status == 200
    got = parse(text)

    calls = ledger_rows(db, "SELECT skill, coalesce(agent, '(none)'), status, SUM(calls) FROM runs GROUP BY 1, 2, 3")
    assert len(calls) == 4 and sum(n for *_, n in calls) == 5
    assert got["magsag_calls_total"].samples == {
        ("magsag_calls_total", (("agent", a), ("skill", s), ("status", st))): Decimal(n) for s, a, st, n in calls
    }
    attempts = ledger_rows(
        db,
        "SELECT provider, model, skill, outcome, coalesce(error_class, ''), COUNT(*)"
        " FROM attempts GROUP BY 1, 2, 3, 4, 5",
    )
    assert {o for *_, o, _, _ in attempts} == {"ok", "error", "policy_denied"} and any(
        e == "server_error" for *_, e, _ in attempts
    )
    assert got["magsag_attempts_total"].samples == {
        (
            "magsag_attempts_total",
            (("error_kind", e), ("model", m), ("outcome", o), ("provider", p), ("skill", s)),
        ): Decimal(n)
        for p, m, s, o, e, n in attempts
    }
    by_model = ledger_rows(
        db,
        "SELECT provider, model, SUM(input_tokens), SUM(output_tokens), SUM(cached_tokens), SUM(cache_write_tokens),"
        " SUM(reasoning_tokens), SUM(outcome IN ('ok', 'error')), SUM(latency_ms) FROM attempts GROUP BY 1, 2",
    )
    for p, m, tin, tout, cached, written, reasoning, sent, latency_ms in by_model:
        for family, expected in (
            ("input", tin),
            ("output", tout),
            ("cached", cached),
            ("cache_write", written),
            ("reasoning", reasoning),
        ):
            assert got[f"magsag_{family}_tokens_total"].value(provider=p, model=m) == expected, (family, p, m)
        durations = got["magsag_attempt_duration_seconds"]
        assert durations.value("_count", provider=p, model=m) == sent
        assert float(durations.value("_sum", provider=p, model=m)) == pytest.approx(latency_ms / 1000, rel=1e-9)
    assert got["magsag_reasoning_tokens_total"].value(provider="openai", model="gpt-4o") == 4
    assert got["magsag_cached_tokens_total"].value(provider="openai", model="gpt-4o") == 100

    spend = ledger_rows(
        db,
        "SELECT provider, model, coalesce(agent, '(none)'), coalesce(SUM(cost_pusd), 0), SUM(cost_pusd IS NULL),"
        " coalesce(SUM(CASE WHEN cost_pusd IS NULL THEN cost_bound_pusd END), 0) FROM attempts GROUP BY 1, 2, 3",
    )
    unknown_seen = 0
    for p, m, a, cost, unknown, bound in spend:
        assert got["magsag_cost_usd_total"].value(provider=p, model=m, agent=a) == Decimal(cost) / PICO  # exact
        assert got["magsag_unknown_cost_attempts_total"].value(provider=p, model=m, agent=a) == unknown
        assert got["magsag_unknown_cost_bound_usd_total"].value(provider=p, model=m, agent=a) == Decimal(bound) / PICO
        unknown_seen += unknown
    assert unknown_seen == 1  # the timed-out try, counted apart with its bound, never as $0
    assert got["magsag_cost_usd_total"].total() > 0

    runs = ledger_rows(db, "SELECT skill, COUNT(*), SUM(ended_at - started_at) FROM runs GROUP BY 1")
    for skill, n, seconds in runs:
        assert got["magsag_call_duration_seconds"].value("_count", skill=skill) == n
        assert float(got["magsag_call_duration_seconds"].value("_sum", skill=skill)) == pytest.approx(seconds, rel=1e-6)
    assert got["magsag_calls_in_flight"].value() == 0
    assert got["magsag_budget_reservations_in_flight"].value() == 0
    assert got["magsag_ledger_queued_writes"].value() == 0
    assert got["magsag_ledger_commit_seconds"].total("_count") >= 4  # each call's record at least
    assert got["process_start_time_seconds"].value() > 0
    assert TOKEN not in text and DEFAULT_KEY not in text


async def test_the_servers_token_is_asked_for_and_a_scrape_only_token_replaces_it(
    tmp_path: Path, fresh_metrics: CallMetrics, caplog
):
    caplog.set_level(logging.DEBUG)
    port = held_port()
    server = build_server(catalog=CATALOG, db=tmp_path / "l.db", env={"MAGSAG_PROVIDER": "fake"})
    app = http_app(server, host="127.0.0.1", port=port, token=TOKEN, metrics=MetricsSetting(token=SCRAPE_TOKEN))
    async with serving(app, port) as url:
        async with mcp_client(url, TOKEN) as client:
            assert not (
                await client.call_tool("invoke_skill", {"skill_id": "skill.analysis", "payload": {"data": "x"}})
            ).is_error
        status, text, headers = await scrape(url)
        reason = json.loads(text)["error"]["message"]
        assert status == 401 and headers["WWW-Authenticate"] == 'Bearer realm="magsag-mcp"'
        assert (
            reason.startswith("unauthorized: the request has no Authorization header") and "credentials_file" in reason
        )
        status, text, _ = await scrape(url, bearer(TOKEN))  # the MCP token can spend: it is not the scraper's
        reason = json.loads(text)["error"]["message"]
        assert status == 401 and "is not the server's MAGSAG_MCP_METRICS_TOKEN" in reason, reason
        status, text, _ = await scrape(url, {"Authorization": SCRAPE_TOKEN})  # no scheme
        assert status == 401 and "not 'Bearer <token>'" in json.loads(text)["error"]["message"]
        status, text, _ = await scrape(url, bearer(SCRAPE_TOKEN))
        assert status == 200 and parse(text)["magsag_calls_total"].total() == 1
        # the scrape token opens /metrics alone: the MCP path refuses it
        async with aiohttp.ClientSession() as http:
            async with http.post(url, json={}, headers=bearer(SCRAPE_TOKEN)) as resp:
                assert resp.status == 401
            async with http.post(url.removesuffix("/mcp") + "/metrics", headers=bearer(SCRAPE_TOKEN)) as resp:
                assert resp.status == 405 and resp.headers["Allow"] == "GET, HEAD"
            async with http.head(url.removesuffix("/mcp") + "/metrics", headers=bearer(SCRAPE_TOKEN)) as resp:
                assert resp.status == 200 and await resp.read() == b"" and int(resp.headers["Content-Length"]) > 0
    assert SCRAPE_TOKEN not in caplog.text and TOKEN not in caplog.text

    # no scrape token: the server's own
    port = held_port()
    server = build_server(catalog=CATALOG, db=tmp_path / "l2.db", env={"MAGSAG_PROVIDER": "fake"})
    async with serving(http_app(server, host="127.0.0.1", port=port, token=TOKEN), port) as url:
        assert (await scrape(url))[0] == 401
        status, text, _ = await scrape(url, bearer(SCRAPE_TOKEN))
        assert status == 401 and "is not the server's MAGSAG_MCP_TOKEN" in json.loads(text)["error"]["message"]
        status, text, _ = await scrape(url, bearer(TOKEN))
        assert status == 200 and "magsag_calls_total" in text


async def test_a_client_token_never_reads_every_agents_spend(tmp_path: Path, fresh_metrics: CallMetrics):
    clients = parse_client_tokens(TOKENS.encode())
    for setting, scraper, expected in (
        (MetricsSetting(), None, 403),
        (MetricsSetting(token=SCRAPE_TOKEN), SCRAPE_TOKEN, 200),
    ):
        port = held_port()
        server = build_server(catalog=CATALOG, db=tmp_path / f"{expected}.db", env={"MAGSAG_PROVIDER": "fake"})
        app = http_app(server, host="127.0.0.1", port=port, token=None, clients=clients, metrics=setting)
        async with serving(app, port) as url:
            async with mcp_client(url, RESEARCH_TOKEN) as client:
                assert not (
                    await client.call_tool("invoke_skill", {"skill_id": "skill.analysis", "payload": {"data": "x"}})
                ).is_error
            status, text, _ = await scrape(url, bearer(RESEARCH_TOKEN))
            if expected == 403:
                reason = json.loads(text)["error"]["message"]
                assert status == 403 and "set MAGSAG_MCP_METRICS_TOKEN" in reason and "research-bot" not in text
            else:
                assert status == 401
                status, text, _ = await scrape(url, bearer(scraper))
                assert status == 200 and parse(text)["magsag_calls_total"].label_values("agent") == {"research-bot"}


async def test_a_tokenless_loopback_server_serves_only_a_host_it_answers_to_and_off_serves_nothing(
    tmp_path: Path, fresh_metrics: CallMetrics
):
    port = held_port()
    server = build_server(catalog=CATALOG, db=tmp_path / "l.db", env={"MAGSAG_PROVIDER": "fake"})
    async with serving(http_app(server, host="127.0.0.1", port=port, token=None), port) as url:
        assert (await scrape(url))[0] == 200
        assert (await scrape(url, {"Host": f"localhost:{port}"}))[0] == 200
        status, text, _ = await scrape(url, {"Host": "evil.example"})  # a page that rebound its name to 127.0.0.1
        assert status == 421 and "--allow-host" in json.loads(text)["error"]["message"]
    port = held_port()
    server = build_server(catalog=CATALOG, db=tmp_path / "l2.db", env={"MAGSAG_PROVIDER": "fake"})
    app = http_app(server, host="127.0.0.1", port=port, token=None, metrics=MetricsSetting(enabled=False))
    async with serving(app, port) as url:
        status, text, _ = await scrape(url)
        assert status == 404 and "magsag_" not in text


async def test_the_agents_label_cap_applies_to_the_server(tmp_path: Path, fresh_metrics: CallMetrics):
    port = held_port()
    server = build_server(catalog=CATALOG, db=tmp_path / "l.db", env={"MAGSAG_PROVIDER": "fake"})
    app = http_app(server, host="127.0.0.1", port=port, token=TOKEN, metrics=MetricsSetting(agent_labels=1))
    async with serving(app, port) as url:
        async with mcp_client(url, TOKEN) as client:
            for agent in ("ana", "bo", "cy", ""):
                call = {"skill_id": "skill.analysis", "payload": {"data": "x"}, "agent": agent}
                assert not (await client.call_tool("invoke_skill", call)).is_error
        calls: Family = parse((await scrape(url, bearer(TOKEN)))[1])["magsag_calls_total"]
    assert {a: calls.total(agent=a) for a in calls.label_values("agent")} == {"ana": 1, "(other)": 2, "(none)": 1}


@pytest.mark.parametrize(
    ("env", "said"),
    [
        (
            {"MAGSAG_MCP_METRICS": "yes please"},
            "MAGSAG_MCP_METRICS='yes please' is not a metrics setting: set it to on",
        ),
        (
            {"MAGSAG_MCP_METRICS": "off", "MAGSAG_MCP_METRICS_TOKEN": SCRAPE_TOKEN},
            "MAGSAG_MCP_METRICS=off and MAGSAG_MCP_METRICS_TOKEN are both set",
        ),
        (
            {"MAGSAG_MCP_METRICS_AGENTS": "many"},
            "MAGSAG_MCP_METRICS_AGENTS='many' is not a number of agents: set it to 0",
        ),
        ({"MAGSAG_MCP_METRICS_AGENTS": "10001"}, "MAGSAG_MCP_METRICS_AGENTS='10001' is not a number of agents"),
    ],
)
def test_a_bad_setting_is_refused_naming_its_fix(env: dict[str, str], said: str):
    with pytest.raises(ConfigError) as refused:
        metrics_setting(env)
    assert said in refused.value.message
    assert SCRAPE_TOKEN not in refused.value.message


def test_settings_read_as_given():
    assert metrics_setting({}) == MetricsSetting(True, None, 100)
    assert metrics_setting({"MAGSAG_MCP_METRICS": " OFF "}) == MetricsSetting(False, None, 100)
    got = metrics_setting(
        {"MAGSAG_MCP_METRICS": "on", "MAGSAG_MCP_METRICS_TOKEN": SCRAPE_TOKEN, "MAGSAG_MCP_METRICS_AGENTS": "0"}
    )
    assert got == MetricsSetting(True, SCRAPE_TOKEN, 0)


@pytest.mark.parametrize(
    ("token", "scrape_token", "said"),
    [
        (TOKEN, TOKEN, "MAGSAG_MCP_METRICS_TOKEN is the same as MAGSAG_MCP_TOKEN"),
        (TOKEN, "short1", "MAGSAG_MCP_METRICS_TOKEN is 6 characters; to listen on 0.0.0.0 it must be at least 16"),
        (TOKEN, f" {SCRAPE_TOKEN}", "MAGSAG_MCP_METRICS_TOKEN is blank or has spaces"),
    ],
)
def test_a_scrape_token_that_cannot_be_one_is_refused(tmp_path: Path, token: str, scrape_token: str, said: str):
    server = build_server(catalog=CATALOG, db=tmp_path / "l.db", env={"MAGSAG_PROVIDER": "fake"})
    with pytest.raises(ConfigError) as refused:
        http_app(server, host="0.0.0.0", port=8765, token=token, metrics=MetricsSetting(token=scrape_token))
    assert said in refused.value.message and scrape_token.strip() not in refused.value.message


def test_a_client_token_is_no_scrape_token(tmp_path: Path):
    server = build_server(catalog=CATALOG, db=tmp_path / "l.db", env={"MAGSAG_PROVIDER": "fake"})
    clients = parse_client_tokens(TOKENS.encode())
    with pytest.raises(ConfigError) as refused:
        http_app(
            server,
            host="127.0.0.1",
            port=8765,
            token=None,
            clients=clients,
            metrics=MetricsSetting(token=RESEARCH_TOKEN),
        )
    assert "a client's token in MAGSAG_MCP_TOKENS_FILE" in refused.value.message


def test_the_command_refuses_a_bad_metrics_setting_at_start(tmp_path: Path):
    env = offline_env(tmp_path)
    env["MAGSAG_MCP_METRICS"] = "maybe"
    argv = [sys.executable, "-m", "magsag_mcp", "--transport", "http", "--port", "0", "--catalog", str(CATALOG)]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "MAGSAG_MCP_METRICS='maybe' is not a metrics setting: set it to on" in done.stderr


async def test_the_command_serves_metrics_with_the_scrape_token_from_its_environment(tmp_path: Path):
    env = offline_env(tmp_path)
    env.update(MAGSAG_MCP_TOKEN=TOKEN, MAGSAG_MCP_METRICS_TOKEN=SCRAPE_TOKEN, MAGSAG_MCP_METRICS_AGENTS="1")
    argv = [sys.executable, "-m", "magsag_mcp", "--transport", "http", "--port", "0", "--catalog", str(CATALOG)]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        url, said = await until_serving(proc)
        assert f"Prometheus metrics at {url.removesuffix('/mcp')}/metrics (token: MAGSAG_MCP_METRICS_TOKEN)" in said
        async with mcp_client(url, TOKEN) as client:
            for agent in ("ana", "bo"):
                call = {"skill_id": "skill.analysis", "payload": {"data": "x"}, "agent": agent}
                assert not (await client.call_tool("invoke_skill", call)).is_error
        assert (await scrape(url, bearer(TOKEN)))[0] == 401
        status, text, _ = await scrape(url, bearer(SCRAPE_TOKEN))
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=60)
    assert status == 200
    calls = parse(text)["magsag_calls_total"]
    assert calls.value(skill="skill.analysis", agent="ana", status="ok") == 1
    assert calls.value(skill="skill.analysis", agent="(other)", status="ok") == 1
    assert SCRAPE_TOKEN not in said + stderr.decode() and TOKEN not in said + stderr.decode()


def test_the_scrape_token_set_in_the_environment_is_redacted_from_the_start():
    from magsag_mcp.errors import redact
    from magsag_mcp.redaction import register_env_secrets

    register_env_secrets({"MAGSAG_MCP_METRICS_TOKEN": "Vr5kQ2nX8wM3tJ7pL9bZc4"})
    assert "Vr5kQ2nX8wM3tJ7pL9bZc4" not in redact("agent=Vr5kQ2nX8wM3tJ7pL9bZc4 (a token pasted where a name goes)")
