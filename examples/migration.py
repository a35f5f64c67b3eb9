"""The guide's migration example: from a single provider to a primary with a fallback."""

from _offline import offline, show


# Before (single provider)
def run_before(payload: dict, **deps) -> dict:
    return deps['skills'].invoke("skill.analysis", payload)


# After (multi-provider with fallback)
def run(payload: dict, **deps) -> dict:
    skills, obs = deps['skills'], deps['obs']

    # Try primary model
    try:
        gpt4_payload = {**payload, "model_config": {"model": "gpt-4o"}}
        result = skills.invoke("skill.analysis", gpt4_payload)
        obs.log("model_used", {"model": "gpt-4o"})
        return result
    except Exception as e:
        obs.log("fallback", {"from": "gpt-4o", "to": "claude-3-5-sonnet-20241022", "reason": str(e)})
        claude_payload = {**payload, "model_config": {"model": "claude-3-5-sonnet-20241022"}}
        return skills.invoke("skill.analysis", claude_payload)


if __name__ == "__main__":
    # gpt-4o is down for both calls. The first tries it three times (a first try and MAGSAG_MAX_RETRIES' 2 retries)
    # before giving up on it for the chain's next model; that is one call failed at it, and the circuit breaker opens
    # after three in a row, so the second, with no other target, tries it three times as well before the guide's
    # except branch takes over
    with offline({"gpt-4o": [500] * 6}) as (mg, upstream):
        show("before", run_before({"data": "x"}, skills=mg.skills, obs=mg.obs))
        result = run({"data": "x"}, skills=mg.skills, obs=mg.obs)
        show("after (gpt-4o down)", result)
        assert result["model"] == "claude-3-5-sonnet-20241022"
        assert upstream.calls["gpt-4o"] == 6, upstream.calls
