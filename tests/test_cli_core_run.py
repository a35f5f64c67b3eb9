"""`magsag run`: the run id it prints and takes, and the reads that find a run with its delegated runs."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal

from magsag_mcp.cli import main


def test_run_prints_the_mags_run_id_and_run_filters_cover_its_delegated_runs(cli_env, capsys, monkeypatch):
    # Before: `magsag run` showed only the SAG's run id (in the agent's output), and `flow summarize
    # --run-id` / `data query --run-id` counted the MAG's own calls only, while `budget --run-id` counted
    # its delegated runs too.
    monkeypatch.setenv("MAGSAG_PROVIDER", "fake")
    payload = {"data": "numbers", "preferred_model": "fake:sag-model"}
    assert main(["run", "my-mag", "--payload", json.dumps(payload)]) == 0
    captured = capsys.readouterr()
    json.loads(captured.out)  # stdout is still the agent's JSON alone
    mag_run = captured.err.strip().removeprefix("run_id: ")
    assert captured.err.startswith("run_id: ") and mag_run.startswith("run-")

    assert main(["data", "query", "--format", "json"]) == 0
    every_run = json.loads(capsys.readouterr().out)
    tree = {r["run_id"] for r in every_run if mag_run in (r["run_id"], r["parent_run_id"])}
    assert mag_run in tree and len(tree) > 1  # the MAG's own run and the SAG's, which names the MAG's
    calls_in_tree = sum(r["calls"] for r in every_run if r["run_id"] in tree)
    assert calls_in_tree > sum(r["calls"] for r in every_run if r["run_id"] == mag_run)

    assert main(["flow", "summarize", "--run-id", mag_run]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["totals"]["calls"] == calls_in_tree > 0
    assert summary["largest_run"]["run_id"] == mag_run
    assert main(["data", "query", "--run-id", mag_run, "--format", "json"]) == 0
    assert {r["run_id"] for r in json.loads(capsys.readouterr().out)} == tree
    assert main(["data", "query", "--run-id", mag_run, "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == calls_in_tree and {r["run_id"] for r in rows} == tree
    assert main(["budget", "--run-id", mag_run, "--json"]) == 0  # the same scope as budget counts


def test_a_failed_run_still_names_its_run_id(cli_env, capsys):
    # No provider is configured: the MAG's first skill call fails. The run's calls are in the ledger,
    # and the id that finds them (with its delegated runs) is in the JSON error on stderr.
    assert main(["run", "my-mag", "--payload", json.dumps({"data": "numbers"})]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    error = json.loads(captured.err)["error"]
    assert error["type"] == "all_targets_failed" and error["run_id"].startswith("run-")
    assert main(["data", "query", "--run-id", error["run_id"], "--format", "json"]) == 0
    assert [r["run_id"] for r in json.loads(capsys.readouterr().out)] == [error["run_id"]]


def test_a_run_of_an_agent_the_catalog_lacks_names_no_run(cli_env, capsys):
    # `magsag run my-mg` answered "unknown agent 'my-mg' (did you mean 'my-mag'?)" with a run_id and a cost of "0":
    # nothing ran and nothing was recorded, and `data query --run-id` with that id said to check the id
    assert main(["run", "my-mg", "--payload", json.dumps({"data": "numbers"})]) == 2
    error = json.loads(capsys.readouterr().err)["error"]
    assert error["message"].startswith("unknown agent 'my-mg' (did you mean 'my-mag'?)"), error
    assert "run_id" not in error and "cost_usd" not in error, error


def test_a_run_failed_in_a_delegated_sag_names_the_mags_run_and_its_cost(cli_env, capsys, monkeypatch):
    # The MAG's own call answers, then the SAG it delegates to fails. The failed call's error carries its own run_id
    # and cost_usd (the SAG's run, that one call), and `magsag run` printed those: a run id that finds the SAG's
    # call alone (not the MAG's, which `budget --run-id` counts with it) beside the cost of that one call.
    monkeypatch.setenv("MAGSAG_PROVIDER", "fake")
    payload = {"data": "numbers", "preferred_model": "fake:fail-server_error"}
    assert main(["run", "my-mag", "--payload", json.dumps(payload)]) == 1
    error = json.loads(capsys.readouterr().err)["error"]
    assert main(["data", "query", "--format", "json"]) == 0
    runs = {r["run_id"]: r for r in json.loads(capsys.readouterr().out)}
    [mag_run] = [r for r in runs.values() if r["agent"] == "my-mag"]
    [sag_run] = [r for r in runs.values() if r["agent"] == "data-analysis-sag"]
    assert sag_run["parent_run_id"] == mag_run["run_id"] and sag_run["status"] == "error"
    assert error["type"] == "all_targets_failed" and error["run_id"] == mag_run["run_id"]
    assert main(["budget", "--run-id", error["run_id"], "--json"]) == 0
    assert capsys.readouterr().out  # the run's whole scope, its delegated run included
    spent = sum(Decimal(r["cost_usd"]) for r in runs.values())
    assert Decimal(error["cost_usd"]) == spent and error["cost_unknown"] is False


def test_run_takes_the_run_id_the_guides_audit_trail_queries(cli_env, capsys, monkeypatch):
    # Before: `magsag run my-mag --run-id mag-abc123` was refused ("unrecognized arguments"), although `invoke`
    # takes --run-id and the guide's audit trail queries `magsag data query --run-id mag-abc123`.
    monkeypatch.setenv("MAGSAG_PROVIDER", "fake")
    args = ["run", "my-mag", "--payload", json.dumps({"data": "numbers"}), "--run-id", "mag-abc123"]
    assert main(args) == 0
    captured = capsys.readouterr()
    json.loads(captured.out)
    assert captured.err.strip() == "run_id: mag-abc123"
    assert main(["data", "query", "--run-id", "mag-abc123", "--format", "json"]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert "mag-abc123" in {r["run_id"] for r in runs} and len(runs) > 1  # with the SAG run it delegated
    assert all(r["agent"] == "my-mag" for r in runs if r["run_id"] == "mag-abc123")
    # a run id shaped like a key is refused as invoke's is, before anything is sent
    key_shaped = "sk-proj-4bC9dEf01aZ7kLm2nOp3QrSt"
    assert main(["run", "my-mag", "--payload", json.dumps({"data": "x"}), "--run-id", key_shaped]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "4bC9dEf01aZ7" not in captured.err
