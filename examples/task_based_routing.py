"""Strategy 1 of the guide: route task types to models (in code here; catalog/routing does it by policy)."""

from _offline import offline, show

MODEL_ROUTING = {
    "reasoning": "o1-preview",              # Complex reasoning tasks
    "coding": "claude-3-5-sonnet-20241022", # Code generation
    "analysis": "gpt-4o",                   # Data analysis
    "summarization": "gpt-4o-mini",         # Fast summaries
    "local": "llama3.1:70b"                 # Local inference
}


def select_model(task_type: str) -> str:
    return MODEL_ROUTING.get(task_type, "gpt-4o")


# Use in agent code
def run(payload: dict, **deps) -> dict:
    task_type = payload.get("task_type", "analysis")
    model = select_model(task_type)

    analysis_payload = {**payload, "model_config": {"model": model}}
    return deps['skills'].invoke("skill.analysis", analysis_payload)


if __name__ == "__main__":
    with offline() as (mg, upstream):
        for task_type in (*MODEL_ROUTING, "translation"):  # every route of the guide's table, and its default
            result = run({"task_type": task_type, "data": "Q3 numbers"}, skills=mg.skills, obs=mg.obs)
            show(task_type, result)
            assert result["model"] == select_model(task_type)
        # The same choice made by the routing policy in catalog/routing/default.yaml, no code needed:
        plan = mg.skills.explain("skill.reasoning", {"problem": "2+2"})
        show("policy route for skill.reasoning", [t["label"] for t in plan["targets"]])
