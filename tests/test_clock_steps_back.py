"""A wall clock stepped back during a call (NTP correcting a clock that ran fast, a VM resumed): durations are read on
the monotonic clock, never below 0, and a run's end is not recorded before its start."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

from magsag_mcp import Magsag
from magsag_mcp.providers.fake import FakeProvider

CATALOG = Path(__file__).resolve().parent.parent / "catalog"
ENV = {"MAGSAG_RETRY_BASE_DELAY": "0.001", "MAGSAG_PROVIDER": "fake"}
STEP_BACK_SECONDS = 3600.0


def test_a_clock_stepped_back_mid_call_leaves_no_run_ending_before_it_began(tmp_path: Path, monkeypatch, fake_scripts):
    real_time, answer = time.time, FakeProvider.complete
    stepped = [0.0]
    monkeypatch.setattr(time, "time", lambda: real_time() - stepped[0])

    async def answer_as_the_clock_steps_back(self, request, target, *, progress=None):
        stepped[0] = STEP_BACK_SECONDS  # while the request is in flight
        return await answer(self, request, target, progress=progress)

    monkeypatch.setattr(FakeProvider, "complete", answer_as_the_clock_steps_back)
    with Magsag(catalog=CATALOG, db=tmp_path / "l.db", env=ENV) as mg:
        mg.skills.invoke("skill.analysis", {"data": "x"})
        [run] = mg.bridge.run(lambda: mg.service.query_runs())
    assert stepped[0] == STEP_BACK_SECONDS  # the call was made with the clock stepped back
    started, ended = (datetime.fromisoformat(run[k]) for k in ("started_at", "ended_at"))
    # (ended was recorded an hour before started: a reader's ended_at - started_at was a run of minus an hour)
    assert ended >= started, run
    assert run["attempts"] and all(a["latency_ms"] >= 0 for a in run["attempts"]), run["attempts"]
