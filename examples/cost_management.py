"""Best practice 3 of the guide: check a run's spend with obs.get_current_cost()."""

from _offline import offline, show


def check_budget(obs, max_cost_usd: float = 10.0):
    """Check if run is within budget constraints"""
    # This would integrate with observability metrics
    current_cost = obs.get_current_cost()
    if current_cost > max_cost_usd:
        raise RuntimeError(f"Budget exceeded: ${current_cost:.2f} > ${max_cost_usd:.2f}")


if __name__ == "__main__":
    with offline() as (mg, upstream):
        for _ in range(4):
            mg.skills.invoke("skill.analysis", {"data": "x" * 20000, "model_config": {"model": "gpt-4o"}})
        check_budget(mg.obs)  # within $10
        show("run cost (exact)", str(mg.obs.current_cost()))
        try:
            check_budget(mg.obs, max_cost_usd=0.02)
        except RuntimeError as exc:
            show("as expected", str(exc))
        else:
            raise AssertionError("four calls of about $0.013 each should exceed $0.02")
        # The governance policy enforces limits before spending; this is the status it keeps:
        show("budget status", mg.check_budget(run_id=mg.run_id))
