"""The concurrent-push benchmark reads the queue's fairness off the build history."""

from __future__ import annotations

from typing import Any

from bench.git_concurrent import queue_orders


def build(queued: str, started: str) -> dict[str, Any]:
    return {
        "queued_at": f"2026-12-01T00:00:{queued}Z",
        "started_at": f"2026-12-01T00:00:{started}Z",
    }


def test_first_come_first_served_overtakes_no_one() -> None:
    builds = {"b": build("02", "10"), "a": build("01", "05"), "c": build("03", "20")}
    assert queue_orders(builds) == (["a", "b", "c"], ["a", "b", "c"], 0)


def test_a_build_started_before_earlier_arrivals_counts_each_it_overtook() -> None:
    builds = {"a": build("01", "30"), "b": build("02", "20"), "c": build("03", "10")}
    arrived, started, overtaken = queue_orders(builds)
    assert arrived == ["a", "b", "c"]
    assert started == ["c", "b", "a"]
    assert overtaken == 3
