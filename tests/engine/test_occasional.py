"""`engine.occasional.Occasional`: a repeated failure is said at once, then at most once per
interval, each time with how many happened since the last report."""

from __future__ import annotations

from naftiko.engine.occasional import Occasional


def test_a_repeated_failure_is_reported_once_per_interval_with_its_count() -> None:
    now = [100.0]
    said = Occasional(interval=60.0, clock=lambda: now[0])
    assert said.count() == 1  # the first at once
    assert [said.count(), said.count(5)] == [None, None]
    now[0] += 60.0
    assert said.count(2) == 8  # everything since the last report, these included
    assert said.count() is None
