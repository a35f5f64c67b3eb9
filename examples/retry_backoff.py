"""Best practice 4 of the guide: exponential backoff around RateLimitError (the router also retries
on its own, honouring Retry-After; this shows the caller-side loop as the guide writes it)."""

import time

from _offline import offline, show

from magsag_mcp import RateLimitError


def invoke_with_retry(skill_id: str, payload: dict, skills, max_retries: int = 3):
    for attempt in range(max_retries):
        try:
            return skills.invoke(skill_id, payload)
        except RateLimitError:
            if attempt == max_retries - 1:
                raise
            wait_time = 2 ** attempt  # Exponential backoff: 1s, 2s, 4s
            time.sleep(wait_time)


if __name__ == "__main__":
    # gpt-4o-mini's quota is out once: the first call fails, the guide's loop waits 1 s, the second succeeds.
    with offline({"gpt-4o-mini": ["quota"]}) as (mg, upstream):
        payload = {"text": "a long report", "model_config": {"model": "gpt-4o-mini"}}
        result = invoke_with_retry("skill.summarization", payload, mg.skills)
        show("after one retry", result)
        assert upstream.calls["gpt-4o-mini"] == 2
