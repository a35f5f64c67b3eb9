"""Strategy 3 of the guide: a fallback cascade, by hand as the guide writes it, then the router's own."""

from _offline import offline, show

FALLBACK_CHAIN = [
    "claude-3-5-sonnet-20241022",  # Primary
    "gpt-4o",                       # Fallback 1
    "gpt-4o-mini"                   # Fallback 2 (last resort)
]


def invoke_with_fallback(skill_id: str, payload: dict, skills, obs) -> dict:
    last_error = None

    for model in FALLBACK_CHAIN:
        try:
            # Include model in payload
            model_payload = {**payload, "model_config": {"model": model}}
            result = skills.invoke(skill_id, model_payload)
            if obs:
                obs.log("model_success", {"model": model, "skill": skill_id})
            return result
        except Exception as e:
            last_error = e
            if obs:
                obs.log("model_failed", {"model": model, "error": str(e)})
            continue

    raise RuntimeError(f"All models failed: {last_error}")


if __name__ == "__main__":
    # Claude is overloaded (529): called alone, as the guide's loop calls it, the router retries it (three tries);
    # with fallbacks, an overload is not retried while another target is left: gpt-4o is tried at once.
    # gpt-4o's quota is gone.
    plans = {"claude-3-5-sonnet-20241022": [529, 529, 529, 529, 529, 529], "gpt-4o": ["quota", "quota"]}
    with offline(plans) as (mg, upstream):
        result = invoke_with_fallback("skill.analysis", {"data": "x"}, mg.skills, mg.obs)
        show("by hand", result)
        assert result["model"] == "gpt-4o-mini"
        # The same cascade in one call: model_config.fallbacks (or a routing chain in the catalog).
        result = mg.skills.invoke(
            "skill.analysis",
            {"data": "x", "model_config": {"model": FALLBACK_CHAIN[0], "fallbacks": FALLBACK_CHAIN[1:]}},
        )
        show("router trace", result["trace"]["attempts"])
        assert result["model"] == "gpt-4o-mini"
