"""A SAG: analyses ``payload["data"]`` with skill.analysis (the model comes from the delegation's context)."""


def run(payload: dict, *, registry=None, skills=None, runner=None, obs=None) -> dict:
    result = skills.invoke("skill.analysis", {"data": payload["data"]})
    if obs:
        obs.log("sag_done", {"model": result["model"], "cost_usd": result["cost_usd"]})
    return {"analysis": result["output"], "model": result["model"], "run_id": result["run_id"]}
