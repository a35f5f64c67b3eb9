"""A MAG, as the users' guide sketches it: one skill call with a model preference, then a delegation."""

from magsag_mcp import Delegation


def run(payload: dict, *, registry=None, skills=None, runner=None, obs=None) -> dict:
    summary = skills.invoke("skill.summarization", {"text": payload["data"]})
    delegation = Delegation(
        task_id="analyze-1",
        sag_id="data-analysis-sag",
        input={"data": payload["data"]},
        context={"preferred_model": payload.get("preferred_model", "claude-3-5-sonnet-20241022")},
    )
    analysis = runner.invoke_sag(delegation)
    if obs:
        obs.log("mag_done", {"summary_model": summary["model"], "analysis_model": analysis["model"]})
    return {"summary": summary["output"], **analysis}
