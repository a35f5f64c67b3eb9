"""Best practice 2 of the guide: graceful degradation on RateLimitError."""

from _offline import offline, show

from magsag_mcp import RateLimitError


def robust_invoke(skill_id: str, payload: dict, skills, obs) -> dict:
    try:
        # Try premium model first
        gpt4_payload = {**payload, "model_config": {"model": "gpt-4o"}}
        return skills.invoke(skill_id, gpt4_payload)
    except RateLimitError:
        if obs:
            obs.log("rate_limit", {"model": "gpt-4o"})
        # Fall back to alternative provider
        claude_payload = {**payload, "model_config": {"model": "claude-3-5-sonnet-20241022"}}
        return skills.invoke(skill_id, claude_payload)
    except Exception as e:
        if obs:
            obs.log("error", {"model": "gpt-4o", "error": str(e)})
        raise


if __name__ == "__main__":
    with offline({"gpt-4o": ["quota"]}) as (mg, upstream):
        result = robust_invoke("skill.analysis", {"data": "x"}, mg.skills, mg.obs)
        show("answered by", result)
        assert result["model"] == "claude-3-5-sonnet-20241022"
