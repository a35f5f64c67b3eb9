"""Strategy 2 of the guide: cost tiers, in code and as the catalog's `tiers`."""

from _offline import offline, show

COST_TIERS = {
    "premium": ["o1-preview", "gpt-4o"],
    "standard": ["claude-3-5-sonnet-20241022", "gpt-4o"],
    "economy": ["gpt-4o-mini", "claude-3-haiku-20240307"]
}


def select_by_budget(budget_tier: str) -> str:
    models = COST_TIERS.get(budget_tier, COST_TIERS["standard"])
    return models[0]  # Return primary model for tier


if __name__ == "__main__":
    with offline() as (mg, upstream):
        for tier in COST_TIERS:
            payload = {"data": "x", "model_config": {"model": select_by_budget(tier)}}
            result = mg.skills.invoke("skill.analysis", payload)
            show(f"{tier} (in code)", result)
            # The catalog's tiers: the whole chain, with fallback, chosen by context["tier"].
            routed = mg.skills.invoke("skill.analysis", {"data": "x"}, context={"tier": tier})
            assert routed["model"] == COST_TIERS[tier][0], routed
        show("spend so far (USD)", mg.obs.get_current_cost())
