"""The guide's "Model Selection in Agent Code": a model in the payload, and a SAG with a preferred model."""

from _offline import offline, show

from magsag_mcp import Delegation


# In your MAG or SAG code (as the guide writes it)
def run(payload: dict, *, registry=None, skills=None, runner=None, obs=None) -> dict:
    # Option 1: Include model preference in payload
    analysis_payload = {
        **payload,
        "model_config": {
            "model": "gpt-4o",
            "provider": "openai"
        }
    }
    result = skills.invoke("skill.analysis", analysis_payload)

    # Option 2: Delegate to SAG with model preference in context
    delegation = Delegation(
        task_id="analyze-1",
        sag_id="data-analysis-sag",
        input=payload,
        context={"preferred_model": "claude-3-5-sonnet-20241022"}
    )
    result = runner.invoke_sag(delegation)

    return result


if __name__ == "__main__":
    with offline() as (mg, upstream):
        result = run({"data": "weekly sign-ups: 120, 135, 160"}, skills=mg.skills, runner=mg.runner, obs=mg.obs)
        show("result of the delegated SAG", result)
        assert result["model"] == "claude-3-5-sonnet-20241022"
        assert upstream.calls["gpt-4o"] == 1 and upstream.calls["claude-3-5-sonnet-20241022"] == 1
