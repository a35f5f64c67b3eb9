"""What the Python API says a call cost: a paid answer the ledger did not keep attached as invoke returns it,
the spend a nested delegation and an agent's run count, unknown costs at their bound, exact decimals, the cost
a failed call's error carries, and what summarize says of its filters."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from magsag_mcp import Magsag, RateLimitError
from magsag_mcp.providers.fake import script

CATALOG = Path(__file__).resolve().parent.parent / "catalog"


@pytest.fixture
def mg(tmp_path: Path, fake_scripts: None):
    env = {"MAGSAG_RETRY_BASE_DELAY": "0.001", "MAGSAG_PROVIDER": "fake"}
    with Magsag(catalog=CATALOG, db=tmp_path / "l.db", env=env, agent="tester") as handle:
        yield handle


def test_a_paid_answer_the_ledger_refused_is_attached_as_invoke_returns_it(mg: Magsag, monkeypatch):
    # The ledger refuses the record (locked past its timeout, a full disk): the call raises LedgerError with
    # the paid answer as .result. Before: that was the service's InvokeResult while invoke returns a dict,
    # so the natural `except LedgerError as e: result = e.result` then `result["output"]` raised TypeError.
    import asyncio

    from magsag_mcp import LedgerError, errors

    async def refuse(*args, **kwargs):
        raise errors.LedgerError("database is locked", db="l.db")

    payload = {"data": "x", "model_config": {"model": "fake:echo"}}
    # refusing only in here: the Magsag closes as the test ends, recording what the ledger refused, which a refusal
    # still in place refused again (raised from the fixture's teardown wherever monkeypatch was set up before mg: a
    # plugin's autouse fixture using it)
    with monkeypatch.context() as patched:
        patched.setattr(mg.service.ledger, "record_call", refuse)
        with pytest.raises(LedgerError, match="calling again would pay twice") as info:
            mg.skills.invoke("skill.analysis", payload)
        result = info.value.result
        assert isinstance(result, dict) and result["model"] == "echo" and "x" in result["output"]
        with pytest.raises(LedgerError) as info:
            asyncio.run(mg.skills.ainvoke("skill.analysis", payload))
        assert isinstance(info.value.result, dict) and info.value.result["model"] == "echo"


def test_a_paid_answer_a_bug_kept_out_of_the_ledger_is_attached_as_invoke_returns_it(mg: Magsag, monkeypatch):
    # A bug of ours writing the record (not the ledger refusing it): before, invoke raised the bare TypeError and the
    # paid answer was lost; now an error of kind "error" naming the run, with the answer as invoke returns it
    from magsag_mcp import LedgerError, MagsagError

    real, bugs = mg.service.ledger.record_call, iter([True])

    async def buggy(*args, **kwargs):
        if next(bugs, False):
            raise TypeError("a row that cannot be built")
        await real(*args, **kwargs)

    monkeypatch.setattr(mg.service.ledger, "record_call", buggy)
    payload = {"data": "x", "model_config": {"model": "fake:echo"}}
    with pytest.raises(MagsagError, match="calling again would pay twice") as info:
        mg.skills.invoke("skill.analysis", payload, run_id="r-bug")
    assert not isinstance(info.value, LedgerError) and info.value.kind == "error" and info.value.run_id == "r-bug"
    result = info.value.result
    assert isinstance(result, dict) and result["model"] == "echo" and result["run_id"] == "r-bug"


def test_nested_delegation_spends_the_root_runs_budget(tmp_path: Path):
    # MAG -> relay SAG -> analysis SAG: every delegated run records the MAG's run as its parent, so the
    # MAG's run limit and obs.get_current_cost() cover the whole tree, however deep.
    import shutil
    import sqlite3

    cat = tmp_path / "catalog"
    shutil.copytree(CATALOG, cat, ignore=shutil.ignore_patterns("__pycache__"))

    def agent(agent_id: str, kind: str, body: str) -> None:
        module = agent_id.replace("-", "_")
        (cat / "agents" / f"{agent_id}.yaml").write_text(
            f"id: {agent_id}\nkind: {kind}\ndescription: test agent\nentrypoint: {module}:run\n"
        )
        (cat / "agents" / f"{module}.py").write_text(
            "from magsag_mcp import Delegation\n\n"
            "def run(payload, *, registry=None, skills=None, runner=None, obs=None):\n" + body
        )

    agent(
        "relay-sag",
        "sag",
        "    skills.invoke('skill.analysis', {'data': 'relay'})\n"
        "    return runner.invoke_sag(Delegation(task_id='inner', sag_id='data-analysis-sag', input=payload))\n",
    )
    agent(
        "top-mag",
        "mag",
        "    return runner.invoke_sag(Delegation(task_id='outer', sag_id='relay-sag', input=payload))\n",
    )
    (cat / "prices.yaml").write_text('"fake:*": {input: 1.0, output: 1.0}\n')
    env = {"MAGSAG_RETRY_BASE_DELAY": "0.001", "MAGSAG_PROVIDER": "fake"}
    with Magsag(catalog=cat, db=tmp_path / "l.db", env=env, agent="tester") as handle:
        handle.runner.run_agent("top-mag", {"data": "numbers"})
        root = handle.run_id  # the session's run is the top of the tree its agents run in
        total = handle.obs.get_current_cost()
    conn = sqlite3.connect(tmp_path / "l.db")
    parents = dict(conn.execute("SELECT run_id, parent_run_id FROM runs").fetchall())
    delegated = {r: p for r, p in parents.items() if r.startswith(("outer", "inner"))}
    assert len(delegated) == 2 and set(delegated.values()) == {root}  # before: inner's parent was outer
    every_call = conn.execute("SELECT SUM(cost_pusd) FROM attempts").fetchone()[0] / 10**12
    assert total > 0 and abs(total - every_call) < 1e-12  # the session's cost covers every level


def test_an_agents_current_cost_counts_what_its_run_limit_counts(tmp_path: Path, fake_scripts: None):
    # The guide's check_budget(obs) inside a MAG: before, a MAG run with mg.runner.run_agent read its own
    # run only, while its SAG's runs record the session's run as their parent; what the SAG spent was
    # missing from the MAG's figure though the run limit counts it.
    import shutil

    cat = tmp_path / "catalog"
    shutil.copytree(CATALOG, cat, ignore=shutil.ignore_patterns("__pycache__"))
    (cat / "agents" / "costly-mag.yaml").write_text("id: costly-mag\nkind: mag\nentrypoint: costly_mag:run\n")
    (cat / "agents" / "costly_mag.py").write_text(
        "from magsag_mcp import Delegation\n\n"
        "def run(payload, *, registry=None, skills=None, runner=None, obs=None):\n"
        "    skills.invoke('skill.analysis', {'data': 'own'})\n"
        "    before = obs.current_cost()\n"
        "    runner.invoke_sag(Delegation(task_id='t', sag_id='data-analysis-sag', input={'data': 'x'}))\n"
        "    return before, obs.current_cost()\n"
    )
    (cat / "prices.yaml").write_text('"fake:*": {input: 1.0, output: 1.0}\n')
    env = {"MAGSAG_RETRY_BASE_DELAY": "0.001", "MAGSAG_PROVIDER": "fake"}
    with Magsag(catalog=cat, db=tmp_path / "l.db", env=env) as mg:
        before, after = mg.runner.run_agent("costly-mag", {})
        total = mg.obs.current_cost()
    assert 0 < before < after == total  # before: after == before, the SAG's spend left out


def test_current_cost_counts_unknown_costs_at_their_bound_and_says_so(tmp_path: Path, fake_scripts: None):
    # The guide's `if obs.get_current_cost() > max_cost_usd` must not pass because an attempt that was
    # cut after the vendor had it (and may bill it) counted as $0.
    import shutil
    import warnings
    from decimal import Decimal

    from magsag_mcp import ProviderConnectionError, UnknownCostWarning
    from magsag_mcp.records import AttemptRecord, RunRecord

    cat = tmp_path / "catalog"
    shutil.copytree(CATALOG, cat, ignore=shutil.ignore_patterns("__pycache__"))
    (cat / "prices.yaml").write_text('"fake:*": {input: 1.0, output: 2.0}\n')
    dropped = ProviderConnectionError("connection dropped mid-answer", maybe_billed=True)
    script("flaky", dropped)
    with Magsag(catalog=cat, db=tmp_path / "l.db", env={"MAGSAG_RETRY_BASE_DELAY": "0.001"}) as mg:
        mc = {"model": "fake:flaky", "max_tokens": 100}  # dropped once, answered on the retry
        mg.skills.invoke("skill.analysis", {"data": "x", "model_config": mc})
        detail = mg.obs.cost_detail()
        assert detail["unknown_attempts"] == 1 and detail["unbounded_attempts"] == 0
        assert detail["cost_complete"] is False
        known, bound = Decimal(detail["known_usd"]), Decimal(detail["unknown_cost_bound_usd"])
        assert known > 0 and bound >= Decimal("0.0002")  # at least max_tokens of output at $2/M
        with pytest.warns(
            UnknownCostWarning, match=r"1 attempt of unknown cost is counted at its worst"
        ) as seen:
            assert mg.obs.current_cost() == known + bound == Decimal(detail["at_most_usd"])
        assert [w.filename for w in seen] == [__file__]  # at the caller's line, not in the event loop
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert mg.obs.current_cost() == known + bound  # nothing new: no second warning
        # an attempt of a model with no price has no bound: the figure cannot include it, and says so
        record = AttemptRecord(
            run_id=mg.run_id, started_at=0.0, provider="openai", model="no-such-model", skill=None,
            agent=None, outcome="ok", fallback_position=0, attempt_number=1, cost_usd=None,
        )  # fmt: skip
        run = RunRecord(run_id=mg.run_id, agent=None, skill=None, started_at=0.0, status="ok")
        mg.bridge.run(lambda: mg.service.ledger.record_call(run, [record]))
        assert mg.obs.cost_detail()["unbounded_attempts"] == 1
        with pytest.warns(UnknownCostWarning, match="1 attempt used a model with no known price and is not in") as seen:
            assert mg.obs.get_current_cost() == float(known + bound)
        assert len(seen) == 1 and seen[0].filename == __file__  # the bounded one was told already


def test_obs_current_cost_is_exact_whatever_decimal_context_the_caller_set(tmp_path: Path, fake_scripts: None):
    # An agent's code that lowers Decimal's precision for its own figures (getcontext().prec = 6) and reads
    # its run's cost: the service computes in its own context, but the sum known + bound was taken in the
    # caller's, and came back rounded (0.908395 for 0.908394951684): a cap check could pass a run above it.
    import decimal
    import shutil
    from decimal import Decimal

    cat = tmp_path / "catalog"
    shutil.copytree(CATALOG, cat, ignore=shutil.ignore_patterns("__pycache__"))
    (cat / "prices.yaml").write_text('"fake:*": {input: 1.234567, output: 7.654321}\n')
    exact = (Decimal(123457) * Decimal("1.234567") + Decimal(98765) * Decimal("7.654321")) / 1_000_000
    script("m", {"text": "ok", "usage": {"input_tokens": 123457, "output_tokens": 98765}})
    with Magsag(catalog=cat, db=tmp_path / "l.db", env={}) as mg:
        mg.skills.invoke("skill.analysis", {"data": "x", "model_config": {"model": "fake:m"}})
        with decimal.localcontext() as ctx:
            ctx.prec = 6
            assert mg.obs.current_cost() == exact == Decimal("0.908394951684")
            assert Decimal(mg.obs.cost_detail()["at_most_usd"]) == exact
            assert decimal.getcontext().prec == 6  # the caller's context is its own again


@pytest.mark.anyio
async def test_a_failed_calls_error_carries_its_run_and_what_the_call_cost(tmp_path: Path, fake_openai):
    # JSON was asked for and the model answered prose, twice: both answers are billed (their usage was
    # reported) and the call fails. Before: the error carried provider, model and status but neither the run
    # it was recorded under nor what the call had cost: a caller logging the failure (the guide's fallback
    # cascade) had to sum error.attempts, and the MCP tool error and the CLI's JSON had neither. Now both
    # are on the error, as on a result: run_id and cost_usd (None, with cost_unknown, when it is unknown).
    import pickle
    from decimal import Decimal

    from magsag_mcp import InvalidOutputError, Service
    from tests.fakes import openai_replies as R
    from tests.fakes.openai_server import DEFAULT_KEY

    env = {"OPENAI_BASE_URL": fake_openai.url + "/v1", "OPENAI_API_KEY": DEFAULT_KEY}
    mc = {"model": "openai:gpt-4o", "fallbacks": ["openai:gpt-4o-mini"], "response_format": {"type": "json_object"}}
    async with Service.open(catalog=CATALOG, db=tmp_path / "l.db", env=env) as svc:
        fake_openai.queue(R.reply("not json", usage=R.tokens(1000, 500)), R.reply("nor this", usage=R.tokens(800, 90)))
        with pytest.raises(InvalidOutputError) as info:
            await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": mc}, run_id="r-paid")
        err = info.value
        paid = [a.cost_usd for a in err.attempts]
        assert len(paid) == 2 and all(c > 0 for c in paid)
        assert (err.run_id, err.cost_usd) == ("r-paid", sum(paid, Decimal(0)))
        assert {k: err.to_dict()[k] for k in ("run_id", "cost_usd", "cost_unknown")} == {
            "run_id": "r-paid", "cost_usd": format(sum(paid, Decimal(0)), "f"), "cost_unknown": False,
        }  # fmt: skip
        copy = pickle.loads(pickle.dumps(err))  # a process pool hands it back with them
        assert (copy.run_id, copy.cost_usd) == (err.run_id, err.cost_usd)

        fake_openai.queue(R.reply("not json", no_usage=True))  # billed for tokens nobody reported
        with pytest.raises(InvalidOutputError) as info:
            await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": {**mc, "fallbacks": []}})
        err = info.value
        assert err.cost_usd is None and err.to_dict()["cost_unknown"] is True
        assert err.run_id == err.attempts[0].run_id and err.to_dict()["run_id"] == err.run_id


def test_summarize_says_what_a_filter_naming_nothing_recorded_may_have_meant(mg: Magsag):
    # Before: `mg.summarize(agent="testr")` returned zeros without a word, which read as "spent nothing",
    # while the MCP tool and the CLI said which agent was meant. Now the Python summary carries the same notes.
    mg.skills.invoke("skill.analysis", {"data": "x"})
    summary = mg.summarize(agent="testr")
    assert summary["totals"]["calls"] == 0
    assert summary["notes"] == [
        "no run in this ledger was recorded for agent 'testr' (did you mean 'tester'?); its agents: tester"
    ]
    assert mg.summarize(agent="tester")["notes"] == []


def test_a_since_in_the_future_is_said_to_select_nothing(mg: Magsag):
    # A year mistyped (2062 for 2026) selected nothing, silently: a summary of $0 that `flow gate` passes.
    mg.skills.invoke("skill.analysis", {"data": "x"})
    summary = mg.summarize(since="2062-11-01")
    assert summary["totals"]["calls"] == 0
    assert summary["notes"] == [
        "since '2062-11-01' (2062-11-01T00:00:00+00:00) is in the future, so nothing recorded can match; check the"
        " date, or give a past one (e.g. 2025-11-01) or a span back from now (24h, 7d)"
    ]
    assert mg.summarize(since="24h")["notes"] == [] and mg.summarize(since="24h")["totals"]["calls"] == 1


def test_each_usd_figure_has_the_type_the_docs_give_it(mg: Magsag):
    # docs/python.md: a result's cost_usd, explain's and check_budget's figures are exact decimal strings; an error's
    # cost_usd and obs.current_cost() a Decimal; summarize's cost_usd and obs.get_current_cost() floats. A user
    # adding results' costs as numbers got "unsupported operand type(s) for +=: 'float' and 'str'", with nothing
    # in the README saying which figure is which.
    from tests.docs_helpers import doc

    said = " ".join(doc("python.md").split())
    assert "a result's `cost_usd`, `explain`'s and `check_budget`'s figures are decimal strings" in said
    assert "`Decimal(result[\"cost_usd\"])`" in said
    result = mg.skills.invoke("skill.analysis", {"data": "x"})
    assert isinstance(result["cost_usd"], str) and Decimal(result["cost_usd"]) == 0
    target = mg.skills.explain("skill.analysis", {"data": "x"})["targets"][0]
    assert isinstance(target["estimated_max_cost_usd"], str)
    limit = mg.check_budget()["limits"][0]
    assert all(isinstance(limit[k], str) for k in ("limit_usd", "spent_usd", "reserved_usd", "remaining_usd"))
    usage = mg.summarize()
    assert isinstance(usage["totals"]["cost_usd"], float) and isinstance(usage["totals"]["cost_usd_exact"], str)
    assert isinstance(mg.obs.get_current_cost(), float) and isinstance(mg.obs.current_cost(), Decimal)
    script("down", *[RateLimitError("slow", status=429, retry_after=0.001)] * 3)
    with pytest.raises(RateLimitError) as info:
        mg.skills.invoke("skill.analysis", {"data": "x", "model_config": {"model": "fake:down"}})
    assert isinstance(info.value.cost_usd, Decimal)
