"""`budget`, `data query` and `flow summarize` of a run or agent whose only calls are in flight: their notes."""

from __future__ import annotations

import anyio

from magsag_mcp.cli import main
from tests.conftest import CATALOG


def test_budget_of_a_run_and_agent_whose_only_calls_are_in_flight_is_not_told_to_check_the_id(cli_env, capsys):
    # a `magsag invoke --agent killer --run-id k1` killed mid-call holds its reservation until it expires: budget
    # showed it ("reserved $0.015195 (by 1 call in flight, ...)") beside "no run in this ledger was recorded for
    # agent 'killer'" and "run k1 has no recorded calls ...: check the id", of an id and a name that were right
    from magsag_mcp.governance import Governance
    from magsag_mcp.governance.policy import Policy, PolicySet
    from magsag_mcp.ledger import Ledger
    from tests.governance_helpers import FixedPricer, attempt_ctx

    async def in_flight() -> None:
        caps = PolicySet([Policy(name="caps", thresholds={"max_cost_per_run_usd": "1"})])
        async with Ledger(cli_env / "cli.db") as ledger:
            await Governance(caps, ledger, FixedPricer("0.1")).admit(attempt_ctx("k1", agent="killer"))

    anyio.run(in_flight)
    assert main(["budget", "--agent", "killer", "--run-id", "k1"]) == 0
    out, err = capsys.readouterr()
    assert "run limit $5.0 for run k1: spent $0, reserved $0.1 (by 1 call in flight" in out
    assert "agent killer today (UTC): spent $0, reserved $0.1 (by 1 call in flight" in out
    assert err == ""
    assert main(["budget", "--agent", "kiler", "--run-id", "k2"]) == 0  # a name and an id nothing holds: told
    err = capsys.readouterr().err
    assert "no run in this ledger was recorded for agent 'kiler'" in err and "run k2 has no recorded calls" in err


def test_reads_filtered_to_a_run_or_agent_whose_only_calls_are_in_flight_say_so(cli_env, capsys):
    # `magsag data query --run-id k1` while k1's first call was in flight (or its process had been killed, until its
    # reservation expired) said "no run in this ledger has the id 'k1' ...; check the id", and `flow summarize
    # --agent killer` "no run ... for agent 'killer'; its agents: none": the id and the name were right
    from magsag_mcp.governance import Governance
    from magsag_mcp.governance.policy import Policy, PolicySet
    from magsag_mcp.ledger import Ledger
    from tests.governance_helpers import FixedPricer, attempt_ctx

    async def in_flight() -> None:
        caps = PolicySet([Policy(name="caps", thresholds={"max_cost_per_run_usd": "1"})])
        async with Ledger(cli_env / "cli.db") as ledger:
            await Governance(caps, ledger, FixedPricer("0.1")).admit(attempt_ctx("k1", agent="killer"))
            await Governance(caps, ledger, FixedPricer("0.1")).admit(attempt_ctx("k1", agent="killer"))

    anyio.run(in_flight)
    assert main(["data", "query", "--run-id", "k1"]) == 0
    err = capsys.readouterr().err
    # (two rows of two calls: each names no call, so each is a call of its own; a retried call's: see below)
    assert "no call of run 'k1' is recorded yet: 2 calls of it in flight hold reservations" in err, err
    assert "check the id" not in err
    assert main(["flow", "summarize", "--agent", "killer"]) == 0
    err = capsys.readouterr().err
    assert "no call of agent 'killer' is recorded yet: 2 calls of it in flight hold reservations" in err, err
    assert "its agents: none" not in err
    assert main(["data", "query", "--run-id", "k2", "--agent", "kiler"]) == 0  # nothing holds these: as before
    err = capsys.readouterr().err
    assert "no run in this ledger has the id 'k2'" in err and "no run in this ledger was recorded for agent" in err


def test_budget_reads_calls_in_flight_where_no_run_or_agent_limit_is_set(cli_env, capsys, monkeypatch):
    # under a policy of a daily limit of all calls only, `magsag budget --agent killer --run-id k1` of a run whose
    # first call was in flight said "no run in this ledger was recorded for agent 'killer'" and "run k1 has no
    # recorded calls ...: check the id": the in-flight check read only the run and agent_day limits' reserved_by
    import shutil

    from magsag_mcp.governance import Governance
    from magsag_mcp.governance.policy import Policy, PolicySet
    from magsag_mcp.ledger import Ledger
    from tests.governance_helpers import FixedPricer, attempt_ctx

    cat = cli_env / "catalog"
    shutil.copytree(CATALOG, cat, ignore=shutil.ignore_patterns("__pycache__"))
    day_only = "policies:\n  - name: day_cap\n    thresholds: {max_cost_per_day_usd: 50}\n"
    (cat / "policies" / "model_governance.yaml").write_text(day_only)
    monkeypatch.setenv("MAGSAG_CATALOG", str(cat))

    async def in_flight() -> None:
        caps = PolicySet([Policy(name="day_cap", thresholds={"max_cost_per_day_usd": "50"})])
        async with Ledger(cli_env / "cli.db") as ledger:
            await Governance(caps, ledger, FixedPricer("0.1")).admit(attempt_ctx("k1", agent="killer"))

    anyio.run(in_flight)
    assert main(["budget", "--agent", "killer", "--run-id", "k1"]) == 0
    out, err = capsys.readouterr()
    assert "day limit $50 for all calls today (UTC): spent $0, reserved $0.1 (by 1 call in flight" in out, out
    assert "no call of run 'k1' is recorded yet: 1 call of it in flight holds a reservation" in err, err
    assert "no call of agent 'killer' is recorded yet: 1 call of it in flight holds a reservation" in err
    assert "check the id" not in err
    assert main(["budget", "--agent", "kiler", "--run-id", "k2"]) == 0  # a name and an id nothing holds: told
    err = capsys.readouterr().err
    assert "no run in this ledger was recorded for agent 'kiler'" in err and "run k2 has no recorded calls" in err


def test_ledger_notes_do_not_count_a_retried_calls_two_reservations_as_two_calls(cli_env, capsys):
    # one call of run k1: its first attempt cut after the vendor counted its prompt (held at its bound through the
    # wait), then its retry admitted: two reservation rows, one call; `data query --run-id k1` said "2 calls of it
    # in flight hold a reservation"
    from decimal import Decimal

    from magsag_mcp.governance import Governance
    from magsag_mcp.governance.policy import Policy, PolicySet
    from magsag_mcp.ledger import Ledger
    from tests.governance_helpers import FixedPricer, attempt_ctx

    async def retried() -> None:
        caps = PolicySet([Policy(name="caps", thresholds={"max_cost_per_run_usd": "1"})])
        async with Ledger(cli_env / "cli.db") as ledger:
            gov = Governance(caps, ledger, FixedPricer("0.1"))
            cut = await gov.admit(attempt_ctx("k1", agent="killer", call_id="c1"))
            await gov.settle(cut, None, Decimal("0.2"))  # a cut stream: unknown cost, bounded above its hold
            gov.waiting(cut)
            await gov.admit(attempt_ctx("k1", agent="killer", prior_admissions=[cut], call_id="c1"))
            rows = await ledger.read(lambda c: c.execute("SELECT COUNT(*) FROM budget_reservations").fetchone()[0])
            assert rows == 2  # (what the note counted as calls)

    anyio.run(retried)
    assert main(["data", "query", "--run-id", "k1"]) == 0
    err = capsys.readouterr().err
    assert "2 calls" not in err, err
    # each row names its call (0019): the note counts calls again, and says the call holds two
    assert "no call of run 'k1' is recorded yet: 1 call of it in flight holds 2 reservations" in err, err
