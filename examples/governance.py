"""Governance before spend: a call the cost limit refuses sends no request, data residency confines a call to
the models its data class allows, and the ledger shows both (catalog/policies/model_governance.yaml)."""

from _offline import offline, show

from magsag_mcp import BudgetExceeded, PolicyDenied

if __name__ == "__main__":
    with offline() as (mg, upstream):
        # o1-preview's worst case at 20,000 output tokens ($60 per million) is $1.20, over the policy's
        # max_cost_per_call_usd of $1.00: refused before a request is sent, so nothing is spent.
        costly = {"problem": "prove it", "model_config": {"model": "o1-preview", "max_tokens": 20000}}
        plan = mg.skills.explain("skill.reasoning", costly)
        show("explain: worst case of o1-preview", plan["targets"][0]["estimated_max_cost_usd"])
        try:
            mg.skills.invoke("skill.reasoning", costly)
        except BudgetExceeded as refused:
            show("refused before spend", f"{type(refused).__name__}: {refused}")
        else:
            raise AssertionError("a call whose worst case exceeds the call limit should be refused")
        assert upstream.calls["o1-preview"] == 0, upstream.calls

        # Data residency: pii_processing data may go to the local model only, whatever the route says.
        pii = {"data_class": "pii_processing"}
        result = mg.skills.invoke("skill.analysis", {"data": "Jane Doe, 12 Elm St"}, context=pii)
        show("pii_processing routed to", result)
        assert result["provider"] == "local", result
        try:
            mg.skills.invoke(
                "skill.analysis",
                {"data": "Jane Doe", "model_config": {"model": "gpt-4o"}},
                context=pii,
            )
        except PolicyDenied as denied:
            show("pii_processing on gpt-4o", f"{type(denied).__name__}: {denied}")
        else:
            raise AssertionError("gpt-4o is not allowed for pii_processing data")

        # The ledger holds every attempt, the refused ones too (each skipped target a row, no tokens, no cost), as
        # `magsag flow summarize` and `magsag data query` read it: here, through the same summary in Python.
        usage = mg.summarize(run_id=mg.run_id)
        keys = ("calls", "attempts", "budget_exceeded_attempts", "policy_denied_attempts", "total_tokens")
        keys += ("cost_usd_exact",)
        show("ledger totals for this run", {k: usage["totals"].get(k, 0) for k in keys})
        # what the loopback vendor itself answered: one call, and the tokens the ledger recorded for it
        assert usage["totals"]["total_tokens"] == sum(i + o for _, i, o in upstream.log), (usage, upstream.log)
