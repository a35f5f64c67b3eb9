"""What an Azure deployment was seen serving outlives the process that saw it (the ledger's azure_served, 0025): a
deployment named for an allowed model (azure:gpt-4o-mini) last seen serving a forbidden one (gpt-4o) is refused by
the next process before anything is sent, and the refusal says where and when it was seen, and how it lifts."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from magsag_mcp import errors as E
from magsag_mcp.governance.served_memory import TRUSTED_FOR
from magsag_mcp.ledger import UsageFilters
from magsag_mcp.service import Service
from tests.fakes import openai_replies as R
from tests.fakes.openai_server import AZURE_KEY, FakeOpenAI
from tests.governance_helpers import policy

pytestmark = pytest.mark.anyio

MINI_ONLY = "policies:\n  - name: small_models\n    allowed_models: [gpt-4o-mini]\n"
CALL = {"data": "x", "model_config": {"model": "azure:gpt-4o-mini"}}


def azure_env(fake: FakeOpenAI) -> dict[str, str]:
    return {"AZURE_OPENAI_API_KEY": AZURE_KEY, "AZURE_OPENAI_ENDPOINT": fake.url + "/"}


def rows(db: Path) -> list[tuple[str, str, str, float]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT endpoint, deployment, model, seen_at FROM azure_served").fetchall()
    finally:
        conn.close()


async def _serve_gpt_4o_once(catalog: Path, db: Path, fake: FakeOpenAI) -> None:
    """A first process: its call to azure:gpt-4o-mini is answered by gpt-4o, which it pays for and learns."""
    fake.queue(R.reply("from gpt-4o", usage=R.tokens(20, 5), model="gpt-4o-2024-08-06"))
    async with Service.open(catalog=catalog, db=db, env=azure_env(fake)) as svc:
        first = await svc.invoke_skill("skill.analysis", CALL)
    assert first.result.text == "from gpt-4o"


async def test_a_deployment_seen_serving_a_forbidden_model_is_refused_by_the_next_process_before_sending(
    catalog_copy: Path, tmp_path: Path, fake_openai: FakeOpenAI
):
    # each new process (each `magsag invoke`, a restarted server) sent the deployment's first call again and paid
    policy(catalog_copy, MINI_ONLY)
    db = tmp_path / "l.db"
    before = time.time()
    await _serve_gpt_4o_once(catalog_copy, db, fake_openai)
    [(endpoint, deployment, model, seen_at)] = rows(db)
    host = fake_openai.url.split("//", 1)[1]
    assert (endpoint, deployment, model) == (host, "gpt-4o-mini", "gpt-4o-2024-08-06")
    assert seen_at >= before
    assert AZURE_KEY not in repr(rows(db))
    fake_openai.queue(R.reply("never sent", usage=R.tokens(20, 5), model="gpt-4o-2024-08-06"))
    async with Service.open(catalog=catalog_copy, db=db, env=azure_env(fake_openai)) as svc:
        with pytest.raises(E.PolicyDenied) as info:
            await svc.invoke_skill("skill.analysis", CALL)
        denied = await svc.query_runs(UsageFilters(status="policy_denied"))
    assert len(fake_openai.requests) == 1  # the first process's call alone
    message = info.value.message
    assert info.value.policy == "small_models" and info.value.details["rule"] == "served_model"
    assert "azure:gpt-4o-mini answered as gpt-4o-2024-08-06" in message
    assert f"the ledger records deployment 'gpt-4o-mini' of {host} answering as gpt-4o-2024-08-06 at " in message
    assert "Nothing was sent" in message and "trusted until" in message
    assert "point the deployment at a model the policy allows" in message
    assert "magsag azure forget gpt-4o-mini" in message
    assert AZURE_KEY not in message
    assert len(denied) == 1  # recorded as a policy refusal
    conn = sqlite3.connect(db)
    [(outcome, recorded)] = conn.execute(
        "SELECT outcome, error_message FROM attempts WHERE outcome = 'policy_denied'"
    ).fetchall()
    conn.close()
    assert outcome == "policy_denied" and "answering as gpt-4o-2024-08-06" in recorded and "forget" in recorded


async def test_a_record_past_its_trusted_time_lets_one_call_learn_again(
    catalog_copy: Path, tmp_path: Path, fake_openai: FakeOpenAI
):
    # the operator re-pointed the deployment at gpt-4o-mini: a record kept for ever would refuse it for ever
    policy(catalog_copy, MINI_ONLY)
    db = tmp_path / "l.db"
    await _serve_gpt_4o_once(catalog_copy, db, fake_openai)
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("UPDATE azure_served SET seen_at = seen_at - ?", (TRUSTED_FOR + 60,))
    conn.close()
    fake_openai.queue(
        R.reply("from mini", usage=R.tokens(20, 5), model="gpt-4o-mini-2024-07-18"),
        R.reply("from mini again", usage=R.tokens(20, 5), model="gpt-4o-mini-2024-07-18"),
    )
    async with Service.open(catalog=catalog_copy, db=db, env=azure_env(fake_openai)) as svc:
        assert (await svc.invoke_skill("skill.analysis", CALL)).result.text == "from mini"
    [(_, _, model, seen_at)] = rows(db)
    assert model == "gpt-4o-mini-2024-07-18" and time.time() - seen_at < TRUSTED_FOR  # learnt again
    async with Service.open(catalog=catalog_copy, db=db, env=azure_env(fake_openai)) as svc:
        assert (await svc.invoke_skill("skill.analysis", CALL)).result.text == "from mini again"


async def test_two_services_on_one_ledger_and_another_endpoint_s_deployment_of_the_same_name(
    catalog_copy: Path, tmp_path: Path, fake_openai: FakeOpenAI
):
    # a second Service, opened while the first still runs, reads the row before its first call to the deployment;
    # a deployment of the same name at another endpoint is another deployment, called as before
    policy(catalog_copy, MINI_ONLY)
    db = tmp_path / "l.db"
    fake_openai.queue(R.reply("from gpt-4o", usage=R.tokens(20, 5), model="gpt-4o-2024-08-06"))
    env = azure_env(fake_openai)
    async with (
        Service.open(catalog=catalog_copy, db=db, env=env) as first,
        Service.open(catalog=catalog_copy, db=db, env=env) as second,
    ):
        await first.invoke_skill("skill.analysis", CALL)
        with pytest.raises(E.PolicyDenied):
            await second.invoke_skill("skill.analysis", CALL)
    assert len(fake_openai.requests) == 1
    other = {**env, "AZURE_OPENAI_ENDPOINT": fake_openai.url.replace("127.0.0.1", "localhost") + "/"}
    fake_openai.queue(R.reply("another deployment", usage=R.tokens(20, 5), model="gpt-4o-mini-2024-07-18"))
    async with Service.open(catalog=catalog_copy, db=db, env=other) as svc:
        assert (await svc.invoke_skill("skill.analysis", CALL)).result.text == "another deployment"


async def test_magsag_azure_forget_lets_the_next_process_learn_at_once(
    catalog_copy: Path, tmp_path: Path, fake_openai: FakeOpenAI, capsys: pytest.CaptureFixture[str]
):
    # the operator re-pointed the deployment and need not wait a day: the command drops its record
    import json

    import anyio

    from magsag_mcp.cli import main as cli_main

    async def main(argv: list[str]) -> int:  # (the command runs its own event loop: in a thread of its own)
        return await anyio.to_thread.run_sync(cli_main, argv)

    policy(catalog_copy, MINI_ONLY)
    db = tmp_path / "l.db"
    await _serve_gpt_4o_once(catalog_copy, db, fake_openai)
    host = fake_openai.url.split("//", 1)[1]
    capsys.readouterr()
    assert await main(["azure", "served", "--db", str(db)]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert listed["endpoint"] == host and listed["deployment"] == "gpt-4o-mini"
    assert listed["model"] == "gpt-4o-2024-08-06" and listed["seen_at"].endswith(" UTC")
    assert listed["trusted_until"] > listed["seen_at"]
    # another endpoint's deployment of that name is not this one: nothing forgotten, and said so
    elsewhere = ["--endpoint", "https://other.openai.azure.com/", "--db", str(db)]
    assert await main(["azure", "forget", "gpt-4o-mini", *elsewhere]) == 2
    error = json.loads(capsys.readouterr().err)["error"]["message"]
    assert "has no record of what deployment 'gpt-4o-mini' of other.openai.azure.com serves" in error
    assert "azure served" in error
    assert await main(["azure", "forget", "azure:gpt-4o-mini", "--endpoint", fake_openai.url, "--db", str(db)]) == 0
    assert json.loads(capsys.readouterr().out) == {"forgotten": 1, "deployment": "gpt-4o-mini", "endpoint": host}
    assert rows(db) == []
    fake_openai.queue(R.reply("from mini", usage=R.tokens(20, 5), model="gpt-4o-mini-2024-07-18"))
    async with Service.open(catalog=catalog_copy, db=db, env=azure_env(fake_openai)) as svc:
        assert (await svc.invoke_skill("skill.analysis", CALL)).result.text == "from mini"
    assert [row[2] for row in rows(db)] == ["gpt-4o-mini-2024-07-18"]


async def test_a_read_only_ledger_without_the_table_reads_no_record(tmp_path: Path):
    # an older version's ledger read where it lies (not migrated): no azure_served table, and no row
    from magsag_mcp.ledger.azure_served import list_served, read_served

    conn = sqlite3.connect(tmp_path / "old.db")
    assert read_served(conn, "res.openai.azure.com", "gpt-4o-mini") is None
    assert list_served(conn) == []
    conn.close()


def test_a_record_names_an_endpoint_by_its_host_alone():
    # what a row names is no place for a secret: a user and password written in the URL, its path and query, dropped
    from magsag_mcp.governance.served_memory import endpoint_host

    assert endpoint_host("https://Res.openai.azure.com/openai/v1?api-version=2025-04-01") == "res.openai.azure.com"
    assert endpoint_host("https://user:s3cret@res.openai.azure.com:8443/") == "res.openai.azure.com:8443"
    assert endpoint_host("res.openai.azure.com") == "res.openai.azure.com"


async def test_two_resources_behind_one_gateway_host_are_two_endpoints(tmp_path: Path):
    # one proxy host fronting two resources by its path (API Management's /eastus, /westus): keyed by the host alone,
    # eastus's gpt-4o-mini seen serving gpt-4o refused westus's gpt-4o-mini, which serves gpt-4o-mini, unsent
    from magsag_mcp.governance.served_memory import ServedMemory, endpoint_host
    from magsag_mcp.ledger import Ledger
    from magsag_mcp.served_models import ServedModels
    from magsag_mcp.types import Target

    east = Target("azure", "gpt-4o-mini", base_url="https://gw.example/eastus/")
    west = Target("azure", "gpt-4o-mini", base_url="https://gw.example/westus/openai/v1")
    ledger = Ledger(tmp_path / "l.db")
    await ledger.open()
    try:
        ServedMemory(ServedModels({})).answered(ledger, east, "gpt-4o-2024-08-06")
        await ledger.settled()  # (queued, not waited for)
        later = ServedMemory(ServedModels({}))
        await later.look(ledger, west)
        assert later.models(west) == frozenset()
        await later.look(ledger, east)
        assert later.models(east) == {"gpt-4o-2024-08-06"} and later.models(west) == frozenset()
    finally:
        await ledger.close()
    assert [row[0] for row in rows(tmp_path / "l.db")] == ["gw.example/eastus"]
    # a gateway's token taken in the path is no row's: two tokens stay two endpoints, written as digests
    token_a, token_b = "AbCdEf0123456789xYz1", "AbCdEf0123456789xYz2"
    a, b = endpoint_host(f"https://gw.example/{token_a}/openai"), endpoint_host(f"https://gw.example/{token_b}/")
    assert a != b and token_a not in a and token_b not in b and a.startswith("gw.example/~")


async def test_a_ledger_whose_read_of_the_record_fails_does_not_fail_the_call(
    catalog_copy: Path, tmp_path: Path, fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
):
    # the row is advice read before sending: a ledger that cannot read it (locked past its busy timeout, a disk
    # error) refused a call that nothing forbids, before it was sent; it is sent, as by a process with no row
    from magsag_mcp.governance import served_memory

    def unreadable(conn: sqlite3.Connection, endpoint: str, deployment: str) -> None:
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(served_memory, "read_served", unreadable)
    policy(catalog_copy, MINI_ONLY)
    fake_openai.queue(R.reply("from mini", usage=R.tokens(20, 5), model="gpt-4o-mini-2024-07-18"))
    async with Service.open(catalog=catalog_copy, db=tmp_path / "l.db", env=azure_env(fake_openai)) as svc:
        assert (await svc.invoke_skill("skill.analysis", CALL)).result.text == "from mini"
        [run] = await svc.query_runs(UsageFilters())
    assert run["status"] == "ok"  # recorded, too


async def test_a_call_stopped_while_its_deployment_s_row_is_written_keeps_its_paid_attempt(
    catalog_copy: Path, tmp_path: Path, fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
):
    # the row was written (and waited for) after the answer came and before its attempt was noted: a call stopped
    # then (a client's cancel, a timeout) lost the record of the attempt it had paid for
    import asyncio

    import anyio

    from magsag_mcp.governance import served_memory

    written = served_memory.write_served

    def stopped_meanwhile(conn: sqlite3.Connection, *row: object) -> None:
        loop.call_soon_threadsafe(scope.cancel)  # the call stopped as the row is written (a slow commit, a lock)
        written(conn, *row)  # type: ignore[arg-type]

    monkeypatch.setattr(served_memory, "write_served", stopped_meanwhile)
    loop = asyncio.get_running_loop()
    fake_openai.queue(R.reply("from mini", usage=R.tokens(20, 5), model="gpt-4o-2024-08-06"))
    db = tmp_path / "l.db"
    async with Service.open(catalog=catalog_copy, db=db, env=azure_env(fake_openai)) as svc:
        with anyio.CancelScope() as scope:
            await svc.invoke_skill("skill.analysis", CALL)
    conn = sqlite3.connect(db)
    attempts = conn.execute("SELECT outcome, error_class, cost_pusd FROM attempts").fetchall()
    conn.close()
    assert len(attempts) == 1 and attempts[0][2] is not None and attempts[0][2] > 0, attempts


async def test_magsag_azure_forget_on_a_ledger_it_cannot_write_says_so_whether_or_not_a_row_matches(
    catalog_copy: Path, tmp_path: Path, fake_openai: FakeOpenAI, capsys: pytest.CaptureFixture[str], monkeypatch
):
    # a 0444 file, an audit copy: "nothing recorded" sent the operator looking for a row, not for a writable ledger
    import json

    import anyio

    from magsag_mcp.cli import main as cli_main
    from magsag_mcp.ledger import opening

    async def main(argv: list[str]) -> int:  # (the command runs its own event loop: in a thread of its own)
        return await anyio.to_thread.run_sync(cli_main, argv)

    policy(catalog_copy, MINI_ONLY)
    db = tmp_path / "l.db"
    await _serve_gpt_4o_once(catalog_copy, db, fake_openai)
    before = rows(db)
    # the writability check says no, as it does for a user without write permission (never for root, as CI runs)
    monkeypatch.setattr(opening, "file_writable", lambda path: False)
    capsys.readouterr()
    for argv in (["gpt-4o-mini"], ["gpt-4o-mini", "--endpoint", "https://other.openai.azure.com/"], ["nope"]):
        assert await main(["azure", "forget", *argv, "--db", str(db)]) == 2
        out, err = capsys.readouterr()
        message = json.loads(err)["error"]["message"]
        assert out == "" and "Traceback" not in err
        assert f"the ledger at {db} is read-only" in message and "copy the ledger to a folder you can write" in message
        assert "no record" not in message
    assert rows(db) == before


async def test_a_trusted_row_of_one_endpoint_does_not_refuse_the_same_deployment_name_on_another(
    catalog_copy: Path, tmp_path: Path
):
    # the policies asked what a deployment serves by its name alone: endpoint A's gpt-4o-mini, seen serving gpt-4o,
    # refused a fallback to endpoint B's gpt-4o-mini (which may serve gpt-4o-mini) before it was sent
    from magsag_mcp.governance import Governance, load_policies
    from magsag_mcp.governance.served_memory import ServedMemory
    from magsag_mcp.ledger import Ledger
    from magsag_mcp.served_models import ServedModels
    from magsag_mcp.types import Target

    policy(catalog_copy, MINI_ONLY)
    a = Target("azure", "gpt-4o-mini", base_url="https://res-a.openai.azure.com/")
    b = Target("azure", "gpt-4o-mini", base_url="https://res-b.openai.azure.com/")
    ledger = Ledger(tmp_path / "l.db")
    await ledger.open()
    try:
        ServedMemory(ServedModels({})).answered(ledger, a, "gpt-4o-2024-08-06")  # another process saw it
        await ledger.settled()  # (queued, not waited for)
        policies = load_policies(catalog_copy, env={})
        governance = Governance(policies, ledger, None, env={})
        await governance.served.look(ledger, a)
        await governance.served.look(ledger, b)
        assert policies.allowed(a, None)[3] == "served_model"
        assert policies.allowed(b, None)[0] is True
        assert governance.served.models(a) == {"gpt-4o-2024-08-06"} and governance.served.models(b) == frozenset()
    finally:
        await ledger.close()


async def test_one_process_s_sighting_at_one_endpoint_neither_refuses_nor_over_reserves_another_s_same_name(
    catalog_copy: Path, tmp_path: Path, fake_openai: FakeOpenAI
):
    # the pricer kept what a deployment answered as by its name alone: in one process, endpoint A's gpt-4o-mini seen
    # answering as gpt-4o refused endpoint B's gpt-4o-mini (the policies read it), and reserved its calls at gpt-4o's
    # rates; one memory by endpoint and name, shared by the pricer, the policies and the ledger's rows
    from magsag_mcp.pricing import Pricer
    from magsag_mcp.types import Target

    policy(catalog_copy, MINI_ONLY)
    here = fake_openai.url
    elsewhere = here.replace("127.0.0.1", "localhost")
    a = Target("azure", "gpt-4o-mini", base_url=here + "/")
    b = Target("azure", "gpt-4o-mini", base_url=elsewhere + "/")
    fresh = Pricer.from_catalog(catalog_copy, {})
    mini_worst = fresh.reserved_worst_case(b, 1000, 1000)
    gpt_4o_worst = fresh.reserved_worst_case(Target("azure", "gpt-4o"), 1000, 1000)
    assert mini_worst is not None and gpt_4o_worst is not None and gpt_4o_worst > mini_worst
    fake_openai.queue(
        R.reply("from gpt-4o", usage=R.tokens(20, 5), model="gpt-4o-2024-08-06"),
        R.reply("from B's mini", usage=R.tokens(20, 5), model="gpt-4o-mini-2024-07-18"),
    )
    env = {**azure_env(fake_openai), "MAGSAG_ALLOWED_BASE_URLS": f"azure={elsewhere}/"}
    async with Service.open(catalog=catalog_copy, db=tmp_path / "l.db", env=env) as svc:
        await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": {"model": "azure:gpt-4o-mini"}})
        assert svc.pricer.served is svc.governance.served.memory  # one memory, not a copy of the same fact
        # B: neither refused nor reserved as gpt-4o
        assert svc.governance.policies.allowed(b, None)[0] is True
        assert svc.pricer.reserved_worst_case(b, 1000, 1000) == mini_worst
        on_b = {"data": "x", "model_config": {"model": "azure:gpt-4o-mini", "base_url": elsewhere + "/"}}
        assert (await svc.invoke_skill("skill.analysis", on_b)).result.text == "from B's mini"
        # A (the environment's endpoint, or its base_url): still refused, and reserved as gpt-4o
        assert svc.pricer.reserved_worst_case(a, 1000, 1000) == gpt_4o_worst
        assert svc.pricer.reserved_worst_case(Target("azure", "gpt-4o-mini"), 1000, 1000) == gpt_4o_worst
        for call in (CALL, {**CALL, "model_config": {"model": "azure:gpt-4o-mini", "base_url": here + "/"}}):
            with pytest.raises(E.PolicyDenied) as info:
                await svc.invoke_skill("skill.analysis", call)
            assert info.value.details["rule"] == "served_model"
    assert len(fake_openai.requests) == 2


def test_a_governance_given_a_pricer_shares_its_memory_of_what_deployments_served():
    # Governance(policies, ledger, pricer) without served= kept a memory of its own: the pricer learnt from an answer
    # that the deployment serves gpt-4o, and the policies, reading the other memory, did not refuse it
    from decimal import Decimal

    from magsag_mcp.governance import Governance, Policy, PolicySet
    from magsag_mcp.pricing import Pricer
    from magsag_mcp.types import Target, Usage

    env = {"AZURE_OPENAI_ENDPOINT": "https://east.openai.azure.com/"}
    pricer = Pricer.from_catalog(None, env)
    gov = Governance(PolicySet([Policy(name="small_models", allowed_models=["gpt-4o-mini"])]), None, pricer, env=env)
    mini = Target("azure", "gpt-4o-mini")
    quote = pricer.price_for(mini, Usage(input_tokens=10, output_tokens=5, answering_model="gpt-4o-2024-08-06"))
    assert quote.cost_usd is not None and quote.cost_usd > Decimal(0)
    assert gov.policies.allowed(mini, None)[:2] == (False, "small_models")
